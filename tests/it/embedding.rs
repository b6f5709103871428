//! Sésame mounted in another axum application under `/sso` (issuer
//! `http://127.0.0.1:PORT/sso`), as `examples/embedded.rs` does: a relying party
//! discovers it, a browser signs in through its pages, and the code is redeemed.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{Router, routing::get};
use openidconnect::TokenResponse;

use crate::harness::{Backend, FIXTURE, fresh_database, test_config};
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(sesame_mounted_under_a_path_serves_a_whole_login);

async fn sesame_mounted_under_a_path_serves_a_whole_login(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(&backend, dir.path()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let issuer = format!("{origin}/sso");
    let mut config = test_config(dir.path(), url.clone());
    config.issuer = issuer.clone();
    let state = sesame::app::open_state(config, Arc::new(sesame::clock::SystemClock)).await.unwrap();
    sesame::app::ensure_builtin_clients(&state).await.unwrap();
    sesame::import::import_text(&state, "office.toml", FIXTURE).await.unwrap();
    let intranet =
        Router::new().route("/", get(|| async { "the office intranet" })).nest("/sso", sesame::app::router(state));
    let served = tokio::spawn(async move {
        axum::serve(listener, intranet.into_make_service_with_connect_info::<SocketAddr>()).await
    });

    // The relying-party library discovers the provider at the issuer's path.
    let client =
        rp::client_at(&issuer, "actes-web", Some("actes-web-secret-0123456789"), "https://actes.example/callback")
            .await;
    let request = rp::auth_request(&client, &["openid", "profile"], &[]);
    assert!(request.url.starts_with(&format!("{issuer}/authorize?")), "{}", request.url);

    // The browser follows Sésame's redirects and forms, all under /sso.
    let browser = Browser::new();
    let page = browser.get(&request.url).await;
    let to_login = page.location.clone().unwrap_or_else(|| panic!("to the login page: {} {}", page.status, page.body));
    assert!(to_login.starts_with("/sso/login?"), "{to_login}");
    let form = browser.get(&format!("{origin}{to_login}")).await;
    assert_eq!(form.status, 200, "{}", form.body);
    // (The templates escape the path's slash in attributes: `&#x2f;sso`, the same to a
    // browser.)
    let body = rp::unescape(&form.body);
    assert!(body.contains("action=\"/sso/login\""), "the form posts under /sso");
    assert!(body.contains("href=\"/sso/static/sesame.css\""), "its stylesheet too");
    assert!(body.contains("data-base=\"/sso\""), "and its scripts know the path");
    let css = reqwest::get(format!("{origin}/sso/static/sesame.css")).await.unwrap();
    assert_eq!(css.status(), 200);
    let manifest: serde_json::Value =
        reqwest::get(format!("{origin}/sso/static/authenticator.webmanifest")).await.unwrap().json().await.unwrap();
    assert_eq!(
        (manifest["start_url"].as_str(), manifest["scope"].as_str()),
        (Some("/sso/authenticator"), Some("/sso/authenticator"))
    );
    assert!(manifest["icons"][0]["src"].as_str().unwrap().starts_with("/sso/static/"));
    let worker = reqwest::get(format!("{origin}/sso/static/authenticator-sw.js")).await.unwrap();
    assert_eq!(worker.headers()["service-worker-allowed"], "/sso/authenticator");
    let (csrf, tx) = (form.field("csrf_token").unwrap(), form.field("tx").unwrap());
    let signed_in = browser
        .post(
            &format!("{origin}/sso/login"),
            &[("csrf_token", &csrf), ("tx", &tx), ("username", "pauline"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    assert!(signed_in.location.as_deref().is_some_and(|l| l.starts_with("https://actes.example/callback?")));
    assert_eq!(signed_in.location_param("iss").as_deref(), Some(issuer.as_str()));

    // The code is redeemed at /sso/token, and the ID token verifies against the issuer.
    let code = signed_in.location_param("code").expect("a code");
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    let claims = rp::payload(&tokens.id_token().expect("an ID token").to_string());
    assert_eq!(claims["iss"], issuer.as_str());

    // The host application's own routes are its own.
    assert_eq!(reqwest::get(&origin).await.unwrap().text().await.unwrap(), "the office intranet");
    served.abort();
    crate::harness::drop_database(&url).await;
}
