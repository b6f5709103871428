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

impl JwksCache {
    /// Forgets key sets older than `ttl` and fetch locks nobody holds, so that clients
    /// that come and go (dynamic registration) do not grow the cache without end.
    pub(super) async fn sweep(&self, now: i64, ttl: i64) {
        self.sets.lock().await.retain(|_, fetched| {
            let newest = fetched.keys.as_ref().map_or(fetched.tried, |(_, at)| *at).max(fetched.tried);
            now - newest < ttl
        });
        // A lock held by a request has another reference than the map's.
        self.fetching.lock().await.retain(|_, lock| Arc::strong_count(lock) > 1);
    }
}
