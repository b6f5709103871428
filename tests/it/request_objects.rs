//! Request objects (OIDC Core 6, RFC 9101 JAR) by value and by reference, and signed
//! userinfo responses (OIDC Core 5.3.2). The test is the client: it signs its objects
//! with its own keys and serves its `request_uri` documents from a server of its own
//! (and a hostile one, for the size and time limits). Names follow the conformance
//! modules (`oidcc-request-uri-*`, `oidcc-ensure-request-object-*`, `oidcc-userinfo-*`)
//! where one applies.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use openidconnect::{OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier};
use serde_json::{Value, json};
use sesame::clients::{self, ClientInput};
use sesame::crypto::jws::{SigningAlg, SigningKey, UnverifiedJws, VerifyingKey};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};

on_every_backend!(
    oidcc_request_uri_unsigned,
    oidcc_request_uri_signed_rs256,
    oidcc_ensure_request_object_with_redirect_uri,
    oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported,
    oidcc_userinfo_rs256,
    discovery_advertises_request_objects_and_signed_userinfo,
    a_request_object_signed_with_a_key_the_client_did_not_register_is_refused,
    a_request_object_with_an_alg_the_client_did_not_register_is_refused,
    an_expired_or_too_long_lived_request_object_is_refused,
    a_request_object_for_another_audience_or_from_another_issuer_is_refused,
    a_request_object_of_another_client_is_refused,
    an_encrypted_request_object_is_refused,
    request_uri_size_time_and_redirect_limits_hold,
    a_request_uri_over_http_is_refused_unless_loopback_is_allowed,
    a_request_uri_on_a_host_the_client_did_not_register_is_not_fetched,
    a_signed_request_object_can_be_pushed,
    a_request_object_may_be_replayed_until_it_expires,
    require_signed_request_object_is_enforced,
    request_object_metadata_in_the_import_file,
    a_request_object_is_not_a_client_assertion,
    request_uri_fetches_are_limited_per_address,
);

const CLIENT: &str = "actes-jar";
const SECRET: &str = "actes-jar-secret-0123456789";
const REDIRECT: &str = "https://jar.example/cb";
const LOCAL_REDIRECT: &str = "http://127.0.0.1/cb";
const PASSWORD: &str = "correct horse battery";

/// What a test client registers for its request objects.
#[derive(Default)]
struct Registration<'a> {
    client_id: &'a str,
    request_object_signing_alg: Option<&'a str>,
    require_signed_request_object: bool,
    userinfo_signed_response_alg: Option<&'a str>,
    /// Its keys (by value); none: a client without keys.
    keys: Vec<&'a SigningKey>,
}

async fn register(server: &TestServer, registration: Registration<'_>) {
    let keys: Vec<Value> = registration.keys.iter().map(|key| key.public_jwk()).collect();
    let input = ClientInput {
        client_id: registration.client_id.into(),
        application: Some("INOTACTE".into()),
        secret: Some(clients::SecretInput::Plain(SECRET.into())),
        // The second one makes 127.0.0.1 a host of the client, where its request_uri
        // documents are served.
        redirect_uris: vec![REDIRECT.into(), LOCAL_REDIRECT.into()],
        grant_types: vec!["authorization_code".into()],
        first_party: true,
        jwks: (!keys.is_empty()).then(|| json!({ "keys": keys })),
        request_object_signing_alg: registration.request_object_signing_alg.map(str::to_string),
        require_signed_request_object: registration.require_signed_request_object,
        userinfo_signed_response_alg: registration.userinfo_signed_response_alg.map(str::to_string),
        ..Default::default()
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
}

fn key(kid: &str, alg: SigningAlg) -> SigningKey {
    SigningKey::generate(kid.into(), alg).unwrap().0
}

/// The claims of a complete request of `client_id`, valid for five minutes, and its PKCE
/// verifier.
fn request_claims(server: &TestServer, client_id: &str) -> (Value, PkceCodeVerifier) {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let now = server.clock_now();
    let claims = json!({
        "iss": client_id,
        "aud": server.issuer,
        "iat": now,
        "exp": now + 300,
        "client_id": client_id,
        "response_type": "code",
        "scope": "openid profile",
        "redirect_uri": REDIRECT,
        "state": "state-inside",
        "nonce": "nonce-inside",
        "code_challenge": challenge.as_str(),
        "code_challenge_method": "S256",
    });
    (claims, verifier)
}

/// An unsigned request object (`alg: none`, empty signature).
fn unsigned(claims: &Value) -> String {
    let part = |value: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap());
    format!("{}.{}.", part(&json!({"alg": "none"})), part(claims))
}

fn signed(key: &SigningKey, claims: &Value) -> String {
    key.sign("oauth-authz-req+jwt", claims).unwrap()
}

