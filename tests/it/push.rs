//! Push approval over real HTTP with a device written here from docs/push-protocol.md
//! (aws-lc-rs Ed25519 and hand-made compact JWS, not the server's code), the companion
//! `sesame authenticator` as an operator runs it, and every attack the protocol must
//! refuse.

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};
use crate::two_factor::{audit_count, element_text, follow, set_two_factor, submit, walk_enrollment};

on_every_backend!(
    a_login_approved_on_the_phone_with_number_matching,
    attacks_on_push_fail_with_clear_errors,
    malformed_messages_are_refused_in_the_protocol_shape_and_change_nothing
);

pub struct Device {
    key: Ed25519KeyPair,
    pub id: String,
    server_key: Vec<u8>,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sign_with(key: &Ed25519KeyPair, kid: &str, typ: &str, claims: &Value) -> String {
    let header = json!({"alg": "EdDSA", "kid": kid, "typ": typ});
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let signature = key.sign(input.as_bytes());
    format!("{input}.{}", b64(signature.as_ref()))
}

async fn post(server: &TestServer, path: &str, jws: &str) -> (u16, Value) {
    let response = reqwest::Client::new().post(server.url(path)).json(&json!({"jws": jws})).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

impl Device {
    pub async fn enroll(server: &TestServer, link: &str) -> Device {
        let token = url::Url::parse(link).unwrap().query_pairs().find(|(k, _)| k == "enroll").unwrap().1.into_owned();
        let key = Ed25519KeyPair::generate().unwrap();
        let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.public_key().as_ref())});
        let claims =
            json!({"token": token, "name": "Pixel de Pauline", "public_key": public, "iat": server.clock_now()});
        let (status, body) =
            post(server, "/push/v1/devices", &sign_with(&key, "new", "sesame-push-enroll+jwt", &claims)).await;
        assert_eq!(status, 201, "{body}");
        assert_eq!(body["account"], "pauline");
        let server_key = URL_SAFE_NO_PAD.decode(body["server_key"]["x"].as_str().unwrap()).unwrap();
        Device { key, id: body["device_id"].as_str().unwrap().to_string(), server_key }
    }

    fn request(&self, server: &TestServer, typ: &str, mut claims: Value) -> String {
        claims["iat"] = json!(server.clock_now());
        claims["jti"] = json!(uuid::Uuid::new_v4().to_string());
        sign_with(&self.key, &self.id, typ, &claims)
    }

    /// The waiting challenges, each checked against the server's key.
    pub async fn pending(&self, server: &TestServer) -> Vec<Value> {
        let (status, body) =
            post(server, "/push/v1/pending", &self.request(server, "sesame-push-poll+jwt", json!({}))).await;
        assert_eq!(status, 200, "{body}");
        body["challenges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                let c = c.as_str().unwrap();
                let (input, signature) = c.rsplit_once('.').unwrap();
                UnparsedPublicKey::new(&ED25519, &self.server_key)
                    .verify(input.as_bytes(), &URL_SAFE_NO_PAD.decode(signature).unwrap())
                    .expect("signed by the server");
                let payload = input.split('.').nth(1).unwrap();
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
            })
            .collect()
    }

    pub async fn answer(
        &self,
        server: &TestServer,
        challenge: &Value,
        decision: &str,
        number: Option<i64>,
    ) -> (u16, Value) {
        let claims = json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "number": number, "decision": decision});
        post(server, "/push/v1/answer", &self.request(server, "sesame-push-answer+jwt", claims)).await
    }
}

/// Pauline enrolls her authenticator app (forced), then adds a phone from her account
/// page: the enrollment link the page shows.
pub async fn enrollment_link(server: &TestServer) -> String {
    set_two_factor(server, "pauline", true).await;
    let browser = Browser::new();
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    walk_enrollment(&browser, server, &page, "pauline@etude.example").await;
    let account = browser.get(&server.url("/account/security")).await;
    let csrf = account.field("csrf_token").unwrap();
    let page = browser.post(&server.url("/account/security"), &[("csrf_token", &csrf), ("action", "add_push")]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    element_text(&page.body, "push-enroll-link").expect("the enrollment link")
}

/// A new login of pauline up to the push page (push is her strongest method).
pub async fn push_page(server: &TestServer, browser: &Browser) -> (Page, rp::AuthRequest) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(browser, server, &page).await;
    assert!(verify.body.contains("id=\"push-send\""), "push first: {}", verify.body);
    (verify, request)
}

pub async fn send(browser: &Browser, server: &TestServer, page: &Page) -> Page {
    submit(browser, server, page, "/login/verify", &[("method", "push"), ("action", "send")]).await
}

