//! `/admin/api/v1/clients`: the OIDC clients of the applications. A secret is shown
//! once, when it is generated; it is never returned afterwards.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiJson, record_change};
use crate::clients::{self, AuthMethod, Client, ClientInput, SecretInput};
use crate::state::AppState;

/// A client as the API shows it: everything but the secret's hash.
pub fn view(client: &Client) -> Value {
    json!({
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "grant_types": client.grant_types,
        "scopes": client.scopes,
        "token_endpoint_auth_method": client.auth_method.as_str(),
        "application_type": client.application_type.as_str(),
        "first_party": client.first_party,
        "require_two_factor": client.require_two_factor,
        "require_pushed_authorization_requests": client.require_pushed_authorization_requests,
        "id_token_signed_response_alg": client.id_token_alg.as_str(),
        "access_token_signed_response_alg": client.access_token_alg.map(|a| a.as_str()),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "frontchannel_logout_uri": client.frontchannel_logout_uri,
        "frontchannel_logout_session_required": client.frontchannel_logout_session_required,
        "resource": client.resource,
        "jwks": client.jwks,
        "jwks_uri": client.jwks_uri,
        "subject_type": client.subject_type.as_str(),
        "sector_identifier_uri": client.sector_identifier_uri,
        "request_object_signing_alg": client.request_object_alg.map(|a| a.as_str()),
        "require_signed_request_object": client.require_signed_request_object,
        "userinfo_signed_response_alg": client.userinfo_alg.map(|a| a.as_str()),
        "dpop_bound_access_tokens": client.dpop_bound_access_tokens,
        "security_profile": client.security_profile.map(|p| p.as_str()),
        "has_secret": client.secret_hash.is_some(),
    })
}

async fn view_with_application(state: &AppState, client: &Client) -> Result<Value, ApiError> {
    let mut body = view(client);
    if let Some(id) = &client.application_id {
        body["application"] = json!(crate::applications::find_by_id(&state.db, id).await?.map(|a| a.code));
    }
    Ok(body)
}

pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for client in clients::list(&state.db).await? {
        items.push(view_with_application(&state, &client).await?);
    }
    Ok(Json(json!({"items": items})))
}

async fn existing(state: &AppState, client_id: &str) -> Result<Client, ApiError> {
    clients::find(&state.db, client_id).await?.ok_or_else(|| ApiError::not_found(format!("client `{client_id}`")))
}

