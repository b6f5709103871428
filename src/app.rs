//! Assembling Sésame: the shared state, the router, and starting a server. The library
//! entry points (`Sesame::open`, `Sesame::router`, `serve`) are what the binary and the
//! integration tests use, and what another axum application mounts.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::{
    Router,
    http::{HeaderValue, StatusCode, header},
    routing::get,
};
use tokio::net::TcpListener;
use tower_http::{
    limit::RequestBodyLimitLayer, set_header::SetResponseHeaderLayer, timeout::TimeoutLayer, trace::TraceLayer,
};

use crate::clients::SecretHasher;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::crypto::{keys::KeyStore, password::PasswordHasherService, secretbox::SecretBox};
use crate::rate_limit::RateLimiter;
use crate::storage::{self, Db};
use crate::web::theme::Theme;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<KeyStore>,
    pub passwords: Arc<PasswordHasherService>,
    pub client_secrets: Arc<SecretHasher>,
    pub theme: Arc<Theme>,
    pub clock: Arc<dyn Clock>,
    pub csrf_key: [u8; 32],
    pub secrets: SecretBox,
    pub limits: Arc<Limits>,
    /// Outgoing HTTP (back-channel logout, clients' jwks_uri): no redirects, short timeouts.
    pub http: reqwest::Client,
    pub jwks_cache: Arc<crate::oidc::client_assertion::JwksCache>,
    pub client_cache: Arc<crate::clients::ClientCache>,
    /// The discovery document, serialised once.
    pub discovery: axum::body::Bytes,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub mailer: Arc<crate::mail::Mailer>,
    pub sms: Arc<crate::sms::SmsProvider>,
    /// Signs push challenges; derived from the master key, the same on every node.
    pub push_key: Arc<crate::crypto::jws::SigningKey>,
    /// Keys the hashes of one-time codes (recovery codes, mailed codes).
    pub code_key: [u8; 32],
    /// Signs the "known browser" cookie (see `auth::known_browser`).
    pub known_browser_key: [u8; 32],
}

/// The per-node limits. Budgets that must hold across nodes live in the database
/// (`throttle`); these only spare it a query.
pub struct Limits {
    pub login_per_ip: RateLimiter,
    /// Client and source pairs this node saw refused, until when (see `oidc::client_auth`).
    pub client_auth_blocked: crate::rate_limit::BlockList,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Secrets(#[from] crate::crypto::secretbox::SecretBoxError),
    #[error(transparent)]
    Keys(#[from] crate::crypto::keys::KeyError),
    #[error(transparent)]
    Password(#[from] crate::crypto::password::PasswordError),
    #[error(transparent)]
    Theme(#[from] crate::web::theme::ThemeError),
    #[error("cannot listen on {address}: {source}")]
    Listen { address: String, source: std::io::Error },
    #[error("demo data: {0}")]
    Demo(String),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    Sms(#[from] crate::sms::SmsError),
    #[error("push signing key: {0}")]
    Push(String),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("registering the built-in clients (console, account page): {0}")]
    Console(String),
}

/// Opens the database (migrating it), the master key, the signing keys and the theme.
pub async fn open_state(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
    let db = storage::connect(&config.database_url()).await?;
    storage::migrate(&db).await?;
    let secrets = master_key(&config)?;
    let lock = storage::StartLock::take(&db).await.map_err(storage::StorageError::Migrate)?;
    let keys = KeyStore::open(db.clone(), secrets.clone(), clock.now()).await;
    lock.release().await.map_err(storage::StorageError::Migrate)?;
    let keys = keys?;
    let passwords = PasswordHasherService::new(&config.password)?;
    let theme = Theme::load(&config.theme)?;
    let limits = Limits {
        login_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        client_auth_blocked: crate::rate_limit::BlockList::default(),
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let mailer = crate::mail::Mailer::from_config(&config)?;
    let sms = crate::sms::SmsProvider::from_config(&config)?;
    let push_key = crate::push::server_key(&secrets).map_err(|e| StartError::Push(e.to_string()))?;
    let state = AppState {
        mailer: Arc::new(mailer),
        sms: Arc::new(sms),
        push_key: Arc::new(push_key),
        code_key: secrets.derive_key("one-time-codes"),
        known_browser_key: secrets.derive_key("known-browser"),
        metrics: Arc::default(),
        discovery: crate::oidc::discovery::document_json(config.issuer()),
        client_cache: Arc::new(crate::clients::ClientCache::new(config.tokens.client_cache_ttl)),
        jwks_cache: Arc::default(),
        http,
        limits: Arc::new(limits),
        csrf_key: secrets.derive_key("csrf"),
        client_secrets: Arc::new(SecretHasher::new(secrets.derive_key("client-secret"))),
        secrets,
        keys: Arc::new(keys),
        passwords: Arc::new(passwords),
        theme: Arc::new(theme),
        config: Arc::new(config),
        db,
        clock,
    };
    Ok(state)
}

/// The master key from configuration, else from (or into) `master.key` in the data directory.
pub fn master_key(config: &Config) -> Result<SecretBox, crate::crypto::secretbox::SecretBoxError> {
    if config.master_key.is_empty() {
        SecretBox::from_file_or_create(&config.data_dir.join("master.key"))
    } else {
        SecretBox::from_base64(&config.master_key)
    }
}

/// Every route of Sésame, ready to serve or to nest in another router.
pub fn router(state: AppState) -> Router {
    let request_timeout = Duration::from_secs(state.config.server.request_timeout);
    Router::new()
        .merge(crate::oidc::routes())
        .merge(crate::web::routes())
        .merge(crate::admin_api::routes())
        .merge(crate::console::routes())
        .merge(crate::push::api::routes())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        // Only with the operator's bearer token (`metrics.bearer_token`); else 404.
        .route("/metrics", get(crate::metrics::guarded_endpoint))
        // Page errors that handlers return are drawn here, with the theme.
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::web::page_error::render_page_errors))
        .layer(RequestBodyLimitLayer::new(64 * 1024))
        // A slow body or a stuck handler ends with 408 (push long-polls wait less).
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, request_timeout))
        // Outside the two above, so that their answers (413, 408) come in each API's shape.
        .layer(axum::middleware::from_fn(errors_in_api_shapes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The JSON APIs answer every error in their documented shape, the framework's own
/// refusals included (a body too large, a wrong method, a timeout).
async fn errors_in_api_shapes(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let path = request.uri().path();
    let api = if path.starts_with("/admin/api/") {
        Some(true)
    } else if path.starts_with("/push/") {
        Some(false)
    } else {
        None
    };
    let response = next.run(request).await;
    match api {
        Some(true) => crate::admin_api::in_api_shape(response).await,
        Some(false) => crate::push::api::in_protocol_shape(response).await,
        None => response,
    }
}

/// The routes of the metrics address (`metrics.listen`): for the internal network only.
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::endpoint))
        .route("/healthz", get(|| async { "ok" }))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state)
}

