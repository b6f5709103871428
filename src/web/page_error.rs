//! Errors shown to people: a page in their language that says what went wrong and what
//! to do, with the right status, never a stack trace or a secret.

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use serde_json::json;

use crate::i18n::Locale;
use crate::state::AppState;

#[derive(Debug, Clone)]
pub struct PageError {
    pub status: StatusCode,
    /// Message key of the title in the theme's translations.
    pub title: &'static str,
    /// Message key of the explanation.
    pub message: &'static str,
    /// Technical detail for support staff (an OAuth error description), shown small.
    pub detail: Option<String>,
    /// The page's language when the handler knows it (a login's `ui_locales`); else the
    /// browser's.
    pub locale: Option<Locale>,
    /// The application a dead end leads back to, when it is known.
    pub back: Option<Back>,
}

/// The application that started a login: its name, and its home page when it has one
/// (a desktop application has none).
#[derive(Debug, Clone)]
pub struct Back {
    pub application: String,
    pub url: Option<String>,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: &'static str) -> Self {
        Self { status, title, message, detail: None, locale: None, back: None }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error_bad_request_title", "error_bad_request").with_detail(detail)
    }

    /// With a way back to the application (see [`Back`]).
    pub fn back_to(mut self, back: Option<Back>) -> Self {
        self.back = back;
        self
    }

    /// In this language rather than the browser's.
    pub fn in_locale(mut self, locale: Locale) -> Self {
        self.locale = Some(locale);
        self
    }

    /// A form whose anti-CSRF token does not belong to this browser.
    pub fn csrf() -> Self {
        Self::new(StatusCode::FORBIDDEN, "error_csrf_title", "error_csrf")
    }

    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "error_internal_title", "error_internal")
    }

    /// Too many requests from this address for now.
    pub fn too_many_requests() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, "error_too_many_title", "error_too_many")
    }

    pub fn expired_login() -> Self {
        Self::new(StatusCode::BAD_REQUEST, "error_expired_title", "error_expired")
    }

    pub fn render(self, state: &AppState, locale: Locale) -> Response {
        let context = json!({
            "title": state.theme.message(locale, self.title),
            "message": state.theme.message(locale, self.message),
            "detail": self.detail,
            "back_url": self.back.as_ref().and_then(|back| back.url.clone()),
            "back_name": self.back.as_ref().map(|back| back.application.clone()),
        });
        html_page(state, locale, "error.html", context, self.status)
    }
}

impl From<crate::domain::DomainError> for PageError {
    /// A failure the user cannot fix: logged under an incident id that the page shows,
    /// so that support can find the log line from a screenshot.
    fn from(error: crate::domain::DomainError) -> Self {
        let incident = crate::crypto::random_id();
        tracing::error!(%error, %incident, "request failed");
        let page = if error.is_unavailable() {
            // The database is out of reach (restarting): try again in a moment.
            Self::new(StatusCode::SERVICE_UNAVAILABLE, "error_unavailable_title", "error_unavailable")
        } else {
            PageError::internal()
        };
        page.with_detail(format!("incident {incident}"))
    }
}