/// `/authorize` with these parameters outside the object.
fn authorize_url<K: AsRef<str>, V: AsRef<str>>(server: &TestServer, outer: &[(K, V)]) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    for (name, value) in outer {
        url.query_pairs_mut().append_pair(name.as_ref(), value.as_ref());
    }
    url.to_string()
}

/// The parameters OIDC Core 6.1 asks to find outside the object too, and `extra`.
fn outer(client_id: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let base = [("client_id", client_id), ("response_type", "code"), ("scope", "openid")];
    base.iter().chain(extra).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// Signs in as pauline through the request; the page that leaves Sésame.
async fn login<K: AsRef<str>, V: AsRef<str>>(server: &TestServer, outer: &[(K, V)]) -> Page {
    Browser::new().authorize(server, &authorize_url(server, outer), "pauline", PASSWORD).await
}

/// The error sent back to the client's redirect URI, with the state that came back.
async fn refused<K: AsRef<str>, V: AsRef<str>>(
    server: &TestServer,
    outer: &[(K, V)],
) -> (String, Option<String>, String) {
    let page = Browser::new().get(&authorize_url(server, outer)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap_or_default().starts_with(REDIRECT), "{:?}", page.location);
    let error = page.location_param("error").expect("an error");
    (error, page.location_param("state"), page.location_param("error_description").unwrap_or_default())
}

/// The code of a successful request, checked to come with the object's state.
fn code_of(page: &Page) -> String {
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with(REDIRECT), "{:?}", page.location);
    assert_eq!(page.location_param("state").as_deref(), Some("state-inside"), "the object's state, not the query's");
    page.location_param("code").expect("a code")
}

/// Redeems a code as the client; the ID token's claims and the access token.
async fn redeem(server: &TestServer, client_id: &str, code: &str, verifier: PkceCodeVerifier) -> (Value, String) {
    let client = rp::client(server, client_id, Some(SECRET), REDIRECT).await;
    let tokens = rp::exchange(&client, code, verifier).await.expect("tokens");
    let id_token = rp::id_claims(&client, &tokens, &openidconnect::Nonce::new("nonce-inside".into()));
    let claims = serde_json::to_value(id_token).unwrap();
    (claims, tokens.access_token().secret().clone())
}

/// Documents served over http on 127.0.0.1, as a client serves its request objects.
struct Documents {
    base: String,
    served: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<usize>>,
}

impl Documents {
    async fn start() -> Self {
        let served: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let hits: Arc<Mutex<usize>> = Arc::default();
        let (source, counter) = (served.clone(), hits.clone());
        let app = axum::Router::new().route(
            "/ro/{name}",
            axum::routing::get(move |axum::extract::Path(name): axum::extract::Path<String>| {
                let (source, counter) = (source.clone(), counter.clone());
                async move {
                    *counter.lock().unwrap() += 1;
                    match source.lock().unwrap().get(&name).cloned() {
                        Some(body) => {
                            (axum::http::StatusCode::OK, [("content-type", "application/oauth-authz-req+jwt")], body)
                        }
                        None => (axum::http::StatusCode::NOT_FOUND, [("content-type", "text/plain")], String::new()),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base, served, hits }
    }

    /// Serves `jwt` and answers its URL.
    fn put(&self, name: &str, jwt: String) -> String {
        self.served.lock().unwrap().insert(name.into(), jwt);
        format!("{}/ro/{name}", self.base)
    }

    fn hits(&self) -> usize {
        *self.hits.lock().unwrap()
    }
}

/// A server that answers as an attacker would: `/huge` a 96 KiB chunked document,
/// `/endless` one without end,
/// `/declared` a Content-Length of 10 MB, `/slow` one byte every half second,
/// `/redirect` a redirect to `target`.
async fn hostile_server(target: String) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else { return };
            let target = target.clone();
            tokio::spawn(async move {
                let mut buffer = vec![0u8; 4096];
                let read = socket.read(&mut buffer).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&buffer[..read]).to_string();
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                let chunked = "HTTP/1.1 200 OK\r\nContent-Type: application/jwt\r\nTransfer-Encoding: chunked\r\n\r\n";
                match path.as_str() {
                    "/huge" | "/endless" => {
                        // 16 KiB chunks without a declared length: 96 KiB in all, or no end.
                        let _ = socket.write_all(chunked.as_bytes()).await;
                        let chunk = format!("4000\r\n{}\r\n", "a".repeat(0x4000));
                        let mut sent = 0;
                        while (path == "/endless" || sent < 6) && socket.write_all(chunk.as_bytes()).await.is_ok() {
                            sent += 1;
                        }
                        let _ = socket.write_all(b"0\r\n\r\n").await;
                    }
                    "/declared" => {
                        let head =
                            "HTTP/1.1 200 OK\r\nContent-Type: application/jwt\r\nContent-Length: 10000000\r\n\r\n";
                        let _ = socket.write_all(head.as_bytes()).await;
                        let _ = socket.write_all(&[b'a'; 1000]).await;
                        tokio::time::sleep(Duration::from_secs(30)).await;
                    }
                    "/slow" => {
                        let _ = socket.write_all(chunked.as_bytes()).await;
                        while socket.write_all(b"1\r\na\r\n").await.is_ok() {
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                    }
                    _ => {
                        let head = format!("HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n");
                        let _ = socket.write_all(head.as_bytes()).await;
                    }
                }
            });
        }
    });
    base
}

