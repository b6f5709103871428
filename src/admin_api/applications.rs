//! `/admin/api/v1/applications`: the applications and their catalogue of rights and
//! options, with their clients.

use axum::{
    Json,
    extract::{Path, State},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiJson, clients, record_change};
use crate::applications::{self, Application, ApplicationInput, OptionDef, Right};
use crate::state::AppState;

async fn view(state: &AppState, application: &Application) -> Result<Value, ApiError> {
    let clients = crate::clients::list_for_application(&state.db, &application.id).await?;
    Ok(json!({
        "code": application.code,
        "name": application.name,
        "rights": application.rights,
        "options": application.options,
        "clients": clients.iter().map(clients::view).collect::<Vec<_>>(),
    }))
}

pub async fn list(State(state): State<AppState>, _admin: Admin) -> Result<Json<Value>, ApiError> {
    let mut items = Vec::new();
    for application in applications::list(&state.db).await? {
        items.push(view(&state, &application).await?);
    }
    Ok(Json(json!({"items": items})))
}

pub async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(code): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let application = applications::find_by_code(&state.db, &code)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("application `{code}`")))?;
    Ok(Json(view(&state, &application).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationWrite {
    name: String,
    #[serde(default)]
    rights: Vec<Right>,
    #[serde(default)]
    options: Vec<OptionDef>,
}

/// Creates the application with this code, or replaces its name and catalogue.
pub async fn upsert(
    State(state): State<AppState>,
    admin: Admin,
    Path(code): Path<String>,
    ApiJson(body): ApiJson<ApplicationWrite>,
) -> Result<Json<Value>, ApiError> {
    let before = match applications::find_by_code(&state.db, &code).await? {
        Some(application) => view(&state, &application).await?,
        None => Value::Null,
    };
    let input = ApplicationInput { code, name: body.name, rights: body.rights, options: body.options };
    let (application, _) = applications::upsert(&state.db, input, state.clock.now()).await?;
    let after = view(&state, &application).await?;
    record_change(&state, &admin, "admin.application.saved", None, before, after.clone()).await;
    Ok(Json(after))
}
