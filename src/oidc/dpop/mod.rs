//! DPoP (RFC 9449): a client proves, at each request, that it holds the private key its
//! tokens are bound to, by signing a short-lived JWT (the proof, in the `DPoP` header)
//! naming the request's method and URL.
//!
//! `check` does what needs no storage (shape, key, signature, method and URL, age,
//! nonce, `ath`); `consume` then spends the proof's `jti` in the database, once across
//! every node. `thumbprint` (RFC 7638) names the key: the `jkt` that access tokens
//! carry in `cnf`, refresh tokens and authorization codes in `dpop_jkt`. Server nonces
//! are in `nonce`.

pub mod nonce;
mod thumbprint;

use axum::http::{HeaderMap, HeaderValue};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;

pub use thumbprint::thumbprint;

use super::error::OAuthError;
use crate::clients::Client;
use crate::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};
use crate::domain::DomainError;
use crate::state::AppState;
use crate::storage::{entities::used_dpop_proof, is_unique_violation};

/// The request header that carries the proof.
pub const HEADER: &str = "dpop";
/// The response header that carries a server nonce.
pub const NONCE_HEADER: &str = "dpop-nonce";
/// The `typ` of a proof (RFC 9449 4.2).
const TYP: &str = "dpop+jwt";
/// Longest `jti` accepted: it is hashed, but a bound keeps abuse cheap to refuse.
const MAX_JTI: usize = 256;

/// Algorithms a proof may be signed with: Sésame's, all asymmetric (`none` and MACs
/// never: anyone could make the proof).
pub fn algorithms() -> Vec<&'static str> {
    SigningAlg::ALL.iter().map(|alg| alg.as_str()).collect()
}

/// What the proof must say about the request it comes with.
pub struct Expected<'a> {
    /// `POST`, `GET`.
    pub method: &'a str,
    /// The endpoint's path under the issuer (`oidc::TOKEN_PATH`…).
    pub path: &'a str,
    /// At a resource (userinfo): the access token, whose hash is the proof's `ath`.
    pub access_token: Option<&'a str>,
}

/// A proof that passed `check`.
#[derive(Debug, Clone)]
pub struct Proof {
    /// The RFC 7638 thumbprint of the proof's key.
    pub jkt: String,
    pub alg: SigningAlg,
    jti: String,
    iat: i64,
}

/// Why a proof is refused.
#[derive(Debug)]
pub enum DpopError {
    /// Malformed, badly signed, stale, for another request: `invalid_dpop_proof`.
    Invalid(String),
    /// Without the nonce the server wants, or with an old one: `use_dpop_nonce`, with a
    /// fresh nonce to retry with.
    UseNonce(String),
    Storage(DomainError),
}

impl DpopError {
    fn invalid(why: impl Into<String>) -> Self {
        Self::Invalid(why.into())
    }

    /// The answer of the token and pushed authorization request endpoints (RFC 9449
    /// 5, 8): 400 with the error in JSON, and a nonce to use.
    pub fn at_authorization_server(self, state: &AppState) -> OAuthError {
        match self {
            Self::Invalid(why) => OAuthError::bad_request("invalid_dpop_proof", format!("DPoP proof refused: {why}")),
            Self::UseNonce(why) => {
                let mut error = OAuthError::bad_request("use_dpop_nonce", why);
                error.dpop_nonce = Some(nonce::current(state));
                error
            }
            Self::Storage(error) => error.into(),
        }
    }

    /// The answer of a resource (userinfo, RFC 9449 7.1, 9): 401 with a `DPoP` challenge.
    pub fn at_resource(self, state: &AppState) -> OAuthError {
        match self {
            Self::Invalid(why) => {
                OAuthError::dpop_challenge("invalid_dpop_proof", format!("DPoP proof refused: {why}"))
            }
            Self::UseNonce(why) => {
                let mut error = OAuthError::dpop_challenge("use_dpop_nonce", why);
                error.dpop_nonce = Some(nonce::current(state));
                error
            }
            Self::Storage(error) => error.into(),
        }
    }
}

/// The proof of a request: none, or the one `DPoP` header (RFC 9449 4.3: exactly one).
pub fn proof_of(headers: &HeaderMap) -> Result<Option<&str>, DpopError> {
    let mut values = headers.get_all(HEADER).iter();
    let Some(first) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(DpopError::invalid("send one DPoP header, not several"));
    }
    first.to_str().map(|text| Some(text.trim())).map_err(|_| DpopError::invalid("the DPoP header is not text"))
}

