//! DPoP (RFC 9449): tokens bound to a key the client proves it holds at every request.
//! The client side is implemented here from the RFC, on aws-lc directly (proofs,
//! RFC 7638 thumbprints), not with Sésame's own JWS code, so that the two check each
//! other. Names follow the FAPI 2.0 conformance modules (`fapi2-security-profile-final-
//! *dpop*`) where one applies.

use std::collections::HashSet;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    fapi2_security_profile_dpop_happy_flow_binds_tokens_to_the_key,
    a_dpop_bound_token_presented_as_bearer_is_refused,
    a_dpop_bound_administrators_token_is_refused_by_the_admin_api,
    fapi2_security_profile_dpop_negative_tests,
    fapi2_security_profile_ensure_dpopproof_with_iat_10seconds_before_and_after_succeeds,
    fapi2_security_profile_check_dpop_proof_nbf_exp,
    a_dpop_proof_replayed_twenty_times_at_once_is_accepted_once,
    a_dpop_proof_is_single_use_across_nodes,
    dpop_nonces_are_required_given_and_accepted_by_every_node,
    a_public_clients_refresh_token_is_bound_to_its_dpop_key,
    fapi2_security_profile_ensure_token_endpoint_fails_with_mismatched_dpop_jkt,
    fapi2_security_profile_ensure_dpopproof_at_par_endpoint_binding_success,
    a_dpop_bound_access_tokens_client_must_send_a_proof,
    introspection_and_discovery_tell_about_dpop,
    spent_proofs_are_swept_by_the_janitor,
);

const ACTES_SECRET: &str = "actes-web-secret-0123456789";
const ACTES_REDIRECT: &str = "https://actes.example/callback";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn sha256_b64(text: &str) -> String {
    b64(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, text.as_bytes()).as_ref())
}

/// A client's DPoP key: ES256 (P-256), EdDSA (Ed25519) or RSA 2048 signing RS256 or
/// PS256.
pub enum DpopKey {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rsa(RsaKeyPair, &'static str),
}

impl DpopKey {
    pub fn es256() -> Self {
        Self::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub fn ed25519() -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().unwrap())
    }

    pub fn rs256() -> Self {
        Self::Rsa(RsaKeyPair::generate(KeySize::Rsa2048).unwrap(), "RS256")
    }

