//! Clients' key sets fetched from their `jwks_uri` (see `client_assertion`), per node.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Default)]
pub struct JwksCache {
    /// What was last fetched for each client, by client id.
    pub(super) sets: Mutex<HashMap<String, Fetched>>,
    /// One lock per client around its fetch: of many requests that miss at once, one
    /// fetches and the others then read what it found.
    pub(super) fetching: Mutex<HashMap<String, Arc<Mutex<()>>>>,
}

#[derive(Clone)]
pub(super) struct Fetched {
    /// The last key set fetched, and when; none if every fetch failed.
    pub keys: Option<(Value, i64)>,
    /// When a fetch was last tried, successful or not: a failing `jwks_uri` is not
    /// fetched again before the refetch delay, however many assertions name it.
    pub tried: i64,
}
