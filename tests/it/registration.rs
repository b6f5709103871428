//! Dynamic client registration (OIDC Dynamic Client Registration 1.0, RFC 7591) and its
//! management (RFC 7592), over HTTP: the metadata modules of the conformance suite's
//! Dynamic OP plan (`oidcc-registration-*`, `oidcc-redirect-uri-regfrag`), a login with
//! a registered client whose tokens carry its application's rights, the management of
//! a registration, and what an attacker would try: one initial token spent twenty times
//! at once, expired and revoked tokens, wrong and other clients' registration tokens,
//! floods (cap, per-address budget, body size), registration switched off.

use std::sync::{Arc, Mutex};

use openidconnect::OAuth2TokenResponse;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};
use sesame::config::Config;
use sesame::crypto::jws::{SigningAlg, SigningKey};
use sesame::registration::initial_tokens::{self, NewToken};

use crate::admin_api::api;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    oidcc_registration_logo_uri,
    oidcc_registration_policy_uri,
    oidcc_registration_tos_uri,
    oidcc_registration_jwks_uri,
    oidcc_registration_sector_uri,
    oidcc_registration_sector_bad,
    oidcc_redirect_uri_regfrag,
    oidcc_server_with_a_registered_client,
    metadata_is_checked_field_by_field,
    a_registration_is_read_replaced_and_deleted,
    registration_tokens_open_only_their_own_client,
    a_one_use_initial_token_registers_one_client_of_twenty,
    expired_revoked_and_used_up_initial_tokens_are_refused,
    initial_tokens_through_the_admin_api,
    open_registration_gives_clients_no_application,
    the_number_of_registered_clients_is_capped,
    the_cap_on_registered_clients_holds_under_parallel_registrations,
    floods_are_bounded_per_address_and_by_size,
    disabled_registration_is_not_found_nor_advertised,
);

const REDIRECT: &str = "https://rp.example/cb";

async fn start(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.registration.enabled = true;
        // The sector documents and key sets of these tests are served on 127.0.0.1
        // (the harness allows it; said again here since these tests depend on it).
        config.fetch.allow_http_loopback = true;
        adjust(config);
    })
    .await
}

/// An initial access token for INOTACTE with this many uses, valid for an hour.
async fn initial_token(server: &TestServer, uses: i32) -> String {
    let new = NewToken { application: "INOTACTE".into(), description: "tests".into(), uses, expires_in: 3600 };
    let (_, token) =
        initial_tokens::create(&server.state.db, &server.state.client_secrets, new, server.clock_now()).await.unwrap();
    token
}