    /// One RSA key twice: signing PS256, and signing RS256 (one thumbprint).
    pub fn ps256_and_rs256() -> (Self, Self) {
        use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
        let pair = RsaKeyPair::generate(KeySize::Rsa2048).unwrap();
        let pkcs8: Pkcs8V1Der = pair.as_der().unwrap();
        let again = || RsaKeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
        (Self::Rsa(again(), "PS256"), Self::Rsa(again(), "RS256"))
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
            Self::Rsa(_, alg) => alg,
        }
    }

    /// The public key as a JWK (RFC 7517), members in no particular order.
    pub fn jwk(&self) -> Value {
        match self {
            Self::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"y": b64(&point[33..65]), "x": b64(&point[1..33]), "kty": "EC", "crv": "P-256"})
            }
            Self::EdDsa(pair) => json!({"x": b64(pair.public_key().as_ref()), "kty": "OKP", "crv": "Ed25519"}),
            Self::Rsa(pair, _) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"n": b64(&components.n), "kty": "RSA", "e": b64(&components.e)})
            }
        }
    }

    /// RFC 7638: SHA-256 of the required members in lexicographic order, no whitespace.
    pub fn thumbprint(&self) -> String {
        let jwk = self.jwk();
        let canonical = match self {
            Self::Es256(_) => format!(
                r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
                jwk["x"].as_str().unwrap(),
                jwk["y"].as_str().unwrap()
            ),
            Self::EdDsa(_) => format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#, jwk["x"].as_str().unwrap()),
            Self::Rsa(..) => {
                format!(r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#, jwk["e"].as_str().unwrap(), jwk["n"].as_str().unwrap())
            }
        };
        sha256_b64(&canonical)
    }

    fn sign_bytes(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Es256(pair) => pair.sign(&SystemRandom::new(), message).unwrap().as_ref().to_vec(),
            Self::EdDsa(pair) => pair.sign(message).as_ref().to_vec(),
            Self::Rsa(pair, alg) => {
                let padding: &'static dyn aws_lc_rs::signature::RsaEncoding =
                    if *alg == "PS256" { &RSA_PSS_SHA256 } else { &RSA_PKCS1_SHA256 };
                let mut signature = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &SystemRandom::new(), message, &mut signature).unwrap();
                signature
            }
        }
    }

    /// A compact JWS of `header` and `claims`, signed with this key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        format!("{input}.{}", b64(&self.sign_bytes(input.as_bytes())))
    }

    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    /// A proof for `htm` `htu`, made at `iat`, for `access_token` (its `ath`) if any,
    /// with the server's `nonce` if any.
    pub fn proof(&self, htm: &str, htu: &str, iat: i64, access_token: Option<&str>, nonce: Option<&str>) -> String {
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
        if let Some(token) = access_token {
            claims["ath"] = json!(sha256_b64(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.sign(&self.header(), &claims)
    }
}

/// A token endpoint request; the status, headers and JSON body.
async fn token_request(
    server: &TestServer,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request = reqwest::Client::new().post(server.url("/token")).form(form);
    if let Some((id, secret)) = basic {
        request = request.basic_auth(id, Some(secret));
    }
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.expect("POST /token");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

/// `GET /userinfo` with `Authorization: <scheme> <token>` and the proof if any.
async fn userinfo(
    server: &TestServer,
    scheme: &str,
    token: &str,
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let mut request =
        reqwest::Client::new().get(server.url("/userinfo")).header("Authorization", format!("{scheme} {token}"));
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    let response = request.send().await.expect("GET /userinfo");
    let (status, headers) = (response.status(), response.headers().clone());
    (status, headers, response.json().await.unwrap_or(Value::Null))
}

fn www_authenticate(headers: &HeaderMap) -> String {
    headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

/// A code of `actes-web` for pauline (openid profile), with `extra` authorization
/// parameters; the code and its PKCE verifier.
async fn actes_code(server: &TestServer, extra: &[(&str, &str)]) -> (String, String) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["profile"], extra);
    let page = Browser::new().authorize(server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    (page.location_param("code").expect("a code"), request.verifier.secret().clone())
}

/// Redeems an actes-web code with the proof given, if any.
async fn redeem(
    server: &TestServer,
    code: &str,
    verifier: &str,
    proof: Option<&str>,
) -> (StatusCode, HeaderMap, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", ACTES_REDIRECT),
        ("code_verifier", verifier),
    ];
    token_request(server, Some(("actes-web", ACTES_SECRET)), &form, proof).await
}

/// A DPoP-bound access token of actes-web for pauline, and the key it is bound to.
async fn bound_token(server: &TestServer) -> (String, DpopKey) {
    let key = DpopKey::es256();
    let (code, verifier) = actes_code(server, &[]).await;
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    (body["access_token"].as_str().unwrap().to_string(), key)
}

async fn fapi2_security_profile_dpop_happy_flow_binds_tokens_to_the_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = DpopKey::es256();
    let (code, verifier) = actes_code(&server, &[]).await;
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, headers, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert!(headers.contains_key("dpop-nonce"), "a nonce for the next proof");
    let access = body["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["cnf"], json!({"jkt": key.thumbprint()}), "RFC 7638 thumbprint of the key");
    assert!(body["refresh_token"].is_string());

    let userinfo_url = server.url("/userinfo");
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(access), None);
    let (status, _, claims) = userinfo(&server, "DPoP", access, Some(&proof)).await;
    assert_eq!(status, 200, "{claims}");
    assert!(claims["sub"].is_string());
    // The query of the URL does not count (RFC 9449 4.3); POST is another method.
    let with_query = key.proof("GET", &format!("{userinfo_url}?x=1#frag"), server.clock_now(), Some(access), None);
    assert_eq!(userinfo(&server, "DPoP", access, Some(&with_query)).await.0, 200);
    let response = reqwest::Client::new()
        .post(&userinfo_url)
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", key.proof("POST", &userinfo_url, server.clock_now(), Some(access), None))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    // The same proof again is a replay.
    let (status, headers, body) = userinfo(&server, "DPoP", access, Some(&proof)).await;
    assert_eq!(status, 401, "{body}");
    assert!(www_authenticate(&headers).starts_with("DPoP error=\"invalid_dpop_proof\""), "{headers:?}");

    // Revocation still ends a bound token.
    let response = reqwest::Client::new()
        .post(server.url("/revoke"))
        .basic_auth("actes-web", Some(ACTES_SECRET))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(access), None);
    let (status, headers, _) = userinfo(&server, "DPoP", access, Some(&proof)).await;
    assert_eq!(status, 401);
    assert!(www_authenticate(&headers).contains("error=\"invalid_token\""), "{headers:?}");
}

