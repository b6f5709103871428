//! The registration endpoint (RFC 7591 3) and the client configuration endpoint (RFC
//! 7592): `POST /register`, and `GET`/`PUT`/`DELETE /register/{client_id}` with the
//! client's registration access token. Thin: the rules are in `registration`. When
//! `registration.enabled` is off, every path answers 404 (and discovery is silent).
//! Each request counts against the address's budget (`registration.per_ip_per_minute`),
//! failures included, so that tokens cannot be guessed quickly either.

use axum::{
    Json,
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value};

use super::error::OAuthError;
use super::token::no_store;
use crate::client_ip::ClientIp;
use crate::registration::{self, Registration, RegistrationError};
use crate::state::AppState;

impl From<RegistrationError> for OAuthError {
    fn from(error: RegistrationError) -> Self {
        match error {
            RegistrationError::Metadata(metadata) => OAuthError::bad_request(metadata.error, metadata.description),
            RegistrationError::InvalidToken(why) => OAuthError::invalid_token(why),
            RegistrationError::Full(max) => {
                let mut refusal = OAuthError::bad_request(
                    "access_denied",
                    format!("this provider holds its maximum of {max} registered clients; ask its administrator"),
                );
                refusal.status = StatusCode::FORBIDDEN;
                refusal
            }
            RegistrationError::Domain(error) => error.into(),
        }
    }
}

/// Refuses when registration is off (404) or the address spent its budget (429).
fn admit(state: &AppState, ip: &ClientIp) -> Result<(), OAuthError> {
    if !state.config.registration.enabled {
        let mut refusal = OAuthError::bad_request("not_found", "client registration is not enabled on this provider");
        refusal.status = StatusCode::NOT_FOUND;
        return Err(refusal);
    }
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.registration_per_ip.hit_from(address, state.clock.now())
    {
        return Err(OAuthError::too_many_requests(wait));
    }
    Ok(())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// The body as a JSON object, within `registration.max_body_bytes`.
fn json_body(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Map<String, Value>, OAuthError> {
    let max = state.config.registration.max_body_bytes;
    if body.len() > max {
        let mut refusal =
            OAuthError::bad_request("invalid_client_metadata", format!("the metadata is larger than {max} bytes"));
        refusal.status = StatusCode::PAYLOAD_TOO_LARGE;
        return Err(refusal);
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(OAuthError::invalid_request("send the client metadata as application/json"));
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        _ => Err(OAuthError::bad_request("invalid_client_metadata", "the body must be a JSON object")),
    }
}

/// The registration endpoint's URL.
fn endpoint(state: &AppState) -> String {
    format!("{}{}", state.config.issuer(), super::REGISTRATION_PATH)
}

fn answer(status: StatusCode, body: Value) -> Response {
    let mut response = no_store(Json(body));
    *response.status_mut() = status;
    response
}

/// A registration's metadata with `status`, or the error in the protocol's shape.
fn answer_with(state: &AppState, status: StatusCode, result: Result<Registration, OAuthError>) -> Response {
    match result {
        Ok(registered) => answer(status, registered.to_json(&endpoint(state))),
        Err(error) => error.into_response(),
    }
}

/// `POST /register`: 201 with the client's credentials and metadata.
pub async fn register(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        admit(&state, &ip)?;
        let body = json_body(&state, &headers, &body)?;
        Ok::<_, OAuthError>(registration::register(&state, bearer(&headers), &body, ip.0.as_deref()).await?)
    }
    .await;
    answer_with(&state, StatusCode::CREATED, result)
}

/// `GET /register/{client_id}`.
pub async fn read(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        admit(&state, &ip)?;
        Ok::<_, OAuthError>(registration::read(&state, &client_id, bearer(&headers)).await?)
    }
    .await;
    answer_with(&state, StatusCode::OK, result)
}

/// `PUT /register/{client_id}`: the new metadata, whole.
pub async fn update(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        admit(&state, &ip)?;
        let token = bearer(&headers);
        let body = json_body(&state, &headers, &body)?;
        Ok::<_, OAuthError>(registration::update(&state, &client_id, token, &body, ip.0.as_deref()).await?)
    }
    .await;
    answer_with(&state, StatusCode::OK, result)
}

/// `DELETE /register/{client_id}`: 204.
pub async fn delete(
    State(state): State<AppState>,
    ip: ClientIp,
    Path(client_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        admit(&state, &ip)?;
        Ok::<_, OAuthError>(registration::delete(&state, &client_id, bearer(&headers), ip.0.as_deref()).await?)
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error) => error.into_response(),
    }
}
