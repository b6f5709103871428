//! The token lifecycle: refresh tokens, client credentials, introspection, revocation,
//! logout (RP-initiated and back-channel), key rotation, the janitor, and several nodes
//! on one database.

use crate::harness::SendJson;
use std::sync::{Arc, Mutex};

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};
use sesame::clients::{self, ClientInput};
use sesame::crypto::jws::{SigningAlg, SigningKey, UnverifiedJws};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    oidcc_refresh_token,
    refresh_token_reuse_revokes_the_family,
    refresh_token_grace_period_for_racing_tabs,
    refresh_token_reuse_grace_zero_means_none,
    a_code_redeemed_twice_at_once_leaves_no_live_token,
    refresh_token_is_bound_to_its_client_and_scopes,
    refresh_token_reflects_account_changes,
    refresh_token_family_has_an_absolute_lifetime,
    client_credentials_grant,
    introspection,
    revocation,
    rp_initiated_logout,
    rp_initiated_logout_without_proof_asks_to_confirm,
    oidcc_rp_initiated_logout_variants,
    backchannel_logout_tells_every_client_of_the_session,
    key_rotation_keeps_old_tokens_valid,
    janitor_sweeps_expired_rows,
    private_key_jwt_client_authentication,
    private_key_jwt_with_jwks_uri,
    a_failing_jwks_uri_is_fetched_once_for_many_assertions,
    two_nodes_share_one_database,
);

const ACTES_SECRET: &str = "actes-web-secret-0123456789";

/// Pauline's tokens at actes-web (which earns refresh tokens as first-party).
async fn login(server: &TestServer, browser: &Browser, scopes: &[&str]) -> openidconnect::core::CoreTokenResponse {
    let client = rp::actes_web(server).await;
    let (code, request) = rp::code_for_pauline(server, &client, browser, scopes).await;
    rp::exchange(&client, &code, request.verifier).await.unwrap()
}

async fn refresh(server: &TestServer, client_id: &str, secret: &str, token: &str, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    if let Some(scope) = scope {
        form.push(("scope", scope));
    }
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn userinfo_status(server: &TestServer, token: &str) -> u16 {
    reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn oidcc_refresh_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, request) = rp::code_for_pauline(&server, &client, &browser, &["profile"]).await;
    let first = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let first_claims = rp::id_claims(&client, &first, &request.nonce).clone();
    let refresh_token = first.refresh_token().expect("a first-party client gets a refresh token").clone();
    server.clock.advance(30);
    let second = client
        .exchange_refresh_token(&refresh_token)
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .expect("refreshed with the RP library");
    assert_ne!(second.refresh_token().unwrap().secret(), refresh_token.secret(), "rotated");
    let id_token = second.id_token().expect("a new ID token").to_string();
    let claims = payload(&id_token);
    assert_eq!(claims["sub"], first_claims.subject().as_str());
    assert_eq!(claims["auth_time"].as_i64(), first_claims.auth_time().map(|t| t.timestamp()), "same authentication");
    assert!(claims.get("nonce").is_none());
    assert_eq!(userinfo_status(&server, second.access_token().secret()).await, 200);
}

async fn refresh_token_reuse_revokes_the_family(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &[]).await;
    let old = tokens.refresh_token().unwrap().secret().clone();
    let (status, rotated) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    assert_eq!(status, 200);
    server.clock.advance(11);
    let (status, body) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "reuse is refused");
    let (status, _) =
        refresh(&server, "actes-web", ACTES_SECRET, rotated["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 400, "the whole family is revoked");
    assert_eq!(userinfo_status(&server, rotated["access_token"].as_str().unwrap()).await, 401, "and its access tokens");
    assert_eq!(userinfo_status(&server, tokens.access_token().secret()).await, 401);
}

async fn refresh_token_grace_period_for_racing_tabs(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &[]).await;
    let old = tokens.refresh_token().unwrap().secret().clone();
    let (first, a) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    server.clock.advance(2);
    let (second, b) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    assert_eq!((first, second), (200, 200), "two tabs within the grace period");
    for body in [a, b] {
        assert_eq!(
            refresh(&server, "actes-web", ACTES_SECRET, body["refresh_token"].as_str().unwrap(), None).await.0,
            200
        );
    }
}

