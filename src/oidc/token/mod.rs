//! The token endpoint (RFC 6749 3.2, OIDC Core 3.1.3): client authentication, then one
//! module per grant type (`device_code` is RFC 8628's poll); beside them what the grants
//! issue — `jwt` (minting ID and access tokens, and checking them) and `refresh_store`
//! (refresh tokens: rotation, families, revocation).

mod authorization_code;
mod client_credentials;
mod device_code;
pub mod jwt;
pub mod refresh_store;
mod refresh_token;
#[cfg(test)]
mod tests;

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::claims_request::{self, ClaimsRequest};
use super::client_auth;
use super::dpop;
use super::error::OAuthError;
use super::params::Params;
use crate::accounts::Account;
use crate::client_ip::ClientIp;
use crate::clients::Client;
use crate::metrics::Metrics;
use crate::state::AppState;
use jwt::{self as tokens, AccessGrant, IdTokenFacts, SessionFacts};
use refresh_store::{self as refresh, NewRefresh};

pub async fn token(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &ip, &headers, &body).await {
        Ok(body) => {
            Metrics::count(&state.metrics.tokens_issued);
            let mut response = no_store(Json(body));
            if headers.contains_key(dpop::HEADER) {
                dpop::add_nonce(&state, response.headers_mut());
            }
            response
        }
        Err(error) => {
            // A device waiting for its user is answered in an error's shape, but
            // nothing failed: polls every few seconds would drown the real errors.
            if error.error != "authorization_pending" {
                Metrics::count(&state.metrics.token_errors);
            }
            error.into_response()
        }
    }
}

/// Parses a form body of a protocol endpoint (token, introspection, revocation).
pub fn form_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let body = super::params::form_text(headers, body).map_err(OAuthError::invalid_request)?;
    Params::parse(&body).map_err(|name| match name.as_str() {
        // RFC 8707 allows several; Sésame issues a token for one resource at a time.
        "resource" => super::resource::invalid_target("one resource per request: `resource` appears more than once"),
        _ => OAuthError::invalid_request(format!("parameter `{name}` appears more than once")),
    })
}

async fn handle(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    let now = state.clock.now();
    // The proof is checked before the client authenticates, so that a nonce challenge
    // leaves the client's assertion unspent; its jti is spent once all else passed.
    let refused = |error: dpop::DpopError| error.at_authorization_server(state);
    let proof = match dpop::proof_of(headers).map_err(refused)? {
        Some(proof) => Some(dpop::check(state, proof, &TOKEN_PROOF, now).map_err(refused)?),
        None => None,
    };
    let client = client_auth::authenticate(state, ip, headers, &params).await.inspect_err(|_| {
        tracing::info!(target: "sesame::audit", event = "token.client_auth_failed", ip = ip.0.as_deref());
    })?;
    let grant_type = params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if !crate::clients::SUPPORTED_GRANTS.contains(&grant_type) {
        return Err(OAuthError::unsupported_grant_type(format!("grant_type `{grant_type}` is not supported")));
    }
    if !client.allows_grant(grant_type) {
        return Err(OAuthError::unauthorized_client(format!("this client may not use the {grant_type} grant")));
    }
    dpop::check_for_client(&client, proof.as_ref()).map_err(refused)?;
    if let Some(proof) = &proof {
        dpop::consume(state, proof).await.map_err(refused)?;
    }
    let jkt = proof.as_ref().map(|proof| proof.jkt.as_str());
    match grant_type {
        "authorization_code" => authorization_code::exchange(state, ip, &client, &params, jkt, now).await,
        "refresh_token" => refresh_token::exchange(state, &client, &params, jkt, now).await,
        crate::clients::DEVICE_CODE_GRANT => device_code::exchange(state, ip, &client, &params, jkt, now).await,
        _ => client_credentials::exchange(state, &client, &params, jkt, now).await,
    }
}

/// What a proof at the token endpoint names.
const TOKEN_PROOF: dpop::Expected<'static> =
    dpop::Expected { method: "POST", path: super::TOKEN_PATH, access_token: None };

/// `DPoP` for a token bound to a key (RFC 9449 5), else `Bearer`.
pub fn token_type(dpop_jkt: Option<&str>) -> &'static str {
    if dpop_jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// Redeems an authorization code for Sésame's own console, a public client living in
