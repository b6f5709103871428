//! Request objects (OIDC Core 6, RFC 9101): an authorization request sent as a JWT, by
//! value (`request`) or by reference (`request_uri`, an https URL fetched under the
//! `[fetch]` policy, from an origin the client registered — the pushed requests' `urn:`
//! references are `par`'s).
//!
//! The object is signed with a key of the client's `jwks`/`jwks_uri`, with one of the
//! algorithms Sésame verifies (and the one the client registered, if it registered one);
//! unsigned (`alg: none`) only when the client registered `request_object_signing_alg =
//! "none"`. Encrypted objects (JWE) are refused.
//!
//! Precedence: only the object's parameters make the request (RFC 9101 5), so a value
//! in the query can never override a signed one. The parameters OIDC Core 6.1 asks to
//! find outside too are checked against it: `client_id` outside is required (it names
//! whose keys to check with) and must be the object's; `response_type` outside, when
//! given, must be the object's; `scope` outside is ignored, the object's counts.
//!
//! Replay: an object may be used again until its `exp` (RFC 9101 does not ask more). A
//! replayed object only starts again a request whose answer goes to the client's own
//! redirect URI, with the client's own `state`, `nonce` and PKCE challenge.

use serde_json::Value;

use super::client_assertion::find_key;
use super::fetch;
use super::params::Params;
use crate::clients::{Client, RequestObjectAlg, redirect};
use crate::crypto::jws::{SigningAlg, UnverifiedJws};
use crate::state::AppState;

/// The longest `request_uri` taken (RFC 9101 5.2 advises at most 512 ASCII characters).
const MAX_REQUEST_URI: usize = 512;
/// Clock skew allowed on `nbf`, in seconds.
const SKEW: i64 = 30;
/// FAPI 2.0: a request object is valid for at most 60 minutes, nbf to exp.
const FAPI2_MAX_LIFETIME: i64 = 3600;
/// The claims of the JWT that are not authorization request parameters.
const JWT_CLAIMS: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

/// Why a request object was refused: the error code of RFC 9101 6.2 / OIDC Core 6.3 and
/// what is wrong.
#[derive(Debug)]
pub struct ObjectError {
    pub error: &'static str,
    pub description: String,
}

impl ObjectError {
    fn object(description: impl Into<String>) -> Self {
        Self { error: "invalid_request_object", description: description.into() }
    }

    fn uri(description: impl Into<String>) -> Self {
        Self { error: "invalid_request_uri", description: description.into() }
    }
}

/// A request object that passed the checks: its parameters, and whether it was signed.
#[derive(Debug)]
pub struct RequestObject {
    pub params: Params,
    pub signed: bool,
}

/// The request object `params` carries for `client`, checked, if it carries one.
pub async fn resolve(state: &AppState, client: &Client, params: &Params) -> Result<Option<RequestObject>, ObjectError> {
    let jwt = match (params.get("request"), params.get("request_uri")) {
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {
            return Err(ObjectError {
                error: "invalid_request",
                description: "send request or request_uri, not both".into(),
            });
        }
        (Some(jwt), None) => {
            usable_by(client, "request_not_supported")?;
            jwt.to_string()
        }
        (None, Some(uri)) => {
            // Checked before anything is fetched: a client that could not have an object
            // accepted does not make Sésame fetch a URL someone put in a link.
            usable_by(client, "request_uri_not_supported")?;
            fetch_object(state, client, uri).await?
        }
    };
    let object = verify(state, client, &jwt, state.clock.now()).await?;
    if let Some(outer) = params.get("response_type")
        && object.params.get("response_type") != Some(outer)
    {
        return Err(ObjectError::object("response_type differs inside and outside the request object"));
    }
    Ok(Some(object))
}

/// Whether any request object of `client` could be accepted: it registered keys (for a
/// signed one) or `none` (for an unsigned one).
fn usable_by(client: &Client, error: &'static str) -> Result<(), ObjectError> {
    if client.jwks.is_some() || client.jwks_uri.is_some() || client.request_object_alg.is_some() {
        return Ok(());
    }
    Err(ObjectError {
        error,
        description: "this client registered no keys and no request_object_signing_alg: it cannot send request objects"
            .into(),
    })
}

