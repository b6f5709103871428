//! The client credentials grant (RFC 6749 4.4): a service acting for itself. The token
//! names the client as its subject; scopes must be among those registered for it.

use serde_json::{Value, json};

use super::jwt::{self as tokens, AccessGrant};
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
    if client.is_public() {
        return Err(OAuthError::unauthorized_client("a public client cannot use client_credentials"));
    }
    // `openid` is a user's scope: a service's token has no user, so it is never granted
    // here, not even by default to a client that registered it for its logins.
    let scopes: Vec<String> = match params.get("scope") {
        None => client.scopes.iter().filter(|s| *s != "openid").cloned().collect(),
        Some(requested) => requested.split_whitespace().map(str::to_string).collect(),
    };
    if scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::invalid_scope("scope `openid` is for a user's login: a service's token has no user"));
    }
    if let Some(refused) = scopes.iter().find(|s| !client.scopes.contains(s)) {
        return Err(OAuthError::invalid_scope(format!("scope `{refused}` is not registered for this client")));
    }
    let resource = resource::resolve(&state.db, client, params.get("resource")).await?;
    let grant = AccessGrant {
        subject: &client.client_id,
        client,
        scopes: &scopes,
        session: None,
        grant_id: None,
        authorization: None,
        userinfo_claims: &[],
        resource: resource.as_deref(),
        dpop_jkt,
    };
    let access = tokens::mint_access_token(state, &grant, now).await?;
    Ok(json!({
        "access_token": access.token,
        "token_type": super::token_type(dpop_jkt),
        "expires_in": access.expires_in,
        "scope": scopes.join(" "),
    }))
}
