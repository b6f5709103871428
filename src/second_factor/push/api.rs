//! The device protocol, version 1 (docs/push-protocol.md): JSON over HTTPS, every request
//! a compact JWS signed by the device's key, every challenge signed by the server's.
//!
//! - `POST /push/v1/devices`  enroll with a one-time token, registering a public key;
//! - `POST /push/v1/pending`  the challenges waiting for the device's account (long-poll);
//! - `POST /push/v1/answer`   approve (with the number), deny, or report fraud.

use std::time::Duration;

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::post,
};
use sea_orm::ActiveModelTrait;
use sea_orm::ActiveValue::Set;
use serde::Deserialize;
use serde_json::{Value, json};

use super::answer::{Answer, Decision, Refused, Rules};
use super::{Device, State as ChallengeState, VERSION};
use crate::accounts::{self, Account};
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};
use crate::i18n::Locale;
use crate::notify::{self, FactorChange};
use crate::state::AppState;
use crate::storage::{entities::used_assertion, is_unique_violation};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/push/v1/devices", post(enroll))
        .route("/push/v1/pending", post(pending))
        .route("/push/v1/answer", post(answer))
}

/// Any error the framework answered in plain text (a wrong method, a body too large)
/// is rewritten in the protocol's error shape, status kept.
pub async fn in_protocol_shape(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let text = axum::body::to_bytes(response.into_body(), 16 * 1024).await.unwrap_or_default();
    let code = if status.is_server_error() { "server_error" } else { "invalid_request" };
    refuse(status, code, String::from_utf8_lossy(&text).trim())
}

/// Every request body: `{"jws": "<compact JWS>"}`.
#[derive(Deserialize)]
pub struct Signed {
    jws: String,
}

/// The body of a device request; anything else (not JSON, no `jws`, a wrong type, a
/// body too large) is answered in the protocol's own error shape, never the
/// framework's plain text, and changes nothing.
pub struct SignedBody(Signed);

impl<S: Send + Sync> axum::extract::FromRequest<S> for SignedBody {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<Signed>::from_request(request, state).await {
            Ok(Json(body)) => Ok(SignedBody(body)),
            Err(rejection) => Err(refuse(
                rejection.status(),
                "invalid_request",
                &format!("the body must be JSON {{\"jws\": \"<compact JWS>\"}}: {}", rejection.body_text()),
            )),
        }
    }
}

/// A protocol error: `{"error": code, "error_description": what to do}`.
fn refuse(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"error": code, "error_description": description}))).into_response()
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "push protocol");
    refuse(StatusCode::INTERNAL_SERVER_ERROR, "server_error", "Sésame could not handle the request; try again")
}

fn device_alg(jws: &UnverifiedJws<'_>) -> Option<SigningAlg> {
    match jws.alg.as_str() {
        "EdDSA" => Some(SigningAlg::EdDsa),
        "ES256" => Some(SigningAlg::Es256),
        _ => None,
    }
}

fn fresh(state: &AppState, iat: Option<i64>, now: i64) -> bool {
    iat.is_some_and(|iat| (iat - now).abs() <= state.config.push.clock_tolerance)
}

#[derive(Deserialize)]
struct EnrollClaims {
    token: String,
    name: String,
    public_key: Value,
    iat: Option<i64>,
}