async fn fetch_object(state: &AppState, client: &Client, uri: &str) -> Result<String, ObjectError> {
    if uri.len() > MAX_REQUEST_URI {
        return Err(ObjectError::uri(format!("a request_uri has at most {MAX_REQUEST_URI} characters")));
    }
    if !fetch::allowed(&state.config.fetch, uri) {
        return Err(ObjectError::uri(
            "a request_uri is an https URL (or a pushed request's urn:ietf:params:oauth:request_uri:…)",
        ));
    }
    // Anyone can put a request_uri in a link: it is fetched only from an origin the
    // client registered (scheme, host and port of one of its redirect URIs or of its
    // jwks_uri), so that Sésame cannot be made to call other servers or other ports, those
    // of the office's network included (RFC 9101 10.4.1); the fetch policy also refuses
    // non-public addresses.
    let mut registered = client.redirect_uris.iter().chain(client.jwks_uri.iter());
    if !registered.any(|registered| redirect::same_origin(registered, uri)) {
        return Err(ObjectError::uri(
            "a request_uri is served from the origin (scheme, host and port) of one of the client's redirect URIs \
             or of its jwks_uri",
        ));
    }
    let body = state
        .fetcher
        .get(fetch::Lane::RequestUri, uri, "application/oauth-authz-req+jwt, application/jwt")
        .await
        .map_err(|why| {
            // The reason is one of `FetchError`'s words, never the transport's: and only
            // the client's own origins are ever called, so it tells nothing of the office
            // network.
            tracing::info!(uri, %why, "request_uri refused");
            ObjectError::uri(format!("the request_uri could not be used: {why}"))
        })?;
    let text = String::from_utf8(body).map_err(|_| ObjectError::uri("the request_uri's document is not text"))?;
    Ok(text.trim().to_string())
}

/// Checks `jwt` as a request object of `client` at `now`.
pub async fn verify(state: &AppState, client: &Client, jwt: &str, now: i64) -> Result<RequestObject, ObjectError> {
    if jwt.split('.').count() == 5 {
        return Err(ObjectError::object("encrypted request objects (JWE) are not supported: send it signed only"));
    }
    let jws = UnverifiedJws::parse(jwt).map_err(|_| ObjectError::object("the request object is not a JWT"))?;
    if client.is_fapi2() && SigningAlg::parse(&jws.alg).is_none_or(|alg| !super::fapi2::allows_alg(alg)) {
        return Err(ObjectError::object("a FAPI 2.0 client signs its request objects with PS256, ES256 or EdDSA"));
    }
    let registered = client.request_object_alg;
    let (claims, signed): (Value, bool) = if jws.alg == "none" {
        if registered != Some(RequestObjectAlg::Unsigned) {
            return Err(ObjectError::object(
                "unsigned request objects (alg none) are accepted only from a client that registered \
                 request_object_signing_alg none",
            ));
        }
        if !jwt.ends_with('.') {
            return Err(ObjectError::object("an unsigned request object has an empty signature"));
        }
        (jws.claims_unverified().map_err(|_| ObjectError::object("the request object's claims are not JSON"))?, false)
    } else {
        let supported = || SigningAlg::ALL.map(SigningAlg::as_str).join(", ");
        let alg = SigningAlg::parse(&jws.alg).ok_or_else(|| {
            ObjectError::object(format!("alg `{}` is not supported; use one of {}", jws.alg, supported()))
        })?;
        if let Some(registered) = registered
            && registered != RequestObjectAlg::Signed(alg)
        {
            return Err(ObjectError::object(format!(
                "this client registered request_object_signing_alg {}, not {}",
                registered.as_str(),
                alg.as_str()
            )));
        }
        let key = find_key(state, client, jws.kid.as_deref(), alg, now).await.ok_or_else(|| {
            ObjectError::object("no key the client registered matches the request object's kid and alg")
        })?;
        (jws.verify(&key).map_err(|_| ObjectError::object("the request object's signature is not valid"))?, true)
    };
    let params = check_claims(state, client, &claims, signed, now)?;
    Ok(RequestObject { params, signed })
}

