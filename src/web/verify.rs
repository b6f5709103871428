//! The second factor at each login: the account's preferred method first, "Sign in
//! another way" listing every method it has, failures counted per account in the
//! database and locked with a delay that doubles.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::enroll::TOTP_AMR;
use super::factor_stage::{self, FactorLogin, csrf_refusal, csrf_token};
use super::page_error::{PageError, html_page};
use super::request::ClientIp;
use crate::app::AppState;
use crate::auth::acr;
use crate::notify::{self, FactorChange};
use crate::oidc::flow::{self, FactorStep, Notice, Stage};
use crate::second_factor::{self, Method, recovery, totp};

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
}

#[derive(Deserialize)]
pub struct ContinueForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
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
    let methods = match second_factor::methods_of(&state.db, &login.account.id).await {
        Ok(methods) if !methods.is_empty() => methods,
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
) -> Response {
    let now = state.clock.now();
    let (login, methods) = match load_verifying(&state, &jar, &headers, query.tx.as_deref(), now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let method = chosen(&login, &methods, query.method.as_deref());
    render(&state, &jar, &login, &methods, method, None, StatusCode::OK)
}

/// "Sign in another way": every method the account has.
pub async fn methods(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<VerifyQuery>,
) -> Response {
    let now = state.clock.now();
    let (login, methods) = match load_verifying(&state, &jar, &headers, query.tx.as_deref(), now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
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
    html_page(&state, login.locale, "verify.html", context, StatusCode::OK)
}

fn render(
    state: &AppState,
    jar: &CookieJar,
    login: &FactorLogin,
    methods: &[Method],
    method: Method,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let context = json!({
        "tx": login.pending.id,
        "csrf_token": csrf_token(state, jar),
        "method": method.as_str(),
        "other_methods": methods.len() > 1,
        "client_name": login.client.name,
        "digits": state.config.two_factor.totp_digits,
        "error": error,
    });
    html_page(state, login.locale, "verify.html", context, status)
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    Form(form): Form<VerifyForm>,
) -> Response {
    let now = state.clock.now();
    if let Some(response) = csrf_refusal(&state, &jar, &headers, &form.csrf_token) {
        return response;
    }
    let (login, methods) = match load_verifying(&state, &jar, &headers, Some(&form.tx), now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let method = chosen(&login, &methods, Some(&form.method));
    let message = |key: &str| state.theme.message(login.locale, key);
    let redraw = |error: String, status| render(&state, &jar, &login, &methods, method, Some(error), status);
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.login_per_ip.hit(address, now)
    {
        return redraw(
            message("login_rate_limited").replace("{seconds}", &wait.to_string()),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    if let Some(wait) = login.account.factor_locked_for(now) {
        return redraw(locked_message(&state, &login, wait), StatusCode::TOO_MANY_REQUESTS);
    }
    if form.code.trim().is_empty() {
        return redraw(message("code_missing"), StatusCode::BAD_REQUEST);
    }
    let account_id = login.account.id.clone();
    let checked = match method {
        Method::Totp => totp::verify(&state.db, &state.secrets, &state.config.two_factor, &account_id, &form.code, now)
            .await
            .map(|factor| factor.is_some()),
        Method::Recovery => recovery::redeem(&state.db, &state.code_key, &account_id, &form.code, now).await,
    };
    let right = match checked {
        Ok(right) => right,
        Err(error) => return PageError::from(error).render(&state, login.locale),
    };
    if !right {
        return refuse(&state, &login, &ip, method, now).await.unwrap_or_else(|| {
            let key = if method == Method::Recovery { "recovery_wrong_code" } else { "verify_wrong_code" };
            redraw(message(key), StatusCode::UNAUTHORIZED)
        });
    }
    if let Err(error) = second_factor::clear_failures(&state.db, &account_id).await {
        return PageError::from(error).render(&state, login.locale);
    }
    login.audit(&state, "second_factor.success", &ip, json!({"method": method.as_str()}), now).await;
    crate::metrics::Metrics::count(&state.metrics.second_factor_succeeded);
    match method {
        Method::Totp => {
            let FactorLogin { pending, client, account, .. } = login;
            flow::complete_login(&state, jar, &headers, pending, client, account, &TOTP_AMR, acr::MULTI_FACTOR, now)
                .await
        }
        Method::Recovery => recovery_used(&state, login, &ip, now).await,
    }
}

/// Counts a wrong code; the locked page if that locked the second factor.
async fn refuse(state: &AppState, login: &FactorLogin, ip: &ClientIp, method: Method, now: i64) -> Option<Response> {
    crate::metrics::Metrics::count(&state.metrics.second_factor_failed);
    let locked = second_factor::record_failure(&state.db, &login.account.id, now, &state.config.two_factor).await;
    let detail = json!({"method": method.as_str()});
    match locked {
        Ok(Some(until)) => {
            login.audit(state, "second_factor.locked", ip, detail, now).await;
            let text = locked_message(state, login, until - now);
            Some(html_page(
                state,
                login.locale,
                "verify.html",
                json!({"tx": login.pending.id, "method": method.as_str(), "error": text, "locked": true}),
                StatusCode::TOO_MANY_REQUESTS,
            ))
        }
        Ok(None) => {
            login.audit(state, "second_factor.failure", ip, detail, now).await;
            None
        }
        Err(error) => Some(PageError::from(error).render(state, login.locale)),
    }
}

fn locked_message(state: &AppState, login: &FactorLogin, seconds: i64) -> String {
    state.theme.message(login.locale, "verify_locked").replace("{minutes}", &((seconds + 59) / 60).to_string())
}

/// A recovery code was used: say so (and how many are left) before continuing.
async fn recovery_used(state: &AppState, login: FactorLogin, ip: &ClientIp, now: i64) -> Response {
    let remaining = recovery::remaining(&state.db, &login.account.id).await.unwrap_or(0);
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
) -> Response {
    let now = state.clock.now();
    let login = match factor_stage::load(&state, &jar, &headers, query.tx.as_deref(), now).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    let FactorStep::Passed { notice: Notice::RecoveryUsed { remaining }, .. } = &login.step else {
        return login.to_current();
    };
    let context = json!({
        "tx": login.pending.id,
        "csrf_token": csrf_token(&state, &jar),
        "remaining": remaining,
        "client_name": login.client.name,
    });
    html_page(&state, login.locale, "factor_notice.html", context, StatusCode::OK)
}

/// Continues a login whose second factor is proven (after a notice page).
pub async fn continue_login(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<ContinueForm>,
) -> Response {
    let now = state.clock.now();
    if let Some(response) = csrf_refusal(&state, &jar, &headers, &form.csrf_token) {
        return response;
    }
    let login = match factor_stage::load(&state, &jar, &headers, Some(&form.tx), now).await {
        Ok(login) => login,
        Err(response) => return response,
    };
    let FactorStep::Passed { amr, .. } = &login.step else {
        return login.to_current();
    };
    let amr: Vec<String> = amr.clone();
    let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
    let FactorLogin { pending, client, account, .. } = login;
    flow::complete_login(&state, jar, &headers, pending, client, account, &amr, acr::MULTI_FACTOR, now).await
}
