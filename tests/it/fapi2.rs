//! The FAPI 2.0 Security Profile as a client profile (`security_profile = "fapi2"`):
//! PAR, PKCE S256, private_key_jwt, DPoP-bound tokens, PS256/ES256/EdDSA only. Named
//! after the conformance suite's `fapi2-security-profile-final-*` modules of the
//! plan's `private_key_jwt` + `dpop` variant.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use sesame::crypto::jws::{SigningAlg, SigningKey};

use crate::dpop::DpopKey;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{Browser, header, payload};

on_every_backend!(
    fapi2_security_profile_happy_flow,
    fapi2_security_profile_ensure_holder_of_key_required,
    fapi2_security_profile_ensure_unsigned_authorization_request_without_using_par_fails,
    fapi2_security_profile_par_ensure_pkce_required,
    fapi2_security_profile_par_plain_pkce_rejected,
    fapi2_security_profile_ensure_redirect_uri_in_authorization_request,
    fapi2_security_profile_ensure_response_type_token_fails,
    fapi2_security_profile_ensure_signed_client_assertion_with_rs256_fails,
    fapi2_security_profile_dpop_proof_with_rs256_fails,
    fapi2_security_profile_dpop_proof_at_userinfo_with_rs256_fails,
    fapi2_security_profile_ensure_token_endpoint_fails_with_expired_auth_code,
    a_fapi2_client_is_refused_at_import_without_private_key_jwt_or_a_fapi_algorithm,
    a_fapi2_request_object_carries_exp_and_nbf_at_most_an_hour_apart,
);

const CLIENT_ID: &str = "actes-fapi2";
const REDIRECT_URI: &str = "https://fapi.example/cb";

/// The client's keys: ES256 for its assertions, and an RSA key its JWKS also holds.
struct Fapi2Client {
    es256: SigningKey,
    rs256: SigningKey,
    dpop: DpopKey,
}

