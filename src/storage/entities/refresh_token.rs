use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// SHA-256 of the token: the token itself is never stored.
    pub token_hash: String,
    /// The family: every rotation of one grant shares it (the code's hash).
    pub grant_id: String,
    pub client_id: String,
    pub account_id: String,
    /// The session it came from; `None` once offline tokens outlive it.
    pub session_id: Option<String>,
    /// Granted with `offline_access`: survives the end of the session.
    pub offline: bool,
    pub scope: String,
    pub auth_time: i64,
    pub acr: String,
    pub amr: String,
    pub sid: String,
    /// The grant's `claims` parameter (OIDC Core 5.5), as JSON.
    pub claims: Option<String>,
    /// The resource (RFC 8707) the grant's access tokens are for: their `aud`.
    pub resource: Option<String>,
    /// RFC 9449: the thumbprint (RFC 7638) of the DPoP key the grant is bound to.
    pub dpop_jkt: Option<String>,
    pub created_at: i64,
    /// Sliding expiry, pushed back at each rotation up to `grant_expires_at`.
    pub expires_at: i64,
    /// Absolute end of the family.
    pub grant_expires_at: i64,
    /// When it was exchanged for its successor.
    pub rotated_at: Option<i64>,
    pub revoked: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
