//! The login's edge: runs the transitions of `login::flow` for a browser (its cookies,
//! its language) and turns their outcomes into responses — a redirect to the next page,
//! the code or an error sent to the client, a refusal page, new session cookies.

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde_json::json;

use super::{
    client_response, csrf,
    page_error::{Back, PageError},
    request,
};
use crate::accounts::Account;
use crate::auth::{
    known_browser::{self, KnownBrowser},
    session::Session,
};
use crate::clients::{Client, redirect};
use crate::cookies;
use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::login::{self, AuthorizationRequest, Outcome, Pending, Refusal};
use crate::state::AppState;

/// What the login's transitions need of the application state.
pub fn context(state: &AppState, now: i64) -> login::Context<'_> {
    login::Context {
        db: &state.db,
        tokens: &state.config.tokens,
        two_factor: &state.config.two_factor,
        session: &state.config.session,
        secrets: &state.secrets,
        clients: &state.client_cache,
        now,
    }
}

/// The browser's session cookie, if it has one.
fn session_token(state: &AppState, jar: &CookieJar) -> Option<String> {
    cookies::get(jar, &state.config.session.cookie_name, state.config.secure_cookies())
}

/// The session behind the cookie and its account, if both are still valid.
pub async fn current_session(
    state: &AppState,
    jar: &CookieJar,
    now: i64,
) -> Result<Option<(Session, Account)>, DomainError> {
    match session_token(state, jar) {
        Some(token) => context(state, now).session_of(&token).await,
        None => Ok(None),
    }
}

/// The pending login `tx` of this browser, with its client, if it is still there.
pub async fn load_pending(
    state: &AppState,
    jar: &CookieJar,
    tx: &str,
    now: i64,
) -> Result<Option<(Pending, Client)>, DomainError> {
    let Some(browser) = csrf::browser_id(state, jar) else {
        return Ok(None);
    };
    context(state, now).load(&csrf::browser_hash(&browser), tx).await
}

/// The "sign-in expired" page of the login `tx`, with the way back to the application
/// that started it while that is known (a sealed login page always says).
pub async fn expired(state: &AppState, tx: &str) -> PageError {
    PageError::expired_login().back_to(way_back(state, tx).await)
}

/// The application behind the login `tx`, whatever became of the login. Nothing when
/// it cannot be read: the page is a dead end already, the link only helps.
async fn way_back(state: &AppState, tx: &str) -> Option<Back> {
    let (client_id, asked) = login::pending::started_by(&state.db, &state.secrets, tx).await.ok()??;
    let client = state.client_cache.get(&state.db, &client_id, state.clock.now()).await.ok()??;
    // A login used up keeps only its client: its first redirect URI shows the way, as it
    // does when the one asked for is no longer registered.
    let asked = asked.filter(|uri| client.has_redirect_uri(uri));
    let redirect_uri = asked.or_else(|| client.redirect_uris.first().cloned()).unwrap_or_default();
    Some(back_of(&client, &redirect_uri))
}

/// The way back to `client`, which asked for `redirect_uri`.
pub fn back_of(client: &Client, redirect_uri: &str) -> Back {
    Back { application: client.name.clone(), url: redirect::home_of(client.application_type, redirect_uri) }
}

/// A validated authorization request from the authorization endpoint.
pub async fn start(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    client: Client,
    request: AuthorizationRequest,
    now: i64,
) -> Response {
    let locale = request::locale(headers, request.ui_locales.as_deref());
    let current = match current_session(state, &jar, now).await {
        Ok(current) => current,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let (jar, browser) = csrf::ensure_browser(state, jar);
    let cx = context(state, now);
    let outcome = login::flow::start(&cx, &csrf::browser_hash(&browser), current, client, request).await;
    respond(state, jar, locale, outcome)
}

/// The password was right.
pub async fn after_password(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    pending: Pending,
    client: Client,
    account: Account,
    now: i64,
) -> Response {
    let locale = request::locale(headers, pending.request.ui_locales.as_deref());
    let previous = session_token(state, &jar);
    let outcome =
        login::flow::after_password(&context(state, now), previous.as_deref(), pending, client, account).await;
    respond(state, jar, locale, outcome)
}

/// The user is authenticated as `amr` and `acr` say: a new session, then the client.
#[allow(clippy::too_many_arguments)]
pub async fn complete_login(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    pending: Pending,
    client: Client,
    account: Account,
    amr: &[&str],
    acr: &str,
    now: i64,
) -> Response {
    let locale = request::locale(headers, pending.request.ui_locales.as_deref());
    let previous = session_token(state, &jar);
    let cx = context(state, now);
    let outcome = login::flow::complete(&cx, previous.as_deref(), pending, client, account, amr, acr).await;
    respond(state, jar, locale, outcome)
}

/// Turns a transition's outcome into the browser's response (with `jar`'s cookies).
pub fn respond(state: &AppState, jar: CookieJar, locale: Locale, outcome: Result<Outcome, DomainError>) -> Response {
    let response = match outcome {
        Ok(Outcome::Next(url)) => Redirect::to(&url).into_response(),
        Ok(Outcome::Code { request, code }) => {
            let mut params = vec![("code", code)];
            if let Some(value) = request.state {
                params.push(("state", value));
            }
            client_response::to_client(state, &request.redirect_uri, request.response_mode, params)
        }
        Ok(Outcome::ToClient(error)) => client_response::send_error(state, error),
        Ok(Outcome::Refused(refusal)) => refusal_page(state, locale, refusal),
        Ok(Outcome::Expired) => PageError::expired_login().render(state, locale),
        Ok(Outcome::SessionOpened { token, account_id, then }) => {
            let jar = with_session(state, jar, token, &account_id);
            return respond(state, jar, locale, then.map(|then| *then));
        }
        Err(error) => PageError::from(error).render(state, locale),
    };
    (jar, response).into_response()
}

/// The cookies of a new session, and of this browser now known for the account (its
/// password attempts get a budget of their own, see `auth::known_browser`).
fn with_session(state: &AppState, jar: CookieJar, token: String, account_id: &str) -> CookieJar {
    let secure = state.config.secure_cookies();
    let session = cookies::build(&state.config.session.cookie_name, token, secure, None);
    let known = KnownBrowser::from_jar(&state.known_browser_key, &jar, secure).remember(account_id);
    let known = cookies::build(
        known_browser::COOKIE,
        known.to_cookie(&state.known_browser_key),
        secure,
        Some(known_browser::MAX_AGE),
    );
    jar.add(session).add(known)
}

fn refusal_page(state: &AppState, locale: Locale, refusal: Refusal) -> Response {
    let issuer = state.config.issuer();
    let context = match refusal {
        Refusal::NoAccess { application, back } => json!({
            "title": state.theme.message(locale, "no_access_title"),
            "message": state.theme.message(locale, "no_access"),
            "application": application,
            "back_url": back.back_url(issuer),
        }),
        Refusal::CannotEnroll { reason, back } => json!({
            "title": state.theme.message(locale, "enroll_refused_title"),
            "message": state.theme.message(locale, &format!("reason_{reason}")),
            "back_url": back.back_url(issuer),
        }),
    };
    super::page_error::html_page(state, locale, "error.html", context, StatusCode::FORBIDDEN)
}

/// Moves a pending login to `stage` (see `login::Context::advance`).
pub async fn advance(
    state: &AppState,
    pending: &Pending,
    stage: login::Stage,
    now: i64,
) -> Result<Option<Pending>, DomainError> {
    context(state, now).advance(pending, stage).await
}
