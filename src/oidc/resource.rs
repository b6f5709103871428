//! Resource indicators (RFC 8707): a client names, with `resource`, the API it wants an
//! access token for; the token's `aud` is then that API's identifier instead of the
//! client's id, and the API's own client (the resource server that registered the
//! identifier) may introspect it.
//!
//! One resource per request: a repeated `resource` is refused (Sésame's parameters are
//! never repeated). A client may name the resource of a client of its own application
//! (or its own): the token carries the user's rights in the requesting client's
//! application, which only an API of that application should be handed. Anything else
//! — unknown, malformed, another application's — is `invalid_target` (RFC 8707 2).
//!
//! Resource identifiers are https URIs and client ids never contain `:`, so an `aud`
//! that is not the token's `client_id` always names a resource.

use super::error::OAuthError;
use super::params::Params;
use crate::clients::{self, Client};
use crate::storage::Db;

/// RFC 8707 2's error for a resource the server will not issue tokens for.
pub const INVALID_TARGET: &str = "invalid_target";

pub fn invalid_target(description: impl Into<String>) -> OAuthError {
    OAuthError::bad_request(INVALID_TARGET, description)
}

/// The resource `client` asks for, once it is known to be one it may ask for;
/// `Err` carries the reason, for an `invalid_target` answer.
pub async fn resolve(db: &Db, client: &Client, requested: Option<&str>) -> Result<Option<String>, ResourceError> {
    let Some(requested) = requested else { return Ok(None) };
    let refused = || ResourceError::Refused(format!("`{requested}` is not a resource this client may ask for"));
    let server = clients::find_by_resource(db, requested).await.map_err(ResourceError::Storage)?.ok_or_else(refused)?;
    let same_application = server.client_id == client.client_id
        || server.application_id.is_some() && server.application_id == client.application_id;
    if !same_application {
        return Err(refused());
    }
    Ok(Some(requested.to_string()))
}

/// The resource of a token request that continues a grant (code or refresh token):
/// the grant's own, whether the request repeats it or leaves it out. Naming another,
/// or one when the grant had none, would widen the grant (RFC 8707 2.2): refused. The
/// grant's resource is checked again: its resource server may have been removed since.
pub async fn of_grant(
    db: &Db,
    client: &Client,
    granted: Option<&str>,
    params: &Params,
) -> Result<Option<String>, OAuthError> {
    if let Some(requested) = params.get("resource")
        && granted != Some(requested)
    {
        return Err(invalid_target(format!("the grant was not for resource `{requested}`")));
    }
    Ok(resolve(db, client, granted).await?)
}

#[derive(Debug)]
pub enum ResourceError {
    Refused(String),
    Storage(crate::domain::DomainError),
}

impl From<ResourceError> for OAuthError {
    fn from(error: ResourceError) -> Self {
        match error {
            ResourceError::Refused(why) => invalid_target(why),
            ResourceError::Storage(error) => error.into(),
        }
    }
}
