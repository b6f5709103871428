//! The verification page of the device authorization grant (RFC 8628 3.3): a person
//! types the code their device shows (or arrives with it in the link), signs in, and
//! allows or denies the device.
//!
//! `/device` takes the code (`user_code`, spending the guessing budgets of
//! `lockout::user_code`); a live code is remembered in a cookie signed for this browser,
//! and `/device/confirm` asks for a sign-in the way the account page does — through the
//! built-in client `sesame-device` (`/device/login` → `/authorize` → the login with its
//! second factor, or the forced enrollment → `/device/callback`) — then shows the
//! client and its application with Allow / Deny. The session must be two-factor when
//! the account has a second factor, must enroll one, or the client requires it; the
//! account must have access to the client's application, as at any login.

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
    extract::{CsrfForm, CsrfProtected},
    flash::{self, Flash},
    i18n::Locale,
    page_error::{PageError, html_page},
    request::{self, ClientIp},
    sign_in::{CallbackQuery, LoginQuery, SignIn},
};
use crate::accounts::Account;
use crate::audit::{self, AuditEvent};
use crate::auth::{
    acr,
    session::{RECENT_SIGN_IN, Session},
};
use crate::clients::{self, Client};
use crate::cookies;
use crate::crypto;
use crate::device_authorization::{self, DeviceAuthorization, UserCodeCheck, user_code};
use crate::domain::DomainError;
use crate::login::{code::record_participant, consent};
use crate::oidc::VERIFICATION_PATH;
use crate::second_factor::{
    self,
    policy::{self, LoginFacts, Requirement},
};
use crate::state::AppState;

pub const DEVICE_CLIENT_ID: &str = "sesame-device";
const LOGIN_COOKIE: &str = "sesame_device_login";
/// Which device authorization this browser is approving, across the sign-in.
const APPROVAL_COOKIE: &str = "sesame_device";
const CONFIRM_PATH: &str = "/device/confirm";

fn sign_in(state: &AppState) -> SignIn<'static> {
    SignIn {
        client_id: DEVICE_CLIENT_ID,
        redirect_uri: format!("{}/device/callback", state.config.issuer()),
        scope: "openid",
        cookie: LOGIN_COOKIE,
    }
}

/// Registers (or updates) the verification page's client for this issuer; run at every
/// start.
pub async fn ensure_client(state: &AppState) -> Result<(), DomainError> {
    sign_in(state).register(state, "Sésame — connecter un appareil", &["openid"]).await
}

#[derive(Deserialize)]
pub struct CodeQuery {
    user_code: Option<String>,
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    user_code: String,
}

impl CsrfProtected for CodeForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
}

impl CsrfProtected for DecisionForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// `GET /device`: the form, with the code of `verification_uri_complete` filled in.
pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<CodeQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let typed = query.user_code.unwrap_or_default();
    let shown = user_code::normalize(&typed).map(|code| user_code::display(&code)).unwrap_or_default();
    let (jar, browser) = csrf::ensure_browser(&state, jar);
    let token = csrf::token_for(&state, &browser);
    let (jar, flash) = flash::take(&state, jar, FLASH_SCOPE);
    let page = match flash {
        Some(flash) => {
            let typed = flash.text("user_code").to_string();
            code_form(&state, locale, &token, &typed, flash.error, StatusCode::OK)
        }
        None => code_form(&state, locale, &token, &shown, None, StatusCode::OK),
    };
    (jar, page).into_response()
}

/// The code form's flash (the code typed and why it was refused).
const FLASH_SCOPE: &str = "device";

fn code_form(
    state: &AppState,
    locale: Locale,
    csrf_token: &str,
    user_code: &str,
    error: Option<String>,
    status: StatusCode,
) -> Response {
    let context =
        json!({"csrf_token": csrf_token, "user_code": user_code, "error": error, "action": VERIFICATION_PATH});
    html_page(state, locale, "device_code.html", context, status)
}

