//! What pages need to know about the request: the client's address and language.

use axum::http::{HeaderMap, header};

pub use crate::client_ip::ClientIp;
use crate::i18n::Locale;

pub fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

/// The page's language: `ui_locales` first, then the browser's.
pub fn locale(headers: &HeaderMap, ui_locales: Option<&str>) -> Locale {
    Locale::negotiate(ui_locales, accept_language(headers))
}
