//! The owner proving their email address by a mailed code.

use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait, sea_query::Expr,
};

use crate::domain::DomainError;
use crate::storage::entities::account;

/// Records that the owner proved `email`, if it is still the account's address (an
/// administrator may have changed it since the code was sent); whether it was.
pub async fn mark_email_verified(
    db: &(impl ConnectionTrait + TransactionTrait),
    account_id: &str,
    email: &str,
) -> Result<bool, DomainError> {
    let txn = db.begin().await?;
    let updated = account::Entity::update_many()
        .col_expr(account::Column::EmailVerified, Expr::value(email))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::Email.eq(email))
        .exec(&txn)
        .await?;
    // `email_verified` is a claim: caches of the account's claims must forget it.
    crate::change_feed::announce(&txn, crate::change_feed::Topic::Account, account_id, 0).await?;
    txn.commit().await?;
    Ok(updated.rows_affected == 1)
}
