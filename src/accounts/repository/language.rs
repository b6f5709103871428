//! The owner choosing their account's language on the security page: one column, no
//! other field re-validated (the page changes nothing else).

use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, sea_query::Expr};

use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::storage::entities::account;

/// Sets the account's language; whether the account exists.
pub async fn set_language(
    db: &impl ConnectionTrait,
    account_id: &str,
    language: Locale,
    now: i64,
) -> Result<bool, DomainError> {
    let updated = account::Entity::update_many()
        .col_expr(account::Column::Language, Expr::value(language.code()))
        .col_expr(account::Column::UpdatedAt, Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .exec(db)
        .await?;
    // The language is the `locale` claim.
    crate::change_feed::announce(db, crate::change_feed::Topic::Account, account_id, 0).await?;
    Ok(updated.rows_affected == 1)
}
