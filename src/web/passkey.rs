//! The passkey ceremonies' options, as JSON (docs/passkeys.md): the page's script (or
//! any client) asks here what to hand to `navigator.credentials.create()` / `.get()`,
//! then posts the authenticator's answer — its WebAuthn JSON form — in the `credential`
//! field of the page's ordinary form (`/login`, `/login/verify`,
//! `/login/enroll/passkey`, `/account/security`), because finishing a sign-in is a
//! navigation: a redirect to the application, or its form post.
//!
//! Which ceremony a login gets depends on where it is: at the password page, a sign-in
//! by passkey alone; at verification, one of the account's passkeys; on the enrollment
//! page for passkeys, the creation of one.

use axum::{
    Json,
    extract::State,
    http::StatusCode,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};

use super::login_flow as flow;
use super::request::ClientIp;
use crate::auth::session::RECENT_SIGN_IN;
use crate::login::{EnrollPage, FactorStep, Pending, Stage};
use crate::second_factor::passkey::PasskeyError;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct OptionsRequest {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
}

/// A JSON error of the passkey endpoints: `{"error": code, "error_description": text}`.
fn refusal(status: StatusCode, code: &str, description: &str) -> Response {
    (status, Json(json!({"error": code, "error_description": description}))).into_response()
}

/// The refusal of a request whose anti-CSRF token is not this browser's.
fn csrf_refusal(state: &AppState, jar: &CookieJar, token: &str) -> Option<Response> {
    let forged = !super::csrf::verify(state, jar, token);
    forged.then(|| {
        refusal(StatusCode::FORBIDDEN, "invalid_csrf_token", "the anti-CSRF token does not belong to this browser")
    })
}

fn from_passkey_error(error: &PasskeyError) -> Response {
    let status = match error {
        PasskeyError::Unavailable => StatusCode::NOT_FOUND,
        PasskeyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
        PasskeyError::Domain(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(%error, "passkey options");
        return refusal(status, error.code(), "the server could not start the ceremony");
    }
    refusal(status, error.code(), &error.to_string())
}

fn options_json<T: serde::Serialize>(options: Result<T, PasskeyError>) -> Response {
    match options.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)) {
        Ok(value) => ([(axum::http::header::CACHE_CONTROL, "no-store")], Json(value)).into_response(),
        Err(error) => from_passkey_error(&error),
    }
}

/// What a login's ceremonies are bound to: this login and nothing else.
pub fn login_binding(pending: &Pending) -> String {
    format!("login:{}", pending.id)
}

/// What the account page's registrations are bound to.
pub fn account_binding(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// `POST /login/passkey/options`: the options of the ceremony the login `tx` is at.
pub async fn login_options(
    State(state): State<AppState>,
    jar: CookieJar,
    ip: ClientIp,
    Json(body): Json<OptionsRequest>,
) -> Response {
    let now = state.clock.now();
    if let Some(refused) = csrf_refusal(&state, &jar, &body.csrf_token) {
        return refused;
    }
    if let Some(address) = &ip.0
        && state.limits.login_per_ip.hit_from(address, now).is_err()
    {
        return refusal(StatusCode::TOO_MANY_REQUESTS, "slow_down", "too many requests from this address");
    }
    let pending = match flow::load_pending(&state, &jar, &body.tx, now).await {
        Ok(Some((pending, _))) => pending,
        Ok(None) => {
            return refusal(StatusCode::NOT_FOUND, "login_expired", "this login is over or belongs to another browser");
        }
        Err(error) => return from_passkey_error(&PasskeyError::Domain(error)),
    };
    let binding = login_binding(&pending);
    let passkeys = &state.passkeys;
    match &pending.stage {
        Stage::Login => options_json(passkeys.start_discovery(&state.db, &binding, now).await),
        Stage::SecondFactor { account_id, step } => {
            let account = match crate::accounts::find_by_id(&state.db, account_id).await {
                Ok(Some(account)) if !account.archived => account,
                Ok(_) => return refusal(StatusCode::NOT_FOUND, "login_expired", "this login is over"),
                Err(error) => return from_passkey_error(&PasskeyError::Domain(error)),
            };
            match step {
                FactorStep::Verify => options_json(
                    passkeys.start_authentication(&state.db, &state.secrets, &account, &binding, now).await,
                ),
                FactorStep::Enroll { page: EnrollPage::Passkey, .. } => {
                    options_json(passkeys.start_registration(&state.db, &state.secrets, &account, &binding, now).await)
                }
                _ => refusal(StatusCode::CONFLICT, "wrong_step", "this login is not at a passkey step"),
            }
        }
        Stage::Consent { .. } => refusal(StatusCode::CONFLICT, "wrong_step", "this login is not at a passkey step"),
    }
}

/// `POST /account/passkeys/options`: creation options for a passkey added from the
/// account's security page (a recent two-factor sign-in, as for adding an app).
pub async fn account_options(
    State(state): State<AppState>,
    jar: CookieJar,
    Json(body): Json<OptionsRequest>,
) -> Response {
    let now = state.clock.now();
    if let Some(refused) = csrf_refusal(&state, &jar, &body.csrf_token) {
        return refused;
    }
    let (session, account) = match flow::current_session(&state, &jar, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return refusal(StatusCode::UNAUTHORIZED, "login_required", "sign in to the account page first"),
        Err(error) => return from_passkey_error(&PasskeyError::Domain(error)),
    };
    let strong = session.acr == crate::auth::acr::MULTI_FACTOR;
    if !strong || now - session.auth_time > RECENT_SIGN_IN {
        return refusal(
            StatusCode::FORBIDDEN,
            "fresh_two_factor_sign_in_required",
            "adding a passkey needs a recent sign-in with a second factor",
        );
    }
    let binding = account_binding(&account.id);
    options_json(state.passkeys.start_registration(&state.db, &state.secrets, &account, &binding, now).await)
}
