//! Desktop applications as clients (RFC 8252): a native client's loopback redirect URI
//! matches the port the application listens on at run time, on IPv4 and IPv6; its
//! private-use scheme matches exactly; `localhost` and other hosts never match; a web
//! client keeps exact matching; registrations that break the rules are refused.

use openidconnect::{OAuth2TokenResponse, RefreshToken, TokenResponse};
use serde_json::json;

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    a_desktop_application_logs_in_on_the_port_it_chose,
    a_desktop_application_on_ipv6_loopback,
    a_private_use_scheme_is_matched_exactly,
    other_hosts_and_paths_are_refused_on_a_page,
    web_clients_keep_exact_matching,
    native_refresh_tokens_rotate,
    native_registrations_follow_the_rules,
    single_sign_on_asks_the_user_before_answering_a_desktop_application,
);

const CLIENT_ID: &str = "inotacte-desktop";

/// An ephemeral port, as a desktop application gets from the system.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Logs pauline in through `redirect_uri`; the redirect back to the application.
async fn login_through(server: &TestServer, redirect_uri: &str) -> (rp::Client, rp::AuthRequest, rp::Page) {
    let client = rp::client(server, CLIENT_ID, None, redirect_uri).await;
    let request = rp::auth_request(&client, &["profile"], &[]);
    let page = Browser::new().authorize(server, &request.url, "pauline", "correct horse battery").await;
    (client, request, page)
}

async fn a_desktop_application_logs_in_on_the_port_it_chose(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    for _ in 0..2 {
        let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port());
        let (client, request, page) = login_through(&server, &redirect_uri).await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = page.location.clone().unwrap();
        assert!(location.starts_with(&format!("{redirect_uri}?")), "back to the port it listens on: {location}");
        let code = page.location_param("code").expect("a code");
        let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens for the same redirect URI");
        let claims = rp::id_claims(&client, &tokens, &request.nonce);
        assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("pauline"));
        let access = payload(tokens.access_token().secret());
        assert_eq!((&access["application"], &access["rights"]), (&json!("INOTACTE"), &json!(["actes.lecture"])));
    }
}

async fn a_desktop_application_on_ipv6_loopback(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let redirect_uri = format!("http://[::1]:{}/callback", free_port());
    let (client, request, page) = login_through(&server, &redirect_uri).await;
    assert!(page.location.as_deref().unwrap().starts_with(&format!("{redirect_uri}?")));
    let code = page.location_param("code").unwrap();
    rp::exchange(&client, &code, request.verifier).await.expect("tokens");
}

async fn a_private_use_scheme_is_matched_exactly(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let (client, request, page) = login_through(&server, "fr.etude.inotacte:/callback").await;
    assert!(page.location.as_deref().unwrap().starts_with("fr.etude.inotacte:/callback?"));
    let code = page.location_param("code").unwrap();
    rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    let (_, _, page) = login_through(&server, "fr.etude.inotacte:/callback2").await;
    assert_eq!(page.status, 400, "another path is not registered");
    assert!(page.location.is_none());
}

/// Refused on a page, never sent anywhere: a redirect URI that is not registered.
async fn other_hosts_and_paths_are_refused_on_a_page(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let port = free_port();
    for uri in [
        format!("http://localhost:{port}/callback"),
        format!("http://127.0.0.2:{port}/callback"),
        format!("http://127.0.0.1:{port}/other"),
        format!("http://127.0.0.1:{port}/callback?x=1"),
        format!("https://127.0.0.1:{port}/callback"),
        format!("http://127.0.0.1.example.com:{port}/callback"),
    ] {
        let client = rp::client(&server, CLIENT_ID, None, &uri).await;
        let request = rp::auth_request(&client, &[], &[]);
        let page = Browser::new().get(&request.url).await;
        assert_eq!(page.status, 400, "{uri}");
        assert!(page.location.is_none(), "{uri} is never redirected to");
    }
}

async fn web_clients_keep_exact_matching(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    // actes-desktop is a public client registered before native clients existed (web):
    // its loopback URI matches with its port only.
    let client = rp::client(&server, "actes-desktop", None, "http://127.0.0.1:7778/callback").await;
    let page = Browser::new().get(&rp::auth_request(&client, &[], &[]).url).await;
    assert_eq!(page.status, 400);
    let client = rp::client(&server, "actes-desktop", None, "http://127.0.0.1:7777/callback").await;
    let page = Browser::new().get(&rp::auth_request(&client, &[], &[]).url).await;
    assert!(page.location.as_deref().unwrap().starts_with("/login"), "the registered port is accepted");
}

