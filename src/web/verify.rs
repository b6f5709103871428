//! The second factor at each login: the account's preferred method first, "Sign in
//! another way" listing every method it has, failures counted per account in the
//! database and locked with a delay that doubles.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::enroll::TOTP_AMR;
use super::extract::{CsrfForm, CsrfProtected};
use super::factor_stage::{self, FactorLogin, csrf_token};
use super::login_flow as flow;
use super::page_error::{PageError, html_page_to};
use super::request::ClientIp;
use crate::login::{FactorStep, Notice, Stage};
use crate::notify::{self, FactorChange};
use crate::push;
use crate::second_factor::{
    self, Method,
    email_code::{self, CodeCheck},
    recovery, sms, totp,
};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct VerifyQuery {
    tx: Option<String>,
    method: Option<String>,
}

#[derive(Deserialize)]
pub struct VerifyForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    method: String,
    #[serde(default)]
    code: String,
    /// `send`: send (or send again) a code by text message.
    #[serde(default)]
    action: String,
}

impl CsrfProtected for VerifyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Deserialize)]
pub struct ContinueForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
}

impl CsrfProtected for ContinueForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The login, which must be waiting for verification.
async fn load_verifying(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    tx: Option<&str>,
    now: i64,
) -> Result<(FactorLogin, Vec<Method>), Response> {
    let login = factor_stage::load(state, jar, headers, tx, now).await?;
    if login.step != FactorStep::Verify {
        return Err(login.to_current());
    }
    let strong = crate::auth::acr::wants_strong(&login.pending.request.acr_values);
    let methods = match second_factor::methods_of(&state.db, &login.account, &state.config).await {
        // A client that asked for more than SMS is not offered SMS.
        Ok(methods) if !methods.is_empty() => methods.into_iter().filter(|m| !(strong && *m == Method::Sms)).collect(),
        Ok(_) => return Err(PageError::expired_login().render(state, login.locale)),
        Err(error) => return Err(PageError::from(error).render(state, login.locale)),
    };
    Ok((login, methods))
}

/// The method asked for if the account has it, else its preferred one.
fn chosen(login: &FactorLogin, methods: &[Method], asked: Option<&str>) -> Method {
    asked
        .and_then(Method::parse)
        .filter(|m| methods.contains(m))
        .or_else(|| second_factor::preferred(&login.account, methods))
        .unwrap_or(Method::Totp)
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let (login, methods) = load_verifying(&state, &jar, &headers, query.tx.as_deref(), now).await?;
    let method = chosen(&login, &methods, query.method.as_deref());
    Ok(render(&state, &jar, &login, &methods, method, Notes::default(), StatusCode::OK).await)
}

/// "Sign in another way": every method the account has.
pub async fn methods(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let (login, methods) = load_verifying(&state, &jar, &headers, query.tx.as_deref(), now).await?;
    let listed: Vec<_> = methods
        .iter()
        .map(|m| json!({"method": m.as_str(), "label": state.theme.message(login.locale, &format!("method_{}", m.as_str()))}))
        .collect();
    let context = json!({
        "tx": login.pending.id,
        "choosing": true,
        "methods": listed,
        "client_name": login.client.name,
    });
    Ok(html_page_to(&state, login.locale, "verify.html", context, StatusCode::OK, login.form_target()))
}

/// Messages for the verification page.
#[derive(Default)]
struct Notes {
    error: Option<String>,
    notice: Option<String>,
}

impl Notes {
    fn error(text: String) -> Self {
        Self { error: Some(text), notice: None }
    }
}

