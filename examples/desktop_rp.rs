//! A desktop application that delegates its login to Sésame, as INOTACTE on an office's
//! computers would (OAuth 2.0 for Native Apps, RFC 8252), with the `openidconnect` crate:
//!
//! 1. with a refresh token saved by an earlier run, it refreshes: no browser at all;
//! 2. otherwise it listens on an ephemeral port of the loopback interface, opens the
//!    system browser at Sésame (authorization code with PKCE S256, `state`, `nonce`),
//!    receives the code at `http://127.0.0.1:{port}/callback`, redeems it, and keeps
//!    the refresh token in a file only its user can read;
//! 3. it prints who signed in and their rights in the application (ID token claims,
//!    checked: signature, issuer, audience, expiry, nonce).
//!
//! Run the server in demo mode (`cargo run --release -- serve --demo`), then
//! `cargo run --release --example desktop_rp` and sign in as Pauline (password
//! sesame-demo) in the browser that opens. Settings: `SESAME_ISSUER` (default
//! http://127.0.0.1:8080), `SESAME_DESKTOP_TOKEN_FILE` (default `$XDG_CONFIG_HOME` or
//! `~/.config` `/inotacte-desktop/refresh-token`), `BROWSER` (the command that opens a
//! URL; default `xdg-open`, `open` on macOS, `start` on Windows). `--logout` forgets the
//! saved token.

use std::path::PathBuf;
use std::time::Duration;

use axum::{Router, extract::Query, response::Html, routing::get};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata, CoreTokenResponse};
use openidconnect::{
    AuthorizationCode, ClientId, CsrfToken, EndpointMaybeSet, EndpointNotSet, EndpointSet, HttpRequest, HttpResponse,
    IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge, RedirectUrl, RefreshToken, Scope, TokenResponse,
};
use serde_json::Value;
use tokio::sync::mpsc;

/// The client registered as `application_type = "native"` in config/demo-import.toml.
const CLIENT_ID: &str = "inotacte-desktop";
/// How long the user has to sign in before the application gives up.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(300);

type Client =
    CoreClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointMaybeSet, EndpointMaybeSet>;

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
    let token_file = token_file()?;
    if std::env::args().any(|arg| arg == "--logout") {
        let _ = std::fs::remove_file(&token_file);
        println!("signed out of this computer ({} removed)", token_file.display());
        return Ok(());
    }
    let metadata = CoreProviderMetadata::discover_async(IssuerUrl::new(issuer.clone())?, &http_client)
        .await
        .map_err(|e| anyhow::anyhow!("discovery at {issuer} failed (is `sesame serve --demo` running?): {e:?}"))?;
    let client: Client = CoreClient::from_provider_metadata(metadata, ClientId::new(CLIENT_ID.into()), None);

    let tokens = match saved_refresh(&client, &token_file).await {
        Some(tokens) => {
            println!("signed in with the saved session (no browser needed)");
            tokens
        }
        None => log_in_with_browser(client.clone()).await?,
    };
    if let Some(refresh) = tokens.refresh_token() {
        save_private(&token_file, refresh.secret())?;
    }
    print_identity(&tokens)?;
    Ok(())
}

/// Where the refresh token lives between runs.
fn token_file() -> anyhow::Result<PathBuf> {
    if let Ok(path) = std::env::var("SESAME_DESKTOP_TOKEN_FILE") {
        return Ok(PathBuf::from(path));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))
        .ok_or_else(|| anyhow::anyhow!("set SESAME_DESKTOP_TOKEN_FILE (no HOME to keep the session in)"))?;
    Ok(base.join("inotacte-desktop").join("refresh-token"))
}

/// A new set of tokens from the saved refresh token, if there is one and Sésame still
/// honours it (it may have been revoked: "sign out everywhere", an administrator…).
async fn saved_refresh(client: &Client, token_file: &PathBuf) -> Option<CoreTokenResponse> {
    let saved = std::fs::read_to_string(token_file).ok()?;
    let refresh = RefreshToken::new(saved.trim().to_string());
    match client.exchange_refresh_token(&refresh).ok()?.request_async(&http_client).await {
        Ok(tokens) => Some(tokens),
        Err(error) => {
            eprintln!("the saved session is no longer valid ({error}): signing in again");
            let _ = std::fs::remove_file(token_file);
            None
        }
    }
}

