//! The refresh token grant: rotation, reuse detection, narrower scopes on request; the
//! grant's resource (RFC 8707) kept, never another.

use serde_json::Value;

use super::refresh_store::{self as refresh, Redemption};
use super::{UserGrant, user_tokens};
use crate::accounts;
use crate::clients::Client;
use crate::oidc::{error::OAuthError, params::Params, resource};
use crate::state::AppState;

pub async fn exchange(
    state: &AppState,
    client: &Client,
    params: &Params,
    dpop_jkt: Option<&str>,
    now: i64,
) -> Result<Value, OAuthError> {
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    // RFC 9449 5: a token bound to a DPoP key is refused without a proof of that key,
    // before it is spent: whoever stole it without the key can neither use it nor, by
    // presenting it, end the grant of the client that holds the key.
    if let Some(row) = refresh::find_any(state, token).await?
        && row.client_id == client.client_id
        && let Some(bound) = row.dpop_jkt.as_deref()
        && dpop_jkt != Some(bound)
    {
        return Err(OAuthError::invalid_grant(
            "the refresh token is bound to a DPoP key: send a proof signed with that key",
        ));
    }
    // A scope or resource the grant does not have is refused before the token is spent:
    // otherwise the client's retry with the same token would look like a theft and end
    // the grant.
    if (params.contains("scope") || params.contains("resource"))
        && let Some(live) = refresh::find_live(state, token, now).await?
        && live.client_id == client.client_id
    {
        if let Some(requested) = params.get("scope") {
            narrowed(&live.scope, requested)?;
        }
        resource::of_grant(&state.db, client, live.resource.as_deref(), params).await?;
    }
    let row = match refresh::redeem(state, token, &client.client_id, now).await? {
        Redemption::Rotated(row) => row,
        Redemption::Invalid => {
            return Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked"));
        }
        Redemption::Reused => {
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used: every token of this grant is now revoked; log in again",
            ));
        }
    };
    let granted: Vec<String> = row.scope.split_whitespace().map(str::to_string).collect();
    let scopes = match params.get("scope") {
        None => granted.clone(),
        Some(requested) => narrowed(&row.scope, requested)?,
    };
    let resource = resource::of_grant(&state.db, client, row.resource.as_deref(), params).await?;
    // Rights and identity may have changed since the login: the account is read anew.
    let account = accounts::find_by_id(&state.db, &row.account_id)
        .await?
        .filter(|a| a.may_get_tokens())
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;
    let facts = Redemption::facts(&row);
    let grant = UserGrant {
        account: &account,
        client,
        scopes: &scopes,
        // RFC 6749 6: the new refresh token keeps the scope of the one presented, so a
        // narrowed refresh neither narrows the grant for good nor ends an offline one.
        refresh_scopes: &granted,
        facts: &facts,
        nonce: None,
        grant_id: &row.grant_id,
        session_id: row.session_id.as_deref(),
        grant_expires_at: Some(row.grant_expires_at),
        claims: row.claims.as_deref(),
        resource: resource.as_deref(),
        dpop_jkt,
    };
    user_tokens(state, &grant, now).await
}

/// The requested scopes, if the grant has every one of them.
fn narrowed(granted: &str, requested: &str) -> Result<Vec<String>, OAuthError> {
    let granted: Vec<&str> = granted.split_whitespace().collect();
    let requested: Vec<String> = requested.split_whitespace().map(str::to_string).collect();
    match requested.iter().find(|s| !granted.contains(&s.as_str())) {
        Some(extra) => Err(OAuthError::invalid_scope(format!("scope `{extra}` was not granted to this refresh token"))),
        None => Ok(requested),
    }
}
