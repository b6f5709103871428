//! The device authorization endpoint (RFC 8628 3.1, 3.2): a device — a scanner, a
//! shared terminal, a command-line tool — authenticates as its client (exactly as at
//! the token endpoint; a public client sends its `client_id`), and receives a device
//! code to poll the token endpoint with and a user code for a person to type at the
//! verification URI. The rows and their rules are in `device_authorization`.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::HeaderMap,
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::error::OAuthError;
use super::token::{form_params, no_store};
use super::{VERIFICATION_PATH, client_auth, scope};
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::clients::DEVICE_CODE_GRANT;
use crate::device_authorization::{self, user_code};
use crate::state::AppState;

pub async fn endpoint(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &ip, &headers, &body).await {
        Ok(body) => no_store(Json(body)),
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    // Each request writes a row until it expires: a flood from one address is cut off
    // before it costs a client authentication or a write.
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.device_authorization_per_ip.hit_from(address, state.clock.now())
    {
        return Err(OAuthError::too_many_requests(wait));
    }
    let client = client_auth::authenticate(state, ip, headers, &params).await?;
    if !client.allows_grant(DEVICE_CODE_GRANT) {
        return Err(OAuthError::unauthorized_client(format!(
            "this client may not use the device authorization grant: add {DEVICE_CODE_GRANT} to its grant_types"
        )));
    }
    // As in an authorization request, minus what the client may not have; `openid` is
    // the default and must be there (the tokens are a person's).
    let scopes = scope::allowed(&client, params.get("scope").unwrap_or("openid"));
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::invalid_scope("the scope must include openid"));
    }
    let now = state.clock.now();
    let config = &state.config.device_authorization;
    let issued = device_authorization::create(&state.db, &client.client_id, &scopes, config, now).await?;
    let event = AuditEvent {
        event: "device.authorization_requested",
        client_id: Some(&client.client_id),
        ip: ip.0.as_deref(),
        detail: Some(json!({"scope": scopes.join(" ")})),
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
    let verification_uri = format!("{}{VERIFICATION_PATH}", state.config.issuer());
    let shown = user_code::display(&issued.user_code);
    // Letters and a dash: nothing to encode.
    let complete = format!("{verification_uri}?user_code={shown}");
    Ok(json!({
        "device_code": issued.device_code,
        "user_code": shown,
        "verification_uri": verification_uri,
        "verification_uri_complete": complete,
        "expires_in": issued.expires_in,
        "interval": issued.interval,
    }))
}