/// The code flow through the system browser and a loopback listener on a port the
/// system chooses (RFC 8252 7.3): Sésame matches the registered
/// `http://127.0.0.1/callback` on any port.
async fn log_in_with_browser(client: Client) -> anyhow::Result<CoreTokenResponse> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let client = client.set_redirect_uri(RedirectUrl::new(format!("http://127.0.0.1:{port}/callback"))?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .add_scope(Scope::new("offline_access".into()))
        .set_pkce_challenge(challenge)
        .url();

    let (sender, mut answers) = mpsc::channel::<std::collections::HashMap<String, String>>(1);
    let callback = get(move |Query(query): Query<std::collections::HashMap<String, String>>| {
        let sender = sender.clone();
        async move {
            let _ = sender.send(query).await;
            Html(
                "<!doctype html><meta charset=utf-8><title>INOTACTE</title><p>Connexion terminée : vous pouvez fermer cette fenêtre et revenir à INOTACTE.</p><p lang=en>Signed in: you can close this window and go back to INOTACTE.</p>",
            )
        }
    });
    let server = tokio::spawn(async move { axum::serve(listener, Router::new().route("/callback", callback)).await });

    open_browser(url.as_str())?;
    println!("Sign in in your browser (or open {url})");
    let answer = tokio::time::timeout(LOGIN_TIMEOUT, answers.recv()).await;
    server.abort();
    let answer = answer
        .map_err(|_| anyhow::anyhow!("no sign-in within {} seconds", LOGIN_TIMEOUT.as_secs()))?
        .ok_or_else(|| anyhow::anyhow!("the loopback listener stopped"))?;
    if let Some(error) = answer.get("error") {
        anyhow::bail!("Sésame refused: {error} {}", answer.get("error_description").cloned().unwrap_or_default());
    }
    if answer.get("state").map(String::as_str) != Some(state.secret().as_str()) {
        anyhow::bail!("the answer's state is not this login's: ignored");
    }
    let code = answer.get("code").ok_or_else(|| anyhow::anyhow!("no code in the answer"))?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.clone()))?
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .map_err(|e| anyhow::anyhow!("token request failed: {e:?}"))?;
    let id_token = tokens.id_token().ok_or_else(|| anyhow::anyhow!("no ID token"))?;
    id_token.claims(&client.id_token_verifier(), &nonce)?;
    Ok(tokens)
}

/// Opens the URL with `$BROWSER`, else the platform's opener.
fn open_browser(url: &str) -> anyhow::Result<()> {
    let mut command = match std::env::var("BROWSER") {
        Ok(browser) if !browser.trim().is_empty() => {
            let mut parts = browser.split_whitespace();
            let mut command = std::process::Command::new(parts.next().unwrap_or_default());
            command.args(parts);
            command
        }
        _ if cfg!(target_os = "macos") => std::process::Command::new("open"),
        _ if cfg!(windows) => {
            let mut command = std::process::Command::new("cmd");
            command.args(["/C", "start", ""]);
            command
        }
        _ => std::process::Command::new("xdg-open"),
    };
    command.arg(url).spawn().map_err(|e| anyhow::anyhow!("could not open a browser ({e}): open {url} yourself"))?;
    Ok(())
}

/// Writes the refresh token so that only this user can read it (0600 on Unix).
fn save_private(path: &PathBuf, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        options.mode(0o600);
        // An older file keeps its mode: tighten it before writing.
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    options.open(path)?.write_all(secret.as_bytes())?;
    Ok(())
}

/// Who signed in, and their rights in INOTACTE, from the ID token (checked above, or
/// issued by the token endpoint to this client over TLS on a refresh).
fn print_identity(tokens: &CoreTokenResponse) -> anyhow::Result<()> {
    use base64::Engine;
    let id_token = tokens.id_token().ok_or_else(|| anyhow::anyhow!("no ID token"))?.to_string();
    let payload = id_token.split('.').nth(1).ok_or_else(|| anyhow::anyhow!("not a JWT"))?;
    let claims: Value = serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload)?)?;
    let text = |name: &str| claims[name].as_str().unwrap_or("").to_string();
    println!("signed in as {} ({})", text("preferred_username"), text("name"));
    println!("application: {}", text("application"));
    let rights: Vec<&str> = claims["rights"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    println!("rights: {}", rights.join(", "));
    println!("options: {}", claims["options"]);
    println!("access token valid for {} s", tokens.expires_in().map(|d| d.as_secs()).unwrap_or(0));
    Ok(())
}
