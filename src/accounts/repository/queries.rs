//! Reading accounts: by id or identifier, all of them, and the console's search.

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::accounts::Account;
use crate::domain::DomainError;
use crate::storage::{Db, entities::account};

pub async fn find_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<Account>, DomainError> {
    Ok(account::Entity::find_by_id(id.to_string()).one(db).await?.map(Account::from))
}

/// Looks an account up by identifier, whatever its case.
pub async fn find_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<Account>, DomainError> {
    Ok(account::Entity::find()
        .filter(account::Column::UsernameKey.eq(username.trim().to_lowercase()))
        .one(db)
        .await?
        .map(Account::from))
}

pub async fn list(db: &Db) -> Result<Vec<Account>, DomainError> {
    Ok(account::Entity::find()
        .order_by_asc(account::Column::UsernameKey)
        .all(db)
        .await?
        .into_iter()
        .map(Account::from)
        .collect())
}

/// Which accounts a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    Active,
    Archived,
    All,
}

/// One page of a search, with the total count for pagination.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Accounts whose identifier, first or last name contains `query` (any case), in the
/// given state, sorted by identifier; `page` counts from 1.
pub async fn search(
    db: &Db,
    query: &str,
    state: StateFilter,
    page: u64,
    per_page: u64,
) -> Result<Page<Account>, DomainError> {
    use sea_orm::{
        PaginatorTrait,
        sea_query::{Expr, ExprTrait, Func},
    };
    let mut select = account::Entity::find();
    match state {
        StateFilter::Active => select = select.filter(account::Column::Archived.eq(false)),
        StateFilter::Archived => select = select.filter(account::Column::Archived.eq(true)),
        StateFilter::All => {}
    }
    let query = query.trim().to_lowercase();
    if !query.is_empty() {
        let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let like = |column: account::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(like(account::Column::UsernameKey))
                .add(like(account::Column::FirstName))
                .add(like(account::Column::LastName)),
        );
    }
    let per_page = Ord::clamp(per_page, 1, 200);
    let paginator = select.order_by_asc(account::Column::UsernameKey).paginate(db, per_page);
    let total = paginator.num_items().await?;
    let page = Ord::max(page, 1);
    let items = paginator.fetch_page(page - 1).await?.into_iter().map(Account::from).collect();
    Ok(Page { items, total, page, per_page })
}

/// The administrators who can be told of an incident: active (not archived), with an
/// email address, by identifier.
pub async fn administrators_with_email(db: &impl ConnectionTrait) -> Result<Vec<Account>, DomainError> {
    Ok(account::Entity::find()
        .filter(account::Column::AccountAdmin.eq(true))
        .filter(account::Column::Archived.eq(false))
        .filter(account::Column::Email.is_not_null())
        .order_by_asc(account::Column::UsernameKey)
        .all(db)
        .await?
        .into_iter()
        .map(Account::from)
        .collect())
}
