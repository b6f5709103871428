//! OAuth 2.0 error responses (RFC 6749 5.2, RFC 6750 3.1): a JSON body with `error` and
//! `error_description`, the right status, and `WWW-Authenticate` where the RFCs ask.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde_json::json;

#[derive(Debug)]
pub struct OAuthError {
    pub status: StatusCode,
    pub error: &'static str,
    pub description: String,
    pub www_authenticate: Option<String>,
    /// Seconds to wait, for 429 answers.
    pub retry_after: Option<i64>,
    /// A DPoP server nonce for the client's next proof (RFC 9449 8, `DPoP-Nonce`).
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
            www_authenticate: None,
            retry_after: None,
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    /// 401 with a Basic challenge (RFC 6749 5.2).
    pub fn invalid_client(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_client", description);
        error.www_authenticate = Some("Basic realm=\"sesame\", charset=\"UTF-8\"".into());
        error
    }

    /// 400 with another code of RFC 6749 4.1.2.1 or RFC 9126 2.3 (an authorization
    /// request's refusal, answered in JSON by the pushed authorization request endpoint).
    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", description)
    }

    pub fn unauthorized_client(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unauthorized_client", description)
    }

    pub fn unsupported_grant_type(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "unsupported_grant_type", description)
    }

    /// Device authorization grant (RFC 8628 3.5): the user has not decided yet.
    pub fn authorization_pending() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "authorization_pending", "the user has not approved the device yet")
    }

    /// Device authorization grant: polled before the interval was over; the interval is
    /// now `interval` seconds.
    pub fn slow_down(interval: i32) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "slow_down",
            format!("polled too often: wait {interval} seconds between two polls from now on"),
        )
    }

    /// Device authorization grant: the device code expired; ask for a new one.
    pub fn expired_token(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "expired_token", description)
    }

    /// The user (or a rule, such as the account's access) refused the authorization.
    pub fn access_denied(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "access_denied", description)
    }

    /// A bearer token that is missing, malformed, expired or revoked (RFC 6750 3.1).
    pub fn invalid_token(description: impl Into<String>) -> Self {
        let description = description.into();
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_token", description.clone());
        error.www_authenticate = Some(format!(
            "Bearer realm=\"sesame\", error=\"invalid_token\", error_description=\"{}\"",
            description.replace('"', "'")
        ));
        error
    }

    /// A resource's refusal of a DPoP-bound token or its proof (RFC 9449 7.1): 401 with
    /// a `DPoP` challenge naming the algorithms accepted.
    pub fn dpop_challenge(error: &'static str, description: impl Into<String>) -> Self {
        let description = description.into();
        let mut refusal = Self::new(StatusCode::UNAUTHORIZED, error, description.clone());
        refusal.www_authenticate = Some(format!(
            "DPoP error=\"{error}\", error_description=\"{}\", algs=\"{}\"",
            description.replace('"', "'"),
            super::dpop::algorithms().join(" ")
        ));
        refusal
    }

    /// No credentials at all: a bare challenge, no error code (RFC 6750 3.1).
    pub fn missing_token() -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_request", "an access token is required");
        error.www_authenticate = Some("Bearer realm=\"sesame\"".into());
        error
    }

    pub fn insufficient_scope(description: impl Into<String>) -> Self {
        let description = description.into();
        let mut error = Self::new(StatusCode::FORBIDDEN, "insufficient_scope", description.clone());
        error.www_authenticate =
            Some(format!("Bearer realm=\"sesame\", error=\"insufficient_scope\", error_description=\"{description}\""));
        error
    }

    /// Too many failed attempts from this source: wait (RFC 6585).
    pub fn too_many_attempts(retry_after: i64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!("too many failed attempts; retry in {retry_after} seconds"),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// Too many requests from this source (each would write something): wait (RFC 6585).
    pub fn too_many_requests(retry_after: i64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            format!("too many requests from this address; retry in {retry_after} seconds"),
        );
        error.retry_after = Some(retry_after);
        error
    }

    /// The server cannot serve now (password checks saturated, database down): retry.
    pub fn temporarily_unavailable(description: impl Into<String>) -> Self {
        let mut error = Self::new(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable", description);
        error.retry_after = Some(2);
        error
    }

    pub fn server_error() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "the server could not complete the request; see its log",
        )
    }
}

impl From<crate::domain::DomainError> for OAuthError {
    fn from(error: crate::domain::DomainError) -> Self {
        tracing::error!(%error, "protocol request failed");
        if error.is_unavailable() {
            return OAuthError::temporarily_unavailable("the database cannot be reached; retry in a moment");
        }
        OAuthError::server_error()
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({"error": self.error, "error_description": self.description}));
        let mut response = (self.status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        if let Some(nonce) = self.dpop_nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
            headers.insert(super::dpop::NONCE_HEADER, nonce);
        }
        if let Some(challenge) = self.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