async fn a_login_approved_on_the_phone_with_number_matching(backend: Backend) {
    let server = TestServer::start(backend).await;
    let link = enrollment_link(&server).await;
    assert!(link.starts_with(&server.url("/authenticator?enroll=")), "{link}");
    let device = Device::enroll(&server, &link).await;
    let (status, _) = post(&server, "/push/v1/devices", "x.y.z").await;
    assert_eq!(status, 400);

    let browser = Browser::new();
    let (page, request) = push_page(&server, &browser).await;
    assert!(device.pending(&server).await.is_empty(), "nothing before the user asks");
    // Choosing push (no action) sends the request.
    let waiting = submit(&browser, &server, &page, "/login/verify", &[("method", "push")]).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let number: i64 = element_text(&waiting.body, "push-number").expect("#push-number").parse().unwrap();
    assert!((10..100).contains(&number));
    let challenges = device.pending(&server).await;
    assert_eq!(challenges.len(), 1);
    let challenge = &challenges[0];
    assert_eq!(challenge["application"], "iNot Actes");
    assert_eq!(challenge["account"], "pauline");
    assert_eq!(challenge["origin"], "127.0.0.0/24");
    assert!(challenge.get("number").is_none(), "the phone never learns the number: the user types it");
    let tx = waiting.field("tx").unwrap();
    let status: Value =
        browser.get(&server.url(&format!("/login/verify/push-status?tx={tx}"))).await.body.parse().unwrap();
    assert_eq!(status["state"], "pending");
    let early =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(early.status, 409, "not approved yet");

    let (status, body) = device.answer(&server, challenge, "approve", Some(number)).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("approved")), "{body}");
    let status: Value =
        browser.get(&server.url(&format!("/login/verify/push-status?tx={tx}"))).await.body.parse().unwrap();
    assert_eq!(status["state"], "approved");
    let done =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let client = rp::actes_web(&server).await;
    let tokens = rp::exchange(&client, &done.location_param("code").unwrap(), request.verifier).await.unwrap();
    use openidconnect::TokenResponse;
    let claims = rp::payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["amr"], json!(["pwd", "swk", "mfa"]));
    assert_eq!(claims["acr"], "urn:sesame:loa:2fa");
    assert_eq!(audit_count(&server, "push.approved").await, 1);
}

