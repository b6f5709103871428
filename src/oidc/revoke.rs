//! Token revocation (RFC 7009). A client revokes its own tokens: a refresh token takes
//! its whole grant with it (the access tokens it produced too), an access token is
//! listed as revoked until it expires. Unknown tokens and other clients' tokens are
//! answered 200 all the same, so the endpoint tells nothing about them.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::client_auth;
use super::token::{form_params, no_store};
use super::token::{jwt as tokens, refresh_store as refresh};
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::oidc::error::OAuthError;
use crate::revocations::{self, Scope};
use crate::state::AppState;

pub async fn revoke(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &ip, &headers, &body).await {
        Ok(()) => no_store(StatusCode::OK),
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let params = form_params(headers, body)?;
    let client = client_auth::authenticate(state, ip, headers, &params).await?;
    let token = params.get("token").ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let now = state.clock.now();
    if let Some(row) = refresh::find_any(state, token).await? {
        if row.client_id == client.client_id && !row.revoked {
            refresh::revoke_family(state, &row.grant_id, now).await?;
            record(state, now, &client.client_id, &row.account_id, "refresh_token").await;
        }
        return Ok(());
    }
    if let Ok(claims) = tokens::decode_access_token(state, token).await
        && claims.client_id == client.client_id
        && claims.exp > now
    {
        revocations::revoke(&state.db, Scope::Token(&claims.jti), claims.exp)
            .await
            .map_err(|e| OAuthError::from(crate::domain::DomainError::Storage(e)))?;
        record(state, now, &client.client_id, &claims.account, "access_token").await;
    }
    Ok(())
}

async fn record(state: &AppState, now: i64, client_id: &str, subject: &str, kind: &str) {
    let event = AuditEvent {
        event: "token.revoked",
        account_id: Some(subject),
        client_id: Some(client_id),
        detail: Some(serde_json::json!({"token_type": kind})),
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
}
