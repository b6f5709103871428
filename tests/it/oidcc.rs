//! The authorization code flow, as the OpenID Foundation conformance suite's OP tests
//! check it; each test is named after the module it mirrors (oidcc-…), with Sésame's
//! own checks after them.

use crate::harness::SendJson;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreUserInfoClaims};
use openidconnect::{AccessTokenHash, AuthType, OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser, header, payload};

on_every_backend!(
    oidcc_server,
    oidcc_codereuse,
    oidcc_prompt_none_not_logged_in,
    oidcc_prompt_none_logged_in,
    oidcc_prompt_login,
    oidcc_max_age_1,
    oidcc_max_age_10000,
    oidcc_ensure_registered_redirect_uri,
    oidcc_ensure_redirect_uri_in_authorization_request,
    oidcc_response_type_missing,
    oidcc_userinfo_get,
    oidcc_userinfo_post_header,
    oidcc_userinfo_post_body,
    oidcc_scope_email,
    oidcc_scope_profile_phone_address,
    oidcc_id_token_hint,
    oidcc_ensure_post_request_succeeds,
    oidcc_ensure_request_with_unknown_parameter_succeeds,
    oidcc_ensure_request_object_refused,
    oidcc_server_client_secret_post,
    oidcc_response_mode_form_post,
    oidcc_ensure_redirect_uri_query_matches_exactly,
    public_client_requires_pkce_and_gets_eddsa_id_token,
    pkce_plain_and_wrong_verifier_are_refused,
    a_code_presented_wrong_is_refused_and_not_spent,
    token_endpoint_rejects_bad_client_authentication,
    single_sign_on_across_applications,
    consent_for_third_party_client,
    account_without_access_is_refused,
    access_turned_off_is_refused,
    archived_account_cannot_log_in,
    repeated_failures_lock_the_account,
    login_form_without_csrf_token_is_refused,
    userinfo_rejects_bad_tokens,
    repeated_parameter_is_refused,
);

async fn oidcc_server(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["email"], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert!(page.location.as_deref().unwrap().starts_with("https://actes.example/callback?"));
    assert_eq!(page.location_param("iss").as_deref(), Some(server.issuer.as_str()), "RFC 9207 iss");
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    let code = page.location_param("code").unwrap();

    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("token response");
    let id_token = tokens.id_token().expect("an ID token");
    let verifier = client.id_token_verifier();
    let claims = id_token.claims(&verifier, &request.nonce).expect("a valid ID token");
    let expected_hash = claims.access_token_hash().expect("at_hash");
    let actual_hash = AccessTokenHash::from_token(
        tokens.access_token(),
        id_token.signing_alg().unwrap(),
        id_token.signing_key(&verifier).unwrap(),
    )
    .unwrap();
    assert_eq!(expected_hash, &actual_hash);
    assert!(claims.auth_time().is_some());
    assert_eq!(claims.auth_context_ref().map(|a| a.as_str()), Some("urn:sesame:loa:1fa"));
    let raw = payload(&id_token.to_string());
    assert_eq!(raw["amr"], serde_json::json!(["pwd"]));
    assert!(raw["sid"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(raw["azp"], "actes-web");
    assert_eq!(header(&id_token.to_string())["alg"], "RS256", "RS256 is the default for ID tokens");

    let access = tokens.access_token().secret();
    assert_eq!(header(access)["typ"], "at+jwt", "RFC 9068 access token");
    assert_eq!(header(access)["alg"], "ES256");
    let at = payload(access);
    assert_eq!(at["client_id"], "actes-web");
    assert_eq!(at["sub"], claims.subject().as_str());

    let userinfo: CoreUserInfoClaims = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.subject(), claims.subject());
    assert_eq!(userinfo.email().map(|e| e.as_str()), Some("pauline@etude.example"));
}

async fn oidcc_codereuse(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, request) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let verifier = request.verifier.secret().clone();
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let again = rp::exchange(&client, &code, openidconnect::PkceCodeVerifier::new(verifier)).await;
    let error = again.unwrap_err();
    assert!(error.contains("invalid_grant"), "{error}");
    // What the first redemption issued is revoked (RFC 6749 4.1.2).
    let response = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(tokens.access_token().secret())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let audit = sesame::storage::entities::audit_event::Entity::find().all(&server.state.db).await.unwrap();
    assert!(audit.iter().any(|e| e.event == "token.code_reuse"));
}

