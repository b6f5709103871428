//! The userinfo endpoint (OIDC Core 5.3), by GET and POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the `access_token` form field (RFC 6750 2).
//! Plain JSON, or a JWT signed with Sésame's key of the algorithm the client registered
//! as `userinfo_signed_response_alg` (5.3.2).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
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
    // Personal data: never kept by a cache on the way.
    match userinfo(state, &token).await {
        Ok(Answer::Json(body)) => crate::oidc::token::no_store(Json(body)),
        Ok(Answer::Jwt(jwt)) => {
            let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/jwt"))];
            crate::oidc::token::no_store((content_type, jwt))
        }
        Err(error) => error.into_response(),
    }
}

enum Answer {
    Json(Value),
    /// Signed for a client that registered `userinfo_signed_response_alg`.
    Jwt(String),
}

async fn userinfo(state: &AppState, token: &str) -> Result<Answer, OAuthError> {
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
    let client = state.client_cache.get(&state.db, &claims.client_id, now).await?;
    if let Some(client) = &client {
        for (name, value) in claims::authorization_from(account, &view.access, client) {
            body[name] = value;
        }
    }
    let Some((client, alg)) = client.and_then(|client| client.userinfo_alg.map(|alg| (client, alg))) else {
        return Ok(Answer::Json(body));
    };
    // OIDC Core 5.3.2: a signed response names who signed it and for whom.
    body["iss"] = json!(state.config.issuer());
    body["aud"] = json!(client.client_id);
    let signed = async {
        let key = state.keys.current(alg).await.map_err(|e| e.to_string())?;
        key.sign("JWT", &body).map_err(|e| e.to_string())
    };
    match signed.await {
        Ok(jwt) => Ok(Answer::Jwt(jwt)),
        Err(error) => {
            tracing::error!(%error, alg = alg.as_str(), "could not sign a userinfo response");
            Err(OAuthError::server_error())
        }
    }
}