/// RFC 9449 7.2: a DPoP-bound token used as a bearer token is refused, and so is an
/// unbound token presented with the DPoP scheme.
/// The administration API takes bearer tokens only: a bound token (stolen without its
/// key) opens nothing there, while the same administrator's unbound token does.
async fn a_dpop_bound_administrators_token_is_refused_by_the_admin_api(backend: Backend) {
    let server = TestServer::start(backend).await;
    let secret = "admin-tool-secret-0123456789";
    let redirect = "https://admin.example/callback";
    let client = rp::client(&server, "admin-tool", Some(secret), redirect).await;
    let request = rp::auth_request(&client, &["sesame:admin"], &[]);
    let page = Browser::new().authorize(&server, &request.url, "sonia", "orange tulip garden").await;
    let code = page.location_param("code").expect("a code");
    let key = DpopKey::es256();
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", request.verifier.secret().as_str()),
    ];
    let (status, _, body) = token_request(&server, Some(("admin-tool", secret)), &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let url = server.url("/admin/api/v1/accounts");
    let accounts = |token: String| {
        let url = url.clone();
        async move {
            let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            (response.status(), response.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (status, body) = accounts(body["access_token"].as_str().unwrap().to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.to_string().contains("bound to a DPoP key"), "{body}");
    let (status, body) = accounts(crate::admin_api::admin_token(&server).await).await;
    assert_eq!(status, StatusCode::OK, "an unbound token of the same administrator: {body}");
}

async fn a_dpop_bound_token_presented_as_bearer_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (access, key) = bound_token(&server).await;
    let (status, headers, body) = userinfo(&server, "Bearer", &access, None).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"], "invalid_token");
    let challenge = www_authenticate(&headers);
    assert!(challenge.starts_with("DPoP error=\"invalid_token\""), "{challenge}");
    assert!(challenge.contains("algs=\"RS256 PS256 ES256 EdDSA\""), "{challenge}");
    // With a valid proof alongside, still not as Bearer.
    let proof = key.proof("GET", &server.url("/userinfo"), server.clock_now(), Some(&access), None);
    assert_eq!(userinfo(&server, "Bearer", &access, Some(&proof)).await.0, 401);
    // In the form body (RFC 6750 2.2) neither.
    let response = reqwest::Client::new()
        .post(server.url("/userinfo"))
        .form(&[("access_token", access.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    // An unbound token (no proof at the token endpoint) is a bearer token.
    let (code, verifier) = actes_code(&server, &[]).await;
    let (status, _, body) = redeem(&server, &code, &verifier, None).await;
    assert_eq!((status, body["token_type"].as_str()), (StatusCode::OK, Some("Bearer")));
    let bearer = body["access_token"].as_str().unwrap();
    assert!(payload(bearer).get("cnf").is_none());
    assert_eq!(userinfo(&server, "Bearer", bearer, None).await.0, 200);
    let proof = key.proof("GET", &server.url("/userinfo"), server.clock_now(), Some(bearer), None);
    assert_eq!(userinfo(&server, "DPoP", bearer, Some(&proof)).await.0, 401);
    // No token at all: both schemes are offered.
    let response = reqwest::Client::new().get(server.url("/userinfo")).send().await.unwrap();
    assert!(www_authenticate(response.headers()).contains("DPoP algs="));
}

/// fapi2-security-profile-final-dpop-negative-tests and more: every malformed or
/// misdirected proof is refused with invalid_dpop_proof, and the code it came with is
/// not spent (a good proof then redeems it: the refusals were the proofs').
async fn fapi2_security_profile_dpop_negative_tests(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = DpopKey::es256();
    let (code, verifier) = actes_code(&server, &[]).await;
    let token_url = server.url("/token");
    let now = server.clock_now();
    let claims = |htm: &str, htu: &str, iat: i64| json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": htm, "htu": htu, "iat": iat});
    let mut private_jwk = key.jwk();
    private_jwk["d"] = json!(b64(&[7u8; 32]));
    let hs256 = {
        let header = json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": {"kty": "oct", "k": b64(b"secret")}});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims("POST", &token_url, now).to_string().as_bytes())
        );
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, b"secret"),
            input.as_bytes(),
        );
        format!("{input}.{}", b64(mac.as_ref()))
    };
    let none = format!(
        "{}.{}.",
        b64(json!({"typ": "dpop+jwt", "alg": "none", "jwk": key.jwk()}).to_string().as_bytes()),
        b64(claims("POST", &token_url, now).to_string().as_bytes())
    );
    let other_key = DpopKey::es256();
    let signed_by_other = {
        // The header names one key, another signed.
        let input = format!(
            "{}.{}",
            b64(key.header().to_string().as_bytes()),
            b64(claims("POST", &token_url, now).to_string().as_bytes())
        );
        format!("{input}.{}", b64(&other_key.sign_bytes(input.as_bytes())))
    };
    let cases: Vec<(&str, String)> = vec![
        ("another htu", key.proof("POST", &server.url("/userinfo"), now, None, None)),
        ("another host", key.proof("POST", "https://evil.example/token", now, None, None)),
        ("another htm", key.proof("GET", &token_url, now, None, None)),
        ("stale iat", key.proof("POST", &token_url, now - 120, None, None)),
        ("iat in the future", key.proof("POST", &token_url, now + 120, None, None)),
        ("alg none", none),
        ("alg HS256", hs256),
        (
            "private key in jwk",
            key.sign(&json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk}), &claims("POST", &token_url, now)),
        ),
        (
            "typ JWT",
            key.sign(&json!({"typ": "JWT", "alg": "ES256", "jwk": key.jwk()}), &claims("POST", &token_url, now)),
        ),
        ("no jwk", key.sign(&json!({"typ": "dpop+jwt", "alg": "ES256"}), &claims("POST", &token_url, now))),
        ("no jti", key.sign(&key.header(), &json!({"htm": "POST", "htu": token_url, "iat": now}))),
        ("bad signature", signed_by_other),
        ("not a JWT", "not-a-jwt".into()),
    ];
    for (what, proof) in &cases {
        let (status, _, body) = redeem(&server, &code, &verifier, Some(proof)).await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}: {body}");
    }
    // Two DPoP headers: one proof per request (RFC 9449 4.3).
    let proof = key.proof("POST", &token_url, now, None, None);
    let response = reqwest::Client::new()
        .post(&token_url)
        .basic_auth("actes-web", Some(ACTES_SECRET))
        .header("DPoP", &proof)
        .header("DPoP", key.proof("POST", &token_url, now, None, None))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", ACTES_REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "the code was not spent by the refused proofs: {body}");
    let access = body["access_token"].as_str().unwrap();

    // At userinfo: a wrong ath, another key, the token endpoint's URL.
    let userinfo_url = server.url("/userinfo");
    let wrong_ath = key.proof("GET", &userinfo_url, now, Some("another-token"), None);
    let no_ath = key.proof("GET", &userinfo_url, now, None, None);
    let other = other_key.proof("GET", &userinfo_url, now, Some(access), None);
    let elsewhere = key.proof("GET", &token_url, now, Some(access), None);
    for (what, proof) in
        [("wrong ath", wrong_ath), ("no ath", no_ath), ("another key", other), ("another htu", elsewhere)]
    {
        let (status, headers, body) = userinfo(&server, "DPoP", access, Some(&proof)).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(body["error"], "invalid_dpop_proof", "{what}");
        assert!(www_authenticate(&headers).starts_with("DPoP error=\"invalid_dpop_proof\""), "{what}");
    }
    assert_eq!(userinfo(&server, "DPoP", access, None).await.0, 401, "no proof");
    let good = key.proof("GET", &userinfo_url, now, Some(access), None);
    assert_eq!(userinfo(&server, "DPoP", access, Some(&good)).await.0, 200);
}

