//! Signing in to the console through Sésame: an authorization code flow with PKCE by the
//! built-in public client `sesame-console`, redeemed in process. The console then keeps
//! the administrator's access token in an HttpOnly cookie and checks it at every page
//! (valid, `sesame:admin`, still an administrator); when it expires, single sign-on
//! makes the next sign-in silent.

use axum::{
    extract::{FromRequestParts, Query, State},
    http::{StatusCode, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;

use crate::admin_api::{self, Admin};
use crate::domain::DomainError;
use crate::state::AppState;
use crate::web::{
    cookies,
    page_error::PageError,
    request,
    sign_in::{CallbackQuery, SignIn},
};

pub const CONSOLE_CLIENT_ID: &str = "sesame-console";
const TOKEN_COOKIE: &str = "sesame_console";
const LOGIN_COOKIE: &str = "sesame_console_login";
const SCOPE: &str = "openid profile sesame:admin";

fn redirect_uri(state: &AppState) -> String {
    format!("{}/admin/callback", state.config.issuer())
}

/// Registers (or updates) the console's client for this issuer; run at every start.
pub async fn ensure_client(state: &AppState) -> Result<(), DomainError> {
    sign_in(state).register(state, "Sésame — gestion des comptes", &["profile", admin_api::SCOPE]).await
}

/// The administrator of a console page; anyone else is sent to sign in.
pub struct ConsoleAdmin(pub Admin);

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = cookies::get(&jar, TOKEN_COOKIE, state.config.secure_cookies()) else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        match admin_api::authorize(state, &token).await {
            Ok(admin) => Ok(ConsoleAdmin(admin)),
            // Expired, or a sign-in without the second factor: sign in again (with it).
            Err(error)
                if error.status == StatusCode::UNAUTHORIZED || error.reason == Some("second_factor_required") =>
            {
                Err(Redirect::to("/admin/login").into_response())
            }
            Err(_) => Err(not_an_administrator(state, &parts.headers)),
        }
    }
}

fn not_an_administrator(state: &AppState, headers: &axum::http::HeaderMap) -> Response {
    PageError::new(StatusCode::FORBIDDEN, "console_forbidden_title", "console_forbidden")
        .render(state, request::locale(headers, None))
}

fn sign_in(state: &AppState) -> SignIn<'static> {
    SignIn { client_id: CONSOLE_CLIENT_ID, redirect_uri: redirect_uri(state), scope: SCOPE, cookie: LOGIN_COOKIE }
}

pub async fn login(State(state): State<AppState>, jar: CookieJar) -> Response {
    sign_in(&state).start(&state, jar, &[])
}

pub async fn callback(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: axum::http::HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let failed = |detail: String| {
        PageError::new(StatusCode::BAD_REQUEST, "console_login_failed_title", "console_login_failed")
            .with_detail(detail)
    };
    let (jar, tokens) = match sign_in(&state).finish(&state, jar, query, failed).await {
        Ok(done) => done,
        Err(error) => return error.render(&state, locale),
    };
    let Some(token) = tokens["access_token"].as_str() else { return PageError::internal().render(&state, locale) };
    if admin_api::authorize(&state, token).await.is_err() {
        return not_an_administrator(&state, &headers);
    }
    // Path=/ (not /admin): a `__Host-` cookie must have it.
    let session = cookies::build(
        TOKEN_COOKIE,
        token.to_string(),
        state.config.secure_cookies(),
        Some(state.config.tokens.access_token_ttl),
    );
    (jar.add(session), Redirect::to("/admin/accounts")).into_response()
}
