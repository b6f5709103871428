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
    flash::{self, Flash},
    i18n::Locale,
    page_error::{PageError, html_page, html_page_to},
    request::{self, ClientIp},
};
use crate::audit::{self, AuditEvent};
use crate::auth::known_browser::KnownBrowser;
use crate::clients::Client;
use crate::lockout::password::{self, LoginOutcome, RefusalReason, Source};
use crate::login::{Pending, Stage};
use crate::second_factor::passkey::PasskeyError;
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
    /// `webauthn`: a sign-in by passkey alone, its answer in `credential`.
    #[serde(default)]
    method: String,
    /// The authenticator's answer (WebAuthn JSON form), for `method=webauthn`.
    #[serde(default)]
    credential: String,
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
    let Some((pending, client)) = flow::load_pending(&state, &jar, &tx, now).await? else {
        return Err(flow::expired(&state, &tx).await);
    };
    if pending.stage != Stage::Login {
        return Ok(Redirect::to(&pending.url()).into_response());
    }
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let (jar, flash) = flash::take(&state, jar, pending.tx());
    let (username, error) = match flash {
        Some(flash) => (flash.text("username").to_string(), flash.error),
        None => (pending.request.login_hint.clone().unwrap_or_default(), None),
    };
    Ok((jar.clone(), render_form(&state, &jar, locale, &pending, &client, &username, error, StatusCode::OK))
        .into_response())
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
        "passkeys": state.passkeys.passwordless(),
    });
    html_page_to(state, locale, "login.html", context, status, Some(&pending.request.redirect_uri))
}

