//! Client metadata as a program registers it (OIDC Dynamic Client Registration 1.0 2,
//! RFC 7591 2): each field read with its type checked, the rules that only registration
//! adds (a registrant is not a trusted operator) checked here, and then mapped to a
//! `ClientInput` in ONE function, [`Metadata::to_client_input`], so that the client is
//! checked by `clients::input` exactly as an imported one is. Unknown fields are ignored
//! (RFC 7591 2); fields Sésame cannot honour are refused, never silently dropped.
//!
//! What has no column of `clients` (`logo_uri`, `client_uri`, `policy_uri`, `tos_uri`,
//! `contacts`) is kept in [`Metadata::descriptive`] and answered on read.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clients::{ApplicationType, AuthMethod, ClientInput, SecretInput};
use crate::config::FetchConfig;
use crate::crypto::jws::SigningAlg;
use crate::domain::DomainError;
use crate::oidc::fetch;

/// A refusal, in the terms of RFC 7591 3.2.2.
#[derive(Debug)]
pub struct MetadataError {
    /// `invalid_redirect_uri` or `invalid_client_metadata`.
    pub error: &'static str,
    pub description: String,
}

impl MetadataError {
    pub fn invalid(description: impl Into<String>) -> Self {
        Self { error: "invalid_client_metadata", description: description.into() }
    }

    fn redirect(description: impl Into<String>) -> Self {
        Self { error: "invalid_redirect_uri", description: description.into() }
    }

    /// What `clients::input` refused, under the field's registered name.
    pub fn from_domain(error: DomainError) -> Result<Self, DomainError> {
        match error {
            DomainError::Invalid { field, message, .. } | DomainError::Conflict { field, message, .. } => {
                Ok(if field == "redirect_uris" {
                    Self::redirect(format!("{field}: {message}"))
                } else {
                    Self::invalid(format!("{field}: {message}"))
                })
            }
            other => Err(other),
        }
    }
}

/// Descriptive metadata kept and answered but used by nothing in Sésame.
const DESCRIPTIVE_URIS: [&str; 4] = ["logo_uri", "client_uri", "policy_uri", "tos_uri"];
/// Encryption Sésame does not do: a client that asks for it would get plain tokens.
const ENCRYPTION: [&str; 6] = [
    "id_token_encrypted_response_alg",
    "id_token_encrypted_response_enc",
    "userinfo_encrypted_response_alg",
    "userinfo_encrypted_response_enc",
    "request_object_encryption_alg",
    "request_object_encryption_enc",
];
/// Bounds on what one registration may hold.
const MAX_URIS: usize = 20;
const MAX_URI_LENGTH: usize = 2000;
const MAX_TEXT_LENGTH: usize = 200;
const MAX_CONTACTS: usize = 20;

/// The metadata of one registration, checked and with Sésame's defaults filled in: what
/// the registration and read responses answer (serialised as registered names).
#[derive(Debug, Clone, Serialize)]
pub struct Metadata {
    pub redirect_uris: Vec<String>,
    pub response_types: Vec<String>,
    pub grant_types: Vec<String>,
    pub application_type: String,
    pub token_endpoint_auth_method: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    pub id_token_signed_response_alg: String,
    pub subject_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Sésame sends `sid` in every logout token: answered as registered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_session_required: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Space-separated scopes the client may ask for; absent: every scope.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    // Request objects (RFC 9101) and signed userinfo; DPoP (being built on another
    // branch: parsed and checked here, refused with any value but the default until
    // `to_client_input` maps it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub require_signed_request_object: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub dpop_bound_access_tokens: bool,
    /// `logo_uri`, `client_uri`, `policy_uri`, `tos_uri`, `contacts`: kept, answered.
    #[serde(flatten)]
    pub descriptive: Map<String, Value>,
}

/// Reads one registration request's JSON object.
pub struct Reader<'a> {
    body: &'a Map<String, Value>,
}

