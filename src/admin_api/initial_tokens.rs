//! `/admin/api/v1/initial-access-tokens`: the tokens that let a program register
//! clients at /register (RFC 7591), each bound to one application. A token is shown
//! once, when created; listed without it; revoked by id.

use axum::{
    Json,
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiJson, record_change};
use crate::registration::initial_tokens::{self, NewToken};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenWrite {
    /// The application's code.
    application: String,
    #[serde(default)]
    description: String,
    #[serde(default = "one")]
    uses: i32,
    /// Seconds from now; a week by default.
    #[serde(default = "a_week")]
    expires_in: i64,
}

fn one() -> i32 {
    1
}

fn a_week() -> i64 {
    7 * 86_400
}

pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let items: Vec<Value> = initial_tokens::list(&state.db).await?.iter().map(|t| t.view()).collect();
    Ok(Json(json!({"items": items})))
}

/// 201 with the token's description and the token itself, shown this once.
pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<TokenWrite>,
) -> Result<Response, ApiError> {
    let new = NewToken {
        application: body.application,
        description: body.description,
        uses: body.uses,
        expires_in: body.expires_in,
    };
    let (token, secret) = initial_tokens::create(&state.db, &state.client_secrets, new, state.clock.now()).await?;
    let mut view = token.view();
    record_change(&state, &admin, "admin.initial_access_token.created", None, Value::Null, view.clone()).await;
    view["token"] = json!(secret);
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// 204; 404 if no live token has this id.
pub async fn revoke(State(state): State<AppState>, admin: Admin, Path(id): Path<String>) -> Result<Response, ApiError> {
    if !initial_tokens::revoke(&state.db, &id, state.clock.now()).await? {
        return Err(ApiError::not_found(format!("a live initial access token `{id}`")));
    }
    record_change(&state, &admin, "admin.initial_access_token.revoked", None, json!({"id": id}), Value::Null).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}
