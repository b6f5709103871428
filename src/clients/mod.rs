//! OIDC clients (relying parties): the applications' web and desktop front-ends, their
//! redirect URIs, authentication method and signing preferences.

use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder};

use crate::applications;
use crate::crypto::{self, jws::SigningAlg, password::PasswordHasherService};
use crate::domain::{Change, DomainError, from_json_text, to_json_text};
use crate::storage::{Db, entities::client};

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

pub const SUPPORTED_GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

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
    pub first_party: bool,
    /// Every login to this client needs a second factor (`acr` two-factor).
    pub require_two_factor: bool,
    pub id_token_alg: SigningAlg,
    /// The client's own choice of access-token algorithm, else the server's.
    pub access_token_alg: Option<SigningAlg>,
    pub backchannel_logout_uri: Option<String>,
    /// Public keys for private_key_jwt: a JWK Set by value, or where to fetch it.
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
}

impl Client {
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }

    /// Exact string comparison, query included (no prefix or pattern matching).
    pub fn has_redirect_uri(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|registered| registered == uri)
    }

    pub fn allows_grant(&self, grant: &str) -> bool {
        self.grant_types.iter().any(|g| g == grant)
    }
}

impl From<client::Model> for Client {
    fn from(row: client::Model) -> Self {
        Self {
            auth_method: AuthMethod::parse(&row.token_endpoint_auth_method).unwrap_or(AuthMethod::ClientSecretBasic),
            id_token_alg: row
                .id_token_signed_response_alg
                .as_deref()
                .and_then(SigningAlg::parse)
                .unwrap_or(SigningAlg::Rs256),
            access_token_alg: row.access_token_signed_response_alg.as_deref().and_then(SigningAlg::parse),
            jwks: row.jwks.as_deref().and_then(|text| serde_json::from_str(text).ok()),
            jwks_uri: row.jwks_uri,
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
            backchannel_logout_uri: row.backchannel_logout_uri,
        }
    }
}

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
    pub first_party: bool,
    pub require_two_factor: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
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
            first_party: client.first_party,
            require_two_factor: client.require_two_factor,
            id_token_signed_response_alg: Some(client.id_token_alg.as_str().into()),
            access_token_signed_response_alg: client.access_token_alg.map(|a| a.as_str().into()),
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
        }
    }
}

/// Client secrets are long random values: a keyed hash is as safe as a password hash
/// for them and costs microseconds instead of tens of milliseconds per token request.
/// Operator-provided hashes may also be Argon2 PHC strings.
pub struct SecretHasher {
    key: [u8; 32],
}

impl SecretHasher {
    const PREFIX: &'static str = "hmac-sha256$";

    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn hash(&self, secret: &str) -> String {
        format!("{}{}", Self::PREFIX, crypto::keyed_hash(&self.key, "client-secret", secret.as_bytes()))
    }

    /// Checks a presented secret; an Argon2 hash (a `secret_hash` imported from
    /// elsewhere) goes through the bounded password-checking threads.
    pub async fn verify(
        &self,
        secret: &str,
        stored: &str,
        passwords: &PasswordHasherService,
    ) -> Result<bool, crate::crypto::password::Busy> {
        if stored.starts_with(Self::PREFIX) {
            Ok(crypto::constant_time_eq(self.hash(secret).as_bytes(), stored.as_bytes()))
        } else {
            passwords.verify(secret, stored).await
        }
    }
}

fn validate_uri(field: &str, uri: &str) -> Result<(), DomainError> {
    let parsed = url::Url::parse(uri)
        .map_err(|e| DomainError::invalid(field, format!("`{uri}` is not an absolute URI ({e})")))?;
    if parsed.fragment().is_some() {
        return Err(DomainError::invalid(field, format!("`{uri}` must not have a fragment (#…)")));
    }
    Ok(())
}

impl ClientInput {
    fn validate(&self) -> Result<(AuthMethod, Option<SigningAlg>, Option<SigningAlg>), DomainError> {
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
        if self.redirect_uris.is_empty() {
            return Err(DomainError::invalid("redirect_uris", "a client needs at least one redirect URI"));
        }
        for uri in &self.redirect_uris {
            validate_uri("redirect_uris", uri)?;
        }
        for uri in &self.post_logout_redirect_uris {
            validate_uri("post_logout_redirect_uris", uri)?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            validate_uri("backchannel_logout_uri", uri)?;
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
        if let Some(jwks) = &self.jwks
            && !jwks.get("keys").is_some_and(serde_json::Value::is_array)
        {
            return Err(DomainError::invalid("jwks", "a JWK Set is an object with a `keys` list"));
        }
        let method = match &self.token_endpoint_auth_method {
            None => AuthMethod::ClientSecretBasic,
            Some(name) => AuthMethod::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "token_endpoint_auth_method",
                    format!("`{name}` is not one of {}", AuthMethod::SUPPORTED.join(", ")),
                )
            })?,
        };
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
            (_, Some(SecretInput::Hash(hash))) if !hash.starts_with(SecretHasher::PREFIX) => {
                PasswordHasherService::check_phc(hash)
                    .map_err(|e| DomainError::invalid("secret_hash", e.to_string()))?;
            }
            _ => {}
        }
        let alg = match &self.id_token_signed_response_alg {
            None => None,
            Some(name) => Some(SigningAlg::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "id_token_signed_response_alg",
                    format!("`{name}` is not one of RS256, PS256, ES256, EdDSA"),
                )
            })?),
        };
        let access_alg = match &self.access_token_signed_response_alg {
            None => None,
            Some(name) => Some(SigningAlg::parse(name).ok_or_else(|| {
                DomainError::invalid(
                    "access_token_signed_response_alg",
                    format!("`{name}` is not one of RS256, PS256, ES256, EdDSA"),
                )
            })?),
        };
        Ok((method, alg, access_alg))
    }
}

