//! Codes by text message over real HTTP: through the outbox provider, through the generic
//! HTTP provider against a real gateway started here on loopback (JSON and form bodies,
//! 500s and timeouts), and every abuse case: resend wait, limits, expiry, attempts,
//! replay, countries that are not allowed, operator switches, clients that want more.

use std::sync::{Arc, Mutex};

use axum::{Router, extract::State, http::HeaderMap, routing::post};
use sesame::accounts::{self, AccountInput};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};
use crate::two_factor::{follow, set_two_factor, submit, walk_enrollment};

on_every_backend!(
    a_login_with_a_code_by_text_message,
    text_messages_are_limited,
    codes_expire_and_allow_five_attempts,
    numbers_and_switches_decide_who_gets_text_messages,
    a_client_can_refuse_text_messages,
);

/// Pauline with an authenticator enrolled, so that her logins ask for a second factor.
async fn enrolled_pauline(server: &TestServer) {
    set_two_factor(server, "pauline", true).await;
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let browser = Browser::new();
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    walk_enrollment(&browser, server, &page, "pauline@etude.example").await;
}

/// A new login of pauline up to the SMS verification page.
async fn sms_page(server: &TestServer, browser: &Browser, extra: &[(&str, &str)]) -> (Page, rp::AuthRequest) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], extra);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(browser, server, &page).await;
    let tx = verify.field("tx").expect("tx");
    let page = browser.get(&server.url(&format!("/login/verify?tx={tx}&method=sms"))).await;
    (page, request)
}

