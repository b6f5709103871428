//! What follows a checked code: success (the login goes on, or the recovery-code
//! notice), a wrong code (counted; the locked page when it was the last guess).

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::{Checked, ContinueForm, Notes, Step};
use crate::lockout;
use crate::login::{FactorStep, Notice, Stage};
use crate::notify::{self, FactorChange};
use crate::second_factor::{
    Method,
    email_code::{self, CodeCheck},
    recovery,
    sms::{self},
    totp,
};
use crate::state::AppState;
use crate::storage::entities::second_factor as second_factor_row;
use crate::web::enroll::TOTP_AMR;
use crate::web::factor_stage::{AtFactorStage, FactorForm, FactorLogin, csrf_token};
use crate::web::login_flow as flow;
use crate::web::page_error::{PageError, html_page_to};
use crate::web::request::ClientIp;

/// A typed code: one guess of the account's budget is spent before it is checked, so
/// parallel guesses cannot slip past the limit; a wrong one says how it was wrong.
pub(super) async fn typed_code(
    state: &AppState,
    login: &FactorLogin,
    factors: &[second_factor_row::Model],
    method: Method,
    code: &str,
    ip: &ClientIp,
    now: i64,
) -> Step {
    if code.trim().is_empty() {
        return Step::Show(Notes::error(login.message(state, "code_missing")), StatusCode::BAD_REQUEST);
    }
    let checked = match login.reserve_guess(state, now).await {
        Ok(Some(until)) => return Step::Locked(login.locked_text(state, until, now)),
        Ok(None) => check_code(state, login, factors, method, code, now).await,
        Err(error) => Err(error),
    };
    let checked = match checked {
        Ok(Checked::Right) => return Step::Proven,
        Ok(wrong) => wrong,
        Err(error) => return Step::Done(PageError::from(error).render(state, login.locale)),
    };
    if let Some(locked) = refuse(state, login, ip, method, now).await {
        return locked;
    }
    let message = |key: &str| login.message(state, key);
    let text = match (method, checked) {
        (Method::Sms, Checked::Wrong(Some(left))) => message("sms_wrong_code").replace("{left}", &left.to_string()),
        (Method::Sms, _) => message("sms_code_expired"),
        (Method::Recovery, _) => message("recovery_wrong_code"),
        _ => message("verify_wrong_code"),
    };
    Step::Show(Notes::error(text), StatusCode::UNAUTHORIZED)
}

/// Checks a typed code by the method's rules (one guess is already reserved).
async fn check_code(
    state: &AppState,
    login: &FactorLogin,
    factors: &[second_factor_row::Model],
    method: Method,
    code: &str,
    now: i64,
) -> Result<Checked, crate::domain::DomainError> {
    let account_id = &login.account.id;
    match method {
        Method::Totp => totp::verify(&state.db, &state.secrets, &state.config.two_factor, factors, code, now)
            .await
            .map(|factor| Checked::from(factor.is_some())),
        Method::Sms => {
            email_code::check(&state.db, &state.code_key, account_id, sms::SMS_LOGIN, code, now).await.map(|check| {
                match check {
                    CodeCheck::Accepted => Checked::Right,
                    CodeCheck::Wrong { attempts_left } => Checked::Wrong(Some(attempts_left)),
                    CodeCheck::NeedNew => Checked::NeedNew,
                }
            })
        }
        Method::Recovery => {
            recovery::redeem(&state.db, &state.code_key, account_id, code, now).await.map(Checked::from)
        }
        Method::Push | Method::Webauthn => Ok(Checked::Wrong(None)),
    }
}

