//! The `claims` request parameter (OIDC Core 5.5), after the conformance suite's
//! `oidcc-claims-essential`: claims asked for individually come back in userinfo or the
//! ID token without their scope, an essential `acr` steps up to a second factor (or
//! fails with `unmet_authentication_requirements` when Sésame asserts none of its
//! values), a malformed parameter is `invalid_request`, and discovery says so.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

use crate::harness::{Backend, SendJson, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};
use crate::two_factor::walk_enrollment;

on_every_backend!(
    oidcc_claims_essential,
    claims_requested_for_the_id_token,
    a_third_party_client_gets_no_more_than_consented,
    essential_acr_asks_a_second_factor,
    essential_acr_that_cannot_be_met_is_refused,
    malformed_claims_is_invalid_request,
    claims_parameter_is_advertised,
    a_sub_asked_for_by_value_is_the_only_account_served,
);

const TWO_FACTOR: &str = "urn:sesame:loa:2fa";

async fn userinfo(server: &TestServer, access_token: &str) -> Value {
    reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(access_token).send_json().await
}

/// Pauline's tokens at actes-web (first-party) for the `openid` scope alone and `claims`.
async fn tokens_with_claims(
    server: &TestServer,
    claims: &Value,
) -> (rp::Client, openidconnect::core::CoreTokenResponse) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let page = Browser::new().authorize(server, &request.url, "pauline", "correct horse battery").await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("a code: {:?} {}", page.location, page.body));
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    assert_eq!(tokens.scopes().map(|s| s.len()), Some(1), "openid only: {:?}", tokens.scopes());
    (client, tokens)
}

async fn oidcc_claims_essential(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (client, tokens) = tokens_with_claims(&server, &json!({"userinfo": {"name": {"essential": true}}})).await;
    let body = userinfo(&server, tokens.access_token().secret()).await;
    assert_eq!(body["name"], "Pauline Martin", "requested without the profile scope: {body}");
    assert!(body.get("given_name").is_none() && body.get("email").is_none(), "nothing else: {body}");
    let id = payload(&tokens.id_token().unwrap().to_string());
    assert!(id.get("name").is_none(), "asked for userinfo, not the ID token: {id}");
    // A refreshed access token keeps what the grant asked for.
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .unwrap();
    assert_eq!(userinfo(&server, refreshed.access_token().secret()).await["name"], "Pauline Martin");
}

async fn claims_requested_for_the_id_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let claims = json!({"id_token": {"email": null, "given_name": {"essential": true}, "nickname": null}});
    let (_, tokens) = tokens_with_claims(&server, &claims).await;
    let id = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!((&id["email"], &id["given_name"]), (&json!("pauline@etude.example"), &json!("Pauline")), "{id}");
    assert!(id.get("family_name").is_none() && id.get("nickname").is_none(), "only what was asked and held: {id}");
    let body = userinfo(&server, tokens.access_token().secret()).await;
    assert!(body.get("email").is_none(), "asked for the ID token, not userinfo: {body}");
}

/// partner-portal has a consent page: the user approves scopes, so a claim asked for
/// individually comes only with a scope the user approved.
async fn a_third_party_client_gets_no_more_than_consented(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client =
        rp::client(&server, "partner-portal", Some("partner-portal-secret-0123"), "https://partner.example/cb").await;
    let browser = Browser::new();
    let claims = json!({"userinfo": {"name": {"essential": true}, "email": null}});
    let request = rp::auth_request(&client, &["email"], &[("claims", &claims.to_string())]);
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let consent = browser.get(&server.url(page.location.as_deref().expect("the consent page"))).await;
    let (csrf, tx) = (consent.field("csrf_token").unwrap(), consent.field("tx").unwrap());
    let allowed =
        browser.post(&server.url("/consent"), &[("csrf_token", &csrf), ("tx", &tx), ("decision", "allow")]).await;
    let code = allowed.location_param("code").expect("a code after consent");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let body = userinfo(&server, tokens.access_token().secret()).await;
    assert_eq!(body["email"], "pauline@etude.example", "{body}");
    assert!(body.get("name").is_none(), "profile was not consented to: {body}");
}

