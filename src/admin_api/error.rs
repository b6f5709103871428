//! The API's errors: a status and `{"error": {"code", "message", "field"}}`, where
//! `code` is stable for programs and `field` names the input at fault.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

use crate::domain::DomainError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// The domain's stable code of the broken rule (`email_format`, `taken`, …).
    pub reason: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), field: None, reason: None }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{} does not exist", what.into()))
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::CONFLICT, "conflict", message);
        error.field = Some(field.into());
        error
    }

    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message);
        error.field = Some(field.into());
        error
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::Invalid { field, message, reason } => {
                ApiError { reason: Some(reason), ..ApiError::invalid(&field, message) }
            }
            DomainError::Conflict { field, message, reason } => {
                ApiError { reason: Some(reason), ..ApiError::conflict(&field, message) }
            }
            DomainError::NotFound(what) => ApiError::not_found(what),
            other => {
                tracing::error!(error = %other, "admin API request failed");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the server could not complete the request; see its log",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            json!({"error": {"code": self.code, "message": self.message, "field": self.field, "reason": self.reason}});
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sesame-admin\""));
        }
        response
    }
}
