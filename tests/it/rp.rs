//! The relying party (the `openidconnect` crate, as office applications would use it)
//! and a browser (reqwest with a cookie jar, following no redirect by itself so that
//! each step of the flow can be checked).

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use reqwest::redirect::Policy;

use crate::harness::TestServer;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

/// The RP's HTTP client for openidconnect: reqwest, never following redirects.
pub async fn http_client(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let client = reqwest::Client::builder().redirect(Policy::none()).build().map_err(|e| HttpError(e.to_string()))?;
    let (parts, body) = request.into_parts();
    let mut builder = client.request(parts.method, parts.uri.to_string()).body(body);
    for (name, value) in &parts.headers {
        builder = builder.header(name, value);
    }
    let response = builder.send().await.map_err(|e| HttpError(e.to_string()))?;
    let mut out = openidconnect::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        out = out.header(name, value);
    }
    let body = response.bytes().await.map_err(|e| HttpError(e.to_string()))?;
    out.body(body.to_vec()).map_err(|e| HttpError(e.to_string()))
}

pub type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

pub async fn discover_at(issuer: &str) -> CoreProviderMetadata {
    CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.to_string()).unwrap(), &http_client)
        .await
        .expect("discovery")
}

pub async fn client(server: &TestServer, client_id: &str, secret: Option<&str>, redirect_uri: &str) -> Client {
    client_at(&server.issuer, client_id, secret, redirect_uri).await
}

/// A client of a provider reached by its issuer (a server started as a process).
pub async fn client_at(issuer: &str, client_id: &str, secret: Option<&str>, redirect_uri: &str) -> Client {
    let metadata = discover_at(issuer).await;
    CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(client_id.into()),
        secret.map(|s| ClientSecret::new(s.into())),
    )
    .set_redirect_uri(RedirectUrl::new(redirect_uri.into()).unwrap())
}

/// The client of the fixture's `actes-web` application.
pub async fn actes_web(server: &TestServer) -> Client {
    client(server, "actes-web", Some("actes-web-secret-0123456789"), "https://actes.example/callback").await
}

pub struct AuthRequest {
    pub url: String,
    pub state: CsrfToken,
    pub nonce: Nonce,
    pub verifier: PkceCodeVerifier,
}

/// An authorization URL with PKCE, state and nonce, plus extra parameters.
pub fn auth_request(client: &Client, scopes: &[&str], extra: &[(&str, &str)]) -> AuthRequest {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let mut request = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .set_pkce_challenge(challenge);
    for scope in scopes {
        request = request.add_scope(Scope::new(scope.to_string()));
    }
    for (name, value) in extra {
        request = request.add_extra_param(*name, *value);
    }
    let (url, state, nonce) = request.url();
    AuthRequest { url: url.to_string(), state, nonce, verifier }
}

/// The claims of the ID token of a token response, checked as the RP checks them
/// (signature, issuer, audience, expiry, nonce).
pub fn id_claims<'a>(
    client: &Client,
    tokens: &'a openidconnect::core::CoreTokenResponse,
    nonce: &Nonce,
) -> &'a openidconnect::core::CoreIdTokenClaims {
    use openidconnect::TokenResponse as _;
    tokens.id_token().expect("an ID token").claims(&client.id_token_verifier(), nonce).expect("a valid ID token")
}

pub async fn exchange(
    client: &Client,
    code: &str,
    verifier: PkceCodeVerifier,
) -> Result<openidconnect::core::CoreTokenResponse, String> {
    client
        .exchange_code(AuthorizationCode::new(code.into()))
        .expect("token endpoint")
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .map_err(|e| match e {
            openidconnect::RequestTokenError::ServerResponse(r) => format!("{:?}", r.error()),
            other => format!("{other:?}"),
        })
}

/// A browser with a cookie jar (clones share it, like tabs).
#[derive(Clone)]
pub struct Browser {
    pub http: reqwest::Client,
}

pub struct Page {
    pub status: reqwest::StatusCode,
    pub location: Option<String>,
    pub body: String,
}