async fn refresh_token_reuse_grace_zero_means_none(backend: Backend) {
    let server = TestServer::start_with(backend, |c| c.tokens.refresh_token_reuse_grace = 0).await;
    let tokens = login(&server, &Browser::new(), &[]).await;
    let old = tokens.refresh_token().unwrap().secret().clone();
    let (first, rotated) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    assert_eq!(first, 200);
    // The same second: no grace at all.
    let (second, body) = refresh(&server, "actes-web", ACTES_SECRET, &old, None).await;
    assert_eq!((second, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let (status, _) =
        refresh(&server, "actes-web", ACTES_SECRET, rotated["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 400, "the family is revoked");
}

async fn refresh_token_is_bound_to_its_client_and_scopes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &["email", "profile"]).await;
    let token = tokens.refresh_token().unwrap().secret().clone();
    let (status, body) = refresh(&server, "actes-api", "actes-api-secret-0123456789", &token, None).await;
    assert_eq!(status, 400, "another client: {body}");
    let (status, body) = refresh(&server, "actes-web", ACTES_SECRET, &token, Some("openid phone")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) = refresh(&server, "actes-web", ACTES_SECRET, &token, Some("openid email")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "openid email", "narrower on request");
    let claims = payload(body["id_token"].as_str().unwrap());
    assert!(claims.get("name").is_none() && claims["email"] == "pauline@etude.example");
}

async fn refresh_token_reflects_account_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &["profile"]).await;
    let renamed = crate::harness::FIXTURE.replace("first_name = \"Pauline\"", "first_name = \"Paula\"");
    sesame::import::import_text(&server.state, "office.toml", &renamed).await.unwrap();
    let (status, body) =
        refresh(&server, "actes-web", ACTES_SECRET, tokens.refresh_token().unwrap().secret(), None).await;
    assert_eq!(status, 200);
    assert_eq!(payload(body["id_token"].as_str().unwrap())["given_name"], "Paula", "read anew at each refresh");
    let archived = renamed.replacen("archived = true", "archived = false", 1).replace(
        "username = \"pauline\"\npassword = \"correct horse battery\"",
        "username = \"pauline\"\npassword = \"correct horse battery\"\narchived = true",
    );
    sesame::import::import_text(&server.state, "office.toml", &archived).await.unwrap();
    let (status, _) = refresh(&server, "actes-web", ACTES_SECRET, body["refresh_token"].as_str().unwrap(), None).await;
    assert_eq!(status, 400, "an archived account gets no token");
}

async fn refresh_token_family_has_an_absolute_lifetime(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &["offline_access"]).await;
    let mut token = tokens.refresh_token().unwrap().secret().clone();
    // Used every 13 days, it slides past its 14-day idle limit until the 90-day family end.
    for day in (13..=91).step_by(13) {
        server.clock.advance(13 * 86_400);
        let (status, body) = refresh(&server, "actes-web", ACTES_SECRET, &token, None).await;
        if day < 90 {
            assert_eq!(status, 200, "day {day}: {body}");
            token = body["refresh_token"].as_str().unwrap().to_string();
        } else {
            assert_eq!(status, 400, "day {day}: past the family's absolute lifetime");
        }
    }
    let fresh = login(&server, &Browser::new(), &[]).await;
    server.clock.advance(15 * 86_400);
    let (status, _) = refresh(&server, "actes-web", ACTES_SECRET, fresh.refresh_token().unwrap().secret(), None).await;
    assert_eq!(status, 400, "unused for longer than refresh_token_ttl");
}

