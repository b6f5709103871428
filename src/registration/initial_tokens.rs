//! Initial access tokens (RFC 7591 3): what an administrator hands to a program so that
//! it may register clients. Each is bound to one application (the clients registered
//! with it belong to it, and their tokens carry its rights), expires, and allows a
//! number of registrations, counted down by one conditional UPDATE each so that
//! parallel registrations cannot spend one use twice. Only a keyed hash is stored; the
//! token is shown once. One service for the CLI and the admin API.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    sea_query::{Expr, ExprTrait},
};
use serde_json::{Value, json};

use crate::applications;
use crate::clients::SecretHasher;
use crate::domain::DomainError;
use crate::storage::{Db, entities::initial_access_token};

/// Longest lifetime of an initial access token (a year), and most uses.
pub const MAX_TTL: i64 = 366 * 24 * 3600;
pub const MAX_USES: i32 = 10_000;

/// An initial access token as administrators see it (never the token itself).
#[derive(Debug, Clone)]
pub struct InitialAccessToken {
    pub id: String,
    pub application_id: String,
    /// The application's code (empty if the application was removed since).
    pub application: String,
    pub description: String,
    pub uses_left: i32,
    pub expires_at: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

impl InitialAccessToken {
    fn from_row(row: initial_access_token::Model, application: String) -> Self {
        Self {
            id: row.id,
            application_id: row.application_id,
            application,
            description: row.description,
            uses_left: row.uses_left,
            expires_at: row.expires_at,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }

    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "application": self.application,
            "description": self.description,
            "uses_left": self.uses_left,
            "expires_at": self.expires_at,
            "created_at": self.created_at,
            "revoked_at": self.revoked_at,
        })
    }
}

/// What an administrator asks for.
pub struct NewToken {
    /// The application's code.
    pub application: String,
    pub description: String,
    pub uses: i32,
    /// Seconds from now.
    pub expires_in: i64,
}

/// Creates a token: its description, and the token itself (shown once).
pub async fn create(
    db: &Db,
    hasher: &SecretHasher,
    new: NewToken,
    now: i64,
) -> Result<(InitialAccessToken, String), DomainError> {
    if !(1..=MAX_USES).contains(&new.uses) {
        return Err(DomainError::invalid(
            "uses",
            format!("an initial access token allows 1 to {MAX_USES} registrations"),
        ));
    }
    if !(60..=MAX_TTL).contains(&new.expires_in) {
        return Err(DomainError::invalid(
            "expires_in",
            format!("an initial access token lives 60 to {MAX_TTL} seconds"),
        ));
    }
    if new.description.chars().count() > 200 {
        return Err(DomainError::invalid("description", "at most 200 characters"));
    }
    let application = applications::find_by_code(db, &new.application).await?.ok_or_else(|| {
        DomainError::invalid("application", format!("no application has the code `{}`", new.application))
    })?;
    let token = crate::crypto::random_token();
    let row = initial_access_token::ActiveModel {
        id: Set(crate::crypto::random_id()),
        token_hash: Set(hasher.hash(&token)),
        application_id: Set(application.id),
        description: Set(new.description),
        uses_left: Set(new.uses),
        expires_at: Set(now + new.expires_in),
        created_at: Set(now),
        revoked_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok((InitialAccessToken::from_row(row, application.code), token))
}

/// Every token, newest first, spent and revoked ones included (until deleted by nobody:
/// they are the record of who could register what).
pub async fn list(db: &Db) -> Result<Vec<InitialAccessToken>, DomainError> {
    let rows =
        initial_access_token::Entity::find().order_by_desc(initial_access_token::Column::CreatedAt).all(db).await?;
    let codes: std::collections::HashMap<String, String> =
        applications::list(db).await?.into_iter().map(|a| (a.id, a.code)).collect();
    Ok(rows
        .into_iter()
        .map(|row| {
            let code = codes.get(&row.application_id).cloned().unwrap_or_default();
            InitialAccessToken::from_row(row, code)
        })
        .collect())
}

/// Revokes a token: no registration uses it any more. Whether it existed and was live.
pub async fn revoke(db: &Db, id: &str, now: i64) -> Result<bool, DomainError> {
    let done = initial_access_token::Entity::update_many()
        .col_expr(initial_access_token::Column::RevokedAt, Expr::value(now))
        .filter(initial_access_token::Column::Id.eq(id))
        .filter(initial_access_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(done.rows_affected > 0)
}

/// The token presented, if it may still register a client now (not expired, revoked or
/// used up). Spending a use is `consume`, once the registration is known to be valid.
pub async fn find_usable(
    db: &impl ConnectionTrait,
    hasher: &SecretHasher,
    token: &str,
    now: i64,
) -> Result<Option<initial_access_token::Model>, DomainError> {
    Ok(initial_access_token::Entity::find()
        .filter(initial_access_token::Column::TokenHash.eq(hasher.hash(token)))
        .filter(initial_access_token::Column::RevokedAt.is_null())
        .filter(initial_access_token::Column::ExpiresAt.gt(now))
        .filter(initial_access_token::Column::UsesLeft.gt(0))
        .one(db)
        .await?)
}

/// Spends one use of the token, in one conditional UPDATE: of parallel registrations
/// with its last use, exactly one gets `true`.
pub async fn consume(db: &impl ConnectionTrait, id: &str, now: i64) -> Result<bool, DomainError> {
    let done = initial_access_token::Entity::update_many()
        .col_expr(initial_access_token::Column::UsesLeft, Expr::col(initial_access_token::Column::UsesLeft).sub(1))
        .filter(initial_access_token::Column::Id.eq(id))
        .filter(initial_access_token::Column::RevokedAt.is_null())
        .filter(initial_access_token::Column::ExpiresAt.gt(now))
        .filter(initial_access_token::Column::UsesLeft.gt(0))
        .exec(db)
        .await?;
    Ok(done.rows_affected == 1)
}
