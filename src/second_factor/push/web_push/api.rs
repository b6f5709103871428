//! The device protocol's Web Push messages (docs/push-protocol.md, "Web Push", an
//! addition to version 1 that changes none of its other messages):
//!
//! - `GET  /push/v1/web-push`                the key browsers subscribe with;
//! - `POST /push/v1/web-push/subscriptions`  a device registers its browser's
//!   subscription, signed by the device's key like its other requests.

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::json;

use super::subscription::{self, Offered};
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::crypto::jws::UnverifiedJws;
use crate::second_factor::push::VERSION;
use crate::second_factor::push::api::{Refusal, SignedBody, authenticate, internal, refuse};
use crate::state::AppState;

/// The JWS `typ` of a subscription registration.
pub const SUBSCRIBE_TYP: &str = "sesame-push-subscribe+jwt";

pub fn routes() -> Router<AppState> {
    Router::new().route("/push/v1/web-push", get(server_key)).route("/push/v1/web-push/subscriptions", post(subscribe))
}

fn disabled() -> Refusal {
    refuse(StatusCode::NOT_FOUND, "web_push_disabled", "this server does not send Web Push notifications: poll")
}

/// The VAPID public key (the `applicationServerKey` of `PushManager.subscribe`).
async fn server_key(State(state): State<AppState>) -> Result<Response, Refusal> {
    if !state.web_push.enabled() {
        return Err(disabled());
    }
    let body = json!({"v": VERSION, "application_server_key": state.web_push.public_key()});
    Ok(([(axum::http::header::CACHE_CONTROL, "public, max-age=3600")], Json(body)).into_response())
}

/// A device registers (or renews) its browser's push subscription.
async fn subscribe(
    State(state): State<AppState>,
    ip: ClientIp,
    SignedBody(body): SignedBody,
) -> Result<Response, Refusal> {
    if !state.web_push.enabled() {
        return Err(disabled());
    }
    // The type is checked before anything is written (a poll or an answer sent here by
    // mistake must not spend its jti).
    let typ = UnverifiedJws::parse(body.jws()).ok().and_then(|jws| jws.typ);
    if typ.as_deref() != Some(SUBSCRIBE_TYP) {
        return Err(refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            format!("the JWS header's typ must be {SUBSCRIBE_TYP}"),
        ));
    }
    let now = state.clock.now();
    let (device, account, claims) = authenticate(&state, &body, now).await?;
    let invalid = |description: &str| refuse(StatusCode::BAD_REQUEST, "invalid_subscription", description);
    let offered: Offered = serde_json::from_value(claims["subscription"].clone()).map_err(|_| {
        invalid("subscription must be {\"endpoint\", \"keys\": {\"p256dh\", \"auth\"}} (PushSubscription.toJSON())")
    })?;
    let checked =
        subscription::check(&offered, state.web_push.loopback_allowed).map_err(|refused| invalid(refused.0))?;
    let host = checked.0.host_str().unwrap_or_default().to_string();
    let id = subscription::store(&state.db, &state.secrets, &device.id, &account.id, checked, now)
        .await
        .map_err(internal)?;
    let detail = json!({"device_id": device.id, "subscription_id": id, "push_service": host});
    let event = AuditEvent {
        event: "push.web_push_subscribed",
        account_id: Some(&account.id),
        client_id: None,
        ip: ip.0.as_deref(),
        detail: Some(detail),
    };
    audit::record(&state.db, now, event).await;
    let answer = json!({"v": VERSION, "subscription_id": id});
    Ok((StatusCode::CREATED, Json(answer)).into_response())
}