async fn token_request(server: &TestServer, client_id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn client_credentials_grant(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = "actes-api-secret-0123456789";
    let (status, body) = token_request(&server, "actes-api", api, &[("grant_type", "client_credentials")]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["scope"], "actes.api actes.admin", "every registered scope by default");
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!((claims["sub"].as_str(), claims["client_id"].as_str()), (Some("actes-api"), Some("actes-api")));
    assert_eq!(UnverifiedJws::parse(access).unwrap().alg, "EdDSA", "the client's own access-token algorithm");
    let (status, body) =
        token_request(&server, "actes-api", api, &[("grant_type", "client_credentials"), ("scope", "actes.api")]).await;
    assert_eq!((status, body["scope"].as_str()), (200, Some("actes.api")));
    let (status, body) =
        token_request(&server, "actes-api", api, &[("grant_type", "client_credentials"), ("scope", "openid")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_scope")));
    let (status, body) =
        token_request(&server, "actes-web", ACTES_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")), "not registered for it");
    let (status, body) =
        token_request(&server, "actes-api", api, &[("grant_type", "authorization_code"), ("code", "x")]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("unauthorized_client")));
}

async fn introspect(server: &TestServer, client_id: &str, secret: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn introspection(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &["profile"]).await;
    let access = tokens.access_token().secret();
    let (status, body) = introspect(&server, "actes-web", ACTES_SECRET, access).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true);
    assert_eq!(body["username"], "pauline");
    assert_eq!(body["client_id"], "actes-web");
    assert_eq!(body["scope"], "openid profile");
    assert!(body["exp"].is_i64() && body["sid"].is_string());
    let (_, body) = introspect(&server, "actes-api", "actes-api-secret-0123456789", access).await;
    assert_eq!(body["active"], true, "the API of the same application");
    let other_application: Value = reqwest::Client::new()
        .post(server.url("/introspect"))
        .form(&[
            ("token", access.as_str()),
            ("client_id", "compta-web"),
            ("client_secret", "compta-web-secret-0123456789"),
        ])
        .send_json()
        .await;
    assert_eq!(other_application, json!({"active": false}), "another application's client learns nothing");
    let refresh = tokens.refresh_token().unwrap().secret();
    let (_, body) = introspect(&server, "actes-web", ACTES_SECRET, refresh).await;
    assert_eq!((body["active"].as_bool(), body["token_type"].as_str()), (Some(true), Some("refresh_token")));
    let (_, body) = introspect(&server, "actes-web", ACTES_SECRET, "not-a-token").await;
    assert_eq!(body, json!({"active": false}));
    server.clock.advance(601);
    let (_, body) = introspect(&server, "actes-web", ACTES_SECRET, access).await;
    assert_eq!(body, json!({"active": false}), "expired");
    let unauthenticated =
        reqwest::Client::new().post(server.url("/introspect")).form(&[("token", access)]).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

async fn revoke(server: &TestServer, client_id: &str, secret: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn revocation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let tokens = login(&server, &browser, &[]).await;
    let access = tokens.access_token().secret();
    assert_eq!(
        revoke(&server, "actes-api", "actes-api-secret-0123456789", access).await,
        200,
        "another client's: ignored"
    );
    assert_eq!(userinfo_status(&server, access).await, 200);
    assert_eq!(revoke(&server, "actes-web", ACTES_SECRET, access).await, 200);
    assert_eq!(userinfo_status(&server, access).await, 401);
    assert_eq!(introspect(&server, "actes-web", ACTES_SECRET, access).await.1["active"], false);
    assert_eq!(revoke(&server, "actes-web", ACTES_SECRET, "unknown-token").await, 200);

    let tokens = login(&server, &browser, &[]).await;
    assert_eq!(revoke(&server, "actes-web", ACTES_SECRET, tokens.refresh_token().unwrap().secret()).await, 200);
    let (status, _) = refresh(&server, "actes-web", ACTES_SECRET, tokens.refresh_token().unwrap().secret(), None).await;
    assert_eq!(status, 400);
    assert_eq!(userinfo_status(&server, tokens.access_token().secret()).await, 401, "the grant's access tokens go too");
}

async fn rp_initiated_logout(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let tokens = login(&server, &browser, &[]).await;
    let id_token = tokens.id_token().unwrap().to_string();
    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://evil.example/")
        .append_pair("state", "st");
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 400, "an unregistered URI gets a page, never a redirect");
    assert!(page.location.is_none());

    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://actes.example/bye")
        .append_pair("state", "st");
    let page = browser.get(url.as_str()).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location.as_deref(), Some("https://actes.example/bye?state=st"));
    assert_eq!(userinfo_status(&server, tokens.access_token().secret()).await, 401, "the session's tokens end with it");
    let (status, _) = refresh(&server, "actes-web", ACTES_SECRET, tokens.refresh_token().unwrap().secret(), None).await;
    assert_eq!(status, 400, "and its refresh tokens");

    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none")]);
    assert_eq!(browser.get(&request.url).await.location_param("error").as_deref(), Some("login_required"));
}

async fn rp_initiated_logout_without_proof_asks_to_confirm(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    login(&server, &browser, &[]).await;
    let page = browser
        .get(&server.url("/logout?client_id=actes-web&post_logout_redirect_uri=https%3A%2F%2Factes.example%2Fbye"))
        .await;
    assert_eq!(page.status, 200, "a bare link does not log out by itself");
    let csrf = page.field("csrf_token").unwrap();
    let forged = browser.post(&server.url("/logout/confirm"), &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status, 403);
    let done = browser
        .post(
            &server.url("/logout/confirm"),
            &[
                ("csrf_token", &csrf),
                ("client_id", "actes-web"),
                ("post_logout_redirect_uri", "https://actes.example/bye"),
            ],
        )
        .await;
    assert_eq!(done.location.as_deref(), Some("https://actes.example/bye"));
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none")]);
    assert_eq!(browser.get(&request.url).await.location_param("error").as_deref(), Some("login_required"));
    let again = browser.get(&server.url("/logout")).await;
    assert!(again.body.contains("logged-out"), "already signed out: says so");
}

/// The conformance suite's RP-initiated logout modules: query kept on the registered
/// URI, no state, a modified id_token_hint, no parameters at all.
async fn oidcc_rp_initiated_logout_variants(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let logout_url = |pairs: &[(&str, &str)]| {
        let mut url = url::Url::parse(&server.url("/logout")).unwrap();
        url.query_pairs_mut().extend_pairs(pairs);
        url.to_string()
    };
    let id_token = login(&server, &browser, &[]).await.id_token().unwrap().to_string();
    let page = browser
        .get(&logout_url(&[
            ("id_token_hint", &id_token),
            ("post_logout_redirect_uri", "https://actes.example/bye?from=sesame"),
            ("state", "s1"),
        ]))
        .await;
    assert_eq!(page.location.as_deref(), Some("https://actes.example/bye?from=sesame&state=s1"), "query kept");

    let id_token = login(&server, &browser, &[]).await.id_token().unwrap().to_string();
    let page = browser
        .get(&logout_url(&[("id_token_hint", &id_token), ("post_logout_redirect_uri", "https://actes.example/bye")]))
        .await;
    assert_eq!(page.location.as_deref(), Some("https://actes.example/bye"), "no state, none added");

    let id_token = login(&server, &browser, &[]).await.id_token().unwrap().to_string();
    let (head, signature) = id_token.rsplit_once('.').unwrap();
    let modified = format!("{head}.{}", signature.chars().rev().collect::<String>());
    let page = browser
        .get(&logout_url(&[("id_token_hint", &modified), ("post_logout_redirect_uri", "https://actes.example/bye")]))
        .await;
    assert_eq!(page.status, 400, "a modified hint is refused");
    assert!(page.location.is_none());

    let page = browser.get(&server.url("/logout")).await;
    assert_eq!(page.status, 200);
    assert!(page.field("csrf_token").is_some(), "no parameters: the user confirms");
}

/// A relying party's back-channel logout endpoint on a free port, keeping what it gets.
pub async fn logout_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/backchannel",
        axum::routing::post(move |axum::Form(form): axum::Form<std::collections::HashMap<String, String>>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(form.get("logout_token").cloned().unwrap_or_default());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/backchannel"), received)
}

pub async fn set_backchannel(server: &TestServer, client_id: &str, uri: &str) {
    let current = clients::find(&server.state.db, client_id).await.unwrap().unwrap();
    let application = if client_id == "actes-web" { "INOTACTE" } else { "INOTCOMPTABILITE" };
    let input = ClientInput {
        backchannel_logout_uri: Some(uri.into()),
        ..ClientInput::from_client(&current, Some(application.into()))
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
}

async fn backchannel_logout_tells_every_client_of_the_session(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (actes_uri, actes_received) = logout_receiver().await;
    let (compta_uri, compta_received) = logout_receiver().await;
    set_backchannel(&server, "actes-web", &actes_uri).await;
    set_backchannel(&server, "compta-web", &compta_uri).await;
    let browser = Browser::new();
    let tokens = login(&server, &browser, &[]).await;
    let sid = payload(&tokens.id_token().unwrap().to_string())["sid"].clone();
    let compta =
        rp::client(&server, "compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback")
            .await;
    let request = rp::auth_request(&compta, &[], &[]);
    assert!(browser.get(&request.url).await.location_param("code").is_some(), "single sign-on");

    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &tokens.id_token().unwrap().to_string());
    let page = browser.get(url.as_str()).await;
    assert!(page.body.contains("logged-out"));

    let jwks = server.state.keys.jwks().await;
    for (received, audience, alg) in
        [(actes_received, "actes-web", SigningAlg::Rs256), (compta_received, "compta-web", SigningAlg::Es256)]
    {
        let tokens = received.lock().unwrap().clone();
        assert_eq!(tokens.len(), 1, "{audience} is told once");
        let jws = UnverifiedJws::parse(&tokens[0]).unwrap();
        assert_eq!(jws.typ.as_deref(), Some("logout+jwt"));
        assert_eq!(jws.alg, alg.as_str(), "signed like the client's ID tokens");
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"].as_str() == jws.kid.as_deref()).unwrap();
        let key = sesame::crypto::jws::VerifyingKey::from_jwk(jwk, alg).unwrap();
        let claims: Value = jws.verify(&key).expect("signed by a published key");
        assert_eq!(claims["aud"], audience);
        assert_eq!(claims["sid"], sid);
        assert_eq!(claims["iss"], server.issuer.as_str());
        assert!(claims["events"]["http://schemas.openid.net/event/backchannel-logout"].is_object());
        assert!(claims.get("nonce").is_none());
    }
}

async fn key_rotation_keeps_old_tokens_valid(backend: Backend) {
    let server = TestServer::start(backend).await;
    let tokens = login(&server, &Browser::new(), &[]).await;
    let before = server.state.keys.jwks().await["keys"].as_array().unwrap().len();
    server.state.keys.rotate(server.clock_now()).await.unwrap();
    let jwks: Value = reqwest::get(server.url("/jwks")).await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), before * 2, "retired keys stay published");
    assert_eq!(userinfo_status(&server, tokens.access_token().secret()).await, 200, "signed by a retired key");
    let fresh = login(&server, &Browser::new(), &[]).await;
    assert_ne!(
        UnverifiedJws::parse(fresh.access_token().secret()).unwrap().kid,
        UnverifiedJws::parse(tokens.access_token().secret()).unwrap().kid
    );
    server.clock.advance(3600 + 301);
    sesame::janitor::sweep(&server.state, server.clock_now()).await.unwrap();
    let jwks = server.state.keys.jwks().await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), before, "gone once their tokens have expired");
}

