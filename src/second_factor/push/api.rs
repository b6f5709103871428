//! The device protocol, version 1 (docs/push-protocol.md): JSON over HTTPS, every request
//! a compact JWS signed by the device's key, every challenge signed by the server's.
//!
//! - `POST /push/v1/devices`  enroll with a one-time token, registering a public key;
//! - `POST /push/v1/pending`  the challenges waiting for the device's account (long-poll);
//! - `POST /push/v1/answer`   approve (with the number), deny, or report fraud;
//! - Web Push subscriptions: `web_push::api`.

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
use crate::notify::{self, FactorChange};
use crate::state::AppState;
use crate::storage::{entities::used_assertion, is_unique_violation};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/push/v1/devices", post(enroll))
        .route("/push/v1/pending", post(pending))
        .route("/push/v1/answer", post(answer))
        .merge(super::web_push::api::routes())
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
    refuse(status, code, String::from_utf8_lossy(&text).trim()).into_response()
}

/// Every request body: `{"jws": "<compact JWS>"}`.
#[derive(Deserialize)]
pub struct Signed {
    jws: String,
}

impl Signed {
    /// The compact JWS, unchecked.
    pub(super) fn jws(&self) -> &str {
        &self.jws
    }
}

/// The body of a device request; anything else (not JSON, no `jws`, a wrong type, a
/// body too large) is answered in the protocol's own error shape, never the
/// framework's plain text, and changes nothing.
pub struct SignedBody(pub(super) Signed);

impl<S: Send + Sync> axum::extract::FromRequest<S> for SignedBody {
    type Rejection = Response;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<Signed>::from_request(request, state).await {
            Ok(Json(body)) => Ok(SignedBody(body)),
            Err(rejection) => Err(refuse(
                rejection.status(),
                "invalid_request",
                format!("the body must be JSON {{\"jws\": \"<compact JWS>\"}}: {}", rejection.body_text()),
            )
            .into_response()),
        }
    }
}

/// A protocol error: `{"error": code, "error_description": what to do}`.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": self.code, "error_description": self.description}))).into_response()
    }
}

pub(super) fn refuse(status: StatusCode, code: &'static str, description: impl Into<String>) -> Refusal {
    Refusal { status, code, description: description.into() }
}

