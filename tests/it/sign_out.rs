//! "Sign out everywhere", from the account's security page and by an administrator:
//! every session ends, every refresh token is revoked — offline ones too, so a desktop
//! application must log in again at its next refresh —, access tokens stop working,
//! clients with a back-channel logout URI are told, and the account stays usable.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use reqwest::Method;
use serde_json::Value;

use crate::admin_api::api;
use crate::harness::{Backend, TestServer};
use crate::lifecycle::{logout_receiver, set_backchannel};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    the_owner_signs_out_everywhere,
    an_administrator_signs_an_account_out_everywhere,
    what_was_granted_but_not_collected_ends_too,
);

const PASSWORD: &str = "correct horse battery";

/// Pauline on two devices: the web application in one browser (a refresh token bound
/// to that session), the desktop application in another with `offline_access` (a
/// refresh token that outlives its session).
struct TwoDevices {
    web: rp::Client,
    web_tokens: openidconnect::core::CoreTokenResponse,
    web_browser: Browser,
    desktop: rp::Client,
    desktop_tokens: openidconnect::core::CoreTokenResponse,
    desktop_browser: Browser,
}

async fn two_devices(server: &TestServer) -> TwoDevices {
    let web = rp::actes_web(server).await;
    let web_browser = Browser::new();
    let (code, request) = rp::code_for_pauline(server, &web, &web_browser, &[]).await;
    let web_tokens = rp::exchange(&web, &code, request.verifier).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let desktop = rp::client(server, "inotacte-desktop", None, &format!("http://127.0.0.1:{port}/callback")).await;
    let desktop_browser = Browser::new();
    let request = rp::auth_request(&desktop, &["offline_access"], &[]);
    let page = desktop_browser.authorize(server, &request.url, "pauline", PASSWORD).await;
    let desktop_tokens = rp::exchange(&desktop, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    TwoDevices { web, web_tokens, web_browser, desktop, desktop_tokens, desktop_browser }
}

async fn refreshes(client: &rp::Client, tokens: &openidconnect::core::CoreTokenResponse) -> bool {
    let token = tokens.refresh_token().expect("a refresh token");
    client.exchange_refresh_token(token).unwrap().request_async(&rp::http_client).await.is_ok()
}

async fn userinfo_status(server: &TestServer, tokens: &openidconnect::core::CoreTokenResponse) -> u16 {
    let response = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

/// Everything of both devices stopped working, and the account can log in afresh.
async fn assert_signed_out_everywhere(server: &TestServer, devices: &TwoDevices) {
    assert!(!refreshes(&devices.web, &devices.web_tokens).await, "the web session's refresh token is revoked");
    assert!(!refreshes(&devices.desktop, &devices.desktop_tokens).await, "the offline one too");
    assert_eq!(userinfo_status(server, &devices.web_tokens).await, 401, "access tokens stop working");
    assert_eq!(userinfo_status(server, &devices.desktop_tokens).await, 401);
    for (client, browser) in [(&devices.web, &devices.web_browser), (&devices.desktop, &devices.desktop_browser)] {
        let page = browser.get(&rp::auth_request(client, &[], &[]).url).await;
        assert!(page.location.as_deref().unwrap().starts_with("/login"), "no session left: {:?}", page.location);
    }
    // A fresh login works, and its tokens are not caught by the revocations.
    let (code, request) = rp::code_for_pauline(server, &devices.web, &Browser::new(), &[]).await;
    let fresh = rp::exchange(&devices.web, &code, request.verifier).await.unwrap();
    assert_eq!(userinfo_status(server, &fresh).await, 200);
    assert!(refreshes(&devices.web, &fresh).await);
}

async fn the_owner_signs_out_everywhere(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (uri, received) = logout_receiver().await;
    set_backchannel(&server, "actes-web", &uri).await;
    let devices = two_devices(&server).await;
    assert!(refreshes(&devices.web, &devices.web_tokens).await, "works before");
    let web_tokens = {
        // The refresh above rotated the web token: log in the web device again.
        let (code, request) = rp::code_for_pauline(&server, &devices.web, &devices.web_browser, &[]).await;
        rp::exchange(&devices.web, &code, request.verifier).await.unwrap()
    };
    let devices = TwoDevices { web_tokens, ..devices };
    let sid = payload(&devices.web_tokens.id_token().unwrap().to_string())["sid"].clone();

    let page = devices.web_browser.get(&server.url("/account/security")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"sign-out-everywhere\""));
    let csrf = page.field("csrf_token").unwrap();
    let page = devices
        .web_browser
        .post(&server.url("/account/security"), &[("csrf_token", &csrf), ("action", "sign_out_everywhere")])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"logged-out\""));

    assert_signed_out_everywhere(&server, &devices).await;
    let told = received.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "the web application is told over the back channel");
    assert_eq!(payload(&told[0])["sid"], sid);
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let events = sesame::audit::recent_for_account(&server.state.db, &pauline.id, 50).await.unwrap();
    assert!(events.iter().any(|e| e["event"] == "account.signed_out_everywhere"), "recorded: {events:?}");
}

async fn an_administrator_signs_an_account_out_everywhere(backend: Backend) {
    let server = TestServer::start(backend).await;
    let devices = two_devices(&server).await;
    let api = api(&server).await;
    let (status, body) = api.call(Method::POST, "/accounts/pauline/sign-out-everywhere", None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions_ended"], Value::from(2), "{body}");
    assert_signed_out_everywhere(&server, &devices).await;
    let (status, _) = api.call(Method::POST, "/accounts/nobody/sign-out-everywhere", None).await;
    assert_eq!(status, 404);
}

/// A code issued but not redeemed yet (the application is slow, or an attacker holds
/// it back) gives nothing once the account is signed out everywhere or locked.
async fn what_was_granted_but_not_collected_ends_too(backend: Backend) {
    let server = TestServer::start(backend).await;
    let web = rp::actes_web(&server).await;
    let api = api(&server).await;
    for action in ["sign-out-everywhere", "lock"] {
        let (code, request) = rp::code_for_pauline(&server, &web, &Browser::new(), &[]).await;
        let (status, body) = api.call(Method::POST, &format!("/accounts/pauline/{action}"), None).await;
        assert_eq!(status, 200, "{body}");
        let refused = rp::exchange(&web, &code, request.verifier).await;
        assert!(refused.unwrap_err().contains("invalid_grant"), "{action}: the held-back code gives nothing");
        api.call(Method::POST, "/accounts/pauline/unlock", None).await;
    }
}
