//! The consent page: a client that is not first-party asks the user to share their
//! identity for the requested scopes.

use axum::{
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
    extract::{CsrfForm, CsrfProtected},
    page_error::{PageError, html_page_to},
    request,
};
use crate::login::{self, Pending, Stage};
use crate::state::AppState;

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

impl CsrfProtected for ConsentForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

pub async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    Query(query): Query<ConsentQuery>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let tx = query.tx.ok_or_else(PageError::expired_login)?;
    let (pending, client) = load(&state, &jar, &tx, now).await?;
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let scopes: Vec<String> =
        pending.request.scopes.iter().map(|s| state.theme.message(locale, &format!("scope_{s}"))).collect();
    let token = csrf::token(&state, &jar);
    let context = json!({"tx": pending.id, "csrf_token": token, "client_name": client.name, "scopes": scopes});
    let target = Some(pending.request.redirect_uri.as_str());
    Ok(html_page_to(&state, locale, "consent.html", context, StatusCode::OK, target))
}

/// The pending request, which must be waiting for consent in the browser's session.
async fn load(
    state: &AppState,
    jar: &CookieJar,
    tx: &str,
    now: i64,
) -> Result<(Pending, crate::clients::Client), PageError> {
    let Some((pending, client)) = flow::load_pending(state, jar, tx, now).await? else {
        return Err(flow::expired(state, tx).await);
    };
    let expired = || PageError::expired_login().back_to(Some(flow::back_of(&client, &pending.request.redirect_uri)));
    let Stage::Consent { session_id } = &pending.stage else {
        return Err(expired());
    };
    let current = flow::current_session(state, jar, now).await?;
    if current.as_ref().is_none_or(|(session, _)| &session.id != session_id) {
        return Err(expired());
    }
    Ok((pending, client))
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    CsrfForm(form): CsrfForm<ConsentForm>,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let (pending, client) = load(&state, &jar, &form.tx, now).await?;
    let locale = request::locale(&headers, pending.request.ui_locales.as_deref());
    let current = flow::current_session(&state, &jar, now).await?;
    let allow = form.decision == "allow";
    let outcome = login::flow::answer_consent(&flow::context(&state, now), pending, client, current, allow).await;
    Ok(flow::respond(&state, jar, locale, outcome))
}
