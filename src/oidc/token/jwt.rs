//! Minting and checking the tokens Sésame signs: ID tokens (OIDC Core 2) and access
//! tokens as JWTs (RFC 9068). Minting an access token costs one signature and no
//! database write; checking one costs a signature check and one lookup in the
//! revocation list.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::accounts::Account;
use crate::clients::Client;
use crate::crypto::{self, jws::SigningAlg, jws::UnverifiedJws};
use crate::domain::DomainError;
use crate::oidc::{claims, subject};
use crate::revocations::{self, Scope};
use crate::state::AppState;

/// Who and what an access token is for.
pub struct AccessGrant<'a> {
    /// The account's id, or the client's for client_credentials.
    pub subject: &'a str,
    pub client: &'a Client,
    pub scopes: &'a [String],
    /// Set when a user authenticated (not for client_credentials).
    pub session: Option<&'a SessionFacts>,
    /// The code or refresh family the token comes from, to revoke them together.
    pub grant_id: Option<&'a str>,
    /// The account's rights in the client's application (see `claims::authorization`).
    pub authorization: Option<&'a Map<String, Value>>,
    /// Standard claims requested individually for userinfo (`claims` parameter).
    pub userinfo_claims: &'a [String],
    /// The resource (RFC 8707) the token is for: its `aud`, instead of the client.
    pub resource: Option<&'a str>,
}

/// How and when the user authenticated, carried from the session into every token of
/// the grant.
#[derive(Debug, Clone)]
pub struct SessionFacts {
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub sid: String,
}

/// Claims of Sésame's access tokens.
#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub client_id: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Grant id: the code or refresh family the token comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<String>,
    /// Standard claims the `claims` parameter asked for at userinfo, and the client
    /// may have (see `claims_request`): userinfo adds them to the scopes' claims. In
    /// the signed token, so that no row is read for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo_claims: Vec<String>,
    /// A pairwise client's token: its account, sealed with the master key (see
    /// `oidc::subject`), since its `sub` cannot be turned back into the account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_ref: Option<String>,
    /// The account id (or client id) behind `sub`: `sub` itself, or the account opened
    /// from `account_ref` by `decode_access_token`. Revocations, audit and lookups use it.
    #[serde(skip)]
    pub account: String,
    /// Rights, options and initials in the client's application, applications open.
    #[serde(flatten, default)]
    pub authorization: Map<String, Value>,
}

impl AccessClaims {
    /// The account the token speaks for: `None` for a client's own token
    /// (client_credentials, whose `sub` is the client id). A token issued for a user
    /// always carries the session it came from (`sid`, `auth_time`); only those do.
    pub fn account_id(&self) -> Option<&str> {
        (self.sid.is_some() && self.auth_time.is_some()).then_some(self.account.as_str())
    }
}

fn key_error(error: crate::crypto::keys::KeyError) -> DomainError {
    DomainError::Crypto(error.to_string())
}

pub struct MintedAccess {
    pub token: String,
    pub expires_in: i64,
}

pub async fn mint_access_token(
    state: &AppState,
    grant: &AccessGrant<'_>,
    now: i64,
) -> Result<MintedAccess, DomainError> {
    let alg = grant
        .client
        .access_token_alg
        .or_else(|| SigningAlg::parse(&state.config.tokens.access_token_alg))
        .unwrap_or(SigningAlg::Es256);
    let key = state.keys.current(alg).await.map_err(key_error)?;
    let ttl = state.config.tokens.access_token_ttl;
    // A user's token speaks of the account as the client knows it; a client's own
    // token (client_credentials, no session) is about the client.
    let (sub, account_ref) = match grant.session {
        Some(_) if grant.client.sector().is_some() => (
            subject::for_client(&state.pairwise_key, grant.client, grant.subject),
            Some(subject::seal_account(&state.secrets, &grant.client.client_id, grant.subject)),
        ),
        _ => (grant.subject.to_string(), None),
    };
    let claims = AccessClaims {
        iss: state.config.issuer().to_string(),
        sub,
        aud: grant.resource.map_or_else(|| grant.client.client_id.clone(), str::to_string),
        client_id: grant.client.client_id.clone(),
        exp: now + ttl,
        iat: now,
        jti: crypto::random_id(),
        scope: grant.scopes.join(" "),
        auth_time: grant.session.map(|s| s.auth_time),
        acr: grant.session.map(|s| s.acr.clone()),
        sid: grant.session.map(|s| s.sid.clone()),
        gid: grant.grant_id.map(str::to_string),
        userinfo_claims: grant.userinfo_claims.to_vec(),
        account_ref,
        account: grant.subject.to_string(),
        authorization: grant.authorization.cloned().unwrap_or_default(),
    };
    let token = key.sign("at+jwt", &claims).map_err(|e| DomainError::Crypto(e.to_string()))?;
    Ok(MintedAccess { token, expires_in: ttl })
}

/// What an ID token states besides the account's claims.
pub struct IdTokenFacts<'a> {
    pub account: &'a Account,
    pub client: &'a Client,
    pub scopes: &'a [String],
    pub session: &'a SessionFacts,
    pub nonce: Option<&'a str>,
    pub access_token: Option<&'a str>,
    pub authorization: &'a Map<String, Value>,
    /// Standard claims requested individually for the ID token (`claims` parameter).
    pub requested_claims: &'a [String],
}

