//! Secrets at rest (private signing keys, later TOTP secrets): XChaCha20-Poly1305 under a
//! master key from configuration, with the record id and purpose as associated data so
//! that a ciphertext cannot be moved to another record.
//!
//! Stored form: `v1.<key id>.<base64url(nonce || ciphertext)>`; the key id lets the master
//! key rotate later.

use std::path::Path;

use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use zeroize::Zeroizing;

#[derive(Debug, thiserror::Error)]
pub enum SecretBoxError {
    #[error("the master key must be base64 of exactly 32 bytes")]
    BadKey,
    #[error("cannot read or create the master key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("this secret was encrypted under master key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("a stored secret is malformed or was tampered with")]
    Corrupt,
}

#[derive(Clone)]
pub struct SecretBox {
    key: Zeroizing<[u8; 32]>,
    key_id: String,
}

impl SecretBox {
    pub fn from_base64(encoded: &str) -> Result<Self, SecretBoxError> {
        let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| SecretBoxError::BadKey)?);
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| SecretBoxError::BadKey)?;
        Ok(Self::from_bytes(key))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let key_id = super::keyed_hash(&key, "master-key-id", b"")[..8].to_string();
        Self { key: Zeroizing::new(key), key_id }
    }

    /// Reads the master key from `path`, which must exist.
    pub fn from_file(path: &Path) -> Result<Self, SecretBoxError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|source| SecretBoxError::KeyFile { path: path.display().to_string(), source })?,
        );
        Self::from_base64(&text)
    }

    /// Reads the master key from `path`, creating it (mode 0600) on first start.
    pub fn from_file_or_create(path: &Path) -> Result<Self, SecretBoxError> {
        let io = |source| SecretBoxError::KeyFile { path: path.display().to_string(), source };
        if path.exists() {
            let text = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
            return Self::from_base64(&text);
        }
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let key = super::random_bytes::<32>();
        write_private_file(path, STANDARD.encode(key).as_bytes()).map_err(io)?;
        Ok(Self::from_bytes(key))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// A key derived from the master key for one purpose (CSRF tokens, client secret hashes).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let derived = super::keyed_hash(self.key.as_slice(), purpose, b"derive");
        let mut out = [0u8; 32];
        if let Ok(bytes) = URL_SAFE_NO_PAD.decode(derived) {
            out.copy_from_slice(&bytes[..32]);
        }
        out
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.key));
        let nonce_bytes = super::random_bytes::<24>();
        let nonce = XNonce::from(nonce_bytes);
        // Encryption with a valid key and nonce cannot fail for in-memory buffers.
        let ciphertext = cipher.encrypt(&nonce, Payload { msg: plaintext, aad: aad.as_bytes() }).unwrap_or_default();
        let mut blob = nonce_bytes.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("v1.{}.{}", self.key_id, URL_SAFE_NO_PAD.encode(blob))
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Zeroizing<Vec<u8>>, SecretBoxError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some("v1"), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretBoxError::Corrupt);
        };
        if key_id != self.key_id {
            return Err(SecretBoxError::UnknownKey(key_id.to_string()));
        }
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretBoxError::Corrupt)?;
        if blob.len() < 24 + 16 {
            return Err(SecretBoxError::Corrupt);
        }
        let (nonce, ciphertext) = blob.split_at(24);
        let nonce: [u8; 24] = nonce.try_into().map_err(|_| SecretBoxError::Corrupt)?;
        let cipher = XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.key));
        cipher
            .decrypt(&XNonce::from(nonce), Payload { msg: ciphertext, aad: aad.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SecretBoxError::Corrupt)
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_open_round_trip() {
        let sb = SecretBox::from_bytes([7; 32]);
        let sealed = sb.seal(b"secret", "key:1");
        assert_eq!(sb.open(&sealed, "key:1").unwrap().as_slice(), b"secret");
    }

    #[test]
    fn other_record_or_tampering_is_refused() {
        let sb = SecretBox::from_bytes([7; 32]);
        let sealed = sb.seal(b"secret", "key:1");
        assert!(sb.open(&sealed, "key:2").is_err());
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('A');
        assert!(sb.open(&tampered, "key:1").is_err() || tampered == sealed);
        assert!(SecretBox::from_bytes([8; 32]).open(&sealed, "key:1").is_err());
    }
}
