//! The grants of the token endpoint, called directly on the server's state (a real
//! SQLite file, real migrations and keys, a fixed clock) without a server: what each
//! grant issues, with which claims, and every refusal with its OAuth error.

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;

use super::*;
use crate::auth::{
    acr,
    session::{self, Session},
};
use crate::crypto::{self, jws::UnverifiedJws};
use crate::login::{AuthorizationRequest, ResponseMode, code};
use crate::oidc::token::jwt::TokenCheckError;
use crate::revocations::{self, Scope};
use crate::storage::entities::{account, audit_event, refresh_token as refresh_row};
use crate::testing::{ISSUER, NOW, TestState};

/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const WEB_CALLBACK: &str = "https://actes.example/callback?tenant=paris";
/// When pauline logged in.
const LOGIN_AT: i64 = NOW - 30;

fn form(pairs: &[(&str, &str)]) -> Params {
    let encoded = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish();
    Params::parse(&encoded).expect("no repeated parameter")
}

/// A password login of `username`, at `LOGIN_AT`.
async fn login(t: &TestState, username: &str) -> Session {
    let account = t.account(username).await;
    let (_, session) = session::create(&t.db, &account.id, &["pwd"], acr::PASSWORD, LOGIN_AT, &t.config.session)
        .await
        .expect("a session");
    session
}

fn request(client_id: &str, redirect_uri: &str, scopes: &str, challenge: Option<&str>) -> AuthorizationRequest {
    AuthorizationRequest {
        client_id: client_id.into(),
        redirect_uri: redirect_uri.into(),
        response_mode: ResponseMode::Query,
        scopes: scopes.split_whitespace().map(str::to_string).collect(),
        state: Some("st".into()),
        nonce: Some("n-0S6_WzA2Mj".into()),
        code_challenge: challenge.map(str::to_string),
        prompt: Vec::new(),
        max_age: None,
        login_hint: None,
        hinted_subject: None,
        ui_locales: None,
        acr_values: Vec::new(),
        claims: None,
        resource: None,
        dpop_jkt: None,
    }
}

/// A code for `request` and `session`, issued at `NOW` as the login issues it.
async fn code_for(t: &TestState, request: &AuthorizationRequest, session: &Session) -> String {
    let expires_at = NOW + t.config.tokens.authorization_code_ttl;
    code::issue(&t.db, request, session, expires_at, NOW).await.expect("a code")
}

/// A code of actes-web for pauline, with PKCE, scope `openid profile email`.
async fn web_code(t: &TestState) -> (String, Session) {
    let session = login(t, "pauline").await;
    let code =
        code_for(t, &request("actes-web", WEB_CALLBACK, "openid profile email", Some(CHALLENGE)), &session).await;
    (code, session)
}

async fn redeem(t: &TestState, client: &Client, params: &[(&str, &str)], now: i64) -> Result<Value, OAuthError> {
    authorization_code::exchange(t, &ClientIp::default(), client, &form(params), None, now).await
}

