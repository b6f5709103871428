//! Client secrets: hashed with a key (or, imported from elsewhere, Argon2), and made.

use crate::crypto::{self, password::PasswordHasherService};

/// Client secrets are long random values: a keyed hash is as safe as a password hash
/// for them and costs microseconds instead of tens of milliseconds per token request.
/// Operator-provided hashes may also be Argon2 PHC strings.
pub struct SecretHasher {
    key: [u8; 32],
}

impl SecretHasher {
    pub(super) const PREFIX: &'static str = "hmac-sha256$";

    pub fn new(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn hash(&self, secret: &str) -> String {
        format!("{}{}", Self::PREFIX, crypto::keyed_hash(&self.key, "client-secret", secret.as_bytes()))
    }

    /// Checks a presented secret; an Argon2 hash (a `secret_hash` imported from
    /// elsewhere) goes through the bounded password-checking threads.
    pub async fn verify(
        &self,
        secret: &str,
        stored: &str,
        passwords: &PasswordHasherService,
    ) -> Result<bool, crate::crypto::password::Busy> {
        if stored.starts_with(Self::PREFIX) {
            Ok(crypto::constant_time_eq(self.hash(secret).as_bytes(), stored.as_bytes()))
        } else {
            passwords.verify(secret, stored).await
        }
    }
}

/// A fresh client secret: 256 random bits.
pub fn generate_secret() -> String {
    crypto::random_token()
}
