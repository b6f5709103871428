//! What pages need to know about the request: the client's address and language.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRequestParts},
    http::{HeaderMap, header, request::Parts},
};

use super::i18n::Locale;

/// The peer address when the server was started with connection info (standalone);
/// absent when Sésame is mounted in another application that does not provide it.
#[derive(Debug, Clone, Default)]
pub struct ClientIp(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip().to_string())))
    }
}

pub fn accept_language(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok())
}

pub fn locale(headers: &HeaderMap, ui_locales: Option<&str>) -> Locale {
    Locale::negotiate(ui_locales, accept_language(headers))
}
