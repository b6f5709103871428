//! Client authentication at the token endpoint (RFC 6749 2.3, OIDC Core 9):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients. A client
//! must use the method it registered; one method per request.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};

use std::sync::Arc;

use super::client_assertion;
use super::error::OAuthError;
use super::params::Params;
use crate::app::AppState;
use crate::clients::{AuthMethod, Client};

/// Credentials presented by the request, before they are checked.
enum Presented {
    Basic { client_id: String, secret: String },
    Post { client_id: String, secret: String },
    Assertion { client_id: String, assertion: String },
    Public { client_id: String },
}

fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
    let methods = [basic.is_some(), params.contains("client_secret"), params.contains("client_assertion")];
    if methods.iter().filter(|used| **used).count() > 1 {
        return Err(OAuthError::invalid_request("use one client authentication method per request"));
    }
    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| OAuthError::invalid_client("the Basic credentials are not valid base64"))?;
        let (id, secret) =
            decoded.split_once(':').ok_or_else(|| OAuthError::invalid_client("the Basic credentials have no ':'"))?;
        // RFC 6749 2.3.1: both parts are form-urlencoded before base64.
        let client_id = form_decode(id);
        if params.get("client_id").is_some_and(|body_id| body_id != client_id) {
            return Err(OAuthError::invalid_request("client_id in the body differs from the Basic credentials"));
        }
        return Ok(Presented::Basic { client_id, secret: form_decode(secret) });
    }
    if let Some(secret) = params.get("client_secret") {
        let client_id =
            params.owned("client_id").ok_or_else(|| OAuthError::invalid_client("client_secret without client_id"))?;
        return Ok(Presented::Post { client_id, secret: secret.to_string() });
    }
    if let Some(assertion) = params.get("client_assertion") {
        if params.get("client_assertion_type") != Some(client_assertion::ASSERTION_TYPE) {
            return Err(OAuthError::invalid_client(format!(
                "client_assertion_type must be {}",
                client_assertion::ASSERTION_TYPE
            )));
        }
        let claimed = client_assertion::claimed_client_id(assertion)
            .ok_or_else(|| OAuthError::invalid_client("the client assertion is not a JWT with a sub"))?;
        if params.get("client_id").is_some_and(|id| id != claimed) {
            return Err(OAuthError::invalid_client("client_id differs from the assertion's sub"));
        }
        return Ok(Presented::Assertion { client_id: claimed, assertion: assertion.to_string() });
    }
    params.owned("client_id").map(|client_id| Presented::Public { client_id }).ok_or_else(|| {
        OAuthError::invalid_client(
            "the client must authenticate (HTTP Basic, client_secret_post, private_key_jwt, or client_id for public clients)",
        )
    })
}

fn form_decode(value: &str) -> String {
    url::form_urlencoded::parse(format!("x={value}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

/// Authenticates the client of a token request. Failures are counted per client id;
/// past the configured rate the client id is refused for the rest of the minute, so a
/// secret cannot be guessed quickly.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, params: &Params) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(headers, params)?;
    let client_id = match &presented {
        Presented::Basic { client_id, .. }
        | Presented::Post { client_id, .. }
        | Presented::Assertion { client_id, .. }
        | Presented::Public { client_id } => client_id.clone(),
    };
    let now = state.clock.now();
    let limiter = &state.limits.client_auth_failures;
    if let Some(wait) = limiter.retry_after(&client_id, now) {
        return Err(OAuthError::too_many_attempts(wait));
    }
    let result = check(state, &client_id, &presented, now).await;
    if let Err(error) = &result
        && error.error == "invalid_client"
        && let Err(wait) = limiter.hit(&client_id, now)
    {
        return Err(OAuthError::too_many_attempts(wait));
    }
    result
}

async fn check(state: &AppState, client_id: &str, presented: &Presented, now: i64) -> Result<Arc<Client>, OAuthError> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let client = state.client_cache.get(&state.db, client_id, now).await?.ok_or_else(failed)?;
    let method = match presented {
        Presented::Basic { .. } => AuthMethod::ClientSecretBasic,
        Presented::Post { .. } => AuthMethod::ClientSecretPost,
        Presented::Assertion { .. } => AuthMethod::PrivateKeyJwt,
        Presented::Public { .. } => AuthMethod::None,
    };
    if client.auth_method != method {
        return Err(OAuthError::invalid_client(format!(
            "this client is registered to authenticate with {}",
            client.auth_method.as_str()
        )));
    }
    match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            let stored = client.secret_hash.as_deref().ok_or_else(failed)?;
            if !state.client_secrets.verify(secret, stored, &state.passwords) {
                return Err(failed());
            }
        }
        Presented::Assertion { assertion, .. } => client_assertion::verify(state, &client, assertion, now).await?,
        Presented::Public { .. } => {}
    }
    Ok(client)
}
