//! The client credentials grant (RFC 6749 4.4): a service acting for itself. The token
//! names the client as its subject; scopes must be among those registered for it.

use serde_json::{Value, json};

use super::jwt::{self as tokens, AccessGrant};
use crate::clients::Client;
use crate::oidc::{error::OAuthError, params::Params};
use crate::state::AppState;

pub async fn exchange(state: &AppState, client: &Client, params: &Params, now: i64) -> Result<Value, OAuthError> {
    if client.is_public() {
        return Err(OAuthError::unauthorized_client("a public client cannot use client_credentials"));
    }
    let scopes: Vec<String> = match params.get("scope") {
        None => client.scopes.clone(),
        Some(requested) => requested.split_whitespace().map(str::to_string).collect(),
    };
    if let Some(refused) = scopes.iter().find(|s| *s == "openid" || !client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!("scope `{refused}` is not registered for this client")));
    }
    let grant = AccessGrant {
        subject: &client.client_id,
        client,
        scopes: &scopes,
        session: None,
        grant_id: None,
        authorization: None,
    };
    let access = tokens::mint_access_token(state, &grant, now).await?;
    Ok(json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": scopes.join(" "),
    }))
}