async fn render(
    state: &AppState,
    jar: &CookieJar,
    login: &FactorLogin,
    methods: &[Method],
    method: Method,
    notes: Notes,
    status: StatusCode,
) -> Response {
    let mut context = json!({
        "tx": login.pending.id,
        "csrf_token": csrf_token(state, jar),
        "method": method.as_str(),
        "other_methods": methods.len() > 1,
        "client_name": login.client.name,
        "digits": state.config.two_factor.totp_digits,
        "error": notes.error,
        "notice": notes.notice,
    });
    if method == Method::Push {
        let now = state.clock.now();
        let challenge = match push::challenge_of_login(&state.db, &login.pending.id).await {
            Ok(challenge) => challenge,
            Err(error) => return PageError::from(error).render(state, login.locale),
        };
        if let Some(challenge) = challenge.filter(|c| push::state_of(c, now) == push::State::Pending) {
            context["push_number"] = json!(challenge.number);
        }
    }
    if method == Method::Sms {
        let now = state.clock.now();
        let sent = match email_code::sent_at(&state.db, &login.account.id, sms::SMS_LOGIN, now).await {
            Ok(sent) => sent,
            Err(error) => return PageError::from(error).render(state, login.locale),
        };
        context["phone"] = json!(login.account.phone.as_deref().map(sms::mask));
        context["sms_sent"] = json!(sent.is_some());
    }
    html_page_to(state, login.locale, "verify.html", context, status, login.form_target())
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    CsrfForm(form): CsrfForm<VerifyForm>,
) -> Response {
    let now = state.clock.now();
    let (login, methods) = match load_verifying(&state, &jar, &headers, Some(&form.tx), now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let asked = Method::parse(&form.method);
    if asked.is_some_and(|m| !methods.contains(&m)) {
        // A forged or stale `method` (SMS switched off, number not allowed…).
        let method = chosen(&login, &methods, None);
        let text = state.theme.message(login.locale, "verify_method_unavailable");
        return render(&state, &jar, &login, &methods, method, Notes::error(text), StatusCode::BAD_REQUEST).await;
    }
    let method = chosen(&login, &methods, Some(&form.method));
    let message = |key: &str| state.theme.message(login.locale, key);
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.login_per_ip.hit(address, now)
    {
        let text = message("login_rate_limited").replace("{seconds}", &wait.to_string());
        return render(&state, &jar, &login, &methods, method, Notes::error(text), StatusCode::TOO_MANY_REQUESTS).await;
    }
    let sends =
        method == Method::Push || (method == Method::Sms && (form.action == "send" || form.code.trim().is_empty()));
    // Sending a text or a push request needs an unlocked second factor; a typed code
    // finds out below, when its guess is reserved (and counted).
    if sends {
        match second_factor::locked_until(&state.db, &login.account.id, now).await {
            Ok(Some(until)) => return locked_page(&state, &login, method, until, now),
            Ok(None) => {}
            Err(error) => return PageError::from(error).render(&state, login.locale),
        }
    }
    // Choosing SMS without a code (or asking again) sends one.
    if method == Method::Sms && sends {
        let (notes, status) = send_sms(&state, &login, &ip, now).await;
        return render(&state, &jar, &login, &methods, method, notes, status).await;
    }
    let checked = match method {
        Method::Push => {
            let (notes, status) = match push_step(&state, &login, &form.action, &ip, now).await {
                Ok(()) => return succeed(&state, jar, &headers, login, &ip, method, now).await,
                Err(refused) => refused,
            };
            return render(&state, &jar, &login, &methods, method, notes, status).await;
        }
        _ if form.code.trim().is_empty() => {
            let text = message("code_missing");
            return render(&state, &jar, &login, &methods, method, Notes::error(text), StatusCode::BAD_REQUEST).await;
        }
        // Every code spends one guess of the account's budget before it is checked, so
        // parallel guesses cannot slip past the limit.
        _ => match login.reserve_guess(&state, now).await {
            Ok(Some(until)) => return locked_page(&state, &login, method, until, now),
            Ok(None) => check_code(&state, &login, method, &form.code, now).await,
            Err(error) => Err(error),
        },
    };
    let checked = match checked {
        Ok(checked) => checked,
        Err(error) => return PageError::from(error).render(&state, login.locale),
    };
    if checked != Checked::Right {
        if let Some(locked) = refuse(&state, &login, &ip, method, now).await {
            return locked;
        }
        let text = match (method, checked) {
            (Method::Sms, Checked::Wrong(Some(left))) => message("sms_wrong_code").replace("{left}", &left.to_string()),
            (Method::Sms, _) => message("sms_code_expired"),
            (Method::Recovery, _) => message("recovery_wrong_code"),
            _ => message("verify_wrong_code"),
        };
        return render(&state, &jar, &login, &methods, method, Notes::error(text), StatusCode::UNAUTHORIZED).await;
    }
    succeed(&state, jar, &headers, login, &ip, method, now).await
}

/// Checks a typed code by the method's rules (one guess is already reserved).
async fn check_code(
    state: &AppState,
    login: &FactorLogin,
    method: Method,
    code: &str,
    now: i64,
) -> Result<Checked, crate::domain::DomainError> {
    let account_id = &login.account.id;
    match method {
        Method::Totp => totp::verify(&state.db, &state.secrets, &state.config.two_factor, account_id, code, now)
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
        Method::Push => Ok(Checked::Wrong(None)),
    }
}

/// The second factor is proven: counters cleared, recorded, and the login goes on.
async fn succeed(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    login: FactorLogin,
    ip: &ClientIp,
    method: Method,
    now: i64,
) -> Response {
    if let Err(error) = second_factor::clear_failures(&state.db, &login.account.id).await {
        return PageError::from(error).render(state, login.locale);
    }
    login.audit(state, "second_factor.success", ip, json!({"method": method.as_str()}), now).await;
    crate::metrics::Metrics::count(&state.metrics.second_factor_succeeded);
    match method {
        Method::Recovery => recovery_used(state, login, ip, now).await,
        _ => login.complete(state, jar, headers, &method.amr(), now).await,
    }
}

/// Sends a request to the account's devices, with a new two-digit number.
async fn send_push(state: &AppState, login: &FactorLogin, ip: &ClientIp, now: i64) -> (Notes, StatusCode) {
    let message = |key: &str| state.theme.message(login.locale, key);
    let ask = push::Ask {
        account_id: &login.account.id,
        login_id: &login.pending.id,
        application: &login.client.name,
        ip: ip.0.as_deref(),
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
async fn push_step(
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
    let Some(challenge) = challenge else {
        return Err((Notes::error(message("push_none")), StatusCode::BAD_REQUEST));
    };
    let key = match push::state_of(&challenge, now) {
        push::State::Approved => {
            match push::transition(&state.db, &challenge.id, push::State::Approved, push::State::Used, None, now).await
            {
                Ok(true) => return Ok(()),
                _ => "push_none",
            }
        }
        push::State::Pending => "push_not_yet",
        push::State::Denied => "push_denied",
        push::State::WrongNumber => "push_wrong_number",
        push::State::Fraud => "push_fraud",
        push::State::Expired => "push_expired",
        push::State::Used => "push_none",
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

/// What a submitted code turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checked {
    Right,
    /// Wrong; for an SMS code, the attempts it has left.
    Wrong(Option<i32>),
    /// The SMS code expired, was used, or ran out of attempts.
    NeedNew,
}

impl From<bool> for Checked {
    fn from(right: bool) -> Self {
        if right { Self::Right } else { Self::Wrong(None) }
    }
}

/// Sends a login code by text message, within the limits; what to tell the user.
async fn send_sms(state: &AppState, login: &FactorLogin, ip: &ClientIp, now: i64) -> (Notes, StatusCode) {
    let message = |key: &str| state.theme.message(login.locale, key);
    let config = &state.config.sms;
    let Some(phone) = login.account.phone.clone() else {
        return (Notes::error(message("verify_method_unavailable")), StatusCode::BAD_REQUEST);
    };
    let reserved = match sms::reserve(&state.db, config, &login.account.id, &phone, ip.0.as_deref(), now).await {
        Ok(reserved) => reserved,
        Err(error) => {
            tracing::error!(%error, "could not count text messages");
            return (Notes::error(message("error_internal")), StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let reservation = match reserved {
        Ok(id) => id,
        Err(sms::Hold::Resend(wait)) => {
            let text = message("sms_resend_wait").replace("{seconds}", &wait.to_string());
            return (Notes::error(text), StatusCode::TOO_MANY_REQUESTS);
        }
        Err(sms::Hold::Limit(wait)) => {
            crate::metrics::Metrics::count(&state.metrics.sms_limited);
            login.audit(state, "sms.limited", ip, json!({"retry_after": wait}), now).await;
            let text = message("sms_limited").replace("{minutes}", &((wait + 59) / 60).to_string());
            return (Notes::error(text), StatusCode::TOO_MANY_REQUESTS);
        }
    };
    let sent = async {
        let ttl = config.code_ttl;
        let code = email_code::issue(&state.db, &state.code_key, &login.account.id, sms::SMS_LOGIN, ttl, now)
            .await
            .map_err(|e| e.to_string())?;
        let outgoing =
            crate::sms::Sms { to: phone.clone(), text: sms_text(state, login, &code), purpose: "login_code" };
        state.sms.send(&outgoing, now).await.map_err(|e| e.to_string())
    };
    match sent.await {
        Ok(()) => {
            crate::metrics::Metrics::count(&state.metrics.sms_sent);
            login.audit(state, "sms.sent", ip, json!({"to": sms::mask(&phone)}), now).await;
            let minutes = (config.code_ttl / 60).max(1).to_string();
            let text = message("sms_sent").replace("{phone}", &sms::mask(&phone)).replace("{minutes}", &minutes);
            (Notes { notice: Some(text), error: None }, StatusCode::OK)
        }
        Err(error) => {
            // A message that did not leave does not count against the user.
            let _ = sms::release(&state.db, &reservation).await;
            crate::metrics::Metrics::count(&state.metrics.sms_failed);
            login.audit(state, "sms.failed", ip, json!({"error": error}), now).await;
            (Notes::error(message("sms_failed")), StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}

/// The text: who sends it, what for, how long it lasts, and the origin-bound last line
/// (`@host #code`) with which phones offer to fill it in only on Sésame's own pages.
fn sms_text(state: &AppState, login: &FactorLogin, code: &str) -> String {
    let host = url::Url::parse(state.config.issuer())
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default();
    let minutes = (state.config.sms.code_ttl / 60).max(1).to_string();
    let text = state
        .theme
        .message(login.locale, "sms_text")
        .replace("{issuer}", &state.config.two_factor.issuer_label)
        .replace("{code}", code)
        .replace("{minutes}", &minutes);
    format!("{text}\n\n@{host} #{code}")
}

/// Records a wrong code (already counted by its reservation); the locked page if it
/// spent the last guess.
async fn refuse(state: &AppState, login: &FactorLogin, ip: &ClientIp, method: Method, now: i64) -> Option<Response> {
    crate::metrics::Metrics::count(&state.metrics.second_factor_failed);
    let detail = json!({"method": method.as_str()});
    login.audit(state, "second_factor.failure", ip, detail.clone(), now).await;
    match second_factor::locked_until(&state.db, &login.account.id, now).await {
        Ok(Some(until)) => {
            login.audit(state, "second_factor.locked", ip, detail, now).await;
            Some(locked_page(state, login, method, until, now))
        }
        Ok(None) => None,
        Err(error) => Some(PageError::from(error).render(state, login.locale)),
    }
}

/// The page of a locked second factor: how long, or that an administrator must unlock.
fn locked_page(state: &AppState, login: &FactorLogin, method: Method, until: i64, now: i64) -> Response {
    let text = login.locked_text(state, until, now);
    let context = json!({"tx": login.pending.id, "method": method.as_str(), "error": text, "locked": true});
    html_page_to(state, login.locale, "verify.html", context, StatusCode::TOO_MANY_REQUESTS, login.form_target())
}

/// A recovery code was used: say so (and how many are left) before continuing.
async fn recovery_used(state: &AppState, login: FactorLogin, ip: &ClientIp, now: i64) -> Response {
    let remaining = match recovery::remaining(&state.db, &login.account.id).await {
        Ok(remaining) => remaining,
        Err(error) => return PageError::from(error).render(state, login.locale),
    };
    login.audit(state, "second_factor.recovery_code_used", ip, json!({"remaining": remaining}), now).await;
    notify::factor_changed(state, &login.account, FactorChange::RecoveryCodeUsed, login.locale, now).await;
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
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let login = factor_stage::load(&state, &jar, &headers, query.tx.as_deref(), now).await?;
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
    CsrfForm(form): CsrfForm<ContinueForm>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let login = factor_stage::load(&state, &jar, &headers, Some(&form.tx), now).await?;
    let FactorStep::Passed { amr, .. } = login.step.clone() else {
        return Ok(login.to_current());
    };
    Ok(login.complete(&state, jar, &headers, &amr, now).await)
}
