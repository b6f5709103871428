//! The pages people see: language, form field names, theme assets, errors.

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(
    login_page_speaks_french_first_then_english,
    theme_assets_and_health,
    metrics_count_logins_and_tokens
);

async fn metrics_count_logins_and_tokens(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[]);
    let login = browser.get(&request.url).await.location.unwrap();
    assert_eq!(browser.login(&server, &login, "pauline", "wrong password").await.status, 401);
    let page = browser.login(&server, &login, "pauline", "correct horse battery").await;
    rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    let metrics = server.metrics().await;
    for line in [
        "sesame_logins_failed_total 1",
        "sesame_logins_succeeded_total 1",
        "sesame_tokens_issued_total 1",
        "# TYPE sesame_logouts_total counter",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in\n{metrics}");
    }
}

async fn login_page_speaks_french_first_then_english(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[("login_hint", "pauline")]);
    let start = browser.get(&request.url).await;
    let login = server.url(start.location.as_deref().unwrap());
    let page = browser.get(&login).await;
    assert!(page.body.contains("lang=\"fr\""));
    assert!(page.body.contains("Mot de passe"));
    for field in ["name=\"username\"", "name=\"password\"", "name=\"csrf_token\"", "value=\"pauline\""] {
        assert!(page.body.contains(field), "{field} on the login page");
    }
    let english = browser.http.get(&login).header("accept-language", "en-GB,en;q=0.9,fr;q=0.5").send().await.unwrap();
    assert!(english.text().await.unwrap().contains("Password"));
    let request = rp::auth_request(&client, &[], &[("ui_locales", "en")]);
    let start = browser.get(&request.url).await;
    let page = browser.get(&server.url(start.location.as_deref().unwrap())).await;
    assert!(page.body.contains("Sign in"), "ui_locales wins");
    let expired = browser.get(&server.url("/login?tx=unknown")).await;
    assert_eq!(expired.status, 400);
    assert!(expired.body.contains("Connexion expirée"));
}

async fn theme_assets_and_health(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let css = browser.http.get(server.url("/static/sesame.css")).send().await.unwrap();
    assert_eq!(css.status(), 200);
    assert!(css.headers()["content-type"].to_str().unwrap().starts_with("text/css"));
    assert_eq!(browser.get(&server.url("/static/../Cargo.toml")).await.status, 404);
    assert_eq!(browser.get(&server.url("/healthz")).await.status, 200);
    assert_eq!(browser.get(&server.url("/readyz")).await.status, 200);
    let home = browser.get(&server.url("/")).await;
    assert!(home.body.contains("openid-configuration"));
}