/// Enrollment: the device proves it holds the key it registers by signing with it.
async fn enroll(State(state): State<AppState>, ip: ClientIp, SignedBody(body): SignedBody) -> Response {
    let now = state.clock.now();
    let Ok(jws) = UnverifiedJws::parse(&body.jws) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "`jws` is not a compact JWS");
    };
    let Some(alg) = device_alg(&jws) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "device keys are Ed25519 (EdDSA) or P-256 (ES256)");
    };
    let Ok(unverified) = jws.claims_unverified::<EnrollClaims>() else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "the claims need token, name, public_key and iat");
    };
    let Some(key) = VerifyingKey::from_jwk(&unverified.public_key, alg) else {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "public_key is not an Ed25519 or P-256 public JWK");
    };
    let Ok(claims) = jws.verify::<EnrollClaims>(&key) else {
        return refuse(StatusCode::UNAUTHORIZED, "invalid_signature", "the request is not signed by public_key");
    };
    if !fresh(&state, claims.iat, now) {
        return refuse(StatusCode::UNAUTHORIZED, "stale_request", "iat is missing or too far from the server's time");
    }
    let name = claims.name.trim();
    if name.is_empty() {
        return refuse(StatusCode::BAD_REQUEST, "invalid_request", "name the device (it is shown on the account page)");
    }
    let account = match super::redeem_enrollment(&state.db, &claims.token, now).await {
        Ok(Some(account_id)) => match accounts::find_by_id(&state.db, &account_id).await {
            Ok(Some(account)) if !account.archived => account,
            Ok(_) => return refuse(StatusCode::FORBIDDEN, "account_disabled", "the account is archived"),
            Err(error) => return internal(error),
        },
        Ok(None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_enrollment",
                "the enrollment link is unknown, already used or expired: make a new one on the account page",
            );
        }
        Err(error) => return internal(error),
    };
    let public_jwk = public_only(&claims.public_key);
    let device_id = match super::register_device(&state.db, &state.secrets, &account.id, name, &public_jwk, now).await {
        Ok(id) => id,
        Err(error) => return internal(error),
    };
    record(&state, &account, "second_factor.enrolled", &ip, json!({"method": "push", "factor_id": device_id}), now)
        .await;
    crate::metrics::Metrics::count(&state.metrics.enrollments);
    notify::factor_changed(&state, &account, FactorChange::Added, Locale::Fr, now).await;
    let body = json!({
        "v": VERSION,
        "device_id": device_id,
        "account": account.username,
        "issuer": state.config.issuer(),
        "server_key": state.push_key.public_jwk(),
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// Only the public members of a JWK are kept (a careless client might send `d`).
fn public_only(jwk: &Value) -> Value {
    let mut public = serde_json::Map::new();
    for name in ["kty", "crv", "x", "y"] {
        if let Some(value) = jwk.get(name) {
            public.insert(name.into(), value.clone());
        }
    }
    Value::Object(public)
}

/// A device-signed request: the device (by `kid`), the signature, the time, and `jti`
/// never seen before.
async fn authenticate(state: &AppState, body: &Signed, now: i64) -> Result<(Device, Account, Value), Response> {
    let jws = UnverifiedJws::parse(&body.jws)
        .map_err(|_| refuse(StatusCode::BAD_REQUEST, "invalid_request", "`jws` is not a compact JWS"))?;
    let Some(kid) = jws.kid.clone() else {
        return Err(refuse(StatusCode::BAD_REQUEST, "invalid_request", "the JWS header needs kid = the device id"));
    };
    let device = match super::device(&state.db, &state.secrets, &kid).await {
        Ok(Some(device)) => device,
        Ok(None) => {
            return Err(refuse(
                StatusCode::UNAUTHORIZED,
                "unknown_device",
                "this device is not registered (or was revoked): enroll it again",
            ));
        }
        Err(error) => return Err(internal(error)),
    };
    let claims: Value = jws.verify(&device.key).map_err(|_| {
        refuse(StatusCode::UNAUTHORIZED, "invalid_signature", "the signature does not match the device's key")
    })?;
    let iat = claims["iat"].as_i64();
    if !fresh(state, iat, now) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "stale_request",
            "iat is missing or too far from the server's time",
        ));
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty() && j.len() <= 128) else {
        return Err(refuse(StatusCode::BAD_REQUEST, "invalid_request", "jti (a random request id) is required"));
    };
    let used = used_assertion::ActiveModel {
        key: Set(format!("push:{}:{jti}", device.id)),
        expires_at: Set(iat.unwrap_or(now) + 2 * state.config.push.clock_tolerance),
    };
    match used.insert(&state.db).await {
        Ok(_) => {}
        Err(error) if is_unique_violation(&error) => {
            return Err(refuse(StatusCode::UNAUTHORIZED, "replayed_request", "this request was already received"));
        }
        Err(error) => return Err(internal(error)),
    }
    let account = match accounts::find_by_id(&state.db, &device.account_id).await {
        Ok(Some(account)) if !account.archived => account,
        Ok(_) => return Err(refuse(StatusCode::FORBIDDEN, "account_disabled", "the account is archived")),
        Err(error) => return Err(internal(error)),
    };
    Ok((device, account, claims))
}

