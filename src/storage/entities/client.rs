use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub application_id: Option<String>,
    pub name: String,
    pub secret_hash: Option<String>,
    /// JSON lists.
    pub redirect_uris: String,
    pub post_logout_redirect_uris: String,
    pub grant_types: String,
    pub scopes: String,
    pub token_endpoint_auth_method: String,
    /// `web` or `native` (a desktop application, RFC 8252).
    pub application_type: String,
    pub first_party: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: loaded in an iframe by the logout page.
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// RFC 8707: the identifier of the API this client serves (unique), if any.
    pub resource: Option<String>,
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    /// Every login to this client needs a second factor, whatever the account's setting.
    pub require_two_factor: bool,
    /// Authorization requests must be pushed first (RFC 9126): a plain one is refused.
    pub require_pushed_authorization_requests: bool,
    /// `public` (the account id is the `sub`) or `pairwise` (OIDC Core 8.1).
    pub subject_type: String,
    /// Its host is the client's sector for pairwise subjects.
    pub sector_identifier_uri: Option<String>,
    /// OIDC Core 6.1: the algorithm of its request objects (`none`: unsigned), if registered.
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 10.5: its authorization requests must carry a signed request object.
    pub require_signed_request_object: bool,
    /// OIDC Core 5.3.2: its userinfo responses are JWTs signed with this algorithm.
    pub userinfo_signed_response_alg: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
