//! The revocation list. Access tokens are self-contained JWTs that are not stored (a
//! token costs a signature, not a database write); the few revoked before they expire
//! are listed here, by token (`jti`), grant (a code and its refresh family), session or
//! account, until the longest-lived token they cover has expired. Each node also keeps
//! the list in memory (`change_feed`), so that checking a token reads no database.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::OnConflict};

use crate::storage::entities::revocation;

/// What a revocation covers.
pub enum Scope<'a> {
    Token(&'a str),
    Grant(&'a str),
    Session(&'a str),
    Account(&'a str),
}

impl Scope<'_> {
    pub fn key(&self) -> String {
        match self {
            Scope::Token(jti) => format!("jti:{jti}"),
            Scope::Grant(id) => format!("grant:{id}"),
            Scope::Session(sid) => format!("sid:{sid}"),
            Scope::Account(sub) => format!("sub:{sub}"),
        }
    }
}

/// Lists `scope` as revoked until `until` (kept to the later date if already listed).
pub async fn revoke(db: &impl ConnectionTrait, scope: Scope<'_>, until: i64) -> Result<(), sea_orm::DbErr> {
    let row = revocation::ActiveModel {
        key: sea_orm::ActiveValue::Set(scope.key()),
        expires_at: sea_orm::ActiveValue::Set(until),
    };
    revocation::Entity::insert(row)
        .on_conflict(
            OnConflict::column(revocation::Column::Key).update_column(revocation::Column::ExpiresAt).to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    crate::change_feed::announce(db, crate::change_feed::Topic::Revocation, &scope.key(), until).await
}

/// Whether any of `scopes` is revoked: from this node's list in memory when it is
/// current, else by `any_revoked`.
pub async fn any_revoked_cached(
    caches: &crate::change_feed::NodeCaches,
    db: &crate::storage::Db,
    scopes: &[Scope<'_>],
) -> Result<bool, sea_orm::DbErr> {
    let keys: Vec<String> = scopes.iter().map(Scope::key).collect();
    match caches.revoked(db, &keys).await {
        Some(answer) => Ok(answer),
        None => any_revoked(db, scopes).await,
    }
}

/// Whether any of `scopes` is revoked: one indexed query for a token's jti, grant,
/// session and account together.
pub async fn any_revoked(db: &impl ConnectionTrait, scopes: &[Scope<'_>]) -> Result<bool, sea_orm::DbErr> {
    let keys: Vec<String> = scopes.iter().map(Scope::key).collect();
    Ok(revocation::Entity::find().filter(revocation::Column::Key.is_in(keys)).one(db).await?.is_some())
}