async fn native_refresh_tokens_rotate(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port());
    let (client, request, page) = login_through(&server, &redirect_uri).await;
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    let first = tokens.refresh_token().expect("a first-party desktop application gets a refresh token").clone();
    let refreshed = client
        .exchange_refresh_token(&first)
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .expect("a public client refreshes with its client_id only");
    let second = refreshed.refresh_token().expect("a new refresh token at every use");
    assert_ne!(second.secret(), first.secret());
    assert!(refreshed.id_token().is_some());
    server.clock.advance(60);
    let spent = RefreshToken::new(first.secret().clone());
    let reused = client.exchange_refresh_token(&spent).unwrap().request_async(&rp::http_client).await;
    assert!(reused.is_err(), "the rotated token is spent");
}

async fn native_registrations_follow_the_rules(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let import = |uris: &str, extra: &str| {
        format!(
            "[[clients]]\nclient_id = \"bureau\"\napplication_type = \"native\"\nredirect_uris = [{uris}]\n{extra}\n"
        )
    };
    let refused = [
        (import("\"http://localhost/callback\"", ""), "localhost"),
        (import("\"http://192.0.2.1/callback\"", ""), "loopback"),
        (import("\"inotacte:/callback\"", ""), "reverse domain"),
        (import("\"http://127.0.0.1/callback\"", "secret = \"a-secret-of-the-app\""), "no secret"),
        (import("\"http://127.0.0.1/callback\"", "token_endpoint_auth_method = \"client_secret_basic\""), "public"),
    ];
    for (text, why) in refused {
        let result = sesame::import::import_text(&server.state, "native.toml", &text).await;
        assert!(result.is_err(), "{why}: {text}");
    }
    let ok = import("\"http://127.0.0.1/callback\", \"http://[::1]/callback\", \"fr.etude.bureau:/cb\"", "");
    sesame::import::import_text(&server.state, "native.toml", &ok).await.expect("a valid native client");
    let client = sesame::clients::find(&server.state.db, "bureau").await.unwrap().unwrap();
    assert!(client.is_public(), "public by default");
    assert_eq!(client.application_type, sesame::clients::ApplicationType::Native);
}

/// RFC 8252 8.6: any program on the computer can listen on a loopback port or claim a
/// private-use scheme, so a session never answers a desktop application silently. A
/// page that sends the browser to `/authorize` for inotacte-desktop with the
/// attacker's own PKCE challenge gets no code without the user's approval.
async fn single_sign_on_asks_the_user_before_answering_a_desktop_application(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let (_, _, page) = {
        let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port());
        let client = rp::client(&server, CLIENT_ID, None, &redirect_uri).await;
        let request = rp::auth_request(&client, &[], &[]);
        let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
        (client, request, page)
    };
    assert!(page.location_param("code").is_some(), "signing in is the user's act: a code");

    let redirect_uri = format!("http://127.0.0.1:{}/callback", free_port());
    let client = rp::client(&server, CLIENT_ID, None, &redirect_uri).await;
    let silent = rp::auth_request(&client, &[], &[("prompt", "none")]);
    let page = browser.get(&silent.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("consent_required"), "{:?}", page.location);
    assert!(page.location_param("code").is_none());

    let request = rp::auth_request(&client, &[], &[]);
    let page = browser.get(&request.url).await;
    assert!(page.location.as_deref().unwrap().starts_with("/consent"), "asked, not answered: {:?}", page.location);
    let consent = browser.get(&server.url(page.location.as_deref().unwrap())).await;
    assert!(consent.body.contains("INOTACTE"), "the page names the application");
    let (csrf, tx) = (consent.field("csrf_token").unwrap(), consent.field("tx").unwrap());
    let allowed =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "allow")]).await;
    let code = allowed.location_param("code").expect("a code once the user approves");
    rp::exchange(&client, &code, request.verifier).await.expect("tokens");

    // A web client of the same office is answered by single sign-on as before.
    let web = rp::actes_web(&server).await;
    let page = browser.get(&rp::auth_request(&web, &[], &[]).url).await;
    assert!(page.location_param("code").is_some(), "{:?}", page.location);
}
