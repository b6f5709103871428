//! The consent page: a client that is not first-party asks the user to share their
//! identity for the requested scopes.

use axum::{
    Form,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::json;

use super::login_flow as flow;
use super::{
    csrf,
    page_error::{PageError, html_page_to},
    request,
};
use crate::app::AppState;
use crate::login::{self, Pending, Stage};

#[derive(Deserialize)]
pub struct ConsentQuery {
    tx: Option<String>,
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    tx: String,
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    decision: String,
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<ConsentQuery>,
) -> Response {
    let now = state.clock.now();
    let fallback = request::locale(&headers, None);
    let Some(tx) = query.tx else {
        return PageError::expired_login().render(&state, fallback);
    };
    let (pending, client) = match load(&state, &jar, &tx, now).await {
        Ok(found) => found,
        Err(error) => return error.render(&state, fallback),
    };
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let scopes: Vec<String> =
        pending.request.scopes.iter().map(|s| state.theme.message(locale, &format!("scope_{s}"))).collect();
    let token = csrf::token(&state, &jar);
    let context = json!({"tx": pending.id, "csrf_token": token, "client_name": client.name, "scopes": scopes});
    html_page_to(&state, locale, "consent.html", context, StatusCode::OK, Some(&pending.request.redirect_uri))
}

/// The pending request, which must be waiting for consent in the browser's session.
async fn load(
    state: &AppState,
    jar: &CookieJar,
    tx: &str,
    now: i64,
) -> Result<(Pending, crate::clients::Client), PageError> {
    let (pending, client) = flow::load_pending(state, jar, tx, now).await?.ok_or_else(PageError::expired_login)?;
    let Stage::Consent { session_id } = &pending.stage else {
        return Err(PageError::expired_login());
    };
    let current = flow::current_session(state, jar, now).await?;
    if current.as_ref().is_none_or(|(session, _)| &session.id != session_id) {
        return Err(PageError::expired_login());
    }
    Ok((pending, client))
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Form(form): Form<ConsentForm>,
) -> Response {
    let now = state.clock.now();
    let fallback = request::locale(&headers, None);
    if !csrf::verify(&state, &jar, &form.csrf_token) {
        return PageError::new(StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf").render(&state, fallback);
    }
    let (pending, client) = match load(&state, &jar, &form.tx, now).await {
        Ok(found) => found,
        Err(error) => return error.render(&state, fallback),
    };
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let current = match flow::current_session(&state, &jar, now).await {
        Ok(current) => current,
        Err(error) => return PageError::from(error).render(&state, fallback),
    };
    let allow = form.decision == "allow";
    let outcome = login::flow::answer_consent(&flow::context(&state, now), pending, client, current, allow).await;
    flow::respond(&state, jar, locale, outcome)
}
