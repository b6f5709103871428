//! The pushed authorization request endpoint (RFC 9126 2): the client authenticates as
//! at the token endpoint (with the same per-address failure budget), the parameters are
//! validated as the authorization endpoint validates them, and every refusal is an
//! OAuth error in JSON — never a redirect, since no browser is there to follow it.

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};

use super::super::authorize::{self, PageRefusal, Refusal};
use super::super::client_auth;
use super::super::dpop;
use super::super::error::OAuthError;
use super::super::token::{form_params, no_store};
use super::{MAX_PARAMETERS, store};
use crate::client_ip::ClientIp;
use crate::state::AppState;

/// What a proof sent with a push names.
const PAR_PROOF: dpop::Expected<'static> =
    dpop::Expected { method: "POST", path: super::super::PAR_PATH, access_token: None };

/// `POST /par`: 201 with the `request_uri` and its lifetime.
pub async fn endpoint(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match push(&state, &ip, &headers, &body).await {
        Ok(body) => {
            let mut response = no_store(Json(body));
            *response.status_mut() = StatusCode::CREATED;
            if headers.contains_key(dpop::HEADER) {
                dpop::add_nonce(&state, response.headers_mut());
            }
            response
        }
        Err(error) => error.into_response(),
    }
}

async fn push(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let params = form_params(headers, body)?;
    if params.len() > MAX_PARAMETERS {
        return Err(OAuthError::invalid_request(format!("a pushed request has at most {MAX_PARAMETERS} parameters")));
    }
    let now = state.clock.now();
    // RFC 9449 10.1: a proof sent with the push binds the code to its key. Checked
    // before the client authenticates, as at the token endpoint (a nonce challenge
    // leaves the client's assertion unspent).
    let refused = |error: dpop::DpopError| error.at_authorization_server(state);
    let proof = match dpop::proof_of(headers).map_err(refused)? {
        Some(proof) => Some(dpop::check(state, proof, &PAR_PROOF, now).map_err(refused)?),
        None => None,
    };
    let client = client_auth::authenticate(state, ip, headers, &params).await?;
    // Each push writes a row until it expires. A confidential client's pushes come from
    // its own server, for all its users, and are authenticated; a public client's need
    // only its id, so they are counted per address like device authorization requests.
    if client.is_public()
        && let Some(address) = &ip.0
        && let Err(wait) = state.limits.par_per_ip.hit_from(address, now)
    {
        return Err(OAuthError::too_many_requests(wait));
    }
    // A signed request object may come by value (RFC 9126 3), checked as at the
    // authorization endpoint; never by reference.
    if params.contains("request_uri") {
        return Err(OAuthError::invalid_request("a pushed request cannot name a request_uri (RFC 9126 2.1)"));
    }
    // The body's client_id may be left out when HTTP Basic names the client.
    let params = if params.contains("client_id") { params } else { params.with("client_id", client.client_id.clone()) };
    let (_, mut request) = authorize::validate(state, &params).await.map_err(as_oauth_error)?;
    if request.client_id != client.client_id {
        return Err(OAuthError::invalid_request("client_id differs from the authenticated client"));
    }
    if let Some(proof) = &proof {
        if client.is_fapi2() && !crate::oidc::fapi2::allows_alg(proof.alg) {
            return Err(OAuthError::bad_request(
                "invalid_dpop_proof",
                "a FAPI 2.0 client signs its proofs with PS256, ES256 or EdDSA",
            ));
        }
        // Both given: they must name the same key (RFC 9449 10.1).
        if request.dpop_jkt.as_ref().is_some_and(|jkt| *jkt != proof.jkt) {
            return Err(OAuthError::bad_request(
                "invalid_dpop_proof",
                "dpop_jkt is not the thumbprint of the DPoP proof's key",
            ));
        }
        request.dpop_jkt = Some(proof.jkt.clone());
    }
    // Larger than a login can carry, it could never be used; and each push is a row.
    // Checked before the proof is spent, so that a refused push leaves it unused.
    if !crate::login::pending::can_be_sealed(&request) {
        return Err(OAuthError::invalid_request("the authorization request is too large"));
    }
    if let Some(proof) = &proof {
        dpop::consume(state, proof).await.map_err(refused)?;
    }
    let ttl = state.config.par.request_uri_ttl;
    let request_uri = store(&state.db, &request, ttl, now).await?;
    let event = crate::audit::AuditEvent {
        event: "par.pushed",
        client_id: Some(&client.client_id),
        ip: ip.0.as_deref(),
        detail: Some(json!({"expires_in": ttl})),
        ..Default::default()
    };
    crate::audit::record(&state.db, now, event).await;
    Ok(json!({"request_uri": request_uri, "expires_in": ttl}))
}

/// What the authorization endpoint would show the user or send to the client, as the
/// JSON error of RFC 9126 2.3.
fn as_oauth_error(refusal: Refusal) -> OAuthError {
    match refusal {
        Refusal::Page(PageRefusal::BadRequest(detail)) => OAuthError::invalid_request(detail),
        Refusal::Page(PageRefusal::UnregisteredRedirectUri(detail)) => {
            OAuthError::bad_request("invalid_redirect_uri", detail)
        }
        Refusal::Page(PageRefusal::RequestObject(error, detail)) => OAuthError::bad_request(error, detail),
        Refusal::Page(PageRefusal::Internal(error)) => error.into(),
        Refusal::Redirect(redirect) => OAuthError::bad_request(redirect.error, redirect.description),
    }
}
