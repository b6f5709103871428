//! Pushed authorization requests (RFC 9126). A client posts its authorization request to
//! `/par` (`endpoint`), authenticated as at the token endpoint; the request is validated
//! there exactly as the authorization endpoint would, and kept server-side, bound to the
//! client, for `par.request_uri_ttl` seconds. The client then sends the browser to the
//! authorization endpoint with only its `client_id` and the `request_uri` it got back,
//! which `authorization_request` takes — once: two browsers (or two nodes) bringing the
//! same `request_uri` get one login between them.
//!
//! The `request_uri` is a bearer reference: only the SHA-256 of its random part is
//! stored, as for codes and device codes.

pub mod endpoint;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};

use super::authorize::{self, PageRefusal, Refusal};
use super::params::Params;
use crate::clients::{self, Client};
use crate::crypto;
use crate::domain::{DomainError, to_json_text};
use crate::login::AuthorizationRequest;
use crate::state::AppState;
use crate::storage::{Db, entities::pushed_authorization_request as row};

/// What every `request_uri` of this server starts with (RFC 9126 2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

/// Parameters one pushed request may carry. An authorization request has about fifteen;
/// the server's body limit bounds their size, this their number, so a push cannot make
/// the parameter map (and the work of validating it) large.
pub const MAX_PARAMETERS: usize = 64;

/// Keeps a validated request for its client; returns the `request_uri` that names it.
pub async fn store(db: &Db, request: &AuthorizationRequest, ttl: i64, now: i64) -> Result<String, DomainError> {
    let secret = crypto::random_token();
    row::ActiveModel {
        id: Set(crypto::token_hash(&secret)),
        client_id: Set(request.client_id.clone()),
        request: Set(to_json_text(request)),
        created_at: Set(now),
        expires_at: Set(now + ttl),
    }
    .insert(db)
    .await?;
    Ok(format!("{REQUEST_URI_PREFIX}{secret}"))
}

/// Takes the request that `request_uri` names, if `client_id` pushed it and it has not
/// expired: it is deleted, by a delete that only one of several parallel takers can
/// win. Unknown, used, expired or another client's: `None`, and nothing is consumed
/// (another client's request stays for the client that pushed it).
pub async fn take(
    db: &Db,
    request_uri: &str,
    client_id: &str,
    now: i64,
) -> Result<Option<AuthorizationRequest>, DomainError> {
    let Some(secret) = request_uri.strip_prefix(REQUEST_URI_PREFIX) else {
        return Ok(None);
    };
    let id = crypto::token_hash(secret);
    let Some(found) = row::Entity::find_by_id(id.clone()).one(db).await? else {
        return Ok(None);
    };
    if found.client_id != client_id || found.expires_at <= now {
        return Ok(None);
    }
    let deleted = row::Entity::delete_many()
        .filter(row::Column::Id.eq(id))
        .filter(row::Column::ClientId.eq(client_id))
        .filter(row::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    if deleted.rows_affected != 1 {
        return Ok(None);
    }
    // A row written by another version of Sésame that this one cannot read is as good
    // as unknown: the client pushes again.
    Ok(serde_json::from_str(&found.request).ok())
}

/// Deletes the pushed requests nobody came for (the janitor's round).
pub async fn sweep(db: &Db, now: i64) -> Result<u64, DomainError> {
    Ok(row::Entity::delete_many().filter(row::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected)
}

/// Whether `client`'s authorization requests must be pushed: the server's setting, the
/// client's own, or its FAPI 2.0 profile.
pub fn required(state: &AppState, client: &Client) -> bool {
    state.config.par.require_pushed_authorization_requests
        || client.require_pushed_authorization_requests
        // FAPI 2.0 Security Profile 5.3.2.2.
        || client.is_fapi2()
}

/// The request the authorization endpoint serves: the pushed one its `request_uri`
/// names, or the one its parameters make (refused when pushing is required).
///
/// With a pushed `request_uri`, only `client_id` is read besides it (RFC 9126 4): the
/// pushed request is the whole request. One that cannot be taken is shown to the user
/// on a page: without the pushed request there is no redirect URI to trust.
pub async fn authorization_request(
    state: &AppState,
    params: &Params,
) -> Result<(Client, AuthorizationRequest), Refusal> {
    let page = |detail: &str| Refusal::Page(PageRefusal::BadRequest(detail.into()));
    let Some(request_uri) = params.get("request_uri").filter(|uri| uri.starts_with(REQUEST_URI_PREFIX)) else {
        let (client, request) = authorize::validate(state, params).await?;
        if required(state, &client) {
            return Err(Refusal::Redirect(request.error(
                "invalid_request",
                "this client must push its authorization requests to the pushed_authorization_request_endpoint \
                 (RFC 9126) and send the request_uri it gets back",
            )));
        }
        return Ok((client, request));
    };
    let client_id = params
        .get("client_id")
        .ok_or_else(|| page("a request_uri comes with the client_id of the client that pushed it"))?;
    let now = state.clock.now();
    let request =
        take(&state.db, request_uri, client_id, now).await.map_err(|e| Refusal::Page(e.into()))?.ok_or_else(|| {
            page(
                "the request_uri is unknown, already used, expired, or was pushed by another client: \
                 the application must push its request again",
            )
        })?;
    let client = clients::find(&state.db, client_id)
        .await
        .map_err(|e| Refusal::Page(e.into()))?
        .ok_or_else(|| page("the client that pushed this request is no longer registered"))?;
    // The registration may have changed since the push: the redirect URI is trusted
    // only if it is still registered.
    if !client.has_redirect_uri(&request.redirect_uri) {
        return Err(Refusal::Page(PageRefusal::UnregisteredRedirectUri(format!(
            "redirect_uri `{}` is no longer registered for client `{client_id}`",
            request.redirect_uri
        ))));
    }
    Ok((client, request))
}
