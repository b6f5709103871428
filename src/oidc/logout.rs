//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the end of a
//! session: the session row goes, its non-offline refresh tokens and its access tokens
//! are revoked, and every client that took part is told over the back channel and,
//! through the logout page, over the front channel.
//!
//! The request's validation is here; the endpoint is a page (`web::logout`). The user is
//! sent back only to a `post_logout_redirect_uri` registered for the client.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::authorize::PageRefusal;
use super::params::Params;
use super::token::{jwt as tokens, refresh_store as refresh};
use super::{backchannel, frontchannel};
use crate::audit::{self, AuditEvent};
use crate::auth::session::{self, Session};
use crate::clients::{self, Client};
use crate::domain::DomainError;
use crate::revocations::{self, Scope};
use crate::state::AppState;
use crate::storage::entities::session_client;

/// Ends a session everywhere: row, refresh tokens bound to it, its access tokens, what
/// it granted and was not collected yet (codes, approved devices), and the clients that
/// took part (back-channel logout). Returns the front-channel logout iframes the page
/// must load for those clients.
pub async fn end_session(state: &AppState, ended: &Session, now: i64) -> Result<Vec<String>, DomainError> {
    session::delete(&state.db, &ended.id).await?;
    forget_uncollected_grants(state, &ended.id, now).await?;
    crate::metrics::Metrics::count(&state.metrics.logouts);
    refresh::revoke_for_session(state, &ended.id).await?;
    revocations::revoke(&state.db, Scope::Session(&ended.sid), now + state.config.tokens.access_token_ttl).await?;
    let clients = take_participants(state, &ended.id).await?;
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
    let frames = frontchannel::frames(state.config.issuer(), &ended.sid, &clients);
    backchannel::notify(state, clients, &ended.account_id, &ended.sid, now).await;
    Ok(frames)
}

/// Authorization codes not yet redeemed and devices approved but not yet polled, of a
/// session that ended: they would otherwise give tokens afterwards.
async fn forget_uncollected_grants(state: &AppState, session_id: &str, now: i64) -> Result<(), DomainError> {
    use crate::storage::entities::{authorization_code, device_authorization};
    use sea_orm::sea_query::Expr;
    authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
        .filter(authorization_code::Column::SessionId.eq(session_id))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(&state.db)
        .await?;
    device_authorization::Entity::update_many()
        .col_expr(device_authorization::Column::Status, Expr::value("denied"))
        .filter(device_authorization::Column::SessionId.eq(session_id))
        .filter(device_authorization::Column::Status.eq("approved"))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// The clients that took part in a session, forgotten with it.
async fn take_participants(state: &AppState, session_id: &str) -> Result<Vec<Client>, DomainError> {
    let participants =
        session_client::Entity::find().filter(session_client::Column::SessionId.eq(session_id)).all(&state.db).await?;
    session_client::Entity::delete_many()
        .filter(session_client::Column::SessionId.eq(session_id))
        .exec(&state.db)
        .await?;
    let mut clients = Vec::new();
    for participant in participants {
        if let Some(client) = clients::find(&state.db, &participant.client_id).await? {
            clients.push(client);
        }
    }
    Ok(clients)
}

/// Signs an account out everywhere: every session ends, every refresh token is revoked
/// (offline ones included, so desktop applications must log in again at their next
/// refresh), the access tokens of both are listed as revoked, and every client that
/// took part in a session and registered a back-channel logout URI is told. Returns
/// how many sessions ended.
pub async fn sign_out_everywhere(state: &AppState, account_id: &str, now: i64) -> Result<usize, DomainError> {
    let sessions = session::list_for_account(&state.db, account_id).await?;
    let mut told = Vec::new();
    for ended in &sessions {
        told.push((ended.sid.clone(), take_participants(state, &ended.id).await?));
    }
    crate::accounts::end_sessions_and_grants(&state.db, account_id, now).await?;
    for (sid, clients) in told {
        crate::metrics::Metrics::count(&state.metrics.logouts);
        backchannel::notify(state, clients, account_id, &sid, now).await;
    }
    Ok(sessions.len())
}

/// A validated logout request: where to send the user afterwards, and whether the
/// request proved it comes from the current session's application.
pub struct LogoutRequest {
    /// The registered `post_logout_redirect_uri` and the `state` to give back.
    pub redirect: Option<(String, Option<String>)>,
    pub hinted_sid: Option<String>,
    pub hinted_sub: Option<String>,
    pub client: Option<Client>,
}

impl LogoutRequest {
    /// Whether the request proved it comes from this session's application: an
    /// `id_token_hint` of the session (by `sid`, or by `sub` for a hint without one).
    /// The hint's `sub` is the one its client knows the account by (pairwise or not).
    pub fn proves(&self, pairwise_key: &[u8; 32], session: &Session) -> bool {
        let expected = || match &self.client {
            Some(client) => super::subject::for_client(pairwise_key, client, &session.account_id),
            None => session.account_id.clone(),
        };
        self.hinted_sid.as_deref() == Some(session.sid.as_str())
            || (self.hinted_sid.is_none() && self.hinted_sub.as_ref().is_some_and(|sub| *sub == expected()))
    }
}

pub async fn validate(state: &AppState, params: &Params) -> Result<LogoutRequest, PageRefusal> {
    let bad = |detail: &str| PageRefusal::BadRequest(detail.to_string());
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
                return Err(PageRefusal::UnregisteredRedirectUri(format!(
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
