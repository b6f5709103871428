//! Token introspection (RFC 7662), for the office applications' APIs. The caller
//! authenticates as a client; it learns about tokens issued to itself or to another
//! client of the same application, and anything else introspects as inactive. An access
//! token for a resource (RFC 8707, its `aud`) is told only to the client it was issued
//! to and to that resource's server: the other clients of the application are not
//! where it is meant to be used.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::token::{form_params, no_store};
use super::token::{jwt as tokens, refresh_store as refresh};
use super::{client_auth, subject};
use crate::client_ip::ClientIp;
use crate::clients::{self, Client};
use crate::oidc::error::OAuthError;
use crate::state::AppState;

pub async fn introspect(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &ip, &headers, &body).await {
        Ok(body) => no_store(Json(body)),
        Err(error) => error.into_response(),
    }
}

fn inactive() -> Value {
    json!({"active": false})
}

async fn handle(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let caller = client_auth::authenticate(state, ip, headers, &params).await?;
    if caller.is_public() {
        return Err(OAuthError::invalid_client("introspection is for confidential clients (resource servers)"));
    }
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = state.clock.now();
    // A JWT is an access token; anything else may be a refresh token.
    if token.matches('.').count() == 2 {
        return access_token(state, &caller, token, now).await;
    }
    refresh_token(state, &caller, token, now).await
}

async fn access_token(state: &AppState, caller: &Client, token: &str, now: i64) -> Result<Value, OAuthError> {
    let claims = match tokens::verify_access_token(state, token, now).await {
        Ok(claims) => claims,
        Err(tokens::TokenCheckError::Storage(error)) => return Err(crate::domain::DomainError::Storage(error).into()),
        Err(_) => return Ok(inactive()),
    };
    let allowed = if claims.aud == claims.client_id {
        may_see(state, caller, &claims.client_id).await?
    } else {
        caller.client_id == claims.client_id || caller.resource.as_deref() == Some(claims.aud.as_str())
    };
    if !allowed {
        return Ok(inactive());
    }
    let mut body = json!({
        "active": true,
        "token_type": "Bearer",
        "scope": claims.scope,
        "client_id": claims.client_id,
        "sub": claims.sub,
        "aud": claims.aud,
        "iss": claims.iss,
        "exp": claims.exp,
        "iat": claims.iat,
        "jti": claims.jti,
    });
    if let Some(sid) = &claims.sid {
        body["sid"] = json!(sid);
    }
    if let Some(acr) = &claims.acr {
        body["acr"] = json!(acr);
    }
    if let Some(auth_time) = claims.auth_time {
        body["auth_time"] = json!(auth_time);
    }
    // A service's own token (client_credentials) names no account: no lookup.
    let service_token = claims.sid.is_none() && claims.sub == claims.client_id;
    if !service_token {
        add_username(state, &mut body, &claims.account).await?;
    }
    Ok(body)
}

async fn refresh_token(state: &AppState, caller: &Client, token: &str, now: i64) -> Result<Value, OAuthError> {
    let Some(row) = refresh::find_live(state, token, now).await? else { return Ok(inactive()) };
    if !may_see(state, caller, &row.client_id).await? {
        return Ok(inactive());
    }
    // The `sub` the token's client knows the account by (pairwise or not).
    let sub = match clients::find(&state.db, &row.client_id).await? {
        Some(owner) => subject::for_client(&state.pairwise_key, &owner, &row.account_id),
        None => return Ok(inactive()),
    };
    let mut body = json!({
        "active": true,
        "token_type": "refresh_token",
        "scope": row.scope,
        "client_id": row.client_id,
        "sub": sub,
        "iss": state.config.issuer(),
        "exp": row.expires_at,
        "iat": row.created_at,
    });
    add_username(state, &mut body, &row.account_id).await?;
    Ok(body)
}

/// The account's login name, when the token is a user's and the account still active.
async fn add_username(state: &AppState, body: &mut Value, subject: &str) -> Result<(), OAuthError> {
    match state.caches.account_view(&state.db, subject).await? {
        Some(view) if view.account.archived => *body = inactive(),
        Some(view) => body["username"] = json!(view.account.username),
        None => {}
    }
    Ok(())
}

/// A client sees its own tokens and those of the other clients of its application.
async fn may_see(state: &AppState, caller: &Client, token_client_id: &str) -> Result<bool, OAuthError> {
    if caller.client_id == token_client_id {
        return Ok(true);
    }
    let Some(application) = &caller.application_id else { return Ok(false) };
    let owner = clients::find(&state.db, token_client_id).await?;
    Ok(owner.is_some_and(|c| c.application_id.as_ref() == Some(application)))
}
