//! OIDC clients (relying parties): the applications' web and desktop front-ends, their
//! redirect URIs, authentication method and signing preferences.
//!
//! The client and its authentication method here; `input` (what an operator declares,
//! validated), `storage` (reading, writing, the token endpoint's cache) and `secrets`
//! (hashing and generating client secrets) beside it.

mod input;
pub mod redirect;
mod secrets;
mod storage;

pub use input::{ClientInput, MAX_KEYS, SecretInput};
pub use secrets::{SecretHasher, generate_secret};
pub use storage::{ClientCache, delete, find, find_by_resource, list, list_for_application, upsert};

use crate::crypto::jws::SigningAlg;
use crate::domain::from_json_text;
use crate::storage::entities::client;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// A signed JWT assertion with a key of the client's JWKS (RFC 7523).
    PrivateKeyJwt,
    /// A public client (a desktop or single-page application): PKCE is required.
    None,
}

impl AuthMethod {
    pub const SUPPORTED: [&'static str; 4] = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"];

    /// Methods by which a client proves who it is (introspection requires one).
    pub const CONFIDENTIAL: [&'static str; 3] = ["client_secret_basic", "client_secret_post", "private_key_jwt"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
            Self::None => "none",
        }
    }
}

/// What kind of application a client is (OIDC registration's `application_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApplicationType {
    /// A web site: confidential or not, its redirect URIs match exactly.
    #[default]
    Web,
    /// A desktop application (RFC 8252): public, PKCE, loopback redirect URIs on any
    /// port, private-use schemes.
    Native,
}

impl ApplicationType {
    pub const SUPPORTED: [&'static str; 2] = ["web", "native"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }
}

/// What a client is told the user is (OIDC Core 8): the account id, or a value of its
/// own sector that other sectors cannot match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectType {
    #[default]
    Public,
    /// OIDC Core 8.1: the `sub` is derived from the sector and the account (see
    /// `oidc::subject`).
    Pairwise,
}

impl SubjectType {
    pub const SUPPORTED: [&'static str; 2] = ["public", "pairwise"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "public" => Some(Self::Public),
            "pairwise" => Some(Self::Pairwise),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Pairwise => "pairwise",
        }
    }
}

/// What a client registered for its request objects (OIDC Core 6,
/// `request_object_signing_alg`): one signature algorithm, or `none` for unsigned ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestObjectAlg {
    /// `none`: the client's request objects are unsigned (and only then accepted so).
    Unsigned,
    Signed(SigningAlg),
}

impl RequestObjectAlg {
    pub fn parse(name: &str) -> Option<Self> {
        if name == "none" { Some(Self::Unsigned) } else { SigningAlg::parse(name).map(Self::Signed) }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsigned => "none",
            Self::Signed(alg) => alg.as_str(),
        }
    }
}

/// A security profile whose rules Sésame enforces for a client, over and above its
/// registration (a Sésame name, not a registered OIDC one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecurityProfile {
    /// FAPI 2.0 Security Profile (final): pushed requests, PKCE S256, private_key_jwt,
    /// DPoP-bound tokens, PS256/ES256/EdDSA only (see `oidc::fapi2`).
    Fapi2,
}

impl SecurityProfile {
    pub const SUPPORTED: [&'static str; 1] = ["fapi2"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fapi2" => Some(Self::Fapi2),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fapi2 => "fapi2",
        }
    }
}

/// The device authorization grant (RFC 8628): scanners, shared terminals, command-line tools.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

pub const SUPPORTED_GRANTS: [&str; 4] =
    ["authorization_code", "refresh_token", "client_credentials", DEVICE_CODE_GRANT];

