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
use axum_extra::extract::{CookieJar, cookie::Cookie};
use serde::Deserialize;

use crate::admin_api::{self, Admin};
use crate::app::AppState;
use crate::clients::{self, ClientInput};
use crate::crypto;
use crate::domain::DomainError;
use crate::web::{cookies, page_error::PageError, request};

pub const CONSOLE_CLIENT_ID: &str = "sesame-console";
const TOKEN_COOKIE: &str = "sesame_console";
const LOGIN_COOKIE: &str = "sesame_console_login";

fn redirect_uri(state: &AppState) -> String {
    format!("{}/admin/callback", state.config.issuer())
}

/// Registers (or updates) the console's client for this issuer; run at every start.
pub async fn ensure_client(state: &AppState) -> Result<(), DomainError> {
    let input = ClientInput {
        client_id: CONSOLE_CLIENT_ID.into(),
        name: Some("Sésame — gestion des comptes".into()),
        redirect_uris: vec![redirect_uri(state)],
        grant_types: vec!["authorization_code".into()],
        scopes: vec!["profile".into(), admin_api::SCOPE.into()],
        token_endpoint_auth_method: Some("none".into()),
        first_party: true,
        ..Default::default()
    };
    clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await?;
    Ok(())
}

/// The administrator of a console page; anyone else is sent to sign in.
pub struct ConsoleAdmin(pub Admin);

impl FromRequestParts<AppState> for ConsoleAdmin {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = jar.get(TOKEN_COOKIE).map(|c| c.value().to_string()) else {
            return Err(Redirect::to("/admin/login").into_response());
        };
        match admin_api::authorize(state, &token).await {
            Ok(admin) => Ok(ConsoleAdmin(admin)),
            Err(error) if error.status == StatusCode::UNAUTHORIZED => Err(Redirect::to("/admin/login").into_response()),
            Err(_) => Err(not_an_administrator(state, &parts.headers)),
        }
    }
}

fn not_an_administrator(state: &AppState, headers: &axum::http::HeaderMap) -> Response {
    PageError::new(StatusCode::FORBIDDEN, "console_forbidden_title", "console_forbidden")
        .render(state, request::locale(headers, None))
}

pub async fn login(State(state): State<AppState>, jar: CookieJar) -> Response {
    let login_state = crypto::random_id();
    let verifier = crypto::random_token();
    let nonce = crypto::random_id();
    let mut url = match url::Url::parse(&format!("{}/authorize", state.config.issuer())) {
        Ok(url) => url,
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    };
    url.query_pairs_mut()
        .append_pair("client_id", CONSOLE_CLIENT_ID)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("response_type", "code")
        .append_pair("scope", &format!("openid profile {}", admin_api::SCOPE))
        .append_pair("state", &login_state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &crypto::pkce_s256(&verifier))
        .append_pair("code_challenge_method", "S256");
    let pending =
        cookies::build(LOGIN_COOKIE, format!("{login_state}.{verifier}"), state.config.secure_cookies(), Some(600));
    (jar.add(pending), Redirect::to(url.as_str())).into_response()
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
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
    if let Some(error) = query.error {
        return failed(format!("{error}: {}", query.error_description.unwrap_or_default())).render(&state, locale);
    }
    let pending = jar.get(LOGIN_COOKIE).map(|c| c.value().to_string()).unwrap_or_default();
    let Some((expected_state, verifier)) = pending.split_once('.') else {
        return failed("the sign-in was not started here or took too long; start again".into()).render(&state, locale);
    };
    let (Some(code), Some(returned_state)) = (query.code, query.state) else {
        return failed("the answer has no code".into()).render(&state, locale);
    };
    if !crypto::constant_time_eq(expected_state.as_bytes(), returned_state.as_bytes()) {
        return failed("the answer does not match the sign-in started in this browser".into()).render(&state, locale);
    }
    let client = match clients::find(&state.db, CONSOLE_CLIENT_ID).await {
        Ok(Some(client)) => client,
        _ => return PageError::internal().render(&state, locale),
    };
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", &code)
        .append_pair("redirect_uri", &redirect_uri(&state))
        .append_pair("code_verifier", verifier)
        .finish();
    let tokens = match crate::oidc::token::redeem_code_in_process(&state, &client, &form).await {
        Ok(tokens) => tokens,
        Err(error) => return failed(error.description).render(&state, locale),
    };
    let Some(token) = tokens["access_token"].as_str() else { return PageError::internal().render(&state, locale) };
    if admin_api::authorize(&state, token).await.is_err() {
        return not_an_administrator(&state, &headers);
    }
    let mut session = cookies::build(
        TOKEN_COOKIE,
        token.to_string(),
        state.config.secure_cookies(),
        Some(state.config.tokens.access_token_ttl),
    );
    session.set_path("/admin");
    let jar = jar.remove(Cookie::build(LOGIN_COOKIE).path("/")).add(session);
    (jar, Redirect::to("/admin/accounts")).into_response()
}
