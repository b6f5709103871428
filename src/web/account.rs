//! "My account's security": a signed-in user sees their second factors, adds another
//! authenticator app or a passkey, removes one (never the last while two-factor is required), picks
//! the method offered first, and makes new recovery codes.
//!
//! The page signs in like an application, through the built-in client `sesame-account`;
//! it then trusts the single sign-on session. Changes need a two-factor session when the
//! account has a second factor, and a sign-in of the last `RECENT_SIGN_IN` seconds.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use bytes::Bytes;
use serde_json::json;

use super::factor_stage::{csrf_refusal, csrf_token};
use super::flash::{self, Flash};
use super::login_flow as flow;
use super::page_error::{PageError, html_page};
use super::request;
use super::sign_in::{CallbackQuery, LoginQuery, SignIn};
use crate::accounts::Account;
use crate::accounts::actions::{self, Actor};
use crate::audit::{self, AuditEvent};
use crate::auth::{
    acr,
    session::{RECENT_SIGN_IN, Session},
};
use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::notify::{self, FactorChange};
use crate::second_factor::{self, Method, Removal, Remover, passkey::PasskeyError, recovery, totp};
use crate::state::AppState;

pub const ACCOUNT_CLIENT_ID: &str = "sesame-account";
const LOGIN_COOKIE: &str = "sesame_account_login";
fn sign_in(state: &AppState) -> SignIn<'static> {
    SignIn {
        client_id: ACCOUNT_CLIENT_ID,
        redirect_uri: format!("{}/account/callback", state.config.issuer()),
        scope: "openid",
        cookie: LOGIN_COOKIE,
    }
}

/// Registers (or updates) the account page's client for this issuer; run at every start.
pub async fn ensure_client(state: &AppState) -> Result<(), DomainError> {
    sign_in(state).register(state, "Sésame — mon compte", &["openid"]).await
}

pub async fn login(State(state): State<AppState>, jar: CookieJar, Query(query): Query<LoginQuery>) -> Response {
    sign_in(&state).start(&state, jar, &query.params())
}

pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let failed = |detail: String| {
        PageError::new(StatusCode::BAD_REQUEST, "console_login_failed_title", "console_login_failed")
            .with_detail(detail)
    };
    // The code is redeemed (so it cannot serve elsewhere); the page itself trusts the
    // session the sign-in opened.
    match sign_in(&state).finish(&state, jar, query, failed).await {
        Ok((jar, _)) => (jar, Redirect::to("/account/security")).into_response(),
        Err(error) => error.render(&state, locale),
    }
}

/// The signed-in user, if the session is strong enough for this page.
pub(super) async fn signed_in(
    state: &AppState,
    jar: &CookieJar,
    now: i64,
) -> Result<(Session, Account, Vec<second_factor::Factor>), Response> {
    let current =
        flow::current_session(state, jar, now).await.map_err(|e| PageError::from(e).render(state, Locale::Fr))?;
    let Some((session, account)) = current else {
        return Err(Redirect::to("/account/login").into_response());
    };
    let factors = second_factor::factors_of(&state.db, &account.id)
        .await
        .map_err(|e| PageError::from(e).render(state, Locale::Fr))?;
    if !factors.is_empty() && session.acr != acr::MULTI_FACTOR {
        return Err(Redirect::to("/account/login?two_factor=true").into_response());
    }
    Ok((session, account, factors))
}

#[derive(Default, serde::Serialize, serde::Deserialize)]
struct View {
    notice: Option<String>,
    error: Option<String>,
    recovery_codes: Vec<String>,
    /// An authenticator being added: its id.
    adding: Option<String>,
    /// A phone being added for push approval: its one-time enrollment link.
    push_link: Option<String>,
}