#[derive(Debug, Clone, PartialEq)]
pub struct Client {
    pub client_id: String,
    pub application_id: Option<String>,
    pub name: String,
    pub secret_hash: Option<String>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    /// Scopes the client may ask for; empty means every scope the provider supports.
    pub scopes: Vec<String>,
    pub auth_method: AuthMethod,
    pub application_type: ApplicationType,
    pub first_party: bool,
    /// Every login to this client needs a second factor (`acr` two-factor).
    pub require_two_factor: bool,
    /// Its authorization requests must be pushed first (RFC 9126): a plain one is refused.
    pub require_pushed_authorization_requests: bool,
    pub id_token_alg: SigningAlg,
    /// The client's own choice of access-token algorithm, else the server's.
    pub access_token_alg: Option<SigningAlg>,
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: the logout page loads it in an iframe, with `iss` and `sid`.
    pub frontchannel_logout_uri: Option<String>,
    /// Registered wish for `iss` and `sid`, which Sésame sends in any case.
    pub frontchannel_logout_session_required: bool,
    /// RFC 8707: the identifier of the API this client serves, which other clients name
    /// as `resource` to get access tokens for it (its `aud`); unique across clients.
    pub resource: Option<String>,
    /// Public keys for private_key_jwt: a JWK Set by value, or where to fetch it.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    pub subject_type: SubjectType,
    /// Its host is the sector of a pairwise client (else its redirect URIs' one host).
    pub sector_identifier_uri: Option<String>,
    /// `request_object_signing_alg`: the only algorithm its request objects may have;
    /// `None`: any algorithm Sésame verifies, but never an unsigned object.
    pub request_object_alg: Option<RequestObjectAlg>,
    /// RFC 9101 10.5: an authorization request without a signed request object is refused.
    pub require_signed_request_object: bool,
    /// `userinfo_signed_response_alg`: userinfo answers a JWT signed with Sésame's key of
    /// this algorithm (OIDC Core 5.3.2); `None`: plain JSON.
    pub userinfo_alg: Option<SigningAlg>,
    /// RFC 9449 5.2 (`dpop_bound_access_tokens`): its token requests must carry a DPoP
    /// proof, so that all its access tokens are bound to its key.
    pub dpop_bound_access_tokens: bool,
    /// Rules enforced over its registration (`security_profile = "fapi2"`).
    pub security_profile: Option<SecurityProfile>,
}

impl Client {
    /// Whether its token requests must carry a DPoP proof (RFC 9449): it registered
    /// `dpop_bound_access_tokens`, or its profile (FAPI 2.0) wants sender-constrained
    /// tokens, which Sésame provides by DPoP.
    pub fn requires_dpop(&self) -> bool {
        self.dpop_bound_access_tokens || self.is_fapi2()
    }

    /// Whether the FAPI 2.0 Security Profile's rules apply to it.
    pub fn is_fapi2(&self) -> bool {
        self.security_profile == Some(SecurityProfile::Fapi2)
    }

    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Exact string comparison, query included (no prefix or pattern matching), but
    /// for the loopback URIs of native clients, whose port is chosen at run time
    /// (see `redirect`).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| redirect::matches(self.application_type, registered, uri))
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }

    /// The sector of a pairwise client (OIDC Core 8.1): the host of its
    /// `sector_identifier_uri`, else that of its redirect URIs (registration checks
    /// they share one). `None` for a public client.
    pub fn sector(&self) -> Option<String> {
        if self.subject_type != SubjectType::Pairwise {
            return None;
        }
        let host = match &self.sector_identifier_uri {
            Some(uri) => redirect::host(uri),
            None => self.redirect_uris.first().and_then(|uri| redirect::host(uri)),
        };
        // Registration rules a hostless pairwise client out; were one stored anyway, it
        // is a sector of its own rather than given the account id.
        Some(host.unwrap_or_else(|| format!("client:{}", self.client_id)))
    }
}

impl From<client::Model> for Client {
    fn from(row: client::Model) -> Self {
        Self {
            auth_method: AuthMethod::parse(&row.token_endpoint_auth_method).unwrap_or(AuthMethod::ClientSecretBasic),
            application_type: ApplicationType::parse(&row.application_type).unwrap_or_default(),
            id_token_alg: row
                .id_token_signed_response_alg
                .as_deref()
                .and_then(SigningAlg::parse)
                .unwrap_or(SigningAlg::Rs256),
            access_token_alg: row.access_token_signed_response_alg.as_deref().and_then(SigningAlg::parse),
            jwks: row.jwks.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            jwks_uri: row.jwks_uri,
            subject_type: SubjectType::parse(&row.subject_type).unwrap_or_default(),
            sector_identifier_uri: row.sector_identifier_uri,
            request_object_alg: row.request_object_signing_alg.as_deref().and_then(RequestObjectAlg::parse),
            require_signed_request_object: row.require_signed_request_object,
            userinfo_alg: row.userinfo_signed_response_alg.as_deref().and_then(SigningAlg::parse),
            dpop_bound_access_tokens: row.dpop_bound_access_tokens,
            security_profile: row.security_profile.as_deref().and_then(SecurityProfile::parse),
            client_id: row.client_id,
            application_id: row.application_id,
            name: row.name,
            secret_hash: row.secret_hash,
            redirect_uris: from_json_text(&row.redirect_uris),
            post_logout_redirect_uris: from_json_text(&row.post_logout_redirect_uris),
            grant_types: from_json_text(&row.grant_types),
            scopes: from_json_text(&row.scopes),
            first_party: row.first_party,
            require_two_factor: row.require_two_factor,
            require_pushed_authorization_requests: row.require_pushed_authorization_requests,
            backchannel_logout_uri: row.backchannel_logout_uri,
            frontchannel_logout_uri: row.frontchannel_logout_uri,
            frontchannel_logout_session_required: row.frontchannel_logout_session_required,
            resource: row.resource,
        }
    }
}
