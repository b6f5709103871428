//! Rate limits on guessable values and cross-origin access to the machine endpoints.

use serde_json::Value;

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(
    login_attempts_are_limited_per_address,
    codes_typed_on_the_device_page_are_limited_per_address,
    client_secret_guessing_is_limited,
    machine_endpoints_allow_cors
);

async fn login_attempts_are_limited_per_address(backend: crate::harness::Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.login_per_ip_per_minute = 3).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[("ui_locales", "en")]);
    let login = browser.get(&request.url).await.location.unwrap();
    for user in ["a", "b", "c"] {
        assert_eq!(browser.login(&server, &login, user, "guess").await.status, 401);
    }
    // Past the address's rate the right password is refused too, like a wrong one.
    let page = browser.login(&server, &login, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("Wrong username or password"), "{}", page.body);
    // A flood past the limit is refused alike, and recorded once a minute, not a row each.
    for user in ["d", "e"] {
        assert_eq!(browser.login(&server, &login, user, "guess").await.status, 401);
    }
    assert_eq!(crate::two_factor::audit_count(&server, "login.failure").await, 4, "3 wrong, then the first refusal");
    server.clock.advance(61);
    assert_eq!(browser.login(&server, &login, "pauline", "correct horse battery").await.status, 303);
}

async fn codes_typed_on_the_device_page_are_limited_per_address(backend: crate::harness::Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.login_per_ip_per_minute = 3).await;
    let browser = Browser::new();
    let form = browser.get(&server.url("/device")).await;
    let csrf = form.field("csrf_token").expect("csrf_token");
    let type_code = |code: &'static str| {
        let (browser, url, csrf) = (browser.clone(), server.url("/device"), csrf.clone());
        async move { browser.post(&url, &[("csrf_token", csrf.as_str()), ("user_code", code)]).await.status }
    };
    // Malformed codes cost no budget in the database; the address's rate bounds them.
    for _ in 0..3 {
        assert_eq!(type_code("not-a-code").await, 400);
    }
    for _ in 0..3 {
        assert_eq!(type_code("BCDF-GHJK").await, 429, "past the address's rate, refused unchecked");
    }
    assert_eq!(crate::two_factor::audit_count(&server, "device.user_code_wrong").await, 3);
    assert_eq!(crate::two_factor::audit_count(&server, "device.user_code_throttled").await, 1, "once a minute");
    server.clock.advance(61);
    assert_eq!(type_code("not-a-code").await, 400, "a new minute");
}

async fn client_secret_guessing_is_limited(backend: crate::harness::Backend) {
    let server = TestServer::start_with(backend, |c| c.rate_limits.client_auth_failures_per_minute = 3).await;
    let http = reqwest::Client::new();
    let attempt = |secret: &'static str| {
        http.post(server.url("/token"))
            .basic_auth("actes-web", Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("redirect_uri", "https://actes.example/callback"),
            ])
            .send()
    };
    for _ in 0..2 {
        assert_eq!(attempt("wrong").await.unwrap().status(), 401);
    }
    let third = attempt("wrong").await.unwrap();
    assert_eq!(third.status(), 429, "the third failure makes this source wait");
    assert!(third.headers().contains_key("retry-after"));
    assert_eq!(third.json::<Value>().await.unwrap()["error"], "slow_down");
    let blocked = attempt("actes-web-secret-0123456789").await.unwrap();
    assert_eq!(blocked.status(), 429, "even the right secret waits, from the guessing source");
    server.clock.advance(61);
    let after = attempt("actes-web-secret-0123456789").await.unwrap();
    assert_eq!(after.status(), 400, "authenticated again; the code is what is wrong");
}

async fn machine_endpoints_allow_cors(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let preflight = http
        .request(reqwest::Method::OPTIONS, server.url("/token"))
        .header("origin", "https://spa.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    let discovery = http
        .get(server.url("/.well-known/openid-configuration"))
        .header("origin", "https://spa.example")
        .send()
        .await
        .unwrap();
    assert_eq!(discovery.headers()["access-control-allow-origin"], "*");
    let authorize = http.get(server.url("/authorize")).header("origin", "https://spa.example").send().await.unwrap();
    assert!(!authorize.headers().contains_key("access-control-allow-origin"), "pages are not for scripts");
}
