//! What an operator declares for a client (import file, admin API, console, CLI), and
//! the checks it must pass before anything is written.

use super::{
    ApplicationType, AuthMethod, Client, RequestObjectAlg, SUPPORTED_GRANTS, SecretHasher, SecurityProfile,
    SubjectType, redirect,
};
use crate::crypto::{jws::SigningAlg, password::PasswordHasherService};
use crate::domain::DomainError;

/// How a client secret is given: in clear (hashed here) or already hashed.
#[derive(Debug, Clone)]
pub enum SecretInput {
    Plain(String),
    Hash(String),
}

/// What an operator declares for a client.
#[derive(Debug, Clone, Default)]
pub struct ClientInput {
    pub client_id: String,
    pub application: Option<String>,
    pub name: Option<String>,
    pub secret: Option<SecretInput>,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
    pub grant_types: Vec<String>,
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    /// `web` (the default) or `native`.
    pub application_type: Option<String>,
    pub first_party: bool,
    pub require_two_factor: bool,
    /// Authorization requests must come through `/par` (RFC 9126).
    pub require_pushed_authorization_requests: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub frontchannel_logout_uri: Option<String>,
    pub frontchannel_logout_session_required: bool,
    /// The identifier of the API this client serves (RFC 8707 resource).
    pub resource: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
    /// `public` (the default) or `pairwise` (OIDC Core 8.1).
    pub subject_type: Option<String>,
    /// An https URL whose host is the sector of a pairwise client.
    pub sector_identifier_uri: Option<String>,
    /// The algorithm of its request objects (OIDC Core 6), or `none` (unsigned ones).
    pub request_object_signing_alg: Option<String>,
    /// Its authorization requests must carry a signed request object (RFC 9101 10.5).
    pub require_signed_request_object: bool,
    /// Userinfo answered as a JWT signed with this algorithm (OIDC Core 5.3.2).
    pub userinfo_signed_response_alg: Option<String>,
    /// RFC 9449 5.2: every token request must carry a DPoP proof.
    pub dpop_bound_access_tokens: bool,
    /// `fapi2`, or nothing (see `SecurityProfile`).
    pub security_profile: Option<String>,
}

impl ClientInput {
    /// The registration of `client` as it stands (its secret kept as its hash), to
    /// change one thing and save it back.
    pub fn from_client(client: &Client, application: Option<String>) -> Self {
        Self {
            client_id: client.client_id.clone(),
            application,
            name: Some(client.name.clone()),
            secret: client.secret_hash.clone().map(SecretInput::Hash),
            redirect_uris: client.redirect_uris.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            grant_types: client.grant_types.clone(),
            scopes: client.scopes.clone(),
            token_endpoint_auth_method: Some(client.auth_method.as_str().into()),
            application_type: Some(client.application_type.as_str().into()),
            first_party: client.first_party,
            require_two_factor: client.require_two_factor,
            require_pushed_authorization_requests: client.require_pushed_authorization_requests,
            id_token_signed_response_alg: Some(client.id_token_alg.as_str().into()),
            access_token_signed_response_alg: client.access_token_alg.map(|a| a.as_str().into()),
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: client.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: client.frontchannel_logout_session_required,
            resource: client.resource.clone(),
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
            subject_type: Some(client.subject_type.as_str().into()),
            sector_identifier_uri: client.sector_identifier_uri.clone(),
            request_object_signing_alg: client.request_object_alg.map(|a| a.as_str().into()),
            require_signed_request_object: client.require_signed_request_object,
            userinfo_signed_response_alg: client.userinfo_alg.map(|a| a.as_str().into()),
            dpop_bound_access_tokens: client.dpop_bound_access_tokens,
            security_profile: client.security_profile.map(|p| p.as_str().into()),
        }
    }
}

/// An absolute URI without a fragment (for the URIs Sésame calls or fetches).
fn validate_uri(field: &str, uri: &str) -> Result<(), DomainError> {
    redirect::check(ApplicationType::Web, field, uri)
}

/// The signing algorithm named in `field`, if one is.
fn signing_alg(field: &str, name: Option<&str>) -> Result<Option<SigningAlg>, DomainError> {
    match name {
        None => Ok(None),
        Some(name) => SigningAlg::parse(name)
            .map(Some)
            .ok_or_else(|| DomainError::invalid(field, format!("`{name}` is not one of RS256, PS256, ES256, EdDSA"))),
    }
}