use sea_orm::EntityTrait;

async fn oidcc_prompt_none_not_logged_in(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none")]);
    let page = Browser::new().get(&request.url).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location_param("error").as_deref(), Some("login_required"));
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    assert_eq!(page.location_param("iss").as_deref(), Some(server.issuer.as_str()));
}

async fn oidcc_prompt_none_logged_in(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none")]);
    let page = browser.get(&request.url).await;
    let code = page.location_param("code").expect("a code without login");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    rp::id_claims(&client, &tokens, &request.nonce);
}

async fn oidcc_prompt_login(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, first) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let first_tokens = rp::exchange(&client, &code, first.verifier).await.unwrap();
    let first_auth = rp::id_claims(&client, &first_tokens, &first.nonce).auth_time().unwrap();
    server.clock.advance(5);
    let request = rp::auth_request(&client, &[], &[("prompt", "login")]);
    let page = browser.get(&request.url).await;
    assert!(page.location.as_deref().unwrap().starts_with("/login"), "prompt=login asks again");
    let page = browser.login(&server, page.location.as_deref().unwrap(), "pauline", "correct horse battery").await;
    let code = page.location_param("code").unwrap();
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let auth_time = rp::id_claims(&client, &tokens, &request.nonce).auth_time().unwrap();
    assert!(auth_time > first_auth, "a fresh authentication");
}

async fn oidcc_max_age_1(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    rp::code_for_pauline(&server, &client, &browser, &[]).await;
    server.clock.advance(2);
    let request = rp::auth_request(&client, &[], &[("max_age", "1")]);
    let page = browser.get(&request.url).await;
    assert!(page.location.as_deref().unwrap().starts_with("/login"), "max_age exceeded: log in again");
    let page = browser.login(&server, page.location.as_deref().unwrap(), "pauline", "correct horse battery").await;
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    let claims = rp::id_claims(&client, &tokens, &request.nonce).clone();
    let now = server.clock_now();
    assert!(claims.auth_time().unwrap().timestamp() >= now - 1);
}

async fn oidcc_max_age_10000(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, first) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let first_tokens = rp::exchange(&client, &code, first.verifier).await.unwrap();
    let first_auth = rp::id_claims(&client, &first_tokens, &first.nonce).auth_time().unwrap();
    server.clock.advance(2);
    let request = rp::auth_request(&client, &[], &[("max_age", "10000")]);
    let page = browser.get(&request.url).await;
    let tokens =
        rp::exchange(&client, &page.location_param("code").expect("no new login"), request.verifier).await.unwrap();
    let auth_time = rp::id_claims(&client, &tokens, &request.nonce).auth_time().unwrap();
    assert_eq!(auth_time, first_auth);
}

async fn oidcc_ensure_registered_redirect_uri(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let page = Browser::new()
        .get(&server.url("/authorize?client_id=actes-web&redirect_uri=https%3A%2F%2Fevil.example%2Fcb&response_type=code&scope=openid&state=s"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none(), "never redirect to an unregistered URI");
    assert!(page.body.contains("evil.example"), "the page names the URI");
}

async fn oidcc_ensure_redirect_uri_in_authorization_request(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let page = Browser::new().get(&server.url("/authorize?client_id=actes-web&response_type=code&scope=openid")).await;
    assert_eq!(page.status, 400);
    assert!(page.location.is_none());
}

async fn oidcc_response_type_missing(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let page = Browser::new()
        .get(&server.url(
            "/authorize?client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&scope=openid&state=xyz",
        ))
        .await;
    assert_eq!(page.status, 303);
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"));
    assert_eq!(page.location_param("state").as_deref(), Some("xyz"));
}

/// Logs pauline in and returns the access token of `actes-web`.
async fn access_token(server: &TestServer, scopes: &[&str]) -> String {
    let client = rp::actes_web(server).await;
    let browser = Browser::new();
    let (code, request) = rp::code_for_pauline(server, &client, &browser, scopes).await;
    rp::exchange(&client, &code, request.verifier).await.unwrap().access_token().secret().clone()
}

async fn oidcc_userinfo_get(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let token = access_token(&server, &["profile"]).await;
    let body: Value = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&token).send_json().await;
    assert_eq!(body["preferred_username"], "pauline");
    assert_eq!(body["given_name"], "Pauline");
}

