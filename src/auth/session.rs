//! Server-side sessions: the browser holds a random token in a cookie, the database
//! holds its hash with who logged in, when and how. Any node can read them.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use crate::config::SessionConfig;
use crate::crypto;
use crate::domain::{DomainError, from_json_text, to_json_text};
use crate::storage::{Db, entities::session};

#[derive(Debug, Clone)]
pub struct Session {
    /// Hash of the cookie token (the row's key).
    pub id: String,
    pub sid: String,
    pub account_id: String,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    pub expires_at: i64,
}

impl From<session::Model> for Session {
    fn from(row: session::Model) -> Self {
        Self {
            id: row.id,
            sid: row.sid,
            account_id: row.account_id,
            auth_time: row.auth_time,
            amr: from_json_text(&row.amr),
            acr: row.acr,
            expires_at: row.expires_at,
        }
    }
}

/// Starts a new session (never reusing a token the browser brought, against fixation);
/// returns the cookie token and the session.
pub async fn create(
    db: &Db,
    account_id: &str,
    amr: &[&str],
    acr: &str,
    now: i64,
    config: &SessionConfig,
) -> Result<(String, Session), DomainError> {
    let token = crypto::random_token();
    let row = session::ActiveModel {
        id: Set(crypto::token_hash(&token)),
        sid: Set(crypto::random_id()),
        account_id: Set(account_id.to_string()),
        auth_time: Set(now),
        amr: Set(to_json_text(&amr)),
        acr: Set(acr.to_string()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(now + config.idle_timeout.min(config.max_lifetime)),
    }
    .insert(db)
    .await?;
    Ok((token, row.into()))
}

/// The live session behind a cookie token, its idle deadline pushed back.
pub async fn find_active(
    db: &Db,
    token: &str,
    now: i64,
    config: &SessionConfig,
) -> Result<Option<Session>, DomainError> {
    let Some(row) = session::Entity::find_by_id(crypto::token_hash(token)).one(db).await? else {
        return Ok(None);
    };
    if row.expires_at <= now {
        session::Entity::delete_by_id(row.id).exec(db).await?;
        return Ok(None);
    }
    // Writing on every request would serialise SQLite; a minute's precision is enough.
    if now - row.last_seen_at >= 60 {
        let expires_at = (now + config.idle_timeout).min(row.created_at + config.max_lifetime);
        let mut active: session::ActiveModel = row.clone().into();
        active.last_seen_at = Set(now);
        active.expires_at = Set(expires_at);
        let updated = active.update(db).await?;
        return Ok(Some(updated.into()));
    }
    Ok(Some(row.into()))
}

/// Seconds a sign-in stays fresh enough for what hands out or changes access (second
/// factors on the account page, approving a device): beyond it the user signs in again.
pub const RECENT_SIGN_IN: i64 = 900;

/// Every session of an account, live or not yet swept.
pub async fn list_for_account(db: &Db, account_id: &str) -> Result<Vec<Session>, DomainError> {
    let rows = session::Entity::find().filter(session::Column::AccountId.eq(account_id)).all(db).await?;
    Ok(rows.into_iter().map(Session::from).collect())
}

pub async fn delete(db: &Db, session_id: &str) -> Result<(), DomainError> {
    session::Entity::delete_by_id(session_id.to_string()).exec(db).await?;
    Ok(())
}