async fn essential_acr_asks_a_second_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    // Émilie has no second factor: the essential acr makes her enroll one at once.
    let claims = json!({"id_token": {"acr": {"essential": true, "values": [TWO_FACTOR]}}});
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let after_password = browser.authorize(&server, &request.url, "emilie", "blue river stone").await;
    let enrolled = walk_enrollment(&browser, &server, &after_password, "emilie@etude.example").await;
    let code = enrolled.to_client.location_param("code").expect("a code after the second factor");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    assert_eq!(payload(&tokens.id_token().unwrap().to_string())["acr"], TWO_FACTOR);

    // Later, in another browser, the same request asks her app's code after the password.
    let other = Browser::new();
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let page = other.authorize(&server, &request.url, "emilie", "blue river stone").await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")), "{:?}", page.location);
    server.clock.advance(31); // the enrollment's code cannot be replayed: the next one
    let code = enrolled.app.code_at(server.clock_now());
    let verify = other.get(&server.url(page.location.as_deref().unwrap())).await;
    let done =
        crate::two_factor::submit(&other, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &code)])
            .await;
    let code = done.location_param("code").unwrap_or_else(|| panic!("a code: {:?} {}", done.location, done.body));
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    assert_eq!(payload(&tokens.id_token().unwrap().to_string())["acr"], TWO_FACTOR);
}

async fn essential_acr_that_cannot_be_met_is_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let claims = json!({"id_token": {"acr": {"essential": true, "value": "urn:example:loa:hardware-token"}}});
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let page = Browser::new().get(&request.url).await;
    assert_eq!(
        page.location_param("error").as_deref(),
        Some("unmet_authentication_requirements"),
        "{:?}",
        page.location
    );
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    // A voluntary acr that Sésame does not assert is only a wish.
    let voluntary = json!({"id_token": {"acr": {"values": ["urn:example:loa:hardware-token"]}}});
    let request = rp::auth_request(&client, &[], &[("claims", &voluntary.to_string())]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert!(page.location_param("code").is_some(), "{:?}", page.location);
}

async fn malformed_claims_is_invalid_request(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let too_long = format!(r#"{{"userinfo":{{"{}":null}}}}"#, "x".repeat(5000));
    for claims in ["{not json", r#"["name"]"#, r#"{"userinfo":{"name":true}}"#, too_long.as_str()] {
        let request = rp::auth_request(&client, &[], &[("claims", claims)]);
        let page = Browser::new().get(&request.url).await;
        assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"), "{claims}: {:?}", page.location);
        assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    }
}

async fn claims_parameter_is_advertised(backend: Backend) {
    let server = TestServer::start(backend).await;
    let metadata: Value = reqwest::Client::new().get(server.url("/.well-known/openid-configuration")).send_json().await;
    assert_eq!(metadata["claims_parameter_supported"], true);
}

/// `claims` naming the account by `sub` value (OIDC Core 5.5.1): another account that
/// signs in gets no token; the named one does.
async fn a_sub_asked_for_by_value_is_the_only_account_served(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let claims = json!({"id_token": {"sub": {"value": pauline.id}}});
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let page = Browser::new().authorize(&server, &request.url, "emilie", "blue river stone").await;
    assert_eq!(page.location_param("error").as_deref(), Some("access_denied"), "{:?} {}", page.location, page.body);
    assert!(page.location_param("code").is_none());
    let request = rp::auth_request(&client, &[], &[("claims", &claims.to_string())]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("a code: {:?}", page.location));
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    assert_eq!(payload(&tokens.id_token().unwrap().to_string())["sub"], json!(pauline.id));
}