/// `POST /device`: checks the code; a live one leads to the sign-in and the question.
pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    let config = &state.config.device_authorization;
    let retry = |key: &str, status: StatusCode, minutes: Option<i64>| {
        let mut text = state.theme.message(locale, key);
        if let Some(minutes) = minutes {
            text = text.replace("{minutes}", &minutes.to_string());
        }
        if flash::is_navigation(&headers) {
            let flash = Flash::error(text).with("user_code", form.user_code.trim());
            return flash::redirect(&state, jar.clone(), FLASH_SCOPE, VERIFICATION_PATH, &flash);
        }
        code_form(&state, locale, &form.csrf_token, form.user_code.trim(), Some(text), status)
    };
    // Many codes from one address: refused before the database, and recorded once a
    // minute (each record is a row).
    if let Some(address) = &ip.0
        && let Err(limited) = state.limits.device_verification_per_ip.hit_from_noting(address, now)
    {
        if limited.first {
            let detail = json!({"until": now + limited.wait, "per_address": true});
            record(&state, "device.user_code_throttled", None, None, &ip, detail, now).await;
        }
        let minutes = (limited.wait.max(1) + 59) / 60;
        return Ok(retry("device_code_wait", StatusCode::TOO_MANY_REQUESTS, Some(minutes)));
    }
    let checked =
        device_authorization::check_user_code(&state.db, config, ip.0.as_deref(), &form.user_code, now).await?;
    match checked {
        UserCodeCheck::Found(authorization) => {
            let Some(browser) = csrf::browser_id(&state, &jar) else {
                return Err(PageError::csrf());
            };
            let value = crypto::sign(&state.csrf_key, &approval_purpose(&browser), &authorization.id);
            let max_age = (authorization.expires_at - now).max(1);
            let cookie = cookies::build(APPROVAL_COOKIE, value, state.config.secure_cookies(), Some(max_age));
            Ok((jar.add(cookie), Redirect::to(CONFIRM_PATH)).into_response())
        }
        UserCodeCheck::NotValid => {
            record(&state, "device.user_code_wrong", None, None, &ip, json!({}), now).await;
            Ok(retry("device_code_not_valid", StatusCode::BAD_REQUEST, None))
        }
        UserCodeCheck::Wait { until } => {
            record(&state, "device.user_code_throttled", None, None, &ip, json!({"until": until}), now).await;
            let minutes = ((until - now).max(1) + 59) / 60;
            Ok(retry("device_code_wait", StatusCode::TOO_MANY_REQUESTS, Some(minutes)))
        }
    }
}

/// The approval cookie is signed for one browser: copied into another, it is refused.
fn approval_purpose(browser_id: &str) -> String {
    format!("device-approval:{}", csrf::browser_hash(browser_id))
}

/// The pending authorization this browser is approving, with its client.
async fn approving(state: &AppState, jar: &CookieJar, now: i64) -> Result<(DeviceAuthorization, Client), PageError> {
    let expired = || PageError::new(StatusCode::BAD_REQUEST, "device_expired_title", "device_expired");
    let browser = csrf::browser_id(state, jar).ok_or_else(expired)?;
    let value = cookies::get(jar, APPROVAL_COOKIE, state.config.secure_cookies()).ok_or_else(expired)?;
    let id = crypto::open_signed(&state.csrf_key, &approval_purpose(&browser), &value).ok_or_else(expired)?;
    let authorization = device_authorization::find_pending(&state.db, id, now).await?.ok_or_else(expired)?;
    let client = clients::find(&state.db, &authorization.client_id).await?.ok_or_else(expired)?;
    Ok((authorization, client))
}

/// The signed-in user, if the session is strong enough to approve a device for this
/// client; else the redirect to the sign-in that makes it so.
async fn signed_in(
    state: &AppState,
    jar: &CookieJar,
    client: &Client,
    now: i64,
) -> Result<Result<(Session, Account), Response>, PageError> {
    let Some((session, account)) = flow::current_session(state, jar, now).await? else {
        return Ok(Err(Redirect::to("/device/login").into_response()));
    };
    let enrolled = !second_factor::factors_of(&state.db, &account.id).await?.is_empty();
    let facts =
        LoginFacts { enrolled, client_requires: client.require_two_factor, request_asks: false, admin_login: false };
    let requirement = policy::requirement(&account, &facts, &state.config.two_factor, now);
    let two_factor = requirement != Requirement::PasswordOnly;
    if two_factor && !acr::satisfies(&session.acr, &session.amr, &[]) {
        return Ok(Err(Redirect::to("/device/login?two_factor=true").into_response()));
    }
    // Approving hands out tokens, offline ones maybe: not on an old session left open
    // on a shared computer.
    if now - session.auth_time > RECENT_SIGN_IN {
        return Ok(Err(Redirect::to(&format!("/device/login?fresh=true&two_factor={two_factor}")).into_response()));
    }
    Ok(Ok((session, account)))
}