impl Page {
    /// The value of a hidden input by name.
    pub fn field(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(unescape(&self.body[start..start + end]))
    }

    pub fn location_param(&self, name: &str) -> Option<String> {
        let location = url::Url::parse(self.location.as_deref()?).ok()?;
        location.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder().cookie_store(true).redirect(Policy::none()).build().unwrap();
        Self { http }
    }

    /// A browser whose form submissions are top-level navigations, as a person's in a
    /// tab are (Fetch Metadata `Sec-Fetch-Mode: navigate`).
    pub fn navigating() -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("sec-fetch-mode", "navigate".parse().unwrap());
        let http = reqwest::Client::builder()
            .cookie_store(true)
            .redirect(Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self { http }
    }

    /// A browser at `address`, as a trusted reverse proxy says (`X-Forwarded-For`; the
    /// server must list 127.0.0.1 in `trusted_proxies`).
    pub fn at(address: &str) -> Self {
        Self::at_with_cookie(address, None)
    }

    /// A browser at `address` that already holds a cookie (`name=value`) for `issuer`.
    pub fn at_with_cookie(address: &str, cookie: Option<(&str, &str)>) -> Self {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("x-forwarded-for", address.parse().unwrap());
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        if let Some((issuer, cookie)) = cookie {
            jar.add_cookie_str(cookie, &reqwest::Url::parse(issuer).unwrap());
        }
        let http = reqwest::Client::builder()
            .cookie_provider(jar)
            .redirect(Policy::none())
            .default_headers(headers)
            .build()
            .unwrap();
        Self { http }
    }

    async fn page(response: reqwest::Response) -> Page {
        let status = response.status();
        let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
        Page { status, location, body: response.text().await.unwrap_or_default() }
    }

    pub async fn get(&self, url: &str) -> Page {
        Self::page(self.http.get(url).send().await.expect("GET")).await
    }

    pub async fn post(&self, url: &str, form: &[(&str, &str)]) -> Page {
        Self::page(self.http.post(url).form(form).send().await.expect("POST")).await
    }

    /// Opens an authorization URL; when Sésame asks for a login, fills in the form.
    /// Returns the page that leaves Sésame (a redirect to the client) or the last page.
    pub async fn authorize(&self, server: &TestServer, url: &str, username: &str, password: &str) -> Page {
        let page = self.get(url).await;
        match page.location.as_deref() {
            Some(location) if location.starts_with("/login") => self.login(server, location, username, password).await,
            _ => page,
        }
    }

    pub async fn login(&self, server: &TestServer, login_path: &str, username: &str, password: &str) -> Page {
        let form = self.get(&server.url(login_path)).await;
        assert_eq!(form.status, 200, "login page: {}", form.body);
        let csrf = form.field("csrf_token").expect("csrf_token field");
        let tx = form.field("tx").expect("tx field");
        self.post(
            &server.url("/login"),
            &[("csrf_token", &csrf), ("tx", &tx), ("username", username), ("password", password)],
        )
        .await
    }
}

/// The full flow for `actes-web` as pauline: returns the code and the request.
pub async fn code_for_pauline(
    server: &TestServer,
    client: &Client,
    browser: &Browser,
    scopes: &[&str],
) -> (String, AuthRequest) {
    let request = auth_request(client, scopes, &[]);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "expected a redirect to the client: {}", page.body);
    assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
    let code = page.location_param("code").expect("a code in the redirect");
    (code, request)
}

/// Undoes the HTML escaping of attribute values.
pub fn unescape(html: &str) -> String {
    html.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn decode_part(jwt: &str, index: usize) -> serde_json::Value {
    use base64::Engine;
    let part = jwt.split('.').nth(index).expect("a compact JWT");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url"))
        .expect("JSON")
}

/// The claims of a JWT, unchecked: the RP library checks; tests read extra claims.
pub fn payload(jwt: &str) -> serde_json::Value {
    decode_part(jwt, 1)
}

/// The JOSE header of a JWT.
pub fn header(jwt: &str) -> serde_json::Value {
    decode_part(jwt, 0)
}