async fn attacks_on_push_fail_with_clear_errors(backend: Backend) {
    let server = TestServer::start(backend).await;
    let link = enrollment_link(&server).await;
    let device = Device::enroll(&server, &link).await;
    // The link works once.
    let again = Ed25519KeyPair::generate().unwrap();
    let token = link.rsplit('=').next().unwrap();
    let public = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(again.public_key().as_ref())});
    let claims = json!({"token": token, "name": "thief", "public_key": public, "iat": server.clock_now()});
    let (status, body) = post(&server, "/push/v1/devices", &sign_with(&again, "new", "t", &claims)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_enrollment")));

    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    let waiting = send(&browser, &server, &page).await;
    let number: i64 = element_text(&waiting.body, "push-number").unwrap().parse().unwrap();
    let challenge = device.pending(&server).await.remove(0);

    // A second login cannot stack a second request on the phone.
    let other = Browser::new();
    let (other_page, _) = push_page(&server, &other).await;
    let busy = send(&other, &server, &other_page).await;
    assert_eq!(busy.status, 429, "{}", busy.body);

    // Forged signature: the device's id, someone else's key.
    let forger = Ed25519KeyPair::generate().unwrap();
    let forged_claims = json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "number": number,
        "decision": "approve", "iat": server.clock_now(), "jti": "f1"});
    let (status, body) = post(&server, "/push/v1/answer", &sign_with(&forger, &device.id, "t", &forged_claims)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_signature")), "{body}");
    // Stale time.
    let mut stale = forged_claims.clone();
    stale["iat"] = json!(server.clock_now() - 600);
    let (status, body) = post(&server, "/push/v1/answer", &sign_with(&device.key, &device.id, "t", &stale)).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("stale_request")));
    // Wrong nonce.
    let mut bad_nonce = forged_claims.clone();
    bad_nonce["nonce"] = json!("not-it");
    bad_nonce["jti"] = json!("n1");
    let (status, body) = post(&server, "/push/v1/answer", &sign_with(&device.key, &device.id, "t", &bad_nonce)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_nonce")));
    // A wrong number refuses the request and counts as a failure.
    let wrong = if number == 10 { 11 } else { number - 1 };
    let (status, body) = device.answer(&server, &challenge, "approve", Some(wrong)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("wrong_number")));
    let page =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(page.status, 409);
    assert!(page.body.contains("pas le bon"), "{}", page.body);
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let (_, failures) = sesame::lockout::second_factor::guess_counts(&server.state.db, &account.id).await.unwrap();
    assert_eq!(failures, 1);
    // Answered: a replay of the same request, or a second answer, is refused.
    let replayed = device.request(&server, "t", json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "number": number, "decision": "approve"}));
    let (status, body) = post(&server, "/push/v1/answer", &replayed).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("not_pending")));
    let (status, body) = post(&server, "/push/v1/answer", &replayed).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("replayed_request")));

    // Expired.
    let waiting = send(&browser, &server, &waiting).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let challenge = device.pending(&server).await.remove(0);
    server.clock.advance(121);
    let number: i64 = element_text(&waiting.body, "push-number").unwrap().parse().unwrap();
    let (status, body) = device.answer(&server, &challenge, "approve", Some(number)).await;
    assert_eq!((status, body["error"].as_str()), (410, Some("expired")), "{body}");

    // "It wasn't me": denied, reported, push suspended.
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    let waiting = send(&browser, &server, &page).await;
    let challenge = device.pending(&server).await.remove(0);
    let (status, body) = device.answer(&server, &challenge, "fraud", None).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("fraud")));
    assert_eq!(audit_count(&server, "push.fraud_reported").await, 1);
    let fraud_reports = server.state.metrics.push_fraud_reports.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(fraud_reports, 1, "counted for the alert (sesame_push_fraud_reports_total)");
    let refused =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(refused.status, 409);
    let locked = send(&browser, &server, &waiting).await;
    assert_eq!(locked.status, 429, "push is suspended: {}", locked.body);
    // The administrators see the report on the account's console page.
    let admin = Browser::new();
    crate::console::sign_in(&server, &admin, "sonia", "orange tulip garden").await;
    let console = admin.get(&server.url("/admin/accounts/pauline")).await;
    assert!(console.body.contains("push.fraud_reported"), "{}", console.body);

    // Revoked device: its requests are refused.
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let by = sesame::second_factor::Remover::Administrator;
    let removed = sesame::second_factor::remove(&server.state.db, &account, &device.id, by, server.clock_now());
    assert!(matches!(removed.await.unwrap(), sesame::second_factor::Removal::Removed(_)));
    let (status, body) = post(&server, "/push/v1/pending", &device.request(&server, "t", json!({}))).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("unknown_device")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_requests_are_limited_per_hour() {
    let server = TestServer::start_with(Backend::Sqlite, |c| c.push.per_account_per_hour = 2).await;
    let link = enrollment_link(&server).await;
    Device::enroll(&server, &link).await;
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    assert_eq!(send(&browser, &server, &page).await.status, 200);
    assert_eq!(send(&browser, &server, &page).await.status, 200, "the same login may ask again");
    let limited = send(&browser, &server, &page).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("cette heure"), "{}", limited.body);
}

