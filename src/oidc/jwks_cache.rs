//! Clients' key sets fetched from their `jwks_uri` (see `client_assertion`), per node.

use std::collections::HashMap;

use serde_json::Value;
use tokio::sync::Mutex;

#[derive(Default)]
pub struct JwksCache {
    /// Key set and the time it was fetched, by client id.
    pub(super) sets: Mutex<HashMap<String, (Value, i64)>>,
}