async fn render(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    account: &Account,
    view: View,
    status: StatusCode,
) -> Response {
    let read = async {
        let factors = second_factor::factors_of(&state.db, &account.id).await?;
        let methods = second_factor::methods_of(&state.db, account, &state.config, state.passkeys.available()).await?;
        let remaining = recovery::remaining(&state.db, &account.id).await?;
        Ok::<_, crate::domain::DomainError>((factors, methods, remaining))
    };
    let (factors, methods, remaining) = match read.await {
        Ok(read) => read,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let preferred = second_factor::preferred(account, &methods).map(Method::as_str);
    let choices: Vec<_> = methods
        .iter()
        .filter(|m| **m != Method::Recovery)
        .map(|m| json!({"method": m.as_str(), "label": state.theme.message(locale, &format!("method_{}", m.as_str()))}))
        .collect();
    let mut context = json!({
        "csrf_token": csrf_token(state, jar),
        "username": account.username,
        "name": account.full_name(),
        "required": account.two_factor_required,
        "factors": factors,
        "choices": choices,
        "preferred": preferred,
        "recovery_remaining": remaining,
        "push_enabled": state.config.push.enabled,
        "passkeys": state.passkeys.available(),
        "recovery_codes": view.recovery_codes,
        "recovery_text": view.recovery_codes.join("\n") + "\n",
        "notice": view.notice,
        "error": view.error,
    });
    context["language"] = super::account_language::context(account);
    if let Some(link) = &view.push_link {
        context["push_link"] = json!(link);
        context["push_qr"] = json!(totp::qr_svg(link));
        context["push_minutes"] = json!(state.config.push.enrollment_ttl / 60);
    }
    if let Some(factor_id) = &view.adding {
        let config = &state.config.two_factor;
        match totp::enrollment(&state.db, &state.secrets, config, &account.id, &account.username, factor_id).await {
            Ok(Some(enrollment)) => context["scan"] = json!(enrollment),
            Ok(None) => {}
            Err(error) => return PageError::from(error).render(state, locale),
        }
    }
    html_page(state, locale, "account_security.html", context, status)
}

pub async fn show(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    let (session, account) = match signed_in(&state, &jar, now).await {
        Ok((session, account, _)) => (session, account),
        Err(response) => return response,
    };
    let (jar, flash) = flash::take(&state, jar, &flash_scope(&session));
    let view = flash.and_then(|flash| flash.field::<View>(VIEW)).unwrap_or_default();
    (jar.clone(), render(&state, &jar, locale, &account, view, StatusCode::OK).await).into_response()
}

/// The field of a flash that carries the page's view through the redirect.
const VIEW: &str = "view";

/// The account page's flashes (recovery codes, a phone's link) are for the session that
/// made them only.
fn flash_scope(session: &Session) -> String {
    format!("account:{}:{}", session.account_id, session.id)
}

/// The page after a form: for a browser, a redirect to it that shows `view` once (the
/// recovery codes or the phone's link included, sealed on their way); else drawn at once.
#[allow(clippy::too_many_arguments)]
async fn answer(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    session: &Session,
    account: &Account,
    view: View,
) -> Response {
    let status = if view.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    if flash::is_navigation(headers) {
        let flash = Flash::default().with(VIEW, &view);
        return flash::redirect(state, jar, &flash_scope(session), "/account/security", &flash);
    }
    render(state, &jar, locale, account, view, status).await
}

pub async fn submit(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap, body: Bytes) -> Response {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| field(&form, name);
    if let Some(refusal) = csrf_refusal(&state, &jar, &headers, get("csrf_token")) {
        return refusal;
    }
    let (session, account, factors) = match signed_in(&state, &jar, now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let action = get("action");
    // Signing out everywhere only protects the owner: no fresh sign-in for it.
    if action == "sign_out_everywhere" {
        return sign_out_everywhere(&state, jar, &headers, locale, &account).await;
    }
    // Choosing the method offered first is harmless; everything else wants a recent sign-in.
    if action != "preferred" && now - session.auth_time > RECENT_SIGN_IN {
        return Redirect::to(&format!("/account/login?fresh=true&two_factor={}", !factors.is_empty())).into_response();
    }
    // A first second factor is enrolled through the login (confirmed by mail or
    // within the administrator's window), never from a password-only session.
    if matches!(action, "add" | "add_push" | "add_passkey" | "confirm_add") && factors.is_empty() {
        return Redirect::to("/account/login?two_factor=true").into_response();
    }
    let outcome = act(&state, &account, &factors, action, &form, locale, now).await;
    match outcome {
        Ok(view) => answer(&state, jar, &headers, locale, &session, &account, view).await,
        Err(error) => PageError::from(error).render(&state, locale),
    }
}

/// Ends every session and refresh token of the account, this browser's session with
/// them: the "signed out" page says it happened everywhere.
async fn sign_out_everywhere(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    account: &Account,
) -> Response {
    if let Err(error) = actions::sign_out_everywhere(state, &Actor::Owner, account).await {
        return PageError::from(error).render(state, locale);
    }
    let jar = jar.remove(crate::cookies::removal(&state.config.session.cookie_name, state.config.secure_cookies()));
    super::logout::signed_out(state, jar, headers, locale, true)
}

/// What an action of the security page does (the caller checked CSRF and how recent the
/// sign-in is); the page to show after it.
async fn act(
    state: &AppState,
    account: &Account,
    factors: &[second_factor::Factor],
    action: &str,
    form: &[(String, String)],
    locale: Locale,
    now: i64,
) -> Result<View, DomainError> {
    let get = |name: &str| field(form, name);
    let message = |key: &str| state.theme.message(locale, key);
    match action {
        "preferred" => match Method::parse(get("method")) {
            Some(method) => second_factor::set_preferred(&state.db, &account.id, method)
                .await
                .map(|_| View { notice: Some(message("account_saved")), ..View::default() }),
            None => Ok(View { error: Some(message("account_unknown_method")), ..View::default() }),
        },
        "add" => {
            let label = format!("{} {}", message("enroll_factor_label"), factors.len() + 1);
            totp::begin(&state.db, &state.secrets, &account.id, &label, None, now)
                .await
                .map(|id| View { adding: Some(id), ..View::default() })
        }
        "add_push" if state.config.push.enabled => {
            crate::second_factor::push::new_enrollment(&state.db, &account.id, &state.config.push, now).await.map(
                |token| View {
                    push_link: Some(format!("{}/authenticator?enroll={token}", state.config.issuer())),
                    ..View::default()
                },
            )
        }
        "add_passkey" => add_passkey(state, account, get("credential"), get("name"), locale, now).await,
        "confirm_add" => confirm_add(state, account, get("factor_id"), get("code"), locale, now).await,
        "remove" => remove(state, account, get("factor_id"), locale, now).await,
        "recovery" if !factors.is_empty() => {
            let count = state.config.two_factor.recovery_codes;
            match recovery::regenerate(&state.db, &state.code_key, &account.id, count, now).await {
                Ok(codes) => {
                    record(state, account, "account.recovery_codes_regenerated", now).await;
                    Ok(View { recovery_codes: codes, notice: Some(message("account_recovery_new")), ..View::default() })
                }
                Err(error) => Err(error),
            }
        }
        _ => Ok(View { error: Some(message("account_unknown_action")), ..View::default() }),
    }
}

/// A field of the submitted form ("" when absent).
fn field<'a>(form: &'a [(String, String)], name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
}

async fn confirm_add(
    state: &AppState,
    account: &Account,
    factor_id: &str,
    code: &str,
    locale: Locale,
    now: i64,
) -> Result<View, DomainError> {
    let config = &state.config.two_factor;
    let right =
        totp::check_enrollment_code(&state.db, &state.secrets, config, &account.id, factor_id, code, now).await?;
    if !right || !totp::activate(&state.db, &account.id, factor_id, now).await? {
        let error = Some(state.theme.message(locale, "enroll_wrong_code"));
        return Ok(View { error, adding: Some(factor_id.to_string()), ..View::default() });
    }
    record(state, account, "second_factor.enrolled", now).await;
    crate::metrics::Metrics::count(&state.metrics.enrollments);
    notify::factor_changed(state, account, FactorChange::Added, now).await;
    Ok(View { notice: Some(state.theme.message(locale, "account_factor_added")), ..View::default() })
}

/// A passkey made from this page: the authenticator's answer checked against the
/// ceremony `/account/passkeys/options` started, and the passkey active at once (the
/// session is a recent two-factor one).
async fn add_passkey(
    state: &AppState,
    account: &Account,
    credential: &str,
    name: &str,
    locale: Locale,
    now: i64,
) -> Result<View, DomainError> {
    let message = |key: &str| state.theme.message(locale, key);
    if credential.trim().is_empty() {
        return Ok(View { error: Some(message("passkey_missing")), ..View::default() });
    }
    let binding = super::passkey::account_binding(&account.id);
    let label = super::enroll::passkey_label(state, locale, name);
    let passkeys = &state.passkeys;
    let made =
        passkeys.finish_registration(&state.db, &state.secrets, account, &binding, &label, credential, true, now).await;
    let factor_id = match made {
        Ok(factor_id) => factor_id,
        Err(PasskeyError::Domain(error)) => return Err(error),
        Err(error) => {
            let detail = json!({"method": "webauthn", "reason": error.code()});
            record_with(state, account, "second_factor.enrollment_refused_passkey", Some(detail), now).await;
            return Ok(View { error: Some(message(super::enroll::passkey_error_key(&error))), ..View::default() });
        }
    };
    let detail = json!({"method": "webauthn", "factor_id": factor_id});
    record_with(state, account, "second_factor.enrolled", Some(detail), now).await;
    crate::metrics::Metrics::count(&state.metrics.enrollments);
    notify::factor_changed(state, account, FactorChange::Added, now).await;
    Ok(View { notice: Some(message("account_passkey_added")), ..View::default() })
}

async fn remove(
    state: &AppState,
    account: &Account,
    factor_id: &str,
    locale: Locale,
    now: i64,
) -> Result<View, DomainError> {
    let message = |key: &str| state.theme.message(locale, key);
    match second_factor::remove(&state.db, account, factor_id, Remover::Owner, now).await? {
        Removal::Removed(_) => {}
        Removal::LastKept => return Ok(View { error: Some(message("account_last_factor")), ..View::default() }),
        Removal::Unknown => return Ok(View { error: Some(message("account_unknown_factor")), ..View::default() }),
    }
    record(state, account, "second_factor.removed", now).await;
    notify::factor_changed(state, account, FactorChange::Removed, now).await;
    Ok(View { notice: Some(state.theme.message(locale, "account_factor_removed")), ..View::default() })
}

async fn record(state: &AppState, account: &Account, event: &str, now: i64) {
    record_with(state, account, event, None, now).await;
}

async fn record_with(state: &AppState, account: &Account, event: &str, detail: Option<serde_json::Value>, now: i64) {
    let event = AuditEvent {
        event,
        account_id: Some(&account.id),
        client_id: Some(ACCOUNT_CLIENT_ID),
        detail,
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
}

/// The web authenticator: an installable page that is a push device (its key made and
/// kept by the browser's WebCrypto). It needs no session: it speaks the device protocol.
pub async fn authenticator(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let locale = request::locale(&headers, None);
    html_page(&state, locale, "authenticator.html", json!({}), StatusCode::OK)
}

/// The page after a form another module handles (`account_language`): its notice, or
/// its error with 400.
pub(super) async fn render_outcome(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    session: &Session,
    account: &Account,
    outcome: Result<String, String>,
) -> Response {
    let view = match outcome {
        Ok(notice) => View { notice: Some(notice), ..View::default() },
        Err(error) => View { error: Some(error), ..View::default() },
    };
    answer(state, jar, headers, locale, session, account, view).await
}