fn check_claims(
    state: &AppState,
    client: &Client,
    claims: &Value,
    signed: bool,
    now: i64,
) -> Result<Params, ObjectError> {
    let object =
        claims.as_object().ok_or_else(|| ObjectError::object("the request object's claims are not an object"))?;
    let text = |name: &str| claims[name].as_str();
    // A signed object says who made it and for whom (RFC 9101 4, 10.2), so that one
    // made for another server or by another client cannot be passed on.
    match text("iss") {
        Some(iss) if iss != client.client_id => return Err(ObjectError::object("iss must be the client_id")),
        None if signed => return Err(ObjectError::object("a signed request object has iss, the client_id")),
        _ => {}
    }
    let issuer = state.config.issuer();
    let for_us = match &claims["aud"] {
        Value::String(one) => one == issuer,
        Value::Array(many) => many.iter().any(|aud| aud.as_str() == Some(issuer)),
        Value::Null => !signed,
        _ => false,
    };
    if !for_us {
        return Err(ObjectError::object(format!("aud must be the issuer, {issuer}")));
    }
    if text("client_id").is_some_and(|id| id != client.client_id) {
        return Err(ObjectError::object("the request object's client_id is not the request's"));
    }
    let mut max_lifetime = state.config.request_objects.max_lifetime;
    // FAPI 2.0 (Message Signing 5.3.1, Security Profile 5.3.2.1): a signed request
    // carries its validity window, at most 60 minutes from nbf to exp, so that one seen
    // in a log or a browser's history cannot be played again later.
    if client.is_fapi2() {
        let (Some(exp), Some(nbf)) = (claims["exp"].as_i64(), claims["nbf"].as_i64()) else {
            return Err(ObjectError::object("a FAPI 2.0 client's request object carries exp and nbf, in seconds"));
        };
        if exp.checked_sub(nbf).is_none_or(|lifetime| lifetime > FAPI2_MAX_LIFETIME) {
            return Err(ObjectError::object("a FAPI 2.0 request object has exp at most 60 minutes after nbf"));
        }
        max_lifetime = max_lifetime.min(FAPI2_MAX_LIFETIME);
    }
    match &claims["exp"] {
        Value::Null => {}
        exp => {
            let exp = exp.as_i64().ok_or_else(|| ObjectError::object("exp is a number of seconds"))?;
            if exp <= now {
                return Err(ObjectError::object("the request object has expired"));
            }
            if exp > now + max_lifetime {
                return Err(ObjectError::object(format!(
                    "a request object is valid for at most {max_lifetime} seconds"
                )));
            }
        }
    }
    match &claims["nbf"] {
        Value::Null => {}
        nbf => {
            let nbf = nbf.as_i64().ok_or_else(|| ObjectError::object("nbf is a number of seconds"))?;
            if nbf > now + SKEW {
                return Err(ObjectError::object("the request object is not valid yet"));
            }
            if nbf < now - max_lifetime {
                return Err(ObjectError::object("the request object was made too long ago"));
            }
        }
    }
    let mut params = Params::default();
    for (name, value) in object {
        if JWT_CLAIMS.contains(&name.as_str()) {
            continue;
        }
        if name == "request" || name == "request_uri" {
            return Err(ObjectError::object("a request object cannot hold request or request_uri"));
        }
        let value = match value {
            Value::Null => continue,
            Value::String(text) => text.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            // `claims` (OIDC Core 5.5) is a JSON object; parameters that are lists in
            // some profiles are kept as JSON text, which their parsers refuse clearly.
            Value::Array(_) | Value::Object(_) => value.to_string(),
        };
        if !value.is_empty() {
            params = params.with(name, value);
        }
    }
    if !params.contains("client_id") {
        params = params.with("client_id", client.client_id.clone());
    }
    Ok(params)
}