/// A registration that passed the checks, with its names parsed.
pub(super) struct Checked {
    pub method: AuthMethod,
    pub application_type: ApplicationType,
    pub id_token_alg: Option<SigningAlg>,
    pub access_token_alg: Option<SigningAlg>,
    pub subject_type: SubjectType,
    pub request_object_alg: Option<RequestObjectAlg>,
    pub userinfo_alg: Option<SigningAlg>,
    pub security_profile: Option<SecurityProfile>,
}

impl ClientInput {
    /// The checks `upsert` makes before writing, alone: for callers that must know a
    /// registration is acceptable before they spend something on it (the registration
    /// endpoint's initial access tokens).
    pub fn check(&self) -> Result<(), DomainError> {
        self.validate().map(|_| ())
    }

    pub(super) fn validate(&self) -> Result<Checked, DomainError> {
        if self.client_id.trim().is_empty()
            || self.client_id.len() > 128
            || !self.client_id.chars().all(|c| c.is_ascii_graphic() && c != ':')
        {
            return Err(DomainError::invalid("client_id", "use 1 to 128 visible ASCII characters, no ':'"));
        }
        // Account ids are UUIDs, and a client's own tokens have its id as subject: a
        // client id shaped like one could be taken for an account.
        if uuid::Uuid::try_parse(self.client_id.trim()).is_ok() {
            return Err(DomainError::invalid("client_id", "a client id must not look like an account id (a UUID)")
                .because("client_id_like_account"));
        }
        let kind = match &self.application_type {
            None => ApplicationType::Web,
            Some(name) => ApplicationType::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "application_type",
                    format!("`{name}` is not one of {}", ApplicationType::SUPPORTED.join(", ")),
                )
            })?,
        };
        // Only the code flow sends the browser back; a service or a device-flow client
        // (scanners, terminals) has nowhere to be sent.
        let code_flow = self.grant_types.is_empty() || self.grant_types.iter().any(|g| g == "authorization_code");
        if code_flow && self.redirect_uris.is_empty() {
            return Err(DomainError::invalid(
                "redirect_uris",
                "a client of the authorization code flow needs at least one redirect URI",
            ));
        }
        for uri in &self.redirect_uris {
            redirect::check(kind, "redirect_uris", uri)?;
        }
        for uri in &self.post_logout_redirect_uris {
            redirect::check(kind, "post_logout_redirect_uris", uri)?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            validate_uri("backchannel_logout_uri", uri)?;
        }
        if let Some(uri) = &self.frontchannel_logout_uri {
            redirect::check_frontchannel("frontchannel_logout_uri", uri)?;
        }
        if let Some(resource) = &self.resource {
            redirect::check_resource("resource", resource)?;
        }
        for grant in &self.grant_types {
            if !SUPPORTED_GRANTS.contains(&grant.as_str()) {
                return Err(DomainError::invalid(
                    "grant_types",
                    format!("`{grant}` is not one of {}", SUPPORTED_GRANTS.join(", ")),
                ));
            }
        }
        if let Some(uri) = &self.jwks_uri {
            validate_uri("jwks_uri", uri)?;
        }
        if let Some(jwks) = &self.jwks {
            check_key_set(jwks)?;
        }
        let method = match &self.token_endpoint_auth_method {
            // A desktop application cannot keep a secret (RFC 8252 8.5): public by default.
            None if kind == ApplicationType::Native => AuthMethod::None,
            None => AuthMethod::ClientSecretBasic,
            Some(name) => AuthMethod::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "token_endpoint_auth_method",
                    format!("`{name}` is not one of {}", AuthMethod::SUPPORTED.join(", ")),
                )
            })?,
        };
        if kind == ApplicationType::Native && method != AuthMethod::None {
            return Err(DomainError::invalid(
                "token_endpoint_auth_method",
                "a native client is public (none): a desktop application cannot keep a secret (RFC 8252 8.5)",
            ));
        }
        let has_keys = self.jwks.is_some() || self.jwks_uri.is_some();
        match (method, &self.secret) {
            (AuthMethod::None, Some(_)) => {
                return Err(DomainError::invalid("secret", "a public client (method none) has no secret"));
            }
            (AuthMethod::PrivateKeyJwt, Some(_)) => {
                return Err(DomainError::invalid(
                    "secret",
                    "a private_key_jwt client proves itself with its keys, not a secret",
                ));
            }
            (AuthMethod::PrivateKeyJwt, None) if !has_keys || (self.jwks.is_some() && self.jwks_uri.is_some()) => {
                return Err(DomainError::invalid(
                    "jwks",
                    "a private_key_jwt client needs `jwks` or `jwks_uri` (one of them)",
                ));
            }
            (AuthMethod::None, None) if self.grant_types.iter().any(|g| g == "client_credentials") => {
                return Err(DomainError::invalid("grant_types", "a public client cannot use client_credentials"));
            }
            (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, None) => {
                return Err(DomainError::invalid(
                    "secret",
                    "this client authenticates with a secret: give `secret` or `secret_hash`",
                ));
            }
            (_, Some(SecretInput::Plain(secret))) if secret.len() < 8 => {
                return Err(DomainError::invalid(
                    "secret",
                    "a client secret has at least 8 characters (generated secrets have 43)",
                ));
            }
            // Only a resource server that proves who it is may introspect its tokens.
            (AuthMethod::None, None) if self.resource.is_some() => {
                return Err(DomainError::invalid(
                    "resource",
                    "a resource server introspects its tokens: it must be a confidential client",
                ));
            }
            (_, Some(SecretInput::Hash(hash))) if !hash.starts_with(SecretHasher::PREFIX) => {
                PasswordHasherService::check_phc(hash)
                    .map_err(|e| DomainError::invalid("secret_hash", e.to_string()))?;
            }
            _ => {}
        }
        let alg = signing_alg("id_token_signed_response_alg", self.id_token_signed_response_alg.as_deref())?;
        let access_alg =
            signing_alg("access_token_signed_response_alg", self.access_token_signed_response_alg.as_deref())?;
        let subject_type = self.check_subject_type()?;
        let request_object_alg = self.check_request_objects(has_keys)?;
        let userinfo_alg = signing_alg("userinfo_signed_response_alg", self.userinfo_signed_response_alg.as_deref())?;
        let security_profile =
            self.check_security_profile(method, alg, &[access_alg, userinfo_alg], request_object_alg)?;
        Ok(Checked {
            method,
            application_type: kind,
            id_token_alg: alg,
            access_token_alg: access_alg,
            subject_type,
            request_object_alg,
            userinfo_alg,
            security_profile,
        })
    }

    /// A signed request object is checked with the client's keys: a client that
    /// registers a signature algorithm, or must sign its objects, registers keys too; one
    /// that must sign cannot register `none`.
    fn check_request_objects(&self, has_keys: bool) -> Result<Option<RequestObjectAlg>, DomainError> {
        let alg = match self.request_object_signing_alg.as_deref() {
            None => None,
            Some(name) => Some(RequestObjectAlg::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "request_object_signing_alg",
                    format!("`{name}` is not one of none, RS256, PS256, ES256, EdDSA"),
                )
            })?),
        };
        if self.require_signed_request_object && alg == Some(RequestObjectAlg::Unsigned) {
            return Err(DomainError::invalid(
                "request_object_signing_alg",
                "a client required to sign its request objects cannot register `none`",
            ));
        }
        let signs = self.require_signed_request_object || matches!(alg, Some(RequestObjectAlg::Signed(_)));
        if signs && !has_keys {
            return Err(DomainError::invalid(
                "jwks",
                "signed request objects are checked with the client's keys: register `jwks` or `jwks_uri`",
            ));
        }
        Ok(alg)
    }

    /// A FAPI 2.0 client (Security Profile 5.3.2.1, 5.4) authenticates with
    /// `private_key_jwt` (Sésame has no mTLS) and has its ID tokens signed with PS256,
    /// ES256 or EdDSA; registering it otherwise is refused rather than silently changed.
    /// `other_algs`: the access token's and the userinfo response's, when registered.
    fn check_security_profile(
        &self,
        method: AuthMethod,
        id_token_alg: Option<SigningAlg>,
        other_algs: &[Option<SigningAlg>],
        request_object_alg: Option<RequestObjectAlg>,
    ) -> Result<Option<SecurityProfile>, DomainError> {
        let Some(name) = &self.security_profile else { return Ok(None) };
        let profile = SecurityProfile::parse(name).ok_or_else(|| {
            DomainError::invalid(
                "security_profile",
                format!("`{name}` is not one of {}", SecurityProfile::SUPPORTED.join(", ")),
            )
        })?;
        match profile {
            SecurityProfile::Fapi2 => {
                if method != AuthMethod::PrivateKeyJwt {
                    return Err(DomainError::invalid(
                        "token_endpoint_auth_method",
                        "a fapi2 client authenticates with private_key_jwt (FAPI 2.0 Security Profile 5.3.2.1)",
                    ));
                }
                if !id_token_alg.is_some_and(crate::oidc::fapi2::allows_alg) {
                    return Err(DomainError::invalid(
                        "id_token_signed_response_alg",
                        "a fapi2 client's ID tokens are signed with PS256, ES256 or EdDSA (FAPI 2.0 Security Profile 5.4)",
                    ));
                }
                let allowed = crate::oidc::fapi2::allows_alg;
                let request_object_allowed = match request_object_alg {
                    None => true,
                    Some(RequestObjectAlg::Signed(alg)) => allowed(alg),
                    Some(RequestObjectAlg::Unsigned) => false,
                };
                if !other_algs.iter().flatten().all(|alg| allowed(*alg)) || !request_object_allowed {
                    return Err(DomainError::invalid(
                        "security_profile",
                        "a fapi2 client's access tokens, userinfo responses and request objects are signed with \
                         PS256, ES256 or EdDSA (FAPI 2.0 Security Profile 5.4)",
                    ));
                }
            }
        }
        Ok(Some(profile))
    }

    /// A pairwise client's sector must be one host (OIDC Core 8.1): its
    /// `sector_identifier_uri`'s, or else the one host of all its redirect URIs — with
    /// several hosts and no sector named, which one is meant is unknowable.
    fn check_subject_type(&self) -> Result<SubjectType, DomainError> {
        let subject_type = match &self.subject_type {
            None => SubjectType::Public,
            Some(name) => SubjectType::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "subject_type",
                    format!("`{name}` is not one of {}", SubjectType::SUPPORTED.join(", ")),
                )
            })?,
        };
        if let Some(uri) = &self.sector_identifier_uri {
            redirect::check_sector_identifier("sector_identifier_uri", uri)?;
            return Ok(subject_type);
        }
        if subject_type == SubjectType::Pairwise {
            let hosts: Vec<Option<String>> = self.redirect_uris.iter().map(|uri| redirect::host(uri)).collect();
            let one_host =
                matches!(hosts.first(), Some(Some(first)) if hosts.iter().all(|h| h.as_ref() == Some(first)));
            if !one_host {
                return Err(DomainError::invalid(
                    "sector_identifier_uri",
                    "a pairwise client whose redirect URIs are not all on one host needs a sector_identifier_uri (an https URL whose host names its sector)",
                ));
            }
        }
        Ok(subject_type)
    }
}