/// Checks everything about a proof that needs no storage (RFC 9449 4.3): its shape,
/// the public key it carries and its signature by that key, the request it names, its
/// age, the server nonce (when one is required or given) and, at a resource, `ath`.
pub fn check(state: &AppState, proof: &str, expected: &Expected<'_>, now: i64) -> Result<Proof, DpopError> {
    let jws = UnverifiedJws::parse(proof).map_err(|_| DpopError::invalid("not a signed JWT"))?;
    if jws.typ.as_deref() != Some(TYP) {
        return Err(DpopError::invalid("typ must be dpop+jwt"));
    }
    // The refusal does not echo the header's `alg`: it may be anything, and it would
    // go into a WWW-Authenticate header.
    let alg = SigningAlg::parse(&jws.alg)
        .ok_or_else(|| DpopError::invalid(format!("alg must be one of {}", algorithms().join(", "))))?;
    let jwk = jws.jwk.as_ref().ok_or_else(|| DpopError::invalid("the jwk header is required"))?;
    if has_private_parts(jwk) {
        return Err(DpopError::invalid("the jwk header must hold a public key only"));
    }
    // The key's own `alg`, when it names one, must be the header's (`verify` checks).
    let key = VerifyingKey::from_jwk(jwk, alg)
        .ok_or_else(|| DpopError::invalid("the jwk header is not a public key usable with its alg"))?;
    let claims: Value = jws.verify(&key).map_err(|_| DpopError::invalid("bad signature"))?;
    let jkt = thumbprint(jwk).ok_or_else(|| DpopError::invalid("the jwk header is not a public key"))?;
    let text = |name: &str| claims.get(name).and_then(Value::as_str);

    let jti = text("jti").filter(|jti| !jti.is_empty() && jti.len() <= MAX_JTI);
    let jti = jti.ok_or_else(|| DpopError::invalid("jti is required (at most 256 characters)"))?.to_string();
    if text("htm") != Some(expected.method) {
        return Err(DpopError::invalid(format!("htm must be {}", expected.method)));
    }
    let endpoint = format!("{}{}", state.config.issuer(), expected.path);
    if !text("htu").is_some_and(|htu| same_endpoint(htu, &endpoint)) {
        return Err(DpopError::invalid(format!("htu must be {endpoint}")));
    }
    let config = &state.config.dpop;
    let iat = claims.get("iat").and_then(Value::as_i64).ok_or_else(|| DpopError::invalid("iat is required"))?;
    if iat < now - config.proof_max_age || iat > now + config.proof_max_clock_skew {
        return Err(DpopError::invalid(format!(
            "iat is too old or in the future: a proof is accepted for {} seconds",
            config.proof_max_age
        )));
    }
    // Not defined by RFC 9449, but a JWT that says it expired, or is not valid yet, is not.
    if claims.get("exp").and_then(Value::as_i64).is_some_and(|exp| exp <= now)
        || claims.get("nbf").and_then(Value::as_i64).is_some_and(|nbf| nbf > now + config.proof_max_clock_skew)
    {
        return Err(DpopError::invalid("the proof has expired or is not valid yet"));
    }
    if let Some(token) = expected.access_token {
        let hash = URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()));
        if !text("ath").is_some_and(|ath| crate::crypto::constant_time_eq(ath.as_bytes(), hash.as_bytes())) {
            return Err(DpopError::invalid("ath must be the base64url SHA-256 of the access token"));
        }
    }
    match claims.get("nonce") {
        None if config.require_nonce => {
            Err(DpopError::UseNonce("this server requires a DPoP nonce: retry with the one given".into()))
        }
        Some(given) if !given.as_str().is_some_and(|given| nonce::is_valid(state, given, now)) => {
            Err(DpopError::UseNonce("the DPoP nonce is unknown or too old: retry with the one given".into()))
        }
        _ => Ok(Proof { jkt, alg, jti, iat }),
    }
}

/// Whether a proof's URL names the endpoint: compared without query and fragment
/// (RFC 9449 4.3), after the normalisation of RFC 3986 (case of scheme and host,
/// default port) that `url` applies.
fn same_endpoint(htu: &str, endpoint: &str) -> bool {
    let normalise = |text: &str| {
        url::Url::parse(text).ok().map(|mut url| {
            url.set_query(None);
            url.set_fragment(None);
            url
        })
    };
    matches!((normalise(htu), normalise(endpoint)), (Some(a), Some(b)) if a == b)
}

