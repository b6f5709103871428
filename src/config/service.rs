//! The sections about running the service: the theme, the HTTP server's limits, the
//! metrics and the janitor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThemeConfig {
    /// Name of the theme folder under `dir`.
    pub name: String,
    /// Folder holding theme folders; files missing there come from the built-in theme.
    pub dir: PathBuf,
}

impl Default for ThemeConfig {
    fn default() -> Self {
        Self { name: "default".into(), dir: PathBuf::from("themes") }
    }
}

/// The HTTP server's limits against slow or piled-up connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Seconds a client has to send a request's headers; an idle kept-alive connection
    /// is closed after this too (slow-loris).
    pub header_read_timeout: u64,
    /// Seconds a request may take in all, body included (a push long-poll waits at most
    /// `push.max_wait`, which must be shorter).
    pub request_timeout: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { header_read_timeout: 10, request_timeout: 60, max_connections: 4096 }
    }
}

/// Where the Prometheus metrics are served: nowhere unless the operator says.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// An address:port of its own for `/metrics` (e.g. 127.0.0.1:9464, or an internal
    /// interface); empty: none.
    pub listen: String,
    /// A bearer token with which `/metrics` is served on the main address too
    /// (`Authorization: Bearer …`); empty: not served there.
    pub bearer_token: String,
}

/// Each node's in-memory caches of revocations and accounts (see `change_feed`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Milliseconds between two reads of the change feed; 0 turns the caches off.
    pub sync_interval_ms: u64,
    /// A node that could not read the feed this long reads the database instead.
    pub max_staleness_ms: u64,
    /// Accounts whose claims view a node keeps; past it, the views are dropped.
    pub max_accounts: usize,
}

impl CacheConfig {
    pub fn enabled(&self) -> bool {
        self.sync_interval_ms > 0
    }
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { sync_interval_ms: 200, max_staleness_ms: 2_000, max_accounts: 100_000 }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JanitorConfig {
    /// Seconds between two sweeps of expired rows; 0 turns the janitor off on this node.
    pub interval: u64,
    /// Days audit events are kept.
    pub audit_retention_days: i64,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        Self { interval: 300, audit_retention_days: 400 }
    }
}
