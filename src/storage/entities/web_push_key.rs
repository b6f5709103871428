use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "web_push_keys")]
pub struct Model {
    /// Always `vapid`: one key pair for every node.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// PKCS#8, sealed with the master key.
    pub private_key: String,
    /// Uncompressed P-256 point, base64url.
    pub public_key: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
