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

    /// The token's login did not prove a second factor that this administrator has (or
    /// must have): sign in again.
    pub fn second_factor_required() -> Self {
        let mut error = Self::forbidden(
            "administration needs a sign-in with the second factor: sign in again (an administrator without one \
             enrolls it then)",
        );
        error.reason = Some("second_factor_required");
        error
    }

    /// A request the framework refused (its body, its query): 413 and 415 keep their
    /// status; anything else about the body's shape is a 400.
    pub fn rejected(status: StatusCode, message: impl Into<String>) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Self::new(status, code_for(status), message)
            }
            _ => Self::bad_request(message),
        }
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
            other if other.is_unavailable() => {
                tracing::error!(error = %other, "admin API request failed: database unreachable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the database cannot be reached; retry in a moment",
                )
            }
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

/// The API's code for a status the framework answered on its own (a body that is not
/// JSON, a wrong method, a body too large, a query that does not parse…).
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_TIMEOUT => "timeout",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// Every response of the API leaves through here: any error the framework answered in
/// plain text (extractor rejections, 405, 413, a timeout) is rewritten in the API's
/// error shape, keeping its status and its words, and nothing is ever cached.
pub async fn in_api_shape(response: Response) -> Response {
    let mut response = rewrite_plain_errors(response).await;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn rewrite_plain_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let allow = response.headers().get(header::ALLOW).cloned();
    let text = match axum::body::to_bytes(response.into_body(), 16 * 1024).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() { status.canonical_reason().unwrap_or("error").to_string() } else { text };
    let mut rewritten = ApiError::new(status, code_for(status), message).into_response();
    if let Some(allow) = allow {
        rewritten.headers_mut().insert(header::ALLOW, allow);
    }
    rewritten
}
