//! Extractors for what page handlers repeat: the browser's language and a form whose
//! anti-CSRF token was checked.

use axum::{
    Form,
    extract::{FromRequest, FromRequestParts, Request},
    http::request::Parts,
    response::{IntoResponse, Response},
};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use super::{csrf, i18n::Locale, page_error::PageError, request};
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