/// Imports the FAPI 2.0 client, as an office would declare it.
async fn register(server: &TestServer) -> Fapi2Client {
    let (es256, _) = SigningKey::generate("fapi-es256".into(), SigningAlg::Es256).unwrap();
    let (rs256, _) = SigningKey::generate("fapi-rs256".into(), SigningAlg::Rs256).unwrap();
    let jwks = json!({"keys": [es256.public_jwk(), rs256.public_jwk()]});
    let import = format!(
        r#"
[[clients]]
client_id = "{CLIENT_ID}"
application = "INOTACTE"
redirect_uris = ["{REDIRECT_URI}"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "private_key_jwt"
id_token_signed_response_alg = "PS256"
security_profile = "fapi2"
first_party = true
jwks = '{jwks}'
"#
    );
    sesame::import::import_text(&server.state, "fapi2.toml", &import).await.expect("import the FAPI 2.0 client");
    let client = sesame::clients::find(&server.state.db, CLIENT_ID).await.unwrap().unwrap();
    assert!(client.is_fapi2() && client.requires_dpop());
    Fapi2Client { es256, rs256, dpop: DpopKey::es256() }
}

impl Fapi2Client {
    /// `client_assertion` parameters signed with `key`, `aud` the issuer (FAPI 2.0
    /// 5.3.2.1: the issuer is an accepted audience).
    fn assertion(&self, server: &TestServer, key: &SigningKey) -> Vec<(String, String)> {
        let now = server.clock_now();
        let claims = json!({
            "iss": CLIENT_ID, "sub": CLIENT_ID, "aud": server.issuer, "jti": uuid::Uuid::new_v4().to_string(),
            "iat": now, "exp": now + 60,
        });
        vec![
            ("client_assertion_type".into(), "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".into()),
            ("client_assertion".into(), key.sign("JWT", &claims).unwrap()),
        ]
    }
}

/// The parameters of a FAPI 2.0 authorization request, PKCE S256; the verifier.
fn authorization_params() -> (Vec<(String, String)>, String) {
    let (challenge, verifier) = openidconnect::PkceCodeChallenge::new_random_sha256();
    let params = [
        ("client_id", CLIENT_ID),
        ("response_type", "code"),
        ("scope", "openid profile"),
        ("redirect_uri", REDIRECT_URI),
        ("state", "fapi2-state"),
        ("nonce", "fapi2-nonce"),
        ("code_challenge", challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    (params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), verifier.secret().clone())
}

fn without(params: &[(String, String)], name: &str) -> Vec<(String, String)> {
    params.iter().filter(|(k, _)| k != name).cloned().collect()
}

fn with(params: &[(String, String)], name: &str, value: &str) -> Vec<(String, String)> {
    let mut params = without(params, name);
    params.push((name.into(), value.into()));
    params
}

/// POSTs a form with an optional DPoP proof; the status, headers and JSON body.
async fn post(url: &str, form: &[(String, String)], proof: Option<&str>) -> (StatusCode, HeaderMap, Value) {
    let mut request = reqwest::Client::new().post(url).form(form);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.unwrap();
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// Pushes `params` authenticated with the ES256 assertion (and a DPoP proof).
async fn push(server: &TestServer, client: &Fapi2Client, params: &[(String, String)]) -> (StatusCode, Value) {
    let mut form = params.to_vec();
    form.extend(client.assertion(server, &client.es256));
    let proof = client.dpop.proof("POST", &server.url("/par"), server.clock_now(), None, None);
    let (status, _, body) = post(&server.url("/par"), &form, Some(&proof)).await;
    (status, body)
}

/// A pushed request, the login at `/authorize`, and the code; checks the response's
/// `iss` and `state` (RFC 9207, FAPI 2.0 5.3.2.2).
async fn code(server: &TestServer, client: &Fapi2Client) -> (String, String) {
    let (params, verifier) = authorization_params();
    let (status, body) = push(server, client, &params).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(body["expires_in"].as_i64().unwrap() <= 600, "FAPI 2.0: a request_uri lives at most 10 minutes");
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", CLIENT_ID)
        .append_pair("request_uri", body["request_uri"].as_str().unwrap());
    let page = Browser::new().authorize(server, url.as_str(), "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with(&format!("{REDIRECT_URI}?")));
    assert_eq!(page.location_param("iss").as_deref(), Some(server.issuer.as_str()));
    assert_eq!(page.location_param("state").as_deref(), Some("fapi2-state"));
    (page.location_param("code").expect("a code"), verifier)
}

/// Redeems a code, authenticated with `assertion_key`, with the proof given if any.
async fn redeem(
    server: &TestServer,
    client: &Fapi2Client,
    assertion_key: &SigningKey,
    code: &str,
    verifier: &str,
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut form = client.assertion(server, assertion_key);
    form.extend([
        ("grant_type".to_string(), "authorization_code".to_string()),
        ("code".into(), code.into()),
        ("redirect_uri".into(), REDIRECT_URI.into()),
        ("code_verifier".into(), verifier.into()),
    ]);
    post(&server.url("/token"), &form, proof).await
}

async fn fapi2_security_profile_happy_flow(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (code, verifier) = code(&server, &client).await;
    let proof = client.dpop.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, tokens) = redeem(&server, &client, &client.es256, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["cnf"]["jkt"], client.dpop.thumbprint().as_str());
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(header(id_token)["alg"], "PS256");
    let claims = payload(id_token);
    assert_eq!((claims["aud"].as_str(), claims["nonce"].as_str()), (Some(CLIENT_ID), Some("fapi2-nonce")));
    // The resource (userinfo) with the bound token.
    let userinfo_url = server.url("/userinfo");
    let proof = client.dpop.proof("GET", &userinfo_url, server.clock_now(), Some(access), None);
    let response = reqwest::Client::new()
        .get(&userinfo_url)
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // fapi2-security-profile-final-refresh-token: the refresh grant, bound again.
    let mut form = client.assertion(&server, &client.es256);
    form.extend([
        ("grant_type".to_string(), "refresh_token".to_string()),
        ("refresh_token".into(), tokens["refresh_token"].as_str().unwrap().into()),
    ]);
    let proof = client.dpop.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, refreshed) = post(&server.url("/token"), &form, Some(&proof)).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["token_type"], "DPoP");
}

/// Sender-constrained tokens are required: no proof, no token (and the code waits).
async fn fapi2_security_profile_ensure_holder_of_key_required(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (code, verifier) = code(&server, &client).await;
    let (status, _, body) = redeem(&server, &client, &client.es256, &code, &verifier, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let proof = client.dpop.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &client, &client.es256, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
}

async fn fapi2_security_profile_ensure_unsigned_authorization_request_without_using_par_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(&server).await;
    let (params, _) = authorization_params();
    let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let page = Browser::new().authorize(&server, url.as_str(), "pauline", "correct horse battery").await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"), "{:?}", page.location);
    assert!(page.location_param("code").is_none());
}

async fn fapi2_security_profile_par_ensure_pkce_required(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (params, _) = authorization_params();
    let params = without(&without(&params, "code_challenge"), "code_challenge_method");
    let (status, body) = push(&server, &client, &params).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
}

async fn fapi2_security_profile_par_plain_pkce_rejected(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (params, _) = authorization_params();
    for method in [Some("plain"), None] {
        // A challenge without its method is plain in RFC 7636: a FAPI 2.0 client says S256.
        let params = match method {
            Some(method) => with(&params, "code_challenge_method", method),
            None => without(&params, "code_challenge_method"),
        };
        let (status, body) = push(&server, &client, &params).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{method:?}");
    }
    let (params, _) = authorization_params();
    assert_eq!(push(&server, &client, &params).await.0, StatusCode::CREATED, "S256 stated is accepted");
}

async fn fapi2_security_profile_ensure_redirect_uri_in_authorization_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (params, _) = authorization_params();
    let (status, body) = push(&server, &client, &without(&params, "redirect_uri")).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_request")), "{body}");
}

