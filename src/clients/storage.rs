//! Clients in the database: read, written, and cached for the token endpoint.

use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    TransactionSession, TransactionTrait,
};

use super::{Client, ClientInput, SecretHasher, SecretInput};
use crate::applications;
use crate::domain::{Change, DomainError, to_json_text};
use crate::storage::entities::{
    authorization_code, authorization_request, consent, device_authorization, pushed_authorization_request,
    refresh_token, session_client,
};
use crate::storage::{Db, entities::client};

/// Clients as the token endpoint sees them: read from the database at most every
/// `ttl` seconds per client, so that a token costs a signature rather than a query. A
/// change made on another node (a new secret, a removed redirect URI) reaches this one
/// through the change feed (`change_feed`, topic `client`) within its sync interval, and
/// within `ttl` whatever happens to the feed; unknown client ids are not cached.
pub struct ClientCache {
    ttl: i64,
    /// Counts the [`ClientCache::forget`]s: a row read before one is not kept, since it
    /// may predate the change that was forgotten.
    generation: std::sync::atomic::AtomicU64,
    /// Never held across an `.await`: a plain lock, which the change feed takes too.
    entries: std::sync::RwLock<std::collections::HashMap<String, (std::sync::Arc<Client>, i64)>>,
}

impl ClientCache {
    pub fn new(ttl: i64) -> Self {
        Self { ttl, generation: Default::default(), entries: Default::default() }
    }

    pub async fn get(&self, db: &Db, client_id: &str, now: i64) -> Result<Option<std::sync::Arc<Client>>, DomainError> {
        let cached = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(client_id).cloned();
        if let Some((client, fetched)) = &cached
            && now - fetched < self.ttl
        {
            return Ok(Some(client.clone()));
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::Acquire);
        let Some(client) = find(db, client_id).await? else {
            // Made-up ids (the authorization endpoint takes anyone's) take no write lock.
            if cached.is_some() {
                self.entries.write().unwrap_or_else(|p| p.into_inner()).remove(client_id);
            }
            return Ok(None);
        };
        let client = std::sync::Arc::new(client);
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        // A change forgotten while the row was read: this row may be the one before it.
        if self.generation.load(std::sync::atomic::Ordering::Acquire) == generation {
            // Bounded by the number of registered clients; a flood of made-up ids is not cached.
            entries.insert(client_id.to_string(), (client.clone(), now));
        }
        Ok(Some(client))
    }

    /// Forgets a changed client, so that the change applies here at once (a rotated
    /// secret stops working, a removed redirect URI is refused), even against a read that
    /// was under way: on the node that made the change, and on the others when the
    /// change feed tells them.
    pub fn forget(&self, client_id: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.remove(client_id);
    }

    /// Forgets every client: the change feed starts over and may have missed a change.
    pub fn forget_all(&self) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        self.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        entries.clear();
    }
}

pub async fn find(db: &Db, client_id: &str) -> Result<Option<Client>, DomainError> {
    Ok(client::Entity::find_by_id(client_id.to_string()).one(db).await?.map(Client::from))
}