async fn oidcc_request_uri_unsigned(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(
        &server,
        Registration { client_id: CLIENT, request_object_signing_alg: Some("none"), ..Default::default() },
    )
    .await;
    let documents = Documents::start().await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    let request_uri = documents.put("unsigned", unsigned(&claims));
    let page = login(&server, &outer(CLIENT, &[("request_uri", &request_uri)])).await;
    let code = code_of(&page);
    assert_eq!(documents.hits(), 1, "fetched once");
    let (id_token, _) = redeem(&server, CLIENT, &code, verifier).await;
    assert_eq!(id_token["nonce"], "nonce-inside", "the object's nonce");
}

async fn oidcc_request_uri_signed_rs256(backend: Backend) {
    let server = TestServer::start(backend).await;
    let rs256 = key("jar-rs256", SigningAlg::Rs256);
    register(
        &server,
        Registration {
            client_id: CLIENT,
            request_object_signing_alg: Some("RS256"),
            keys: vec![&rs256],
            ..Default::default()
        },
    )
    .await;
    let documents = Documents::start().await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    let request_uri = documents.put("signed", signed(&rs256, &claims));
    let page = login(&server, &outer(CLIENT, &[("request_uri", &request_uri)])).await;
    let (id_token, _) = redeem(&server, CLIENT, &code_of(&page), verifier).await;
    assert_eq!(id_token["aud"], json!([CLIENT]));

    // A request_uri whose document is gone (404) is invalid_request_uri.
    let missing = format!("{}/ro/nothing-here", documents.base);
    let (error, state, _) =
        refused(&server, &outer(CLIENT, &[("request_uri", &missing), ("redirect_uri", REDIRECT), ("state", "s")]))
            .await;
    assert_eq!((error.as_str(), state.as_deref()), ("invalid_request_uri", Some("s")));
}

/// oidcc-ensure-request-object-with-redirect-uri: the redirect URI only in the object;
/// and only the object's parameters count (RFC 9101 5), whatever the query says.
async fn oidcc_ensure_request_object_with_redirect_uri(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&es256], ..Default::default() }).await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    let jwt = signed(&es256, &claims);
    let query = outer(CLIENT, &[("request", &jwt), ("state", "forged"), ("nonce", "forged"), ("prompt", "none")]);
    let page = login(&server, &query).await;
    let (id_token, _) = redeem(&server, CLIENT, &code_of(&page), verifier).await;
    assert_eq!(id_token["nonce"], "nonce-inside");

    // A redirect URI in the query is not the one used either.
    let query = outer(CLIENT, &[("request", &jwt), ("redirect_uri", "https://evil.example/cb")]);
    code_of(&login(&server, &query).await);

    // Without redirect_uri anywhere: a page, not a redirect.
    let mut no_redirect = claims.clone();
    no_redirect.as_object_mut().unwrap().remove("redirect_uri");
    let page = Browser::new()
        .get(&authorize_url(&server, &outer(CLIENT, &[("request", &signed(&es256, &no_redirect))])))
        .await;
    assert_eq!((page.status.as_u16(), page.location.as_deref()), (400, None), "{}", page.body);

    // OIDC Core 6.1: a response_type outside must be the object's.
    let query = [("client_id", CLIENT), ("response_type", "token"), ("request", &jwt), ("redirect_uri", REDIRECT)];
    let (error, _, _) = refused(&server, &query).await;
    assert_eq!(error, "invalid_request_object");
}

