//! Forced enrollment of a first authenticator, one page per step:
//! intro → install → add → scan (QR code and the code check) → email (when the first
//! enrollment is confirmed by mail) → done (methods and recovery codes); or, for a
//! passkey, intro → passkey → email → done.
//!
//! `GET /login/enroll/{page}` shows a page only if the login is at that page (any other
//! page redirects to the current one); `POST` acts only on the page the form was drawn
//! for, moving the stored stage by compare-and-swap.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::extract::CsrfProtected;
use super::factor_stage::{AtFactorStage, FactorForm, FactorLogin, NamesLogin, csrf_token, mask_email};
use super::flash::{self, Flash};
use super::login_flow as flow;
use super::page_error::{PageError, html_page_to};
use super::request::ClientIp;
use crate::login::{EnrollPage, FactorStep, Notice, Stage};
use crate::second_factor::{self, totp};
use crate::state::AppState;

mod steps;

use steps::{email, passkey, scan};
pub use steps::{passkey_error_key, passkey_label};

/// The `amr` of a login that proved an authenticator app code after the password.
pub const TOTP_AMR: [&str; 3] = ["pwd", "otp", "mfa"];

/// The pages in order, by their URL names.
const PAGES: [&str; 6] = ["intro", "install", "add", "scan", "email", "done"];
/// The passkey's short path.
const PASSKEY_PAGES: [&str; 4] = ["intro", "passkey", "email", "done"];

#[derive(Deserialize)]
pub struct StepForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    code: String,
    /// `back`, `resend`, `passkey` (the intro's other path), or empty for the page's
    /// main button.
    #[serde(default)]
    action: String,
    /// The passkey page: the authenticator's answer (WebAuthn JSON form) and a name.
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
}

impl CsrfProtected for StepForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

impl NamesLogin for StepForm {
    fn tx(&self) -> &str {
        &self.tx
    }
}

/// The page the login is at, by its URL name.
fn current_page(step: &FactorStep) -> Option<&'static str> {
    match step {
        FactorStep::Enroll { page, .. } => Some(page.name()),
        FactorStep::Passed { notice: Notice::Enrolled, .. } => Some("done"),
        _ => None,
    }
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(page): Path<String>,
    AtFactorStage(login): AtFactorStage,
) -> Result<Response, Response> {
    if current_page(&login.step) != Some(page.as_str()) {
        return Ok(login.to_current());
    }
    let (jar, flash) = flash::take(&state, jar, login.pending.tx());
    let extra = flash.map(Extra::from).unwrap_or_default();
    Ok((jar.clone(), render(&state, &jar, &login, extra, StatusCode::OK).await).into_response())
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    Path(page): Path<String>,
    FactorForm(login, form): FactorForm<StepForm>,
) -> Response {
    let now = state.clock.now();
    // A form from another page (back button, second tab, replay) does nothing.
    if current_page(&login.step) != Some(page.as_str()) {
        return login.to_current();
    }
    let outcome = match login.step.clone() {
        FactorStep::Passed { amr, .. } => return login.complete(&state, jar, &headers, &amr, now).await,
        FactorStep::Enroll { page, confirm_by_email } => {
            match step(&state, &login, page, confirm_by_email, &form, &ip, now).await {
                Ok(outcome) => outcome,
                Err(error) => return PageError::from(error).render(&state, login.locale),
            }
        }
        FactorStep::Verify => return login.to_current(),
    };
    match outcome {
        Outcome::MoveTo(stage) => match flow::advance(&state, &login.pending, stage, now).await {
            Ok(Some(moved)) => Redirect::to(&moved.url()).into_response(),
            Ok(None) => login.to_current(),
            Err(error) => PageError::from(error).render(&state, login.locale),
        },
        // A browser is sent to the page, which shows the message (or the codes) once.
        Outcome::Stay(extra, _) if flash::is_navigation(&headers) => {
            flash::redirect(&state, jar, login.pending.tx(), &login.pending.url(), &extra.into())
        }
        Outcome::Moved(pending, extra, _) if flash::is_navigation(&headers) => {
            flash::redirect(&state, jar, pending.tx(), &pending.url(), &extra.into())
        }
        Outcome::Stay(extra, status) => render(&state, &jar, &login, extra, status).await,
        Outcome::Moved(pending, extra, status) => {
            let login = FactorLogin { step: stage_step(&pending.stage), pending: *pending, ..login };
            render(&state, &jar, &login, extra, status).await
        }
    }
}

