//! The login page: identifier and password for a pending authorization request.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::login_flow as flow;
use super::{
    csrf,
    extract::{CsrfForm, CsrfProtected, PageLocale},
    i18n::Locale,
    page_error::{PageError, html_page, html_page_to},
    request::{self, ClientIp},
};
use crate::audit::{self, AuditEvent};
use crate::auth::known_browser::KnownBrowser;
use crate::clients::Client;
use crate::lockout::password::{self, LoginOutcome, RefusalReason, Source};
use crate::login::{Pending, Stage};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    tx: Option<String>,
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

impl CsrfProtected for LoginForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The home page: what Sésame is and where to go; people arrive at login from an
/// application.
pub async fn home(State(state): State<AppState>, PageLocale(locale): PageLocale) -> Response {
    html_page(&state, locale, "home.html", json!({"issuer": state.config.issuer()}), StatusCode::OK)
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let tx = query.tx.ok_or_else(PageError::expired_login)?;
    let (pending, client) = flow::load_pending(&state, &jar, &tx, now).await?.ok_or_else(PageError::expired_login)?;
    if pending.stage != Stage::Login {
        return Ok(Redirect::to(&pending.url()).into_response());
    }
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let username = pending.request.login_hint.clone().unwrap_or_default();
    Ok(render_form(&state, &jar, locale, &pending, &client, &username, None, StatusCode::OK))
}

#[allow(clippy::too_many_arguments)]
fn render_form(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    pending: &Pending,
    client: &Client,
    username: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let token = csrf::token(state, jar);
    let context = json!({
        "tx": pending.tx(),
        "csrf_token": token,
        "username": username,
        "client_name": client.name,
        "error": error,
    });
    html_page_to(state, locale, "login.html", context, status, Some(&pending.request.redirect_uri))
}

/// What the login form is redrawn with after a refusal.
struct Refusal {
    message: String,
    status: StatusCode,
    /// The audit event and its account, when the refusal is a security decision.
    audit: Option<(&'static str, Option<String>, serde_json::Value)>,
}

/// Why a submission does not log the user in, if it does not. Every refusal that a
/// caller without the password can cause reads the same: status, words and time.
fn refusal_of(outcome: &LoginOutcome, state: &AppState, locale: Locale) -> Option<Refusal> {
    let message = |key: &str| state.theme.message(locale, key);
    Some(match outcome {
        LoginOutcome::Success(_) => return None,
        LoginOutcome::Refused { account_id, reason } => Refusal {
            message: message("login_wrong_credentials"),
            status: StatusCode::UNAUTHORIZED,
            audit: Some(("login.failure", account_id.clone(), json!({"reason": reason.as_str()}))),
        },
        LoginOutcome::Archived { account_id } => Refusal {
            message: message("login_archived"),
            status: StatusCode::FORBIDDEN,
            audit: Some(("login.archived", Some(account_id.clone()), json!({}))),
        },
        LoginOutcome::LockedByAdmin { account_id } => Refusal {
            message: message("login_locked_by_admin"),
            status: StatusCode::FORBIDDEN,
            audit: Some(("login.locked_by_admin", Some(account_id.clone()), json!({}))),
        },
        LoginOutcome::Busy => {
            Refusal { message: message("error_busy"), status: StatusCode::SERVICE_UNAVAILABLE, audit: None }
        }
    })
}

async fn audit_login(
    state: &AppState,
    now: i64,
    event: &'static str,
    account_id: Option<&str>,
    client: &Client,
    ip: &ClientIp,
    detail: serde_json::Value,
) {
    let event =
        AuditEvent { event, account_id, client_id: Some(&client.client_id), ip: ip.0.as_deref(), detail: Some(detail) };
    audit::record(&state.db, now, event).await;
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    CsrfForm(form): CsrfForm<LoginForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let found = flow::load_pending(&state, &jar, &form.tx, now).await?;
    let (pending, client) = found.ok_or_else(PageError::expired_login)?;
    if pending.stage != Stage::Login {
        return Ok(Redirect::to(&pending.url()).into_response());
    }
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let redraw = |refusal: Refusal| {
        let response =
            render_form(&state, &jar, locale, &pending, &client, &form.username, Some(refusal.message), refusal.status);
        if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
            return ([(header::RETRY_AFTER, "2")], response).into_response();
        }
        response
    };
    if form.username.trim().is_empty() || form.password.is_empty() {
        let message = state.theme.message(locale, "login_missing_fields");
        return Ok(redraw(Refusal { message, status: StatusCode::BAD_REQUEST, audit: None }));
    }
    let outcome =
        check_password(&state, &jar, &ip, &form, now).await.map_err(|e| PageError::from(e).in_locale(locale))?;
    if let Some(refusal) = refusal_of(&outcome, &state, locale) {
        crate::metrics::Metrics::count(&state.metrics.logins_failed);
        if let Some((event, account_id, detail)) = &refusal.audit {
            audit_login(&state, now, event, account_id.as_deref(), &client, &ip, detail.clone()).await;
        }
        return Ok(redraw(refusal));
    }
    let LoginOutcome::Success(account) = outcome else { return Err(PageError::internal().in_locale(locale)) };
    audit_login(&state, now, "login.success", Some(&account.id), &client, &ip, json!({})).await;
    crate::metrics::Metrics::count(&state.metrics.logins_succeeded);
    Ok(flow::after_password(&state, jar, &headers, pending, client, *account, now).await)
}

/// The password check behind the per-address limit of this node.
async fn check_password(
    state: &AppState,
    jar: &CookieJar,
    ip: &ClientIp,
    form: &LoginForm,
    now: i64,
) -> Result<LoginOutcome, crate::domain::DomainError> {
    if let Some(address) = &ip.0
        && state.limits.login_per_ip.hit(address, now).is_err()
    {
        // Too many submissions from this address, whatever the identifiers: refused like
        // any wrong password, in the time of one.
        tokio::time::sleep(state.passwords.typical_duration()).await;
        return Ok(LoginOutcome::Refused { account_id: None, reason: RefusalReason::Throttled });
    }
    let known = KnownBrowser::from_jar(&state.known_browser_key, jar, state.config.secure_cookies());
    let source = Source { ip: ip.0.as_deref(), known: &known };
    let (login, passwords) = (&state.config.login, &state.passwords);
    password::verify_password(&state.db, passwords, login, &form.username, &form.password, &source, now).await
}
