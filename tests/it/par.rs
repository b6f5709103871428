//! Pushed authorization requests (RFC 9126): the client pushes its request to `/par`,
//! authenticated, and sends the browser with the `request_uri` alone. Names follow the
//! FAPI 2.0 conformance modules (`fapi2-security-profile-final-par-*`) where one applies.

use reqwest::StatusCode;
use serde_json::{Value, json};
use sesame::clients::{self, ClientInput};
use sesame::crypto::jws::{SigningAlg, SigningKey};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, AuthRequest, Browser, payload};

on_every_backend!(
    par_login_with_client_secret_basic,
    fapi2_security_profile_happy_flow_with_par_and_private_key_jwt,
    fapi2_security_profile_par_attempt_reuse_request_uri,
    a_request_uri_opened_twenty_times_at_once_gives_one_login,
    fapi2_security_profile_par_attempt_to_use_expired_request_uri,
    a_request_uri_of_another_client_is_refused_on_a_page,
    par_with_a_wrong_client_secret_is_invalid_client,
    fapi2_security_profile_par_authorization_request_containing_request_uri_form_param,
    pushed_requests_are_validated_as_authorization_requests,
    a_client_required_to_push_is_refused_a_plain_request,
    discovery_advertises_par_and_the_global_requirement,
    pushes_of_public_clients_are_limited_per_address,
);