/// this process: the same checks as the endpoint (PKCE, redirect URI, single use)
/// without an HTTP round trip to itself.
pub async fn redeem_code_in_process(state: &AppState, client: &Client, form: &str) -> Result<Value, OAuthError> {
    let params = Params::parse(form).map_err(|name| OAuthError::invalid_request(format!("`{name}` repeated")))?;
    authorization_code::exchange(state, &ClientIp::default(), client, &params, None, state.clock.now()).await
}

pub fn no_store(body: impl IntoResponse) -> Response {
    let mut response = body.into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// Everything the tokens of a user's grant are made of.
struct UserGrant<'a> {
    account: &'a Account,
    client: &'a Client,
    scopes: &'a [String],
    /// What a refresh token of the grant carries: the grant's scopes, which a refresh
    /// asking for fewer does not narrow.
    refresh_scopes: &'a [String],
    facts: &'a SessionFacts,
    nonce: Option<&'a str>,
    grant_id: &'a str,
    session_id: Option<&'a str>,
    /// The end of the refresh family this grant continues, if any.
    grant_expires_at: Option<i64>,
    /// The `claims` parameter of the authorization request, as JSON (OIDC Core 5.5).
    claims: Option<&'a str>,
    /// The grant's resource (RFC 8707), checked: the `aud` of its access tokens.
    resource: Option<&'a str>,
    /// The thumbprint of the key of the request's DPoP proof: the tokens are bound to it.
    dpop_jkt: Option<&'a str>,
}

/// Whether the grant earns a refresh token: the client registered the grant type, and
/// the user granted offline access or the client is first-party (office software).
fn earns_refresh_token(client: &Client, scopes: &[String]) -> bool {
    client.allows_grant("refresh_token") && (client.first_party || scopes.iter().any(|s| s == "offline_access"))
}

/// Access token, ID token (with `openid`) and refresh token (when earned) of a grant.
async fn user_tokens(state: &AppState, grant: &UserGrant<'_>, now: i64) -> Result<Value, OAuthError> {
    let authorization = super::claims::authorization(&state.db, grant.account, grant.client).await?;
    // Stored by Sésame after parsing: one that no longer parses asks for nothing.
    let requested: ClaimsRequest = grant.claims.and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let userinfo_claims = claims_request::releasable(&requested.userinfo, grant.client, grant.scopes);
    let id_token_claims = claims_request::releasable(&requested.id_token, grant.client, grant.scopes);
    let access = tokens::mint_access_token(
        state,
        &AccessGrant {
            subject: &grant.account.id,
            client: grant.client,
            scopes: grant.scopes,
            session: Some(grant.facts),
            grant_id: Some(grant.grant_id),
            authorization: Some(&authorization),
            userinfo_claims: &userinfo_claims,
            resource: grant.resource,
            dpop_jkt: grant.dpop_jkt,
        },
        now,
    )
    .await?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": token_type(grant.dpop_jkt),
        "expires_in": access.expires_in,
        "scope": grant.scopes.join(" "),
    });
    if grant.scopes.iter().any(|s| s == "openid") {
        let facts = IdTokenFacts {
            account: grant.account,
            client: grant.client,
            scopes: grant.scopes,
            session: grant.facts,
            nonce: grant.nonce,
            access_token: Some(&access.token),
            authorization: &authorization,
            requested_claims: &id_token_claims,
        };
        body["id_token"] = json!(tokens::mint_id_token(state, &facts, now).await?);
    }
    if earns_refresh_token(grant.client, grant.refresh_scopes) {
        let offline = grant.refresh_scopes.iter().any(|s| s == "offline_access");
        let new = NewRefresh {
            grant_id: grant.grant_id,
            client_id: &grant.client.client_id,
            account_id: &grant.account.id,
            session_id: grant.session_id,
            offline,
            scopes: grant.refresh_scopes,
            facts: grant.facts,
            grant_expires_at: grant.grant_expires_at,
            claims: grant.claims,
            resource: grant.resource,
            // RFC 9449 5: a public client's refresh token is bound to its DPoP key (a
            // confidential client's is bound to the client, which authenticates).
            dpop_jkt: if grant.client.is_public() { grant.dpop_jkt } else { None },
        };
        body["refresh_token"] = json!(refresh::issue(state, &new, now).await?);
    }
    Ok(body)
}
