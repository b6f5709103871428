//! A relying party for the demo: an office application that delegates its login to
//! Sésame with the `openidconnect` crate (discovery, authorization code with PKCE,
//! ID token validation, userinfo). After the login it shows who signed in and what they
//! may do in the application (Sésame's `application`, `rights`, `options` and
//! `initials` claims) in a table, beside the raw claims (examples/demo_rp/page.rs).
//!
//! Run the server in demo mode (`cargo run --release -- serve --demo`), then
//! `cargo run --release --example demo_rp` and open http://127.0.0.1:9090/ in a browser.
//! `SESAME_ISSUER` points it at another Sésame.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::{
    Router,
    extract::{Query, State},
    response::{Html, IntoResponse, Redirect, Response},
    routing::get,
};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest,
    HttpResponse, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
    TokenResponse,
};

#[path = "demo_rp/page.rs"]
mod page;
use page::{SesameIdToken, SesameUserInfo, escape};

const CLIENT_ID: &str = "demo-rp";
const CLIENT_SECRET: &str = "demo-rp-secret-not-for-production";
const LISTEN: &str = "127.0.0.1:9090";
const REDIRECT_URI: &str = "http://127.0.0.1:9090/callback";

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

#[derive(Clone)]
struct App {
    client: Arc<Client>,
    /// Pending logins by `state`: the nonce and PKCE verifier to check the answer with.
    pending: Arc<Mutex<HashMap<String, (Nonce, PkceCodeVerifier)>>>,
}

#[derive(Debug)]
struct HttpError(String);

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HttpError {}

/// openidconnect's HTTP client, on reqwest, never following redirects.
async fn http_client(request: HttpRequest) -> Result<HttpResponse, HttpError> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| HttpError(e.to_string()))?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let issuer = std::env::var("SESAME_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http_client)
        .await
        .map_err(|e| anyhow::anyhow!("discovery at {issuer} failed (is `sesame serve --demo` running?): {e:?}"))?;
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(CLIENT_ID.into()),
        Some(ClientSecret::new(CLIENT_SECRET.into())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT_URI.into())?);
    let app = App { client: Arc::new(client), pending: Arc::default() };
    let router = Router::new().route("/", get(start)).route("/callback", get(callback)).with_state(app);
    let listener = tokio::net::TcpListener::bind(LISTEN).await?;
    println!(
        "Demo relying party of {issuer}\nOpen http://{LISTEN}/ in your browser and sign in as Pauline (password sesame-demo)."
    );
    axum::serve(listener, router).await?;
    Ok(())
}

async fn start(State(app): State<App>) -> Redirect {
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = app
        .client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("email".into()))
        .set_pkce_challenge(challenge)
        .url();
    if let Ok(mut pending) = app.pending.lock() {
        pending.insert(state.secret().clone(), (nonce, verifier));
    }
    Redirect::to(url.as_str())
}

async fn callback(State(app): State<App>, Query(query): Query<HashMap<String, String>>) -> Response {
    match finish(&app, &query).await {
        Ok(html) => Html(html).into_response(),
        Err(error) => {
            Html(format!("<h1>Login failed</h1><pre>{}</pre><p><a href=\"/\">Try again</a></p>", escape(&error)))
                .into_response()
        }
    }
}

async fn finish(app: &App, query: &HashMap<String, String>) -> Result<String, String> {
    if let Some(error) = query.get("error") {
        return Err(format!("{error}: {}", query.get("error_description").cloned().unwrap_or_default()));
    }
    let state = query.get("state").ok_or("no state in the answer")?;
    let (nonce, verifier) =
        app.pending.lock().map_err(|_| "lock poisoned")?.remove(state).ok_or("unknown state: start again from /")?;
    let code = query.get("code").ok_or("no code in the answer")?;
    let tokens = app
        .client
        .exchange_code(AuthorizationCode::new(code.clone()))
        .map_err(|e| e.to_string())?
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .map_err(|e| format!("token request failed: {e:?}"))?;
    // Parsed with Sésame's claims, then checked (signature, issuer, audience, expiry, nonce).
    let id_token: SesameIdToken =
        tokens.id_token().ok_or("no ID token")?.to_string().parse().map_err(|e| format!("ID token unreadable: {e}"))?;
    let claims =
        id_token.claims(&app.client.id_token_verifier(), &nonce).map_err(|e| format!("ID token rejected: {e}"))?;
    let userinfo: SesameUserInfo = app
        .client
        .user_info(tokens.access_token().clone(), None)
        .map_err(|e| e.to_string())?
        .request_async(&http_client)
        .await
        .map_err(|e| format!("userinfo failed: {e:?}"))?;
    let claims = serde_json::to_value(claims).map_err(|e| e.to_string())?;
    let userinfo = serde_json::to_value(&userinfo).map_err(|e| e.to_string())?;
    Ok(page::signed_in(&claims, &userinfo))
}