async fn oidcc_userinfo_post_header(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let token = access_token(&server, &["profile"]).await;
    let response = reqwest::Client::new().post(server.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["family_name"], "Martin");
}

async fn oidcc_userinfo_post_body(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let token = access_token(&server, &["profile"]).await;
    let response = reqwest::Client::new()
        .post(server.url("/userinfo"))
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["name"], "Pauline Martin");
}

async fn oidcc_scope_email(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let token = access_token(&server, &["email"]).await;
    let body: Value = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&token).send_json().await;
    assert_eq!(body["email"], "pauline@etude.example");
    assert_eq!(body["email_verified"], false);
    assert!(body.get("name").is_none(), "profile was not asked for");
}

async fn oidcc_scope_profile_phone_address(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let token = access_token(&server, &["profile", "phone", "address"]).await;
    let body: Value = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&token).send_json().await;
    assert_eq!(body["phone_number"], "+33612345678", "stored in E.164");
    assert_eq!(body["address"]["formatted"], "1 place du Notariat, 75001 Paris");
    assert!(body["updated_at"].is_i64());
}

async fn oidcc_id_token_hint(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, first) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let id_token = rp::exchange(&client, &code, first.verifier).await.unwrap().id_token().unwrap().to_string();

    let request = rp::auth_request(&client, &[], &[("prompt", "none"), ("id_token_hint", &id_token)]);
    let page = browser.get(&request.url).await;
    assert!(page.location_param("code").is_some(), "the hinted user is logged in: {:?}", page.location);

    // Another browser, logged in as someone else: the hint does not match.
    let other = Browser::new();
    let emilie = rp::auth_request(&client, &[], &[]);
    other.authorize(&server, &emilie.url, "emilie", "blue river stone").await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none"), ("id_token_hint", &id_token)]);
    let page = other.get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("login_required"));

    let request = rp::auth_request(&client, &[], &[("id_token_hint", "not.a.token")]);
    let page = browser.get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"));
}

async fn oidcc_ensure_post_request_succeeds(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let request = rp::auth_request(&client, &[], &[]);
    let url = url::Url::parse(&request.url).unwrap();
    let form: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let response = browser.http.post(server.url("/authorize")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location.query_pairs().find(|(k, _)| k == "code").unwrap().1.into_owned();
    rp::exchange(&client, &code, request.verifier).await.expect("tokens from a POSTed request");
}

async fn oidcc_ensure_request_with_unknown_parameter_succeeds(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[("extra", "foobar"), ("display", "page"), ("ui_locales", "en")]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let code = page.location_param("code").expect("unknown parameters are ignored");
    rp::exchange(&client, &code, request.verifier).await.unwrap();
}

async fn oidcc_ensure_request_object_refused(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("request", "eyJhbGciOiJub25lIn0.e30.")]);
    let page = Browser::new().get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("request_not_supported"));
}

async fn oidcc_server_client_secret_post(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client =
        rp::client(&server, "compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback")
            .await
            .set_auth_type(AuthType::RequestBody);
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier)
        .await
        .expect("client_secret_post");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]);
    tokens.id_token().unwrap().claims(&verifier, &request.nonce).expect("an ES256 ID token for this client");
}

async fn oidcc_response_mode_form_post(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[("response_mode", "form_post")]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("method=\"post\""));
    assert!(crate::rp::unescape(&page.body).contains("action=\"https://actes.example/callback\""));
    let code = page.field("code").expect("the code in a hidden field");
    assert_eq!(page.field("state").as_deref(), Some(request.state.secret().as_str()));
    assert_eq!(page.field("iss").as_deref(), Some(server.issuer.as_str()));
    rp::exchange(&client, &code, request.verifier).await.unwrap();
}

async fn oidcc_ensure_redirect_uri_query_matches_exactly(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let registered = rp::client(
        &server,
        "actes-web",
        Some("actes-web-secret-0123456789"),
        "https://actes.example/callback?tenant=paris",
    )
    .await;
    let browser = Browser::new();
    let request = rp::auth_request(&registered, &[], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().unwrap().starts_with("https://actes.example/callback?tenant=paris&code="));
    let altered = rp::client(
        &server,
        "actes-web",
        Some("actes-web-secret-0123456789"),
        "https://actes.example/callback?tenant=lyon",
    )
    .await;
    let request = rp::auth_request(&altered, &[], &[]);
    assert_eq!(browser.get(&request.url).await.status, 400);
}

