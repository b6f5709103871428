//! Cryptography in one place: randomness, hashes, secret encryption at rest, password
//! hashing, and the JSON Web Signature keys that sign tokens.

pub mod jws;
pub mod keys;
pub mod password;
pub mod secretbox;
pub mod verified;

use aws_lc_rs::{digest, hmac};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use subtle::ConstantTimeEq;

/// `n` bytes from the operating system's random generator.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // aws-lc's generator only fails if the OS cannot provide entropy, which no
    // server can recover from.
    #[allow(clippy::expect_used)]
    aws_lc_rs::rand::fill(&mut bytes).expect("the operating system random generator failed");
    bytes
}

/// A random token of 256 bits, URL-safe: session cookies, codes, transaction ids.
pub fn random_token() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A random identifier of 128 bits, URL-safe (public ids such as `sid` or `jti`).
pub fn random_id() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<16>())
}

/// SHA-256 of a bearer secret, base64url: what is stored instead of the secret itself.
pub fn token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// Keyed hash (HMAC-SHA256), base64url.
pub fn keyed_hash(key: &[u8], purpose: &str, value: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    let mut context = hmac::Context::with_key(&key);
    context.update(purpose.as_bytes());
    context.update(&[0]);
    context.update(value);
    URL_SAFE_NO_PAD.encode(context.sign())
}

/// `value.mac`: a value the server gave out and will recognise, unchanged, when the
/// client brings it back (cookies). `value` must not contain '.'.
pub fn sign(key: &[u8], purpose: &str, value: &str) -> String {
    format!("{value}.{}", keyed_hash(key, purpose, value.as_bytes()))
}

/// The value of a `sign`ed string, if its MAC is right.
pub fn open_signed<'a>(key: &[u8], purpose: &str, signed: &'a str) -> Option<&'a str> {
    let (value, mac) = signed.rsplit_once('.')?;
    constant_time_eq(keyed_hash(key, purpose, value.as_bytes()).as_bytes(), mac.as_bytes()).then_some(value)
}

/// Compares two secrets without leaking where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Left half of the hash of `value`, base64url: `at_hash` and `c_hash` (OIDC Core 3.1.3.6).
pub fn half_hash(alg: jws::SigningAlg, value: &str) -> String {
    let algorithm = match alg {
        jws::SigningAlg::EdDsa => &digest::SHA512,
        _ => &digest::SHA256,
    };
    let hash = digest::digest(algorithm, value.as_bytes());
    let bytes = hash.as_ref();
    URL_SAFE_NO_PAD.encode(&bytes[..bytes.len() / 2])
}

/// base64url of the SHA-256 of the verifier: the PKCE S256 transformation (RFC 7636 4.2).
pub fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    /// `.cargo/config.toml` builds aws-lc without its CPU jitter entropy source: random
    /// numbers are seeded by the operating system, and a process starts without the
    /// ~90 ms that gathering jitter took (fails when the setting is lost).
    #[test]
    fn random_numbers_are_seeded_by_the_operating_system_alone() {
        assert_ne!(random_bytes::<32>(), [0u8; 32]);
        assert!(aws_lc_rs::try_fips_cpu_jitter_entropy().is_err(), "aws-lc was built with CPU jitter entropy");
    }

    #[test]
    fn tokens_are_distinct_and_long() {
        let a = random_token();
        assert_eq!(a.len(), 43);
        assert_ne!(a, random_token());
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
