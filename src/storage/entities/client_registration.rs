use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "client_registrations")]
pub struct Model {
    /// A client of `clients` registered through the registration endpoint.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// Keyed hash of its `registration_access_token` (RFC 7592).
    pub access_token_hash: String,
    /// The metadata as registered, JSON (answered on read).
    pub metadata: String,
    pub initial_access_token_id: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