impl<'a> Reader<'a> {
    fn string(&self, name: &str) -> Result<Option<String>, MetadataError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) if text.len() <= MAX_URI_LENGTH => Ok(Some(text.clone())),
            Some(Value::String(_)) => Err(MetadataError::invalid(format!("`{name}` is too long"))),
            Some(_) => Err(MetadataError::invalid(format!("`{name}` must be a string"))),
        }
    }

    fn strings(&self, name: &str) -> Result<Option<Vec<String>>, MetadataError> {
        let wrong = || MetadataError::invalid(format!("`{name}` must be an array of at most {MAX_URIS} strings"));
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) if items.len() <= MAX_URIS => items
                .iter()
                .map(|item| match item {
                    Value::String(text) if text.len() <= MAX_URI_LENGTH => Ok(text.clone()),
                    _ => Err(wrong()),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(wrong()),
        }
    }

    fn boolean(&self, name: &str) -> Result<Option<bool>, MetadataError> {
        match self.body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(value)) => Ok(Some(*value)),
            Some(_) => Err(MetadataError::invalid(format!("`{name}` must be true or false"))),
        }
    }

    fn alg(&self, name: &str, none_allowed: bool) -> Result<Option<String>, MetadataError> {
        let Some(alg) = self.string(name)? else { return Ok(None) };
        if (none_allowed && alg == "none") || SigningAlg::parse(&alg).is_some() {
            return Ok(Some(alg));
        }
        let names: Vec<&str> = SigningAlg::ALL.iter().map(|a| a.as_str()).collect();
        Err(MetadataError::invalid(format!("`{name}`: `{alg}` is not one of {}", names.join(", "))))
    }
}

/// An absolute http(s) URL without a fragment (the descriptive URIs, shown to people).
fn web_url(name: &str, uri: &str) -> Result<(), MetadataError> {
    match url::Url::parse(uri) {
        Ok(url) if matches!(url.scheme(), "https" | "http") && url.has_host() && url.fragment().is_none() => Ok(()),
        _ => Err(MetadataError::invalid(format!("`{name}`: `{uri}` is not an http(s) URL without fragment"))),
    }
}

/// A URL Sésame will fetch or call: https (loopback http only where `[fetch]` allows it).
fn https_only(fetch: &FetchConfig, name: &str, uri: &str) -> Result<(), MetadataError> {
    if fetch::allowed(fetch, uri) {
        return Ok(());
    }
    Err(MetadataError::invalid(format!("`{name}`: `{uri}` is not an https URL")))
}

