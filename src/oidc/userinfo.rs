//! The userinfo endpoint (OIDC Core 5.3), by GET and POST, with the access token in the
//! `Authorization: Bearer` header or (POST) the `access_token` form field (RFC 6750 2),
//! or, for a token bound to a DPoP key, `Authorization: DPoP` with a proof (RFC 9449 7).
//! Plain JSON, or a JWT signed with Sésame's key of the algorithm the client registered
//! as `userinfo_signed_response_alg` (5.3.2).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::dpop;
use super::error::OAuthError;
use super::params::Params;
use super::token::jwt::{self as tokens, TokenCheckError};
use super::{claims, claims_request};
use crate::clients::Client;
use crate::state::AppState;

pub async fn get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    respond(&state, "GET", &headers, None).await
}

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let from_body = if is_form {
        match std::str::from_utf8(&body).ok().map(Params::parse) {
            Some(Ok(params)) => params.owned("access_token"),
            _ => {
                return OAuthError::invalid_request("the body is not a valid form").into_response();
            }
        }
    } else {
        None
    };
    respond(&state, "POST", &headers, from_body).await
}

/// How the access token was presented: as a bearer token (header or body, RFC 6750),
/// or with the `DPoP` scheme and a proof (RFC 9449 7.1).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    Dpop,
}

fn authorization_header(headers: &HeaderMap) -> Option<(Scheme, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let scheme = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        Scheme::Dpop
    } else {
        return None;
    };
    Some((scheme, token.trim().to_string()))
}

async fn respond(state: &AppState, method: &str, headers: &HeaderMap, body_token: Option<String>) -> Response {
    let (scheme, token) = match (authorization_header(headers), body_token) {
        (Some(_), Some(_)) => {
            return OAuthError::invalid_request("send the access token once: in the header or the body")
                .into_response();
        }
        (Some(presented), None) => presented,
        (None, Some(token)) => (Scheme::Bearer, token),
        (None, None) => {
            // Either scheme is welcome (RFC 9449 7.1): the DPoP one names its algorithms.
            let mut error = OAuthError::missing_token();
            error.www_authenticate =
                Some(format!("Bearer realm=\"sesame\", DPoP algs=\"{}\"", dpop::algorithms().join(" ")));
            return error.into_response();
        }
    };
    let result = userinfo(state, method, headers, scheme, &token).await;
    let mut response = match result {
        // Personal data: never kept by a cache on the way.
        Ok(Answer::Json(body)) => crate::oidc::token::no_store(Json(body)),
        Ok(Answer::Jwt(jwt)) => {
            let content_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/jwt"))];
            crate::oidc::token::no_store((content_type, jwt))
        }
        Err(error) => error.into_response(),
    };
    if headers.contains_key(dpop::HEADER) {
        dpop::add_nonce(state, response.headers_mut());
    }
    response
}

enum Answer {
    Json(Value),
    /// Signed for a client that registered `userinfo_signed_response_alg`.
    Jwt(String),
}

