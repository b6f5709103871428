//! Extractors for what page handlers repeat: the browser's language, a form whose
//! anti-CSRF token was checked, and protocol parameters sent by GET or POST.

use axum::{
    Form,
    body::Bytes,
    extract::{FromRequest, FromRequestParts, Request},
    http::{Method, request::Parts},
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use super::{csrf, page_error::PageError, request};
use crate::i18n::Locale;
use crate::state::AppState;

/// The language the browser asks for (`Accept-Language`).
pub struct PageLocale(pub Locale);

impl<S: Send + Sync> FromRequestParts<S> for PageLocale {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(request::locale(&parts.headers, None)))
    }
}

/// A form that carries the anti-CSRF token of its page.
pub trait CsrfProtected {
    fn csrf_token(&self) -> &str;
}

/// A submitted form whose anti-CSRF token belongs to this browser; any other is
/// refused with the "form expired" page before the handler runs.
pub struct CsrfForm<T>(pub T);

impl<T> FromRequest<AppState> for CsrfForm<T>
where
    T: DeserializeOwned + CsrfProtected + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let Form(form) = Form::<T>::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        if !csrf::verify(state, &jar, form.csrf_token()) {
            return Err(PageError::csrf().into_response());
        }
        Ok(Self(form))
    }
}

/// The encoded parameters of a browser's protocol request, which may come by GET (the
/// query) or by POST (a form body), as the authorization and end-session endpoints
/// allow; a POST that is not a form is refused with a page.
pub struct EncodedParams(pub String);

impl<S: Send + Sync> FromRequest<S> for EncodedParams {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if request.method() != Method::POST {
            return Ok(Self(request.uri().query().unwrap_or_default().to_string()));
        }
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await.map_err(IntoResponse::into_response)?;
        crate::oidc::params::form_text(&headers, &body)
            .map(Self)
            .map_err(|problem| PageError::bad_request(problem).into_response())
    }
}