/// fapi2-security-profile-final-ensure-dpopproof-with-iat-10seconds-{before,after}-succeeds:
/// clocks differ a little.
async fn fapi2_security_profile_ensure_dpopproof_with_iat_10seconds_before_and_after_succeeds(backend: Backend) {
    let server = TestServer::start(backend).await;
    for offset in [-10, 10] {
        let key = DpopKey::ed25519();
        let (code, verifier) = actes_code(&server, &[]).await;
        let proof = key.proof("POST", &server.url("/token"), server.clock_now() + offset, None, None);
        let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
        assert_eq!(status, 200, "iat {offset:+}: {body}");
        assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    }
}

/// fapi2-security-profile-final-check-dpop-proof-nbf-exp: `nbf` now and `exp` in five
/// minutes are accepted; an `exp` in the past is not.
async fn fapi2_security_profile_check_dpop_proof_nbf_exp(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = DpopKey::es256();
    let now = server.clock_now();
    let token_url = server.url("/token");
    let with = |extra: Value| {
        let mut claims = json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": token_url, "iat": now});
        for (name, value) in extra.as_object().unwrap() {
            claims[name] = value.clone();
        }
        key.sign(&key.header(), &claims)
    };
    let (code, verifier) = actes_code(&server, &[]).await;
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&with(json!({"exp": now - 1})))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")));
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&with(json!({"nbf": now, "exp": now + 300})))).await;
    assert_eq!(status, 200, "{body}");
}