/// A page error returned by a handler (`Result<_, PageError>`, `?`) travels in the
/// response until [`render_page_errors`], which has the theme, draws it.
/// A protocol request refused before anything can go back to the client.
impl From<crate::oidc::authorize::PageRefusal> for PageError {
    fn from(refusal: crate::oidc::authorize::PageRefusal) -> Self {
        use crate::oidc::authorize::PageRefusal;
        match refusal {
            PageRefusal::BadRequest(detail) => Self::bad_request(detail),
            PageRefusal::UnregisteredRedirectUri(detail) => {
                Self::new(StatusCode::BAD_REQUEST, "error_redirect_uri_title", "error_redirect_uri").with_detail(detail)
            }
            PageRefusal::RequestObject(error, detail) => Self::bad_request(format!("{error}: {detail}")),
            PageRefusal::Internal(error) => error.into(),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// Draws the page errors that handlers returned, in the language of the error or else
/// of the browser.
pub async fn render_page_errors(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Only the header is kept (a cheap clone): most responses are not page errors, and
    // the language is negotiated only for those that are.
    let accept_language = request.headers().get(header::ACCEPT_LANGUAGE).cloned();
    let mut response = next.run(request).await;
    match response.extensions_mut().remove::<PageError>() {
        Some(error) => {
            let browser = || Locale::negotiate(None, accept_language.as_ref().and_then(|v| v.to_str().ok()));
            let locale = error.locale.unwrap_or_else(browser);
            error.render(&state, locale)
        }
        None => response,
    }
}

/// Renders a template as a page that must not be cached or framed, whose forms post
/// to Sésame only.
pub fn html_page(
    state: &AppState,
    locale: Locale,
    template: &str,
    context: serde_json::Value,
    status: StatusCode,
) -> Response {
    html_page_to(state, locale, template, context, status, None)
}

/// Renders a page whose forms may lead the browser on to the application at
/// `form_target` (a redirect URI): a login step ends in a redirect there, which the
/// page's `form-action` must allow, and nothing else.
pub fn html_page_to(
    state: &AppState,
    locale: Locale,
    template: &str,
    context: serde_json::Value,
    status: StatusCode,
    form_target: Option<&str>,
) -> Response {
    render_with(state, template, locale, context, status, page_headers(form_target))
}

/// Renders the logout page that loads the applications' front-channel logout URIs
/// (`frames`) in iframes: its CSP lets it frame exactly their origins, nothing else.
pub fn html_page_framing(
    state: &AppState,
    locale: Locale,
    template: &str,
    context: serde_json::Value,
    frames: &[String],
) -> Response {
    render_with(state, template, locale, context, StatusCode::OK, page_headers_framing(None, frames))
}

fn render_with(
    state: &AppState,
    template: &str,
    locale: Locale,
    context: serde_json::Value,
    status: StatusCode,
    headers: [(header::HeaderName, HeaderValue); 4],
) -> Response {
    match state.theme.render(template, locale, context) {
        Ok(html) => (status, headers, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, template, "template failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Sésame: a page template failed; see the server log.").into_response()
        }
    }
}

/// No caching, no framing, no referrer, and a Content-Security-Policy whose
/// `form-action` names Sésame itself and, for a login step, the application it leads to.
pub fn page_headers(form_target: Option<&str>) -> [(header::HeaderName, HeaderValue); 4] {
    page_headers_framing(form_target, &[])
}

/// The same headers, with a `frame-src` listing the origins of `frames` when there are
/// any (without one, `default-src 'self'` lets the page frame Sésame only).
fn page_headers_framing(form_target: Option<&str>, frames: &[String]) -> [(header::HeaderName, HeaderValue); 4] {
    let target = form_target.and_then(csp_source).map(|source| format!(" {source}")).unwrap_or_default();
    let mut origins: Vec<String> = Vec::new();
    for source in frames.iter().filter_map(|frame| csp_source(frame)) {
        if !origins.contains(&source) {
            origins.push(source);
        }
    }
    let frame_src = if origins.is_empty() { String::new() } else { format!("; frame-src {}", origins.join(" ")) };
    let policy = format!(
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; \
         base-uri 'none'; form-action 'self'{target}{frame_src}"
    );
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy).unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'")),
        ),
        (header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")),
    ]
}

/// The CSP source expression of a redirect URI: its origin (`https://app.example:8443`),
/// or its scheme (`fr.etude.inotacte:`) for a private-use scheme; none when it cannot be
/// written safely in a header.
fn csp_source(uri: &str) -> Option<String> {
    let url = url::Url::parse(uri).ok()?;
    let source = match url.origin() {
        url::Origin::Tuple(..) => url.origin().ascii_serialization(),
        url::Origin::Opaque(_) => format!("{}:", url.scheme()),
    };
    source.chars().all(|c| c.is_ascii_graphic() && !matches!(c, ';' | ',' | '\'' | '"')).then_some(source)
}

#[cfg(test)]
mod tests {
    #[test]
    fn form_action_names_sesame_and_the_application() {
        let [_, _, (_, csp), _] = super::page_headers(Some("https://actes.example:8443/callback?x=1"));
        let csp = csp.to_str().unwrap();
        assert!(csp.ends_with("form-action 'self' https://actes.example:8443"), "{csp}");
        let [_, _, (_, csp), _] = super::page_headers(None);
        assert!(csp.to_str().unwrap().ends_with("form-action 'self'"));
        assert_eq!(super::csp_source("fr.etude.inotacte:/callback").as_deref(), Some("fr.etude.inotacte:"));
    }

    #[test]
    fn frame_src_lists_each_framed_origin_once() {
        let frames =
            ["https://a.example/fc?iss=x", "https://a.example/other", "http://127.0.0.1:8080/fc"].map(String::from);
        let [_, _, (_, csp), _] = super::page_headers_framing(None, &frames);
        let csp = csp.to_str().unwrap();
        assert!(csp.ends_with("form-action 'self'; frame-src https://a.example http://127.0.0.1:8080"), "{csp}");
    }
}
