use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "revocations")]
pub struct Model {
    /// `jti:…`, `grant:…`, `sid:…` or `sub:…`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub key: String,
    /// After this, every token the key covers has expired anyway.
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