/// 20 identical proofs at once: one is accepted, at userinfo and at the token endpoint.
async fn a_dpop_proof_replayed_twenty_times_at_once_is_accepted_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (access, key) = bound_token(&server).await;
    let userinfo_url = server.url("/userinfo");
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), None);
    let attempts = (0..20).map(|_| {
        reqwest::Client::new()
            .get(&userinfo_url)
            .header("Authorization", format!("DPoP {access}"))
            .header("DPoP", &proof)
    });
    let statuses: Vec<StatusCode> = all_at_once(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
    assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::UNAUTHORIZED), "{statuses:?}");

    // client_credentials: the same proof twenty times, one token.
    let token_url = server.url("/token");
    let proof = key.proof("POST", &token_url, server.clock_now(), None, None);
    let attempts = (0..20).map(|_| {
        reqwest::Client::new()
            .post(&token_url)
            .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
            .header("DPoP", &proof)
            .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
    });
    let answers = all_at_once(attempts).await;
    let issued: Vec<&Value> = answers.iter().filter(|(s, _)| *s == StatusCode::OK).map(|(_, b)| b).collect();
    assert_eq!(issued.len(), 1, "{answers:?}");
    assert_eq!(issued[0]["token_type"], "DPoP");
    assert_eq!(payload(issued[0]["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    for (status, body) in answers.iter().filter(|(s, _)| *s != StatusCode::OK) {
        assert_eq!((*status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")));
    }
}

/// Sends the requests at once (each on its own task) and waits for every answer.
async fn all_at_once(requests: impl Iterator<Item = reqwest::RequestBuilder>) -> Vec<(StatusCode, Value)> {
    let mut tries = tokio::task::JoinSet::new();
    for request in requests {
        tries.spawn(async move {
            let response = request.send().await.expect("the request reaches the server");
            (response.status(), response.json::<Value>().await.unwrap_or(Value::Null))
        });
    }
    tries.join_all().await
}

/// Two nodes of one issuer on one database: a proof spent on one is spent on both.
async fn a_dpop_proof_is_single_use_across_nodes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let issuer = server.issuer.clone();
    let second = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        server.database_url.clone(),
        move |config| config.issuer = issuer,
        false,
    )
    .await;
    let key = DpopKey::es256();
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let attempts = (0..20).map(|i| {
        // The second node listens elsewhere but serves the same issuer: the proof's htu.
        let url = if i % 2 == 0 { server.url("/token") } else { second.url("/token") };
        reqwest::Client::new()
            .post(url)
            .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
            .header("DPoP", &proof)
            .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
    });
    let statuses: Vec<StatusCode> = all_at_once(attempts).await.into_iter().map(|(s, _)| s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1, "{statuses:?}");
}

/// RFC 9449 8, 9: with `dpop.require_nonce`, a proof without the server's nonce is
/// answered use_dpop_nonce with one to retry with; a nonce of one node is good on
/// another (nothing shared but the master key); an old or forged nonce is refused.
async fn dpop_nonces_are_required_given_and_accepted_by_every_node(backend: Backend) {
    let server = TestServer::start_with(backend, |config| {
        config.dpop.require_nonce = true;
        config.dpop.nonce_lifetime = 60;
    })
    .await;
    let key = DpopKey::es256();
    let (code, verifier) = actes_code(&server, &[]).await;
    let token_url = server.url("/token");
    let proof = key.proof("POST", &token_url, server.clock_now(), None, None);
    let (status, headers, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")), "{body}");
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_string();
    for forged in ["forged", "123.AAAA"] {
        let proof = key.proof("POST", &token_url, server.clock_now(), None, Some(forged));
        let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
        assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("use_dpop_nonce")), "{forged}");
    }
    let proof = key.proof("POST", &token_url, server.clock_now(), None, Some(&nonce));
    let (status, headers, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "the code waited for the retry: {body}");
    assert!(headers.contains_key("dpop-nonce"));
    let access = body["access_token"].as_str().unwrap().to_string();

    // At userinfo: 401 with a DPoP challenge and the nonce.
    let userinfo_url = server.url("/userinfo");
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), None);
    let (status, headers, _) = userinfo(&server, "DPoP", &access, Some(&proof)).await;
    assert_eq!(status, 401);
    assert!(www_authenticate(&headers).starts_with("DPoP error=\"use_dpop_nonce\""), "{headers:?}");
    let fresh = headers["dpop-nonce"].to_str().unwrap().to_string();
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), Some(&fresh));
    assert_eq!(userinfo(&server, "DPoP", &access, Some(&proof)).await.0, 200);

    // Another node of the same deployment takes this node's nonce.
    let issuer = server.issuer.clone();
    let second = TestServer::start_on(
        tempfile::tempdir().unwrap(),
        server.database_url.clone(),
        move |config| {
            config.issuer = issuer;
            config.dpop.require_nonce = true;
            config.dpop.nonce_lifetime = 60;
        },
        false,
    )
    .await;
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), Some(&fresh));
    let response = reqwest::Client::new()
        .get(second.url("/userinfo"))
        .header("Authorization", format!("DPoP {access}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "the second node knows the first one's nonce");

    // Two nonce lifetimes later the nonce is stale (the token, 600 s, still lives).
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), Some(&fresh));
    assert_eq!(userinfo(&server, "DPoP", &access, Some(&proof)).await.0, 200, "still fresh");
    server.clock.advance(2 * server.state.config.dpop.nonce_lifetime);
    let proof = key.proof("GET", &userinfo_url, server.clock_now(), Some(&access), Some(&fresh));
    let (status, headers, _) = userinfo(&server, "DPoP", &access, Some(&proof)).await;
    assert_eq!(status, 401);
    assert!(www_authenticate(&headers).contains("use_dpop_nonce"));
}