fn stage_step(stage: &Stage) -> FactorStep {
    match stage {
        Stage::SecondFactor { step, .. } => step.clone(),
        _ => FactorStep::Verify,
    }
}

/// What a submitted step leads to.
enum Outcome {
    MoveTo(Stage),
    /// Redraw the same page with a message.
    Stay(Extra, StatusCode),
    /// The stage moved here already: draw its page (a new secret, or "Done" with the
    /// recovery codes, shown this once).
    Moved(Box<crate::login::Pending>, Extra, StatusCode),
}

#[derive(Default)]
struct Extra {
    error: Option<String>,
    notice: Option<String>,
    recovery_codes: Vec<String>,
}

impl Extra {
    fn error(message: String) -> Self {
        Self { error: Some(message), ..Self::default() }
    }
    fn notice(message: String) -> Self {
        Self { notice: Some(message), ..Self::default() }
    }
}

/// What a page's messages and codes become on their way through a redirect, and back.
impl From<Extra> for Flash {
    fn from(extra: Extra) -> Self {
        let flash = Flash::messages(extra.error, extra.notice);
        if extra.recovery_codes.is_empty() { flash } else { flash.with(RECOVERY_CODES, extra.recovery_codes) }
    }
}

impl From<Flash> for Extra {
    fn from(flash: Flash) -> Self {
        let recovery_codes = flash.texts(RECOVERY_CODES);
        Self { error: flash.error, notice: flash.notice, recovery_codes }
    }
}

const RECOVERY_CODES: &str = "recovery_codes";

fn enroll_stage(login: &FactorLogin, page: EnrollPage, confirm_by_email: bool) -> Stage {
    Stage::SecondFactor { account_id: login.account.id.clone(), step: FactorStep::Enroll { page, confirm_by_email } }
}

async fn step(
    state: &AppState,
    login: &FactorLogin,
    page: EnrollPage,
    confirm_by_email: bool,
    form: &StepForm,
    ip: &ClientIp,
    now: i64,
) -> Result<Outcome, crate::domain::DomainError> {
    let to = |page| Ok(Outcome::MoveTo(enroll_stage(login, page, confirm_by_email)));
    let back = form.action == "back";
    match page {
        EnrollPage::Intro if form.action == "passkey" && passkey_path_open(state, login, confirm_by_email) => {
            to(EnrollPage::Passkey)
        }
        EnrollPage::Intro => to(EnrollPage::Install),
        EnrollPage::Passkey if back => to(EnrollPage::Intro),
        EnrollPage::Passkey => passkey(state, login, confirm_by_email, form, ip, now).await,
        EnrollPage::Install if back => to(EnrollPage::Intro),
        EnrollPage::Install => to(EnrollPage::AddAccount),
        EnrollPage::AddAccount if back => to(EnrollPage::Install),
        EnrollPage::AddAccount => {
            let label = state.theme.message(login.locale, "enroll_factor_label");
            let browser = &login.pending.browser_hash;
            let shown =
                totp::resume_or_begin(&state.db, &state.secrets, &login.account.id, &label, browser, now).await?;
            let scan = enroll_stage(login, EnrollPage::Scan { factor_id: shown.factor_id, wrong: 0 }, confirm_by_email);
            if !shown.replaces_earlier {
                return Ok(Outcome::MoveTo(scan));
            }
            let moved = flow::advance(state, &login.pending, scan, now).await?;
            let notice = Extra::notice(state.theme.message(login.locale, "enroll_replaces_earlier"));
            Ok(steps::moved_or_stale(state, login, moved, notice, StatusCode::OK))
        }
        EnrollPage::Scan { factor_id, wrong } => {
            scan(state, login, factor_id, wrong, confirm_by_email, form, ip, now).await
        }
        EnrollPage::Email { factor_id } => email(state, login, factor_id, form, ip, now).await,
    }
}