/// The login form again after a refusal: for a browser, by a redirect to the form
/// (which shows the message and the identifier typed); else drawn at once, with the
/// refusal's status.
#[allow(clippy::too_many_arguments)]
fn redraw(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    pending: &Pending,
    client: &Client,
    username: &str,
    refusal: Refusal,
) -> Response {
    if flash::is_navigation(headers) {
        let flash = Flash::error(refusal.message).with("username", username);
        return flash::redirect(state, jar, pending.tx(), &pending.url(), &flash);
    }
    let response = render_form(state, &jar, locale, pending, client, username, Some(refusal.message), refusal.status);
    if refusal.status == StatusCode::SERVICE_UNAVAILABLE {
        return ([(header::RETRY_AFTER, "2")], response).into_response();
    }
    response
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
            audit: (*reason != RefusalReason::Flood)
                .then(|| ("login.failure", account_id.clone(), json!({"reason": reason.as_str()}))),
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
    let Some((pending, client)) = flow::load_pending(&state, &jar, &form.tx, now).await? else {
        return Err(flow::expired(&state, &form.tx).await);
    };
    if pending.stage != Stage::Login {
        return Ok(Redirect::to(&pending.url()).into_response());
    }
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    if form.method == crate::second_factor::passkey::METHOD {
        let signed_in = passkey_sign_in(&state, &ip, &pending, &client, &form.credential, locale, now).await;
        return Ok(match signed_in {
            Ok(PasskeySignIn { account, amr }) => {
                let amr: Vec<&str> = amr.iter().map(String::as_str).collect();
                let acr = crate::auth::acr::MULTI_FACTOR;
                flow::complete_login(&state, jar, &headers, pending, client, account, &amr, acr, now).await
            }
            Err(refusal) => {
                crate::metrics::Metrics::count(&state.metrics.logins_failed);
                if let Some((event, account_id, detail)) = &refusal.audit {
                    audit_login(&state, now, event, account_id.as_deref(), &client, &ip, detail.clone()).await;
                }
                redraw(&state, jar, &headers, locale, &pending, &client, "", refusal)
            }
        });
    }
    if form.username.trim().is_empty() || form.password.is_empty() {
        let message = state.theme.message(locale, "login_missing_fields");
        let refusal = Refusal { message, status: StatusCode::BAD_REQUEST, audit: None };
        return Ok(redraw(&state, jar, &headers, locale, &pending, &client, &form.username, refusal));
    }
    let outcome =
        check_password(&state, &jar, &ip, &form, now).await.map_err(|e| PageError::from(e).in_locale(locale))?;
    if let Some(refusal) = refusal_of(&outcome, &state, locale) {
        crate::metrics::Metrics::count(&state.metrics.logins_failed);
        if let Some((event, account_id, detail)) = &refusal.audit {
            audit_login(&state, now, event, account_id.as_deref(), &client, &ip, detail.clone()).await;
        }
        return Ok(redraw(&state, jar, &headers, locale, &pending, &client, &form.username, refusal));
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
        && let Err(limited) = state.limits.login_per_ip.hit_from_noting(address, now)
    {
        // Too many submissions from this address, whatever the identifiers: refused like
        // any wrong password, in the time of one.
        tokio::time::sleep(state.passwords.typical_duration()).await;
        let reason = if limited.first { RefusalReason::Throttled } else { RefusalReason::Flood };
        return Ok(LoginOutcome::Refused { account_id: None, reason });
    }
    let known = KnownBrowser::from_jar(&state.known_browser_key, jar, state.config.secure_cookies());
    let source = Source { ip: ip.0.as_deref(), known: &known };
    let (login, passwords) = (&state.config.login, &state.passwords);
    password::verify_password(&state.db, passwords, login, &form.username, &form.password, &source, now).await
}

/// Who a passkey signed in, and how (`amr`).
struct PasskeySignIn {
    account: crate::accounts::Account,
    amr: Vec<String>,
}

/// A sign-in by passkey alone: the authenticator checked its user (PIN, fingerprint,
/// face), so it counts as two factors. The passkey names the account; an archived or
/// locked account is refused as at the password, and every refusal is audited.
async fn passkey_sign_in(
    state: &AppState,
    ip: &ClientIp,
    pending: &Pending,
    client: &Client,
    credential: &str,
    locale: Locale,
    now: i64,
) -> Result<PasskeySignIn, Refusal> {
    let message = |key: &str| state.theme.message(locale, key);
    if let Some(address) = &ip.0
        && let Err(wait) = state.limits.login_per_ip.hit_from(address, now)
    {
        let text = message("login_rate_limited").replace("{seconds}", &wait.to_string());
        return Err(Refusal { message: text, status: StatusCode::TOO_MANY_REQUESTS, audit: None });
    }
    let binding = super::passkey::login_binding(pending);
    let used = match state.passkeys.finish_discovery(&state.db, &state.secrets, &binding, credential, now).await {
        Ok(used) => used,
        Err(error) => return Err(passkey_refusal(state, &error, locale)),
    };
    let account = match crate::accounts::find_by_id(&state.db, &used.account_id).await {
        Ok(Some(account)) => account,
        Ok(None) => return Err(passkey_refusal(state, &PasskeyError::UnknownCredential, locale)),
        Err(error) => return Err(passkey_refusal(state, &PasskeyError::Domain(error), locale)),
    };
    let refused = |key: &str, event: &'static str, status| Refusal {
        message: message(key),
        status,
        audit: Some((event, Some(account.id.clone()), json!({"method": "webauthn"}))),
    };
    if account.archived {
        return Err(refused("login_archived", "login.archived", StatusCode::FORBIDDEN));
    }
    if account.admin_locked_at.is_some() {
        return Err(refused("login_locked_by_admin", "login.locked_by_admin", StatusCode::FORBIDDEN));
    }
    let detail = json!({"method": "webauthn", "passwordless": true, "factor_id": used.factor_id});
    audit_login(state, now, "login.success", Some(&account.id), client, ip, detail).await;
    crate::metrics::Metrics::count(&state.metrics.logins_succeeded);
    Ok(PasskeySignIn { amr: used.amr_alone(), account })
}

/// The login form's words for a passkey that did not sign in, and what the audit
/// trail keeps of it (a counter that went backwards names the passkey).
fn passkey_refusal(state: &AppState, error: &PasskeyError, locale: Locale) -> Refusal {
    let (key, status) = match error {
        PasskeyError::Domain(_) => ("error_internal", StatusCode::INTERNAL_SERVER_ERROR),
        PasskeyError::Expired => ("passkey_expired", StatusCode::BAD_REQUEST),
        PasskeyError::UnknownCredential => ("passkey_unknown", StatusCode::UNAUTHORIZED),
        PasskeyError::UserNotVerified => ("passkey_not_verified", StatusCode::UNAUTHORIZED),
        _ => ("passkey_failed", StatusCode::UNAUTHORIZED),
    };
    if let PasskeyError::Domain(cause) = error {
        tracing::error!(error = %cause, "passkey sign-in");
    }
    let event = match error {
        PasskeyError::CounterWentBack { .. } => "second_factor.passkey_counter_went_back",
        _ => "login.failure",
    };
    let (factor, account) = match error {
        PasskeyError::CounterWentBack { factor_id, account_id } => (Some(factor_id.clone()), Some(account_id.clone())),
        _ => (None, None),
    };
    let detail = json!({"method": "webauthn", "reason": error.code(), "factor_id": factor});
    Refusal { message: state.theme.message(locale, key), status, audit: Some((event, account, detail)) }
}