pub async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = existing(&state, &client_id).await?;
    Ok(Json(view_with_application(&state, &client).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientWrite {
    client_id: Option<String>,
    application: Option<String>,
    name: Option<String>,
    redirect_uris: Vec<String>,
    #[serde(default)]
    post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scopes: Vec<String>,
    token_endpoint_auth_method: Option<String>,
    application_type: Option<String>,
    #[serde(default)]
    first_party: bool,
    #[serde(default)]
    require_two_factor: bool,
    #[serde(default)]
    require_pushed_authorization_requests: bool,
    id_token_signed_response_alg: Option<String>,
    access_token_signed_response_alg: Option<String>,
    backchannel_logout_uri: Option<String>,
    frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    frontchannel_logout_session_required: bool,
    resource: Option<String>,
    jwks: Option<Value>,
    jwks_uri: Option<String>,
    subject_type: Option<String>,
    sector_identifier_uri: Option<String>,
    request_object_signing_alg: Option<String>,
    #[serde(default)]
    require_signed_request_object: bool,
    userinfo_signed_response_alg: Option<String>,
    #[serde(default)]
    dpop_bound_access_tokens: bool,
    security_profile: Option<String>,
}

impl ClientWrite {
    fn into_input(self, client_id: String, secret: Option<SecretInput>) -> ClientInput {
        ClientInput {
            client_id,
            application: self.application,
            name: self.name,
            secret,
            redirect_uris: self.redirect_uris,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            grant_types: self.grant_types,
            scopes: self.scopes,
            token_endpoint_auth_method: self.token_endpoint_auth_method,
            application_type: self.application_type,
            first_party: self.first_party,
            require_two_factor: self.require_two_factor,
            require_pushed_authorization_requests: self.require_pushed_authorization_requests,
            id_token_signed_response_alg: self.id_token_signed_response_alg,
            access_token_signed_response_alg: self.access_token_signed_response_alg,
            backchannel_logout_uri: self.backchannel_logout_uri,
            frontchannel_logout_uri: self.frontchannel_logout_uri,
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
            resource: self.resource,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            subject_type: self.subject_type,
            sector_identifier_uri: self.sector_identifier_uri,
            request_object_signing_alg: self.request_object_signing_alg,
            require_signed_request_object: self.require_signed_request_object,
            userinfo_signed_response_alg: self.userinfo_signed_response_alg,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            security_profile: self.security_profile,
        }
    }

    fn uses_secret(&self) -> bool {
        let method = self.token_endpoint_auth_method.as_deref().map(AuthMethod::parse);
        let native = self.application_type.as_deref() == Some("native");
        match method {
            // Left out: a secret for a web client, none for a desktop one (public).
            None => !native,
            Some(method) => matches!(method, Some(AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)),
        }
    }
}

/// Registers a client; a confidential client's secret is generated and answered once.
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<ClientWrite>,
) -> Result<Response, ApiError> {
    let client_id =
        body.client_id.clone().ok_or_else(|| ApiError::invalid("client_id", "a new client needs a client_id"))?;
    if clients::find(&state.db, &client_id).await?.is_some() {
        return Err(ApiError::conflict("client_id", "a client with this id already exists"));
    }
    let secret = body.uses_secret().then(clients::generate_secret);
    let input = body.into_input(client_id, secret.clone().map(SecretInput::Plain));
    let (client, _) = clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await?;
    let mut after = view_with_application(&state, &client).await?;
    record_change(&state, &admin, "admin.client.created", None, Value::Null, after.clone()).await;
    if let Some(secret) = secret {
        after["client_secret"] = json!(secret);
    }
    Ok((StatusCode::CREATED, Json(after)).into_response())
}

/// Replaces a client's registration; its secret stays unless the method no longer uses one.
pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
    ApiJson(body): ApiJson<ClientWrite>,
) -> Result<Json<Value>, ApiError> {
    let current = existing(&state, &client_id).await?;
    if body.client_id.as_ref().is_some_and(|given| given != &current.client_id) {
        return Err(ApiError::invalid("client_id", "a client id cannot be changed; register a new client"));
    }
    let before = view_with_application(&state, &current).await?;
    let secret = if body.uses_secret() {
        match &current.secret_hash {
            Some(hash) => Some(SecretInput::Hash(hash.clone())),
            None => {
                return Err(ApiError::invalid(
                    "token_endpoint_auth_method",
                    "this client has no secret: create one with POST …/secret first, or choose another method",
                ));
            }
        }
    } else {
        None
    };
    let (client, _) =
        clients::upsert(&state.db, &state.client_secrets, body.into_input(client_id, secret), state.clock.now())
            .await?;
    state.client_cache.forget(&client.client_id);
    let after = view_with_application(&state, &client).await?;
    record_change(&state, &admin, "admin.client.updated", None, before, after.clone()).await;
    Ok(Json(after))
}

/// Generates a new secret for a confidential client and answers it once.
pub async fn new_secret(
    State(state): State<AppState>,
    admin: Admin,
    Path(client_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let current = existing(&state, &client_id).await?;
    if !matches!(current.auth_method, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost) {
        return Err(ApiError::invalid("token_endpoint_auth_method", "this client does not authenticate with a secret"));
    }
    let secret = clients::generate_secret();
    let application = match &current.application_id {
        Some(id) => crate::applications::find_by_id(&state.db, id).await?.map(|a| a.code),
        None => None,
    };
    let input = ClientInput {
        secret: Some(SecretInput::Plain(secret.clone())),
        ..ClientInput::from_client(&current, application)
    };
    clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await?;
    state.client_cache.forget(&client_id);
    record_change(&state, &admin, "admin.client.secret_rotated", None, json!({"client_id": client_id}), Value::Null)
        .await;
    Ok(Json(json!({"client_id": client_id, "client_secret": secret})))
}