/// Keys a client may register or publish: a real set holds a few.
pub const MAX_KEYS: usize = 20;
/// Entries of a key's list members (`key_ops`, `x5c`).
const MAX_LIST: usize = 10;

/// A registered key set (`jwks`): an object with a `keys` list of at most [`MAX_KEYS`]
/// keys, each an object of texts (and lists of a few texts: `key_ops`, `x5c`). Every
/// node keeps each client's set parsed in its client cache, where numbers or long lists
/// in a small document would take many times its size.
fn check_key_set(jwks: &serde_json::Value) -> Result<(), DomainError> {
    use serde_json::Value;
    let Some(keys) = jwks.get("keys").and_then(Value::as_array) else {
        return Err(DomainError::invalid("jwks", "a JWK Set is an object with a `keys` list"));
    };
    if keys.len() > MAX_KEYS {
        return Err(DomainError::invalid("jwks", format!("a JWK Set holds at most {MAX_KEYS} keys")));
    }
    let texts = |value: &Value| match value {
        Value::String(_) => true,
        Value::Array(list) => list.len() <= MAX_LIST && list.iter().all(Value::is_string),
        _ => false,
    };
    if !keys.iter().all(|key| key.as_object().is_some_and(|members| members.values().all(texts))) {
        return Err(DomainError::invalid(
            "jwks",
            format!("each key is an object of texts (lists of at most {MAX_LIST} texts for `key_ops`, `x5c`)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod key_set_tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_registered_key_set_is_keys_made_of_texts() {
        let key = json!({"kty": "EC", "crv": "P-256", "x": "eA", "y": "eQ", "kid": "k1", "key_ops": ["verify"]});
        assert!(check_key_set(&json!({"keys": [key]})).is_ok());
        assert!(check_key_set(&json!({"keys": []})).is_ok());
        assert!(check_key_set(&json!({"keys": "k"})).is_err(), "not a list");
        assert!(check_key_set(&json!({"keys": vec![key.clone(); MAX_KEYS + 1]})).is_err(), "too many keys");
        assert!(check_key_set(&json!({"keys": [{"kty": "EC", "padding": vec![0; 30_000]}]})).is_err(), "numbers");
        assert!(check_key_set(&json!({"keys": [{"kty": "EC", "x5c": vec!["a"; 11]}]})).is_err(), "a long list");
        assert!(check_key_set(&json!({"keys": [{"kty": "EC", "n": 3}]})).is_err(), "a number");
        assert!(check_key_set(&json!({"keys": ["not an object"]})).is_err());
    }
}