/// The right parameters for a code of `web_code`.
fn web_redemption(code: &str) -> [(&'static str, &str); 3] {
    [("code", code), ("redirect_uri", WEB_CALLBACK), ("code_verifier", VERIFIER)]
}

async fn refresh(t: &TestState, client: &Client, params: &[(&str, &str)], now: i64) -> Result<Value, OAuthError> {
    refresh_token::exchange(t, client, &form(params), None, now).await
}

fn refused(result: Result<Value, OAuthError>) -> (&'static str, String) {
    let error = result.expect_err("refused");
    (error.error, error.description)
}

/// The header's `alg` and the claims of a token this provider signed, its signature checked.
async fn signed_claims(t: &TestState, token: &str) -> (String, Value) {
    let jws = UnverifiedJws::parse(token).expect("a JWS");
    let key = t.keys.find(jws.kid.as_deref().expect("a key id")).await.expect("one of the provider's keys");
    let claims: Value = jws.verify(&key.verifying_key()).expect("a valid signature");
    (jws.alg.clone(), claims)
}

fn string(body: &Value, name: &str) -> String {
    body[name].as_str().unwrap_or_else(|| panic!("no {name} in {body}")).to_string()
}

async fn refresh_rows(t: &TestState, grant_id: &str) -> Vec<refresh_row::Model> {
    refresh_row::Entity::find().filter(refresh_row::Column::GrantId.eq(grant_id)).all(&t.db).await.expect("database")
}

async fn audit_events(t: &TestState, event: &str) -> Vec<audit_event::Model> {
    audit_event::Entity::find().filter(audit_event::Column::Event.eq(event)).all(&t.db).await.expect("database")
}

// ---------------------------------------------------------------------------------------
// authorization_code

#[tokio::test]
async fn a_code_gives_tokens_that_state_the_login_and_the_rights() {
    let t = TestState::open().await;
    let (code, session) = web_code(&t).await;
    let client = t.client("actes-web").await;
    let pauline = t.account("pauline").await;
    let body = redeem(&t, &client, &web_redemption(&code), NOW + 5).await.expect("tokens");

    assert_eq!((&body["token_type"], &body["expires_in"]), (&json!("Bearer"), &json!(600)));
    assert_eq!(body["scope"], "openid profile email");
    let access = string(&body, "access_token");

    let (alg, id) = signed_claims(&t, &string(&body, "id_token")).await;
    assert_eq!(alg, "RS256", "actes-web registered no algorithm: the default");
    let expected = json!({
        "iss": ISSUER,
        "sub": pauline.id,
        "aud": "actes-web",
        "azp": "actes-web",
        "iat": NOW + 5,
        "exp": NOW + 5 + 3600,
        "auth_time": LOGIN_AT,
        "acr": acr::PASSWORD,
        "amr": ["pwd"],
        "sid": session.sid,
        "nonce": "n-0S6_WzA2Mj",
        "at_hash": crypto::half_hash(crypto::jws::SigningAlg::Rs256, &access),
        "name": "Pauline Martin",
        "given_name": "Pauline",
        "family_name": "Martin",
        "preferred_username": "pauline",
        "updated_at": NOW,
        "email": "pauline@etude.example",
        "email_verified": false,
        "application": "INOTACTE",
        "rights": ["actes.lecture"],
        "options": {"etude": "Paris"},
        "initials": "PM",
        "applications": ["INOTACTE", "INOTCOMPTABILITE"],
    });
    assert_eq!(id, expected);

    let claims = tokens::verify_access_token(&t, &access, NOW + 5).await.expect("a live access token");
    assert_eq!(
        (claims.iss.as_str(), claims.sub.as_str(), claims.aud.as_str(), claims.client_id.as_str()),
        (ISSUER, pauline.id.as_str(), "actes-web", "actes-web")
    );
    assert_eq!((claims.iat, claims.exp, claims.scope.as_str()), (NOW + 5, NOW + 605, "openid profile email"));
    assert_eq!((claims.auth_time, claims.sid.as_deref()), (Some(LOGIN_AT), Some(session.sid.as_str())));
    let grant_id = crypto::token_hash(&code);
    assert_eq!(claims.gid.as_deref(), Some(grant_id.as_str()), "the grant is the code");
    assert_eq!(claims.authorization["rights"], json!(["actes.lecture"]));
    assert_eq!(signed_claims(&t, &access).await.0, "ES256", "the server's access-token algorithm");

    // First-party with the refresh grant: a refresh token bound to the session.
    let stored = refresh::find_live(&t, &string(&body, "refresh_token"), NOW + 5).await.expect("db").expect("stored");
    assert_eq!((stored.grant_id.as_str(), stored.client_id.as_str()), (grant_id.as_str(), "actes-web"));
    assert_eq!((stored.session_id.as_deref(), stored.offline), (Some(session.id.as_str()), false));
    assert_eq!(stored.scope, "openid profile email");
    assert_eq!((stored.expires_at, stored.grant_expires_at), (NOW + 5 + 14 * 86_400, NOW + 5 + 90 * 86_400));

    let issued = audit_events(&t, "token.issued").await;
    assert_eq!(issued.len(), 1);
    assert_eq!(
        (issued[0].account_id.as_deref(), issued[0].client_id.as_deref()),
        (Some(&*pauline.id), Some("actes-web"))
    );
}

#[tokio::test]
async fn a_public_client_redeems_with_its_verifier_alone() {
    let t = TestState::open().await;
    let session = login(&t, "pauline").await;
    let desktop = "http://127.0.0.1:7777/callback";
    let code = code_for(&t, &request("actes-desktop", desktop, "openid", Some(CHALLENGE)), &session).await;
    let client = t.client("actes-desktop").await;
    let params = [("code", code.as_str()), ("redirect_uri", desktop), ("code_verifier", VERIFIER)];
    let body = redeem(&t, &client, &params, NOW).await.expect("tokens");
    let (alg, id) = signed_claims(&t, &string(&body, "id_token")).await;
    assert_eq!((alg.as_str(), &id["aud"], &id["name"]), ("EdDSA", &json!("actes-desktop"), &Value::Null));
    assert!(body["refresh_token"].is_string());
}

#[tokio::test]
async fn a_refresh_token_comes_with_the_grant_to_first_party_clients_or_with_offline_access() {
    let t = TestState::open().await;
    let session = login(&t, "pauline").await;
    let partner = t.client("partner-portal").await;
    let uri = "https://partner.example/cb";
    let redeem_for = |scopes: &'static str| {
        let (t, session, partner) = (&t, &session, &partner);
        async move {
            let code = code_for(t, &request("partner-portal", uri, scopes, None), session).await;
            redeem(t, partner, &[("code", code.as_str()), ("redirect_uri", uri)], NOW).await.expect("tokens")
        }
    };
    // Third-party: only with offline_access, and then it outlives the session.
    let body = redeem_for("openid").await;
    assert_eq!(body["refresh_token"], Value::Null);
    let body = redeem_for("openid offline_access").await;
    let stored = refresh::find_live(&t, &string(&body, "refresh_token"), NOW).await.expect("db").expect("stored");
    assert!(stored.offline);

    // First-party but without the refresh_token grant: none.
    let admin = t.client("admin-tool").await;
    let code = code_for(&t, &request("admin-tool", "https://admin.example/callback", "openid", None), &session).await;
    let body = redeem(&t, &admin, &[("code", code.as_str()), ("redirect_uri", "https://admin.example/callback")], NOW)
        .await
        .expect("tokens");
    assert_eq!(body["refresh_token"], Value::Null);
    assert!(body["id_token"].is_string());
}