async fn public_client_requires_pkce_and_gets_eddsa_id_token(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::client(&server, "actes-desktop", None, "http://127.0.0.1:7777/callback").await;
    let browser = Browser::new();
    let without_pkce = server.url("/authorize?client_id=actes-desktop&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback&response_type=code&scope=openid");
    let page = browser.get(&without_pkce).await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"));
    assert!(page.location_param("error_description").unwrap().contains("PKCE"));

    let request = rp::auth_request(&client, &[], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let tokens =
        rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.expect("public client");
    let id_token = tokens.id_token().unwrap().to_string();
    assert_eq!(header(&id_token)["alg"], "EdDSA");
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::EdDsa]);
    tokens.id_token().unwrap().claims(&verifier, &request.nonce).expect("an EdDSA ID token that verifies");
}

async fn pkce_plain_and_wrong_verifier_are_refused(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let plain = server.url("/authorize?client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&response_type=code&scope=openid&code_challenge=abcdefghijabcdefghijabcdefghijabcdefghij123&code_challenge_method=plain");
    let page = browser.get(&plain).await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"));

    let (code, request) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let wrong = openidconnect::PkceCodeVerifier::new("x".repeat(50));
    assert!(rp::exchange(&client, &code, wrong).await.unwrap_err().contains("invalid_grant"));
    // Whoever saw the code without the verifier did not spend it: the application that
    // holds the verifier still redeems it, once.
    rp::exchange(&client, &code, request.verifier).await.expect("the rightful redemption");
}

/// A code is spent in one statement when everything the request presents matches it;
/// any mismatch falls back to the checks field by field: each says what differs, and
/// none spends the code, so the application that holds the right values still
/// redeems it, once.
async fn a_code_presented_wrong_is_refused_and_not_spent(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, request) = rp::code_for_pauline(&server, &client, &browser, &[]).await;
    let verifier = request.verifier.secret().clone();
    let http = reqwest::Client::new();
    let redeem = |form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = server.url("/token");
        async move {
            let response = http
                .post(url)
                .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let form_for = |code: &str, redirect_uri: &str, verifier: Option<&str>| {
        let mut form = vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.to_string()),
            ("redirect_uri", redirect_uri.to_string()),
        ];
        if let Some(verifier) = verifier {
            form.push(("code_verifier", verifier.to_string()));
        }
        form
    };
    let form = |redirect_uri: &str, verifier: Option<&str>| form_for(&code, redirect_uri, verifier);
    let right_uri = "https://actes.example/callback";
    let cases = [
        (form("https://actes.example/other", Some(&verifier)), "redirect_uri differs"),
        (form(right_uri, None), "code_verifier is required"),
        (form(right_uri, Some("short")), "does not match"),
        (form(right_uri, Some(&"y".repeat(60))), "does not match"),
    ];
    for (form, words) in cases {
        let (status, body) = redeem(form).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"], "invalid_grant", "{body}");
        assert!(body["error_description"].as_str().unwrap_or_default().contains(words), "{words}: {body}");
    }
    // A verifier too short for RFC 7636 is refused even when it hashes to the challenge.
    let short = "a".repeat(42);
    let url = server.url(&format!(
        "/authorize?client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&response_type=code\
         &scope=openid&state=s1&nonce=n1&code_challenge={}&code_challenge_method=S256",
        sesame::crypto::pkce_s256(&short)
    ));
    let page = Browser::new().authorize(&server, &url, "pauline", "correct horse battery").await;
    let short_code = page.location_param("code").expect("a code");
    let (status, body) = redeem(form_for(&short_code, right_uri, Some(&short))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");

    let (status, body) = redeem(form(right_uri, Some(&verifier))).await;
    assert_eq!(status, 200, "the rightful redemption: {body}");
    assert!(body["access_token"].is_string(), "{body}");
    let (status, body) = redeem(form(right_uri, Some(&verifier))).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "a code is redeemed once: {body}");
}

