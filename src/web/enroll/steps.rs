//! The enrollment steps that check something: the code typed after scanning, the
//! mailed confirmation of a first enrollment, and the end (recovery codes, the owner
//! told).

use axum::http::StatusCode;
use serde_json::json;

use crate::login::{EnrollPage, FactorStep, Notice, Stage};
use crate::notify::{self, FactorChange};
use crate::second_factor::{self, Method, email_code, passkey::PasskeyError, recovery, totp};
use crate::state::AppState;
use crate::web::factor_stage::FactorLogin;
use crate::web::login_flow as flow;
use crate::web::request::ClientIp;

use super::{Extra, Outcome, StepForm, enroll_stage};

/// The code typed after scanning: right → confirm by mail or finish; wrong → say so and
/// keep the secret; too many wrong → a new secret.
#[allow(clippy::too_many_arguments)]
pub(super) async fn scan(
    state: &AppState,
    login: &FactorLogin,
    factor_id: String,
    wrong: u32,
    confirm_by_email: bool,
    form: &StepForm,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let config = &state.config.two_factor;
    let message = |key: &str| state.theme.message(login.locale, key);
    if form.code.trim().is_empty() {
        return Ok(Outcome::Stay(Extra::error(message("code_missing")), StatusCode::BAD_REQUEST));
    }
    let right =
        totp::check_enrollment_code(&state.db, &state.secrets, config, &login.account.id, &factor_id, &form.code, now)
            .await?;
    if !right {
        let wrong = wrong + 1;
        login.audit(state, "second_factor.enrollment_wrong_code", ip, json!({"attempt": wrong}), now).await;
        if wrong >= config.enrollment_max_attempts {
            totp::discard(&state.db, &login.account.id, &factor_id).await?;
            let label = message("enroll_factor_label");
            let browser = Some(login.pending.browser_hash.as_str());
            let factor_id = totp::begin(&state.db, &state.secrets, &login.account.id, &label, browser, now).await?;
            let stage = enroll_stage(login, EnrollPage::Scan { factor_id, wrong: 0 }, confirm_by_email);
            let moved = flow::advance(state, &login.pending, stage, now).await?;
            let extra = Extra::error(message("enroll_new_secret"));
            return Ok(moved_or_stale(state, login, moved, extra, StatusCode::BAD_REQUEST));
        }
        let stage = enroll_stage(login, EnrollPage::Scan { factor_id, wrong }, confirm_by_email);
        let moved = flow::advance(state, &login.pending, stage, now).await?;
        let extra = Extra::error(message("enroll_wrong_code"));
        return Ok(moved_or_stale(state, login, moved, extra, StatusCode::BAD_REQUEST));
    }
    proven(state, login, factor_id, confirm_by_email, ip, now).await
}

/// A passkey made on the enrollment's passkey page: stored inactive, then confirmed
/// like an app whose code was right.
pub(super) async fn passkey(
    state: &AppState,
    login: &FactorLogin,
    confirm_by_email: bool,
    form: &StepForm,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let message = |key: &str| state.theme.message(login.locale, key);
    if form.credential.trim().is_empty() {
        return Ok(Outcome::Stay(Extra::error(message("passkey_missing")), StatusCode::BAD_REQUEST));
    }
    let binding = crate::web::passkey::login_binding(&login.pending);
    let label = passkey_label(state, login.locale, &form.name);
    let passkeys = &state.passkeys;
    let made = passkeys
        .finish_registration(&state.db, &state.secrets, &login.account, &binding, &label, &form.credential, false, now)
        .await;
    let factor_id = match made {
        Ok(factor_id) => factor_id,
        Err(PasskeyError::Domain(error)) => return Err(error),
        Err(error) => {
            let detail = json!({"method": "webauthn", "reason": error.code()});
            login.audit(state, "second_factor.enrollment_refused_passkey", ip, detail, now).await;
            return Ok(Outcome::Stay(Extra::error(message(passkey_error_key(&error))), StatusCode::BAD_REQUEST));
        }
    };
    proven(state, login, factor_id, confirm_by_email, ip, now).await
}

