//! Client authentication at the token endpoint (RFC 6749 2.3, OIDC Core 9):
//! `client_secret_basic`, `client_secret_post`, and `none` for public clients. A client
//! must use the method it registered; one method per request.

use axum::http::{HeaderMap, header};
use base64::{Engine, engine::general_purpose::STANDARD};

use std::sync::Arc;

use super::client_assertion;
use super::error::OAuthError;
use super::params::Params;
use crate::client_ip::ClientIp;
use crate::clients::{AuthMethod, Client};
use crate::domain::DomainError;
use crate::lockout::throttle::{self, Gate, Key, Policy};
use crate::state::AppState;

/// Credentials presented by the request, before they are checked.
pub(crate) enum Presented {
    Basic { client_id: String, secret: String },
    Post { client_id: String, secret: String },
    Assertion { client_id: String, assertion: String },
    Public { client_id: String },
}

pub(crate) fn presented(headers: &HeaderMap, params: &Params) -> Result<Presented, OAuthError> {
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

/// Authenticates the client of a token, introspection or revocation request.
///
/// Failures are counted per client *and* source address in the database (`throttle`),
/// so that they add up across nodes and parallel requests while a guesser elsewhere
/// never refuses the real client: a correct secret is refused only to a source that
/// has itself failed too often, and a success never counts. The hot path stays free of
/// queries: only failures write, and each node remembers the sources it saw refused.
pub async fn authenticate(
    state: &AppState,
    ip: &ClientIp,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Arc<Client>, OAuthError> {
    let presented = presented(headers, params)?;
    let client_id = match &presented {
        Presented::Basic { client_id, .. }
        | Presented::Post { client_id, .. }
        | Presented::Assertion { client_id, .. }
        | Presented::Public { client_id } => client_id.clone(),
    };
    let now = state.clock.now();
    let budget = budget_of(&client_id, ip);
    let blocked = &state.limits.client_auth_blocked;
    if let Some(until) = blocked.blocked(&budget.key, now) {
        // Refused unchecked; still counted, so that the record says what was tried.
        throttle::count_refused(&state.db, &budget, now).await.map_err(|e| OAuthError::from(DomainError::from(e)))?;
        return Err(OAuthError::too_many_attempts(until - now));
    }
    let result = check(state, &client_id, &presented, now).await;
    match &result {
        // Only a secret or assertion that was checked and failed is a guess; an unknown
        // client id has nothing to guess (and costs no row).
        Err(Refused { guess: true, .. }) => {
            let gate = throttle::record_failure(&state.db, &budget, &policy(state), now)
                .await
                .map_err(|e| OAuthError::from(DomainError::from(e)))?;
            let until = match gate {
                Gate::Closed { until } => until,
                Gate::Open => now,
            };
            blocked.note(&budget.key, until, now);
            if let Some(wait) = gate.retry_after(now) {
                return Err(OAuthError::too_many_attempts(wait));
            }
        }
        // A success after failures this node saw: refused if the source waits (another
        // node may have closed its budget), else the budget is whole again.
        Ok(_) if blocked.knows(&budget.key) => {
            let gate =
                throttle::peek(&state.db, &budget, now).await.map_err(|e| OAuthError::from(DomainError::from(e)))?;
            if let Gate::Closed { until } = gate {
                blocked.note(&budget.key, until, now);
                return Err(OAuthError::too_many_attempts(until - now));
            }
            throttle::clear(&state.db, &budget).await.map_err(|e| OAuthError::from(DomainError::from(e)))?;
            blocked.forget(&budget.key);
        }
        _ => {}
    }
    result.map_err(|refused| refused.error)
}

/// A refused client authentication, and whether a secret or assertion was guessed.
struct Refused {
    error: OAuthError,
    guess: bool,
}

impl From<OAuthError> for Refused {
    fn from(error: OAuthError) -> Self {
        Self { error, guess: false }
    }
}

/// The budget of one client's authentication from one source: an address, an IPv6
/// client by its /64 (`rate_limit::source_of`), which it may rotate through at will.
pub fn budget_of(client_id: &str, ip: &ClientIp) -> Key {
    let subject = format!("client:{client_id}");
    Key::new(format!("{subject}:ip:{}", crate::rate_limit::source_of(ip.0.as_deref())), subject)
}

fn policy(state: &AppState) -> Policy {
    Policy {
        free: state.config.rate_limits.client_auth_failures_per_minute.max(1) as i32,
        first_wait: 60,
        max_wait: 3600,
        hard_limit: None,
    }
}

async fn check(state: &AppState, client_id: &str, presented: &Presented, now: i64) -> Result<Arc<Client>, Refused> {
    let failed = || OAuthError::invalid_client("client authentication failed");
    let guessed = || Refused { error: failed(), guess: true };
    let client =
        state.client_cache.get(&state.db, client_id, now).await.map_err(OAuthError::from)?.ok_or_else(failed)?;
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
        ))
        .into());
    }
    match presented {
        Presented::Basic { secret, .. } | Presented::Post { secret, .. } => {
            let stored = client.secret_hash.as_deref().ok_or_else(failed)?;
            match state.client_secrets.verify(secret, stored, &state.passwords).await {
                Ok(true) => {}
                Ok(false) => return Err(guessed()),
                Err(busy) => return Err(OAuthError::temporarily_unavailable(busy.to_string()).into()),
            }
        }
        Presented::Assertion { assertion, .. } => client_assertion::verify(state, &client, assertion, now)
            .await
            .map_err(|error| Refused { guess: error.error == "invalid_client", error })?,
        Presented::Public { .. } => {}
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clients_budget_belongs_to_the_address_or_the_ipv6_64() {
        let of = |ip: Option<&str>| budget_of("actes-api", &ClientIp(ip.map(str::to_string))).key;
        assert_eq!(of(Some("203.0.113.50")), "client:actes-api:ip:203.0.113.50");
        assert_eq!(of(Some("::ffff:203.0.113.50")), of(Some("203.0.113.50")));
        assert_eq!(of(Some("2001:db8:1:2::1")), "client:actes-api:ip:2001:db8:1:2::/64");
        assert_eq!(of(Some("2001:db8:1:2:ffff:ffff:ffff:fffe")), of(Some("2001:db8:1:2::1")), "rotating in the /64");
        assert_ne!(of(Some("2001:db8:1:3::1")), of(Some("2001:db8:1:2::1")));
        assert_eq!(of(None), "client:actes-api:ip:unknown");
    }
}
