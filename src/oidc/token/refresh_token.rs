//! The refresh token grant: rotation, reuse detection, narrower scopes on request.

use serde_json::Value;

use super::refresh_store::{self as refresh, Redemption};
use super::{UserGrant, user_tokens};
use crate::accounts;
use crate::clients::Client;
use crate::oidc::{error::OAuthError, params::Params};
use crate::state::AppState;

pub async fn exchange(state: &AppState, client: &Client, params: &Params, now: i64) -> Result<Value, OAuthError> {
    let token = params.get("refresh_token").ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
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
        None => granted,
        Some(requested) => {
            let requested: Vec<String> = requested.split_whitespace().map(str::to_string).collect();
            if let Some(extra) = requested.iter().find(|s| !granted.contains(s)) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope `{extra}` was not granted to this refresh token"
                )));
            }
            requested
        }
    };
    // Rights and identity may have changed since the login: the account is read anew.
    let account = accounts::find_by_id(&state.db, &row.account_id)
        .await?
        .filter(|a| !a.archived)
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;
    let facts = Redemption::facts(&row);
    let grant = UserGrant {
        account: &account,
        client,
        scopes: &scopes,
        facts: &facts,
        nonce: None,
        grant_id: &row.grant_id,
        session_id: row.session_id.as_deref(),
        grant_expires_at: Some(row.grant_expires_at),
    };
    user_tokens(state, &grant, now).await
}
