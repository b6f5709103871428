//! Dynamic client registration (OpenID Connect Dynamic Client Registration 1.0, RFC
//! 7591) and its management protocol (RFC 7592), free of HTTP (the endpoint is
//! `oidc::registration`).
//!
//! A registered client is an ordinary client (`clients`), checked by the same rules as
//! an imported one, plus a `client_registrations` row: the keyed hash of its
//! `registration_access_token` and the metadata as registered. `metadata` reads and maps
//! the metadata; `initial_tokens` are what administrators hand out to allow
//! registrations. With an initial access token the client belongs to the token's
//! application; with open registration to none (its tokens carry no application rights).

pub mod initial_tokens;
pub mod metadata;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, PaginatorTrait, TransactionTrait};
use serde_json::{Map, Value, json};

pub use metadata::{Metadata, MetadataError};

use crate::audit::{self, AuditEvent};
use crate::clients::{self, SecretInput};
use crate::domain::DomainError;
use crate::oidc::fetch;
use crate::state::AppState;
use crate::storage::entities::client_registration;

#[derive(Debug)]
pub enum RegistrationError {
    /// `invalid_redirect_uri` / `invalid_client_metadata` (RFC 7591 3.2.2).
    Metadata(MetadataError),
    /// The initial or registration access token is missing, unknown, expired, revoked,
    /// used up, or another client's (RFC 6750 `invalid_token`).
    InvalidToken(&'static str),
    /// `registration.max_clients` are registered already.
    Full(u64),
    Domain(DomainError),
}

impl From<DomainError> for RegistrationError {
    fn from(error: DomainError) -> Self {
        match MetadataError::from_domain(error) {
            Ok(metadata) => Self::Metadata(metadata),
            Err(other) => Self::Domain(other),
        }
    }
}

impl From<MetadataError> for RegistrationError {
    fn from(error: MetadataError) -> Self {
        Self::Metadata(error)
    }
}

impl From<sea_orm::DbErr> for RegistrationError {
    fn from(error: sea_orm::DbErr) -> Self {
        Self::Domain(error.into())
    }
}

/// A client's registration as the endpoint answers it (RFC 7591 3.2.1, RFC 7592 3).
pub struct Registration {
    pub client_id: String,
    pub issued_at: i64,
    /// Shown once: on registration, and on an update that gave the client a secret.
    pub client_secret: Option<String>,
    /// Whether the client has a secret (then `client_secret_expires_at` is answered).
    pub has_secret: bool,
    /// Shown once, on registration.
    pub registration_access_token: Option<String>,
    pub metadata: Value,
}

impl Registration {
    /// `endpoint`: the registration endpoint's URL, under which each client's
    /// `registration_client_uri` is.
    pub fn to_json(&self, endpoint: &str) -> Value {
        let mut body = match &self.metadata {
            Value::Object(map) => map.clone(),
            _ => Map::new(),
        };
        body.insert("client_id".into(), json!(self.client_id));
        body.insert("client_id_issued_at".into(), json!(self.issued_at));
        if let Some(secret) = &self.client_secret {
            body.insert("client_secret".into(), json!(secret));
        }
        if self.has_secret {
            // Secrets do not expire (RFC 7591 3.2.1: 0).
            body.insert("client_secret_expires_at".into(), json!(0));
        }
        if let Some(token) = &self.registration_access_token {
            body.insert("registration_access_token".into(), json!(token));
        }
        body.insert("registration_client_uri".into(), json!(format!("{endpoint}/{}", self.client_id)));
        Value::Object(body)
    }
}

/// The metadata read and mapped to a client, checked as `clients::upsert` will check
/// it, and its `sector_identifier_uri` document fetched and checked.
async fn checked_input(
    state: &AppState,
    body: &Map<String, Value>,
    client_id: &str,
    application: Option<String>,
    secret: impl FnOnce(&Metadata) -> Option<SecretInput>,
) -> Result<(Metadata, clients::ClientInput), RegistrationError> {
    let metadata = Metadata::parse(body, &state.config.fetch)?;
    let input = metadata.to_client_input(client_id, application, secret(&metadata))?;
    input.check()?;
    if let Some(uri) = &metadata.sector_identifier_uri {
        check_sector(state, uri, &metadata.redirect_uris).await?;
    }
    Ok((metadata, input))
}

/// Makes `transaction` the only registration in progress until it ends: on PostgreSQL a
/// transaction-scoped advisory lock, on SQLite a write (which takes the database's one
/// write lock, and reads after it see every committed registration).
async fn take_turn(transaction: &sea_orm::DatabaseTransaction) -> Result<(), sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    let backend = transaction.get_database_backend();
    let statement = match backend {
        sea_orm::DatabaseBackend::Postgres => "SELECT pg_advisory_xact_lock(7451837126431029248)",
        _ => "UPDATE client_registrations SET updated_at = updated_at WHERE client_id = ''",
    };
    transaction.execute_raw(Statement::from_string(backend, statement)).await?;
    Ok(())
}