fn outbox(server: &TestServer) -> Vec<serde_json::Value> {
    std::fs::read_to_string(server.state.config.data_dir.join("sms-outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn last_code(server: &TestServer) -> String {
    let messages = outbox(server);
    let text = messages.last().expect("a text message")["text"].as_str().unwrap().to_string();
    text.rsplit('#').next().unwrap().trim().to_string()
}

async fn send(browser: &Browser, server: &TestServer, page: &Page) -> Page {
    submit(browser, server, page, "/login/verify", &[("method", "sms"), ("action", "send")]).await
}

async fn enter(browser: &Browser, server: &TestServer, page: &Page, code: &str) -> Page {
    submit(browser, server, page, "/login/verify", &[("method", "sms"), ("code", code)]).await
}

async fn a_login_with_a_code_by_text_message(backend: Backend) {
    let server = TestServer::start(backend).await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, request) = sms_page(&server, &browser, &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("+33 6 •• •• •• 78"), "the number, masked: {}", page.body);
    assert!(!page.body.contains("612345678"), "never in full");
    assert!(outbox(&server).is_empty(), "nothing is sent before the user asks");
    // Choosing "Receive a text message" sends the code (as `action=send` does).
    let sent = submit(&browser, &server, &page, "/login/verify", &[("method", "sms")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let messages = outbox(&server);
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["to"], "+33612345678");
    assert_eq!(messages[0]["purpose"], "login_code");
    let text = messages[0]["text"].as_str().unwrap();
    let code = last_code(&server);
    assert_eq!(code.len(), 6);
    assert!(text.contains("Sésame") && text.ends_with(&format!("@127.0.0.1 #{code}")), "origin-bound: {text}");
    let done = enter(&browser, &server, &sent, &code).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let client = rp::actes_web(&server).await;
    let tokens = rp::exchange(&client, &done.location_param("code").unwrap(), request.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let claims = rp::payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["acr"], "urn:sesame:loa:2fa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "sms", "mfa"]));
    assert_eq!(crate::two_factor::audit_count(&server, "sms.sent").await, 1);

    // The code works once.
    server.clock.advance(61);
    let other = Browser::new();
    let (page, _) = sms_page(&server, &other, &[]).await;
    let replay = enter(&other, &server, &page, &code).await;
    assert_eq!(replay.status, 401, "{}", replay.body);
}

async fn text_messages_are_limited(backend: Backend) {
    let server = TestServer::start(backend).await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    assert_eq!(send(&browser, &server, &page).await.status, 200);
    let again = send(&browser, &server, &page).await;
    assert_eq!(again.status, 429, "the resend button waits");
    assert!(again.body.contains("secondes"), "{}", again.body);
    for _ in 0..2 {
        server.clock.advance(61);
        assert_eq!(send(&browser, &server, &page).await.status, 200);
    }
    server.clock.advance(61);
    let limited = send(&browser, &server, &page).await;
    assert_eq!(limited.status, 429, "three per 15 minutes");
    assert!(limited.body.contains("minute"), "{}", limited.body);
    assert_eq!(outbox(&server).len(), 3);
    assert_eq!(crate::two_factor::audit_count(&server, "sms.limited").await, 1);
    server.clock.advance(15 * 60);
    assert_eq!(send(&browser, &server, &page).await.status, 200, "the window moved on");
}

async fn codes_expire_and_allow_five_attempts(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.two_factor.max_failures = 20).await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    send(&browser, &server, &page).await;
    let code = last_code(&server);
    server.clock.advance(301);
    let expired = enter(&browser, &server, &page, &code).await;
    assert_eq!(expired.status, 401);
    assert!(expired.body.contains("expiré"), "{}", expired.body);

    server.clock.advance(61);
    send(&browser, &server, &page).await;
    let code = last_code(&server);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    for left in (0..5).rev() {
        let page = enter(&browser, &server, &page, wrong).await;
        assert_eq!(page.status, 401);
        if left > 0 {
            assert!(page.body.contains(&format!("{left} essai")), "{left}: {}", page.body);
        }
    }
    let too_late = enter(&browser, &server, &page, &code).await;
    assert_eq!(too_late.status, 401, "five attempts, then a new code is needed");
}

async fn set_phone(server: &TestServer, phone: &str, sms_disabled: bool) {
    let state = &server.state;
    let account = accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    let input = AccountInput { phone: Some(phone.into()), sms_disabled, ..AccountInput::unchanged(&account) };
    accounts::upsert(&state.db, &state.passwords, input, server.clock_now()).await.unwrap();
}

async fn methods_offered(server: &TestServer) -> (Browser, Page, Page) {
    let browser = Browser::new();
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(&browser, server, &page).await;
    let tx = verify.field("tx").unwrap();
    let methods = browser.get(&server.url(&format!("/login/verify/methods?tx={tx}"))).await;
    (browser, verify, methods)
}

async fn numbers_and_switches_decide_who_gets_text_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    enrolled_pauline(&server).await;
    let (_, _, methods) = methods_offered(&server).await;
    assert!(methods.body.contains("value=\"sms\""), "{}", methods.body);

    // A British number: France and its overseas departments only, by default.
    set_phone(&server, "+447700900123", false).await;
    let (browser, verify, methods) = methods_offered(&server).await;
    assert!(!methods.body.contains("value=\"sms\""));
    let forged = submit(&browser, &server, &verify, "/login/verify", &[("method", "sms"), ("action", "send")]).await;
    assert_eq!(forged.status, 400, "{}", forged.body);
    assert!(outbox(&server).is_empty());

    // Réunion is allowed; the operator can switch SMS off for the account.
    set_phone(&server, "+262692123456", false).await;
    let (_, _, methods) = methods_offered(&server).await;
    assert!(methods.body.contains("value=\"sms\""));
    set_phone(&server, "+262692123456", true).await;
    let (_, _, methods) = methods_offered(&server).await;
    assert!(!methods.body.contains("value=\"sms\""));

    // …or for everyone.
    let issuer = server.issuer.clone();
    let off = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        server.database_url.clone(),
        move |c| {
            c.issuer = issuer;
            c.sms.enabled = false;
        },
        false,
    )
    .await;
    set_phone(&server, "+33612345678", false).await;
    let browser = Browser::new();
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let url = request.url.replace(&server.issuer, &off.issuer);
    let page = browser.authorize(&off, &url, "pauline", "correct horse battery").await;
    let verify = follow(&browser, &off, &page).await;
    let tx = verify.field("tx").unwrap();
    let methods = browser.get(&off.url(&format!("/login/verify/methods?tx={tx}"))).await;
    assert!(!methods.body.contains("value=\"sms\""), "{}", methods.body);
}

async fn a_client_can_refuse_text_messages(backend: Backend) {
    let server = TestServer::start(backend).await;
    enrolled_pauline(&server).await;
    // A login by SMS…
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    let sent = send(&browser, &server, &page).await;
    let done = enter(&browser, &server, &sent, &last_code(&server)).await;
    assert_eq!(done.status, 303);
    // …does not satisfy a client that asks for more: it steps up, without SMS.
    let client = rp::actes_web(&server).await;
    let strong = rp::auth_request(&client, &["openid"], &[("acr_values", "urn:sesame:loa:2fa-strong")]);
    let page = browser.get(&strong.url).await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")), "{:?}", page.location);
    let verify = follow(&browser, &server, &page).await;
    let tx = verify.field("tx").unwrap();
    let methods = browser.get(&server.url(&format!("/login/verify/methods?tx={tx}"))).await;
    assert!(!methods.body.contains("value=\"sms\"") && methods.body.contains("value=\"totp\""), "{}", methods.body);
    let forged = submit(&browser, &server, &verify, "/login/verify", &[("method", "sms"), ("action", "send")]).await;
    assert_eq!(forged.status, 400);
    let discovery: serde_json::Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert!(discovery["acr_values_supported"].as_array().unwrap().iter().any(|v| v == "urn:sesame:loa:2fa-strong"));
}