/// Also fapi2-security-profile-final-ensure-response-type-code-idtoken-fails.
async fn fapi2_security_profile_ensure_response_type_token_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (params, _) = authorization_params();
    for response_type in ["token", "code id_token"] {
        let (status, body) = push(&server, &client, &with(&params, "response_type", response_type)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{response_type}: {body}");
        assert_eq!(body["error"], "unsupported_response_type", "{response_type}");
    }
}

/// PS256, ES256 or EdDSA only: an RS256 assertion by a registered key is refused.
async fn fapi2_security_profile_ensure_signed_client_assertion_with_rs256_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (code, verifier) = code(&server, &client).await;
    let proof = client.dpop.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &client, &client.rs256, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    // At the push too.
    let (params, _) = authorization_params();
    let mut form = params.clone();
    form.extend(client.assertion(&server, &client.rs256));
    let (status, _, body) = post(&server.url("/par"), &form, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
}

/// A proof signed RS256 is refused for a FAPI 2.0 client (5.4), accepted for others.
async fn fapi2_security_profile_dpop_proof_with_rs256_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let (code, verifier) = code(&server, &client).await;
    let rsa = DpopKey::rs256();
    let proof = rsa.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &client, &client.es256, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");

    // The same kind of proof is good for a client without the profile.
    let proof = rsa.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
        .header("DPoP", proof)
        .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], rsa.thumbprint().as_str());
}

/// An RSA key may sign PS256 and RS256: bound by a PS256 proof at the token endpoint,
/// the token is still refused with an RS256 proof of the same key at userinfo.
async fn fapi2_security_profile_dpop_proof_at_userinfo_with_rs256_fails(backend: Backend) {
    let server = TestServer::start(backend).await;
    let mut client = register(&server).await;
    let (ps256, rs256) = DpopKey::ps256_and_rs256();
    assert_eq!(ps256.thumbprint(), rs256.thumbprint());
    // The push binds the code to the PS256 key (its proof at /par).
    client.dpop = ps256;
    let (code, verifier) = code(&server, &client).await;
    let ps256 = &client.dpop;
    let proof = ps256.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &client, &client.es256, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let userinfo_url = server.url("/userinfo");
    let get = |proof: String| {
        reqwest::Client::new()
            .get(&userinfo_url)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", proof)
            .send()
    };
    let refused = get(rs256.proof("GET", &userinfo_url, server.clock_now(), Some(access), None)).await.unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = get(ps256.proof("GET", &userinfo_url, server.clock_now(), Some(access), None)).await.unwrap();
    assert_eq!(accepted.status(), 200);
}

/// FAPI 2.0 5.3.2.1: codes live at most 60 seconds, whatever the server's setting.
async fn fapi2_security_profile_ensure_token_endpoint_fails_with_expired_auth_code(backend: Backend) {
    let server = TestServer::start_with(backend, |config| config.tokens.authorization_code_ttl = 600).await;
    let client = register(&server).await;
    let (code, verifier) = code(&server, &client).await;
    server.clock.advance(61);
    let proof = client.dpop.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &client, &client.es256, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}

