use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub username: String,
    /// Lower-cased username: identifiers are unique regardless of case.
    pub username_key: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub initials: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub archived: bool,
    pub two_factor_required: bool,
    pub account_admin: bool,
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
