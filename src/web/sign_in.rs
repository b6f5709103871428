//! Sésame's own pages (the console, the account page, the device page) sign their user in the way any
//! application does: an authorization code flow with PKCE by a built-in public client,
//! redeemed in process. This is the relying-party half they share.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::Value;

use super::page_error::PageError;
use crate::clients::{self, ClientInput};
use crate::cookies;
use crate::crypto;
use crate::domain::DomainError;
use crate::state::AppState;

/// A built-in client's sign-in: who it is, where it comes back, what it asks.
pub struct SignIn<'a> {
    pub client_id: &'a str,
    pub redirect_uri: String,
    pub scope: &'a str,
    /// Remembers state and PKCE verifier between the start and the callback.
    pub cookie: &'a str,
}

impl SignIn<'_> {
    /// Registers (or updates) this built-in client for the issuer: public, first-party,
    /// the code flow back to its callback, these scopes; run at every start.
    pub async fn register(&self, state: &AppState, name: &str, scopes: &[&str]) -> Result<(), DomainError> {
        let input = ClientInput {
            client_id: self.client_id.into(),
            name: Some(name.into()),
            redirect_uris: vec![self.redirect_uri.clone()],
            grant_types: vec!["authorization_code".into()],
            scopes: scopes.iter().map(|scope| scope.to_string()).collect(),
            token_endpoint_auth_method: Some("none".into()),
            first_party: true,
            ..Default::default()
        };
        clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await?;
        Ok(())
    }
}

/// How a page sends its user to sign in (`/account/login`, `/device/login`).
#[derive(Deserialize)]
pub struct LoginQuery {
    /// Ask for the second factor (and enroll one if the account has none).
    #[serde(default)]
    two_factor: bool,
    /// Ask for the password again (a sign-in too old for what the page is about to do).
    #[serde(default)]
    fresh: bool,
}

impl LoginQuery {
    /// The authorization request's extra parameters that ask for it.
    pub fn params(&self) -> Vec<(&'static str, &'static str)> {
        let mut extra = Vec::new();
        if self.two_factor {
            extra.push(("acr_values", crate::auth::acr::MULTI_FACTOR));
        }
        if self.fresh {
            extra.push(("prompt", "login"));
        }
        extra
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl SignIn<'_> {
    /// Sends the browser to the authorization endpoint (with extra parameters such as
    /// `acr_values` or `prompt`).
    pub fn start(&self, state: &AppState, jar: CookieJar, extra: &[(&str, &str)]) -> Response {
        let login_state = crypto::random_id();
        let verifier = crypto::random_token();
        let mut url = match url::Url::parse(&format!("{}/authorize", state.config.issuer())) {
            Ok(url) => url,
            Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        };
        url.query_pairs_mut()
            .append_pair("client_id", self.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("scope", self.scope)
            .append_pair("state", &login_state)
            .append_pair("nonce", &crypto::random_id())
            .append_pair("code_challenge", &crypto::pkce_s256(&verifier))
            .append_pair("code_challenge_method", "S256")
            .extend_pairs(extra);
        let pending =
            cookies::build(self.cookie, format!("{login_state}.{verifier}"), state.config.secure_cookies(), Some(600));
        (jar.add(pending), Redirect::to(url.as_str())).into_response()
    }

    /// Checks the answer against the sign-in started in this browser and redeems the
    /// code; the token response and the jar without the pending cookie.
    pub async fn finish(
        &self,
        state: &AppState,
        jar: CookieJar,
        query: CallbackQuery,
        failed: impl Fn(String) -> PageError,
    ) -> Result<(CookieJar, Value), PageError> {
        if let Some(error) = query.error {
            return Err(failed(format!("{error}: {}", query.error_description.unwrap_or_default())));
        }
        let pending = cookies::get(&jar, self.cookie, state.config.secure_cookies()).unwrap_or_default();
        let Some((expected_state, verifier)) = pending.split_once('.') else {
            return Err(failed("the sign-in was not started here or took too long; start again".into()));
        };
        let (Some(code), Some(returned_state)) = (query.code, query.state) else {
            return Err(failed("the answer has no code".into()));
        };
        if !crypto::constant_time_eq(expected_state.as_bytes(), returned_state.as_bytes()) {
            return Err(failed("the answer does not match the sign-in started in this browser".into()));
        }
        let client = match clients::find(&state.db, self.client_id).await {
            Ok(Some(client)) => client,
            _ => return Err(PageError::internal()),
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("code", &code)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_verifier", verifier)
            .finish();
        let tokens = crate::oidc::token::redeem_code_in_process(state, &client, &form)
            .await
            .map_err(|error| failed(error.description))?;
        Ok((jar.remove(cookies::removal(self.cookie, state.config.secure_cookies())), tokens))
    }
}