async fn token_endpoint_rejects_bad_client_authentication(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let wrong_secret = http
        .post(server.url("/token"))
        .basic_auth("actes-web", Some("wrong-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("redirect_uri", "https://actes.example/callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_secret.status(), 401);
    assert!(wrong_secret.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(wrong_secret.headers()["cache-control"], "no-store");
    assert_eq!(wrong_secret.json::<Value>().await.unwrap()["error"], "invalid_client");

    let wrong_method = http
        .post(server.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "x"),
            ("client_id", "actes-web"),
            ("client_secret", "actes-web-secret-0123456789"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 401, "actes-web registered client_secret_basic");

    let unknown_grant = http
        .post(server.url("/token"))
        .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
        .form(&[("grant_type", "password"), ("username", "pauline")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_grant.status(), 400);
    assert_eq!(unknown_grant.json::<Value>().await.unwrap()["error"], "unsupported_grant_type");

    let bad_code = http
        .post(server.url("/token"))
        .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", "https://actes.example/callback"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_code.status(), 400);
    assert_eq!(bad_code.json::<Value>().await.unwrap()["error"], "invalid_grant");

    let json_body = http
        .post(server.url("/token"))
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(json_body.status(), 400);
    assert_eq!(json_body.json::<Value>().await.unwrap()["error"], "invalid_request");
}

async fn single_sign_on_across_applications(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let actes = rp::actes_web(&server).await;
    let browser = Browser::new();
    let (code, first) = rp::code_for_pauline(&server, &actes, &browser, &[]).await;
    let first_tokens = rp::exchange(&actes, &code, first.verifier).await.unwrap();
    let compta =
        rp::client(&server, "compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback")
            .await
            .set_auth_type(AuthType::RequestBody);
    let request = rp::auth_request(&compta, &[], &[]);
    let page = browser.get(&request.url).await;
    let code = page.location_param("code").expect("no second password prompt");
    let tokens = rp::exchange(&compta, &code, request.verifier).await.unwrap();
    let sid = |t: &str| payload(t)["sid"].clone();
    assert_eq!(
        sid(&tokens.id_token().unwrap().to_string()),
        sid(&first_tokens.id_token().unwrap().to_string()),
        "one session"
    );
}

async fn consent_for_third_party_client(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client =
        rp::client(&server, "partner-portal", Some("partner-portal-secret-0123"), "https://partner.example/cb").await;
    let browser = Browser::new();

    let request = rp::auth_request(&client, &["email"], &[]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().unwrap().starts_with("/consent"), "{:?}", page.location);
    let consent = browser.get(&server.url(page.location.as_deref().unwrap())).await;
    assert!(consent.body.contains("Partner portal"));
    let (csrf, tx) = (consent.field("csrf_token").unwrap(), consent.field("tx").unwrap());
    let denied =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "deny")]).await;
    assert_eq!(denied.location_param("error").as_deref(), Some("access_denied"));

    let request = rp::auth_request(&client, &["email"], &[("prompt", "none")]);
    assert_eq!(browser.get(&request.url).await.location_param("error").as_deref(), Some("consent_required"));

    let request = rp::auth_request(&client, &["email"], &[]);
    let page = browser.get(&request.url).await;
    let consent = browser.get(&server.url(page.location.as_deref().unwrap())).await;
    let (csrf, tx) = (consent.field("csrf_token").unwrap(), consent.field("tx").unwrap());
    let allowed =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "allow")]).await;
    let code = allowed.location_param("code").expect("a code after consent");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let verifier = client.id_token_verifier().set_allowed_algs(vec![CoreJwsSigningAlgorithm::RsaSsaPssSha256]);
    tokens.id_token().unwrap().claims(&verifier, &request.nonce).expect("a PS256 ID token");
    // Replaying the consent form does nothing more.
    let replay =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "allow")]).await;
    assert_eq!(replay.status, 400);

    let request = rp::auth_request(&client, &["email"], &[]);
    assert!(browser.get(&request.url).await.location_param("code").is_some(), "consent remembered");
    let request = rp::auth_request(&client, &["email"], &[("prompt", "consent")]);
    assert!(browser.get(&request.url).await.location.unwrap().starts_with("/consent"), "prompt=consent asks again");
}

async fn account_without_access_is_refused(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let compta =
        rp::client(&server, "compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback")
            .await;
    let browser = Browser::new();
    let request = rp::auth_request(&compta, &[], &[]);
    let page = browser.authorize(&server, &request.url, "emilie", "blue river stone").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("iNot Comptabilité"), "the page names the application");
    assert!(page.body.contains("error=access_denied"), "a way back that tells the client");
    let request = rp::auth_request(&compta, &[], &[("prompt", "none")]);
    assert_eq!(browser.get(&request.url).await.location_param("error").as_deref(), Some("access_denied"));
}