/// RFC 9449 5: a public client's refresh token is bound to its DPoP key: refused with
/// another key or without a proof (and not spent by the refusal), and its successor
/// stays bound.
async fn a_public_clients_refresh_token_is_bound_to_its_dpop_key(backend: Backend) {
    let server = TestServer::start(backend).await;
    let redirect_uri = "http://127.0.0.1:7799/callback";
    let client = rp::client(&server, "inotacte-desktop", None, redirect_uri).await;
    let request = rp::auth_request(&client, &[], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let code = page.location_param("code").unwrap();
    let key = DpopKey::ed25519();
    let token_url = server.url("/token");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", "inotacte-desktop"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri),
        ("code_verifier", request.verifier.secret().as_str()),
    ];
    let proof = key.proof("POST", &token_url, server.clock_now(), None, None);
    let (status, _, body) = token_request(&server, None, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    let refresh = body["refresh_token"].as_str().expect("a refresh token").to_string();

    let refresh_form = |token: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", "inotacte-desktop".into()),
            ("refresh_token", token.to_string()),
        ]
    };
    let send = |token: String, proof: Option<String>| {
        let server = &server;
        async move {
            let form = refresh_form(&token);
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            token_request(server, None, &form, proof.as_deref()).await
        }
    };
    let thief = DpopKey::es256();
    let (status, _, body) =
        send(refresh.clone(), Some(thief.proof("POST", &token_url, server.clock_now(), None, None))).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let (status, _, body) = send(refresh.clone(), None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let (status, _, body) =
        send(refresh.clone(), Some(key.proof("POST", &token_url, server.clock_now(), None, None))).await;
    assert_eq!(status, 200, "the refusals did not spend it: {body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    let next = body["refresh_token"].as_str().unwrap().to_string();
    let (status, _, _) =
        send(next.clone(), Some(thief.proof("POST", &token_url, server.clock_now(), None, None))).await;
    assert_eq!(status, 400, "the successor is bound to the same key");
    let (status, _, body) = send(next, Some(key.proof("POST", &token_url, server.clock_now(), None, None))).await;
    assert_eq!(status, 200, "{body}");
}

/// RFC 9449 10: `dpop_jkt` in the authorization request binds the code to a key.
async fn fapi2_security_profile_ensure_token_endpoint_fails_with_mismatched_dpop_jkt(backend: Backend) {
    let server = TestServer::start(backend).await;
    let key = DpopKey::es256();
    let other = DpopKey::es256();
    let token_url = server.url("/token");
    let (code, verifier) = actes_code(&server, &[("dpop_jkt", &key.thumbprint())]).await;
    let proof = other.proof("POST", &token_url, server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
    let (code, verifier) = actes_code(&server, &[("dpop_jkt", &key.thumbprint())]).await;
    let (status, _, body) = redeem(&server, &code, &verifier, None).await;
    assert_eq!(status, 400, "without a proof either: {body}");
    // fapi2-security-profile-final-ensure-dpop-auth-code-binding-success
    let (code, verifier) = actes_code(&server, &[("dpop_jkt", &key.thumbprint())]).await;
    let proof = key.proof("POST", &token_url, server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(payload(body["access_token"].as_str().unwrap())["cnf"]["jkt"], key.thumbprint().as_str());
    // A dpop_jkt that is no thumbprint is refused at the authorization endpoint.
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("dpop_jkt", "not a thumbprint")]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"), "{:?}", page.location);
}

/// RFC 9449 10.1: a proof sent to `/par` binds the code to its key.
async fn fapi2_security_profile_ensure_dpopproof_at_par_endpoint_binding_success(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let key = DpopKey::es256();
    let par_url = server.url("/par");
    let push = |proof: Option<String>, extra: Vec<(String, String)>| {
        let request = rp::auth_request(&client, &[], &[]);
        let mut params: Vec<(String, String)> = url::Url::parse(&request.url)
            .unwrap()
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        params.extend(extra);
        let par_url = par_url.clone();
        async move {
            let mut http =
                reqwest::Client::new().post(par_url).basic_auth("actes-web", Some(ACTES_SECRET)).form(&params);
            if let Some(proof) = proof {
                http = http.header("DPoP", proof);
            }
            let response = http.send().await.unwrap();
            let (status, headers) = (response.status(), response.headers().clone());
            (status, headers, response.json::<Value>().await.unwrap(), request.verifier.secret().clone())
        }
    };
    // dpop_jkt and the proof name different keys: refused.
    let other = DpopKey::es256();
    let (status, _, body, _) = push(
        Some(key.proof("POST", &par_url, server.clock_now(), None, None)),
        vec![("dpop_jkt".into(), other.thumbprint())],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    // A proof for the token endpoint is not one for /par.
    let (status, _, body, _) =
        push(Some(key.proof("POST", &server.url("/token"), server.clock_now(), None, None)), vec![]).await;
    assert_eq!(status, 400, "{body}");

    let login = |request_uri: String| {
        let server = &server;
        async move {
            let mut url = url::Url::parse(&server.url("/authorize")).unwrap();
            url.query_pairs_mut().append_pair("client_id", "actes-web").append_pair("request_uri", &request_uri);
            let page = Browser::new().authorize(server, url.as_str(), "pauline", "correct horse battery").await;
            assert_eq!(page.status, 303, "{}", page.body);
            page.location_param("code").unwrap()
        }
    };
    let (status, headers, body, verifier) =
        push(Some(key.proof("POST", &par_url, server.clock_now(), None, None)), vec![]).await;
    assert_eq!(status, 201, "{body}");
    assert!(headers.contains_key("dpop-nonce"));
    let code = login(body["request_uri"].as_str().unwrap().to_string()).await;
    let proof = other.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");

    let (status, _, body, verifier) =
        push(Some(key.proof("POST", &par_url, server.clock_now(), None, None)), vec![]).await;
    assert_eq!(status, 201, "{body}");
    let code = login(body["request_uri"].as_str().unwrap().to_string()).await;
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = redeem(&server, &code, &verifier, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
}

/// RFC 9449 5.2: a client registered with `dpop_bound_access_tokens` (import file key)
/// is refused tokens without a proof.
async fn a_dpop_bound_access_tokens_client_must_send_a_proof(backend: Backend) {
    let server = TestServer::start(backend).await;
    let import = r#"
[[clients]]
client_id = "actes-batch"
application = "INOTACTE"
secret = "actes-batch-secret-0123456789"
grant_types = ["client_credentials"]
scopes = ["actes.api"]
dpop_bound_access_tokens = true
"#;
    sesame::import::import_text(&server.state, "dpop.toml", import).await.expect("import");
    let client = sesame::clients::find(&server.state.db, "actes-batch").await.unwrap().unwrap();
    assert!(client.dpop_bound_access_tokens && client.requires_dpop());
    let basic = Some(("actes-batch", "actes-batch-secret-0123456789"));
    let form = [("grant_type", "client_credentials")];
    let (status, _, body) = token_request(&server, basic, &form, None).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_dpop_proof")), "{body}");
    let key = DpopKey::es256();
    let proof = key.proof("POST", &server.url("/token"), server.clock_now(), None, None);
    let (status, _, body) = token_request(&server, basic, &form, Some(&proof)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["token_type"], "DPoP");
}

/// Introspection (RFC 9449 6.2) tells the resource server the key; discovery names the
/// algorithms of proofs.
async fn introspection_and_discovery_tell_about_dpop(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (access, key) = bound_token(&server).await;
    let response = reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth("actes-web", Some(ACTES_SECRET))
        .form(&[("token", access.as_str())])
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"], json!({"jkt": key.thumbprint()}));

    let metadata: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    let algs: HashSet<&str> =
        metadata["dpop_signing_alg_values_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(algs, HashSet::from(["RS256", "PS256", "ES256", "EdDSA"]));
}

/// Spent proofs are deleted once too old to be accepted anyway.
async fn spent_proofs_are_swept_by_the_janitor(backend: Backend) {
    let server = TestServer::start(backend).await;
    // The proof's `iat` is the clock's second when it was made: somewhere between these
    // two readings, which may fall on either side of a second's boundary.
    let before = server.clock_now();
    let (_access, _key) = bound_token(&server).await;
    let after = server.clock_now();
    let swept = sesame::janitor::sweep(&server.state, after).await.unwrap();
    assert_eq!(swept.used_dpop_proofs, 0, "still within its age");
    // A node whose clock lags by the allowed skew and a minute still refuses it as used.
    let dpop = &server.state.config.dpop;
    let lagging = before + dpop.proof_max_age + dpop.proof_max_clock_skew + 59;
    let swept = sesame::janitor::sweep(&server.state, lagging).await.unwrap();
    assert_eq!(swept.used_dpop_proofs, 0, "kept while a node's clock could still accept it");
    let later = after + dpop.proof_max_age + dpop.proof_max_clock_skew + 61;
    let swept = sesame::janitor::sweep(&server.state, later).await.unwrap();
    assert_eq!(swept.used_dpop_proofs, 1);
}
