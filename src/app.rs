//! Assembling Sésame: the shared state, the router, and starting a server. The library
//! entry points (`Sesame::open`, `Sesame::router`, `serve`) are what the binary and the
//! integration tests use, and what another axum application mounts.

use std::net::SocketAddr;
use std::path::PathBuf;
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

use crate::clock::SystemClock;
use crate::config::Config;
use crate::storage;

pub use crate::master_key::load as master_key;
pub use crate::state::{AppState, Limits, StartError, open_state};

/// Every route of Sésame, ready to serve or to nest in another router.
pub fn router(state: AppState) -> Router {
    let request_timeout = Duration::from_secs(state.config.server.request_timeout);
    let base = state.config.base_path();
    let router = Router::new()
        .merge(crate::oidc::routes())
        .merge(crate::web::routes())
        .merge(crate::admin_api::routes())
        .merge(crate::console::routes())
        .merge(crate::second_factor::push::api::routes())
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
        .with_state(state);
    // At the root (the usual case) redirects need no rewriting: no layer, no cost.
    if base.is_empty() {
        router
    } else {
        router.layer(axum::middleware::map_response(move |response| redirects_under(base.clone(), response)))
    }
}

/// Handlers redirect within Sésame by absolute paths (`/login?tx=…`); under an issuer
/// with a path (`https://office.example/sso`), mounted in another application or behind
/// a proxy that strips it, those paths are the issuer's: `/sso/login?tx=…`.
async fn redirects_under(base: String, mut response: axum::response::Response) -> axum::response::Response {
    let within = response
        .headers()
        .get(header::LOCATION)
        .and_then(|location| location.to_str().ok())
        .filter(|location| location.starts_with('/') && !location.starts_with("//"))
        .and_then(|location| HeaderValue::from_str(&format!("{base}{location}")).ok());
    if let Some(location) = within {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
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
        Some(false) => crate::second_factor::push::api::in_protocol_shape(response).await,
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
    if !state.secrets.usable() {
        return (StatusCode::SERVICE_UNAVAILABLE, "this node lacks the master key the database seals with");
    }
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
    let listener = bind(&state.config.listen).await?;
    spawn_on(listener, state)
}

/// Takes the port, before anything is opened or written: a port already in use stops
/// the start before the database or the demo data are touched.
async fn bind(listen: &str) -> Result<TcpListener, StartError> {
    TcpListener::bind(listen).await.map_err(|reason| StartError::Listen { address: listen.to_string(), reason })
}

/// Serves on a listener the caller bound (tests bind port 0 to learn the issuer first).
pub fn spawn_on(listener: TcpListener, state: AppState) -> Result<RunningServer, StartError> {
    let address =
        listener.local_addr().map_err(|reason| StartError::Listen { address: state.config.listen.clone(), reason })?;
    let limits = state.config.server.clone();
    let metrics_address = spawn_metrics(&state)?;
    state.caches.spawn_sync(state.db.clone());
    crate::master_key::spawn_watch(state.db.clone(), state.secrets.clone());
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
    let failed = |reason| StartError::Listen { address: listen.clone(), reason };
    let listener = std::net::TcpListener::bind(&listen).map_err(failed)?;
    listener.set_nonblocking(true).map_err(failed)?;
    let address = listener.local_addr().map_err(failed)?;
    let listener = TcpListener::from_std(listener).map_err(failed)?;
    let limits = state.config.server.clone();
    tokio::spawn(crate::http_server::serve(listener, metrics_router(state.clone()), limits, shutdown_signal()));
    Ok(Some(address))
}

/// Opens everything with the system clock and serves until Ctrl-C or SIGTERM.
pub async fn serve(config: Config, imports: &[PathBuf]) -> Result<(), anyhow::Error> {
    for finding in crate::preflight::of_config(&config) {
        tracing::warn!(remedy = finding.remedy, "{}", finding.problem);
    }
    let listener = bind(&config.listen).await?;
    let state = open_state(config, Arc::new(SystemClock)).await?;
    // Only a serving node registers the console's client: its redirect URI follows this
    // node's issuer, which a CLI run with another configuration must not overwrite.
    ensure_builtin_clients(&state).await?;
    let demo = seed_demo_if_wanted(&state).await?;
    import_files(&state, imports).await?;
    let server = spawn_on(listener, state)?;
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

/// Imports the files given to `serve --import`, one node at a time, before listening:
/// a file that does not import stops the start with the import's own message.
async fn import_files(state: &AppState, files: &[PathBuf]) -> Result<(), anyhow::Error> {
    if files.is_empty() {
        return Ok(());
    }
    let lock = storage::StartLock::take(&state.db).await?;
    let mut result = Ok(());
    for file in files {
        match crate::import::import_file(state, file).await {
            Ok(report) => tracing::info!(file = %file.display(), "{}", report.to_string().trim_end()),
            Err(e) => {
                result = Err(e.into());
                break;
            }
        }
    }
    lock.release().await?;
    result
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

/// Registers the clients of Sésame's own pages (the console, the account page, the
/// device flow's verification page) for this
/// issuer; run at every start.
pub async fn ensure_builtin_clients(state: &AppState) -> Result<(), StartError> {
    let failed = |e: &dyn std::fmt::Display| StartError::Console(e.to_string());
    let lock = storage::StartLock::take(&state.db).await.map_err(|e| failed(&e))?;
    let registered = async {
        crate::console::ensure_client(state).await.map_err(|e| failed(&e))?;
        crate::web::account::ensure_client(state).await.map_err(|e| failed(&e))?;
        crate::web::device::ensure_client(state).await.map_err(|e| failed(&e))
    }
    .await;
    lock.release().await.map_err(|e| failed(&e))?;
    registered
}
