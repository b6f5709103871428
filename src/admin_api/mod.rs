//! The administration REST API under `/admin/api/v1`, described by the OpenAPI
//! document at `/admin/api/v1/openapi.json` (docs/admin-api.openapi.json). It calls the
//! same domain functions as the CLI and the import, with the same validation.
//!
//! Authorised by a bearer access token that was granted the `sesame:admin` scope (only
//! clients registered for it may ask for it) and whose account is, at the time of the
//! call, an active account administrator.

pub(crate) mod accounts;
pub(crate) mod applications;
pub(crate) mod clients;
mod error;
pub(crate) mod initial_tokens;

pub use error::in_api_shape;

use axum::{
    Router,
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderValue, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{any, get, post},
};
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use error::ApiError;

use crate::audit::{self, AuditEvent};
use crate::oidc::token::jwt as tokens;
use crate::state::AppState;

pub const SCOPE: &str = "sesame:admin";
pub const OPENAPI: &str = include_str!("../../docs/admin-api.openapi.json");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api/v1/openapi.json", get(openapi))
        .route("/admin/api/v1/accounts", get(accounts::list).post(accounts::create))
        .route("/admin/api/v1/accounts/{username}", get(accounts::show).put(accounts::update).patch(accounts::update))
        .route("/admin/api/v1/accounts/{username}/archive", post(accounts::archive))
        .route("/admin/api/v1/accounts/{username}/restore", post(accounts::restore))
        .route("/admin/api/v1/accounts/{username}/password", post(accounts::reset_password))
        .route("/admin/api/v1/accounts/{username}/second-factors/reset", post(accounts::reset_second_factors))
        .route(
            "/admin/api/v1/accounts/{username}/second-factors/{factor_id}",
            axum::routing::delete(accounts::remove_second_factor),
        )
        .route("/admin/api/v1/accounts/{username}/unlock", post(accounts::unlock))
        .route("/admin/api/v1/accounts/{username}/lock", post(accounts::lock))
        .route("/admin/api/v1/accounts/{username}/sign-out-everywhere", post(accounts::sign_out_everywhere))
        .route("/admin/api/v1/applications", get(applications::list))
        .route("/admin/api/v1/applications/{code}", get(applications::show).put(applications::upsert))
        .route("/admin/api/v1/clients", get(clients::list).post(clients::create))
        .route("/admin/api/v1/clients/{client_id}", get(clients::show).put(clients::update))
        .route("/admin/api/v1/clients/{client_id}/secret", post(clients::new_secret))
        .route("/admin/api/v1/initial-access-tokens", get(initial_tokens::list).post(initial_tokens::create))
        .route("/admin/api/v1/initial-access-tokens/{id}", axum::routing::delete(initial_tokens::revoke))
        .route("/admin/api/v1/{*rest}", any(unknown_path))
    // Accounts, new secrets, temporary passwords: no response is ever cached; see
    // `in_api_shape`, applied to every /admin/api response by `app::router`.
}

async fn unknown_path() -> ApiError {
    ApiError::not_found("this path of the API")
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], OPENAPI).into_response()
}

/// The account administrator making the call.
pub struct Admin {
    pub account_id: String,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim().to_string())
            .ok_or_else(|| ApiError::unauthorized("send an access token: Authorization: Bearer …"))?;
        authorize(state, &token).await
    }
}

/// The administrator behind an access token: valid, granted `sesame:admin`, and its
/// account an active account administrator now (the API and the console both ask).
pub async fn authorize(state: &AppState, token: &str) -> Result<Admin, ApiError> {
    let claims = tokens::verify_access_token(state, token, state.clock.now())
        .await
        .map_err(|e| ApiError::unauthorized(format!("the access token is not valid: {e}")))?;
    // A token bound to a DPoP key proves nothing without a proof of that key (RFC 9449
    // 7.2), and this API takes bearer tokens only: a stolen bound token stays useless.
    if claims.dpop_jkt().is_some() {
        return Err(ApiError::unauthorized(
            "this access token is bound to a DPoP key: the administration API takes bearer tokens only",
        ));
    }
    if !claims.scope.split_whitespace().any(|s| s == SCOPE) {
        return Err(ApiError::forbidden(format!("the access token was not granted the {SCOPE} scope")));
    }
    // A client's own token (client_credentials) is never an administrator's.
    let Some(account_id) = claims.account_id() else {
        return Err(ApiError::forbidden("this access token was issued to a client, not for an account"));
    };
    let account = crate::accounts::find_by_id(&state.db, account_id).await?;
    let account = match account {
        Some(account) if account.account_admin && !account.archived && account.admin_locked_at.is_none() => account,
        _ => return Err(ApiError::forbidden("this account is not an account administrator")),
    };
    // An administrator who has a second factor, or must have one, administers only with
    // a token from a login that proved it.
    let proven = claims.acr.as_deref() == Some(crate::auth::acr::MULTI_FACTOR);
    if !proven
        && (state.config.two_factor.required_for_admins
            || !crate::second_factor::factors_of(&state.db, &account.id).await?.is_empty())
    {
        return Err(ApiError::second_factor_required());
    }
    Ok(Admin { account_id: account.id })
}

/// A JSON object body, its rejections answered in the API's error format: not JSON, not
/// an object (serde would take an array for a struct), a field unknown or of the wrong
/// type is 400 `bad_request`; too large 413; not `application/json` 415.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let object = json_object(request, state).await?;
        serde_json::from_value(Value::Object(object)).map(ApiJson).map_err(|e| ApiError::bad_request(e.to_string()))
    }
}

/// The request's body as a JSON object.
pub(crate) async fn json_object<S: Send + Sync>(
    request: Request,
    state: &S,
) -> Result<serde_json::Map<String, Value>, ApiError> {
    match axum::Json::<Value>::from_request(request, state).await {
        Ok(axum::Json(Value::Object(object))) => Ok(object),
        Ok(_) => Err(ApiError::bad_request("the body must be a JSON object")),
        Err(rejection) => Err(ApiError::rejected(rejection.status(), rejection.body_text())),
    }
}
/// Records an administrative change: who, what, on which record, before and after
/// (callers pass representations without secrets).
pub(crate) async fn record_change(
    state: &AppState,
    admin: &Admin,
    event: &'static str,
    subject: Option<&str>,
    before: Value,
    after: Value,
) {
    let detail = serde_json::json!({"by": admin.account_id, "before": before, "after": after});
    let event = AuditEvent { event, account_id: subject, client_id: None, ip: None, detail: Some(detail) };
    audit::record(&state.db, state.clock.now(), event).await;
}
