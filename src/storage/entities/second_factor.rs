use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "second_factors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub account_id: String,
    pub method: String,
    pub label: String,
    /// Sealed with the master key; never shown again after enrollment.
    pub secret: String,
    pub last_step: Option<i64>,
    pub confirmed_at: Option<i64>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// A passkey's credential id (base64url), unique: how a sign-in without password
    /// finds it.
    pub credential_id: Option<String>,
    /// While an app's secret is not confirmed: the hash of the browser it was shown to
    /// at a login's enrollment.
    pub pending_browser: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