async fn send(
    server: &TestServer,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, server.url(path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn register(server: &TestServer, token: Option<&str>, body: Value) -> (u16, Value) {
    send(server, Method::POST, "/register", token, Some(&body)).await
}

/// Registers with a fresh one-use token; the answer must be 201.
async fn registered(server: &TestServer, body: Value) -> Value {
    let token = initial_token(server, 1).await;
    let (status, answer) = register(server, Some(&token), body).await;
    assert_eq!(status, 201, "{answer}");
    answer
}

/// The path of a registration's management URI (registration_client_uri).
fn management_path(server: &TestServer, answer: &Value) -> String {
    let uri = answer["registration_client_uri"].as_str().expect("registration_client_uri");
    uri.strip_prefix(&server.issuer).expect("on the issuer").to_string()
}

/// Serves `document` at `http://127.0.0.1:PORT/doc`, changeable while it runs.
async fn serve_json(document: Value) -> (String, Arc<Mutex<Value>>) {
    let published = Arc::new(Mutex::new(document));
    let source = published.clone();
    let app = axum::Router::new().route(
        "/doc",
        axum::routing::get(move || {
            let source = source.clone();
            async move { axum::Json(source.lock().unwrap().clone()) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/doc", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (uri, published)
}

fn assert_refused(status: u16, answer: &Value, error: &str, mentions: &str) {
    assert_eq!((status, answer["error"].as_str()), (400, Some(error)), "{answer}");
    let description = answer["error_description"].as_str().unwrap_or_default();
    assert!(description.contains(mentions), "`{mentions}` in: {description}");
}

/// A descriptive URI (logo, policy, terms) is registered, answered, and read back.
async fn descriptive_uri_is_kept(backend: Backend, name: &str) {
    let server = start(backend, |_| {}).await;
    let uri = format!("https://rp.example/{name}.html");
    let answer = registered(&server, json!({"redirect_uris": [REDIRECT], name: uri})).await;
    assert_eq!(answer[name], uri.as_str(), "{answer}");
    let token = answer["registration_access_token"].as_str().unwrap();
    let (status, read) = send(&server, Method::GET, &management_path(&server, &answer), Some(token), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read[name], uri.as_str(), "kept for read: {read}");
    let token = initial_token(&server, 1).await;
    let (status, bad) =
        register(&server, Some(&token), json!({"redirect_uris": [REDIRECT], name: "javascript:x"})).await;
    assert_refused(status, &bad, "invalid_client_metadata", name);
}

async fn oidcc_registration_logo_uri(backend: Backend) {
    descriptive_uri_is_kept(backend, "logo_uri").await;
}

async fn oidcc_registration_policy_uri(backend: Backend) {
    descriptive_uri_is_kept(backend, "policy_uri").await;
}

async fn oidcc_registration_tos_uri(backend: Backend) {
    descriptive_uri_is_kept(backend, "tos_uri").await;
}

/// A private_key_jwt client registered with a `jwks_uri` authenticates with a key
/// published there; `jwks` and `jwks_uri` together are refused.
async fn oidcc_registration_jwks_uri(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let (key, _) = SigningKey::generate("rp-key-1".into(), SigningAlg::Es256).unwrap();
    let (jwks_uri, _) = serve_json(json!({"keys": [key.public_jwk()]})).await;
    let metadata = json!({
        "redirect_uris": [REDIRECT],
        "grant_types": ["client_credentials"],
        "response_types": [],
        "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": jwks_uri,
    });
    let answer = registered(&server, metadata).await;
    assert!(answer.get("client_secret").is_none(), "a private_key_jwt client gets no secret: {answer}");
    assert_eq!(answer["jwks_uri"], jwks_uri.as_str());
    let client_id = answer["client_id"].as_str().unwrap();
    let now = server.clock_now();
    let claims = json!({"iss": client_id, "sub": client_id, "aud": server.url("/token"), "jti": "j1", "iat": now, "exp": now + 60});
    let assertion = key.sign("JWT", &claims).unwrap();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    let response = reqwest::Client::new().post(server.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200, "{:?}", response.text().await);

    let token = initial_token(&server, 1).await;
    let both = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "private_key_jwt",
        "jwks_uri": jwks_uri, "jwks": {"keys": [key.public_jwk()]}});
    let (status, refused) = register(&server, Some(&token), both).await;
    assert_refused(status, &refused, "invalid_client_metadata", "exclusive");
}

/// OIDC Core 8.1: a pairwise client names a sector document listing its redirect URIs;
/// Sésame fetches it, and the client's `sub` is of that sector.
async fn oidcc_registration_sector_uri(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let (sector, _) = serve_json(json!([REDIRECT, "https://other.example/cb"])).await;
    let answer = registered(
        &server,
        json!({"redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": sector}),
    )
    .await;
    assert_eq!(
        (answer["subject_type"].as_str(), answer["sector_identifier_uri"].as_str()),
        (Some("pairwise"), Some(sector.as_str()))
    );
    let client = sesame::clients::find(&server.state.db, answer["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(client.sector().as_deref(), Some("127.0.0.1"), "the sector document's host is the sector");
}

/// The sector document does not list the redirect URI: refused, and no client made.
async fn oidcc_registration_sector_bad(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let (sector, published) = serve_json(json!(["https://other.example/cb"])).await;
    let metadata = json!({"redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": sector});
    let token = initial_token(&server, 1).await;
    let (status, answer) = register(&server, Some(&token), metadata.clone()).await;
    assert_refused(status, &answer, "invalid_client_metadata", REDIRECT);
    *published.lock().unwrap() = json!({"redirect_uris": [REDIRECT]});
    let (status, answer) = register(&server, Some(&token), metadata.clone()).await;
    assert_refused(status, &answer, "invalid_client_metadata", "JSON array");
    // The refusals spent no use of the token.
    *published.lock().unwrap() = json!([REDIRECT]);
    let (status, answer) = register(&server, Some(&token), metadata).await;
    assert_eq!(status, 201, "{answer}");
    // Without the test key, only https is fetched.
    let strict = start(Backend::Sqlite, |c| c.fetch.allow_http_loopback = false).await;
    let token = initial_token(&strict, 1).await;
    let metadata = json!({"redirect_uris": [REDIRECT], "subject_type": "pairwise", "sector_identifier_uri": sector});
    let (status, answer) = register(&strict, Some(&token), metadata).await;
    assert_refused(status, &answer, "invalid_client_metadata", "https");
}

async fn oidcc_redirect_uri_regfrag(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let token = initial_token(&server, 1).await;
    let (status, answer) =
        register(&server, Some(&token), json!({"redirect_uris": ["https://rp.example/cb#frag"]})).await;
    assert_refused(status, &answer, "invalid_redirect_uri", "fragment");
}

/// The `oidcc-server` flow with a registered client: discovery, registration with an
/// initial token of INOTACTE, consent (a registered client is a third party), code,
/// tokens — and the access token carries Pauline's INOTACTE rights.
async fn oidcc_server_with_a_registered_client(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let metadata = rp::discover_at(&server.issuer).await;
    let endpoint = metadata.registration_endpoint().expect("registration_endpoint advertised").to_string();
    assert_eq!(endpoint, server.url("/register"));
    let answer = registered(&server, json!({"redirect_uris": [REDIRECT], "client_name": "Cabinet RP"})).await;
    let (client_id, secret) = (answer["client_id"].as_str().unwrap(), answer["client_secret"].as_str().unwrap());
    assert_eq!(answer["client_secret_expires_at"], 0);
    assert_eq!(answer["token_endpoint_auth_method"], "client_secret_basic");
    assert!(answer["client_id_issued_at"].as_i64().is_some(), "{answer}");
    let client = rp::client(&server, client_id, Some(secret), REDIRECT).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["email"], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let consent = browser.get(&server.url(page.location.as_deref().expect("the consent page"))).await;
    assert!(consent.body.contains("Cabinet RP"), "the consent page names the registered client");
    let (csrf, tx) = (consent.field("csrf_token").unwrap(), consent.field("tx").unwrap());
    let allowed =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "allow")]).await;
    let code = allowed.location_param("code").expect("a code after consent");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let id = rp::id_claims(&client, &tokens, &request.nonce);
    assert_eq!(id.audiences()[0].as_str(), client_id);
    let access = payload(tokens.access_token().secret());
    assert_eq!(
        access["rights"],
        json!(["actes.lecture"]),
        "INOTACTE's rights, through the token's application: {access}"
    );
}

async fn metadata_is_checked_field_by_field(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let token = initial_token(&server, 1).await;
    for (metadata, error, mentions) in [
        (json!({}), "invalid_redirect_uri", "redirect URI"),
        (json!({"redirect_uris": ["http://rp.example/cb"]}), "invalid_redirect_uri", "https"),
        (
            json!({"application_type": "native", "redirect_uris": ["http://192.168.1.2/cb"]}),
            "invalid_redirect_uri",
            "loopback",
        ),
        (json!({"redirect_uris": [REDIRECT], "grant_types": ["implicit"]}), "invalid_client_metadata", "implicit"),
        (
            json!({"redirect_uris": [REDIRECT], "response_types": ["code id_token"]}),
            "invalid_client_metadata",
            "response_types",
        ),
        (json!({"redirect_uris": [REDIRECT], "grant_types": ["refresh_token"]}), "invalid_client_metadata", "disagree"),
        (
            json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_jwt"}),
            "invalid_client_metadata",
            "token_endpoint_auth_method",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "id_token_signed_response_alg": "none"}),
            "invalid_client_metadata",
            "id_token_signed_response_alg",
        ),
        (json!({"redirect_uris": [REDIRECT], "subject_type": "secret"}), "invalid_client_metadata", "subject_type"),
        (
            json!({"redirect_uris": [REDIRECT, "https://b.example/cb"], "subject_type": "pairwise"}),
            "invalid_client_metadata",
            "one host",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "post_logout_redirect_uris": ["https://rp.example/bye#x"]}),
            "invalid_client_metadata",
            "post_logout_redirect_uris",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "backchannel_logout_uri": "not a uri"}),
            "invalid_client_metadata",
            "backchannel_logout_uri",
        ),
        (
            json!({"redirect_uris": [REDIRECT], "frontchannel_logout_uri": "http://rp.example/fc"}),
            "invalid_client_metadata",
            "frontchannel_logout_uri",
        ),
        (json!({"redirect_uris": [REDIRECT], "contacts": "ops@rp.example"}), "invalid_client_metadata", "contacts"),
        (
            json!({"redirect_uris": [REDIRECT], "id_token_encrypted_response_alg": "RSA-OAEP"}),
            "invalid_client_metadata",
            "encrypt",
        ),
        // Checked by the rules of request objects: signed ones need the client's keys.
        (
            json!({"redirect_uris": [REDIRECT], "request_object_signing_alg": "RS256"}),
            "invalid_client_metadata",
            "jwks",
        ),
    ] {
        let (status, answer) = register(&server, Some(&token), metadata.clone()).await;
        assert_refused(status, &answer, error, mentions);
    }
    // Everything together, and unknown metadata ignored; the token's one use is still there.
    let full = json!({
        "redirect_uris": [REDIRECT],
        "post_logout_redirect_uris": ["https://rp.example/bye"],
        "backchannel_logout_uri": "https://rp.example/bc",
        "backchannel_logout_session_required": true,
        "frontchannel_logout_uri": "https://rp.example/fc",
        "frontchannel_logout_session_required": true,
        "client_name": "Cabinet RP",
        "client_uri": "https://rp.example/",
        "contacts": ["ops@rp.example"],
        "scope": "openid email",
        "token_endpoint_auth_method": "client_secret_post",
        "id_token_signed_response_alg": "ES256",
        "userinfo_signed_response_alg": "PS256",
        "dpop_bound_access_tokens": true,
        "software_statement_unknown": {"x": 1},
    });
    let (status, answer) = register(&server, Some(&token), full.clone()).await;
    assert_eq!(status, 201, "{answer}");
    for (name, value) in full.as_object().unwrap() {
        if name == "software_statement_unknown" {
            assert!(answer.get(name).is_none(), "unknown metadata is ignored: {answer}");
        } else {
            assert_eq!(&answer[name], value, "{name} answered as registered");
        }
    }
    let client = sesame::clients::find(&server.state.db, answer["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!((client.name.as_str(), client.id_token_alg), ("Cabinet RP", SigningAlg::Es256));
    assert!(client.dpop_bound_access_tokens, "dpop_bound_access_tokens reaches the client");
    assert_eq!(client.scopes, ["openid", "email"]);
    assert_eq!(client.userinfo_alg, Some(SigningAlg::Ps256), "mapped to the client");
    assert_eq!(client.frontchannel_logout_uri.as_deref(), Some("https://rp.example/fc"));
    assert!(!client.first_party, "a registered client is a third party");
}

async fn a_registration_is_read_replaced_and_deleted(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let answer = registered(&server, json!({"redirect_uris": [REDIRECT], "client_name": "Before"})).await;
    let (client_id, secret) = (answer["client_id"].as_str().unwrap(), answer["client_secret"].as_str().unwrap());
    let token = answer["registration_access_token"].as_str().unwrap();
    let path = management_path(&server, &answer);
    assert_eq!(path, format!("/register/{client_id}"));

    let (status, read) = send(&server, Method::GET, &path, Some(token), None).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!((read["client_id"].as_str(), read["client_name"].as_str()), (Some(client_id), Some("Before")));
    assert!(
        read.get("client_secret").is_none() && read.get("registration_access_token").is_none(),
        "shown once: {read}"
    );

    let new = json!({"client_id": client_id, "redirect_uris": ["https://rp.example/new"], "client_name": "After"});
    let (status, updated) = send(&server, Method::PUT, &path, Some(token), Some(&new)).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["client_name"], "After");
    let client = sesame::clients::find(&server.state.db, client_id).await.unwrap().unwrap();
    assert_eq!(
        (client.name.as_str(), client.redirect_uris.clone()),
        ("After", vec!["https://rp.example/new".to_string()])
    );
    // The secret stays the one Sésame gave: the client still authenticates with it.
    let form = [("grant_type", "refresh_token"), ("refresh_token", "x")];
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_ne!(response.json::<Value>().await.unwrap()["error"], "invalid_client");

    for (body, mentions) in [
        (json!({"client_id": "dyn-other", "redirect_uris": [REDIRECT]}), "client_id"),
        (json!({"redirect_uris": [REDIRECT]}), "client_id"),
        (
            json!({"client_id": client_id, "client_secret": "not-the-secret", "redirect_uris": [REDIRECT]}),
            "client_secret",
        ),
        (json!({"client_id": client_id, "redirect_uris": ["https://rp.example/cb#f"]}), "fragment"),
    ] {
        let (status, refused) = send(&server, Method::PUT, &path, Some(token), Some(&body)).await;
        assert_eq!(status, 400, "{refused}");
        assert!(refused["error_description"].as_str().unwrap().contains(mentions), "{refused}");
    }

    let (status, _) = send(&server, Method::DELETE, &path, Some(token), None).await;
    assert_eq!(status, 204);
    assert!(sesame::clients::find(&server.state.db, client_id).await.unwrap().is_none(), "the client is gone");
    let (status, gone) = send(&server, Method::GET, &path, Some(token), None).await;
    assert_eq!((status, gone["error"].as_str()), (401, Some("invalid_token")));
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth(client_id, Some(secret))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a deleted client cannot authenticate");
    let events: Vec<String> = sesame::storage::entities::audit_event::Entity::find()
        .all(&server.state.db)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.client_id.as_deref() == Some(client_id))
        .map(|e| e.event)
        .collect();
    for event in ["registration.client_registered", "registration.client_updated", "registration.client_deleted"] {
        assert!(events.iter().any(|e| e == event), "{event} audited: {events:?}");
    }
}