async fn oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(
        &server,
        Registration { client_id: CLIENT, request_object_signing_alg: Some("none"), ..Default::default() },
    )
    .await;
    register(&server, Registration { client_id: "actes-jar-signs", keys: vec![&es256], ..Default::default() }).await;
    register(&server, Registration { client_id: "actes-jar-plain", ..Default::default() }).await;

    // Supported for the client that registered none.
    let (claims, verifier) = request_claims(&server, CLIENT);
    let page = login(&server, &outer(CLIENT, &[("request", &unsigned(&claims))])).await;
    redeem(&server, CLIENT, &code_of(&page), verifier).await;

    // Refused for one that did not: a signed client cannot be downgraded to alg none.
    let (claims, _) = request_claims(&server, "actes-jar-signs");
    let query =
        outer("actes-jar-signs", &[("request", &unsigned(&claims)), ("redirect_uri", REDIRECT), ("state", "s")]);
    let (error, state, _) = refused(&server, &query).await;
    assert_eq!((error.as_str(), state.as_deref()), ("invalid_request_object", Some("s")));

    // A client with neither keys nor none cannot use request objects at all.
    let (claims, _) = request_claims(&server, "actes-jar-plain");
    let query = outer("actes-jar-plain", &[("request", &unsigned(&claims)), ("redirect_uri", REDIRECT)]);
    assert_eq!(refused(&server, &query).await.0, "request_not_supported");
    let query = outer("actes-jar-plain", &[("request_uri", "https://jar.example/r"), ("redirect_uri", REDIRECT)]);
    assert_eq!(refused(&server, &query).await.0, "request_uri_not_supported");
}

async fn oidcc_userinfo_rs256(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(
        &server,
        Registration {
            client_id: CLIENT,
            request_object_signing_alg: Some("none"),
            userinfo_signed_response_alg: Some("RS256"),
            ..Default::default()
        },
    )
    .await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    let page = login(&server, &outer(CLIENT, &[("request", &unsigned(&claims))])).await;
    let (id_token, access_token) = redeem(&server, CLIENT, &code_of(&page), verifier).await;

    let response = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&access_token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jwt");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let jwt = response.text().await.unwrap();
    let jws = UnverifiedJws::parse(&jwt).expect("a compact JWS");
    assert_eq!(jws.alg, "RS256");
    let jwks: Value = reqwest::get(server.url("/jwks")).await.unwrap().json().await.unwrap();
    let jwk = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|jwk| jwk["kid"].as_str() == jws.kid.as_deref())
        .expect("signed with a published key");
    let verified: Value =
        jws.verify(&VerifyingKey::from_jwk(jwk, SigningAlg::Rs256).unwrap()).expect("a good signature");
    assert_eq!(verified["iss"].as_str(), Some(server.issuer.as_str()));
    assert_eq!(verified["aud"], CLIENT);
    let iat = verified["iat"].as_i64().expect("a signed response says when it was made");
    assert!((server.clock_now() - 5..=server.clock_now()).contains(&iat), "made now: {iat}");
    assert_eq!(verified["sub"], id_token["sub"]);
    assert!(verified["given_name"].is_string(), "the profile scope's claims: {verified}");

    // A client that registered nothing still gets JSON.
    let client = rp::actes_web(&server).await;
    let (code, request) = rp::code_for_pauline(&server, &client, &Browser::new(), &[]).await;
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let response = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

async fn discovery_advertises_request_objects_and_signed_userinfo(backend: Backend) {
    let server = TestServer::start(backend).await;
    let metadata: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["request_parameter_supported"], true);
    assert_eq!(metadata["request_uri_parameter_supported"], true);
    assert_eq!(metadata["require_request_uri_registration"], false);
    assert_eq!(
        metadata["request_object_signing_alg_values_supported"],
        json!(["RS256", "PS256", "ES256", "EdDSA", "none"])
    );
    assert_eq!(metadata["userinfo_signing_alg_values_supported"], json!(["RS256", "PS256", "ES256", "EdDSA"]));
    assert!(metadata.get("request_object_encryption_alg_values_supported").is_none(), "no JWE");
}