/// An access row that does not allow the application counts as none.
async fn access_turned_off_is_refused(backend: crate::harness::Backend) {
    use sea_orm::ConnectionTrait;
    let server = TestServer::start(backend).await;
    server
        .state
        .db
        .execute_unprepared(
            "UPDATE account_access SET allowed = false \
             WHERE account_id = (SELECT id FROM accounts WHERE username = 'pauline') \
             AND application_id = (SELECT id FROM applications WHERE code = 'INOTACTE')",
        )
        .await
        .unwrap();
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("error=access_denied"), "{}", page.body);
}

async fn archived_account_cannot_log_in(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &[], &[("ui_locales", "en")]);
    let page = Browser::new().authorize(&server, &request.url, "archived", "quiet harbour 7").await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("This account is disabled"), "{}", page.body);
}

async fn repeated_failures_lock_the_account(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[("ui_locales", "en")]);
    let start = browser.get(&request.url).await;
    let login_path = start.location.unwrap();
    for attempt in 1..=6 {
        let page = browser.login(&server, &login_path, "Pauline", "wrong password").await;
        assert_eq!(page.status, 401, "attempt {attempt}: a spent budget looks like a wrong password");
        assert!(page.body.contains("Wrong username or password"));
    }
    let page = browser.login(&server, &login_path, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 401, "this source waits, even with the right password");
    assert!(page.body.contains("Wrong username or password"), "nothing says the account exists or waits");
    // Five wrong passwords, then a wait of 300 s that doubles with each further failure
    // (the sixth was refused unchecked, so it did not double it).
    server.clock.advance(301);
    let page = browser.login(&server, &login_path, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "let through once the wait is over");
    assert!(page.location_param("code").is_some());
}

async fn login_form_without_csrf_token_is_refused(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &[], &[]);
    let start = browser.get(&request.url).await;
    let form = browser.get(&server.url(start.location.as_deref().unwrap())).await;
    let tx = form.field("tx").unwrap();
    let forged = browser
        .post(
            &server.url("/login"),
            &[("csrf_token", "forged"), ("tx", &tx), ("username", "pauline"), ("password", "correct horse battery")],
        )
        .await;
    assert_eq!(forged.status, 403);
    // Another browser cannot complete this browser's login request.
    let other = Browser::new();
    let page = other.get(&server.url(start.location.as_deref().unwrap())).await;
    assert_eq!(page.status, 400);
}

async fn userinfo_rejects_bad_tokens(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let http = reqwest::Client::new();
    let missing = http.get(server.url("/userinfo")).send().await.unwrap();
    assert_eq!(missing.status(), 401);
    // Both schemes are offered (RFC 9449 7.1), DPoP with its algorithms.
    assert_eq!(missing.headers()["www-authenticate"], "Bearer realm=\"sesame\", DPoP algs=\"RS256 PS256 ES256 EdDSA\"");
    let bad = http.get(server.url("/userinfo")).bearer_auth("not-a-token").send().await.unwrap();
    assert_eq!(bad.status(), 401);
    assert!(bad.headers()["www-authenticate"].to_str().unwrap().contains("error=\"invalid_token\""));
    let token = access_token(&server, &[]).await;
    server.clock.advance(601);
    let expired = http.get(server.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(expired.status(), 401, "expired after tokens.access_token_ttl");
    let id_token_as_access = {
        server.clock.advance(-601);
        let client = rp::actes_web(&server).await;
        let (code, request) = rp::code_for_pauline(&server, &client, &Browser::new(), &[]).await;
        rp::exchange(&client, &code, request.verifier).await.unwrap().id_token().unwrap().to_string()
    };
    let wrong_type = http.get(server.url("/userinfo")).bearer_auth(&id_token_as_access).send().await.unwrap();
    assert_eq!(wrong_type.status(), 401, "an ID token is not an access token");
}

async fn repeated_parameter_is_refused(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let page = Browser::new()
        .get(&server.url("/authorize?client_id=actes-web&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&response_type=code&scope=openid"))
        .await;
    assert_eq!(page.status, 400);
    assert!(page.body.contains("client_id"));
}
