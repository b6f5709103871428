//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the end of a
//! session: the session row goes, its non-offline refresh tokens and its access tokens
//! are revoked, and every client that took part is told over the back channel.
//!
//! A request that proves where it comes from (an `id_token_hint` of the current
//! session) logs out at once; any other asks the user to confirm, so that a link on a
//! hostile page cannot log people out. The user is sent back only to a
//! `post_logout_redirect_uri` registered for the client, never anywhere else.

use axum::{
    Form,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use serde_json::json;

use super::params::{EncodedParams, Params};
use super::{backchannel, refresh, tokens};
use crate::audit::{self, AuditEvent};
use crate::auth::session::{self, Session};
use crate::clients::{self, Client};
use crate::domain::DomainError;
use crate::revocations::{self, Scope};
use crate::state::AppState;
use crate::storage::entities::session_client;
use crate::web::login_flow as flow;
use crate::web::{
    csrf,
    page_error::{PageError, html_page, html_page_to},
    request,
};

/// Ends a session everywhere: row, refresh tokens bound to it, its access tokens, and
/// the clients that took part (back-channel logout).
pub async fn end_session(state: &AppState, ended: &Session, now: i64) -> Result<(), DomainError> {
    session::delete(&state.db, &ended.id).await?;
    crate::metrics::Metrics::count(&state.metrics.logouts);
    refresh::revoke_for_session(state, &ended.id).await?;
    revocations::revoke(&state.db, Scope::Session(&ended.sid), now + state.config.tokens.access_token_ttl).await?;
    let participants =
        session_client::Entity::find().filter(session_client::Column::SessionId.eq(&ended.id)).all(&state.db).await?;
    session_client::Entity::delete_many()
        .filter(session_client::Column::SessionId.eq(&ended.id))
        .exec(&state.db)
        .await?;
    let mut clients = Vec::new();
    for participant in participants {
        if let Some(client) = clients::find(&state.db, &participant.client_id).await? {
            clients.push(client);
        }
    }
    audit::record(
        &state.db,
        now,
        AuditEvent {
            event: "logout",
            account_id: Some(&ended.account_id),
            detail: Some(json!({"clients": clients.iter().map(|c| &c.client_id).collect::<Vec<_>>()})),
            ..Default::default()
        },
    )
    .await;
    backchannel::notify(state, clients, &ended.account_id, &ended.sid, now).await;
    Ok(())
}

/// A validated logout request: where to send the user afterwards, and whether the
/// request proved it comes from the current session's application.
struct LogoutRequest {
    redirect: Option<(String, Option<String>)>,
    hinted_sid: Option<String>,
    hinted_sub: Option<String>,
    client: Option<Client>,
}

async fn validate(state: &AppState, params: &Params) -> Result<LogoutRequest, PageError> {
    let bad = |detail: &str| PageError::bad_request(detail.to_string());
    let hint = match params.get("id_token_hint") {
        Some(hint) => Some(
            tokens::claims_of_id_token_hint(state, hint, None)
                .await
                .ok_or_else(|| bad("id_token_hint is not an ID token issued by this provider"))?,
        ),
        None => None,
    };
    let hinted_client = hint.as_ref().and_then(tokens::audience).map(str::to_string);
    let client_id = match (params.get("client_id"), hinted_client) {
        (Some(given), Some(hinted)) if given != hinted => {
            return Err(bad("client_id differs from the audience of id_token_hint"));
        }
        (Some(given), _) => Some(given.to_string()),
        (None, hinted) => hinted,
    };
    let client = match &client_id {
        Some(id) => Some(clients::find(&state.db, id).await?.ok_or_else(|| bad("unknown client_id"))?),
        None => None,
    };
    let redirect = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = client.as_ref().ok_or_else(|| {
                bad("post_logout_redirect_uri needs id_token_hint or client_id to know which application asks")
            })?;
            if !client.post_logout_redirect_uris.iter().any(|registered| registered == uri) {
                return Err(PageError::new(StatusCode::BAD_REQUEST, "error_redirect_uri_title", "error_redirect_uri")
                    .with_detail(format!(
                        "post_logout_redirect_uri `{uri}` is not registered for `{}`",
                        client.client_id
                    )));
            }
            Some((uri.to_string(), params.owned("state")))
        }
    };
    let text = |name: &str| hint.as_ref().and_then(|h| h[name].as_str()).map(str::to_string);
    Ok(LogoutRequest { redirect, hinted_sid: text("sid"), hinted_sub: text("sub"), client })
}

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
    let request = match validate(&state, &params).await {
        Ok(request) => request,
        Err(error) => return error.render(&state, locale),
    };
    let current = match flow::current_session(&state, &jar, now).await {
        Ok(current) => current,
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    let Some((session, _account)) = current else {
        return finish(&state, jar, locale, request.redirect);
    };
    let proven = request.hinted_sid.as_deref() == Some(session.sid.as_str())
        || (request.hinted_sid.is_none() && request.hinted_sub.as_deref() == Some(session.account_id.as_str()));
    if proven {
        if let Err(error) = end_session(&state, &session, now).await {
            return PageError::from(error).render(&state, locale);
        }
        return finish(&state, jar, locale, request.redirect);
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
    let request = match validate(&state, &Params::parse(&params.join("&")).unwrap_or_default()).await {
        Ok(request) => request,
        Err(error) => return error.render(&state, locale),
    };
    match flow::current_session(&state, &jar, now).await {
        Ok(Some((session, _))) => {
            if let Err(error) = end_session(&state, &session, now).await {
                return PageError::from(error).render(&state, locale);
            }
        }
        Ok(None) => {}
        Err(error) => return PageError::from(error).render(&state, locale),
    }
    finish(&state, jar, locale, request.redirect)
}

/// Forgets the session cookie, then goes back to the application or says it is done.
fn finish(
    state: &AppState,
    jar: CookieJar,
    locale: crate::web::i18n::Locale,
    redirect: Option<(String, Option<String>)>,
) -> Response {
    let jar =
        jar.remove(crate::web::cookies::removal(&state.config.session.cookie_name, state.config.secure_cookies()));
    match redirect.and_then(|(uri, value)| url::Url::parse(&uri).ok().map(|url| (url, value))) {
        Some((mut url, value)) => {
            if let Some(value) = value {
                url.query_pairs_mut().append_pair("state", &value);
            }
            (jar, Redirect::to(url.as_str())).into_response()
        }
        None => (jar, html_page(state, locale, "logged_out.html", json!({}), StatusCode::OK)).into_response(),
    }
}
