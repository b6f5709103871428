//! Sending the authorization response back to the client: in the query of the redirect
//! URI or as an auto-submitted form (OAuth 2.0 Form Post Response Mode), always with
//! `iss` (RFC 9207).

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::app::AppState;
use crate::web::{i18n::Locale, page_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    Query,
    FormPost,
}

impl ResponseMode {
    pub const SUPPORTED: [&'static str; 2] = ["query", "form_post"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "query" => Some(Self::Query),
            "form_post" => Some(Self::FormPost),
            _ => None,
        }
    }
}

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

/// An error for the client, sent to its (already verified) redirect URI.
#[derive(Debug)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    pub fn into_response(self, state: &AppState) -> Response {
        let mut params = vec![("error", self.error.to_string()), ("error_description", self.description)];
        if let Some(value) = self.state {
            params.push(("state", value));
        }
        to_client(state, &self.redirect_uri, self.mode, params)
    }
}

/// The URL a query-mode error would redirect to, for a page's "back to the application"
/// link.
pub fn to_client_url(state: &AppState, error: &ErrorRedirect) -> String {
    let Ok(mut url) = url::Url::parse(&error.redirect_uri) else {
        return String::new();
    };
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("error", error.error).append_pair("error_description", &error.description);
        if let Some(value) = &error.state {
            pairs.append_pair("state", value);
        }
        pairs.append_pair("iss", state.config.issuer());
    }
    url.to_string()
}