#[tokio::test]
async fn a_code_is_redeemed_once_and_a_second_attempt_revokes_what_the_first_issued() {
    let t = TestState::open().await;
    let (code, _) = web_code(&t).await;
    let client = t.client("actes-web").await;
    let body = redeem(&t, &client, &web_redemption(&code), NOW).await.expect("tokens");
    let (access, refresh_token) = (string(&body, "access_token"), string(&body, "refresh_token"));

    let invalid = ("invalid_grant", "the authorization code is invalid, expired or already used".to_string());
    assert_eq!(refused(redeem(&t, &client, &web_redemption(&code), NOW + 1).await), invalid);

    // Everything the first redemption issued is revoked.
    assert!(matches!(tokens::verify_access_token(&t, &access, NOW + 1).await, Err(TokenCheckError::Revoked)));
    let rows = refresh_rows(&t, &crypto::token_hash(&code)).await;
    assert_eq!(rows.iter().map(|r| r.revoked).collect::<Vec<_>>(), [true]);
    let (error, _) = refused(refresh(&t, &client, &[("refresh_token", refresh_token.as_str())], NOW + 2).await);
    assert_eq!(error, "invalid_grant");
    // Recorded for the operator.
    let reuse = audit_events(&t, "token.code_reuse").await;
    assert_eq!((reuse.len(), reuse[0].client_id.as_deref()), (1, Some("actes-web")));
    assert_eq!(t.metrics.code_reuse.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn a_code_is_bound_to_its_client_and_another_client_cannot_spend_it() {
    let t = TestState::open().await;
    let (code, _) = web_code(&t).await;
    let invalid = ("invalid_grant", "the authorization code is invalid, expired or already used".to_string());
    for other in ["compta-web", "actes-desktop"] {
        let other = t.client(other).await;
        assert_eq!(refused(redeem(&t, &other, &web_redemption(&code), NOW).await), invalid);
    }
    assert_eq!(audit_events(&t, "token.code_reuse").await.len(), 0, "not taken for a reuse");
    // Still unused: its own client redeems it.
    let web = t.client("actes-web").await;
    redeem(&t, &web, &web_redemption(&code), NOW).await.expect("tokens");
}

#[tokio::test]
async fn a_code_needs_the_redirect_uri_of_its_request() {
    let t = TestState::open().await;
    let client = t.client("actes-web").await;
    let (code, _) = web_code(&t).await;
    let missing = refused(redeem(&t, &client, &[("code", code.as_str()), ("code_verifier", VERIFIER)], NOW).await);
    assert_eq!(missing, ("invalid_request", "redirect_uri is required".to_string()));
    // Another redirect URI of the same client.
    let params =
        [("code", code.as_str()), ("redirect_uri", "https://actes.example/callback"), ("code_verifier", VERIFIER)];
    assert_eq!(
        refused(redeem(&t, &client, &params, NOW).await),
        ("invalid_grant", "redirect_uri differs from the one of the authorization request".to_string())
    );
    // The failed attempt did not spend the code: whoever saw it cannot spoil the
    // rightful redemption.
    redeem(&t, &client, &web_redemption(&code), NOW).await.expect("the rightful redemption");

    let missing = refused(redeem(&t, &client, &[("redirect_uri", WEB_CALLBACK)], NOW).await);
    assert_eq!(missing, ("invalid_request", "code is required".to_string()));
    let unknown = refused(redeem(&t, &client, &web_redemption("no-such-code"), NOW).await);
    assert_eq!(unknown.0, "invalid_grant");
}

#[tokio::test]
async fn the_verifier_must_hash_to_the_challenge_of_the_request() {
    let t = TestState::open().await;
    let client = t.client("actes-web").await;
    let session = login(&t, "pauline").await;
    let with = |challenge: Option<String>| request("actes-web", WEB_CALLBACK, "openid", challenge.as_deref());
    let mismatch = ("invalid_grant", "code_verifier does not match the code_challenge".to_string());

    // A verifier too short or too long, or of characters RFC 7636 does not allow, is
    // refused even when it hashes to the challenge.
    let short = "a".repeat(42);
    let long = "a".repeat(129);
    let spaced = format!("{} b", "a".repeat(42));
    let wrong = VERIFIER.replace('d', "e");
    let cases = [
        (Some(CHALLENGE.to_string()), Some(wrong.as_str()), mismatch.clone()),
        (Some(crypto::pkce_s256(&short)), Some(short.as_str()), mismatch.clone()),
        (Some(crypto::pkce_s256(&long)), Some(long.as_str()), mismatch.clone()),
        (Some(crypto::pkce_s256(&spaced)), Some(spaced.as_str()), mismatch.clone()),
        // The challenge itself, as if the method were `plain`.
        (Some(CHALLENGE.to_string()), Some(CHALLENGE), mismatch.clone()),
        (
            Some(CHALLENGE.to_string()),
            None,
            ("invalid_grant", "code_verifier is required: the request used PKCE".to_string()),
        ),
        (
            None,
            Some(VERIFIER),
            ("invalid_grant", "code_verifier given but the authorization request had no code_challenge".to_string()),
        ),
    ];
    for (challenge, verifier, expected) in cases {
        let code = code_for(&t, &with(challenge.clone()), &session).await;
        let mut params = vec![("code", code.as_str()), ("redirect_uri", WEB_CALLBACK)];
        params.extend(verifier.map(|v| ("code_verifier", v)));
        assert_eq!(refused(redeem(&t, &client, &params, NOW).await), expected, "{challenge:?} {verifier:?}");
    }
    // The longest verifier allowed, by the book.
    let longest = "~._-".repeat(32);
    let code = code_for(&t, &with(Some(crypto::pkce_s256(&longest))), &session).await;
    let params = [("code", code.as_str()), ("redirect_uri", WEB_CALLBACK), ("code_verifier", longest.as_str())];
    redeem(&t, &client, &params, NOW).await.expect("tokens");
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let t = TestState::open().await;
    let client = t.client("actes-web").await;
    let ttl = t.config.tokens.authorization_code_ttl;
    let (code, _) = web_code(&t).await;
    let (error, _) = refused(redeem(&t, &client, &web_redemption(&code), NOW + ttl).await);
    assert_eq!(error, "invalid_grant");
    assert!(refresh_rows(&t, &crypto::token_hash(&code)).await.is_empty(), "nothing issued");
    let (code, _) = web_code(&t).await;
    redeem(&t, &client, &web_redemption(&code), NOW + ttl - 1).await.expect("tokens, a second before the end");
}

#[tokio::test]
async fn a_code_of_an_archived_account_gives_nothing() {
    let t = TestState::open().await;
    let session = login(&t, "archived").await;
    let code = code_for(&t, &request("actes-web", WEB_CALLBACK, "openid", Some(CHALLENGE)), &session).await;
    let client = t.client("actes-web").await;
    assert_eq!(
        refused(redeem(&t, &client, &web_redemption(&code), NOW).await),
        ("invalid_grant", "the account is no longer active".to_string())
    );
    assert!(refresh_rows(&t, &crypto::token_hash(&code)).await.is_empty());
}

#[tokio::test]
async fn a_redemption_that_loses_a_race_to_a_reuse_revokes_its_refresh_token() {
    let t = TestState::open().await;
    let (code, _) = web_code(&t).await;
    let client = t.client("actes-web").await;
    // A second redemption on another node found the code used and revoked the grant
    // before this one stored its refresh token.
    let grant_id = crypto::token_hash(&code);
    revocations::revoke(&t.db, Scope::Grant(&grant_id), NOW + 600).await.expect("revoked");
    let (error, _) = refused(redeem(&t, &client, &web_redemption(&code), NOW).await);
    assert_eq!(error, "invalid_grant");
    let rows = refresh_rows(&t, &grant_id).await;
    assert_eq!(rows.iter().map(|r| r.revoked).collect::<Vec<_>>(), [true], "stored, then revoked");
}

// ---------------------------------------------------------------------------------------
// refresh_token

/// Redeems a fresh code of actes-web at `NOW`: the tokens and the grant id.
async fn web_grant(t: &TestState) -> (Value, String, Session) {
    let (code, session) = web_code(t).await;
    let client = t.client("actes-web").await;
    let body = redeem(t, &client, &web_redemption(&code), NOW).await.expect("tokens");
    (body, crypto::token_hash(&code), session)
}

#[tokio::test]
async fn a_refresh_token_rotates_and_keeps_the_facts_of_the_login() {
    let t = TestState::open().await;
    let (first, grant_id, session) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let old = string(&first, "refresh_token");
    let at = NOW + 3600;
    let body = refresh(&t, &client, &[("refresh_token", old.as_str())], at).await.expect("tokens");

    assert_eq!(body["scope"], "openid profile email");
    let new = string(&body, "refresh_token");
    assert_ne!(new, old);
    let (_, id) = signed_claims(&t, &string(&body, "id_token")).await;
    assert_eq!((&id["iat"], &id["exp"], &id["auth_time"]), (&json!(at), &json!(at + 3600), &json!(LOGIN_AT)));
    assert_eq!((&id["sid"], &id["nonce"], &id["name"]), (&json!(session.sid), &Value::Null, &json!("Pauline Martin")));
    let access = tokens::verify_access_token(&t, &string(&body, "access_token"), at).await.expect("live");
    assert_eq!((access.gid.as_deref(), access.auth_time), (Some(grant_id.as_str()), Some(LOGIN_AT)));

    let old_row = refresh::find_any(&t, &old).await.expect("db").expect("kept");
    assert_eq!((old_row.rotated_at, old_row.revoked), (Some(at), false));
    let new_row = refresh::find_live(&t, &new, at).await.expect("db").expect("live");
    assert_eq!(new_row.grant_id, grant_id, "the same family");
    assert_eq!(new_row.expires_at, at + 14 * 86_400, "a sliding expiry");
    assert_eq!(new_row.grant_expires_at, old_row.grant_expires_at, "the family's end does not move");

    // Rotated just in time again and again, the family still ends when it was granted to.
    session_lasts(&t, i64::MAX).await;
    let end = old_row.grant_expires_at;
    let (mut token, mut row) = (new, new_row);
    while row.expires_at < end {
        let at = row.expires_at - 1;
        let body = refresh(&t, &client, &[("refresh_token", token.as_str())], at).await.expect("tokens");
        token = string(&body, "refresh_token");
        row = refresh::find_live(&t, &token, at).await.expect("db").expect("live");
        assert_eq!(row.expires_at, (at + 14 * 86_400).min(end));
    }
    let (error, _) = refused(refresh(&t, &client, &[("refresh_token", token.as_str())], end).await);
    assert_eq!(error, "invalid_grant");
}

#[tokio::test]
async fn a_rotated_refresh_token_presented_again_revokes_its_family() {
    let t = TestState::open().await;
    let (first, grant_id, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let old = string(&first, "refresh_token");
    let grace = t.config.tokens.refresh_token_reuse_grace;
    let body = refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 100).await.expect("tokens");
    let (new, access) = (string(&body, "refresh_token"), string(&body, "access_token"));

    let reused = refused(refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 101 + grace).await);
    assert_eq!(
        reused,
        (
            "invalid_grant",
            "the refresh token was already used: every token of this grant is now revoked; log in again".into()
        )
    );
    assert!(refresh_rows(&t, &grant_id).await.iter().all(|r| r.revoked), "the whole family");
    assert_eq!(
        refused(refresh(&t, &client, &[("refresh_token", new.as_str())], NOW + 102 + grace).await),
        ("invalid_grant", "the refresh token is invalid, expired or revoked".into())
    );
    let check = tokens::verify_access_token(&t, &access, NOW + 102 + grace).await;
    assert!(matches!(check, Err(TokenCheckError::Revoked)), "the grant's access tokens too");
    assert_eq!(audit_events(&t, "token.refresh_reuse").await.len(), 1);
    assert_eq!(t.metrics.refresh_reuse.load(std::sync::atomic::Ordering::Relaxed), 1);
}

#[tokio::test]
async fn within_the_grace_period_a_second_use_is_a_retry_unless_there_is_no_grace() {
    let t = TestState::open().await;
    let (first, grant_id, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let old = string(&first, "refresh_token");
    let grace = t.config.tokens.refresh_token_reuse_grace;
    assert!(grace > 0);
    refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 100).await.expect("tokens");
    // The answer was lost: the client retries with the same token.
    let retry = refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 100 + grace).await.expect("tokens");
    refresh(&t, &client, &[("refresh_token", string(&retry, "refresh_token").as_str())], NOW + 200)
        .await
        .expect("live");
    assert!(refresh_rows(&t, &grant_id).await.iter().all(|r| !r.revoked));

    let t = TestState::open_with(|config| config.tokens.refresh_token_reuse_grace = 0).await;
    let (first, grant_id, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let old = string(&first, "refresh_token");
    refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 100).await.expect("tokens");
    let (error, _) = refused(refresh(&t, &client, &[("refresh_token", old.as_str())], NOW + 100).await);
    assert_eq!(error, "invalid_grant", "the same second, without grace");
    assert!(refresh_rows(&t, &grant_id).await.iter().all(|r| r.revoked));
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_not_widen_it() {
    let t = TestState::open().await;
    let (first, _, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let body = refresh(
        &t,
        &client,
        &[("refresh_token", string(&first, "refresh_token").as_str()), ("scope", "openid email")],
        NOW,
    )
    .await
    .expect("tokens");
    assert_eq!(body["scope"], "openid email");
    let (_, id) = signed_claims(&t, &string(&body, "id_token")).await;
    assert_eq!((&id["email"], &id["name"]), (&json!("pauline@etude.example"), &Value::Null));
    let access = tokens::verify_access_token(&t, &string(&body, "access_token"), NOW).await.expect("live");
    assert_eq!(access.scope, "openid email");
    // Without openid: no ID token.
    let body =
        refresh(&t, &client, &[("refresh_token", string(&body, "refresh_token").as_str()), ("scope", "email")], NOW)
            .await
            .expect("tokens");
    assert_eq!((&body["scope"], &body["id_token"]), (&json!("email"), &Value::Null));

    let (first, _, _) = web_grant(&t).await;
    let token = string(&first, "refresh_token");
    let wider = [("refresh_token", token.as_str()), ("scope", "openid address")];
    assert_eq!(
        refused(refresh(&t, &client, &wider, NOW).await),
        ("invalid_scope", "scope `address` was not granted to this refresh token".into())
    );
}

// Known bugs: these tests say what RFC 6749 asks and fail today (run them with
// `--ignored`). `refresh_token::exchange` checks the requested scope only after
// `refresh::redeem` has marked the presented token rotated, and `user_tokens` gives the
// new refresh token the narrowed scope of the access token.

#[tokio::test]
async fn a_narrowed_refresh_keeps_the_scope_of_the_grant_for_the_next_one() {
    let t = TestState::open().await;
    let (first, _, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let token = string(&first, "refresh_token");
    let narrowed =
        refresh(&t, &client, &[("refresh_token", token.as_str()), ("scope", "openid")], NOW).await.expect("tokens");
    assert_eq!(narrowed["scope"], "openid");
    let body = refresh(&t, &client, &[("refresh_token", string(&narrowed, "refresh_token").as_str())], NOW + 1)
        .await
        .expect("tokens");
    assert_eq!(body["scope"], "openid profile email", "the scope granted at the login");
}

#[tokio::test]
async fn a_narrowed_refresh_of_an_offline_grant_keeps_it_going() {
    let t = TestState::open().await;
    let session = login(&t, "pauline").await;
    let uri = "https://partner.example/cb";
    let partner = t.client("partner-portal").await;
    let code = code_for(&t, &request("partner-portal", uri, "openid offline_access", None), &session).await;
    let body = redeem(&t, &partner, &[("code", code.as_str()), ("redirect_uri", uri)], NOW).await.expect("tokens");
    let params = [("refresh_token", string(&body, "refresh_token")), ("scope", "openid".to_string())];
    let params: Vec<(&str, &str)> = params.iter().map(|(name, value)| (*name, value.as_str())).collect();
    let body = refresh(&t, &partner, &params, NOW + 5).await.expect("tokens");
    assert_eq!(body["scope"], "openid");
    assert!(body["refresh_token"].is_string(), "the presented token is spent: a successor is due");
}

#[tokio::test]
async fn a_refused_scope_does_not_spend_the_refresh_token() {
    let t = TestState::open().await;
    let (first, grant_id, _) = web_grant(&t).await;
    let client = t.client("actes-web").await;
    let token = string(&first, "refresh_token");
    let wider = [("refresh_token", token.as_str()), ("scope", "openid address")];
    assert_eq!(refused(refresh(&t, &client, &wider, NOW).await).0, "invalid_scope");
    let grace = t.config.tokens.refresh_token_reuse_grace;
    let retry = refresh(&t, &client, &[("refresh_token", token.as_str())], NOW + grace + 1).await;
    assert_eq!(retry.map(|body| body["scope"].clone()).ok(), Some(json!("openid profile email")));
    assert!(refresh_rows(&t, &grant_id).await.iter().all(|row| !row.revoked));
    assert!(audit_events(&t, "token.refresh_reuse").await.is_empty(), "no theft to report");
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    let t = TestState::open().await;
    let (first, _, _) = web_grant(&t).await;
    let token = string(&first, "refresh_token");
    let compta = t.client("compta-web").await;
    assert_eq!(
        refused(refresh(&t, &compta, &[("refresh_token", token.as_str())], NOW).await),
        ("invalid_grant", "the refresh token is invalid, expired or revoked".into())
    );
    // Not spent by the other client's attempt.
    let web = t.client("actes-web").await;
    refresh(&t, &web, &[("refresh_token", token.as_str())], NOW + 100).await.expect("tokens");
}

#[tokio::test]
async fn an_expired_revoked_or_orphaned_refresh_token_is_refused() {
    let t = TestState::open().await;
    let client = t.client("actes-web").await;
    let invalid = ("invalid_grant", "the refresh token is invalid, expired or revoked".to_string());

    let (first, _, _) = web_grant(&t).await;
    let token = string(&first, "refresh_token");
    let expires_at = refresh::find_live(&t, &token, NOW).await.expect("db").expect("live").expires_at;
    // The session (8 hours) would end first: keep it alive to see the token's own end.
    session_lasts(&t, expires_at + 1).await;
    assert_eq!(refused(refresh(&t, &client, &[("refresh_token", token.as_str())], expires_at).await), invalid);
    refresh(&t, &client, &[("refresh_token", token.as_str())], expires_at - 1).await.expect("a second before the end");

    let (first, grant_id, _) = web_grant(&t).await;
    refresh::revoke_family(&t, &grant_id, NOW).await.expect("revoked");
    assert_eq!(
        refused(refresh(&t, &client, &[("refresh_token", string(&first, "refresh_token").as_str())], NOW).await),
        invalid
    );

    // Without offline_access the token ends with its session (logout, expiry).
    let (first, _, session) = web_grant(&t).await;
    session::delete(&t.db, &session.id).await.expect("logged out");
    assert_eq!(
        refused(refresh(&t, &client, &[("refresh_token", string(&first, "refresh_token").as_str())], NOW).await),
        invalid
    );

    assert_eq!(refused(refresh(&t, &client, &[("refresh_token", "no-such-token")], NOW).await), invalid);
    assert_eq!(refused(refresh(&t, &client, &[], NOW).await), ("invalid_request", "refresh_token is required".into()));
}

/// Pushes the end of every session to `until`.
async fn session_lasts(t: &TestState, until: i64) {
    use crate::storage::entities::session as session_row;
    session_row::Entity::update_many()
        .col_expr(session_row::Column::ExpiresAt, Expr::value(until))
        .exec(&t.db)
        .await
        .expect("database");
}

#[tokio::test]
async fn an_offline_refresh_token_outlives_its_session() {
    let t = TestState::open().await;
    let session = login(&t, "pauline").await;
    let uri = "https://partner.example/cb";
    let partner = t.client("partner-portal").await;
    let code = code_for(&t, &request("partner-portal", uri, "openid offline_access", None), &session).await;
    let body = redeem(&t, &partner, &[("code", code.as_str()), ("redirect_uri", uri)], NOW).await.expect("tokens");
    session::delete(&t.db, &session.id).await.expect("logged out");
    let body = refresh(&t, &partner, &[("refresh_token", string(&body, "refresh_token").as_str())], NOW + 86_400)
        .await
        .expect("offline");
    assert_eq!(body["scope"], "openid offline_access");
    let next = refresh::find_live(&t, &string(&body, "refresh_token"), NOW + 86_400).await.expect("db").expect("live");
    assert!(next.offline);
}

#[tokio::test]
async fn an_archived_account_gets_no_more_tokens() {
    let t = TestState::open().await;
    let (first, _, _) = web_grant(&t).await;
    let pauline = t.account("pauline").await;
    account::Entity::update_many()
        .col_expr(account::Column::Archived, Expr::value(true))
        .filter(account::Column::Id.eq(&pauline.id))
        .exec(&t.db)
        .await
        .expect("archived");
    let client = t.client("actes-web").await;
    assert_eq!(
        refused(refresh(&t, &client, &[("refresh_token", string(&first, "refresh_token").as_str())], NOW).await),
        ("invalid_grant", "the account is no longer active".into())
    );
}

// ---------------------------------------------------------------------------------------
// client_credentials

async fn service(t: &TestState, client: &Client, params: &[(&str, &str)]) -> Result<Value, OAuthError> {
    client_credentials::exchange(t, client, &form(params), None, NOW).await
}

#[tokio::test]
async fn a_service_gets_a_token_for_itself_with_its_registered_scopes() {
    let t = TestState::open().await;
    let api = t.client("actes-api").await;
    let body = service(&t, &api, &[]).await.expect("a token");
    assert_eq!(body.as_object().map(|o| o.len()), Some(4), "no ID token, no refresh token: {body}");
    assert_eq!((&body["token_type"], &body["expires_in"]), (&json!("Bearer"), &json!(600)));
    assert_eq!(body["scope"], "actes.api actes.admin", "every registered scope by default");
    let token = string(&body, "access_token");
    assert_eq!(signed_claims(&t, &token).await.0, "EdDSA", "the client's own algorithm");
    let claims = tokens::verify_access_token(&t, &token, NOW).await.expect("live");
    assert_eq!(
        (claims.sub.as_str(), claims.aud.as_str(), claims.client_id.as_str()),
        ("actes-api", "actes-api", "actes-api")
    );
    assert_eq!((claims.iat, claims.exp), (NOW, NOW + 600));
    assert_eq!(claims.account_id(), None, "a client's own token");
    assert_eq!((&claims.sid, claims.auth_time, &claims.gid), (&None, None, &None));
    assert!(claims.authorization.is_empty(), "no account, no rights");

    let body = service(&t, &api, &[("scope", "actes.api")]).await.expect("a token");
    assert_eq!(body["scope"], "actes.api");
}

#[tokio::test]
async fn a_service_may_not_ask_for_scopes_it_did_not_register_nor_openid() {
    let t = TestState::open().await;
    let api = t.client("actes-api").await;
    assert_eq!(
        refused(service(&t, &api, &[("scope", "actes.api other")]).await),
        ("invalid_scope", "scope `other` is not registered for this client".into())
    );
    let for_users = ("invalid_scope", "scope `openid` is for a user's login: a service's token has no user".into());
    for scope in ["openid", "actes.api openid"] {
        assert_eq!(refused(service(&t, &api, &[("scope", scope)]).await), for_users);
    }
    // openid is a user's scope: refused even to a service that registered it, and left
    // out of its default scopes.
    let mut api = api;
    api.scopes.push("openid".into());
    assert_eq!(refused(service(&t, &api, &[("scope", "actes.api openid")]).await), for_users);
    let body = service(&t, &api, &[]).await.expect("a token with the registered scopes");
    assert_eq!(body["scope"], "actes.api actes.admin");
}

#[tokio::test]
async fn a_public_client_cannot_use_client_credentials_even_if_registered_for_it() {
    let t = TestState::open().await;
    // Registration refuses this; the grant refuses it again.
    let mut desktop = t.client("actes-desktop").await;
    desktop.grant_types.push("client_credentials".into());
    assert_eq!(
        refused(service(&t, &desktop, &[]).await),
        ("unauthorized_client", "a public client cannot use client_credentials".into())
    );
}

// ---------------------------------------------------------------------------------------
// The endpoint's dispatch: which client may use which grant.

async fn endpoint(t: &TestState, client_id: &str, secret: &str, body: &str) -> Result<Value, OAuthError> {
    let mut headers = HeaderMap::new();
    let basic = STANDARD.encode(format!("{client_id}:{secret}"));
    headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Basic {basic}")).expect("header"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-www-form-urlencoded"));
    handle(t, &ClientIp::default(), &headers, body.as_bytes()).await
}

#[tokio::test]
async fn a_client_uses_only_the_grants_it_registered() {
    let t = TestState::open().await;
    let web = ("actes-web", "actes-web-secret-0123456789");
    let api = ("actes-api", "actes-api-secret-0123456789");
    let error = endpoint(&t, web.0, web.1, "grant_type=client_credentials").await.expect_err("refused");
    assert_eq!(
        (error.status, error.error, error.description.as_str()),
        (StatusCode::BAD_REQUEST, "unauthorized_client", "this client may not use the client_credentials grant")
    );
    let error = endpoint(&t, api.0, api.1, "grant_type=refresh_token&refresh_token=x").await.expect_err("refused");
    assert_eq!(error.error, "unauthorized_client");
    let error = endpoint(&t, api.0, api.1, "grant_type=authorization_code&code=x").await.expect_err("refused");
    assert_eq!(error.error, "unauthorized_client");
    let error = endpoint(&t, api.0, api.1, "grant_type=password&username=a&password=b").await.expect_err("refused");
    assert_eq!(
        (error.error, error.description.as_str()),
        ("unsupported_grant_type", "grant_type `password` is not supported")
    );
    let error =
        endpoint(&t, api.0, "wrong-secret-0123456789", "grant_type=client_credentials").await.expect_err("refused");
    assert_eq!((error.status, error.error), (StatusCode::UNAUTHORIZED, "invalid_client"));
    let body = endpoint(&t, api.0, api.1, "grant_type=client_credentials").await.expect("a token");
    assert_eq!(body["scope"], "actes.api actes.admin");
    // The endpoint passes the clock's time to the grant.
    let token = tokens::verify_access_token(&t, &string(&body, "access_token"), NOW).await.expect("live");
    assert_eq!(token.iat, NOW);
}
