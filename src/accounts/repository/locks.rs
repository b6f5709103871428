//! Locks: an administrator's lock and unlock, what keeps an account from signing in, and
//! the end of everything an account had open.

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionTrait};

use crate::accounts::Account;
use crate::change_feed::{self, Topic};
use crate::domain::DomainError;
use crate::storage::{Db, entities::account};

/// An administrator locks the account by hand: no login until they unlock it (the
/// owner learns it only after typing the right password). Its sessions end.
pub async fn lock(db: &Db, account_id: &str, now: i64) -> Result<(), DomainError> {
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(account::Column::AdminLockedAt, sea_orm::sea_query::Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::AdminLockedAt.is_null())
        .exec(&txn)
        .await?;
    change_feed::announce(&txn, Topic::Account, account_id, 0).await?;
    end_everything_of(&txn, account_id, now).await?;
    txn.commit().await?;
    Ok(())
}

/// Every session of the account ends and every refresh token is revoked, offline ones
/// included, with the access tokens of both; the account stays usable: its next login
/// starts afresh.
pub async fn end_sessions_and_grants(db: &Db, account_id: &str, now: i64) -> Result<(), DomainError> {
    let txn = db.begin().await?;
    end_everything_of(&txn, account_id, now).await?;
    txn.commit().await?;
    Ok(())
}

/// An administrator lifts every lock of the account: their own, the password budgets
/// of its identifier and the second factor's.
pub async fn unlock(db: &Db, account: &Account) -> Result<(), DomainError> {
    account::Entity::update_many()
        .col_expr(account::Column::AdminLockedAt, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(account::Column::Id.eq(&account.id))
        .exec(db)
        .await?;
    crate::lockout::password::unlock(db, &account.username).await?;
    crate::lockout::second_factor::unlock(db, &account.id).await?;
    Ok(())
}

/// What keeps an account from signing in now, as administrators see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Locks {
    /// When an administrator locked it, if one did.
    pub locked_at: Option<i64>,
    /// Until when unknown browsers may not try its password (browsers that signed in
    /// to it before, and other addresses within their own budgets, still may).
    pub locked_until: Option<i64>,
    /// Until when its second factor refuses codes.
    pub second_factor_locked_until: Option<i64>,
}

impl Locks {
    pub fn any(&self) -> bool {
        self.locked_at.is_some() || self.locked_until.is_some() || self.second_factor_locked_until.is_some()
    }
}

pub async fn locks(db: &Db, account: &Account, now: i64) -> Result<Locks, DomainError> {
    Ok(Locks {
        locked_at: account.admin_locked_at,
        locked_until: crate::lockout::password::unknown_sources_blocked_until(db, &account.username, now).await?,
        second_factor_locked_until: crate::lockout::second_factor::locked_until(db, &account.id, now).await?,
    })
}

/// An archived, locked or signed-out account's sessions end and its refresh tokens are
/// revoked, with the access tokens of both; so do what its sessions granted and was not
/// collected yet — authorization codes not redeemed, devices approved but not polled —
/// which would otherwise give new tokens afterwards. Un-archiving later restores login,
/// not these.
pub(super) async fn end_everything_of(
    db: &impl ConnectionTrait,
    account_id: &str,
    now: i64,
) -> Result<(), DomainError> {
    use crate::revocations::{self, Scope};
    use crate::storage::entities::{authorization_code, device_authorization, refresh_token, session};
    // Access tokens live at most a day (see `Config::validate`).
    let until = now + 86_400;
    for ended in session::Entity::find().filter(session::Column::AccountId.eq(account_id)).all(db).await? {
        revocations::revoke(db, Scope::Session(&ended.sid), until).await?;
    }
    session::Entity::delete_many().filter(session::Column::AccountId.eq(account_id)).exec(db).await?;
    let families = refresh_token::Entity::find()
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .filter(refresh_token::Column::Revoked.eq(false))
        .all(db)
        .await?;
    for family in families.iter().map(|t| t.grant_id.as_str()).collect::<std::collections::BTreeSet<_>>() {
        revocations::revoke(db, Scope::Grant(family), until).await?;
    }
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::Revoked, sea_orm::sea_query::Expr::value(true))
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, sea_orm::sea_query::Expr::value(now))
        .filter(authorization_code::Column::AccountId.eq(account_id))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    device_authorization::Entity::update_many()
        .col_expr(device_authorization::Column::Status, sea_orm::sea_query::Expr::value("denied"))
        .filter(device_authorization::Column::AccountId.eq(account_id))
        .filter(device_authorization::Column::Status.eq("approved"))
        .exec(db)
        .await?;
    Ok(())
}