/// OIDC Core 8.1: the document at `sector_identifier_uri` is a JSON array of URIs
/// holding every redirect URI of the client, so that one sector is shared only by
/// clients its owner listed.
async fn check_sector(state: &AppState, uri: &str, redirect_uris: &[String]) -> Result<(), MetadataError> {
    let refuse = |why: String| MetadataError::invalid(format!("`sector_identifier_uri`: {why}"));
    let body = state
        .fetcher
        .get(fetch::Lane::Client, uri, "application/json")
        .await
        .map_err(|e| refuse(format!("`{uri}`: {e}")))?;
    let document: Value = serde_json::from_slice(&body).unwrap_or_default();
    let Some(listed) = document.as_array() else {
        return Err(refuse(format!("`{uri}` must answer a JSON array of redirect URIs")));
    };
    let listed: Vec<&str> = listed.iter().filter_map(Value::as_str).collect();
    match redirect_uris.iter().find(|uri| !listed.contains(&uri.as_str())) {
        Some(missing) => Err(refuse(format!("`{uri}` does not list the redirect URI `{missing}`"))),
        None => Ok(()),
    }
}

/// RFC 7591 3: registers a client. `initial_token` is the bearer token of the request.
pub async fn register(
    state: &AppState,
    initial_token: Option<&str>,
    body: &Map<String, Value>,
    ip: Option<&str>,
) -> Result<Registration, RegistrationError> {
    let config = &state.config.registration;
    let now = state.clock.now();
    let token = match initial_token {
        Some(token) => Some(initial_tokens::find_usable(&state.db, &state.client_secrets, token, now).await?.ok_or(
            RegistrationError::InvalidToken("the initial access token is unknown, expired, revoked or used up"),
        )?),
        None if config.open => None,
        None => {
            return Err(RegistrationError::InvalidToken("an initial access token is required to register a client"));
        }
    };
    let application = match &token {
        Some(token) => Some(
            crate::applications::find_by_id(&state.db, &token.application_id)
                .await?
                .ok_or(RegistrationError::InvalidToken("the initial access token's application no longer exists"))?
                .code,
        ),
        None => None,
    };
    let client_id = new_client_id();
    let mut secret = None;
    let (metadata, input) = checked_input(state, body, &client_id, application, |metadata| {
        secret = metadata.uses_secret().then(clients::generate_secret);
        secret.clone().map(SecretInput::Plain)
    })
    .await?;
    // One registration at a time decides whether there is room, then takes it: counted
    // and inserted apart, parallel registrations would all see the last free place.
    let transaction = state.db.begin().await?;
    take_turn(&transaction).await?;
    let registered = client_registration::Entity::find().count(&transaction).await?;
    if registered >= config.max_clients {
        return Err(RegistrationError::Full(config.max_clients));
    }
    // Spent only now, the registration being valid: a refused one costs no use.
    if let Some(token) = &token
        && !initial_tokens::consume(&transaction, &token.id, now).await?
    {
        return Err(RegistrationError::InvalidToken(
            "the initial access token is unknown, expired, revoked or used up",
        ));
    }
    let access_token = crate::crypto::random_token();
    clients::upsert(&transaction, &state.client_secrets, input, now).await?;
    client_registration::ActiveModel {
        client_id: Set(client_id.clone()),
        access_token_hash: Set(state.client_secrets.hash(&access_token)),
        metadata: Set(metadata.to_json().to_string()),
        initial_access_token_id: Set(token.as_ref().map(|t| t.id.clone())),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&transaction)
    .await?;
    transaction.commit().await?;
    let detail = json!({
        "initial_access_token": token.as_ref().map(|t| &t.id),
        "application": token.as_ref().map(|t| &t.application_id),
        "open": token.is_none(),
    });
    let event = AuditEvent {
        event: "registration.client_registered",
        client_id: Some(&client_id),
        ip,
        detail: Some(detail),
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
    Ok(Registration {
        client_id,
        issued_at: now,
        has_secret: secret.is_some(),
        client_secret: secret,
        registration_access_token: Some(access_token),
        metadata: metadata.to_json(),
    })
}

/// A client id that looks like no account id (a UUID) and no operator's name.
fn new_client_id() -> String {
    format!("dyn-{}", crate::crypto::random_id())
}

/// The registration of `client_id`, if `token` is its registration access token.
async fn authenticate(
    state: &AppState,
    client_id: &str,
    token: Option<&str>,
) -> Result<(client_registration::Model, clients::Client), RegistrationError> {
    const REFUSED: RegistrationError =
        RegistrationError::InvalidToken("the registration access token is not valid for this client");
    let token = token.ok_or(RegistrationError::InvalidToken("send the registration access token as a Bearer token"))?;
    let row = client_registration::Entity::find_by_id(client_id.to_string()).one(&state.db).await?;
    // Hashed even when there is no such client, so that timing tells nothing.
    let presented = state.client_secrets.hash(token);
    let Some(row) = row else { return Err(REFUSED) };
    if !crate::crypto::constant_time_eq(presented.as_bytes(), row.access_token_hash.as_bytes()) {
        return Err(REFUSED);
    }
    let client = clients::find(&state.db, client_id).await?.ok_or(REFUSED)?;
    Ok((row, client))
}

/// RFC 7592 2.1: the registration as it stands.
pub async fn read(state: &AppState, client_id: &str, token: Option<&str>) -> Result<Registration, RegistrationError> {
    let (row, client) = authenticate(state, client_id, token).await?;
    Ok(Registration {
        client_id: row.client_id,
        issued_at: row.created_at,
        client_secret: None,
        has_secret: client.secret_hash.is_some(),
        registration_access_token: None,
        metadata: serde_json::from_str(&row.metadata).unwrap_or_default(),
    })
}

/// RFC 7592 2.2: replaces the metadata. The body names the client (`client_id`) and,
/// if it sends `client_secret`, the current one; the secret stays the one Sésame gave
/// (a new one is made, and answered once, only if the client had none and now needs one).
pub async fn update(
    state: &AppState,
    client_id: &str,
    token: Option<&str>,
    body: &Map<String, Value>,
    ip: Option<&str>,
) -> Result<Registration, RegistrationError> {
    let (row, client) = authenticate(state, client_id, token).await?;
    let now = state.clock.now();
    if body.get("client_id").and_then(Value::as_str) != Some(client_id) {
        return Err(MetadataError::invalid("`client_id` must be sent, and be this client's id (RFC 7592 2.2)").into());
    }
    if let Some(given) = body.get("client_secret") {
        let matches = match (given.as_str(), &client.secret_hash) {
            (Some(given), Some(hash)) => {
                state.client_secrets.verify(given, hash, &state.passwords).await.unwrap_or(false)
            }
            _ => false,
        };
        if !matches {
            return Err(MetadataError::invalid("`client_secret` is not this client's secret").into());
        }
    }
    let application = match &client.application_id {
        Some(id) => crate::applications::find_by_id(&state.db, id).await?.map(|a| a.code),
        None => None,
    };
    let mut new_secret = None;
    let (metadata, input) = checked_input(state, body, client_id, application, |metadata| {
        if !metadata.uses_secret() {
            return None;
        }
        match &client.secret_hash {
            Some(hash) => Some(SecretInput::Hash(hash.clone())),
            None => {
                new_secret = Some(clients::generate_secret());
                new_secret.clone().map(SecretInput::Plain)
            }
        }
    })
    .await?;
    let uses_secret = metadata.uses_secret();
    let transaction = state.db.begin().await?;
    clients::upsert(&transaction, &state.client_secrets, input, now).await?;
    let mut changed = row.clone().into_active_model();
    changed.metadata = Set(metadata.to_json().to_string());
    changed.updated_at = Set(now);
    changed.update(&transaction).await?;
    transaction.commit().await?;
    state.client_cache.forget(client_id);
    let event = AuditEvent {
        event: "registration.client_updated",
        client_id: Some(client_id),
        ip,
        detail: Some(json!({"new_secret": new_secret.is_some()})),
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
    Ok(Registration {
        client_id: client_id.to_string(),
        issued_at: row.created_at,
        client_secret: new_secret,
        has_secret: uses_secret,
        registration_access_token: None,
        metadata: metadata.to_json(),
    })
}

/// RFC 7592 2.3: removes the client, what depends on it, and its registration.
pub async fn delete(
    state: &AppState,
    client_id: &str,
    token: Option<&str>,
    ip: Option<&str>,
) -> Result<(), RegistrationError> {
    authenticate(state, client_id, token).await?;
    let transaction = state.db.begin().await?;
    clients::delete(&transaction, client_id).await?;
    client_registration::Entity::delete_by_id(client_id.to_string()).exec(&transaction).await?;
    transaction.commit().await?;
    state.client_cache.forget(client_id);
    let event =
        AuditEvent { event: "registration.client_deleted", client_id: Some(client_id), ip, ..Default::default() };
    audit::record(&state.db, state.clock.now(), event).await;
    Ok(())
}