pub async fn mint_id_token(state: &AppState, facts: &IdTokenFacts<'_>, now: i64) -> Result<String, DomainError> {
    let alg = facts.client.id_token_alg;
    let key = state.keys.current(alg).await.map_err(key_error)?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.config.issuer()));
    claims.insert("sub".into(), json!(subject::for_client(&state.pairwise_key, facts.client, &facts.account.id)));
    claims.insert("aud".into(), json!(facts.client.client_id));
    claims.insert("azp".into(), json!(facts.client.client_id));
    claims.insert("exp".into(), json!(now + state.config.tokens.id_token_ttl));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(facts.session.auth_time));
    claims.insert("acr".into(), json!(facts.session.acr));
    claims.insert("amr".into(), json!(facts.session.amr));
    claims.insert("sid".into(), json!(facts.session.sid));
    if let Some(nonce) = facts.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(token) = facts.access_token {
        claims.insert("at_hash".into(), json!(crypto::half_hash(alg, token)));
    }
    for (name, value) in claims::for_scopes(facts.account, facts.scopes) {
        claims.insert(name, value);
    }
    for (name, value) in crate::oidc::claims_request::values(facts.account, facts.requested_claims) {
        claims.insert(name, value);
    }
    for (name, value) in facts.authorization {
        claims.insert(name.clone(), value.clone());
    }
    key.sign("JWT", &Value::Object(claims)).map_err(|e| DomainError::Crypto(e.to_string()))
}

#[derive(Debug, thiserror::Error)]
pub enum TokenCheckError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token's signature is not valid")]
    Signature,
    #[error("the token was not issued by this provider")]
    Issuer,
    #[error("the token is not an access token")]
    NotAccessToken,
    #[error("the token has expired")]
    Expired,
    #[error("the token has been revoked")]
    Revoked,
    #[error("storage error")]
    Storage(#[from] sea_orm::DbErr),
}

/// Checks an access token's signature (one of our keys), type and issuer, and returns
/// its claims, expired or not.
pub async fn decode_access_token(state: &AppState, token: &str) -> Result<AccessClaims, TokenCheckError> {
    let jws = UnverifiedJws::parse(token).map_err(|_| TokenCheckError::Malformed)?;
    if jws.typ.as_deref() != Some("at+jwt") {
        return Err(TokenCheckError::NotAccessToken);
    }
    let kid = jws.kid.as_deref().ok_or(TokenCheckError::Signature)?;
    let key = state.keys.find(kid).await.ok_or(TokenCheckError::Signature)?;
    let mut claims: AccessClaims = jws.verify(&key.verifying_key()).map_err(|_| TokenCheckError::Signature)?;
    if claims.iss != state.config.issuer() {
        return Err(TokenCheckError::Issuer);
    }
    claims.account = match &claims.account_ref {
        Some(sealed) => {
            subject::open_account(&state.secrets, &claims.client_id, sealed).ok_or(TokenCheckError::Malformed)?
        }
        None => claims.sub.clone(),
    };
    Ok(claims)
}

/// Checks an access token: signature, type, issuer, expiry, and that nothing it belongs
/// to (itself, its grant, its session, its account) was revoked.
pub async fn verify_access_token(state: &AppState, token: &str, now: i64) -> Result<AccessClaims, TokenCheckError> {
    let claims = decode_access_token(state, token).await?;
    if claims.exp <= now {
        return Err(TokenCheckError::Expired);
    }
    let mut scopes = vec![Scope::Token(&claims.jti), Scope::Account(&claims.account)];
    if let Some(gid) = &claims.gid {
        scopes.push(Scope::Grant(gid));
    }
    if let Some(sid) = &claims.sid {
        scopes.push(Scope::Session(sid));
    }
    if revocations::any_revoked_cached(&state.caches, &state.db, &scopes).await? {
        return Err(TokenCheckError::Revoked);
    }
    Ok(claims)
}

/// The claims of an ID token this provider issued to `client`, expired or not (OIDC
/// Core 3.1.2.1 allows an expired `id_token_hint`; so does RP-initiated logout).
pub async fn claims_of_id_token_hint(state: &AppState, hint: &str, client: Option<&Client>) -> Option<Value> {
    let jws = UnverifiedJws::parse(hint).ok()?;
    if jws.typ.as_deref() == Some("at+jwt") {
        return None;
    }
    let key = state.keys.find(jws.kid.as_deref()?).await?;
    let claims: Value = jws.verify(&key.verifying_key()).ok()?;
    if claims["iss"].as_str() != Some(state.config.issuer()) || claims["sub"].as_str().is_none() {
        return None;
    }
    let audience_ok = |client_id: &str| match &claims["aud"] {
        Value::String(aud) => aud == client_id,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(client_id)),
        _ => false,
    };
    if let Some(client) = client
        && !audience_ok(&client.client_id)
    {
        return None;
    }
    Some(claims)
}

/// The `aud` of ID token claims, when it names a single client.
pub fn audience(claims: &Value) -> Option<&str> {
    match &claims["aud"] {
        Value::String(aud) => Some(aud),
        Value::Array(list) if list.len() == 1 => list[0].as_str(),
        _ => None,
    }
}