/// The client that registered `resource` (RFC 8707) as the identifier of its API.
pub async fn find_by_resource(db: &impl ConnectionTrait, resource: &str) -> Result<Option<Client>, DomainError> {
    Ok(client::Entity::find().filter(client::Column::Resource.eq(resource)).one(db).await?.map(Client::from))
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
    db: &(impl ConnectionTrait + TransactionTrait),
    secrets: &SecretHasher,
    input: ClientInput,
    now: i64,
) -> Result<(Client, Change), DomainError> {
    let checked = input.validate()?;
    let application = match &input.application {
        None => None,
        Some(code) => Some(
            applications::find_by_code(db, code)
                .await?
                .ok_or_else(|| DomainError::invalid("application", format!("no application has the code `{code}`")))?,
        ),
    };
    // The resource names one resource server: the one whose introspection answers for it.
    if let Some(resource) = &input.resource
        && let Some(holder) = find_by_resource(db, resource).await?
        && holder.client_id != input.client_id
    {
        return Err(DomainError::invalid(
            "resource",
            format!("`{resource}` is already the resource of client `{}`", holder.client_id),
        ));
    }
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
        token_endpoint_auth_method: checked.method.as_str().to_string(),
        application_type: checked.application_type.as_str().to_string(),
        first_party: input.first_party,
        require_two_factor: input.require_two_factor,
        require_pushed_authorization_requests: input.require_pushed_authorization_requests,
        id_token_signed_response_alg: checked.id_token_alg.map(|a| a.as_str().to_string()),
        access_token_signed_response_alg: checked.access_token_alg.map(|a| a.as_str().to_string()),
        backchannel_logout_uri: input.backchannel_logout_uri.clone(),
        frontchannel_logout_uri: input.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: input.frontchannel_logout_session_required,
        resource: input.resource.clone(),
        jwks: input.jwks.as_ref().map(|jwks| jwks.to_string()),
        jwks_uri: input.jwks_uri.clone(),
        subject_type: checked.subject_type.as_str().to_string(),
        sector_identifier_uri: input.sector_identifier_uri.clone(),
        request_object_signing_alg: checked.request_object_alg.map(|a| a.as_str().to_string()),
        require_signed_request_object: input.require_signed_request_object,
        userinfo_signed_response_alg: checked.userinfo_alg.map(|a| a.as_str().to_string()),
        dpop_bound_access_tokens: input.dpop_bound_access_tokens,
        security_profile: checked.security_profile.map(|p| p.as_str().to_string()),
        created_at: now,
        updated_at: now,
    };
    let change = match existing {
        None => Change::Created,
        Some(current) => {
            wanted.created_at = current.created_at;
            wanted.updated_at = current.updated_at;
            if wanted == current {
                return Ok((current.into(), Change::Unchanged));
            }
            wanted.updated_at = now;
            Change::Updated
        }
    };
    // The change and its announcement commit together (a savepoint inside the caller's
    // transaction): no node can miss a change that was made.
    let transaction = db.begin().await?;
    let row = wanted.into_active_model().reset_all();
    let client = match change {
        Change::Created => row.insert(&transaction).await?,
        _ => row.update(&transaction).await?,
    };
    announce_change(&transaction, &client.client_id).await?;
    transaction.commit().await?;
    Ok((client.into(), change))
}

/// Tells the other nodes' client caches, in the transaction of the change. A created
/// client is announced too: a node does not cache an unknown id, but it may still hold a
/// client deleted and created again.
async fn announce_change(db: &impl ConnectionTrait, client_id: &str) -> Result<(), DomainError> {
    crate::change_feed::announce(db, crate::change_feed::Topic::Client, client_id, 0).await?;
    Ok(())
}

/// Removes a client and what exists only for it: its pending authorization requests,
/// codes, refresh tokens, consents, device and pushed requests, and the sessions' record
/// of having signed in to it. Access tokens already issued (signed JWTs) run out on
/// their own. Whether it existed.
pub async fn delete(db: &(impl ConnectionTrait + TransactionTrait), client_id: &str) -> Result<bool, DomainError> {
    // All of it and the announcement, or nothing (a savepoint inside the caller's transaction).
    let transaction = db.begin().await?;
    let db = &transaction;
    authorization_request::Entity::delete_many()
        .filter(authorization_request::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    authorization_code::Entity::delete_many()
        .filter(authorization_code::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    refresh_token::Entity::delete_many().filter(refresh_token::Column::ClientId.eq(client_id)).exec(db).await?;
    consent::Entity::delete_many().filter(consent::Column::ClientId.eq(client_id)).exec(db).await?;
    device_authorization::Entity::delete_many()
        .filter(device_authorization::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    pushed_authorization_request::Entity::delete_many()
        .filter(pushed_authorization_request::Column::ClientId.eq(client_id))
        .exec(db)
        .await?;
    session_client::Entity::delete_many().filter(session_client::Column::ClientId.eq(client_id)).exec(db).await?;
    let deleted = client::Entity::delete_by_id(client_id.to_string()).exec(db).await?;
    if deleted.rows_affected > 0 {
        announce_change(db, client_id).await?;
    }
    transaction.commit().await?;
    Ok(deleted.rows_affected > 0)
}
