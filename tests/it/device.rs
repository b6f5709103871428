//! The device authorization grant (RFC 8628) over real HTTP: a device (a scanner, a
//! command-line tool) asks for codes and polls the token endpoint while a person types
//! the user code on the verification page in a browser, signs in — enrolling or using
//! their authenticator app — and allows or denies. Polling (pending, slow_down,
//! expired, denied), wrong user codes typed in parallel, and one device code polled in
//! parallel.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame::lockout::user_code;

use crate::harness::{Backend, SendJson, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};
use crate::two_factor;

const GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";
const TWO_FACTOR: &str = "urn:sesame:loa:2fa";

/// Two device clients beside the office fixture: a public scanner of iNot Actes that
/// earns refresh tokens (first-party), and a confidential tool of iNot Comptabilité.
const DEVICE_CLIENTS: &str = r#"
[[clients]]
client_id = "actes-scanner"
name = "Scanner de l'accueil"
application = "INOTACTE"
redirect_uris = ["https://actes.example/unused"]
grant_types = ["urn:ietf:params:oauth:grant-type:device_code", "refresh_token"]
token_endpoint_auth_method = "none"
first_party = true

[[clients]]
client_id = "compta-cli"
name = "Outil comptable"
application = "INOTCOMPTABILITE"
secret = "compta-cli-secret-0123456789"
redirect_uris = ["https://compta.example/unused"]
grant_types = ["urn:ietf:params:oauth:grant-type:device_code"]
token_endpoint_auth_method = "client_secret_basic"
"#;

on_every_backend!(
    a_device_is_approved_with_the_second_factor,
    polling_says_pending_slow_down_denied_and_expired,
    wrong_user_codes_in_parallel_are_counted_exactly,
    the_shared_budget_holds_across_sources,
    a_device_code_is_used_once_under_parallel_polls,
    an_old_session_signs_in_again_before_approving,
    the_complete_verification_uri_as_a_qr_code,
    device_authorization_requests_are_limited_per_address,
);

async fn start(backend: Backend) -> TestServer {
    start_with(backend, |_| {}).await
}

async fn start_with(backend: Backend, adjust: impl FnOnce(&mut sesame::config::Config)) -> TestServer {
    let server = TestServer::start_with(backend, adjust).await;
    sesame::import::import_text(&server.state, "device.toml", DEVICE_CLIENTS).await.expect("device clients");
    server
}

/// A device client: its id and, for a confidential one, its secret.
#[derive(Clone, Copy)]
struct Device {
    client_id: &'static str,
    secret: Option<&'static str>,
}

const SCANNER: Device = Device { client_id: "actes-scanner", secret: None };
const COMPTA_CLI: Device = Device { client_id: "compta-cli", secret: Some("compta-cli-secret-0123456789") };

impl Device {
    fn post(&self, server: &TestServer, path: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.post_to(&server.url(path), form)
    }

    fn post_to(&self, url: &str, form: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let http = reqwest::Client::new().post(url);
        match self.secret {
            Some(secret) => http.basic_auth(self.client_id, Some(secret)).form(form),
            None => {
                let mut form = form.to_vec();
                form.push(("client_id", self.client_id));
                http.form(&form)
            }
        }
    }

    /// `POST /device_authorization`: status and body.
    async fn authorize(&self, server: &TestServer, scope: &str) -> (StatusCode, Value) {
        let response = self.post(server, "/device_authorization", &[("scope", scope)]).send().await.unwrap();
        assert_eq!(response.headers()["cache-control"], "no-store");
        (response.status(), response.json().await.unwrap())
    }