/// What the approval page and the decision both need: the authorization, its client,
/// the signed-in user, and the name of the client's application. The response instead
/// when the user must sign in first, or may not use the application (the device is
/// then denied, as a login would send `access_denied`).
struct Approval {
    authorization: DeviceAuthorization,
    client: Client,
    session: Session,
    account: Account,
    application: String,
}

async fn load(
    state: &AppState,
    jar: &CookieJar,
    ip: &ClientIp,
    locale: Locale,
    now: i64,
) -> Result<Approval, Response> {
    let render = |error: PageError| error.render(state, locale);
    let (authorization, client) = approving(state, jar, now).await.map_err(render)?;
    let (session, account) = match signed_in(state, jar, &client, now).await.map_err(render)? {
        Ok(found) => found,
        Err(redirect) => return Err(redirect),
    };
    let access = consent::application_access(&state.db, &client, &account).await.map_err(|e| render(e.into()))?;
    if !access.allowed {
        let application = access.name();
        device_authorization::deny(&state.db, &authorization.id, Some(&account.id), now)
            .await
            .map_err(|e| render(e.into()))?;
        let detail = json!({"authorization": authorization.id, "application": application});
        record(state, "device.access_denied", Some(&account), Some(&client), ip, detail, now).await;
        let context = json!({
            "title": state.theme.message(locale, "no_access_title"),
            "message": state.theme.message(locale, "no_access"),
            "application": application,
        });
        return Err(html_page(state, locale, "error.html", context, StatusCode::FORBIDDEN));
    }
    Ok(Approval { authorization, client, session, account, application: access.name() })
}

/// `GET /device/confirm`: after the sign-in, the question.
pub async fn confirm(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap, ip: ClientIp) -> Response {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    let approval = match load(&state, &jar, &ip, locale, now).await {
        Ok(approval) => approval,
        Err(response) => return response,
    };
    let scopes: Vec<String> = approval
        .authorization
        .scopes
        .iter()
        .map(|scope| {
            let key = format!("scope_{scope}");
            let label = state.theme.message(locale, &key);
            if label == key { scope.clone() } else { label }
        })
        .collect();
    let context = json!({
        "csrf_token": csrf::token(&state, &jar),
        "client_name": approval.client.name,
        "application": approval.application,
        "user_code": user_code::display(&approval.authorization.user_code),
        "username": approval.account.username,
        "scopes": scopes,
        "action": CONFIRM_PATH,
    });
    html_page(&state, locale, "device_confirm.html", context, StatusCode::OK)
}

/// `POST /device/confirm`: Allow or Deny, once.
pub async fn decide(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    CsrfForm(form): CsrfForm<DecisionForm>,
) -> Response {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    let approval = match load(&state, &jar, &ip, locale, now).await {
        Ok(approval) => approval,
        Err(response) => return response,
    };
    let allow = form.decision == "allow";
    match answer(&state, &approval, allow, &ip, now).await {
        Ok(true) => {}
        Ok(false) => {
            let expired = PageError::new(StatusCode::BAD_REQUEST, "device_expired_title", "device_expired");
            return expired.render(&state, locale);
        }
        Err(error) => return PageError::from(error).render(&state, locale),
    }
    let jar = jar.remove(cookies::removal(APPROVAL_COOKIE, state.config.secure_cookies()));
    if flash::is_navigation(&headers) {
        let flash = Flash::default().with("approved", allow).with("client_name", &approval.client.name);
        return flash::redirect(&state, jar, DONE_SCOPE, DONE_PATH, &flash);
    }
    (jar, done_page(&state, locale, allow, &approval.client.name)).into_response()
}

