//! The second factor at each login: the account's preferred method first, "Sign in
//! another way" listing every method it has, failures counted per account in the
//! database and locked with a delay that doubles.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::extract::{CsrfForm, CsrfProtected};
use super::factor_stage::{self, FactorLogin, csrf_token};
use super::page_error::{PageError, html_page_to};
use super::request::ClientIp;
use crate::lockout;
use crate::login::FactorStep;
use crate::second_factor::{
    self, Method,
    email_code::{self},
    push::{self},
    sms::{self},
};
use crate::state::AppState;

mod outcome;
mod push_step;
mod sms_step;

use outcome::{check_code, locked_page, refuse, succeed};
pub use outcome::{continue_login, notice};
pub use push_step::push_status;
use push_step::push_step;
use sms_step::send_sms;

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
        match lockout::second_factor::locked_until(&state.db, &login.account.id, now).await {
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