    /// A device authorization that must succeed.
    async fn codes(&self, server: &TestServer, scope: &str) -> Value {
        let (status, body) = self.authorize(server, scope).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// One poll of the token endpoint: status and body.
    async fn poll(&self, server: &TestServer, device_code: &str) -> (StatusCode, Value) {
        self.poll_at(&server.url("/token"), device_code).await
    }

    async fn poll_at(&self, token_endpoint: &str, device_code: &str) -> (StatusCode, Value) {
        let form = [("grant_type", GRANT), ("device_code", device_code)];
        let response = self.post_to(token_endpoint, &form).send().await.unwrap();
        (response.status(), response.json().await.unwrap())
    }

    /// A poll that must be refused with `error`.
    async fn poll_error(&self, server: &TestServer, device_code: &str) -> String {
        let (status, body) = self.poll(server, device_code).await;
        assert_eq!(status, 400, "{body}");
        body["error"].as_str().unwrap_or_default().to_string()
    }
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_else(|| panic!("`{name}` in {value}")).to_string()
}

/// Types `code` on the verification page: the answer to the form.
async fn type_code(browser: &Browser, server: &TestServer, code: &str) -> Page {
    let form = browser.get(&server.url("/device")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let csrf = form.field("csrf_token").expect("csrf_token");
    browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", code)]).await
}

/// From the confirmation page's redirect to `/device/login`, signs in with the password:
/// the page after it (the second factor's, or the way back to `/device/callback`).
async fn sign_in(browser: &Browser, server: &TestServer, to_login: &Page, username: &str, password: &str) -> Page {
    assert_eq!(to_login.status, 303, "{}", to_login.body);
    let login = two_factor::follow(browser, server, to_login).await;
    let authorize = login.location.expect("to the authorization endpoint");
    assert!(authorize.contains("client_id=sesame-device"), "{authorize}");
    browser.authorize(server, &authorize, username, password).await
}

/// From the redirect to `/device/callback`, back to the confirmation page.
async fn back_to_confirmation(browser: &Browser, server: &TestServer, to_callback: &Page) -> Page {
    assert_eq!(to_callback.status, 303, "{}", to_callback.body);
    let callback = to_callback.location.as_deref().expect("a redirect");
    assert!(callback.starts_with(&server.url("/device/callback?")), "{callback}");
    let confirm = browser.get(callback).await;
    assert_eq!(confirm.location.as_deref(), Some("/device/confirm"), "{}", confirm.body);
    two_factor::follow(browser, server, &confirm).await
}

/// Allow or Deny on the confirmation page.
async fn decide(browser: &Browser, server: &TestServer, confirmation: &Page, decision: &str) -> Page {
    let csrf = confirmation.field("csrf_token").expect("csrf_token");
    browser.post(&server.url("/device/confirm"), &[("csrf_token", &csrf), ("decision", decision)]).await
}

/// A user code that is well formed and is not `real`.
fn wrong_code(i: usize, real: &str) -> String {
    let letters = b"BCDFGHJKLMNPQRSTVWXZ";
    let code: String = (0..8).map(|k| letters[(i * 7 + k * 3) % 20] as char).collect();
    if code.replace('-', "") == real.replace('-', "") {
        "ZZZZ-ZZZZ".into()
    } else {
        format!("{}-{}", &code[..4], &code[4..])
    }
}

async fn a_device_is_approved_with_the_second_factor(backend: Backend) {
    let server = start(backend).await;
    two_factor::set_two_factor(&server, "pauline", true).await;
    let discovery: Value =
        reqwest::Client::new().get(server.url("/.well-known/openid-configuration")).send_json().await;
    assert_eq!(discovery["device_authorization_endpoint"], server.url("/device_authorization"));
    assert!(discovery["grant_types_supported"].as_array().unwrap().contains(&json!(GRANT)));

    // The device asks; a person opens the link it shows, with the code filled in.
    let codes = SCANNER.codes(&server, "openid profile offline_access").await;
    let shown = text(&codes, "user_code");
    assert_eq!(shown.len(), 9, "XXXX-XXXX: {shown}");
    assert_eq!(&shown[4..5], "-");
    assert!(shown.replace('-', "").bytes().all(|b| b"BCDFGHJKLMNPQRSTVWXZ".contains(&b)), "{shown}");
    assert_eq!(codes["verification_uri"], server.url("/device"));
    assert_eq!(codes["verification_uri_complete"], server.url(&format!("/device?user_code={shown}")));
    assert_eq!(codes["expires_in"], 600);
    assert_eq!(codes["interval"], 5);
    let device_code = text(&codes, "device_code");
    assert_eq!(SCANNER.poll_error(&server, &device_code).await, "authorization_pending");

    let browser = Browser::new();
    let form = browser.get(&text(&codes, "verification_uri_complete")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert!(form.body.contains(&format!("name=\"user_code\" type=\"text\" value=\"{shown}\"")), "{}", form.body);
    // Typed as people type it: lower case, spaces for the dash.
    let csrf = form.field("csrf_token").expect("csrf_token");
    let typed = shown.to_lowercase().replace('-', " ");
    let page = browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &typed)]).await;
    assert_eq!(page.location.as_deref(), Some("/device/confirm"), "{}", page.body);
    // Without the form's token the code is not even looked at.
    let forged = Browser::new().post(&server.url("/device"), &[("csrf_token", "x"), ("user_code", &shown)]).await;
    assert_eq!(forged.status, 403);