async fn registration_tokens_open_only_their_own_client(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let a = registered(&server, json!({"redirect_uris": [REDIRECT]})).await;
    let b = registered(&server, json!({"redirect_uris": [REDIRECT]})).await;
    let (a_path, a_token) = (management_path(&server, &a), a["registration_access_token"].as_str().unwrap());
    let b_token = b["registration_access_token"].as_str().unwrap();
    let a_secret = a["client_secret"].as_str().unwrap();
    let body = json!({"client_id": a["client_id"], "redirect_uris": ["https://evil.example/cb"]});
    for token in [Some(b_token), Some("wrong-token"), Some(a_secret), None] {
        for method in [Method::GET, Method::PUT, Method::DELETE] {
            let body = (method == Method::PUT).then_some(&body);
            let (status, answer) = send(&server, method.clone(), &a_path, token, body).await;
            assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_token")), "{method} with {token:?}");
        }
    }
    // An operator's client has no registration: no token opens it.
    let (status, _) = send(&server, Method::GET, "/register/actes-web", Some(a_token), None).await;
    assert_eq!(status, 401);
    let (status, _) = send(&server, Method::GET, &a_path, Some(a_token), None).await;
    assert_eq!(status, 200, "still there, unchanged");
    let client = sesame::clients::find(&server.state.db, a["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(client.redirect_uris, [REDIRECT]);
}

async fn a_one_use_initial_token_registers_one_client_of_twenty(backend: Backend) {
    let server = start(backend, |c| c.registration.per_ip_per_minute = 100).await;
    let token = initial_token(&server, 1).await;
    let mut attempts = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (url, token) = (server.url("/register"), token.clone());
        attempts.spawn(async move {
            let body = json!({"redirect_uris": [format!("https://rp{i}.example/cb")]});
            let response = reqwest::Client::new().post(url).bearer_auth(token).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    let results = attempts.join_all().await;
    let created = results.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(results.iter().all(|(s, a)| *s == 201 || (*s == 401 && a["error"] == "invalid_token")), "{results:?}");
    let rows = sesame::storage::entities::client_registration::Entity::find().all(&server.state.db).await.unwrap();
    assert_eq!(rows.len(), 1);
}

async fn expired_revoked_and_used_up_initial_tokens_are_refused(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let metadata = json!({"redirect_uris": [REDIRECT]});
    let expiring = initial_token(&server, 5).await;
    server.clock.advance(3601);
    let (status, answer) = register(&server, Some(&expiring), metadata.clone()).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_token")), "expired: {answer}");

    let revoked = initial_token(&server, 5).await;
    let id = initial_tokens::list(&server.state.db).await.unwrap()[0].id.clone();
    assert!(initial_tokens::revoke(&server.state.db, &id, server.clock_now()).await.unwrap());
    let (status, _) = register(&server, Some(&revoked), metadata.clone()).await;
    assert_eq!(status, 401, "revoked");

    let two = initial_token(&server, 2).await;
    for _ in 0..2 {
        assert_eq!(register(&server, Some(&two), metadata.clone()).await.0, 201);
    }
    assert_eq!(register(&server, Some(&two), metadata.clone()).await.0, 401, "used up");
    let (status, answer) = register(&server, Some("made-up"), metadata.clone()).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_token")));
    let (status, answer) = register(&server, None, metadata).await;
    assert_eq!((status, answer["error"].as_str()), (401, Some("invalid_token")), "a token is required");
}

async fn initial_tokens_through_the_admin_api(backend: Backend) {
    let server = start(backend, |_| {}).await;
    let api = api(&server).await;
    let (status, created) = api
        .call(
            Method::POST,
            "/initial-access-tokens",
            Some(json!({"application": "INOTACTE", "uses": 2, "description": "cabinet"})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap().to_string();
    let (status, refused) =
        api.call(Method::POST, "/initial-access-tokens", Some(json!({"application": "NOPE"}))).await;
    assert_eq!((status, refused["error"]["field"].as_str()), (422, Some("application")), "{refused}");
    let (_, list) = api.call(Method::GET, "/initial-access-tokens", None).await;
    assert_eq!(list["items"][0]["uses_left"], 2);
    assert!(list.to_string().find(&token).is_none(), "the token is never listed");

    let (status, _) = register(&server, Some(&token), json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, 201);
    let (_, list) = api.call(Method::GET, "/initial-access-tokens", None).await;
    assert_eq!(list["items"][0]["uses_left"], 1);
    let id = created["id"].as_str().unwrap();
    let (status, _) = api.call(Method::DELETE, &format!("/initial-access-tokens/{id}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = api.call(Method::DELETE, &format!("/initial-access-tokens/{id}"), None).await;
    assert_eq!(status, 404, "revoked already");
    let (status, _) = register(&server, Some(&token), json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, 401, "revoked");
}

async fn open_registration_gives_clients_no_application(backend: Backend) {
    let server = start(backend, |c| c.registration.open = true).await;
    let (status, answer) = register(&server, None, json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, 201, "{answer}");
    let client = sesame::clients::find(&server.state.db, answer["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert_eq!(client.application_id, None, "no application, no rights");
    // A token given anyway still binds the client to its application.
    let token = initial_token(&server, 1).await;
    let (_, answer) = register(&server, Some(&token), json!({"redirect_uris": [REDIRECT]})).await;
    let client = sesame::clients::find(&server.state.db, answer["client_id"].as_str().unwrap()).await.unwrap().unwrap();
    assert!(client.application_id.is_some());
}

async fn the_number_of_registered_clients_is_capped(backend: Backend) {
    let server = start(backend, |c| {
        c.registration.open = true;
        c.registration.max_clients = 2;
    })
    .await;
    for _ in 0..2 {
        assert_eq!(register(&server, None, json!({"redirect_uris": [REDIRECT]})).await.0, 201);
    }
    let (status, answer) = register(&server, None, json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!((status, answer["error"].as_str()), (403, Some("access_denied")), "{answer}");
    assert!(answer["error_description"].as_str().unwrap().contains("maximum of 2"), "{answer}");
}

/// Twenty registrations at once for the last three places: three get one.
async fn the_cap_on_registered_clients_holds_under_parallel_registrations(backend: Backend) {
    let server = start(backend, |c| {
        c.registration.open = true;
        c.registration.max_clients = 3;
        c.registration.per_ip_per_minute = 100;
    })
    .await;
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = server.url("/register");
        attempts.spawn(async move {
            let body = json!({"redirect_uris": [REDIRECT]});
            reqwest::Client::new().post(url).json(&body).send().await.unwrap().status().as_u16()
        });
    }
    let statuses = attempts.join_all().await;
    assert_eq!(statuses.iter().filter(|s| **s == 201).count(), 3, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 403).count(), 17, "the others are told it is full: {statuses:?}");
    use sea_orm::PaginatorTrait;
    let registered = sesame::storage::entities::client_registration::Entity::find().count(&server.state.db).await;
    assert_eq!(registered.unwrap(), 3);
}

async fn floods_are_bounded_per_address_and_by_size(backend: Backend) {
    let server = start(backend, |c| {
        c.registration.open = true;
        c.registration.per_ip_per_minute = 3;
    })
    .await;
    let big = json!({"redirect_uris": [REDIRECT], "client_name": "x".repeat(20_000)});
    let (status, answer) = register(&server, None, big).await;
    assert_eq!((status, answer["error"].as_str()), (413, Some("invalid_client_metadata")), "{answer}");
    let response = reqwest::Client::new().post(server.url("/register")).body("{}").send().await.unwrap();
    assert_eq!(response.status(), 400, "not JSON");
    assert_eq!(register(&server, None, json!({"redirect_uris": [REDIRECT]})).await.0, 201, "the third");
    let (status, answer) = register(&server, None, json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!((status, answer["error"].as_str()), (429, Some("slow_down")), "the fourth of the minute: {answer}");
    server.clock.advance(61);
    assert_eq!(register(&server, None, json!({"redirect_uris": [REDIRECT]})).await.0, 201);
}

async fn disabled_registration_is_not_found_nor_advertised(backend: Backend) {
    let server = TestServer::start(backend).await;
    let discovery: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert!(discovery.get("registration_endpoint").is_none(), "{discovery}");
    let token = initial_token(&server, 1).await;
    let (status, answer) = register(&server, Some(&token), json!({"redirect_uris": [REDIRECT]})).await;
    assert_eq!(status, 404, "{answer}");
    let (status, _) = send(&server, Method::GET, "/register/actes-web", Some(&token), None).await;
    assert_eq!(status, 404);
    let enabled = start(Backend::Sqlite, |_| {}).await;
    let discovery: Value =
        reqwest::get(enabled.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(discovery["registration_endpoint"], enabled.url("/register"));
}
