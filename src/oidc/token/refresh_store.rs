//! Refresh tokens (RFC 6749 6, OAuth 2.0 Security BCP 4.14): bound to their client,
//! stored as hashes, rotated at every use. A family shares the grant id of the code it
//! came from; presenting a rotated token again (past a short grace period) is taken for
//! a theft and revokes the whole family and the access tokens of the grant.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::jwt::SessionFacts;
use crate::crypto;
use crate::domain::{DomainError, from_json_text, to_json_text};
use crate::revocations::{self, Scope};
use crate::state::AppState;
use crate::storage::entities::{refresh_token, session};

/// What a new refresh token carries over from its grant.
pub struct NewRefresh<'a> {
    pub grant_id: &'a str,
    pub client_id: &'a str,
    pub account_id: &'a str,
    pub session_id: Option<&'a str>,
    pub offline: bool,
    pub scopes: &'a [String],
    pub facts: &'a SessionFacts,
    /// The grant's `claims` parameter, as JSON.
    pub claims: Option<&'a str>,
    /// The grant's resource (RFC 8707), the `aud` of its access tokens.
    pub resource: Option<&'a str>,
    /// The DPoP key a public client's refresh token is bound to (RFC 9449 5).
    pub dpop_jkt: Option<&'a str>,
    /// End of the family; a new family ends `refresh_token_max_lifetime` from now.
    pub grant_expires_at: Option<i64>,
}

pub async fn issue(state: &AppState, new: &NewRefresh<'_>, now: i64) -> Result<String, DomainError> {
    let tokens = &state.config.tokens;
    let token = crypto::random_token();
    let grant_expires_at = new.grant_expires_at.unwrap_or(now + tokens.refresh_token_max_lifetime);
    refresh_token::ActiveModel {
        id: Set(crypto::random_id()),
        token_hash: Set(crypto::token_hash(&token)),
        grant_id: Set(new.grant_id.to_string()),
        client_id: Set(new.client_id.to_string()),
        account_id: Set(new.account_id.to_string()),
        session_id: Set(new.session_id.map(str::to_string)),
        offline: Set(new.offline),
        scope: Set(new.scopes.join(" ")),
        auth_time: Set(new.facts.auth_time),
        acr: Set(new.facts.acr.clone()),
        amr: Set(to_json_text(&new.facts.amr)),
        sid: Set(new.facts.sid.clone()),
        claims: Set(new.claims.map(str::to_string)),
        resource: Set(new.resource.map(str::to_string)),
        dpop_jkt: Set(new.dpop_jkt.map(str::to_string)),
        created_at: Set(now),
        expires_at: Set((now + tokens.refresh_token_ttl).min(grant_expires_at)),
        grant_expires_at: Set(grant_expires_at),
        rotated_at: Set(None),
        revoked: Set(false),
    }
    .insert(&state.db)
    .await?;
    Ok(token)
}

/// The outcome of presenting a refresh token.
pub enum Redemption {
    /// Valid: the row, now marked rotated; issue its successor.
    Rotated(Box<refresh_token::Model>),
    /// Unknown, expired, revoked, another client's, or its session has ended.
    Invalid,
    /// Already rotated: the family is now revoked.
    Reused,
}

impl Redemption {
    pub fn facts(row: &refresh_token::Model) -> SessionFacts {
        SessionFacts {
            auth_time: row.auth_time,
            acr: row.acr.clone(),
            amr: from_json_text(&row.amr),
            sid: row.sid.clone(),
        }
    }
}

pub async fn redeem(state: &AppState, token: &str, client_id: &str, now: i64) -> Result<Redemption, DomainError> {
    let hash = crypto::token_hash(token);
    let Some(row) =
        refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(&hash)).one(&state.db).await?
    else {
        return Ok(Redemption::Invalid);
    };
    if row.revoked || row.expires_at <= now || row.client_id != client_id || !session_alive(state, &row, now).await? {
        return Ok(Redemption::Invalid);
    }
    // A family revoked by a racing request may hold a token stored a moment after: the
    // revocation list has the grant for as long as its access tokens live.
    if revocations::any_revoked(&state.db, &[Scope::Grant(&row.grant_id)]).await? {
        return Ok(Redemption::Invalid);
    }
    // Mark it rotated atomically: of two redemptions on any nodes, one wins.
    let won = refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::RotatedAt, Expr::value(now))
        .filter(refresh_token::Column::Id.eq(&row.id))
        .filter(refresh_token::Column::RotatedAt.is_null())
        .filter(refresh_token::Column::Revoked.eq(false))
        .exec(&state.db)
        .await?
        .rows_affected
        == 1;
    if won {
        return Ok(Redemption::Rotated(Box::new(row)));
    }
    let rotated_at = refresh_token::Entity::find_by_id(row.id.clone()).one(&state.db).await?.and_then(|r| r.rotated_at);
    // A grace of 0 means none: even within the same second, a second use is a theft.
    let grace = state.config.tokens.refresh_token_reuse_grace;
    if grace > 0 && rotated_at.is_some_and(|at| now - at <= grace) {
        return Ok(Redemption::Rotated(Box::new(row)));
    }
    revoke_family(state, &row.grant_id, now).await?;
    crate::metrics::Metrics::count(&state.metrics.refresh_reuse);
    crate::audit::record(
        &state.db,
        now,
        crate::audit::AuditEvent {
            event: "token.refresh_reuse",
            account_id: Some(&row.account_id),
            client_id: Some(&row.client_id),
            detail: Some(serde_json::json!({"grant": row.grant_id})),
            ..Default::default()
        },
    )
    .await;
    Ok(Redemption::Reused)
}

/// A refresh token that is not offline ends with its session.
async fn session_alive(state: &AppState, row: &refresh_token::Model, now: i64) -> Result<bool, DomainError> {
    match (&row.session_id, row.offline) {
        (_, true) | (None, false) => Ok(true),
        (Some(id), false) => {
            Ok(session::Entity::find_by_id(id.clone()).one(&state.db).await?.is_some_and(|s| s.expires_at > now))
        }
    }
}

/// Revokes every refresh token of the grant and every access token it produced.
pub async fn revoke_family(state: &AppState, grant_id: &str, now: i64) -> Result<(), DomainError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::Revoked, Expr::value(true))
        .filter(refresh_token::Column::GrantId.eq(grant_id))
        .exec(&state.db)
        .await?;
    revocations::revoke(&state.db, Scope::Grant(grant_id), now + state.config.tokens.access_token_ttl).await?;
    Ok(())
}

/// Revokes the refresh tokens bound to a session that ended (offline ones survive).
pub async fn revoke_for_session(state: &AppState, session_id: &str) -> Result<(), DomainError> {
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::Revoked, Expr::value(true))
        .filter(refresh_token::Column::SessionId.eq(session_id))
        .filter(refresh_token::Column::Offline.eq(false))
        .exec(&state.db)
        .await?;
    Ok(())
}

/// Finds a live refresh token by value (introspection, revocation).
pub async fn find_live(state: &AppState, token: &str, now: i64) -> Result<Option<refresh_token::Model>, DomainError> {
    let hash = crypto::token_hash(token);
    let row = refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(hash)).one(&state.db).await?;
    Ok(row.filter(|r| !r.revoked && r.rotated_at.is_none() && r.expires_at > now))
}

/// Finds a refresh token by value whatever its state.
pub async fn find_any(state: &AppState, token: &str) -> Result<Option<refresh_token::Model>, DomainError> {
    let hash = crypto::token_hash(token);
    Ok(refresh_token::Entity::find().filter(refresh_token::Column::TokenHash.eq(hash)).one(&state.db).await?)
}