/// The name a new passkey gets: the one typed, else "Passkey" and the date.
pub fn passkey_label(state: &AppState, locale: crate::i18n::Locale, typed: &str) -> String {
    let typed = typed.trim();
    if typed.is_empty() { state.theme.message(locale, "passkey_default_name") } else { typed.to_string() }
}

/// The page's words for a registration that failed.
pub fn passkey_error_key(error: &PasskeyError) -> &'static str {
    match error {
        PasskeyError::AlreadyRegistered => "passkey_already_registered",
        PasskeyError::ModelNotAllowed => "passkey_model_not_allowed",
        PasskeyError::UserNotVerified => "passkey_not_verified",
        PasskeyError::Expired => "passkey_expired",
        _ => "passkey_failed",
    }
}

/// The new authenticator is proven by its owner (a right code, a passkey made): confirm
/// it by mail when the first enrollment must be, else finish.
async fn proven(
    state: &AppState,
    login: &FactorLogin,
    factor_id: String,
    confirm_by_email: bool,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let message = |key: &str| state.theme.message(login.locale, key);
    if !(confirm_by_email && login.account.email.is_some()) {
        return finish(state, login, &factor_id, ip, now).await;
    }
    let email_page = enroll_stage(login, EnrollPage::Email { factor_id }, confirm_by_email);
    match send_email_code(state, login, now).await? {
        // Restarting the login does not buy a new code (nor new guesses): the one sent a
        // moment ago still stands, or another comes once the wait is over.
        Sent::Wait(seconds) => {
            let moved = flow::advance(state, &login.pending, email_page, now).await?;
            let notice = message("mail_sent_recently").replace("{seconds}", &seconds.to_string());
            Ok(match moved {
                Some(pending) => Outcome::Moved(Box::new(pending), Extra::notice(notice), StatusCode::OK),
                None => Outcome::Stay(Extra::error(message("error_expired")), StatusCode::CONFLICT),
            })
        }
        Sent::Failed => Ok(Outcome::Stay(Extra::error(message("mail_failed")), StatusCode::SERVICE_UNAVAILABLE)),
        Sent::Done => Ok(Outcome::MoveTo(email_page)),
    }
}

/// What became of a confirmation mail.
enum Sent {
    Done,
    /// Not sent: the last one went out a moment ago; the next may go in this many seconds.
    Wait(i64),
    Failed,
}

/// Mails a new confirmation code, if the waits between codes allow it.
async fn send_email_code(state: &AppState, login: &FactorLogin, now: i64) -> Result<Sent, crate::domain::DomainError> {
    let account = &login.account;
    let Some(address) = &account.email else { return Ok(Sent::Failed) };
    let purpose = email_code::ENROLLMENT_EMAIL;
    let wait = state.config.two_factor.email_resend_wait;
    if let Some(seconds) = email_code::may_send(&state.db, &account.id, purpose, wait, now).await?.retry_after(now) {
        return Ok(Sent::Wait(seconds));
    }
    let ttl = state.config.two_factor.email_code_ttl;
    let issued = email_code::issue(&state.db, &state.code_key, &account.id, purpose, ttl, now).await?;
    match notify::enrollment_code(state, account, address, &issued.code, now).await {
        Ok(()) => Ok(Sent::Done),
        Err(_) => {
            email_code::withdraw(&state.db, &account.id, purpose, &issued).await?;
            Ok(Sent::Failed)
        }
    }
}

/// Draws the moved stage with a message, or, if another tab moved it first, says so.
pub(super) fn moved_or_stale(
    state: &AppState,
    login: &FactorLogin,
    moved: Option<crate::login::Pending>,
    extra: Extra,
    status: StatusCode,
) -> Outcome {
    match moved {
        Some(pending) => Outcome::Moved(Box::new(pending), extra, status),
        None => Outcome::Stay(Extra::error(state.theme.message(login.locale, "error_expired")), StatusCode::CONFLICT),
    }
}

