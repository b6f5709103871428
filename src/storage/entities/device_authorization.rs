use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "device_authorizations")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub device_code_hash: String,
    pub user_code: String,
    pub client_id: String,
    pub scope: String,
    pub status: String,
    pub account_id: Option<String>,
    pub session_id: Option<String>,
    pub auth_time: Option<i64>,
    pub amr: Option<String>,
    pub acr: Option<String>,
    pub sid: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub poll_interval: i32,
    pub last_polled_at: Option<i64>,
    pub decided_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
