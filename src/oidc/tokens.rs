//! Minting and checking the tokens Sésame signs: ID tokens (OIDC Core 2) and access
//! tokens as JWTs (RFC 9068), each recorded by `jti` so that it can be revoked.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::claims;
use crate::accounts::Account;
use crate::app::AppState;
use crate::clients::Client;
use crate::crypto::{self, jws::SigningAlg, jws::UnverifiedJws};
use crate::domain::DomainError;
use crate::storage::entities::issued_token;

/// What the tokens of one grant assert.
pub struct Grant<'a> {
    pub account: &'a Account,
    pub client: &'a Client,
    pub scopes: Vec<String>,
    pub nonce: Option<String>,
    pub auth_time: i64,
    pub acr: String,
    pub amr: Vec<String>,
    pub sid: String,
    /// The authorization code the tokens come from, to revoke them if it is replayed.
    pub code_hash: Option<String>,
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
    #[serde(default)]
    pub auth_time: Option<i64>,
    #[serde(default)]
    pub acr: Option<String>,
    #[serde(default)]
    pub sid: Option<String>,
}

fn key_error(error: crate::crypto::keys::KeyError) -> DomainError {
    DomainError::Crypto(error.to_string())
}

pub struct MintedAccess {
    pub token: String,
    pub expires_in: i64,
}

pub async fn mint_access_token(state: &AppState, grant: &Grant<'_>, now: i64) -> Result<MintedAccess, DomainError> {
    let alg = SigningAlg::parse(&state.config.tokens.access_token_alg).unwrap_or(SigningAlg::Es256);
    let key = state.keys.current(alg).await.map_err(key_error)?;
    let ttl = state.config.tokens.access_token_ttl;
    let claims = AccessClaims {
        iss: state.config.issuer().to_string(),
        sub: grant.account.id.clone(),
        aud: grant.client.client_id.clone(),
        client_id: grant.client.client_id.clone(),
        exp: now + ttl,
        iat: now,
        jti: crypto::random_id(),
        scope: grant.scopes.join(" "),
        auth_time: Some(grant.auth_time),
        acr: Some(grant.acr.clone()),
        sid: Some(grant.sid.clone()),
    };
    let token = key.sign("at+jwt", &claims).map_err(|e| DomainError::Crypto(e.to_string()))?;
    issued_token::ActiveModel {
        jti: Set(claims.jti.clone()),
        kind: Set("access_token".into()),
        client_id: Set(grant.client.client_id.clone()),
        account_id: Set(Some(grant.account.id.clone())),
        code_hash: Set(grant.code_hash.clone()),
        issued_at: Set(now),
        expires_at: Set(claims.exp),
        revoked: Set(false),
    }
    .insert(&state.db)
    .await?;
    Ok(MintedAccess { token, expires_in: ttl })
}

pub async fn mint_id_token(
    state: &AppState,
    grant: &Grant<'_>,
    access_token: Option<&str>,
    now: i64,
) -> Result<String, DomainError> {
    let alg = grant.client.id_token_alg;
    let key = state.keys.current(alg).await.map_err(key_error)?;
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(state.config.issuer()));
    claims.insert("sub".into(), json!(grant.account.id));
    claims.insert("aud".into(), json!(grant.client.client_id));
    claims.insert("azp".into(), json!(grant.client.client_id));
    claims.insert("exp".into(), json!(now + state.config.tokens.id_token_ttl));
    claims.insert("iat".into(), json!(now));
    claims.insert("auth_time".into(), json!(grant.auth_time));
    claims.insert("acr".into(), json!(grant.acr));
    claims.insert("amr".into(), json!(grant.amr));
    claims.insert("sid".into(), json!(grant.sid));
    if let Some(nonce) = &grant.nonce {
        claims.insert("nonce".into(), json!(nonce));
    }
    if let Some(token) = access_token {
        claims.insert("at_hash".into(), json!(crypto::half_hash(alg, token)));
    }
    for (name, value) in claims::for_scopes(grant.account, &grant.scopes) {
        claims.insert(name, value);
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

/// Checks an access token: signature by one of our keys, type, issuer, expiry, and that
/// it was not revoked.
pub async fn verify_access_token(state: &AppState, token: &str, now: i64) -> Result<AccessClaims, TokenCheckError> {
    let jws = UnverifiedJws::parse(token).map_err(|_| TokenCheckError::Malformed)?;
    if jws.typ.as_deref() != Some("at+jwt") {
        return Err(TokenCheckError::NotAccessToken);
    }
    let key = match &jws.kid {
        Some(kid) => state.keys.find(kid).await.ok_or(TokenCheckError::Signature)?,
        None => return Err(TokenCheckError::Signature),
    };
    let claims: AccessClaims = jws.verify(&key).map_err(|_| TokenCheckError::Signature)?;
    if claims.iss != state.config.issuer() {
        return Err(TokenCheckError::Issuer);
    }
    if claims.exp <= now {
        return Err(TokenCheckError::Expired);
    }
    match issued_token::Entity::find_by_id(claims.jti.clone()).one(&state.db).await? {
        Some(row) if !row.revoked => Ok(claims),
        _ => Err(TokenCheckError::Revoked),
    }
}

/// The subject of an ID token this provider issued to `client`, expired or not (OIDC
/// Core 3.1.2.1 allows an expired `id_token_hint`).
pub async fn subject_of_id_token_hint(state: &AppState, hint: &str, client: &Client, _now: i64) -> Option<String> {
    let jws = UnverifiedJws::parse(hint).ok()?;
    if jws.typ.as_deref() == Some("at+jwt") {
        return None;
    }
    let key = state.keys.find(jws.kid.as_deref()?).await?;
    let claims: Value = jws.verify(&key).ok()?;
    let audience_ok = match &claims["aud"] {
        Value::String(aud) => aud == &client.client_id,
        Value::Array(list) => list.iter().any(|a| a.as_str() == Some(&client.client_id)),
        _ => false,
    };
    if claims["iss"].as_str() != Some(state.config.issuer()) || !audience_ok {
        return None;
    }
    claims["sub"].as_str().map(str::to_string)
}
