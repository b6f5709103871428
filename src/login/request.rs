//! A validated authorization request, as the login carries it from the authorization
//! endpoint to the code, and the error it may send back to the client.

use serde::{Deserialize, Serialize};

use crate::oidc::claims_request::ClaimsRequest;

/// An authorization request that passed validation; kept server-side (or sealed) while
/// the user logs in, so nothing in it can be changed by the browser afterwards.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub response_mode: ResponseMode,
    pub scopes: Vec<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub prompt: Vec<String>,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The `sub` of a valid `id_token_hint`.
    pub hinted_subject: Option<String>,
    pub ui_locales: Option<String>,
    pub acr_values: Vec<String>,
    /// The `claims` parameter (OIDC Core 5.5). Defaulted: pending logins sealed before
    /// it existed still open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Box<ClaimsRequest>>,
    /// The `resource` (RFC 8707) the access tokens are for, checked. Defaulted like
    /// `claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// RFC 9449 10: the thumbprint of the DPoP key the code must be redeemed with
    /// (`dpop_jkt`, or the key of the proof sent to `/par`). Defaulted like `claims`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    pub fn has_prompt(&self, value: &str) -> bool {
        self.prompt.iter().any(|p| p == value)
    }

    /// An error for the client that made this request, sent to its redirect URI.
    pub fn error(&self, error: &'static str, description: impl Into<String>) -> ErrorRedirect {
        ErrorRedirect {
            redirect_uri: self.redirect_uri.clone(),
            mode: self.response_mode,
            error,
            description: description.into(),
            state: self.state.clone(),
        }
    }
}

/// How the authorization response travels to the client.
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

/// An error for the client, sent to its (already verified) redirect URI.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorRedirect {
    pub redirect_uri: String,
    pub mode: ResponseMode,
    pub error: &'static str,
    pub description: String,
    pub state: Option<String>,
}

impl ErrorRedirect {
    /// The parameters of the error response (without `iss`, which the edge adds).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![("error", self.error.to_string()), ("error_description", self.description.clone())];
        if let Some(value) = &self.state {
            params.push(("state", value.clone()));
        }
        params
    }

    /// The URL a query-mode error would redirect to, for a page's "back to the
    /// application" link.
    pub fn back_url(&self, issuer: &str) -> String {
        let Ok(mut url) = url::Url::parse(&self.redirect_uri) else {
            return String::new();
        };
        url.query_pairs_mut().extend_pairs(self.params()).append_pair("iss", issuer);
        url.to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn request() -> AuthorizationRequest {
        AuthorizationRequest {
            client_id: "inotacte".into(),
            redirect_uri: "https://actes.example/callback?app=1".into(),
            response_mode: ResponseMode::Query,
            scopes: vec!["openid".into()],
            state: Some("xyz".into()),
            nonce: None,
            code_challenge: None,
            prompt: vec!["login".into()],
            max_age: None,
            login_hint: None,
            hinted_subject: None,
            ui_locales: None,
            acr_values: Vec::new(),
            claims: None,
            resource: None,
            dpop_jkt: None,
        }
    }

    #[test]
    fn an_error_goes_back_with_the_state_and_the_issuer() {
        let error = request().error("access_denied", "no");
        assert_eq!(
            error.back_url("https://sesame.example"),
            "https://actes.example/callback?app=1&error=access_denied&error_description=no&state=xyz&iss=https%3A%2F%2Fsesame.example"
        );
        assert!(request().has_prompt("login") && !request().has_prompt("none"));
    }
}