/// Whether a JWK holds private or symmetric key material (RFC 7518 6.2.2, 6.3.2, 6.4;
/// RFC 8037 2): a proof carries the public key only.
fn has_private_parts(jwk: &Value) -> bool {
    ["d", "p", "q", "dp", "dq", "qi", "oth", "k"].iter().any(|name| jwk.get(name).is_some())
}

/// What a client's registration demands of a token request's proof: one at all
/// (`requires_dpop`), and for a FAPI 2.0 client one of the profile's algorithms.
pub fn check_for_client(client: &Client, proof: Option<&Proof>) -> Result<(), DpopError> {
    match proof {
        None if client.requires_dpop() => {
            Err(DpopError::invalid("this client's access tokens are bound to its key: send a DPoP proof (RFC 9449)"))
        }
        Some(proof) if client.is_fapi2() && !super::fapi2::allows_alg(proof.alg) => {
            Err(DpopError::invalid("a FAPI 2.0 client signs its proofs with PS256, ES256 or EdDSA"))
        }
        _ => Ok(()),
    }
}

/// Spends the proof's `jti`: the first request to bring it, on any node, wins (the
/// insert of a unique key); every other is refused. The row lives until the proof
/// would be refused as too old anyway, by every node: its clock may lag the janitor's by
/// the allowed skew and a minute more; the janitor then deletes it.
pub async fn consume(state: &AppState, proof: &Proof) -> Result<(), DpopError> {
    const NODE_CLOCK_MARGIN: i64 = 60;
    let key = crate::crypto::token_hash(&format!("{}:{}", proof.jkt, proof.jti));
    let dpop = &state.config.dpop;
    let expires_at = proof.iat + dpop.proof_max_age + dpop.proof_max_clock_skew + NODE_CLOCK_MARGIN;
    let used = used_dpop_proof::ActiveModel { key: Set(key), expires_at: Set(expires_at) };
    match used.insert(&state.db).await {
        Ok(_) => Ok(()),
        Err(error) if is_unique_violation(&error) => Err(DpopError::invalid("this proof was already used (jti)")),
        Err(error) => Err(DpopError::Storage(DomainError::Storage(error))),
    }
}

/// `check` then `consume`, for an endpoint that needs nothing else in between.
pub async fn verify(state: &AppState, proof: &str, expected: &Expected<'_>, now: i64) -> Result<Proof, DpopError> {
    let proof = check(state, proof, expected, now)?;
    consume(state, &proof).await?;
    Ok(proof)
}

/// Deletes the spent proofs that have aged out (the janitor's round).
pub async fn sweep(db: &crate::storage::Db, now: i64) -> Result<u64, DomainError> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(used_dpop_proof::Entity::delete_many()
        .filter(used_dpop_proof::Column::ExpiresAt.lte(now))
        .exec(db)
        .await?
        .rows_affected)
}

/// Adds the current server nonce to a response of a request that came with a proof, so
/// that the client has the next one ready (RFC 9449 8.2).
pub fn add_nonce(state: &AppState, headers: &mut HeaderMap) {
    if let Ok(value) = HeaderValue::from_str(&nonce::current(state)) {
        headers.insert(NONCE_HEADER, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htu_is_compared_without_query_and_fragment() {
        let endpoint = "https://sso.example/token";
        assert!(same_endpoint("https://sso.example/token", endpoint));
        assert!(same_endpoint("https://SSO.example:443/token?x=1#f", endpoint));
        assert!(!same_endpoint("https://sso.example/token/", endpoint));
        assert!(!same_endpoint("http://sso.example/token", endpoint));
        assert!(!same_endpoint("https://evil.example/token", endpoint));
        assert!(!same_endpoint("not a url", endpoint));
    }

    #[test]
    fn private_keys_are_recognised() {
        assert!(has_private_parts(&serde_json::json!({"kty": "EC", "d": "x"})));
        assert!(has_private_parts(&serde_json::json!({"kty": "oct", "k": "x"})));
        assert!(!has_private_parts(&serde_json::json!({"kty": "EC", "x": "a", "y": "b", "crv": "P-256"})));
    }
}
