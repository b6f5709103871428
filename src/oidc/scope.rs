//! Which of the scopes a client asks for it may have: the standard scopes (unless the
//! client registered a narrower list) and the other scopes it registered (an
//! application's API, `sesame:admin`); the rest is left out (RFC 6749 3.3 lets the
//! server narrow). `openid` is always allowed.
//!
//! The authorization request (`authorize::validate`) and the device authorization
//! request both apply it.

use crate::clients::Client;

/// The scopes of `requested` (space-separated) that `client` may have, in order.
pub fn allowed(client: &Client, requested: &str) -> Vec<String> {
    let registered = |scope: &str| client.scopes.iter().any(|c| c == scope);
    requested
        .split_whitespace()
        .filter(|s| {
            let standard = super::SUPPORTED_SCOPES.contains(s) && (client.scopes.is_empty() || *s == "openid");
            standard || registered(s)
        })
        .map(str::to_string)
        .collect()
}