    // No session: sign in; pauline must enroll an authenticator first (forced enrollment).
    let to_login = two_factor::follow(&browser, &server, &page).await;
    assert_eq!(to_login.location.as_deref(), Some("/device/login"));
    let after_password = sign_in(&browser, &server, &to_login, "pauline", "correct horse battery").await;
    let enrolled = two_factor::walk_enrollment(&browser, &server, &after_password, "pauline@etude.example").await;
    let confirmation = back_to_confirmation(&browser, &server, &enrolled.to_client).await;
    assert_eq!(confirmation.status, 200, "{}", confirmation.body);
    assert_eq!(two_factor::element_text(&confirmation.body, "device-client").as_deref(), Some("Scanner de l'accueil"));
    assert_eq!(two_factor::element_text(&confirmation.body, "device-application").as_deref(), Some("iNot Actes"));
    assert_eq!(two_factor::element_text(&confirmation.body, "device-user-code").as_deref(), Some(shown.as_str()));
    let done = decide(&browser, &server, &confirmation, "allow").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("data-approved=\"true\""), "{}", done.body);

    // The device's next poll (after its interval) gets the tokens, once.
    server.clock.advance(5);
    let (status, tokens) = SCANNER.poll(&server, &device_code).await;
    assert_eq!(status, 200, "{tokens}");
    let access = rp::payload(&text(&tokens, "access_token"));
    assert_eq!(access["acr"], TWO_FACTOR);
    assert_eq!(access["client_id"], "actes-scanner");
    assert_eq!(access["application"], "INOTACTE");
    assert_eq!(access["rights"], json!(["actes.lecture"]));
    assert_eq!(access["options"], json!({"etude": "Paris"}));
    assert_eq!(access["initials"], "PM");
    let id = rp::payload(&text(&tokens, "id_token"));
    assert_eq!(id["acr"], TWO_FACTOR);
    let amr: Vec<&str> = id["amr"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(amr.contains(&"pwd") && amr.contains(&"otp"), "amr of the approving session: {amr:?}");
    assert_eq!(id["aud"], "actes-scanner");
    assert_eq!(id["rights"], json!(["actes.lecture"]));
    assert_eq!(id["preferred_username"], "pauline");
    assert_eq!(id["sid"], access["sid"]);
    let info: Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(text(&tokens, "access_token"))
        .send_json()
        .await;
    assert_eq!(info["sub"], id["sub"], "the access token is accepted");
    server.clock.advance(10);
    assert_eq!(SCANNER.poll_error(&server, &device_code).await, "invalid_grant", "a device code works once");

    // The refresh token (first-party client with the refresh grant) works like any.
    let refresh = text(&tokens, "refresh_token");
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (status, refreshed) = {
        let response = SCANNER.post(&server, "/token", &form).send().await.unwrap();
        (response.status(), response.json::<Value>().await.unwrap())
    };
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(rp::payload(&text(&refreshed, "access_token"))["acr"], TWO_FACTOR);

    // Another device, approved in another browser: the password, then the app's code.
    let app = &enrolled.app;
    let codes = SCANNER.codes(&server, "openid").await;
    let other = Browser::new();
    let page = type_code(&other, &server, &text(&codes, "user_code")).await;
    let to_login = two_factor::follow(&other, &server, &page).await;
    let after_password = sign_in(&other, &server, &to_login, "pauline", "correct horse battery").await;
    assert!(
        after_password.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")),
        "{:?}",
        after_password.location
    );
    let verify = two_factor::follow(&other, &server, &after_password).await;
    server.clock.advance(30);
    let code = app.code_at(server.clock_now());
    let checked =
        two_factor::submit(&other, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    let confirmation = back_to_confirmation(&other, &server, &checked).await;
    assert_eq!(decide(&other, &server, &confirmation, "allow").await.status, 200);
    let (status, tokens) = SCANNER.poll(&server, &text(&codes, "device_code")).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(rp::payload(&text(&tokens, "id_token"))["acr"], TWO_FACTOR);
    assert!(tokens.get("refresh_token").is_some(), "first-party: a refresh token without offline_access");

    // The first browser's two-factor session approves a third device without a sign-in.
    let codes = SCANNER.codes(&server, "openid").await;
    let page = type_code(&browser, &server, &text(&codes, "user_code")).await;
    let confirmation = two_factor::follow(&browser, &server, &page).await;
    assert_eq!(confirmation.status, 200, "straight to the question: {:?}", confirmation.location);
    assert_eq!(decide(&browser, &server, &confirmation, "allow").await.status, 200);
    assert_eq!(SCANNER.poll(&server, &text(&codes, "device_code")).await.0, 200);
    assert_eq!(two_factor::audit_count(&server, "device.approved").await, 3);
}

async fn polling_says_pending_slow_down_denied_and_expired(backend: Backend) {
    let server = start(backend).await;
    // Only clients that registered the grant may ask; the scope must hold openid.
    let actes_web = reqwest::Client::new()
        .post(server.url("/device_authorization"))
        .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
        .form(&[("scope", "openid")])
        .send()
        .await
        .unwrap();
    assert_eq!(actes_web.status(), 400);
    assert_eq!(actes_web.json::<Value>().await.unwrap()["error"], "unauthorized_client");
    let (status, body) = SCANNER.authorize(&server, "profile").await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (400, Some("invalid_scope")), "{body}");
    let wrong_secret = Device { client_id: "compta-cli", secret: Some("not-the-secret-0123") };
    let (status, body) = wrong_secret.authorize(&server, "openid").await;
    assert_eq!((status.as_u16(), body["error"].as_str()), (401, Some("invalid_client")), "{body}");

    // Pending, then too fast: the interval grows by 5 s at each slow_down.
    let codes = SCANNER.codes(&server, "openid").await;
    let device_code = text(&codes, "device_code");
    assert_eq!(SCANNER.poll_error(&server, &device_code).await, "authorization_pending");
    let (_, body) = SCANNER.poll(&server, &device_code).await;
    assert_eq!(body["error"], "slow_down");
    assert!(body["error_description"].as_str().unwrap().contains("10 seconds"), "{body}");
    server.clock.advance(5);
    let (_, body) = SCANNER.poll(&server, &device_code).await;
    assert_eq!(body["error"], "slow_down", "5 s is not 10 any more");
    assert!(body["error_description"].as_str().unwrap().contains("15 seconds"), "{body}");
    server.clock.advance(15);
    assert_eq!(SCANNER.poll_error(&server, &device_code).await, "authorization_pending");
    // Another client's device code, an unknown one, the wrong grant's parameters.
    assert_eq!(COMPTA_CLI.poll_error(&server, &device_code).await, "invalid_grant");
    assert_eq!(SCANNER.poll_error(&server, "no-such-device-code").await, "invalid_grant");
    let body: Value = SCANNER.post(&server, "/token", &[("grant_type", GRANT)]).send_json().await;
    assert_eq!(body["error"], "invalid_request", "no device_code: {body}");

    // Denied by the person: access_denied.
    let browser = Browser::new();
    let page = type_code(&browser, &server, &text(&codes, "user_code")).await;
    let to_login = two_factor::follow(&browser, &server, &page).await;
    let to_callback = sign_in(&browser, &server, &to_login, "emilie", "blue river stone").await;
    let confirmation = back_to_confirmation(&browser, &server, &to_callback).await;
    let done = decide(&browser, &server, &confirmation, "deny").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("data-approved=\"false\""), "{}", done.body);
    server.clock.advance(15);
    assert_eq!(SCANNER.poll_error(&server, &device_code).await, "access_denied");
    // Decided: the code is no longer valid on the page, and the question is gone.
    let again = type_code(&browser, &server, &text(&codes, "user_code")).await;
    assert_eq!(again.status, 400);
    assert!(two_factor::element_text(&again.body, "device-error").is_some(), "{}", again.body);
    assert_eq!(browser.get(&server.url("/device/confirm")).await.status, 400);

    // An account without access to the client's application is refused, and the
    // device told access_denied, as a login would tell the application.
    let codes = COMPTA_CLI.codes(&server, "openid").await;
    let page = type_code(&browser, &server, &text(&codes, "user_code")).await;
    let refused = two_factor::follow(&browser, &server, &page).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("iNot Comptabilité"), "names the application: {}", refused.body);
    assert_eq!(COMPTA_CLI.poll_error(&server, &text(&codes, "device_code")).await, "access_denied");
    assert_eq!(two_factor::audit_count(&server, "device.access_denied").await, 1);

    // Expired: the device is told so, the code is no longer valid, and the janitor
    // deletes the rows once they expire.
    let codes = SCANNER.codes(&server, "openid").await;
    server.clock.advance(601);
    assert_eq!(SCANNER.poll_error(&server, &text(&codes, "device_code")).await, "expired_token");
    assert_eq!(type_code(&browser, &server, &text(&codes, "user_code")).await.status, 400);
    let swept = sesame::janitor::sweep(&server.state, server.clock_now()).await.unwrap();
    assert_eq!(swept.device_authorizations, 3);
    assert_eq!(SCANNER.poll_error(&server, &text(&codes, "device_code")).await, "invalid_grant");
}