async fn a_request_object_signed_with_a_key_the_client_did_not_register_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let registered = key("jar-key", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&registered], ..Default::default() }).await;
    // Same kid, another key: the attacker's.
    let attacker = key("jar-key", SigningAlg::Es256);
    let (claims, _) = request_claims(&server, CLIENT);
    let query = outer(CLIENT, &[("request", &signed(&attacker, &claims)), ("redirect_uri", REDIRECT)]);
    let (error, _, description) = refused(&server, &query).await;
    assert_eq!(error, "invalid_request_object", "{description}");
    assert!(description.contains("signature"), "{description}");
    // The signature covers the claims: one changed after signing fails too.
    let jwt = signed(&registered, &claims);
    let (head, rest) = jwt.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut changed = claims.clone();
    changed["redirect_uri"] = json!("https://evil.example/cb");
    let forged = format!("{head}.{}.{signature}", URL_SAFE_NO_PAD.encode(serde_json::to_vec(&changed).unwrap()));
    let (error, _, _) = refused(&server, &outer(CLIENT, &[("request", &forged), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_object");
}

async fn a_request_object_with_an_alg_the_client_did_not_register_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ps256 = key("jar-rsa", SigningAlg::Ps256);
    let es256 = key("jar-ec", SigningAlg::Es256);
    register(
        &server,
        Registration {
            client_id: CLIENT,
            request_object_signing_alg: Some("PS256"),
            keys: vec![&ps256, &es256],
            ..Default::default()
        },
    )
    .await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    let query = outer(CLIENT, &[("request", &signed(&es256, &claims)), ("redirect_uri", REDIRECT)]);
    let (error, _, description) = refused(&server, &query).await;
    assert_eq!(error, "invalid_request_object");
    assert!(description.contains("PS256"), "{description}");
    let page = login(&server, &outer(CLIENT, &[("request", &signed(&ps256, &claims))])).await;
    redeem(&server, CLIENT, &code_of(&page), verifier).await;
}

async fn an_expired_or_too_long_lived_request_object_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&es256], ..Default::default() }).await;
    let now = server.clock_now();
    let (claims, _) = request_claims(&server, CLIENT);
    for (name, value, why) in [
        ("exp", json!(now - 1), "expired"),
        ("exp", json!(now + 2 * 3600), "valid for at most"),
        ("exp", json!("tomorrow"), "exp"),
        ("nbf", json!(now + 600), "not valid yet"),
        ("nbf", json!(now - 2 * 3600), "too long ago"),
    ] {
        let mut changed = claims.clone();
        changed[name] = value;
        let query = outer(CLIENT, &[("request", &signed(&es256, &changed)), ("redirect_uri", REDIRECT)]);
        let (error, _, description) = refused(&server, &query).await;
        assert_eq!(error, "invalid_request_object", "{name}");
        assert!(description.contains(why), "{name}: {description}");
    }
}

async fn a_request_object_for_another_audience_or_from_another_issuer_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&es256], ..Default::default() }).await;
    let (claims, _) = request_claims(&server, CLIENT);
    for (name, value) in [
        ("aud", json!("https://other-op.example")),
        ("aud", json!([format!("{}/token", server.issuer)])),
        ("aud", Value::Null),
        ("iss", json!("somebody-else")),
        ("iss", Value::Null),
    ] {
        let mut changed = claims.clone();
        changed[name] = value.clone();
        let query = outer(CLIENT, &[("request", &signed(&es256, &changed)), ("redirect_uri", REDIRECT)]);
        let (error, _, description) = refused(&server, &query).await;
        assert_eq!(error, "invalid_request_object", "{name} = {value}");
        assert!(description.contains(name), "{description}");
    }
    // Several audiences, the issuer among them, are fine.
    let mut several = claims.clone();
    several["aud"] = json!(["https://other-op.example", server.issuer]);
    code_of(&login(&server, &outer(CLIENT, &[("request", &signed(&es256, &several))])).await);
}

async fn a_request_object_of_another_client_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ours = key("jar-key", SigningAlg::Es256);
    let theirs = key("other-key", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&ours], ..Default::default() }).await;
    register(&server, Registration { client_id: "actes-jar-other", keys: vec![&theirs], ..Default::default() }).await;
    // The other client's genuine object, brought under our client_id: its key is not ours.
    let (claims, _) = request_claims(&server, "actes-jar-other");
    let query = outer(CLIENT, &[("request", &signed(&theirs, &claims)), ("redirect_uri", REDIRECT)]);
    assert_eq!(refused(&server, &query).await.0, "invalid_request_object");
    // Our own key, but a client_id inside that is not the request's.
    let (mut claims, _) = request_claims(&server, CLIENT);
    claims["client_id"] = json!("actes-jar-other");
    let query = outer(CLIENT, &[("request", &signed(&ours, &claims)), ("redirect_uri", REDIRECT)]);
    let (error, _, description) = refused(&server, &query).await;
    assert_eq!(error, "invalid_request_object");
    assert!(description.contains("client_id"), "{description}");
}