impl Metadata {
    /// Reads and checks the registration request's metadata, with Sésame's defaults
    /// where a field is absent. `fetch` is the policy for URLs Sésame will fetch
    /// (`jwks_uri`, `sector_identifier_uri`).
    pub fn parse(body: &Map<String, Value>, fetch: &FetchConfig) -> Result<Self, MetadataError> {
        let read = Reader { body };
        for name in ENCRYPTION {
            if read.body.get(name).is_some_and(|v| !v.is_null()) {
                return Err(MetadataError::invalid(format!("`{name}`: Sésame does not encrypt tokens or requests")));
            }
        }
        let application_type = read.string("application_type")?.unwrap_or_else(|| "web".into());
        let kind = ApplicationType::parse(&application_type).ok_or_else(|| {
            MetadataError::invalid(format!(
                "`application_type`: `{application_type}` is not one of {}",
                ApplicationType::SUPPORTED.join(", ")
            ))
        })?;
        let redirect_uris = read.strings("redirect_uris")?.unwrap_or_default();
        // Registrants are strangers: a web client's redirect URIs are https (OIDC
        // Registration 2; native ones follow RFC 8252, checked in `clients::redirect`).
        if kind == ApplicationType::Web
            && let Some(plain) = redirect_uris.iter().find(|uri| !uri.starts_with("https://"))
        {
            return Err(MetadataError::redirect(format!(
                "redirect_uris: `{plain}`: a web client registers https redirect URIs"
            )));
        }
        let response_types = read.strings("response_types")?.unwrap_or_else(|| vec!["code".into()]);
        if let Some(other) = response_types.iter().find(|r| *r != "code") {
            return Err(MetadataError::invalid(format!(
                "`response_types`: `{other}` is not supported (only code: the authorization code flow)"
            )));
        }
        let grant_types = read.strings("grant_types")?.unwrap_or_else(|| vec!["authorization_code".into()]);
        if grant_types.iter().any(|g| g == "implicit") {
            return Err(MetadataError::invalid("`grant_types`: the implicit grant is not supported"));
        }
        // RFC 7591 2.1: response type code goes with grant type authorization_code.
        let code_grant = grant_types.iter().any(|g| g == "authorization_code");
        if code_grant == response_types.is_empty() {
            return Err(MetadataError::invalid(
                "`response_types` and `grant_types` disagree: response type code goes with the authorization_code grant (RFC 7591 2.1)",
            ));
        }
        let token_endpoint_auth_method = read.string("token_endpoint_auth_method")?.unwrap_or_else(|| {
            // RFC 7591 2: client_secret_basic by default; a desktop application cannot
            // keep a secret (RFC 8252 8.5).
            let default =
                if kind == ApplicationType::Native { AuthMethod::None } else { AuthMethod::ClientSecretBasic };
            default.as_str().into()
        });
        let jwks = match read.body.get("jwks") {
            None | Some(Value::Null) => None,
            Some(jwks @ Value::Object(_)) => Some(jwks.clone()),
            Some(_) => return Err(MetadataError::invalid("`jwks` must be a JWK Set (an object with `keys`)")),
        };
        let jwks_uri = read.string("jwks_uri")?;
        if jwks.is_some() && jwks_uri.is_some() {
            return Err(MetadataError::invalid("`jwks` and `jwks_uri` are exclusive (RFC 7591 2): give one"));
        }
        if let Some(uri) = &jwks_uri {
            https_only(fetch, "jwks_uri", uri)?;
        }
        let sector_identifier_uri = read.string("sector_identifier_uri")?;
        if let Some(uri) = &sector_identifier_uri {
            https_only(fetch, "sector_identifier_uri", uri)?;
        }
        // Sésame POSTs logout tokens there from inside the office's network: a stranger
        // names only an https URL (as for the documents Sésame fetches).
        let backchannel_logout_uri = read.string("backchannel_logout_uri")?;
        if let Some(uri) = &backchannel_logout_uri {
            https_only(fetch, "backchannel_logout_uri", uri)?;
        }
        let client_name = read.string("client_name")?;
        if client_name.as_ref().is_some_and(|n| n.chars().count() > MAX_TEXT_LENGTH || n.chars().any(char::is_control))
        {
            return Err(MetadataError::invalid(format!(
                "`client_name`: at most {MAX_TEXT_LENGTH} characters, no control characters"
            )));
        }
        let scope = read.string("scope")?;
        if let Some(scope) = &scope
            && scope
                .split(' ')
                .any(|s| s.is_empty() || !s.chars().all(|c| c.is_ascii_graphic() && c != '"' && c != '\\'))
        {
            return Err(MetadataError::invalid("`scope`: scope names separated by single spaces (RFC 6749 3.3)"));
        }
        let mut descriptive = Map::new();
        for name in DESCRIPTIVE_URIS {
            if let Some(uri) = read.string(name)? {
                web_url(name, &uri)?;
                descriptive.insert(name.into(), Value::String(uri));
            }
        }
        if let Some(contacts) = read.strings("contacts")? {
            if contacts.len() > MAX_CONTACTS
                || contacts.iter().any(|c| c.is_empty() || c.chars().count() > MAX_TEXT_LENGTH)
            {
                return Err(MetadataError::invalid(format!(
                    "`contacts`: at most {MAX_CONTACTS} non-empty strings of at most {MAX_TEXT_LENGTH} characters"
                )));
            }
            descriptive.insert("contacts".into(), contacts.into());
        }
        Ok(Self {
            redirect_uris,
            response_types,
            grant_types,
            application_type,
            token_endpoint_auth_method,
            jwks,
            jwks_uri,
            id_token_signed_response_alg: read
                .alg("id_token_signed_response_alg", false)?
                .unwrap_or_else(|| SigningAlg::Rs256.as_str().into()),
            subject_type: read.string("subject_type")?.unwrap_or_else(|| "public".into()),
            sector_identifier_uri,
            post_logout_redirect_uris: read.strings("post_logout_redirect_uris")?.unwrap_or_default(),
            backchannel_logout_uri,
            backchannel_logout_session_required: read.boolean("backchannel_logout_session_required")?,
            frontchannel_logout_uri: read.string("frontchannel_logout_uri")?,
            frontchannel_logout_session_required: read.boolean("frontchannel_logout_session_required")?,
            client_name,
            scope,
            request_object_signing_alg: read.alg("request_object_signing_alg", true)?,
            require_signed_request_object: read.boolean("require_signed_request_object")?.unwrap_or(false),
            userinfo_signed_response_alg: read.alg("userinfo_signed_response_alg", false)?,
            dpop_bound_access_tokens: read.boolean("dpop_bound_access_tokens")?.unwrap_or(false),
            descriptive,
        })
    }