/// Whether the enrollment may make a passkey: only when the mailed code confirms it. A
/// passkey also signs in without the password, so one bound by a password thief would
/// outlive a change of password; an app still needs the password. Without a mailed
/// confirmation, passkeys are added later from the security page (a two-factor session).
fn passkey_path_open(state: &AppState, login: &FactorLogin, confirm_by_email: bool) -> bool {
    state.passkeys.available() && confirm_by_email && login.account.email.is_some()
}

/// Draws the page the login is at.
async fn render(state: &AppState, jar: &CookieJar, login: &FactorLogin, extra: Extra, status: StatusCode) -> Response {
    let config = &state.config.two_factor;
    let Some(page) = current_page(&login.step) else { return login.to_current() };
    // Without the mailed confirmation there are five pages, not six.
    let by_email = match &login.step {
        FactorStep::Enroll { confirm_by_email, .. } => *confirm_by_email,
        _ => config.email_confirmation && login.account.email.is_some(),
    };
    let path: &[&str] = if page == "passkey" { &PASSKEY_PAGES } else { &PAGES };
    let pages: Vec<&str> = path.iter().copied().filter(|p| by_email || *p != "email").collect();
    let step_number = pages.iter().position(|p| *p == page).map(|i| i + 1);
    let mut context = json!({
        "tx": login.pending.id,
        "csrf_token": csrf_token(state, jar),
        "page": page,
        "step_number": step_number,
        "steps_total": pages.len(),
        "required_by_admin": login.account.two_factor_required,
        "client_name": login.client.name,
        "app_name": config.app_name,
        "passkeys": passkey_path_open(state, login, by_email),
        "error": extra.error,
        "notice": extra.notice,
    });
    match &login.step {
        FactorStep::Enroll { page: EnrollPage::Install, .. } => {
            context["android_url"] = json!(config.android_app_url);
            context["ios_url"] = json!(config.ios_app_url);
            context["android_qr"] = json!(totp::qr_svg(&config.android_app_url));
            context["ios_qr"] = json!(totp::qr_svg(&config.ios_app_url));
        }
        FactorStep::Enroll { page: EnrollPage::Scan { factor_id, .. }, .. } => {
            let shown = totp::enrollment(
                &state.db,
                &state.secrets,
                config,
                &login.account.id,
                &login.account.username,
                factor_id,
            )
            .await;
            match shown {
                Ok(Some(enrollment)) => {
                    context["scan"] = json!(enrollment);
                    context["digits"] = json!(config.totp_digits);
                }
                Ok(None) => return login.expired(state),
                Err(error) => return PageError::from(error).render(state, login.locale),
            }
        }
        FactorStep::Enroll { page: EnrollPage::Email { .. }, .. } => {
            context["email"] = json!(login.account.email.as_deref().map(mask_email));
        }
        FactorStep::Passed { .. } => {
            let methods =
                match second_factor::methods_of(&state.db, &login.account, &state.config, state.passkeys.available())
                    .await
                {
                    Ok(methods) => methods,
                    Err(error) => return PageError::from(error).render(state, login.locale),
                };
            let names: Vec<String> =
                methods.iter().map(|m| state.theme.message(login.locale, &format!("method_{}", m.as_str()))).collect();
            context["methods"] = json!(names);
            context["recovery_text"] = json!(extra.recovery_codes.join("\n") + "\n");
            context["recovery_codes"] = json!(extra.recovery_codes);
        }
        _ => {}
    }
    html_page_to(state, login.locale, "enroll.html", context, status, login.form_target())
}