/// The second factor is proven (as `amr` says): counters cleared, recorded, and the
/// login goes on.
#[allow(clippy::too_many_arguments)]
pub(super) async fn succeed(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    login: FactorLogin,
    ip: &ClientIp,
    method: Method,
    amr: Vec<String>,
    now: i64,
) -> Response {
    // A passkey passes a second factor locked by wrong codes (it cannot be guessed), but
    // does not lift that lock: the wrong codes are someone's, and the lock tells so.
    if method != Method::Webauthn
        && let Err(error) = lockout::second_factor::clear_failures(&state.db, &login.account.id).await
    {
        return PageError::from(error).render(state, login.locale);
    }
    login.audit(state, "second_factor.success", ip, json!({"method": method.as_str()}), now).await;
    crate::metrics::Metrics::count(&state.metrics.second_factor_succeeded);
    match method {
        Method::Recovery => recovery_used(state, login, ip, now).await,
        _ => login.complete(state, jar, headers, &amr, now).await,
    }
}

/// Records a wrong code (already counted by its reservation); the second factor locked
/// if it spent the last guess.
async fn refuse(state: &AppState, login: &FactorLogin, ip: &ClientIp, method: Method, now: i64) -> Option<Step> {
    crate::metrics::Metrics::count(&state.metrics.second_factor_failed);
    let detail = json!({"method": method.as_str()});
    login.audit(state, "second_factor.failure", ip, detail.clone(), now).await;
    match lockout::second_factor::locked_until(&state.db, &login.account.id, now).await {
        Ok(Some(until)) => {
            login.audit(state, "second_factor.locked", ip, detail, now).await;
            Some(Step::Locked(login.locked_text(state, until, now)))
        }
        Ok(None) => None,
        Err(error) => Some(Step::Done(PageError::from(error).render(state, login.locale))),
    }
}

/// The page of a locked second factor: how long, or that an administrator must unlock
/// (`text`).
pub(super) fn locked_page(state: &AppState, login: &FactorLogin, method: Method, text: String) -> Response {
    let context = json!({"tx": login.pending.id, "method": method.as_str(), "error": text, "locked": true});
    html_page_to(state, login.locale, "verify.html", context, StatusCode::TOO_MANY_REQUESTS, login.form_target())
}

/// A recovery code was used: say so (and how many are left) before continuing.
pub(super) async fn recovery_used(state: &AppState, login: FactorLogin, ip: &ClientIp, now: i64) -> Response {
    let remaining = match recovery::remaining(&state.db, &login.account.id).await {
        Ok(remaining) => remaining,
        Err(error) => return PageError::from(error).render(state, login.locale),
    };
    login.audit(state, "second_factor.recovery_code_used", ip, json!({"remaining": remaining}), now).await;
    notify::factor_changed(state, &login.account, FactorChange::RecoveryCodeUsed, now).await;
    let stage = Stage::SecondFactor {
        account_id: login.account.id.clone(),
        step: FactorStep::Passed {
            amr: TOTP_AMR.iter().map(|s| s.to_string()).collect(),
            notice: Notice::RecoveryUsed { remaining },
        },
    };
    match flow::advance(state, &login.pending, stage, now).await {
        Ok(Some(moved)) => Redirect::to(&moved.url()).into_response(),
        Ok(None) => login.to_current(),
        Err(error) => PageError::from(error).render(state, login.locale),
    }
}

/// The page after a recovery code: it was used, this many are left, make new ones.
pub async fn notice(
    State(state): State<AppState>,
    jar: CookieJar,
    AtFactorStage(login): AtFactorStage,
) -> Result<Response, Response> {
    let FactorStep::Passed { notice: Notice::RecoveryUsed { remaining }, .. } = &login.step else {
        return Ok(login.to_current());
    };
    let context = json!({
        "tx": login.pending.id,
        "csrf_token": csrf_token(&state, &jar),
        "remaining": remaining,
        "client_name": login.client.name,
    });
    Ok(html_page_to(&state, login.locale, "factor_notice.html", context, StatusCode::OK, login.form_target()))
}

/// Continues a login whose second factor is proven (after a notice page).
pub async fn continue_login(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    FactorForm(login, _): FactorForm<ContinueForm>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let FactorStep::Passed { amr, .. } = login.step.clone() else {
        return Ok(login.to_current());
    };
    Ok(login.complete(&state, jar, &headers, &amr, now).await)
}