/// The mailed code that confirms the first enrollment, or a resend.
pub(super) async fn email(
    state: &AppState,
    login: &FactorLogin,
    factor_id: String,
    form: &StepForm,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let message = |key: &str| state.theme.message(login.locale, key);
    let purpose = email_code::ENROLLMENT_EMAIL;
    let account = &login.account;
    if form.action == "resend" {
        return Ok(match send_email_code(state, login, now).await? {
            Sent::Done => Outcome::Stay(Extra::notice(message("mail_sent_again")), StatusCode::OK),
            Sent::Wait(seconds) => {
                let text = message("mail_resend_wait").replace("{seconds}", &seconds.to_string());
                Outcome::Stay(Extra::error(text), StatusCode::TOO_MANY_REQUESTS)
            }
            Sent::Failed => Outcome::Stay(Extra::error(message("mail_failed")), StatusCode::SERVICE_UNAVAILABLE),
        });
    }
    if form.code.trim().is_empty() {
        return Ok(Outcome::Stay(Extra::error(message("code_missing")), StatusCode::BAD_REQUEST));
    }
    // A mailed code is a guess at a secret like any other: it spends the account's
    // second-factor budget, whatever state the code is in.
    if let Some(until) = login.reserve_guess(state, now).await? {
        return Ok(Outcome::Stay(Extra::error(login.locked_text(state, until, now)), StatusCode::TOO_MANY_REQUESTS));
    }
    let checked = email_code::check(&state.db, &state.code_key, &account.id, purpose, &form.code, now).await?;
    if checked == email_code::CodeCheck::Accepted {
        crate::lockout::second_factor::clear_failures(&state.db, &account.id).await?;
        email_code::clear_sends(&state.db, &account.id, purpose).await?;
        if let Some(email) = &account.email {
            crate::accounts::mark_email_verified(&state.db, &account.id, email).await?;
        }
        return finish(state, login, &factor_id, ip, now).await;
    }
    login.audit(state, "second_factor.enrollment_email_wrong_code", ip, json!({}), now).await;
    if let Some(until) = crate::lockout::second_factor::locked_until(&state.db, &account.id, now).await? {
        login.audit(state, "second_factor.locked", ip, json!({"method": "email"}), now).await;
        return Ok(Outcome::Stay(Extra::error(login.locked_text(state, until, now)), StatusCode::TOO_MANY_REQUESTS));
    }
    let text = match checked {
        email_code::CodeCheck::Wrong { attempts_left } => {
            message("mail_code_wrong").replace("{left}", &attempts_left.to_string())
        }
        _ => message("mail_code_expired"),
    };
    Ok(Outcome::Stay(Extra::error(text), StatusCode::BAD_REQUEST))
}

/// The authenticator becomes active: recovery codes, the owner told, the "Done" page.
pub(super) async fn finish(
    state: &AppState,
    login: &FactorLogin,
    factor_id: &str,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let account = &login.account;
    let method = second_factor::method_of(&state.db, &account.id, factor_id).await?.unwrap_or(Method::Totp);
    let amr = match method {
        Method::Webauthn => {
            let kind = second_factor::passkey::key_kind(&state.db, &state.secrets, factor_id).await?;
            ["pwd", kind, "mfa"].map(String::from).to_vec()
        }
        _ => method.amr().map(String::from).to_vec(),
    };
    let stage = Stage::SecondFactor {
        account_id: account.id.clone(),
        step: FactorStep::Passed { amr, notice: Notice::Enrolled },
    };
    let stale =
        || Outcome::Stay(Extra::error(state.theme.message(login.locale, "error_expired")), StatusCode::CONFLICT);
    // Activation is conditional (still unconfirmed): a second tab cannot finish it twice.
    if !totp::activate(&state.db, &account.id, factor_id, now).await? {
        return Ok(stale());
    }
    let Some(moved) = flow::advance(state, &login.pending, stage, now).await? else {
        return Ok(stale());
    };
    let count = state.config.two_factor.recovery_codes;
    let codes = recovery::regenerate(&state.db, &state.code_key, &account.id, count, now).await?;
    crate::lockout::second_factor::clear_failures(&state.db, &account.id).await?;
    crate::metrics::Metrics::count(&state.metrics.enrollments);
    login
        .audit(state, "second_factor.enrolled", ip, json!({"method": method.as_str(), "factor_id": factor_id}), now)
        .await;
    notify::factor_changed(state, account, FactorChange::Added, now).await;
    Ok(Outcome::Moved(Box::new(moved), Extra { recovery_codes: codes, ..Extra::default() }, StatusCode::OK))
}
