//! `private_key_jwt` client authentication (RFC 7523, OIDC Core 9): the client signs a
//! short-lived JWT with a key whose public half it registered, by value (`jwks`) or by
//! URL (`jwks_uri`, fetched and cached, fetched again when an unknown key id shows up).
//! Each assertion is accepted once.

use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

use super::error::OAuthError;
use super::fetch::{FetchError, Lane};
use super::jwks_cache::Fetched;
use crate::clients::Client;
use crate::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};
use crate::state::AppState;
use crate::storage::{entities::used_assertion, is_unique_violation};

pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Assertions valid for longer than this are refused: they are meant to be single-shot.
const MAX_LIFETIME: i64 = 600;
/// Seconds a fetched key set is trusted.
const CACHE_TTL: i64 = 300;
/// Seconds a key set is still used after it expired, while its `jwks_uri` fails (or
/// while an attacker keeps the node's call slots busy): a client's outage or a flood is
/// not a reason to refuse its valid assertions.
const STALE_TTL: i64 = 3600;
/// Keys kept of a fetched set, as many as a client may register.
const MAX_KEYS: usize = crate::clients::MAX_KEYS;
/// A jwks_uri is fetched again for an unknown key id at most this often (seconds), so
/// that made-up key ids cannot make Sésame hammer a client's server.
const REFETCH_EVERY: i64 = 10;

/// The client id an assertion claims (its `sub`), read before anything is trusted.
pub fn claimed_client_id(assertion: &str) -> Option<String> {
    let jws = UnverifiedJws::parse(assertion).ok()?;
    let claims: Value = jws.claims_unverified().ok()?;
    claims["sub"].as_str().map(str::to_string)
}

pub async fn verify(state: &AppState, client: &Client, assertion: &str, now: i64) -> Result<(), OAuthError> {
    let invalid = |why: &str| OAuthError::invalid_client(format!("client assertion refused: {why}"));
    let jws = UnverifiedJws::parse(assertion).map_err(|_| invalid("not a signed JWT"))?;
    let alg = SigningAlg::parse(&jws.alg).ok_or_else(|| invalid("unsupported signature algorithm"))?;
    if client.is_fapi2() && !super::fapi2::allows_alg(alg) {
        return Err(invalid("a FAPI 2.0 client signs with PS256, ES256 or EdDSA"));
    }
    let key = find_key(state, client, jws.kid.as_deref(), alg, now)
        .await
        .ok_or_else(|| invalid("no registered key matches"))?;
    let claims: Value = jws.verify(&key).map_err(|_| invalid("bad signature"))?;
    // A request object is signed with the same keys, for the same audience, and travels
    // through browsers: one must never pass for the client (RFC 9101 10.8).
    if jws.typ.as_deref().is_some_and(|typ| typ.eq_ignore_ascii_case("oauth-authz-req+jwt"))
        || claims.get("response_type").is_some()
    {
        return Err(invalid("a request object is not a client assertion"));
    }
    let text = |name: &str| claims[name].as_str();
    if text("iss") != Some(&client.client_id) || text("sub") != Some(&client.client_id) {
        return Err(invalid("iss and sub must be the client_id"));
    }
    if !audience_is_us(state, &claims["aud"]) {
        return Err(invalid("aud must be the issuer or the endpoint's URL"));
    }
    let exp = claims["exp"].as_i64().ok_or_else(|| invalid("exp is required"))?;
    if exp <= now || exp > now + MAX_LIFETIME {
        return Err(invalid("expired, or valid for more than 10 minutes"));
    }
    if claims["nbf"].as_i64().is_some_and(|nbf| nbf > now + 30) {
        return Err(invalid("not valid yet"));
    }
    let jti = text("jti").filter(|j| !j.is_empty()).ok_or_else(|| invalid("jti is required"))?;
    let used = used_assertion::ActiveModel { key: Set(format!("{}:{jti}", client.client_id)), expires_at: Set(exp) };
    match used.insert(&state.db).await {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => Err(invalid("this assertion was already used")),
        Err(error) => Err(crate::domain::DomainError::Storage(error).into()),
    }
}

fn audience_is_us(state: &AppState, aud: &Value) -> bool {
    let issuer = state.config.issuer();
    let accepted = |value: &str| {
        value == issuer
            || [super::TOKEN_PATH, super::INTROSPECTION_PATH, super::REVOCATION_PATH, super::PAR_PATH]
                .iter()
                .any(|path| value == format!("{issuer}{path}"))
    };
    match aud {
        Value::String(one) => accepted(one),
        Value::Array(many) => many.iter().filter_map(Value::as_str).any(accepted),
        _ => false,
    }
}