    /// Whether the client authenticates with a secret Sésame gives it.
    pub fn uses_secret(&self) -> bool {
        matches!(
            AuthMethod::parse(&self.token_endpoint_auth_method),
            Some(AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
        )
    }

    /// THE mapping from registered metadata to a client: the only place that says which
    /// metadata becomes which field of `ClientInput` (and so of `Client`). A field added
    /// to `Client` is one line here. `application` is the code of the application the
    /// initial access token was bound to.
    pub fn to_client_input(
        &self,
        client_id: &str,
        application: Option<String>,
        secret: Option<SecretInput>,
    ) -> Result<ClientInput, MetadataError> {
        Ok(ClientInput {
            client_id: client_id.to_string(),
            application,
            name: self.client_name.clone(),
            secret,
            redirect_uris: self.redirect_uris.clone(),
            post_logout_redirect_uris: self.post_logout_redirect_uris.clone(),
            grant_types: self.grant_types.clone(),
            scopes: self.scope.as_deref().map(|s| s.split(' ').map(str::to_string).collect()).unwrap_or_default(),
            token_endpoint_auth_method: Some(self.token_endpoint_auth_method.clone()),
            application_type: Some(self.application_type.clone()),
            // A registered client is a third party: its users see the consent page; no
            // operator rule (second factor, PAR) is set by the registrant.
            first_party: false,
            require_two_factor: false,
            require_pushed_authorization_requests: false,
            id_token_signed_response_alg: Some(self.id_token_signed_response_alg.clone()),
            access_token_signed_response_alg: None,
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: self.frontchannel_logout_session_required.unwrap_or(false),
            resource: None,
            jwks: self.jwks.clone(),
            jwks_uri: self.jwks_uri.clone(),
            subject_type: Some(self.subject_type.clone()),
            sector_identifier_uri: self.sector_identifier_uri.clone(),
            request_object_signing_alg: self.request_object_signing_alg.clone(),
            require_signed_request_object: self.require_signed_request_object,
            userinfo_signed_response_alg: self.userinfo_signed_response_alg.clone(),
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            // Sésame's own profile is an operator's choice, not a registrant's.
            security_profile: None,
        })
    }

    /// As registered names, for the responses and the `client_registrations` row.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(body: Value) -> Result<Metadata, MetadataError> {
        Metadata::parse(body.as_object().unwrap(), &FetchConfig::default())
    }

    fn refused(body: Value) -> MetadataError {
        parse(body).expect_err("refused")
    }

    #[test]
    fn defaults_are_filled_in() {
        let m = parse(json!({"redirect_uris": ["https://rp.example/cb"], "unknown_field": 1})).unwrap();
        assert_eq!(m.grant_types, ["authorization_code"]);
        assert_eq!(m.response_types, ["code"]);
        assert_eq!(m.token_endpoint_auth_method, "client_secret_basic");
        assert_eq!(m.id_token_signed_response_alg, "RS256");
        assert!(m.uses_secret());
        assert!(m.to_json().get("unknown_field").is_none(), "unknown metadata is ignored");
        let native = parse(json!({"application_type": "native", "redirect_uris": ["http://127.0.0.1/cb"]})).unwrap();
        assert_eq!(native.token_endpoint_auth_method, "none");
    }

    #[test]
    fn each_field_is_checked() {
        assert_eq!(refused(json!({"redirect_uris": ["http://rp.example/cb"]})).error, "invalid_redirect_uri");
        assert_eq!(refused(json!({"redirect_uris": "https://rp.example/cb"})).error, "invalid_client_metadata");
        for body in [
            json!({"response_types": ["id_token"]}),
            json!({"grant_types": ["implicit"]}),
            json!({"grant_types": ["client_credentials"]}),
            json!({"jwks": {"keys": []}, "jwks_uri": "https://rp.example/jwks"}),
            json!({"jwks_uri": "http://rp.example/jwks"}),
            json!({"backchannel_logout_uri": "http://intranet.example/admin"}),
            json!({"sector_identifier_uri": "http://127.0.0.1/s"}),
            json!({"id_token_signed_response_alg": "none"}),
            json!({"id_token_signed_response_alg": "HS256"}),
            json!({"logo_uri": "javascript:alert(1)"}),
            json!({"tos_uri": "https://rp.example/tos#x"}),
            json!({"contacts": [""]}),
            json!({"contacts": "a@b"}),
            json!({"client_name": 5}),
            json!({"scope": "openid  email"}),
            json!({"backchannel_logout_session_required": "yes"}),
            json!({"id_token_encrypted_response_alg": "RSA-OAEP"}),
            json!({"request_object_signing_alg": "HS256"}),
            json!({"dpop_bound_access_tokens": "true"}),
        ] {
            assert_eq!(refused(body.clone()).error, "invalid_client_metadata", "{body}");
        }
    }

    #[test]
    fn metadata_of_the_protocol_extensions_reaches_the_client() {
        let base = json!({"redirect_uris": ["https://rp.example/cb"]});
        let with = |name: &str, value: Value| {
            let mut body = base.clone();
            body[name] = value;
            parse(body).unwrap()
        };
        let input = with("dpop_bound_access_tokens", json!(true)).to_client_input("c", None, None).expect("dpop");
        assert!(input.dpop_bound_access_tokens);
        assert_eq!(input.security_profile, None);
        for (name, value) in [
            ("require_signed_request_object", json!(false)),
            ("dpop_bound_access_tokens", json!(false)),
            ("request_object_signing_alg", json!("none")),
            ("userinfo_signed_response_alg", json!("ES256")),
        ] {
            assert!(with(name, value).to_client_input("c", None, None).is_ok(), "{name}: the default is fine");
        }
    }
}
