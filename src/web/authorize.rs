//! The authorization endpoint, by GET and POST: `oidc::authorize` validates the request,
//! then the login flow takes it (`login_flow::start`), or the refusal goes to the user
//! (a page) or back to the client.

use axum::{extract::State, http::HeaderMap, response::Response};
use axum_extra::extract::CookieJar;

use super::extract::EncodedParams;
use super::{client_response, login_flow, page_error::PageError, request};
use crate::client_ip::ClientIp;
use crate::oidc::params::Params;
use crate::oidc::{authorize::Refusal, par};
use crate::state::AppState;

/// `GET` or `POST /authorize`.
pub async fn handle(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    EncodedParams(encoded): EncodedParams,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let params = Params::parse(&encoded)
        .map_err(|name| PageError::bad_request(format!("parameter `{name}` appears more than once")))?;
    let locale = request::locale(&headers, params.get("ui_locales"));
    if fetches_request_uri(&params)
        && let Some(address) = &ip
        && state.limits.request_uri_per_ip.hit_from(address, now).is_err()
    {
        return Err(PageError::too_many_requests().in_locale(locale));
    }
    Ok(match par::authorization_request(&state, &params).await {
        Ok((client, request)) => login_flow::start(&state, jar, &headers, client, request, now).await,
        Err(Refusal::Page(refusal)) => return Err(PageError::from(refusal).in_locale(locale)),
        Err(Refusal::Redirect(redirect)) => client_response::send_error(&state, redirect),
    })
}

/// Whether serving `params` fetches a URL (a `request_uri` by reference, not a pushed
/// request's `urn:`).
fn fetches_request_uri(params: &Params) -> bool {
    params.get("request_uri").is_some_and(|uri| !uri.starts_with(par::REQUEST_URI_PREFIX))
}

#[cfg(test)]
#[path = "authorize_tests.rs"]
mod tests;
