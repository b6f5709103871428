//! The second factor at each login: the account's preferred method first, "Sign in
//! another way" listing every method it has, failures counted per account in the
//! database and locked with a delay that doubles.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::extract::CsrfProtected;
use super::factor_stage::{AtFactorStage, FactorForm, FactorLogin, NamesLogin, csrf_token};
use super::flash::{self, Flash};
use super::page_error::{PageError, html_page_to};
use super::request::ClientIp;
use crate::lockout;
use crate::login::FactorStep;
use crate::second_factor::{
    self, Method, Offered,
    email_code::{self},
    push::{self},
    sms::{self},
};
use crate::state::AppState;
use crate::storage::entities::second_factor as second_factor_row;

mod outcome;
mod passkey_step;
mod push_step;
mod sms_step;

pub use outcome::{continue_login, notice};
use outcome::{locked_page, succeed, typed_code};
use passkey_step::passkey_step;
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
    /// A passkey's answer (WebAuthn JSON form), for `method=webauthn`.
    #[serde(default)]
    credential: String,
}

impl CsrfProtected for VerifyForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl NamesLogin for VerifyForm {
    fn tx(&self) -> &str {
        &self.tx
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

impl NamesLogin for ContinueForm {
    fn tx(&self) -> &str {
        &self.tx
    }
}

/// The login, which must be waiting for verification, and the methods it may use (with
/// the authenticators they come from).
async fn verifying(state: &AppState, login: FactorLogin) -> Result<(FactorLogin, Offered), Response> {
    if login.step != FactorStep::Verify {
        return Err(login.to_current());
    }
    let strong = crate::auth::acr::wants_strong(&login.pending.request.acr_values);
    let offered =
        match second_factor::offered_to(&state.db, &login.account, &state.config, state.passkeys.available()).await {
            // A client that asked for more than SMS is not offered SMS.
            Ok(mut offered) if !offered.methods.is_empty() => {
                offered.methods.retain(|m| !(strong && *m == Method::Sms));
                offered
            }
            Ok(_) => return Err(login.expired(state)),
            Err(error) => return Err(PageError::from(error).render(state, login.locale)),
        };
    Ok((login, offered))
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
    AtFactorStage(login): AtFactorStage,
    Query(query): Query<VerifyQuery>,
) -> Result<Response, Response> {
    let (login, Offered { methods, .. }) = verifying(&state, login).await?;
    let method = chosen(&login, &methods, query.method.as_deref());
    let (jar, flash) = flash::take(&state, jar, login.pending.tx());
    let page = match flash {
        Some(flash) if flash.flag("locked") => locked_page(&state, &login, method, flash.error.unwrap_or_default()),
        Some(flash) => {
            let notes = Notes { error: flash.error, notice: flash.notice };
            render(&state, &jar, &login, &methods, method, notes, StatusCode::OK).await
        }
        None => render(&state, &jar, &login, &methods, method, Notes::default(), StatusCode::OK).await,
    };
    Ok((jar, page).into_response())
}

/// "Sign in another way": every method the account has.
pub async fn methods(State(state): State<AppState>, AtFactorStage(login): AtFactorStage) -> Result<Response, Response> {
    let (login, Offered { methods, .. }) = verifying(&state, login).await?;
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
        match challenge.map(|c| (push::state_of(&c, now), c.number)) {
            Some((push::State::Pending, number)) => context["push_number"] = json!(number),
            // The last request was refused on the phone (the waiting page's script came
            // back here): say how, and what to do, unless the page has its own words.
            Some((refused, _)) if context["error"].is_null() => {
                if let Some(key) = push_step::refusal_key(refused) {
                    context["error"] = json!(login.message(state, key));
                }
            }
            _ => {}
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

/// Where a submission leaves the login: the second factor proven, or a page to show.
enum Step {
    /// Proven by the method, its `amr` the method's own.
    Proven,
    /// Proven by a passkey, whose kind (hardware or synchronised) gives the `amr`.
    ProvenAs(Vec<String>),
    Show(Notes, StatusCode),
    /// The second factor is locked, as the text says.
    Locked(String),
    Done(Response),
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    FactorForm(login, form): FactorForm<VerifyForm>,
) -> Result<Response, Response> {
    let now = state.clock.now();
    let (login, Offered { methods, factors }) = verifying(&state, login).await?;
    let forged = Method::parse(&form.method).is_some_and(|m| !methods.contains(&m));
    let method = chosen(&login, &methods, (!forged).then_some(form.method.as_str()));
    let step = match forged {
        // A forged or stale `method` (SMS switched off, number not allowed…).
        true => Step::Show(Notes::error(login.message(&state, "verify_method_unavailable")), StatusCode::BAD_REQUEST),
        false => step(&state, &login, &factors, method, &form, &ip, now).await,
    };
    Ok(match step {
        Step::Proven => {
            let amr = method.amr().map(String::from).to_vec();
            succeed(&state, jar, &headers, login, &ip, method, amr, now).await
        }
        Step::ProvenAs(amr) => succeed(&state, jar, &headers, login, &ip, method, amr, now).await,
        Step::Show(notes, _) if flash::is_navigation(&headers) => {
            let flash = Flash::messages(notes.error, notes.notice);
            again(&state, jar, &login, method, &flash)
        }
        Step::Show(notes, status) => render(&state, &jar, &login, &methods, method, notes, status).await,
        Step::Locked(text) if flash::is_navigation(&headers) => {
            again(&state, jar, &login, method, &Flash::error(text).with("locked", true))
        }
        Step::Locked(text) => locked_page(&state, &login, method, text),
        Step::Done(response) => response,
    })
}

/// Back to the verification page (by `method`), which shows `flash`.
fn again(state: &AppState, jar: CookieJar, login: &FactorLogin, method: Method, flash: &Flash) -> Response {
    let tx = login.pending.tx();
    let to = format!("/login/verify?tx={tx}&method={}", method.as_str());
    flash::redirect(state, jar, tx, &to, flash)
}

/// One submission of the verification form, by its method: a push request sent or its
/// approval used, a text message sent, or a typed code checked.
async fn step(
    state: &AppState,
    login: &FactorLogin,
    factors: &[second_factor_row::Model],
    method: Method,
    form: &VerifyForm,
    ip: &ClientIp,
    now: i64,
) -> Step {
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.login_per_ip.hit_from(address, now)
    {
        let text = login.message(state, "login_rate_limited").replace("{seconds}", &wait.to_string());
        return Step::Show(Notes::error(text), StatusCode::TOO_MANY_REQUESTS);
    }
    let sends_sms = method == Method::Sms && (form.action == "send" || form.code.trim().is_empty());
    // Sending a text or a push request needs an unlocked second factor; a typed code
    // finds out when its guess is reserved (and counted).
    if method == Method::Push || sends_sms {
        match lockout::second_factor::locked_until(&state.db, &login.account.id, now).await {
            Ok(Some(until)) => return Step::Locked(login.locked_text(state, until, now)),
            Ok(None) => {}
            Err(error) => return Step::Done(PageError::from(error).render(state, login.locale)),
        }
    }
    match method {
        Method::Push => match push_step(state, login, &form.action, ip, now).await {
            Ok(()) => Step::Proven,
            Err((notes, status)) => Step::Show(notes, status),
        },
        // A passkey cannot be guessed: it spends no guess, and a second factor locked by
        // someone else's wrong codes does not keep its owner out.
        Method::Webauthn => passkey_step(state, login, &form.credential, ip, now).await,
        Method::Sms if sends_sms => {
            let (notes, status) = send_sms(state, login, ip, now).await;
            Step::Show(notes, status)
        }
        _ => typed_code(state, login, factors, method, &form.code, ip, now).await,
    }
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
