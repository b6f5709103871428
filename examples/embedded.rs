//! Sésame inside another axum application, under a path: the office's intranet serves
//! its own pages at `/` and sign-in at `/sso`, with the issuer
//! `http://127.0.0.1:8090/sso` (in production `https://office.example/sso`, behind TLS).
//!
//! ```sh
//! cargo run --example embedded
//! curl http://127.0.0.1:8090/sso/.well-known/openid-configuration
//! ```
//!
//! Everything Sésame serves follows the issuer's path: endpoints, its pages' links and
//! forms, its redirects, its scripts. The configuration is read as `serve` reads it
//! (`--config`-less here: `SESAME_*` variables and the defaults), the issuer set below.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::{Router, routing::get};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = sesame::config::Config::load(None)?;
    if std::env::var_os("SESAME_ISSUER").is_none() {
        config.issuer = "http://127.0.0.1:8090/sso".into();
    }
    let state = sesame::app::open_state(config, Arc::new(sesame::clock::SystemClock)).await?;
    // The console's client follows the issuer: registered by the application that serves.
    sesame::app::ensure_builtin_clients(&state).await?;
    let intranet = Router::new()
        .route("/", get(|| async { "The office intranet. Sign-in: /sso" }))
        .nest("/sso", sesame::app::router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
    println!("the intranet on http://127.0.0.1:8090, Sésame at http://127.0.0.1:8090/sso");
    // Sésame reads the client's address from the connection (rate limits, audit).
    axum::serve(listener, intranet.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}