async fn userinfo(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    scheme: Scheme,
    token: &str,
) -> Result<Answer, OAuthError> {
    let now = state.clock.now();
    let claims = tokens::verify_access_token(state, token, now).await.map_err(|error| match error {
        TokenCheckError::Storage(e) => OAuthError::from(crate::domain::DomainError::Storage(e)),
        other if scheme == Scheme::Dpop => OAuthError::dpop_challenge("invalid_token", other.to_string()),
        other => OAuthError::invalid_token(other.to_string()),
    })?;
    let client = state.client_cache.get(&state.db, &claims.client_id, now).await?;
    let fapi2 = client.as_deref().is_some_and(Client::is_fapi2);
    check_binding(state, method, headers, scheme, token, claims.dpop_jkt(), fapi2).await?;
    // A client's own token (client_credentials) speaks for no account.
    let account_id = claims
        .account_id()
        .ok_or_else(|| OAuthError::invalid_token("this access token was issued to a client, not for a user"))?;
    let scopes: Vec<String> = claims.scope.split_whitespace().map(str::to_string).collect();
    if !scopes.iter().any(|s| s == "openid") {
        return Err(OAuthError::insufficient_scope("the access token was not granted the openid scope"));
    }
    // From this node's memory, kept true by the change feed: a change shows at the next call.
    let view = state
        .caches
        .account_view(&state.db, account_id)
        .await?
        .filter(|view| !view.account.archived)
        .ok_or_else(|| OAuthError::invalid_token("the account of this token is no longer active"))?;
    let account = &view.account;
    // The token's `sub`: the account id, or the pairwise value the ID token gave.
    let mut body = json!({"sub": claims.sub});
    for (name, value) in claims::for_scopes(account, &scopes) {
        body[name] = value;
    }
    for (name, value) in claims_request::values(account, &claims.userinfo_claims) {
        body[name] = value;
    }
    // Rights as they are now, not as when the token was issued.
    if let Some(client) = &client {
        for (name, value) in claims::authorization_from(account, &view.access, client) {
            body[name] = value;
        }
    }
    let Some((client, alg)) = client.and_then(|client| client.userinfo_alg.map(|alg| (client, alg))) else {
        return Ok(Answer::Json(body));
    };
    // OIDC Core 5.3.2: a signed response names who signed it and for whom, and when.
    body["iss"] = json!(state.config.issuer());
    body["aud"] = json!(client.client_id);
    body["iat"] = json!(now);
    let signed = async {
        let key = state.keys.current(alg).await.map_err(|e| e.to_string())?;
        key.sign("JWT", &body).map_err(|e| e.to_string())
    };
    match signed.await {
        Ok(jwt) => Ok(Answer::Jwt(jwt)),
        Err(error) => {
            tracing::error!(%error, alg = alg.as_str(), "could not sign a userinfo response");
            Err(OAuthError::server_error())
        }
    }
}

/// RFC 9449 7: a token bound to a DPoP key is accepted only with the `DPoP` scheme and
/// a fresh proof of that key for this request (`ath` its hash); presented as a bearer
/// token it is refused (7.2), as is an unbound token presented as a DPoP one. A FAPI
/// 2.0 client's proofs are PS256, ES256 or EdDSA here too (an RSA key may sign both).
async fn check_binding(
    state: &AppState,
    method: &str,
    headers: &HeaderMap,
    scheme: Scheme,
    token: &str,
    bound_to: Option<&str>,
    fapi2: bool,
) -> Result<(), OAuthError> {
    let now = state.clock.now();
    match (bound_to, scheme) {
        (None, Scheme::Bearer) => Ok(()),
        (Some(_), Scheme::Bearer) => Err(OAuthError::dpop_challenge(
            "invalid_token",
            "this access token is bound to a DPoP key: present it with the DPoP scheme and a proof",
        )),
        (None, Scheme::Dpop) => Err(OAuthError::dpop_challenge(
            "invalid_token",
            "this access token is not bound to a DPoP key: present it as a Bearer token",
        )),
        (Some(jkt), Scheme::Dpop) => {
            let refused = |error: dpop::DpopError| error.at_resource(state);
            let proof = dpop::proof_of(headers)
                .map_err(refused)?
                .ok_or_else(|| OAuthError::dpop_challenge("invalid_dpop_proof", "a DPoP proof is required"))?;
            let expected = dpop::Expected { method, path: super::USERINFO_PATH, access_token: Some(token) };
            let proof = dpop::check(state, proof, &expected, now).map_err(refused)?;
            if fapi2 && !super::fapi2::allows_alg(proof.alg) {
                return Err(OAuthError::dpop_challenge(
                    "invalid_dpop_proof",
                    "a FAPI 2.0 client signs its proofs with PS256, ES256 or EdDSA",
                ));
            }
            if proof.jkt != jkt {
                return Err(OAuthError::dpop_challenge(
                    "invalid_dpop_proof",
                    "the proof is not signed with the key the access token is bound to",
                ));
            }
            dpop::consume(state, &proof).await.map_err(refused)
        }
    }
}