/// Ready when the database answers within a second: a probe with a short timeout sees
/// 503 during an outage, not its own timeout (the pool would wait 5 s for a connection).
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> (StatusCode, &'static str) {
    match tokio::time::timeout(Duration::from_secs(1), state.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready"),
        _ => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable"),
    }
}

/// A running server: its address and the task serving it.
pub struct RunningServer {
    pub address: SocketAddr,
    /// Where `/metrics` is served, when `metrics.listen` is set.
    pub metrics_address: Option<SocketAddr>,
    pub state: AppState,
    pub task: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Binds `config.listen` and serves in the background.
pub async fn spawn(state: AppState) -> Result<RunningServer, StartError> {
    let listen = state.config.listen.clone();
    let listener =
        TcpListener::bind(&listen).await.map_err(|source| StartError::Listen { address: listen.clone(), source })?;
    spawn_on(listener, state)
}

/// Serves on a listener the caller bound (tests bind port 0 to learn the issuer first).
pub fn spawn_on(listener: TcpListener, state: AppState) -> Result<RunningServer, StartError> {
    let address =
        listener.local_addr().map_err(|source| StartError::Listen { address: state.config.listen.clone(), source })?;
    let limits = state.config.server.clone();
    let metrics_address = spawn_metrics(&state)?;
    let app = router(state.clone());
    let task = tokio::spawn(crate::http_server::serve(listener, app, limits, shutdown_signal()));
    Ok(RunningServer { address, metrics_address, state, task })
}

/// Serves `/metrics` on its own address when the operator gave one.
fn spawn_metrics(state: &AppState) -> Result<Option<SocketAddr>, StartError> {
    let listen = state.config.metrics.listen.clone();
    if listen.is_empty() {
        return Ok(None);
    }
    let failed = |source| StartError::Listen { address: listen.clone(), source };
    let listener = std::net::TcpListener::bind(&listen).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    let address = listener.local_addr().map_err(failed)?;
    let listener = TcpListener::from_std(listener).map_err(failed)?;
    let limits = state.config.server.clone();
    tokio::spawn(crate::http_server::serve(listener, metrics_router(state.clone()), limits, shutdown_signal()));
    Ok(Some(address))
}

/// Opens everything with the system clock and serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config) -> Result<(), anyhow::Error> {
    let state = open_state(config, Arc::new(SystemClock)).await?;
    // Only a serving node registers the console's client: its redirect URI follows this
    // node's issuer, which a CLI run with another configuration must not overwrite.
    ensure_builtin_clients(&state).await?;
    let demo = seed_demo_if_wanted(&state).await?;
    let server = spawn(state).await?;
    let _janitor = crate::janitor::spawn(server.state.clone());
    tracing::info!(address = %server.address, issuer = server.state.config.issuer(), "Sésame is listening");
    if demo {
        crate::demo::print_instructions(&server.state);
    } else {
        println!("Sésame is listening on http://{} (issuer {})", server.address, server.state.config.issuer());
    }
    server.task.await??;
    Ok(())
}

/// Seeds the demo office when configured to (one node at a time); whether it did.
async fn seed_demo_if_wanted(state: &AppState) -> Result<bool, StartError> {
    let failed = |e: &dyn std::fmt::Display| StartError::Demo(e.to_string());
    let lock = storage::StartLock::take(&state.db).await.map_err(|e| failed(&e))?;
    let seeded = async {
        let demo = crate::demo::should_seed(state).await.map_err(|e| failed(&e))?;
        if demo {
            crate::demo::seed(state).await.map_err(|e| failed(&e))?;
        }
        Ok(demo)
    }
    .await;
    lock.release().await.map_err(|e| failed(&e))?;
    seeded
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        if let Ok(mut signal) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            signal.recv().await;
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
}

/// Registers the clients of Sésame's own pages (the console, the account page) for this
/// issuer; run at every start.
pub async fn ensure_builtin_clients(state: &AppState) -> Result<(), StartError> {
    let failed = |e: &dyn std::fmt::Display| StartError::Console(e.to_string());
    let lock = storage::StartLock::take(&state.db).await.map_err(|e| failed(&e))?;
    let registered = async {
        crate::console::ensure_client(state).await.map_err(|e| failed(&e))?;
        crate::web::account::ensure_client(state).await.map_err(|e| failed(&e))
    }
    .await;
    lock.release().await.map_err(|e| failed(&e))?;
    registered
}