/// The profile's registration rules: private_key_jwt, and algorithms of the profile for
/// ID tokens, access tokens, userinfo responses and request objects; a mistake is refused naming the field, not silently changed.
async fn a_fapi2_client_is_refused_at_import_without_private_key_jwt_or_a_fapi_algorithm(backend: Backend) {
    let server = TestServer::start(backend).await;
    let entry = |extra: &str| {
        format!(
            "[[clients]]\nclient_id = \"fapi-bad\"\nredirect_uris = [\"{REDIRECT_URI}\"]\nsecurity_profile = \"fapi2\"\n{extra}\n"
        )
    };
    let (key, _) = SigningKey::generate("k".into(), SigningAlg::Es256).unwrap();
    let jwks = format!("jwks = '{}'", json!({"keys": [key.public_jwk()]}));
    let cases = [
        (
            entry("secret = \"a-long-enough-secret\"\nid_token_signed_response_alg = \"ES256\""),
            "token_endpoint_auth_method",
        ),
        (entry(&format!("token_endpoint_auth_method = \"private_key_jwt\"\n{jwks}")), "id_token_signed_response_alg"),
        (
            entry(&format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\nid_token_signed_response_alg = \"RS256\"\n{jwks}"
            )),
            "id_token_signed_response_alg",
        ),
        (
            entry(&format!(
                "token_endpoint_auth_method = \"private_key_jwt\"\nid_token_signed_response_alg = \"ES256\"\n{jwks}"
            ))
            .replace("\"fapi2\"", "\"fapi1\""),
            "security_profile",
        ),
    ];
    let fapi = |extra: &str| {
        entry(&format!(
            "token_endpoint_auth_method = \"private_key_jwt\"\nid_token_signed_response_alg = \"ES256\"\n{jwks}\n{extra}"
        ))
    };
    let other_algs = [
        fapi("access_token_signed_response_alg = \"RS256\""),
        fapi("userinfo_signed_response_alg = \"RS256\""),
        fapi("request_object_signing_alg = \"RS256\""),
        fapi("request_object_signing_alg = \"none\""),
    ];
    let cases = cases.into_iter().chain(other_algs.map(|text| (text, "security_profile")));
    for (text, field) in cases {
        let error = sesame::import::import_text(&server.state, "bad.toml", &text).await.expect_err(field).to_string();
        assert!(error.contains(field), "{field}: {error}");
    }
    let good = entry(&format!(
        "token_endpoint_auth_method = \"private_key_jwt\"\nid_token_signed_response_alg = \"EdDSA\"\n{jwks}"
    ));
    sesame::import::import_text(&server.state, "good.toml", &good).await.expect("a FAPI 2.0 client");
}

/// FAPI 2.0 Message Signing 5.3.1 / Security Profile 5.3.2.1: a request object pushed by
/// a FAPI 2.0 client has `exp` and `nbf`, at most 60 minutes apart.
async fn a_fapi2_request_object_carries_exp_and_nbf_at_most_an_hour_apart(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = register(&server).await;
    let now = server.clock_now();
    let (params, _) = authorization_params();
    let signed = |window: Option<(i64, i64)>| {
        let mut claims = json!({"iss": CLIENT_ID, "aud": server.issuer, "jti": uuid::Uuid::new_v4().to_string()});
        for (name, value) in &params {
            claims[name] = json!(value);
        }
        if let Some((nbf, exp)) = window {
            claims["nbf"] = json!(now + nbf);
            claims["exp"] = json!(now + exp);
        }
        let object = client.es256.sign("oauth-authz-req+jwt", &claims).unwrap();
        vec![("client_id".to_string(), CLIENT_ID.to_string()), ("request".to_string(), object)]
    };
    for (window, why) in [
        (None, "without exp and nbf"),
        (Some((-3700, 60)), "61 minutes and 40 seconds from nbf to exp"),
        (Some((-60, 3590)), "60 minutes and 50 seconds from nbf to exp"),
    ] {
        let (status, body) = push(&server, &client, &signed(window)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
        assert_eq!(body["error"], "invalid_request_object", "{why}: {body}");
    }
    let (status, body) = push(&server, &client, &signed(Some((-5, 3595)))).await;
    assert_eq!(status, StatusCode::CREATED, "exactly 60 minutes from nbf to exp: {body}");
}