async fn wrong_user_codes_in_parallel_are_counted_exactly(backend: Backend) {
    let server = start(backend).await;
    let free = server.state.config.device_authorization.max_failures_per_source;
    assert_eq!(free, 5, "the default");
    let codes = SCANNER.codes(&server, "openid").await;
    let real = text(&codes, "user_code");
    let browser = Browser::new();
    let form = browser.get(&server.url("/device")).await;
    let csrf = form.field("csrf_token").expect("csrf_token");

    // Twenty wrong codes at once from one address: exactly `free` are looked up.
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (browser, url, csrf, code) = (browser.clone(), server.url("/device"), csrf.clone(), wrong_code(i, &real));
        guesses.spawn(async move { browser.post(&url, &[("csrf_token", &csrf), ("user_code", &code)]).await });
    }
    let pages = guesses.join_all().await;
    let checked = pages.iter().filter(|p| p.status == 400).count();
    let refused = pages.iter().filter(|p| p.status == 429).count();
    assert_eq!((checked, refused), (free as usize, 20 - free as usize), "20 parallel guesses: {checked} checked");
    for page in &pages {
        let error = two_factor::element_text(&page.body, "device-error").expect("the page says why");
        assert!(
            !error.to_lowercase().contains("expired") && !error.contains("exist"),
            "says only 'not valid': {error}"
        );
    }
    let now = server.clock_now();
    let (source, everyone) = user_code::counts(&server.state.db, Some("127.0.0.1"), now).await.unwrap();
    assert_eq!(source, (20, free), "(attempts, failures) of the address");
    assert_eq!(everyone, (free as i64, free), "only the checked guesses reach the shared budget");

    // The right code waits like any other: it is not looked up.
    let page = browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &real)]).await;
    assert_eq!(page.status, 429, "{}", page.body);
    // After the minute, it passes, and gives its guess back.
    server.clock.advance(61);
    let page = browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &real)]).await;
    assert_eq!(page.location.as_deref(), Some("/device/confirm"), "{}", page.body);
    let (source, _) = user_code::counts(&server.state.db, Some("127.0.0.1"), server.clock_now()).await.unwrap();
    assert_eq!(source, (22, free), "a right code does not count as a failure");
    // The next wrong code waits twice as long (two minutes).
    let page =
        browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &wrong_code(3, &real))]).await;
    assert_eq!(page.status, 400);
    server.clock.advance(61);
    let page =
        browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &wrong_code(4, &real))]).await;
    assert_eq!(page.status, 429, "still waiting after one minute");
    // A malformed code cannot name anything: it costs nothing.
    let (before, _) = user_code::counts(&server.state.db, Some("127.0.0.1"), server.clock_now()).await.unwrap();
    let page = browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", "AEIOU-123")]).await;
    assert_eq!(page.status, 400);
    let (after, _) = user_code::counts(&server.state.db, Some("127.0.0.1"), server.clock_now()).await.unwrap();
    assert_eq!(before, after);
}

