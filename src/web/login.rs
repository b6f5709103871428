//! The login page: identifier and password for a pending authorization request.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::{
    cookies, csrf,
    i18n::Locale,
    page_error::{PageError, html_page},
    request::{self, ClientIp},
};
use crate::app::AppState;
use crate::audit::{self, AuditEvent};
use crate::auth::{
    acr,
    password_login::{self, LoginOutcome},
    session,
};
use crate::clients::Client;
use crate::oidc::flow::{self, Pending};

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

/// The home page: what Sésame is and where to go; people arrive at login from an
/// application.
pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let locale = request::locale(&headers, None);
    html_page(&state, locale, "home.html", json!({"issuer": state.config.issuer()}), StatusCode::OK)
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<LoginQuery>,
) -> Response {
    let now = state.clock.now();
    let Some(tx) = query.tx else {
        return PageError::expired_login().render(&state, request::locale(&headers, None));
    };
    match flow::load_pending(&state, &jar, &tx, now).await {
        Ok(Some((pending, client))) => {
            let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
            let username = pending.request.login_hint.clone().unwrap_or_default();
            render_form(&state, &jar, locale, &pending, &client, &username, None, StatusCode::OK)
        }
        Ok(None) => PageError::expired_login().render(&state, request::locale(&headers, None)),
        Err(error) => PageError::from(error).render(&state, request::locale(&headers, None)),
    }
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
    let token = csrf::browser_id(jar).map(|id| csrf::token(&state.csrf_key, &id)).unwrap_or_default();
    let context = json!({
        "tx": pending.id,
        "csrf_token": token,
        "username": username,
        "client_name": client.name,
        "error": error,
    });
    html_page(state, locale, "login.html", context, status)
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ip: ClientIp,
    Form(form): Form<LoginForm>,
) -> Response {
    let now = state.clock.now();
    let fallback_locale = request::locale(&headers, None);
    if !csrf::verify(&state.csrf_key, &jar, &form.csrf_token) {
        return PageError::new(StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf").render(&state, fallback_locale);
    }
    let (pending, client) = match flow::load_pending(&state, &jar, &form.tx, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return PageError::expired_login().render(&state, fallback_locale),
        Err(error) => return PageError::from(error).render(&state, fallback_locale),
    };
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    if let Some(ip) = &ip.0
        && let Err(wait) = state.limits.login_per_ip.hit(ip, now)
    {
        let message = state.theme.message(locale, "login_rate_limited").replace("{seconds}", &wait.to_string());
        return render_form(
            &state,
            &jar,
            locale,
            &pending,
            &client,
            &form.username,
            Some(message),
            StatusCode::TOO_MANY_REQUESTS,
        );
    }
    if form.username.trim().is_empty() || form.password.is_empty() {
        let message = state.theme.message(locale, "login_missing_fields");
        return render_form(
            &state,
            &jar,
            locale,
            &pending,
            &client,
            &form.username,
            Some(message),
            StatusCode::BAD_REQUEST,
        );
    }
    let outcome = password_login::verify_password(
        &state.db,
        &state.passwords,
        &state.config.login,
        &form.username,
        &form.password,
        now,
    )
    .await;
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    let refuse = |message_key: &str, event: &'static str, account_id: Option<String>, status: StatusCode| {
        let state = state.clone();
        let jar = jar.clone();
        let message = state.theme.message(locale, message_key);
        let ip = ip.0.clone();
        let client_id = client.client_id.clone();
        let pending = pending.clone();
        let client = client.clone();
        let username = form.username.clone();
        async move {
            audit::record(
                &state.db,
                now,
                AuditEvent {
                    event,
                    account_id: account_id.as_deref(),
                    client_id: Some(&client_id),
                    ip: ip.as_deref(),
                    ..Default::default()
                },
            )
            .await;
            render_form(&state, &jar, locale, &pending, &client, &username, Some(message), status)
        }
    };
    let account = match outcome {
        LoginOutcome::Success(account) => *account,
        LoginOutcome::WrongCredentials { account_id } => {
            return refuse("login_wrong_credentials", "login.failure", account_id, StatusCode::UNAUTHORIZED).await;
        }
        LoginOutcome::Locked { account_id, retry_after } => {
            let minutes = (retry_after + 59) / 60;
            let message = state.theme.message(locale, "login_locked").replace("{minutes}", &minutes.to_string());
            audit::record(
                &state.db,
                now,
                AuditEvent {
                    event: "login.locked",
                    account_id: Some(&account_id),
                    client_id: Some(&client.client_id),
                    ip: ip.0.as_deref(),
                    ..Default::default()
                },
            )
            .await;
            return render_form(
                &state,
                &jar,
                locale,
                &pending,
                &client,
                &form.username,
                Some(message),
                StatusCode::TOO_MANY_REQUESTS,
            );
        }
        LoginOutcome::Archived { account_id } => {
            return refuse("login_archived", "login.archived", Some(account_id), StatusCode::FORBIDDEN).await;
        }
    };
    match flow::take_pending(&state, &pending.id).await {
        Ok(true) => {}
        Ok(false) => return PageError::expired_login().render(&state, locale),
        Err(error) => return PageError::from(error).render(&state, locale),
    }
    // A login replaces the browser's previous session (prompt=login, max_age, another user).
    if let Some(previous) = jar.get(&state.config.session.cookie_name)
        && let Err(error) = session::delete(&state.db, &crate::crypto::token_hash(previous.value())).await
    {
        return PageError::from(error).render(&state, locale);
    }
    let (token, session) =
        match session::create(&state.db, &account.id, &["pwd"], acr::PASSWORD, now, &state.config.session).await {
            Ok(created) => created,
            Err(error) => return PageError::from(error).render(&state, locale),
        };
    audit::record(
        &state.db,
        now,
        AuditEvent {
            event: "login.success",
            account_id: Some(&account.id),
            client_id: Some(&client.client_id),
            ip: ip.0.as_deref(),
            ..Default::default()
        },
    )
    .await;
    let jar = jar.add(cookies::build(&state.config.session.cookie_name, token, state.config.secure_cookies(), None));
    flow::proceed(&state, jar, &headers, client, pending.request, session, account, false, now).await
}