async fn janitor_sweeps_expired_rows(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    use sesame::storage::entities::{authorization_code, refresh_token, session};
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    login(&server, &browser, &[]).await;
    let client = rp::actes_web(&server).await;
    let start = browser.get(&rp::auth_request(&client, &[], &[("prompt", "login")]).url).await;
    browser.login(&server, &start.location.unwrap(), "pauline", "a wrong password").await;
    let nothing = sesame::janitor::sweep(&server.state, server.clock_now()).await.unwrap();
    assert_eq!(
        nothing.sessions + nothing.refresh_tokens + nothing.authorization_codes + nothing.throttles,
        0,
        "nothing live is swept"
    );
    server.clock.advance(15 * 86_400);
    let swept = sesame::janitor::sweep(&server.state, server.clock_now()).await.unwrap();
    assert!(swept.sessions >= 1 && swept.refresh_tokens >= 1 && swept.authorization_codes >= 1, "{swept:?}");
    assert!(swept.authorization_requests >= 1, "{swept:?}");
    assert!(swept.throttles >= 1, "the wrong password's budget, quiet for a day: {swept:?}");
    let db = &server.state.db;
    assert_eq!(session::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(refresh_token::Entity::find().count(db).await.unwrap(), 0);
    assert_eq!(authorization_code::Entity::find().count(db).await.unwrap(), 0);
}

/// Registers a private_key_jwt client with an ES256 key, by value or at `jwks_uri`.
async fn register_jwt_client(server: &TestServer, jwks_uri: Option<String>) -> SigningKey {
    let (key, _) = SigningKey::generate("client-key-1".into(), SigningAlg::Es256).unwrap();
    let input = ClientInput {
        client_id: "batch-jobs".into(),
        application: Some("INOTACTE".into()),
        redirect_uris: vec!["https://jobs.example/cb".into()],
        grant_types: vec!["client_credentials".into()],
        scopes: vec!["actes.api".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: jwks_uri.is_none().then(|| json!({"keys": [key.public_jwk()]})),
        jwks_uri,
        ..Default::default()
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
    key
}

fn assertion(server: &TestServer, key: &SigningKey, jti: &str, aud: &str) -> String {
    let now = server.clock_now();
    let claims = json!({"iss": "batch-jobs", "sub": "batch-jobs", "aud": aud, "jti": jti, "iat": now, "exp": now + 60});
    key.sign("JWT", &claims).unwrap()
}

async fn with_assertion(server: &TestServer, assertion: &str) -> (u16, Value) {
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion),
    ];
    let response = reqwest::Client::new().post(server.url("/token")).form(&form).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn private_key_jwt_client_authentication(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = register_jwt_client(&server, None).await;
    let token_endpoint = server.url("/token");
    let signed = assertion(&server, &key, "one", &token_endpoint);
    let (status, body) = with_assertion(&server, &signed).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["sub"], "batch-jobs");
    let (status, body) = with_assertion(&server, &signed).await;
    assert_eq!((status, body["error"].as_str()), (401, Some("invalid_client")), "an assertion is used once");
    let (status, _) =
        with_assertion(&server, &assertion(&server, &key, "two", "https://elsewhere.example/token")).await;
    assert_eq!(status, 401, "wrong audience");
    let (other, _) = SigningKey::generate("client-key-1".into(), SigningAlg::Es256).unwrap();
    let (status, _) = with_assertion(&server, &assertion(&server, &other, "three", &token_endpoint)).await;
    assert_eq!(status, 401, "a key the client did not register");
    let (status, _) = with_assertion(&server, &assertion(&server, &key, "four", &server.issuer)).await;
    assert_eq!(status, 200, "the issuer is an accepted audience");
}

async fn private_key_jwt_with_jwks_uri(backend: Backend) {
    let server = TestServer::start(backend).await;
    let published = Arc::new(Mutex::new(json!({"keys": []})));
    let source = published.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let source = source.clone();
            async move { axum::Json(source.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let key = register_jwt_client(&server, Some(jwks_uri)).await;
    *published.lock().unwrap() = json!({"keys": [key.public_jwk()]});
    let (status, body) = with_assertion(&server, &assertion(&server, &key, "a", &server.url("/token"))).await;
    assert_eq!(status, 200, "fetched from jwks_uri: {body}");
    let (rotated, _) = SigningKey::generate("client-key-2".into(), SigningAlg::Es256).unwrap();
    *published.lock().unwrap() = json!({"keys": [key.public_jwk(), rotated.public_jwk()]});
    let (status, _) = with_assertion(&server, &assertion(&server, &rotated, "too-soon", &server.url("/token"))).await;
    assert_eq!(status, 401, "unknown kids do not make Sésame fetch again and again");
    server.clock.advance(11);
    let (status, body) = with_assertion(&server, &assertion(&server, &rotated, "b", &server.url("/token"))).await;
    assert_eq!(status, 200, "an unknown kid fetches the set again: {body}");
}

/// Twenty assertions at once naming a client whose jwks_uri fails: one fetch, not
/// twenty, and none again before the refetch delay (ten seconds), however many come.
async fn a_failing_jwks_uri_is_fetched_once_for_many_assertions(backend: Backend) {
    // Sixty failures are over the client's failure budget, which is another guard's
    // business: raised here so that every round reaches the key lookup.
    let server = TestServer::start_with(backend, |c| c.rate_limits.client_auth_failures_per_minute = 1000).await;
    let hits = Arc::new(Mutex::new(0usize));
    let counter = hits.clone();
    let app = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let counter = counter.clone();
            async move {
                *counter.lock().unwrap() += 1;
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let jwks_uri = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let key = register_jwt_client(&server, Some(jwks_uri)).await;
    let attempt = |round: &str| {
        let mut attempts = tokio::task::JoinSet::new();
        for i in 0..20 {
            let signed = assertion(&server, &key, &format!("{round}-{i}"), &server.url("/token"));
            let url = server.url("/token");
            attempts.spawn(async move {
                let form = [
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", signed.as_str()),
                ];
                reqwest::Client::new().post(url).form(&form).send().await.unwrap().status().as_u16()
            });
        }
        attempts.join_all()
    };
    let statuses = attempt("first").await;
    assert!(statuses.iter().all(|status| *status == 401), "{statuses:?}");
    assert_eq!(*hits.lock().unwrap(), 1, "one fetch for twenty assertions");
    attempt("again").await;
    assert_eq!(*hits.lock().unwrap(), 1, "a failure is remembered until the refetch delay");
    server.clock.advance(11);
    attempt("later").await;
    assert_eq!(*hits.lock().unwrap(), 2, "then tried again, once");
}

/// Two redemptions of one code at once, one per node, twenty times: exactly one wins, and
/// every token the winner got is dead afterwards, its refresh token included (the loser's
/// revocation may land before the winner stores it).
async fn a_code_redeemed_twice_at_once_leaves_no_live_token(backend: Backend) {
    let a = TestServer::start(backend).await;
    let issuer = a.issuer.clone();
    let b =
        TestServer::start_on(tempfile::tempdir().unwrap(), a.database_url.clone(), move |c| c.issuer = issuer, false)
            .await;
    let client = rp::actes_web(&a).await;
    for round in 0..20 {
        let (code, request) = rp::code_for_pauline(&a, &client, &Browser::new(), &[]).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", "https://actes.example/callback"),
            ("code_verifier", request.verifier.secret().as_str()),
        ];
        let (first, second) = tokio::join!(
            token_request(&a, "actes-web", ACTES_SECRET, &form),
            token_request(&b, "actes-web", ACTES_SECRET, &form)
        );
        let winners: Vec<&Value> = [&first, &second].into_iter().filter(|(s, _)| *s == 200).map(|(_, t)| t).collect();
        assert!(winners.len() <= 1, "round {round}: a code redeemed twice");
        for tokens in winners {
            let access = tokens["access_token"].as_str().unwrap();
            assert_eq!(userinfo_status(&a, access).await, 401, "round {round}: its access token is revoked");
            if let Some(refresh_token) = tokens["refresh_token"].as_str() {
                let (status, body) = refresh(&b, "actes-web", ACTES_SECRET, refresh_token, None).await;
                assert_eq!(status, 400, "round {round}: its refresh token is revoked: {body}");
            }
        }
    }
}

async fn two_nodes_share_one_database(backend: Backend) {
    let a = TestServer::start(backend).await;
    let node_b_dir = tempfile::tempdir().unwrap();
    let issuer = a.issuer.clone();
    let b = TestServer::start_on(node_b_dir, a.database_url.clone(), move |c| c.issuer = issuer, false).await;
    let client = rp::actes_web(&a).await;
    let browser = Browser::new();
    let (code, request) = rp::code_for_pauline(&a, &client, &browser, &[]).await;
    // The code issued by node A is redeemed at node B.
    let (status, tokens) = token_request(
        &b,
        "actes-web",
        ACTES_SECRET,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "https://actes.example/callback"),
            ("code_verifier", request.verifier.secret()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let id_token: openidconnect::core::CoreIdToken = serde_json::from_value(tokens["id_token"].clone()).unwrap();
    id_token.claims(&client.id_token_verifier(), &request.nonce).expect("node B signs with the shared keys");
    assert_eq!(userinfo_status(&a, tokens["access_token"].as_str().unwrap()).await, 200, "node A accepts it");

    // Rotated at A, reused at B: refused, family revoked.
    let old = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(refresh(&a, "actes-web", ACTES_SECRET, old, None).await.0, 200);
    a.clock.advance(11);
    b.clock.advance(11);
    let (status, body) = refresh(&b, "actes-web", ACTES_SECRET, old, None).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")));

    // Logout at A ends the session at B.
    let logout = browser.get(&a.url("/logout")).await;
    let csrf = logout.field("csrf_token").unwrap();
    browser.post(&a.url("/logout/confirm"), &[("csrf_token", &csrf)]).await;
    let prompt_none = rp::auth_request(&client, &[], &[("prompt", "none")]);
    let at_b = prompt_none.url.replace(&a.issuer, &b.issuer);
    assert_eq!(browser.get(&at_b).await.location_param("error").as_deref(), Some("login_required"));
}