/// The challenges waiting for the device's account, signed by the server; waits up to
/// `wait` seconds (at most `push.max_wait`) for one to appear.
async fn pending(State(state): State<AppState>, SignedBody(body): SignedBody) -> Response {
    let now = state.clock.now();
    let (_, account, claims) = match authenticate(&state, &body, now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let wait = claims["wait"].as_u64().unwrap_or(0).min(state.config.push.max_wait);
    let mut waited = 0;
    let rows = loop {
        let now = state.clock.now();
        match super::pending_for(&state.db, &account.id, now).await {
            Ok(rows) if !rows.is_empty() || waited >= wait => break rows,
            Ok(_) => {}
            Err(error) => return internal(error),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        waited += 1;
    };
    let mut challenges = Vec::new();
    for row in &rows {
        match state.push_key.sign("sesame-push-challenge+jwt", &super::view(row, &account.username)) {
            Ok(signed) => challenges.push(signed),
            Err(error) => return internal(error),
        }
    }
    Json(json!({"v": VERSION, "challenges": challenges})).into_response()
}

/// Approve (with the number typed), deny, or deny and report fraud.
async fn answer(State(state): State<AppState>, ip: ClientIp, SignedBody(body): SignedBody) -> Response {
    let now = state.clock.now();
    let (device, account, claims) = match authenticate(&state, &body, now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let decision = match (text("decision").as_str(), claims["number"].as_i64()) {
        // An approval without a number is malformed, not a wrong number: it changes nothing.
        ("approve", None) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "an approval carries the number typed (integer)",
            );
        }
        ("approve", Some(number)) => Decision::Approve(number),
        ("deny", _) => Decision::Deny,
        ("fraud", _) => Decision::Fraud,
        _ => return refuse(StatusCode::BAD_REQUEST, "invalid_request", "decision is approve, deny or fraud"),
    };
    let (challenge_id, nonce) = (text("challenge_id"), text("nonce"));
    let given = Answer {
        device: &device,
        account: &account,
        challenge_id: &challenge_id,
        nonce: &nonce,
        decision,
        ip: ip.0.as_deref(),
    };
    let rules = Rules { push: &state.config.push, two_factor: &state.config.two_factor };
    match super::answer::answer(&state.db, &rules, given, now).await {
        Ok(Ok(ChallengeState::WrongNumber)) => refuse(
            StatusCode::BAD_REQUEST,
            "wrong_number",
            "that is not the number shown on the sign-in page: the request is refused",
        ),
        Ok(Ok(to)) => Json(json!({"v": VERSION, "state": to.as_str()})).into_response(),
        Ok(Err(Refused::UnknownChallenge)) => {
            refuse(StatusCode::NOT_FOUND, "unknown_challenge", "no such request for this account")
        }
        Ok(Err(Refused::Expired)) => {
            refuse(StatusCode::GONE, "expired", "the request expired: sign in again on the computer")
        }
        Ok(Err(Refused::NotPending)) => {
            refuse(StatusCode::CONFLICT, "not_pending", "this request was already answered or expired")
        }
        Ok(Err(Refused::InvalidNonce)) => {
            refuse(StatusCode::BAD_REQUEST, "invalid_nonce", "the nonce is not the request's")
        }
        Err(error) => internal(error),
    }
}

async fn record(state: &AppState, account: &Account, event: &str, ip: &ClientIp, detail: Value, now: i64) {
    let event =
        AuditEvent { event, account_id: Some(&account.id), client_id: None, ip: ip.0.as_deref(), detail: Some(detail) };
    audit::record(&state.db, now, event).await;
}
