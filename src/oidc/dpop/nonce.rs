//! Server nonces for DPoP (RFC 9449 8, 9): a value the client must put in its next
//! proofs, so that a proof cannot be made in advance. Every node must accept the
//! nonces of every other without sharing anything but the master key: a nonce is the
//! number of a time slot (`dpop.nonce_lifetime` seconds) with its MAC under a key
//! derived from the master key. The current slot's and the previous one's are valid.

use crate::state::AppState;

const PURPOSE: &str = "dpop-nonce";

fn key(state: &AppState) -> [u8; 32] {
    state.secrets.derive_key(PURPOSE)
}

fn slot(state: &AppState, now: i64) -> i64 {
    now.div_euclid(state.config.dpop.nonce_lifetime)
}

/// The nonce of the current slot.
pub fn current(state: &AppState) -> String {
    let now = state.clock.now();
    crate::crypto::sign(&key(state), PURPOSE, &slot(state, now).to_string())
}

/// Whether `nonce` is this server's, of the current slot or the one before.
pub fn is_valid(state: &AppState, nonce: &str, now: i64) -> bool {
    let Some(value) = crate::crypto::open_signed(&key(state), PURPOSE, nonce) else { return false };
    let current = slot(state, now);
    value.parse::<i64>().is_ok_and(|given| given == current || given == current - 1)
}