/// The page after the decision, by `GET` (a browser is led here by a redirect). Without
/// the decision's flash (a reload), it says nothing more than that the page is done with.
pub async fn done(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let locale = request::locale(&headers, None);
    let (jar, flash) = flash::take(&state, jar, DONE_SCOPE);
    let page = match flash {
        Some(flash) => done_page(&state, locale, flash.flag("approved"), flash.text("client_name")),
        None => {
            PageError::new(StatusCode::BAD_REQUEST, "device_expired_title", "device_expired").render(&state, locale)
        }
    };
    (jar, page).into_response()
}

pub const DONE_PATH: &str = "/device/done";
const DONE_SCOPE: &str = "device-done";

fn done_page(state: &AppState, locale: Locale, approved: bool, client_name: &str) -> Response {
    let (title, message) =
        if approved { ("device_approved_title", "device_approved") } else { ("device_denied_title", "device_denied") };
    let context = json!({
        "title": state.theme.message(locale, title),
        "message": state.theme.message(locale, message),
        "approved": approved,
        "client_name": client_name,
    });
    html_page(state, locale, "device_done.html", context, StatusCode::OK)
}

/// Records the decision (compare-and-swap: false when it was already decided or has
/// expired). An approval makes the client a participant of the session, told over the
/// back channel when the session ends, as after a code flow.
async fn answer(
    state: &AppState,
    approval: &Approval,
    allow: bool,
    ip: &ClientIp,
    now: i64,
) -> Result<bool, DomainError> {
    let (account, client) = (&approval.account, &approval.client);
    let id = &approval.authorization.id;
    let moved = if allow {
        device_authorization::approve(&state.db, id, &approval.session, now).await?
    } else {
        device_authorization::deny(&state.db, id, Some(&account.id), now).await?
    };
    if !moved {
        return Ok(false);
    }
    if allow {
        record_participant(&state.db, &approval.session.id, &client.client_id, now).await?;
    }
    let event = if allow { "device.approved" } else { "device.denied" };
    let detail = json!({"authorization": id, "acr": approval.session.acr});
    record(state, event, Some(account), Some(client), ip, detail, now).await;
    Ok(true)
}

/// `GET /device/login`: the sign-in through the built-in client (two-factor on demand;
/// afresh when the session is too old to approve a device).
pub async fn login(State(state): State<AppState>, jar: CookieJar, Query(query): Query<LoginQuery>) -> Response {
    sign_in(&state).start(&state, jar, &query.params())
}

/// `GET /device/callback`: the sign-in is done (its code redeemed in process, so it
/// serves nowhere else); back to the question.
pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let failed = |detail: String| {
        PageError::new(StatusCode::BAD_REQUEST, "device_login_failed_title", "device_login_failed").with_detail(detail)
    };
    match sign_in(&state).finish(&state, jar, query, failed).await {
        Ok((jar, _)) => (jar, Redirect::to(CONFIRM_PATH)).into_response(),
        Err(error) => error.render(&state, locale),
    }
}

async fn record(
    state: &AppState,
    event: &str,
    account: Option<&Account>,
    client: Option<&Client>,
    ip: &ClientIp,
    detail: serde_json::Value,
    now: i64,
) {
    let event = AuditEvent {
        event,
        account_id: account.map(|a| a.id.as_str()),
        client_id: client.map(|c| c.client_id.as_str()),
        ip: ip.0.as_deref(),
        detail: Some(detail),
    };
    audit::record(&state.db, now, event).await;
}

#[derive(Deserialize)]
pub struct QrQuery {
    #[serde(default)]
    user_code: String,
}

/// `GET /device/qr.svg?user_code=…`: `verification_uri_complete` as a QR code (SVG), for
/// a device with a screen that cannot draw one (RFC 8628 3.3.1): scanned with a phone,
/// it opens the verification page with the code filled in. Any well-formed code is
/// drawn; nothing is looked up, so it tells nothing about which codes are live.
pub async fn qr_code(State(state): State<AppState>, Query(query): Query<QrQuery>) -> Response {
    let Some(code) = crate::device_authorization::user_code::normalize(&query.user_code) else {
        return (StatusCode::BAD_REQUEST, "user_code is eight letters, e.g. BCDF-GHJK").into_response();
    };
    let shown = crate::device_authorization::user_code::display(&code);
    let complete = format!("{}{VERIFICATION_PATH}?user_code={shown}", state.config.issuer());
    let svg = crate::second_factor::totp::qr_svg(&complete);
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=600")], svg).into_response()
}
