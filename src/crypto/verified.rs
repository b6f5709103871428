//! Tokens whose signature this node already checked, by the SHA-256 of the token, with
//! what the check proved: a resource server introspects the same token again and again,
//! and checking an ES256 signature costs more than the rest of the call. Only what a
//! signature proves is kept (expiry and revocation are checked at every use), for at most
//! `CAPACITY` tokens: past it, the node starts over. The claims' type belongs to the
//! caller (`oidc::token::jwt`), so this module stays below the state that holds it.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

type Entry = Arc<dyn Any + Send + Sync>;

#[derive(Default)]
pub struct VerifiedTokens {
    entries: RwLock<HashMap<[u8; 32], Entry>>,
}

impl VerifiedTokens {
    const CAPACITY: usize = 50_000;

    pub fn key(token: &str) -> [u8; 32] {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    pub fn get<T: Any + Send + Sync>(&self, key: &[u8; 32]) -> Option<Arc<T>> {
        let entry = self.entries.read().unwrap_or_else(|p| p.into_inner()).get(key).cloned()?;
        entry.downcast::<T>().ok()
    }

    pub fn keep<T: Any + Send + Sync>(&self, key: [u8; 32], value: Arc<T>) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// Forgets every token: signing keys were removed.
    pub fn clear(&self) {
        self.entries.write().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