async fn the_shared_budget_holds_across_sources(backend: Backend) {
    let server = start_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        config.device_authorization.max_failures_per_source = 4;
        config.device_authorization.max_failures_per_minute = 6;
    })
    .await;
    // Stay clear of a minute's end: the shared budget counts per minute of the clock.
    let into_minute = server.clock_now().rem_euclid(60);
    server.clock.advance(60 - into_minute);
    let codes = SCANNER.codes(&server, "openid").await;
    let real = text(&codes, "user_code");
    let mut statuses = Vec::new();
    for (n, address) in ["192.0.2.1", "192.0.2.2"].iter().enumerate() {
        let browser = Browser::at(address);
        let form = browser.get(&server.url("/device")).await;
        let csrf = form.field("csrf_token").expect("csrf_token");
        for i in 0..4 {
            let code = wrong_code(n * 10 + i, &real);
            let page = browser.post(&server.url("/device"), &[("csrf_token", &csrf), ("user_code", &code)]).await;
            statuses.push(page.status.as_u16());
        }
    }
    // The first address spends its 4; the second gets 2 before the minute's 6 are spent.
    assert_eq!(statuses, [400, 400, 400, 400, 400, 400, 429, 429]);
    let now = server.clock_now();
    let (second, everyone) = user_code::counts(&server.state.db, Some("192.0.2.2"), now).await.unwrap();
    assert_eq!(second, (4, 2), "refused by the shared budget: counted as attempts, not failures");
    assert_eq!(everyone, (8, 6));
    // A third address waits for the next minute too; then it may try.
    let third = Browser::at("192.0.2.3");
    assert_eq!(type_code(&third, &server, &real).await.status, 429);
    server.clock.advance(60);
    assert_eq!(type_code(&third, &server, &real).await.location.as_deref(), Some("/device/confirm"));
}

