use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "initial_access_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Keyed hash of the token (`clients::SecretHasher`).
    pub token_hash: String,
    /// The application the clients registered with it belong to.
    pub application_id: String,
    pub description: String,
    /// Registrations it still allows: decremented by one conditional UPDATE each.
    pub uses_left: i32,
    pub expires_at: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