const ACTES_SECRET: &str = "actes-web-secret-0123456789";
const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// How a push authenticates its client.
enum Auth<'a> {
    Basic(&'a str, &'a str),
    /// Parameters added to the body (client_secret_post, private_key_jwt, public).
    Body(Vec<(&'a str, String)>),
}

/// Pushes `params` to `/par`; the status, the JSON body and the Cache-Control header.
async fn push(server: &TestServer, auth: Auth<'_>, params: &[(String, String)]) -> (StatusCode, Value, String) {
    let mut form: Vec<(String, String)> = params.to_vec();
    let mut request = reqwest::Client::new().post(server.url("/par"));
    match auth {
        Auth::Basic(id, secret) => request = request.basic_auth(id, Some(secret)),
        Auth::Body(extra) => form.extend(extra.into_iter().map(|(k, v)| (k.to_string(), v))),
    }
    let response = request.form(&form).send().await.expect("POST /par");
    let status = response.status();
    let cache = response.headers().get("cache-control").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    (status, response.json().await.unwrap_or(Value::Null), cache)
}

/// The parameters of an authorization URL (what a client would have sent the browser with).
fn params_of(request: &AuthRequest) -> Vec<(String, String)> {
    url::Url::parse(&request.url).unwrap().query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Pushes an `actes-web` request (PKCE, state, nonce) with HTTP Basic; the request and
/// the `request_uri`.
async fn push_actes_web(server: &TestServer, client: &rp::Client) -> (AuthRequest, String) {
    let request = rp::auth_request(client, &[], &[]);
    let (status, body, cache) = push(server, Auth::Basic("actes-web", ACTES_SECRET), &params_of(&request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(cache, "no-store");
    assert_eq!(body["expires_in"], 60);
    let request_uri = body["request_uri"].as_str().expect("a request_uri").to_string();
    assert!(request_uri.starts_with(REQUEST_URI_PREFIX), "{request_uri}");
    assert!(request_uri.len() > REQUEST_URI_PREFIX.len() + 40, "a random part of 256 bits: {request_uri}");
    (request, request_uri)
}

/// The authorization URL that carries a pushed request.
fn authorize_url(server: &TestServer, client_id: &str, request_uri: &str) -> String {
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().append_pair("client_id", client_id).append_pair("request_uri", request_uri);
    url.to_string()
}

async fn par_login_with_client_secret_basic(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let (request, request_uri) = push_actes_web(&server, &client).await;
    let browser = Browser::new();
    // Parameters next to the request_uri are ignored (RFC 9126 4): the pushed ones count.
    let url = format!(
        "{}&state=forged&redirect_uri=https%3A%2F%2Fevil.example%2F",
        authorize_url(&server, "actes-web", &request_uri)
    );
    let page = browser.authorize(&server, &url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with("https://actes.example/callback?"), "{:?}", page.location);
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    let code = page.location_param("code").expect("a code");
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    let claims = rp::id_claims(&client, &tokens, &request.nonce);
    assert_eq!(claims.audiences()[0].as_str(), "actes-web");
    assert_eq!(crate::two_factor::audit_count(&server, "par.pushed").await, 1, "the push is in the audit trail");
}

/// Registers a private_key_jwt client of the code flow with an ES256 key.
async fn register_jwt_client(server: &TestServer) -> SigningKey {
    let (key, _) = SigningKey::generate("par-key-1".into(), SigningAlg::Es256).unwrap();
    let input = ClientInput {
        client_id: "actes-fapi".into(),
        application: Some("INOTACTE".into()),
        redirect_uris: vec!["https://fapi.example/cb".into()],
        grant_types: vec!["authorization_code".into()],
        token_endpoint_auth_method: Some("private_key_jwt".into()),
        id_token_signed_response_alg: Some("ES256".into()),
        first_party: true,
        require_pushed_authorization_requests: true,
        jwks: Some(json!({"keys": [key.public_jwk()]})),
        ..Default::default()
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
    key
}

fn assertion(server: &TestServer, key: &SigningKey, aud: &str) -> Vec<(&'static str, String)> {
    let now = server.clock_now();
    let jti = sesame::crypto::random_id();
    let claims = json!({"iss": "actes-fapi", "sub": "actes-fapi", "aud": aud, "jti": jti, "iat": now, "exp": now + 60});
    vec![
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
        ("client_assertion", key.sign("JWT", &claims).unwrap()),
    ]
}

/// fapi2-security-profile-final-happy-flow, for the parts Sésame has: PAR,
/// private_key_jwt, PKCE S256, ES256, `iss` in the response (not DPoP).
async fn fapi2_security_profile_happy_flow_with_par_and_private_key_jwt(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = register_jwt_client(&server).await;
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let params: Vec<(String, String)> = [
        ("client_id", "actes-fapi"),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("redirect_uri", "https://fapi.example/cb"),
        ("state", "fapi-state"),
        ("nonce", "fapi-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // The issuer and the PAR endpoint's URL are both accepted audiences.
    let (status, body, _) = push(&server, Auth::Body(assertion(&server, &key, &server.url("/par"))), &params).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body, _) = push(&server, Auth::Body(assertion(&server, &key, &server.issuer)), &params).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let request_uri = body["request_uri"].as_str().unwrap();

    let browser = Browser::new();
    let page = browser
        .authorize(&server, &authorize_url(&server, "actes-fapi", request_uri), "pauline", "correct horse battery")
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location_param("state").as_deref(), Some("fapi-state"));
    assert_eq!(page.location_param("iss").as_deref(), Some(server.issuer.as_str()));
    let code = page.location_param("code").expect("a code");

    let mut form = assertion(&server, &key, &server.url("/token"));
    form.extend([
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", "https://fapi.example/cb".into()),
        ("code_verifier", verifier.secret().clone()),
    ]);
    let response = reqwest::Client::new().post(server.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    let claims = payload(id_token);
    assert_eq!(rp::header(id_token)["alg"], "ES256");
    assert_eq!((claims["aud"].as_str(), claims["nonce"].as_str()), (Some("actes-fapi"), Some("fapi-nonce")));
    assert_eq!(claims["iss"].as_str(), Some(server.issuer.as_str()));
    // Checked as an RP checks it: signature against the published keys, issuer,
    // audience, expiry, nonce.
    let rp_client = rp::client(&server, "actes-fapi", None, "https://fapi.example/cb").await;
    let parsed: openidconnect::core::CoreIdToken = id_token.parse().expect("an ID token");
    let nonce = openidconnect::Nonce::new("fapi-nonce".into());
    let checked = parsed.claims(&rp_client.id_token_verifier(), &nonce).expect("a valid ID token");
    assert_eq!(checked.audiences()[0].as_str(), "actes-fapi");
}

async fn fapi2_security_profile_par_attempt_reuse_request_uri(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let (_, request_uri) = push_actes_web(&server, &client).await;
    let url = authorize_url(&server, "actes-web", &request_uri);
    let page = Browser::new().authorize(&server, &url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303);
    assert!(page.location_param("code").is_some());
    let again = Browser::new().get(&url).await;
    assert_eq!(again.status, 400, "a request_uri is used once");
    assert!(again.location.is_none(), "an error page, not a redirect");
    assert!(again.body.contains("request_uri"), "{}", again.body);
}

async fn a_request_uri_opened_twenty_times_at_once_gives_one_login(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let (_, request_uri) = push_actes_web(&server, &client).await;
    let url = authorize_url(&server, "actes-web", &request_uri);
    let mut tries = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let url = url.clone();
        tries.spawn(async move { Browser::new().get(&url).await });
    }
    let pages = tries.join_all().await;
    let logins = pages
        .iter()
        .filter(|p| p.status == 303 && p.location.as_deref().is_some_and(|l| l.starts_with("/login")))
        .count();
    let refused = pages.iter().filter(|p| p.status == 400 && p.location.is_none()).count();
    assert_eq!((logins, refused), (1, 19), "{:?}", pages.iter().map(|p| p.status).collect::<Vec<_>>());
}

async fn fapi2_security_profile_par_attempt_to_use_expired_request_uri(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let (_, request_uri) = push_actes_web(&server, &client).await;
    let (_, forgotten) = push_actes_web(&server, &client).await;
    server.clock.advance(61);
    let page = Browser::new().get(&authorize_url(&server, "actes-web", &request_uri)).await;
    assert_eq!(page.status, 400, "expired after expires_in");
    assert!(page.location.is_none());
    let swept = sesame::janitor::sweep(&server.state, server.clock_now()).await.unwrap();
    assert_eq!(swept.pushed_authorization_requests, 2, "the janitor deletes expired pushed requests: {swept:?}");
    let page = Browser::new().get(&authorize_url(&server, "actes-web", &forgotten)).await;
    assert_eq!(page.status, 400);
}

async fn a_request_uri_of_another_client_is_refused_on_a_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let (_, request_uri) = push_actes_web(&server, &client).await;
    let page = Browser::new().get(&authorize_url(&server, "compta-web", &request_uri)).await;
    assert_eq!(page.status, 400, "{}", page.body);
    assert!(page.location.is_none(), "nothing goes to a redirect URI");
    let page = Browser::new().get(&format!("{}?request_uri={}", server.url("/authorize"), request_uri)).await;
    assert_eq!(page.status, 400, "without client_id");
    // Not consumed by the other client's attempt: the right client still gets its login.
    let page = Browser::new().get(&authorize_url(&server, "actes-web", &request_uri)).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.unwrap().starts_with("/login"));
    let made_up = format!("{REQUEST_URI_PREFIX}made-up");
    let page = Browser::new().get(&authorize_url(&server, "actes-web", &made_up)).await;
    assert_eq!(page.status, 400, "an unknown request_uri");
}

async fn par_with_a_wrong_client_secret_is_invalid_client(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[]);
    let (status, body, _) = push(&server, Auth::Basic("actes-web", "not-the-secret"), &params_of(&request)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    // No authentication at all, for a confidential client.
    let (status, body, _) = push(&server, Auth::Body(Vec::new()), &params_of(&request)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    // client_secret_post for compta-web works (its registered method).
    let compta = rp::client(&server, "compta-web", None, "https://compta.example/callback").await;
    let request = rp::auth_request(&compta, &[], &[]);
    let secret = vec![("client_secret", "compta-web-secret-0123456789".to_string())];
    let (status, body, _) = push(&server, Auth::Body(secret), &params_of(&request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A public client pushes with its client_id alone (PKCE is still required).
    let desktop = rp::client(&server, "actes-desktop", None, "http://127.0.0.1:7777/callback").await;
    let (status, body, _) =
        push(&server, Auth::Body(Vec::new()), &params_of(&rp::auth_request(&desktop, &[], &[]))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn fapi2_security_profile_par_authorization_request_containing_request_uri_form_param(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let mut params = params_of(&rp::auth_request(&client, &[], &[]));
    params.push(("request_uri".into(), format!("{REQUEST_URI_PREFIX}smuggled")));
    let (status, body, _) = push(&server, Auth::Basic("actes-web", ACTES_SECRET), &params).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
}

/// The authorization endpoint's checks, answered in JSON rather than by a redirect.
async fn pushed_requests_are_validated_as_authorization_requests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let base = params_of(&rp::auth_request(&client, &[], &[]));
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        let mut params: Vec<(String, String)> = base.iter().filter(|(k, _)| k != name).cloned().collect();
        params.push((name.into(), value.into()));
        params
    };
    let basic = || Auth::Basic("actes-web", ACTES_SECRET);
    let (status, body, _) = push(&server, basic(), &with("redirect_uri", "https://evil.example/cb")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_redirect_uri")), "{body}");
    let (status, body, _) = push(&server, basic(), &with("response_type", "token")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("unsupported_response_type")));
    let (status, body, _) = push(&server, basic(), &with("scope", "profile")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_scope")));
    let (status, body, _) = push(&server, basic(), &with("code_challenge_method", "plain")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")));
    // The body's client_id may be left out with HTTP Basic, but not contradict it.
    let without_id: Vec<(String, String)> = base.iter().filter(|(k, _)| k != "client_id").cloned().collect();
    let (status, body, _) = push(&server, basic(), &without_id).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body, _) = push(&server, basic(), &with("client_id", "compta-web")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    // Bounded: at most 64 parameters.
    let mut many = base.clone();
    many.extend((0..64).map(|i| (format!("extra{i}"), "x".to_string())));
    let (status, body, _) = push(&server, basic(), &many).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    // Bounded in size: larger than a login can carry (its sealed `tx`), a request is
    // refused when pushed rather than stored for a login that could not start.
    let pushed = crate::two_factor::audit_count(&server, "par.pushed").await;
    let (status, body, _) = push(&server, basic(), &with("state", &"s".repeat(7 * 1024))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
    assert_eq!(body["error_description"], "the authorization request is too large");
    assert_eq!(crate::two_factor::audit_count(&server, "par.pushed").await, pushed, "nothing was stored");
    let (status, body, _) = push(&server, basic(), &with("state", &"s".repeat(4 * 1024))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Only POST (RFC 9126 2.1).
    let response = reqwest::get(server.url("/par")).await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

async fn a_client_required_to_push_is_refused_a_plain_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    // The import file's key.
    let entry = r#"
[[clients]]
client_id = "actes-pushed"
application = "INOTACTE"
secret = "actes-pushed-secret-0123456789"
redirect_uris = ["https://pushed.example/cb"]
first_party = true
require_pushed_authorization_requests = true
"#;
    sesame::import::import_text(&server.state, "pushed.toml", entry).await.expect("import");
    let registered = clients::find(&server.state.db, "actes-pushed").await.unwrap().unwrap();
    assert!(registered.require_pushed_authorization_requests);
    let client =
        rp::client(&server, "actes-pushed", Some("actes-pushed-secret-0123456789"), "https://pushed.example/cb").await;
    let request = rp::auth_request(&client, &[], &[]);
    let page = Browser::new().get(&request.url).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with("https://pushed.example/cb?"), "sent back to the client");
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    // Pushed, it goes through.
    let (status, body, _) =
        push(&server, Auth::Basic("actes-pushed", "actes-pushed-secret-0123456789"), &params_of(&request)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let url = authorize_url(&server, "actes-pushed", body["request_uri"].as_str().unwrap());
    let page = Browser::new().authorize(&server, &url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location_param("code").is_some(), "{:?}", page.location);
    // Other clients are not required to.
    let actes = rp::actes_web(&server).await;
    let page = Browser::new().get(&rp::auth_request(&actes, &[], &[]).url).await;
    assert!(page.location.as_deref().unwrap().starts_with("/login"), "{:?}", page.location);
}

async fn discovery_advertises_par_and_the_global_requirement(backend: Backend) {
    let server = TestServer::start(backend.clone()).await;
    let metadata: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["pushed_authorization_request_endpoint"], server.url("/par"));
    assert_eq!(metadata["require_pushed_authorization_requests"], false);

    let server = TestServer::start_with(backend, |config| {
        config.par.require_pushed_authorization_requests = true;
        config.par.request_uri_ttl = 600;
    })
    .await;
    let metadata: Value =
        reqwest::get(server.url("/.well-known/oauth-authorization-server")).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["require_pushed_authorization_requests"], true);
    let client = rp::actes_web(&server).await;
    let page = Browser::new().get(&rp::auth_request(&client, &[], &[]).url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"), "{:?}", page.location);
    let request = rp::auth_request(&client, &[], &[]);
    let (status, body, _) = push(&server, Auth::Basic("actes-web", ACTES_SECRET), &params_of(&request)).await;
    assert_eq!((status, body["expires_in"].as_i64()), (StatusCode::CREATED, Some(600)), "{body}");
    // Near the end of its life (the test clock follows real time: ten seconds of margin
    // for a loaded machine).
    server.clock.advance(590);
    let url = authorize_url(&server, "actes-web", body["request_uri"].as_str().unwrap());
    let page = Browser::new().authorize(&server, &url, "pauline", "correct horse battery").await;
    assert!(page.location_param("code").is_some(), "{:?}", page.location);
}

/// Anyone can push for a public client (its id is no secret) and each push writes a
/// row: counted per address. A confidential client's server pushes for all its users.
async fn pushes_of_public_clients_are_limited_per_address(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.rate_limits.login_per_ip_per_minute = 3).await;
    let desktop = rp::client(&server, "actes-desktop", None, "http://127.0.0.1:7777/callback").await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let params = params_of(&rp::auth_request(&desktop, &[], &[]));
        statuses.push(push(&server, Auth::Body(Vec::new()), &params).await.0);
    }
    assert_eq!(statuses[..3], [StatusCode::CREATED; 3]);
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS);
    let actes = rp::actes_web(&server).await;
    for _ in 0..5 {
        let params = params_of(&rp::auth_request(&actes, &[], &[]));
        let (status, body, _) = push(&server, Auth::Basic("actes-web", ACTES_SECRET), &params).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
}