async fn a_device_code_is_used_once_under_parallel_polls(backend: Backend) {
    let server = start(backend).await;
    let codes = COMPTA_CLI.codes(&server, "openid profile").await;
    let browser = Browser::new();
    let page = type_code(&browser, &server, &text(&codes, "user_code")).await;
    let to_login = two_factor::follow(&browser, &server, &page).await;
    let to_callback = sign_in(&browser, &server, &to_login, "pauline", "correct horse battery").await;
    let confirmation = back_to_confirmation(&browser, &server, &to_callback).await;
    assert_eq!(
        two_factor::element_text(&confirmation.body, "device-application").as_deref(),
        Some("iNot Comptabilité")
    );
    assert_eq!(decide(&browser, &server, &confirmation, "allow").await.status, 200);
    // The form cannot be replayed: decided once.
    assert_eq!(decide(&browser, &server, &confirmation, "deny").await.status, 400);

    let device_code = text(&codes, "device_code");
    let mut polls = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let (url, device_code) = (server.url("/token"), device_code.clone());
        polls.spawn(async move { COMPTA_CLI.poll_at(&url, &device_code).await });
    }
    let answers = polls.join_all().await;
    let issued: Vec<&Value> = answers.iter().filter(|(status, _)| *status == 200).map(|(_, body)| body).collect();
    assert_eq!(issued.len(), 1, "one of 10 parallel polls gets tokens: {answers:?}");
    assert!(answers.iter().filter(|(status, _)| *status != 200).all(|(_, body)| body["error"] == "invalid_grant"));
    let access = rp::payload(&text(issued[0], "access_token"));
    assert_eq!(access["application"], "INOTCOMPTABILITE");
    assert_eq!(access["rights"], json!(["compta.lecture"]), "the rights of this application only");
    assert_eq!(access["acr"], "urn:sesame:loa:1fa", "a password-only account approves with its password");
    assert!(issued[0].get("refresh_token").is_none(), "not first-party, no offline_access, no refresh grant");
}