/// The companion, as an operator runs it: enroll from the link, list, approve.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_companion_approves_a_login() {
    let server = TestServer::start(Backend::Sqlite).await;
    let link = enrollment_link(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("device.json");
    let run = |args: Vec<String>| {
        let file = file.clone();
        tokio::task::spawn_blocking(move || {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
                .arg("authenticator")
                .arg("--file")
                .arg(&file)
                .args(args)
                .env("SESAME_LOG", "warn")
                .output()
                .unwrap();
            (
                out.status.success(),
                format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
            )
        })
    };
    let (ok, text) =
        run(vec!["enroll".into(), link.clone(), "--name".into(), "Poste de Pauline".into()]).await.unwrap();
    assert!(ok && text.contains("enrolled as device"), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let (ok, text) = run(vec!["enroll".into(), link]).await.unwrap();
    assert!(!ok && text.contains("exists"), "{text}");

    let browser = Browser::new();
    let (page, request) = push_page(&server, &browser).await;
    let waiting = send(&browser, &server, &page).await;
    let number = element_text(&waiting.body, "push-number").unwrap();
    let (ok, text) = run(vec!["list".into()]).await.unwrap();
    assert!(ok && text.contains("iNot Actes") && text.contains("127.0.0.0/24"), "{text}");
    let id = text.split_whitespace().next().unwrap().to_string();
    let (ok, text) = run(vec!["approve".into(), id.clone(), "--number".into(), "100".into()]).await.unwrap();
    assert!(!ok && text.contains("wrong_number"), "a wrong number is refused: {text}");

    let waiting = send(&browser, &server, &waiting).await;
    let number2 = element_text(&waiting.body, "push-number").unwrap();
    let _ = number;
    let (_, text) = run(vec!["list".into()]).await.unwrap();
    let id = text.split_whitespace().next().unwrap().to_string();
    let (ok, text) = run(vec!["approve".into(), id, "--number".into(), number2]).await.unwrap();
    assert!(ok && text.contains("approved"), "{text}");
    let done =
        submit(&browser, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let client = rp::actes_web(&server).await;
    assert!(rp::exchange(&client, &done.location_param("code").unwrap(), request.verifier).await.is_ok());
}

/// Someone who only knows the password cannot bind their own phone from the account
/// page: a first second factor goes through the login's enrollment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_only_session_cannot_add_a_phone() {
    let server = TestServer::start(Backend::Sqlite).await;
    let browser = Browser::new();
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(&server, &request.url, "emilie", "blue river stone").await;
    assert_eq!(page.status, 303, "a password-only login");
    let account = browser.get(&server.url("/account/security")).await;
    assert_eq!(account.status, 200);
    let csrf = account.field("csrf_token").unwrap();
    for action in ["add_push", "add"] {
        let page = browser.post(&server.url("/account/security"), &[("csrf_token", &csrf), ("action", action)]).await;
        assert_eq!(page.location.as_deref(), Some("/account/login?two_factor=true"), "{action}");
    }
    use sea_orm::{EntityTrait, PaginatorTrait};
    let links = sesame::storage::entities::push_enrollment::Entity::find().count(&server.state.db).await.unwrap();
    assert_eq!(links, 0);
}

/// An office's own app is told of each new request by the webhook, then polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_tells_the_office_app() {
    let (url, received) = crate::sms::gateway(200, 0).await;
    let server = TestServer::start_with(Backend::Sqlite, move |c| c.push.webhook_url = url).await;
    let link = enrollment_link(&server).await;
    let device = Device::enroll(&server, &link).await;
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    assert_eq!(send(&browser, &server, &page).await.status, 200);
    let mut told = None;
    for _ in 0..50 {
        if let Some((_, body)) = received.lock().unwrap().pop() {
            told = Some(body);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let told: Value = serde_json::from_str(&told.expect("the webhook was called")).unwrap();
    assert_eq!(told["account"], "pauline");
    assert!(told.get("number").is_none(), "never the number");
    let challenge = device.pending(&server).await.remove(0);
    assert_eq!(told["challenge_id"], challenge["challenge_id"]);
}

/// Bodies that are not the protocol's, and signed messages missing a claim: each gets
/// the documented error (status and `error` code, JSON), and the waiting request stays
/// as it was.
async fn malformed_messages_are_refused_in_the_protocol_shape_and_change_nothing(backend: Backend) {
    let server = TestServer::start(backend).await;
    let link = enrollment_link(&server).await;
    let device = Device::enroll(&server, &link).await;
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    send(&browser, &server, &page).await;
    let challenge = device.pending(&server).await.remove(0);
    let http = reqwest::Client::new();
    let raw = |body: &'static str, content_type: &'static str| {
        http.post(server.url("/push/v1/answer")).header("content-type", content_type).body(body).send()
    };
    for (body, content_type) in [
        ("not json", "application/json"),
        ("{\"jws\": 42}", "application/json"),
        ("{}", "application/json"),
        ("{\"jws\": \"a.b.c\"}", "text/plain"),
    ] {
        let response = raw(body, content_type).await.unwrap();
        let status = response.status().as_u16();
        let json: Value = response.json().await.expect("a JSON error body");
        assert!((400..500).contains(&status), "{body}: {status}");
        assert_eq!(json["error"], "invalid_request", "{body}: {json}");
        assert!(json["error_description"].is_string());
    }
    let wrong_method = http.get(server.url("/push/v1/answer")).send().await.unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(wrong_method.json::<Value>().await.unwrap()["error"], "invalid_request");
    // Signed, but an approval without its number, or without a decision.
    for claims in [
        json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "decision": "approve"}),
        json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "number": "12", "decision": "approve"}),
        json!({"challenge_id": challenge["challenge_id"], "nonce": challenge["nonce"], "number": 12}),
    ] {
        let (status, body) =
            post(&server, "/push/v1/answer", &device.request(&server, "sesame-push-answer+jwt", claims)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    }
    assert_eq!(device.pending(&server).await.len(), 1, "the request still waits");
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let (_, failures) = sesame::lockout::second_factor::guess_counts(&server.state.db, &account.id).await.unwrap();
    assert_eq!(failures, 0, "nothing counted against the account");
}
