//! The authorization request (OIDC Core 3.1.2), validated in the order the
//! specification implies: errors that cannot be trusted to reach the client (unknown
//! client, unregistered redirect URI) are for the user to see; every later error is sent
//! back to the client. The endpoint itself is a page (`web::authorize`).
//!
//! A request object (`request`, `request_uri`) is checked first, as soon as the client
//! is known (`request_object`); its parameters then replace the request's own.

use super::params::Params;
use crate::clients::Client;
use crate::domain::DomainError;
use crate::login::{AuthorizationRequest, ErrorRedirect, ResponseMode};
use crate::state::AppState;

/// Why a request was refused, and where the refusal goes.
#[derive(Debug)]
pub enum Refusal {
    /// To the user, on a page: the client cannot be trusted with it.
    Page(PageRefusal),
    /// To the client, at its redirect URI.
    Redirect(ErrorRedirect),
}

/// A protocol request refused before anything can be sent back to a client.
#[derive(Debug)]
pub enum PageRefusal {
    /// Malformed, or naming no known client; what is wrong.
    BadRequest(String),
    /// A redirect URI (or post-logout redirect URI) the client did not register.
    UnregisteredRedirectUri(String),
    /// A request object refused with no trusted redirect URI to send its error to: the
    /// OAuth error code (for the pushed authorization request endpoint's JSON) and what
    /// is wrong.
    RequestObject(&'static str, String),
    /// The database failed.
    Internal(DomainError),
}

impl From<DomainError> for PageRefusal {
    fn from(error: DomainError) -> Self {
        Self::Internal(error)
    }
}

pub async fn validate(state: &AppState, params: &Params) -> Result<(Client, AuthorizationRequest), Refusal> {
    let page = |detail: String| Refusal::Page(PageRefusal::BadRequest(detail));
    let client_id = params.get("client_id").ok_or_else(|| page("the request has no client_id".into()))?;
    // The node's client cache, as at the token endpoint: a registration changed on
    // another node is seen here within the change feed's sync interval (at worst
    // `client_cache_ttl` seconds).
    let client = state
        .client_cache
        .get(&state.db, client_id, state.clock.now())
        .await
        .map_err(|e| Refusal::Page(e.into()))?
        .map(|client| Client::clone(&client))
        .ok_or_else(|| page(format!("no application is registered with client_id `{client_id}`")))?;
    // A request object, once checked, is the whole request (see `request_object`).
    let object = super::request_object::resolve(state, &client, params)
        .await
        .map_err(|refused| early_refusal(&client, params, refused.error, refused.description))?;
    let signed = object.as_ref().is_some_and(|object| object.signed);
    if client.require_signed_request_object && !signed {
        let why = "this client must send its authorization requests as signed request objects (RFC 9101)";
        let error = if object.is_some() { "invalid_request_object" } else { "invalid_request" };
        return Err(early_refusal(&client, params, error, why.into()));
    }
    match &object {
        Some(object) => validate_params(state, client, &object.params).await,
        None => validate_params(state, client, params).await,
    }
}

/// A refusal before the request's own parameters are known (its request object was
/// refused): back to the client only when the redirect URI outside the object is one
/// it registered, with the `state` outside; else to the user.
fn early_refusal(client: &Client, params: &Params, error: &'static str, description: String) -> Refusal {
    match params.get("redirect_uri") {
        Some(redirect_uri) if client.has_redirect_uri(redirect_uri) => Refusal::Redirect(ErrorRedirect {
            redirect_uri: redirect_uri.to_string(),
            mode: params.get("response_mode").and_then(ResponseMode::parse).unwrap_or(ResponseMode::Query),
            error,
            description,
            state: params.owned("state"),
        }),
        Some(redirect_uri) => Refusal::Page(PageRefusal::UnregisteredRedirectUri(format!(
            "redirect_uri `{redirect_uri}` is not registered for client `{}`",
            client.client_id
        ))),
        None => Refusal::Page(PageRefusal::RequestObject(error, description)),
    }
}

/// Validates the request's parameters (its own, or its request object's) for `client`.
async fn validate_params(
    state: &AppState,
    client: Client,
    params: &Params,
) -> Result<(Client, AuthorizationRequest), Refusal> {
    let client_id = client.client_id.as_str();
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| Refusal::Page(PageRefusal::BadRequest("the request has no redirect_uri".into())))?;
    if !client.has_redirect_uri(redirect_uri) {
        return Err(Refusal::Page(PageRefusal::UnregisteredRedirectUri(format!(
            "redirect_uri `{redirect_uri}` is not registered for client `{client_id}`"
        ))));
    }
    // From here on the redirect URI is trusted: errors go back to the client.
    let response_mode = match params.get("response_mode") {
        None => ResponseMode::Query,
        Some(mode) => ResponseMode::parse(mode).ok_or_else(|| {
            Refusal::Redirect(ErrorRedirect {
                redirect_uri: redirect_uri.to_string(),
                mode: ResponseMode::Query,
                error: "invalid_request",
                description: format!("response_mode `{mode}` is not supported; use query or form_post"),
                state: params.owned("state"),
            })
        })?,
    };
    let mut request = AuthorizationRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        response_mode,
        scopes: Vec::new(),
        state: params.owned("state"),
        nonce: params.owned("nonce"),
        code_challenge: None,
        prompt: Vec::new(),
        max_age: None,
        login_hint: params.owned("login_hint"),
        hinted_subject: None,
        ui_locales: params.owned("ui_locales"),
        acr_values: params
            .get("acr_values")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default(),
        claims: None,
        resource: None,
        dpop_jkt: None,
    };
    let refuse = |request: &AuthorizationRequest, error: &'static str, description: String| {
        Refusal::Redirect(request.error(error, description))
    };

    match params.get("response_type") {
        None => {
            return Err(refuse(
                &request,
                "invalid_request",
                "the request has no response_type; use response_type=code".into(),
            ));
        }
        Some("code") => {}
        Some(other) => {
            return Err(refuse(
                &request,
                "unsupported_response_type",
                format!("response_type `{other}` is not supported; use code"),
            ));
        }
    }
    if !client.allows_grant("authorization_code") {
        return Err(refuse(
            &request,
            "unauthorized_client",
            "this client may not use the authorization code flow".into(),
        ));
    }
    request.scopes = super::scope::allowed(&client, params.get("scope").unwrap_or_default());
    if !request.scopes.iter().any(|s| s == "openid") {
        return Err(refuse(&request, "invalid_scope", "the scope must include openid".into()));
    }

    match (params.get("code_challenge"), params.get("code_challenge_method")) {
        (Some(_), method) if !super::fapi2::pkce_method_ok(&client, method) => {
            return Err(refuse(
                &request,
                "invalid_request",
                "a FAPI 2.0 client states code_challenge_method=S256 (FAPI 2.0 Security Profile 5.3.2.2)".into(),
            ));
        }
        (Some(challenge), None | Some("S256")) => {
            let well_formed =
                challenge.len() == 43 && challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
            if !well_formed {
                return Err(refuse(
                    &request,
                    "invalid_request",
                    "code_challenge must be the base64url SHA-256 of the verifier (43 characters)".into(),
                ));
            }
            request.code_challenge = Some(challenge.to_string());
        }
        (Some(_), Some(method)) => {
            return Err(refuse(
                &request,
                "invalid_request",
                format!("code_challenge_method `{method}` is not supported; use S256"),
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(&request, "invalid_request", "code_challenge_method without code_challenge".into()));
        }
        (None, None) if client.is_public() => {
            return Err(refuse(
                &request,
                "invalid_request",
                "a public client must use PKCE (code_challenge with S256)".into(),
            ));
        }
        (None, None) if client.is_fapi2() => {
            return Err(refuse(
                &request,
                "invalid_request",
                "a FAPI 2.0 client must use PKCE (code_challenge with S256)".into(),
            ));
        }
        (None, None) => {}
    }

    if let Some(prompt) = params.get("prompt") {
        request.prompt = prompt.split_whitespace().map(str::to_string).collect();
        if let Some(unknown) =
            request.prompt.iter().find(|p| !["none", "login", "consent", "select_account"].contains(&p.as_str()))
        {
            return Err(refuse(&request, "invalid_request", format!("prompt value `{unknown}` is not supported")));
        }
        if request.has_prompt("none") && request.prompt.len() > 1 {
            return Err(refuse(&request, "invalid_request", "prompt=none cannot be combined with other values".into()));
        }
    }
    if let Some(max_age) = params.get("max_age") {
        request.max_age = Some(max_age.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
            refuse(&request, "invalid_request", format!("max_age `{max_age}` is not a number of seconds"))
        })?);
    }
    if let Some(claims) = params.get("claims") {
        let claims = super::claims_request::parse(claims).map_err(|why| refuse(&request, "invalid_request", why))?;
        if let Some(values) = claims.essential_acr() {
            // An essential acr is a requirement (OIDC Core 5.5.1.1): met like acr_values
            // when Sésame asserts one of its values, refused at once when it asserts none.
            let supported: Vec<String> =
                values.into_iter().filter(|value| crate::auth::acr::SUPPORTED.contains(&value.as_str())).collect();
            if supported.is_empty() {
                return Err(refuse(
                    &request,
                    "unmet_authentication_requirements",
                    format!("an essential acr must be one of {}", crate::auth::acr::SUPPORTED.join(", ")),
                ));
            }
            for value in supported {
                if !request.acr_values.contains(&value) {
                    request.acr_values.push(value);
                }
            }
        }
        request.claims = Some(Box::new(claims));
    }
    request.resource =
        super::resource::resolve(&state.db, &client, params.get("resource")).await.map_err(|error| match error {
            super::resource::ResourceError::Refused(why) => refuse(&request, super::resource::INVALID_TARGET, why),
            super::resource::ResourceError::Storage(error) => Refusal::Page(error.into()),
        })?;
    if let Some(jkt) = params.get("dpop_jkt") {
        // A JWK SHA-256 thumbprint (RFC 9449 10): 43 base64url characters.
        let well_formed = jkt.len() == 43 && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !well_formed {
            return Err(refuse(&request, "invalid_request", "dpop_jkt must be a JWK SHA-256 thumbprint".into()));
        }
        request.dpop_jkt = Some(jkt.to_string());
    }
    if let Some(hint) = params.get("id_token_hint") {
        let hinted = super::token::jwt::claims_of_id_token_hint(state, hint, Some(&client)).await;
        let subject = hinted.and_then(|claims| claims["sub"].as_str().map(str::to_string)).ok_or_else(|| {
            refuse(
                &request,
                "invalid_request",
                "id_token_hint is not an ID token issued by this provider to this client".into(),
            )
        })?;
        request.hinted_subject = Some(subject);
    }
    // A `sub` asked for by value in `claims` names the account as id_token_hint does
    // (OIDC Core 5.5.1); the two must agree.
    if let Some(required) = request.claims.as_ref().and_then(|claims| claims.required_subject()).map(str::to_string) {
        if request.hinted_subject.as_ref().is_some_and(|hinted| *hinted != required) {
            let why = "the claims parameter's sub is not the id_token_hint's".into();
            return Err(refuse(&request, "invalid_request", why));
        }
        request.hinted_subject = Some(required);
    }
    Ok((client, request))
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