/// Clients as the token endpoint sees them: read from the database at most every
/// `ttl` seconds per client, so that a token costs a signature rather than a query. A
/// change made on another node (a new secret, a removed redirect URI) reaches this one
/// within `ttl`; unknown client ids are not cached.
pub struct ClientCache {
    ttl: i64,
    entries: tokio::sync::RwLock<std::collections::HashMap<String, (std::sync::Arc<Client>, i64)>>,
}

impl ClientCache {
    pub fn new(ttl: i64) -> Self {
        Self { ttl, entries: Default::default() }
    }

    pub async fn get(&self, db: &Db, client_id: &str, now: i64) -> Result<Option<std::sync::Arc<Client>>, DomainError> {
        if let Some((client, fetched)) = self.entries.read().await.get(client_id)
            && now - fetched < self.ttl
        {
            return Ok(Some(client.clone()));
        }
        let Some(client) = find(db, client_id).await? else {
            self.entries.write().await.remove(client_id);
            return Ok(None);
        };
        let client = std::sync::Arc::new(client);
        let mut entries = self.entries.write().await;
        // Bounded by the number of registered clients; a flood of made-up ids is not cached.
        entries.insert(client_id.to_string(), (client.clone(), now));
        Ok(Some(client))
    }

    /// Forgets a client changed on this node, so that the change applies here at once
    /// (a rotated secret stops working immediately on the node that rotated it).
    pub async fn forget(&self, client_id: &str) {
        self.entries.write().await.remove(client_id);
    }
}

pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, DomainError> {
    Ok(client::Entity::find_by_id(client_id.to_string()).one(db).await?.map(Client::from))
}

pub async fn list(db: &Db) -> Result<Vec<Client>, DomainError> {
    Ok(client::Entity::find()
        .order_by_asc(client::Column::ClientId)
        .all(db)
        .await?
        .into_iter()
        .map(Client::from)
        .collect())
}

pub async fn list_for_application(db: &Db, application_id: &str) -> Result<Vec<Client>, DomainError> {
    Ok(client::Entity::find()
        .filter(client::Column::ApplicationId.eq(application_id))
        .all(db)
        .await?
        .into_iter()
        .map(Client::from)
        .collect())
}

/// Creates or updates the client with this id.
pub async fn upsert(
    db: &impl ConnectionTrait,
    secrets: &SecretHasher,
    input: ClientInput,
    now: i64,
) -> Result<(Client, Change), DomainError> {
    let (method, alg, access_alg) = input.validate()?;
    let application = match &input.application {
        None => None,
        Some(code) => Some(
            applications::find_by_code(db, code)
                .await?
                .ok_or_else(|| DomainError::invalid("application", format!("no application has the code `{code}`")))?,
        ),
    };
    let existing = client::Entity::find_by_id(input.client_id.clone()).one(db).await?;
    let secret_hash = match &input.secret {
        None => None,
        Some(SecretInput::Hash(hash)) => Some(hash.clone()),
        Some(SecretInput::Plain(secret)) => Some(secrets.hash(secret)),
    };
    let grant_types =
        if input.grant_types.is_empty() { vec!["authorization_code".to_string()] } else { input.grant_types.clone() };
    let name = input
        .name
        .clone()
        .or_else(|| application.as_ref().map(|a| a.name.clone()))
        .unwrap_or_else(|| input.client_id.clone());
    let mut wanted = client::Model {
        client_id: input.client_id.clone(),
        application_id: application.map(|a| a.id),
        name,
        secret_hash,
        redirect_uris: to_json_text(&input.redirect_uris),
        post_logout_redirect_uris: to_json_text(&input.post_logout_redirect_uris),
        grant_types: to_json_text(&grant_types),
        scopes: to_json_text(&input.scopes),
        token_endpoint_auth_method: method.as_str().to_string(),
        first_party: input.first_party,
        require_two_factor: input.require_two_factor,
        id_token_signed_response_alg: alg.map(|a| a.as_str().to_string()),
        access_token_signed_response_alg: access_alg.map(|a| a.as_str().to_string()),
        backchannel_logout_uri: input.backchannel_logout_uri.clone(),
        jwks: input.jwks.as_ref().map(|jwks| jwks.to_string()),
        jwks_uri: input.jwks_uri.clone(),
        created_at: now,
        updated_at: now,
    };
    match existing {
        None => Ok((wanted.into_active_model().reset_all().insert(db).await?.into(), Change::Created)),
        Some(current) => {
            wanted.created_at = current.created_at;
            wanted.updated_at = current.updated_at;
            if wanted == current {
                return Ok((current.into(), Change::Unchanged));
            }
            wanted.updated_at = now;
            Ok((wanted.into_active_model().reset_all().update(db).await?.into(), Change::Updated))
        }
    }
}

/// A fresh client secret: 256 random bits.
pub fn generate_secret() -> String {
    crypto::random_token()
}
