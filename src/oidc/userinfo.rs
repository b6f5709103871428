//! The userinfo endpoint (OIDC Core 5.3), by GET and POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the `access_token` form field (RFC 6750 2).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::error::OAuthError;
use super::params::Params;
use super::token::jwt::{self as tokens, TokenCheckError};
use super::{claims, claims_request};
use crate::state::AppState;

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, bearer_header(&headers), None).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let from_body = if is_form {
        match std::str::from_utf8(&body).ok().map(Params::parse) {
            Some(Ok(params)) => params.owned("access_token"),
            _ => {
                return OAuthError::invalid_request("the body is not a valid form").into_response();
            }
        }
    } else {
        None
    };
    respond(&state, bearer_header(&headers), from_body).await
}

fn bearer_header(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string())
}

async fn respond(state: &AppState, header_token: Option<String>, body_token: Option<String>) -> Response {
    let token = match (header_token, body_token) {
        (Some(_), Some(_)) => {
            return OAuthError::invalid_request("send the access token once: in the header or the body")
                .into_response();
        }
        (Some(token), None) | (None, Some(token)) => token,
        (None, None) => return OAuthError::missing_token().into_response(),
    };
    match userinfo(state, &token).await {
        // Personal data: never kept by a cache on the way.
        Ok(body) => crate::oidc::token::no_store(Json(body)),
        Err(error) => error.into_response(),
    }
}

async fn userinfo(state: &AppState, token: &str) -> Result<Value, OAuthError> {
    let now = state.clock.now();
    let claims = tokens::verify_access_token(state, token, now).await.map_err(|error| match error {
        TokenCheckError::Storage(e) => OAuthError::from(crate::domain::DomainError::Storage(e)),
        other => OAuthError::invalid_token(other.to_string()),
    })?;
    // A client's own token (client_credentials) speaks for no account.
    let account_id = claims
        .account_id()
        .ok_or_else(|| OAuthError::invalid_token("this access token was issued to a client, not for a user"))?;
    let scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_string).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::insufficient_scope("the access token was not granted the openid scope"));
    }
    // From this node's memory, kept true by the change feed: a change shows at the next call.
    let view = state
        .caches
        .account_view(&state.db, account_id)
        .await?
        .filter(|view| !view.account.archived)
        .ok_or_else(|| OAuthError::invalid_token("the account of this token is no longer active"))?;
    let account = &view.account;
    // The token's `sub`: the account id, or the pairwise value the ID token gave.
    let mut body = json!({"sub": claims.sub});
    for (name, value) in claims::for_scopes(account, &scopes) {
        body[name] = value;
    }
    for (name, value) in claims_request::values(account, &claims.userinfo_claims) {
        body[name] = value;
    }
    // Rights as they are now, not as when the token was issued.
    if let Some(client) = state.client_cache.get(&state.db, &claims.client_id, now).await? {
        for (name, value) in claims::authorization_from(account, &view.access, &client) {
            body[name] = value;
        }
    }
    Ok(body)
}