/// Approving hands out tokens: a session signed in more than a quarter of an hour ago
/// (a browser left open on a shared computer) signs in again first.
async fn an_old_session_signs_in_again_before_approving(backend: Backend) {
    let server = start(backend).await;
    let browser = Browser::new();
    let first = COMPTA_CLI.codes(&server, "openid").await;
    let page = type_code(&browser, &server, &text(&first, "user_code")).await;
    let to_login = two_factor::follow(&browser, &server, &page).await;
    let to_callback = sign_in(&browser, &server, &to_login, "pauline", "correct horse battery").await;
    let confirmation = back_to_confirmation(&browser, &server, &to_callback).await;
    assert_eq!(decide(&browser, &server, &confirmation, "allow").await.status, 200);

    server.clock.advance(901);
    let second = COMPTA_CLI.codes(&server, "openid").await;
    let page = type_code(&browser, &server, &text(&second, "user_code")).await;
    let to_login = two_factor::follow(&browser, &server, &page).await;
    assert_eq!(to_login.location.as_deref(), Some("/device/login?fresh=true&two_factor=false"), "{}", to_login.body);
    let login = two_factor::follow(&browser, &server, &to_login).await;
    let authorize = login.location.expect("to the authorization endpoint");
    assert!(authorize.contains("prompt=login"), "the password again: {authorize}");
}

/// A device that cannot draw a QR code shows Sésame's: any well-formed code, nothing
/// looked up.
async fn the_complete_verification_uri_as_a_qr_code(backend: Backend) {
    let server = start(backend).await;
    let codes = SCANNER.codes(&server, "openid").await;
    let user_code = text(&codes, "user_code");
    let complete = text(&codes, "verification_uri_complete");
    assert_eq!(complete, server.url(&format!("/device?user_code={user_code}")));
    let qr = |code: &str| reqwest::Client::new().get(server.url(&format!("/device/qr.svg?user_code={code}"))).send();
    let response = qr(&user_code.to_lowercase()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("xmlns") && svg.contains("<path"), "{svg}");
    assert_eq!(qr("BCDF").await.unwrap().status(), 400, "malformed");
    assert_eq!(qr(&wrong_code(1, &user_code)).await.unwrap().status(), 200, "no oracle: every well-formed code");
}

/// Each device authorization writes a row until it expires: one address gets
/// `rate_limits.login_per_ip_per_minute` of them a minute, then 429 `slow_down`.
async fn device_authorization_requests_are_limited_per_address(backend: Backend) {
    let server = start_with(backend, |config| config.rate_limits.login_per_ip_per_minute = 5).await;
    for _ in 0..5 {
        assert_eq!(SCANNER.authorize(&server, "openid").await.0, 200);
    }
    let response = SCANNER.post(&server, "/device_authorization", &[("scope", "openid")]).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "slow_down", "{body}");
    server.clock.advance(61);
    assert_eq!(SCANNER.authorize(&server, "openid").await.0, 200, "the next minute");
}
