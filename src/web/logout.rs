//! The end-session endpoint (RP-Initiated Logout 1.0), a page: `oidc::logout` validates
//! the request and ends the session.
//!
//! A request that proves where it comes from (an `id_token_hint` of the current
//! session) logs out at once; any other asks the user to confirm, so that a link on a
//! hostile page cannot log people out.
//!
//! When clients of the ended session registered a front-channel logout URI, the last
//! page loads them in iframes before going on to the application (Front-Channel Logout
//! 1.0): at once with scripts once every frame loaded (or after a short wait), else by a
//! meta refresh and a visible link.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::extract::EncodedParams;
use super::login_flow as flow;
use super::{
    csrf,
    flash::{self, Flash},
    i18n::Locale,
    page_error::{PageError, html_page, html_page_framing, html_page_to},
    request,
};
use crate::oidc::logout;
use crate::oidc::params::Params;
use crate::state::AppState;

/// `GET` or `POST` of the end-session endpoint.
pub async fn handle(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    EncodedParams(encoded): EncodedParams,
) -> Response {
    let now = state.clock.now();
    let params = Params::parse(&encoded).unwrap_or_default();
    let locale = request::locale(&headers, params.get("ui_locales"));
    let request = match logout::validate(&state, &params).await {
        Ok(request) => request,
        Err(refusal) => return PageError::from(refusal).render(&state, locale),
    };
    let current = match flow::current_session(&state, &jar, now).await {
        Ok(current) => current,
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    let Some((session, _account)) = current else {
        return finish(&state, jar, &headers, locale, request.redirect, Vec::new());
    };
    if request.proves(&state.pairwise_key, &session) {
        return match logout::end_session(&state, &session, now).await {
            Ok(frames) => finish(&state, jar, &headers, locale, request.redirect, frames),
            Err(error) => PageError::from(error).render(&state, locale),
        };
    }
    let (jar, browser) = csrf::ensure_browser(&state, jar);
    let (redirect_uri, redirect_state) = request.redirect.clone().unzip();
    let context = json!({
        "csrf_token": csrf::token_for(&state, &browser),
        "client_id": request.client.as_ref().map(|c| c.client_id.clone()),
        "client_name": request.client.as_ref().map(|c| c.name.clone()),
        "post_logout_redirect_uri": redirect_uri,
        "state": redirect_state.flatten(),
    });
    let page = html_page_to(&state, locale, "logout.html", context, StatusCode::OK, redirect_uri.as_deref());
    (jar, page).into_response()
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf_token: String,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

/// The user confirmed on the logout page.
pub async fn confirm(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<ConfirmForm>,
) -> Response {
    let now = state.clock.now();
    let locale = request::locale(&headers, None);
    if !csrf::verify(&state, &jar, &form.csrf_token) {
        return PageError::new(StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf").render(&state, locale);
    }
    let mut params = vec![];
    for (name, value) in [
        ("client_id", &form.client_id),
        ("post_logout_redirect_uri", &form.post_logout_redirect_uri),
        ("state", &form.state),
    ] {
        if let Some(value) = value.as_ref().filter(|v| !v.is_empty()) {
            params
                .push(format!("{name}={}", url::form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>()));
        }
    }
    let request = match logout::validate(&state, &Params::parse(&params.join("&")).unwrap_or_default()).await {
        Ok(request) => request,
        Err(refusal) => return PageError::from(refusal).render(&state, locale),
    };
    let frames = match flow::current_session(&state, &jar, now).await {
        Ok(Some((session, _))) => match logout::end_session(&state, &session, now).await {
            Ok(frames) => frames,
            Err(error) => return PageError::from(error).render(&state, locale),
        },
        Ok(None) => Vec::new(),
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    finish(&state, jar, &headers, locale, request.redirect, frames)
}

/// Forgets the session cookie, loads the applications' front-channel logout `frames`
/// if there are any, then goes back to the application or says it is done.
fn finish(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    redirect: Option<(String, Option<String>)>,
    frames: Vec<String>,
) -> Response {
    let jar = jar.remove(crate::cookies::removal(&state.config.session.cookie_name, state.config.secure_cookies()));
    let target =
        redirect.and_then(|(uri, value)| url::Url::parse(&uri).ok().map(|url| (url, value))).map(|(mut url, value)| {
            if let Some(value) = value {
                url.query_pairs_mut().append_pair("state", &value);
            }
            url.to_string()
        });
    if !frames.is_empty() {
        // A browser goes on to the "signed out" page, which reloads without a resend.
        let target = target
            .or_else(|| flash::is_navigation(headers).then(|| format!("{}{DONE_PATH}", state.config.base_path())));
        let context = json!({"frames": frames, "continue_uri": target});
        return (jar, html_page_framing(state, locale, "frontchannel_logout.html", context, &frames)).into_response();
    }
    match target {
        Some(target) => (jar, Redirect::to(&target)).into_response(),
        None => signed_out(state, jar, headers, locale, false),
    }
}

/// The page after a sign-out, by `GET`: a browser is led here by a redirect, so that
/// reloading it signs nothing out again.
pub const DONE_PATH: &str = "/logout/done";
const FLASH_SCOPE: &str = "logout";

/// Says the browser is signed out (of every session of the account: `everywhere`).
pub fn signed_out(state: &AppState, jar: CookieJar, headers: &HeaderMap, locale: Locale, everywhere: bool) -> Response {
    if flash::is_navigation(headers) {
        return flash::redirect(state, jar, FLASH_SCOPE, DONE_PATH, &Flash::default().with("everywhere", everywhere));
    }
    (jar, html_page(state, locale, "logged_out.html", json!({"everywhere": everywhere}), StatusCode::OK))
        .into_response()
}

/// `GET /logout/done`.
pub async fn done(State(state): State<AppState>, jar: CookieJar, headers: HeaderMap) -> Response {
    let locale = request::locale(&headers, None);
    let (jar, flash) = flash::take(&state, jar, FLASH_SCOPE);
    let everywhere = flash.is_some_and(|flash| flash.flag("everywhere"));
    (jar, html_page(&state, locale, "logged_out.html", json!({"everywhere": everywhere}), StatusCode::OK))
        .into_response()
}
