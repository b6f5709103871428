//! Password hashing with Argon2id, its cost taken from configuration.

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash},
};

use crate::config::PasswordConfig;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Params(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("not a valid PHC password hash string")]
    BadHash,
}

/// The most common passwords, refused for new passwords (NIST SP 800-63B 5.1.1.2).
const COMMON_PASSWORDS: &str = include_str!("common_passwords.txt");

#[derive(Clone)]
pub struct PasswordHasherService {
    min_length: usize,
    params: Params,
    /// A hash verified when the account does not exist, so that the response time
    /// does not tell whether an identifier exists.
    dummy_hash: String,
}

impl PasswordHasherService {
    pub fn new(config: &PasswordConfig) -> Result<Self, PasswordError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| PasswordError::Params(e.to_string()))?;
        let mut service = Self { min_length: config.min_length, params, dummy_hash: String::new() };
        service.dummy_hash = service.hash(&super::random_token())?;
        Ok(service)
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    /// A PHC string (`$argon2id$v=19$m=…`) with a fresh random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Why a new password for `username` is refused, if it is: too short, containing the
    /// identifier, or one of the most common passwords.
    pub fn policy_violation(&self, username: &str, password: &str) -> Option<(&'static str, String)> {
        let lowered = password.to_lowercase();
        if password.chars().count() < self.min_length {
            return Some(("password_too_short", format!("a password has at least {} characters", self.min_length)));
        }
        if !username.is_empty() && lowered.contains(&username.to_lowercase()) {
            return Some(("password_contains_identifier", "a password must not contain the identifier".into()));
        }
        let core = lowered.trim_end_matches(|c: char| c.is_ascii_digit() || c == '!');
        if COMMON_PASSWORDS.lines().any(|common| common == lowered || (!core.is_empty() && common == core)) {
            return Some(("password_common", "this password is among the most common ones; choose another".into()));
        }
        None
    }

    /// Verifies a password against a stored PHC string; a malformed hash never matches.
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self.argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        }
    }

    /// Spends the time of one verification, for identifiers that do not exist.
    pub fn verify_dummy(&self, password: &str) {
        let _ = self.verify(password, &self.dummy_hash);
    }

    /// Checks that an operator-provided hash is a PHC string we can verify.
    pub fn check_phc(phc: &str) -> Result<(), PasswordError> {
        PasswordHash::new(phc).map(|_| ()).map_err(|_| PasswordError::BadHash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> PasswordHasherService {
        PasswordHasherService::new(&PasswordConfig {
            min_length: 10,
            argon2_memory_kib: 1024,
            argon2_iterations: 1,
            argon2_parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn policy_refuses_short_personal_and_common_passwords() {
        let service = fast();
        assert!(service.policy_violation("pauline", "short").is_some());
        assert!(service.policy_violation("pauline", "Pauline2026!").is_some(), "contains the identifier");
        assert!(service.policy_violation("pauline", "motdepasse123").is_some(), "common");
        assert!(service.policy_violation("pauline", "Azertyuiop1234").is_some(), "common with digits");
        assert!(service.policy_violation("pauline", "correct horse battery").is_none());
    }

    #[test]
    fn hash_then_verify() {
        let service = fast();
        let hash = service.hash("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(service.verify("correct horse", &hash));
        assert!(!service.verify("wrong horse", &hash));
        assert!(!service.verify("correct horse", "not a hash"));
    }
}
