//! Sending the authorization response back to the client: in the query of the redirect
//! URI or as an auto-submitted form (OAuth 2.0 Form Post Response Mode), always with
//! `iss` (RFC 9207).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde_json::json;

use super::page_error;
use crate::i18n::Locale;
use crate::login::{ErrorRedirect, ResponseMode};
use crate::state::AppState;

/// Sends `params` (plus `iss`) to the client's redirect URI.
pub fn to_client(
    state: &AppState,
    redirect_uri: &str,
    mode: ResponseMode,
    mut params: Vec<(&'static str, String)>,
) -> Response {
    params.push(("iss", state.config.issuer().to_string()));
    match mode {
        ResponseMode::Query => {
            let Ok(mut url) = url::Url::parse(redirect_uri) else {
                return (StatusCode::INTERNAL_SERVER_ERROR, "registered redirect URI is not a URL").into_response();
            };
            url.query_pairs_mut().extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
            let mut response = Redirect::to(url.as_str()).into_response();
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            response
        }
        ResponseMode::FormPost => {
            let fields: Vec<_> = params.iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
            page_error::html_page_to(
                state,
                Locale::Fr,
                "form_post.html",
                json!({"action": redirect_uri, "fields": fields}),
                StatusCode::OK,
                Some(redirect_uri),
            )
        }
    }
}

/// Sends an error to the client, at its (already verified) redirect URI.
pub fn send_error(state: &AppState, error: ErrorRedirect) -> Response {
    to_client(state, &error.redirect_uri, error.mode, error.params())
}
