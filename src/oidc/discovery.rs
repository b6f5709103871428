//! OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414) and the JWKS. The metadata
//! advertises only what the endpoints implement.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Value, json};
use std::sync::Arc;

use super::{
    AUTHORIZE_PATH, DEVICE_AUTHORIZATION_PATH, END_SESSION_PATH, INTROSPECTION_PATH, JWKS_PATH, PAR_PATH,
    REGISTRATION_PATH, REVOCATION_PATH, SUPPORTED_SCOPES, TOKEN_PATH, USERINFO_PATH, claims,
};
use crate::auth::acr;
use crate::clients::{AuthMethod, SUPPORTED_GRANTS};
use crate::crypto::{jws::SigningAlg, keys::KeyStore};
use crate::login::ResponseMode;

/// `require_par`: the server's `par.require_pushed_authorization_requests`;
/// `registration`: `registration.enabled` (the endpoint is advertised only then).
pub fn document(issuer: &str, require_par: bool, registration: bool) -> Value {
    let algs: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
    let mut document = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}{AUTHORIZE_PATH}"),
        "token_endpoint": format!("{issuer}{TOKEN_PATH}"),
        "userinfo_endpoint": format!("{issuer}{USERINFO_PATH}"),
        "jwks_uri": format!("{issuer}{JWKS_PATH}"),
        "introspection_endpoint": format!("{issuer}{INTROSPECTION_PATH}"),
        "revocation_endpoint": format!("{issuer}{REVOCATION_PATH}"),
        "end_session_endpoint": format!("{issuer}{END_SESSION_PATH}"),
        "device_authorization_endpoint": format!("{issuer}{DEVICE_AUTHORIZATION_PATH}"),
        "pushed_authorization_request_endpoint": format!("{issuer}{PAR_PATH}"),
        "require_pushed_authorization_requests": require_par,
        "scopes_supported": SUPPORTED_SCOPES,
        "response_types_supported": ["code"],
        "response_modes_supported": ResponseMode::SUPPORTED,
        "grant_types_supported": SUPPORTED_GRANTS,
        "subject_types_supported": crate::clients::SubjectType::SUPPORTED,
        "id_token_signing_alg_values_supported": algs,
        "token_endpoint_auth_methods_supported": AuthMethod::SUPPORTED,
        "token_endpoint_auth_signing_alg_values_supported": algs,
        "introspection_endpoint_auth_methods_supported": AuthMethod::CONFIDENTIAL,
        "introspection_endpoint_auth_signing_alg_values_supported": algs,
        "revocation_endpoint_auth_methods_supported": AuthMethod::SUPPORTED,
        "revocation_endpoint_auth_signing_alg_values_supported": algs,
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": claims::STANDARD_CLAIMS
            .iter()
            .chain(["iss", "aud", "exp", "iat", "nonce", "sid", "azp", "at_hash"].iter())
            .chain(claims::AUTHORIZATION_CLAIMS.iter())
            .collect::<Vec<_>>(),
        "claim_types_supported": ["normal"],
        "acr_values_supported": acr::SUPPORTED,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "display_values_supported": ["page", "popup", "touch"],
        "ui_locales_supported": ["fr", "en"],
        "claims_parameter_supported": true,
        "userinfo_signing_alg_values_supported": algs,
        // Request objects (`oidc::request_object`): signed with any algorithm Sésame
        // verifies, or unsigned for a client that registered `none`. Request URIs are
        // not registered beforehand: an https URL on a host the client registered,
        // fetched under the `[fetch]` limits.
        "request_parameter_supported": true,
        "request_uri_parameter_supported": true,
        "require_request_uri_registration": false,
        "request_object_signing_alg_values_supported": algs.iter().copied().chain(["none"]).collect::<Vec<_>>(),
        "authorization_response_iss_parameter_supported": true,
        "dpop_signing_alg_values_supported": super::dpop::algorithms(),
    });
    if registration {
        document["registration_endpoint"] = json!(format!("{issuer}{REGISTRATION_PATH}"));
    }
    document
}

/// The metadata, serialised once at start: it never changes while the server runs.
#[derive(Clone)]
pub struct Metadata(pub Bytes);

pub fn document_json(issuer: &str, require_par: bool, registration: bool) -> Metadata {
    Metadata(Bytes::from(document(issuer, require_par, registration).to_string()))
}

pub async fn metadata(State(metadata): State<Metadata>) -> Response {
    json_bytes(metadata.0)
}

pub async fn jwks(State(keys): State<Arc<KeyStore>>) -> Response {
    json_bytes(keys.jwks_json().await)
}

fn json_bytes(body: Bytes) -> Response {
    let mut response = ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    response
}
