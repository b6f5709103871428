use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sessions")]
pub struct Model {
    /// SHA-256 of the cookie value: a stolen database does not yield live sessions.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Public session id, the `sid` claim.
    pub sid: String,
    pub account_id: String,
    pub auth_time: i64,
    /// JSON list of authentication methods (RFC 8176).
    pub amr: String,
    pub acr: String,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
