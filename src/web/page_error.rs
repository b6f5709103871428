//! Errors shown to people: a page in their language that says what went wrong and what
//! to do, with the right status, never a stack trace or a secret.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use super::i18n::Locale;
use crate::app::AppState;

#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    /// Message key of the title in the theme's translations.
    pub title: &'static str,
    /// Message key of the explanation.
    pub message: &'static str,
    /// Technical detail for support staff (an OAuth error description), shown small.
    pub detail: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        Self { status, title, message, detail: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error_bad_request_title", "error_bad_request").with_detail(detail)
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error_internal_title", "error_internal")
    }

    pub fn expired_login() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error_expired_title", "error_expired")
    }

    pub fn render(self, state: &AppState, locale: Locale) -> Response {
        let context = json!({
            "title": state.theme.message(locale, self.title),
            "message": state.theme.message(locale, self.message),
            "detail": self.detail,
        });
        html_page(state, locale, "error.html", context, self.status)
    }
}

impl From<crate::domain::DomainError> for PageError {
    fn from(error: crate::domain::DomainError) -> Self {
        tracing::error!(%error, "request failed");
        PageError::internal()
    }
}

/// Renders a template as a page that must not be cached or framed.
pub fn html_page(
    state: &AppState,
    locale: Locale,
    template: &str,
    context: serde_json::Value,
    status: StatusCode,
) -> Response {
    match state.theme.render(template, locale, context) {
        Ok(html) => (status, no_store_headers(), Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, template, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Sésame: a page template failed; see the server log.").into_response()
        }
    }
}

pub fn no_store_headers() -> [(header::HeaderName, HeaderValue); 4] {
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action *",
            ),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}