/// The client's key for a JWS with this `kid` and `alg` (its `jwks`, or its `jwks_uri`'s
/// set, cached): client assertions and request objects are checked with it.
pub(super) async fn find_key(
    state: &AppState,
    client: &Client,
    kid: Option<&str>,
    alg: SigningAlg,
    now: i64,
) -> Option<VerifyingKey> {
    if let Some(jwks) = &client.jwks {
        return pick(jwks, kid, alg);
    }
    let uri = client.jwks_uri.as_deref()?;
    let cache = &state.jwks_cache;
    // The key from a set fetched less than `ttl` seconds ago.
    let fetched_within = |cached: &Option<Fetched>, ttl: i64| match cached {
        Some(Fetched { keys: Some((jwks, fetched)), .. }) if now - fetched < ttl => pick(jwks, kid, alg),
        _ => None,
    };
    let usable = |cached: &Option<Fetched>| fetched_within(cached, CACHE_TTL);
    let cached = cache.sets.lock().await.get(&client.client_id).cloned();
    if let Some(key) = usable(&cached) {
        return Some(key);
    }
    let lock = cache.fetching.lock().await.entry(client.client_id.clone()).or_default().clone();
    let _fetching = lock.lock().await;
    // Another request may have fetched while this one waited.
    let cached = cache.sets.lock().await.get(&client.client_id).cloned();
    if let Some(key) = usable(&cached) {
        return Some(key);
    }
    let stale = || fetched_within(&cached, STALE_TTL);
    if cached.as_ref().is_some_and(|cached| now - cached.tried < REFETCH_EVERY) {
        return stale();
    }
    let fetched = state.fetcher.get(Lane::Client, uri, "application/jwk-set+json, application/json").await;
    // A node too busy to call is no fact about the client's server: not remembered, so
    // that whoever fills the slots cannot make a client's keys unusable for the delay.
    if fetched == Err(FetchError::Busy) {
        return stale();
    }
    let jwks = fetched.ok().and_then(|body| key_set(&body));
    let mut sets = cache.sets.lock().await;
    let entry = sets.entry(client.client_id.clone()).or_insert(Fetched { keys: None, tried: now });
    entry.tried = now;
    let key = match jwks {
        Some(jwks) => {
            let key = pick(&jwks, kid, alg);
            entry.keys = Some((jwks, now));
            key
        }
        None => {
            tracing::warn!(client_id = client.client_id, uri, "could not fetch the client's jwks_uri");
            stale()
        }
    };
    drop(sets);
    cache.sweep(now, STALE_TTL).await;
    key
}

/// The keys of a fetched `{"keys": […]}` document, as kept in the cache: only JSON
/// objects with a `kty`, at most [`MAX_KEYS`], and of each only its text members (every
/// member a key is made from is text: `kty`, `crv`, `x`, `y`, `n`, `e`, `kid`, `alg`,
/// `use`), so that a document of 64 KiB cannot take megabytes of memory per client (an
/// array of 30,000 zeros inside one key is 64 KiB of text, a megabyte parsed).
fn key_set(body: &[u8]) -> Option<Value> {
    let document: Value = serde_json::from_slice(body).ok()?;
    let keys: Vec<Value> = document["keys"]
        .as_array()?
        .iter()
        .filter(|key| key["kty"].is_string())
        .take(MAX_KEYS)
        .map(text_members)
        .collect();
    Some(serde_json::json!({ "keys": keys }))
}

fn text_members(key: &Value) -> Value {
    let members = key.as_object().into_iter().flatten().filter(|(_, value)| value.is_string());
    Value::Object(members.map(|(name, value)| (name.clone(), value.clone())).collect())
}

/// The key with this id, or the only key usable with `alg` when the JWS names none.
fn pick(jwks: &Value, kid: Option<&str>, alg: SigningAlg) -> Option<VerifyingKey> {
    let keys = jwks["keys"].as_array()?;
    let mut usable = keys.iter().filter_map(|jwk| VerifyingKey::from_jwk(jwk, alg)).filter(|key| key.alg == alg);
    match kid {
        Some(kid) => usable.find(|key| key.kid.as_deref() == Some(kid)),
        None => {
            let first = usable.next()?;
            usable.next().is_none().then_some(first)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fetched key set is kept as its keys' text members only: a key padded with a
    /// large array keeps its size in text, not the array's parsed size.
    #[test]
    fn a_fetched_key_set_keeps_only_what_keys_are_made_of() {
        let zeros = vec![0; 30_000];
        let body = serde_json::json!({"keys": [
            {"kty": "EC", "crv": "P-256", "kid": "k1", "x": "eA", "y": "eQ", "padding": zeros, "key_ops": ["verify"]},
            {"no_kty": true},
            "not an object",
        ], "other": zeros});
        let kept = key_set(body.to_string().as_bytes()).expect("a key set");
        assert_eq!(
            kept,
            serde_json::json!({"keys": [{"kty": "EC", "crv": "P-256", "kid": "k1", "x": "eA", "y": "eQ"}]})
        );
        assert!(kept.to_string().len() < 100);
        assert_eq!(key_set(b"[1, 2]"), None, "not a key set");
    }
}
