//! The device authorization grant at the token endpoint (RFC 8628 3.4, 3.5): the device
//! polls with its device code until the person decides. Pending: `authorization_pending`,
//! or `slow_down` when it came back before the interval (which then grows by 5 s).
//! Denied: `access_denied`. Expired: `expired_token`. Approved: the tokens, once — the
//! poll that spends the code is one conditional UPDATE (`device_authorization::poll`),
//! so of parallel polls on any nodes one gets them and the others `invalid_grant`.
//!
//! The tokens come from the same `user_tokens` as the code flow's: the account's rights
//! in the client's application, refresh tokens under the same rules (offline_access or
//! first-party), and the `amr`, `acr` and `sid` of the session that approved.

use serde_json::{Value, json};

use super::jwt::SessionFacts;
use super::{UserGrant, user_tokens};
use crate::accounts;
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::clients::{Client, DEVICE_CODE_GRANT};
use crate::device_authorization::{self, Poll};
use crate::oidc::{error::OAuthError, params::Params, resource};
use crate::state::AppState;

pub async fn exchange(
    state: &AppState,
    ip: &ClientIp,
    client: &Client,
    params: &Params,
    dpop_jkt: Option<&str>,
    now: i64,
) -> Result<Value, OAuthError> {
    let device_code =
        params.get("device_code").ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
    // A device authorization request names no resource, so its grant has none to give
    // (RFC 8707 2.2); refused before the poll, which would spend the approved code.
    if params.contains("resource") {
        return Err(resource::invalid_target("the device authorization grant is not for a resource"));
    }
    let approved = match device_authorization::poll(&state.db, device_code, &client.client_id, now).await? {
        Poll::Approved(approved) => approved,
        Poll::Pending => return Err(OAuthError::authorization_pending()),
        Poll::SlowDown { interval } => return Err(OAuthError::slow_down(interval)),
        Poll::Denied => return Err(OAuthError::access_denied("the user denied the authorization")),
        Poll::Expired => {
            return Err(OAuthError::expired_token("the device code has expired; ask for a new one"));
        }
        Poll::Invalid => {
            return Err(OAuthError::invalid_grant("the device code is invalid, another client's or already used"));
        }
    };
    let account = accounts::find_by_id(&state.db, &approved.account_id)
        .await?
        .filter(|a| a.may_get_tokens())
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;
    let facts = SessionFacts {
        auth_time: approved.auth_time,
        acr: approved.acr.clone(),
        amr: approved.amr.clone(),
        sid: approved.sid.clone(),
    };
    let grant = UserGrant {
        resource: None,
        account: &account,
        client,
        scopes: &approved.scopes,
        refresh_scopes: &approved.scopes,
        facts: &facts,
        nonce: None,
        grant_id: &approved.grant_id,
        session_id: approved.session_id.as_deref(),
        grant_expires_at: None,
        claims: None,
        dpop_jkt,
    };
    let body = user_tokens(state, &grant, now).await?;
    let event = AuditEvent {
        event: "token.issued",
        account_id: Some(&account.id),
        client_id: Some(&client.client_id),
        ip: ip.0.as_deref(),
        detail: Some(json!({"grant_type": DEVICE_CODE_GRANT, "refresh_token": body.get("refresh_token").is_some()})),
    };
    audit::record(&state.db, now, event).await;
    Ok(body)
}