/// What the fake gateway received: headers and body of each request.
pub type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A real HTTP server on loopback standing in for an SMS gateway: answers `status`
/// after `delay` seconds.
pub async fn gateway(status: u16, delay: u64) -> (String, Received) {
    let received: Received = Arc::default();
    let app =
        Router::new()
            .route(
                "/sms",
                post(
                    |State((received, status, delay)): State<(Received, u16, u64)>,
                     headers: HeaderMap,
                     body: String| async move {
                        received.lock().unwrap().push((headers, body));
                        tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                        axum::http::StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state((received.clone(), status, delay));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn http_server(url: String, encoding: &str, body: &str, auth: &str) -> TestServer {
    let (encoding, body, auth) = (encoding.to_string(), body.to_string(), auth.to_string());
    TestServer::start_with(Backend::Sqlite, move |c| {
        c.sms.provider = "http".into();
        c.sms.sender = "ETUDE".into();
        c.sms.http.url = url;
        c.sms.http.encoding = encoding;
        c.sms.http.body = body;
        c.sms.http.auth = auth;
        c.sms.http.username = "user".into();
        c.sms.http.password = "pass".into();
        c.sms.http.token = "tok".into();
        c.sms.http.timeout = 1;
        c.sms.http.headers.insert("x-api-key".into(), "k-123".into());
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_provider_sends_json_and_form_bodies() {
    let (url, received) = gateway(201, 0).await;
    let server = http_server(url, "json", r#"{"to":"{to}","text":"{text}","from":"{sender}"}"#, "bearer").await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    assert_eq!(send(&browser, &server, &page).await.status, 200);
    let (headers, body) = received.lock().unwrap().pop().expect("the gateway was called");
    assert_eq!(headers["authorization"], "Bearer tok");
    assert_eq!(headers["x-api-key"], "k-123");
    assert_eq!(headers["content-type"], "application/json");
    let json: serde_json::Value = serde_json::from_str(&body).expect("valid JSON even with quotes and accents");
    assert_eq!(json["to"], "+33612345678");
    assert_eq!(json["from"], "ETUDE");
    assert!(json["text"].as_str().unwrap().contains("Sésame"));

    let (url, received) = gateway(200, 0).await;
    let server = http_server(url, "form", "To={to_digits}&Body={text}&From={sender}", "basic").await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    let sent = send(&browser, &server, &page).await;
    assert_eq!(sent.status, 200);
    let (headers, body) = received.lock().unwrap().pop().expect("the gateway was called");
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("user:pass");
    assert_eq!(headers["authorization"], format!("Basic {basic}").as_str());
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    assert_eq!(form["To"], "33612345678");
    let code = form["Body"].rsplit('#').next().unwrap().to_string();
    let done = enter(&browser, &server, &sent, &code).await;
    assert_eq!(done.status, 303, "the code that went through the gateway logs in");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_failures_are_retried_once_and_explained() {
    for (status, delay) in [(500, 0), (200, 3)] {
        let (url, received) = gateway(status, delay).await;
        let server = http_server(url, "json", r#"{"to":"{to}","text":"{text}"}"#, "none").await;
        enrolled_pauline(&server).await;
        let browser = Browser::new();
        let (page, _) = sms_page(&server, &browser, &[]).await;
        let failed = send(&browser, &server, &page).await;
        assert_eq!(failed.status, 503, "{status}/{delay}: {}", failed.body);
        assert!(failed.body.contains("autre manière") && failed.body.contains("id=\"other-methods\""));
        assert_eq!(received.lock().unwrap().len(), 2, "one retry, no more");
        assert_eq!(crate::two_factor::audit_count(&server, "sms.failed").await, 1);
        let metrics = server.metrics().await;
        assert!(metrics.contains("sesame_sms_failed_total 1"), "{metrics}");
    }
    // A refusal (4xx) is not retried.
    let (url, received) = gateway(400, 0).await;
    let server = http_server(url, "json", r#"{"to":"{to}"}"#, "none").await;
    enrolled_pauline(&server).await;
    let browser = Browser::new();
    let (page, _) = sms_page(&server, &browser, &[]).await;
    assert_eq!(send(&browser, &server, &page).await.status, 503);
    assert_eq!(received.lock().unwrap().len(), 1);
}