async fn an_encrypted_request_object_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&es256], ..Default::default() }).await;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM"}"#);
    let jwe = format!("{header}.a2V5.aXY.Y2lwaGVy.dGFn");
    let (error, _, description) =
        refused(&server, &outer(CLIENT, &[("request", &jwe), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_object");
    assert!(description.contains("encrypted"), "{description}");
    let (error, _, _) = refused(&server, &outer(CLIENT, &[("request", "not-a-jwt"), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_object");
    let (error, _, _) = refused(
        &server,
        &outer(CLIENT, &[("request", "x"), ("request_uri", "https://jar.example/r"), ("redirect_uri", REDIRECT)]),
    )
    .await;
    assert_eq!(error, "invalid_request", "request and request_uri together");
}

async fn request_uri_size_time_and_redirect_limits_hold(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.fetch.timeout = 2).await;
    register(
        &server,
        Registration { client_id: CLIENT, request_object_signing_alg: Some("none"), ..Default::default() },
    )
    .await;
    let documents = Documents::start().await;
    let (claims, _) = request_claims(&server, CLIENT);
    let good = documents.put("good", unsigned(&claims));
    let hostile = hostile_server(good.clone()).await;
    for (path, limit) in [
        ("/huge", "larger"),
        ("/endless", "larger"),
        ("/declared", "larger"),
        ("/slow", "seconds"),
        ("/redirect", "302"),
    ] {
        let uri = format!("{hostile}{path}");
        let started = Instant::now();
        let (error, _, description) =
            refused(&server, &outer(CLIENT, &[("request_uri", &uri), ("redirect_uri", REDIRECT)])).await;
        let took = started.elapsed();
        assert_eq!(error, "invalid_request_uri", "{path}");
        assert!(description.contains(limit), "{path}: {description}");
        assert!(took < Duration::from_secs(4), "{path}: held for {took:?}");
    }
    assert_eq!(documents.hits(), 0, "the redirect was not followed");
    // A document of exactly the limit is fine; one byte more is not.
    let padded = |size: usize| {
        let jwt = unsigned(&claims);
        format!("{jwt}{}", " ".repeat(size - jwt.len()))
    };
    code_of(&login(&server, &outer(CLIENT, &[("request_uri", &documents.put("limit", padded(65_536)))])).await);
    let over = documents.put("over", padded(65_537));
    let (error, _, _) = refused(&server, &outer(CLIENT, &[("request_uri", &over), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_uri");
}

async fn a_request_uri_over_http_is_refused_unless_loopback_is_allowed(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.fetch.allow_http_loopback = false).await;
    register(
        &server,
        Registration { client_id: CLIENT, request_object_signing_alg: Some("none"), ..Default::default() },
    )
    .await;
    let documents = Documents::start().await;
    let (claims, _) = request_claims(&server, CLIENT);
    let loopback = documents.put("doc", unsigned(&claims));
    let started = Instant::now();
    for uri in [loopback.as_str(), "http://10.255.255.1/ro", "http://jar.example/ro", "file:///etc/passwd", "urn:x:y"] {
        let (error, _, _) = refused(&server, &outer(CLIENT, &[("request_uri", uri), ("redirect_uri", REDIRECT)])).await;
        assert_eq!(error, "invalid_request_uri", "{uri}");
    }
    assert!(started.elapsed() < Duration::from_secs(2), "refused without trying to connect");
    assert_eq!(documents.hits(), 0, "nothing fetched over http when loopback http is off (the default)");
    let long = format!("https://jar.example/{}", "a".repeat(600));
    let (error, _, _) = refused(&server, &outer(CLIENT, &[("request_uri", &long), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_uri");
}

/// A request_uri is fetched only from a host the client registered: a link cannot make
/// Sésame call any other server.
async fn a_request_uri_on_a_host_the_client_did_not_register_is_not_fetched(backend: Backend) {
    let server = TestServer::start(backend).await;
    let documents = Documents::start().await;
    let registration = |client_id: &str, jwks_uri: Option<String>| ClientInput {
        client_id: client_id.into(),
        application: Some("INOTACTE".into()),
        secret: Some(clients::SecretInput::Plain(SECRET.into())),
        redirect_uris: vec![REDIRECT.into()],
        first_party: true,
        jwks_uri,
        request_object_signing_alg: Some("none".into()),
        ..Default::default()
    };
    let (db, hasher) = (&server.state.db, &server.state.client_secrets);
    clients::upsert(db, hasher, registration(CLIENT, None), 0).await.unwrap();
    let (claims, _) = request_claims(&server, CLIENT);
    let uri = documents.put("doc", unsigned(&claims));
    let (error, _, description) =
        refused(&server, &outer(CLIENT, &[("request_uri", &uri), ("redirect_uri", REDIRECT)])).await;
    assert_eq!(error, "invalid_request_uri");
    assert!(description.contains("host"), "{description}");
    assert_eq!(documents.hits(), 0, "not fetched");
    // The host of its jwks_uri is one of its own.
    let jwks_uri = Some(format!("{}/ro/jwks", documents.base));
    clients::upsert(db, hasher, registration("actes-jar-keys", jwks_uri), 0).await.unwrap();
    let (claims, _) = request_claims(&server, "actes-jar-keys");
    let uri = documents.put("keys-doc", unsigned(&claims));
    code_of(&login(&server, &outer("actes-jar-keys", &[("request_uri", &uri)])).await);
}

/// RFC 9126 3: a signed request object pushed to `/par`, checked there as at the
/// authorization endpoint.
async fn a_signed_request_object_can_be_pushed(backend: Backend) {
    let server = TestServer::start(backend).await;
    let ps256 = key("jar-ps256", SigningAlg::Ps256);
    register(
        &server,
        Registration {
            client_id: CLIENT,
            request_object_signing_alg: Some("PS256"),
            require_signed_request_object: true,
            keys: vec![&ps256],
            ..Default::default()
        },
    )
    .await;
    let push = |form: Vec<(&'static str, String)>| {
        let server_url = server.url("/par");
        async move {
            let response = reqwest::Client::new()
                .post(server_url)
                .basic_auth(CLIENT, Some(SECRET))
                .form(&form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (claims, verifier) = request_claims(&server, CLIENT);
    let (status, body) = push(vec![("request", signed(&ps256, &claims))]).await;
    assert_eq!(status, 201, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap().to_string();
    let page = login(&server, &[("client_id", CLIENT), ("request_uri", &request_uri)]).await;
    redeem(&server, CLIENT, &code_of(&page), verifier).await;

    // Refusals are JSON with the request object's error code.
    let mut expired = claims.clone();
    expired["exp"] = json!(server.clock_now() - 10);
    let (status, body) = push(vec![("request", signed(&ps256, &expired))]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request_object")), "{body}");
    let (status, body) = push(vec![("request", unsigned(&claims))]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request_object")), "{body}");
    // This client must sign: a plain pushed request is refused too.
    let plain: Vec<(&'static str, String)> = [
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
    ]
    .into_iter()
    .map(|(k, v)| (k, v.to_string()))
    .collect();
    let (status, body) = push(plain).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_request")), "{body}");
    let (status, body) = push(vec![("request_uri", "https://jar.example/r".into())]).await;
    assert_eq!(status, 400, "no request_uri at /par: {body}");
}

/// The rule chosen: a request object is not single-use (RFC 9101 does not ask it); it
/// may start a request again until its `exp`, and only ever for the client's own
/// redirect URI, state, nonce and PKCE challenge. After `exp`, it is refused.
async fn a_request_object_may_be_replayed_until_it_expires(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(&server, Registration { client_id: CLIENT, keys: vec![&es256], ..Default::default() }).await;
    let (claims, _) = request_claims(&server, CLIENT);
    let jwt = signed(&es256, &claims);
    let query = outer(CLIENT, &[("request", &jwt), ("redirect_uri", REDIRECT)]);
    let (first, second) = tokio::join!(login(&server, &query), login(&server, &query));
    assert_ne!(code_of(&first), code_of(&second), "two requests, two codes");
    server.clock.advance(301);
    let (error, _, description) = refused(&server, &query).await;
    assert_eq!(error, "invalid_request_object");
    assert!(description.contains("expired"), "{description}");
}

async fn require_signed_request_object_is_enforced(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    register(
        &server,
        Registration {
            client_id: CLIENT,
            require_signed_request_object: true,
            keys: vec![&es256],
            ..Default::default()
        },
    )
    .await;
    let (claims, verifier) = request_claims(&server, CLIENT);
    // A plain request, the same parameters outside: refused.
    let plain: Vec<(String, String)> = claims
        .as_object()
        .unwrap()
        .iter()
        .filter(|(name, _)| !["iss", "aud", "iat", "exp"].contains(&name.as_str()))
        .map(|(name, value)| (name.clone(), value.as_str().map(str::to_string).unwrap_or_else(|| value.to_string())))
        .collect();
    let plain: Vec<(&str, &str)> = plain.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (error, state, description) = refused(&server, &plain).await;
    assert_eq!((error.as_str(), state.as_deref()), ("invalid_request", Some("state-inside")));
    assert!(description.contains("signed request objects"), "{description}");
    // An unsigned object: refused.
    let query = outer(CLIENT, &[("request", &unsigned(&claims)), ("redirect_uri", REDIRECT)]);
    assert_eq!(refused(&server, &query).await.0, "invalid_request_object");
    // A signed one: accepted.
    let page = login(&server, &outer(CLIENT, &[("request", &signed(&es256, &claims))])).await;
    redeem(&server, CLIENT, &code_of(&page), verifier).await;
}

async fn request_object_metadata_in_the_import_file(backend: Backend) {
    let server = TestServer::start(backend).await;
    let jwk = key("k", SigningAlg::Es256).public_jwk().to_string();
    let entry = |extra: &str| {
        format!(
            "[[clients]]\nclient_id = \"jar-import\"\napplication = \"INOTACTE\"\nsecret = \"{SECRET}\"\n\
             redirect_uris = [\"{REDIRECT}\"]\njwks = '{{\"keys\": [{jwk}]}}'\n{extra}\n"
        )
    };
    let text = entry(
        "request_object_signing_alg = \"ES256\"\nrequire_signed_request_object = true\nuserinfo_signed_response_alg = \"PS256\"",
    );
    sesame::import::import_text(&server.state, "clients.toml", &text).await.expect("imported");
    let client = clients::find(&server.state.db, "jar-import").await.unwrap().unwrap();
    assert_eq!(client.request_object_alg, Some(clients::RequestObjectAlg::Signed(SigningAlg::Es256)));
    assert!(client.require_signed_request_object);
    assert_eq!(client.userinfo_alg, Some(SigningAlg::Ps256));

    for (extra, field) in [
        ("request_object_signing_alg = \"HS256\"", "request_object_signing_alg"),
        ("request_object_signing_alg = \"none\"\nrequire_signed_request_object = true", "request_object_signing_alg"),
        ("userinfo_signed_response_alg = \"none\"", "userinfo_signed_response_alg"),
    ] {
        let error = sesame::import::import_text(&server.state, "clients.toml", &entry(extra)).await.unwrap_err();
        assert!(error.to_string().contains(field), "{extra}: {error}");
    }
    // Signed objects need keys to be checked with.
    let keyless = format!(
        "[[clients]]\nclient_id = \"jar-keyless\"\napplication = \"INOTACTE\"\nsecret = \"{SECRET}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\nrequire_signed_request_object = true\n"
    );
    let error = sesame::import::import_text(&server.state, "clients.toml", &keyless).await.unwrap_err();
    assert!(error.to_string().contains("jwks"), "{error}");
}

/// A request object passes through browsers, signed with the client's key for the
/// issuer: whatever claims it has, it never authenticates the client at /token.
async fn a_request_object_is_not_a_client_assertion(backend: Backend) {
    let server = TestServer::start(backend).await;
    let es256 = key("jar-es256", SigningAlg::Es256);
    let input = ClientInput {
        client_id: CLIENT.into(),
        application: Some("INOTACTE".into()),
        redirect_uris: vec![REDIRECT.into()],
        grant_types: vec!["authorization_code".into(), "client_credentials".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        jwks: Some(json!({"keys": [es256.public_jwk()]})),
        ..Default::default()
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
    let token = |assertion: String| {
        let url = server.url("/token");
        async move {
            let form = [
                ("grant_type", "client_credentials".to_string()),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
                ("client_assertion", assertion),
            ];
            reqwest::Client::new().post(url).form(&form).send().await.unwrap().status().as_u16()
        }
    };
    let (mut claims, _) = request_claims(&server, CLIENT);
    claims["sub"] = json!(CLIENT);
    claims["jti"] = json!("object-1");
    claims["exp"] = json!(server.clock_now() + 60);
    assert_eq!(token(signed(&es256, &claims)).await, 401, "typed as a request object");
    claims["jti"] = json!("object-2");
    assert_eq!(token(es256.sign("JWT", &claims).unwrap()).await, 401, "carrying response_type");
    // The same claims without the request's parameters: a genuine assertion works.
    let assertion = json!({
        "iss": CLIENT, "sub": CLIENT, "aud": server.issuer, "jti": "assertion-1", "exp": server.clock_now() + 60
    });
    assert_eq!(token(es256.sign("JWT", &assertion).unwrap()).await, 200);
}

/// Anyone can send a browser, or a script, to `/authorize` with a `request_uri`: twenty
/// at once from one address make at most the per-address budget of fetches; the rest get
/// a 429 page, and other work is not held up.
async fn request_uri_fetches_are_limited_per_address(backend: Backend) {
    const BUDGET: u32 = 5;
    let server = TestServer::start_with(backend, |c| c.rate_limits.login_per_ip_per_minute = BUDGET).await;
    register(
        &server,
        Registration { client_id: CLIENT, request_object_signing_alg: Some("none"), ..Default::default() },
    )
    .await;
    let documents = Documents::start().await;
    let (claims, _) = request_claims(&server, CLIENT);
    let uri = documents.put("doc", unsigned(&claims));
    let url = authorize_url(&server, &outer(CLIENT, &[("request_uri", uri.as_str())]));
    let mut parallel = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = url.clone();
        parallel.spawn(async move { Browser::new().get(&url).await });
    }
    let pages = parallel.join_all().await;
    let limited = pages.iter().filter(|page| page.status == 429).count();
    assert!(documents.hits() <= BUDGET as usize, "{} fetches for a budget of {BUDGET}", documents.hits());
    assert_eq!(limited, 20 - BUDGET as usize, "the others are told to wait");
    let page = pages.iter().find(|page| page.status == 429).unwrap();
    assert!(page.body.contains("Too many") || page.body.contains("Trop de"), "a readable page: {}", page.body);
    assert!(!pages.iter().any(|page| page.status.is_server_error()));
}