pub(super) fn internal(error: impl std::fmt::Display) -> Refusal {
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
async fn enroll(
    State(state): State<AppState>,
    ip: ClientIp,
    SignedBody(body): SignedBody,
) -> Result<Response, Refusal> {
    let now = state.clock.now();
    let claims = self_signed_enrollment(&state, &body, now)?;
    let account = enrolling_account(&state, &claims.token, now).await?;
    let public_jwk = public_only(&claims.public_key);
    let name = claims.name.trim();
    let device_id = super::register_device(&state.db, &state.secrets, &account.id, name, &public_jwk, now)
        .await
        .map_err(internal)?;
    record(&state, &account, "second_factor.enrolled", &ip, json!({"method": "push", "factor_id": device_id}), now)
        .await;
    crate::metrics::Metrics::count(&state.metrics.enrollments);
    notify::factor_changed(&state, &account, FactorChange::Added, now).await;
    let body = json!({
        "v": VERSION,
        "device_id": device_id,
        "account": account.username,
        "issuer": state.config.issuer(),
        "server_key": state.push_key.public_jwk(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// The enrollment's claims, signed by the key they register, fresh, naming the device.
fn self_signed_enrollment(state: &AppState, body: &Signed, now: i64) -> Result<EnrollClaims, Refusal> {
    let bad = |description: &str| refuse(StatusCode::BAD_REQUEST, "invalid_request", description);
    let jws = UnverifiedJws::parse(&body.jws).map_err(|_| bad("`jws` is not a compact JWS"))?;
    let alg = device_alg(&jws).ok_or_else(|| bad("device keys are Ed25519 (EdDSA) or P-256 (ES256)"))?;
    let unverified =
        jws.claims_unverified::<EnrollClaims>().map_err(|_| bad("the claims need token, name, public_key and iat"))?;
    let key = VerifyingKey::from_jwk(&unverified.public_key, alg)
        .ok_or_else(|| bad("public_key is not an Ed25519 or P-256 public JWK"))?;
    let claims = jws.verify::<EnrollClaims>(&key).map_err(|_| {
        refuse(StatusCode::UNAUTHORIZED, "invalid_signature", "the request is not signed by public_key")
    })?;
    if !fresh(state, claims.iat, now) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "stale_request",
            "iat is missing or too far from the server's time",
        ));
    }
    if claims.name.trim().is_empty() {
        return Err(bad("name the device (it is shown on the account page)"));
    }
    Ok(claims)
}

/// The account of a one-time enrollment token, used up here; it must not be archived.
async fn enrolling_account(state: &AppState, token: &str, now: i64) -> Result<Account, Refusal> {
    let Some(account_id) = super::redeem_enrollment(&state.db, token, now).await.map_err(internal)? else {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_enrollment",
            "the enrollment link is unknown, already used or expired: make a new one on the account page",
        ));
    };
    match accounts::find_by_id(&state.db, &account_id).await.map_err(internal)? {
        Some(account) if !account.archived => Ok(account),
        _ => Err(refuse(StatusCode::FORBIDDEN, "account_disabled", "the account is archived")),
    }
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
pub(super) async fn authenticate(
    state: &AppState,
    body: &Signed,
    now: i64,
) -> Result<(Device, Account, Value), Refusal> {
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
async fn pending(State(state): State<AppState>, SignedBody(body): SignedBody) -> Result<Response, Refusal> {
    let now = state.clock.now();
    let (_, account, claims) = authenticate(&state, &body, now).await?;
    let wait = claims["wait"].as_u64().unwrap_or(0).min(state.config.push.max_wait);
    let mut waited = 0;
    let rows = loop {
        let now = state.clock.now();
        let rows = super::pending_for(&state.db, &account.id, now).await.map_err(internal)?;
        if !rows.is_empty() || waited >= wait {
            break rows;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        waited += 1;
    };
    let sign = |row| state.push_key.sign("sesame-push-challenge+jwt", &super::view(row, &account.username));
    let challenges = rows.iter().map(sign).collect::<Result<Vec<_>, _>>().map_err(internal)?;
    Ok(Json(json!({"v": VERSION, "challenges": challenges})).into_response())
}

/// Approve (with the number typed), deny, or deny and report fraud.
async fn answer(
    State(state): State<AppState>,
    ip: ClientIp,
    SignedBody(body): SignedBody,
) -> Result<Response, Refusal> {
    let now = state.clock.now();
    let (device, account, claims) = authenticate(&state, &body, now).await?;
    let text = |name: &str| claims[name].as_str().unwrap_or_default().to_string();
    let decision = decision_of(&claims)?;
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
    let answered = super::answer::answer(&state.db, &rules, given, now).await.map_err(internal)?;
    if answered == Ok(ChallengeState::Fraud) {
        // Only the answer that recorded the report gets here: one alert per report.
        crate::metrics::Metrics::count(&state.metrics.push_fraud_reports);
        super::fraud_alert::spawn(&state, &account.id, &challenge_id, now);
    }
    Err(match answered {
        Ok(ChallengeState::WrongNumber) => refuse(
            StatusCode::BAD_REQUEST,
            "wrong_number",
            "that is not the number shown on the sign-in page: the request is refused",
        ),
        Ok(to) => return Ok(Json(json!({"v": VERSION, "state": to.as_str()})).into_response()),
        Err(Refused::UnknownChallenge) => {
            refuse(StatusCode::NOT_FOUND, "unknown_challenge", "no such request for this account")
        }
        Err(Refused::Expired) => {
            refuse(StatusCode::GONE, "expired", "the request expired: sign in again on the computer")
        }
        Err(Refused::NotPending) => {
            refuse(StatusCode::CONFLICT, "not_pending", "this request was already answered or expired")
        }
        Err(Refused::InvalidNonce) => {
            refuse(StatusCode::BAD_REQUEST, "invalid_nonce", "the nonce is not the request's")
        }
    })
}

/// The decision a device signed; an approval without a number is malformed, not a
/// wrong number: it changes nothing.
fn decision_of(claims: &Value) -> Result<Decision, Refusal> {
    let bad = |description: &str| refuse(StatusCode::BAD_REQUEST, "invalid_request", description);
    match (claims["decision"].as_str(), claims["number"].as_i64()) {
        (Some("approve"), None) => Err(bad("an approval carries the number typed (integer)")),
        (Some("approve"), Some(number)) => Ok(Decision::Approve(number)),
        (Some("deny"), _) => Ok(Decision::Deny),
        (Some("fraud"), _) => Ok(Decision::Fraud),
        _ => Err(bad("decision is approve, deny or fraud")),
    }
}

async fn record(state: &AppState, account: &Account, event: &str, ip: &ClientIp, detail: Value, now: i64) {
    let event =
        AuditEvent { event, account_id: Some(&account.id), client_id: None, ip: ip.0.as_deref(), detail: Some(detail) };
    audit::record(&state.db, now, event).await;
}
