//! Push at verification: sending a request to the account's devices and using its
//! approval (`second_factor::push`), and the state the waiting page polls.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::{Notes, VerifyQuery};
use crate::second_factor::push::{self, answer::AtLogin};
use crate::state::AppState;
use crate::web::factor_stage::{self, FactorLogin};
use crate::web::request::ClientIp;

/// Sends a request to the account's devices, with a new two-digit number.
pub(super) async fn send_push(state: &AppState, login: &FactorLogin, ip: &ClientIp, now: i64) -> (Notes, StatusCode) {
    let message = |key: &str| state.theme.message(login.locale, key);
    let ask = push::Ask {
        account_id: &login.account.id,
        login_id: &login.pending.id,
        application: &login.client.name,
        ip: ip.0.as_deref(),
        web_push: Some(push::web_push::Notice { sender: &state.web_push, locale: login.account.locale() }),
    };
    match push::create_challenge(&state.db, &state.config.push, &login.account, ask, now).await {
        Ok(Ok(challenge)) => {
            login.audit(state, "push.sent", ip, json!({"challenge_id": challenge.id}), now).await;
            push::notify_webhook(&state.http, &state.config.push, &login.account.username, &challenge);
            (Notes::default(), StatusCode::OK)
        }
        Ok(Err(push::Hold::Locked(seconds))) => {
            let minutes = ((seconds + 59) / 60).to_string();
            (Notes::error(message("push_locked").replace("{minutes}", &minutes)), StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(Err(push::Hold::Busy(seconds))) => (
            Notes::error(message("push_busy").replace("{seconds}", &seconds.to_string())),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Ok(Err(push::Hold::Limit)) => {
            login.audit(state, "push.limited", ip, json!({}), now).await;
            (Notes::error(message("push_limited")), StatusCode::TOO_MANY_REQUESTS)
        }
        Err(error) => {
            tracing::error!(%error, "could not create a push request");
            (Notes::error(message("error_internal")), StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// Push at verification: choosing it (or "send") sends a request, unless this login has
/// one under way; otherwise the login's approved request is used, once. `Ok` when the
/// second factor is proven, else what to tell the user.
pub(super) async fn push_step(
    state: &AppState,
    login: &FactorLogin,
    action: &str,
    ip: &ClientIp,
    now: i64,
) -> Result<(), (Notes, StatusCode)> {
    let message = |key: &str| state.theme.message(login.locale, key);
    let challenge = match push::challenge_of_login(&state.db, &login.pending.id).await {
        Ok(challenge) => challenge,
        Err(_) => return Err((Notes::error(message("error_internal")), StatusCode::INTERNAL_SERVER_ERROR)),
    };
    let under_way = challenge
        .as_ref()
        .is_some_and(|c| matches!(push::state_of(c, now), push::State::Pending | push::State::Approved));
    if action == "send" || (action.is_empty() && !under_way) {
        return Err(send_push(state, login, ip, now).await);
    }
    if challenge.is_none() {
        return Err((Notes::error(message("push_none")), StatusCode::BAD_REQUEST));
    }
    let key = match push::answer::redeem_for_login(&state.db, &login.pending.id, now).await {
        Ok(AtLogin::Proven) => return Ok(()),
        Ok(AtLogin::None) => "push_none",
        Ok(AtLogin::Not(push::State::Pending)) => "push_not_yet",
        Ok(AtLogin::Not(refused)) => refusal_key(refused).unwrap_or("push_none"),
        Err(error) => {
            tracing::error!(%error, "could not read a push request");
            return Err((Notes::error(message("error_internal")), StatusCode::INTERNAL_SERVER_ERROR));
        }
    };
    Err((Notes::error(message(key)), StatusCode::CONFLICT))
}

/// For the waiting page's script: where the login's request stands.
pub async fn push_status(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let now = state.clock.now();
    let login = match factor_stage::load(&state, &jar, &headers, query.tx.as_deref(), now).await {
        Ok(login) => login,
        Err(_) => return (StatusCode::NOT_FOUND, axum::Json(json!({"state": "gone"}))).into_response(),
    };
    let found = match push::challenge_of_login(&state.db, &login.pending.id).await {
        Ok(found) => found,
        Err(error) => {
            tracing::error!(%error, "reading a push challenge's state failed");
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"state": "unavailable"}))).into_response();
        }
    };
    let current = found.map(|c| push::state_of(&c, now).as_str()).unwrap_or("none");
    ([(axum::http::header::CACHE_CONTROL, "no-store")], axum::Json(json!({"state": current}))).into_response()
}

/// What the page says of a request refused on the phone (how, and what to do next).
pub(super) fn refusal_key(refused: push::State) -> Option<&'static str> {
    match refused {
        push::State::Denied => Some("push_denied"),
        push::State::WrongNumber => Some("push_wrong_number"),
        push::State::Fraud => Some("push_fraud"),
        push::State::Expired => Some("push_expired"),
        push::State::Pending | push::State::Approved | push::State::Used => None,
    }
}
