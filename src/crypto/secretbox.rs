//! Secrets at rest (private signing keys, authenticator secrets, push keys):
//! XChaCha20-Poly1305 under a master key from configuration, with the record id and
//! purpose as associated data so that a ciphertext cannot be moved to another record.
//!
//! Stored form: `v1.<key id>.<base64url(nonce || ciphertext)>`. The key id names the
//! master key that sealed it, so that the master key can rotate (`src/master_key.rs`):
//! a node configured with the new key and the previous one opens both, and seals with
//! the previous one until the database says the rotation began.
//!
//! Keys derived for one purpose (CSRF, client-secret hashes, pairwise subjects, the
//! push server key…) come from a derivation root, not from the master key itself: the
//! root stays when the master key rotates, so that nothing derived changes. Until the
//! database says otherwise (`bind`), the root is the sealing key's bytes, which is what
//! every derivation used before the root existed.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

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
    #[error("cannot read or create the master key file {path}: {}", crate::file_errors::in_words(reason))]
    KeyFile { path: String, reason: std::io::Error },
    #[error(
        "the database holds data but the master key file {0} is missing: restore it from where you keep it (a new \
         key would open nothing stored), or set `master_key_file`"
    )]
    Missing(String),
    #[error("this secret was encrypted under master key `{0}`, which is not configured")]
    UnknownKey(String),
    #[error("a stored secret is malformed or was tampered with")]
    Corrupt,
}

/// One master key and its public id (the first 8 characters of a keyed hash).
struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
    id: String,
}

impl MasterKey {
    fn new(bytes: [u8; 32]) -> Self {
        let id = super::keyed_hash(&bytes, "master-key-id", b"")[..8].to_string();
        Self { bytes: Zeroizing::new(bytes), id }
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&chacha20poly1305::Key::from(*self.bytes))
    }
}

struct Keyring {
    current: MasterKey,
    /// The key being rotated away from, while `previous_master_key` is configured.
    previous: Option<MasterKey>,
    /// Seal with `previous` (the rotation has not begun: other nodes may not have the
    /// current key yet).
    seal_with_previous: AtomicBool,
    root: RwLock<Zeroizing<[u8; 32]>>,
    /// Whether this node holds the key the database seals with (`master_key::spawn_watch`).
    usable: AtomicBool,
}

/// The master key (and, during a rotation, the previous one): seals and opens secrets
/// at rest, derives keys for one purpose. Clones share their state, so that a node
/// switching to the new key does so everywhere at once.
#[derive(Clone)]
pub struct SecretBox {
    ring: Arc<Keyring>,
}

/// Associated data of the derivation root's sealed copy in the database.
pub const ROOT_AAD: &str = "master-key-state:derivation-root";

impl SecretBox {
    pub fn from_base64(encoded: &str) -> Result<Self, SecretBoxError> {
        Ok(Self::from_bytes(decode_key(encoded)?))
    }

    pub fn from_bytes(key: [u8; 32]) -> Self {
        let root = RwLock::new(Zeroizing::new(key));
        let ring = Keyring {
            current: MasterKey::new(key),
            previous: None,
            seal_with_previous: false.into(),
            root,
            usable: true.into(),
        };
        Self { ring: Arc::new(ring) }
    }

    /// Reads the master key from `path`, which must exist.
    pub fn from_file(path: &Path) -> Result<Self, SecretBoxError> {
        Ok(Self::from_bytes(read_key_file(path)?))
    }

    /// Reads the master key from `path`, creating it (mode 0600) on first start.
    pub fn from_file_or_create(path: &Path) -> Result<Self, SecretBoxError> {
        if path.exists() {
            return Self::from_file(path);
        }
        let key = super::random_bytes::<32>();
        write_key_file(path, &key)?;
        Ok(Self::from_bytes(key))
    }

    /// The same current key, with `previous` (another box's current key) opened too
    /// and used to seal until [`SecretBox::seal_with_current`].
    pub fn with_previous(self, previous: &SecretBox) -> Self {
        let previous = MasterKey::new(*previous.ring.current.bytes);
        if previous.id == self.ring.current.id {
            return self;
        }
        let root = RwLock::new(Zeroizing::new(*previous.bytes));
        let current = MasterKey::new(*self.ring.current.bytes);
        let ring =
            Keyring { current, previous: Some(previous), seal_with_previous: true.into(), root, usable: true.into() };
        Self { ring: Arc::new(ring) }
    }

    /// The id of the configured (current) master key.
    pub fn key_id(&self) -> &str {
        &self.ring.current.id
    }

    /// The id of the previous master key, when one is configured.
    pub fn previous_key_id(&self) -> Option<&str> {
        self.ring.previous.as_ref().map(|key| key.id.as_str())
    }

    /// The id of the key that new secrets are sealed with.
    pub fn sealing_key_id(&self) -> &str {
        &self.sealing_key().id
    }

    /// Whether this box holds the key with this id.
    pub fn holds(&self, key_id: &str) -> bool {
        self.key(key_id).is_some()
    }

    /// From now on, seal with the current key (the rotation began).
    pub fn seal_with_current(&self) {
        self.ring.seal_with_previous.store(false, Ordering::SeqCst);
    }

    /// Whether this node holds the key the database seals new secrets with.
    pub fn usable(&self) -> bool {
        self.ring.usable.load(Ordering::SeqCst)
    }

    /// Records whether this node holds the sealing key; whether that changed.
    pub fn set_usable(&self, usable: bool) -> bool {
        self.ring.usable.swap(usable, Ordering::SeqCst) != usable
    }

    /// A key derived from the derivation root for one purpose (CSRF tokens, client
    /// secret hashes).
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        let root = self.ring.root.read().unwrap_or_else(|p| p.into_inner());
        let derived = super::keyed_hash(root.as_slice(), purpose, b"derive");
        let mut out = [0u8; 32];
        if let Ok(bytes) = URL_SAFE_NO_PAD.decode(derived) {
            out.copy_from_slice(&bytes[..32]);
        }
        out
    }

    /// The derivation root, sealed (stored by `master_key::bind` and re-sealed by the
    /// rotation like any other secret).
    pub fn sealed_root(&self) -> String {
        let root = *self.ring.root.read().unwrap_or_else(|p| p.into_inner()).clone();
        self.seal(&root, ROOT_AAD)
    }

    /// Adopts the derivation root the database holds, sealed.
    pub fn adopt_root(&self, sealed: &str) -> Result<(), SecretBoxError> {
        let opened = self.open(sealed, ROOT_AAD)?;
        let root: [u8; 32] = opened.as_slice().try_into().map_err(|_| SecretBoxError::Corrupt)?;
        *self.ring.root.write().unwrap_or_else(|p| p.into_inner()) = Zeroizing::new(root);
        Ok(())
    }

    /// Makes a new random derivation root (a database that holds nothing derived yet).
    pub fn new_root(&self) {
        *self.ring.root.write().unwrap_or_else(|p| p.into_inner()) = Zeroizing::new(super::random_bytes::<32>());
    }

    pub fn seal(&self, plaintext: &[u8], aad: &str) -> String {
        seal_under(self.sealing_key(), plaintext, aad)
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<Zeroizing<Vec<u8>>, SecretBoxError> {
        let (key_id, nonce, ciphertext) = split(sealed)?;
        let key = self.key(key_id).ok_or_else(|| SecretBoxError::UnknownKey(key_id.to_string()))?;
        key.cipher()
            .decrypt(&XNonce::from(nonce), Payload { msg: &ciphertext, aad: aad.as_bytes() })
            .map(Zeroizing::new)
            .map_err(|_| SecretBoxError::Corrupt)
    }

    /// `sealed` sealed again under the current key; `None` when it already is.
    pub fn reseal(&self, sealed: &str, aad: &str) -> Result<Option<String>, SecretBoxError> {
        if sealed_key_id(sealed) == Some(self.key_id()) {
            return Ok(None);
        }
        let plaintext = self.open(sealed, aad)?;
        Ok(Some(seal_under(&self.ring.current, &plaintext, aad)))
    }

    fn sealing_key(&self) -> &MasterKey {
        match &self.ring.previous {
            Some(previous) if self.ring.seal_with_previous.load(Ordering::SeqCst) => previous,
            _ => &self.ring.current,
        }
    }

    fn key(&self, key_id: &str) -> Option<&MasterKey> {
        std::iter::once(&self.ring.current).chain(&self.ring.previous).find(|key| key.id == key_id)
    }
}

/// The id of the master key that sealed `sealed`.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    split_header(sealed).map(|(key_id, _)| key_id)
}

/// The prefix of every value sealed under the key `key_id` (for `LIKE` queries).
pub fn sealed_prefix(key_id: &str) -> String {
    format!("v1.{key_id}.")
}

fn seal_under(key: &MasterKey, plaintext: &[u8], aad: &str) -> String {
    let nonce_bytes = super::random_bytes::<24>();
    let nonce = XNonce::from(nonce_bytes);
    // Encryption with a valid key and nonce cannot fail for in-memory buffers.
    let ciphertext = key.cipher().encrypt(&nonce, Payload { msg: plaintext, aad: aad.as_bytes() }).unwrap_or_default();
    let mut blob = nonce_bytes.to_vec();
    blob.extend_from_slice(&ciphertext);
    format!("{}{}", sealed_prefix(&key.id), URL_SAFE_NO_PAD.encode(blob))
}

fn split_header(sealed: &str) -> Option<(&str, &str)> {
    let mut parts = sealed.splitn(3, '.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("v1"), Some(key_id), Some(body)) => Some((key_id, body)),
        _ => None,
    }
}

fn split(sealed: &str) -> Result<(&str, [u8; 24], Vec<u8>), SecretBoxError> {
    let (key_id, body) = split_header(sealed).ok_or(SecretBoxError::Corrupt)?;
    let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretBoxError::Corrupt)?;
    if blob.len() < 24 + 16 {
        return Err(SecretBoxError::Corrupt);
    }
    let (nonce, ciphertext) = blob.split_at(24);
    let nonce: [u8; 24] = nonce.try_into().map_err(|_| SecretBoxError::Corrupt)?;
    Ok((key_id, nonce, ciphertext.to_vec()))
}

fn decode_key(encoded: &str) -> Result<[u8; 32], SecretBoxError> {
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| SecretBoxError::BadKey)?);
    bytes.as_slice().try_into().map_err(|_| SecretBoxError::BadKey)
}

fn read_key_file(path: &Path) -> Result<[u8; 32], SecretBoxError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|reason| SecretBoxError::KeyFile { path: path.display().to_string(), reason })?,
    );
    decode_key(&text)
}

/// Writes `key` (base64) into a new file of mode 0600, creating its folder; never over
/// an existing file.
pub fn write_key_file(path: &Path, key: &[u8; 32]) -> Result<(), SecretBoxError> {
    let io = |reason| SecretBoxError::KeyFile { path: path.display().to_string(), reason };
    if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    write_private_file(path, format!("{}\n", STANDARD.encode(key)).as_bytes()).map_err(io)
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

    #[test]
    fn during_a_rotation_both_keys_open_and_the_previous_seals_until_told() {
        let old = SecretBox::from_bytes([7; 32]);
        let new = SecretBox::from_bytes([8; 32]);
        let before = old.seal(b"secret", "key:1");
        let both = new.clone().with_previous(&old);
        assert_eq!(both.sealing_key_id(), old.key_id(), "seals with the key every node has");
        let staged = both.seal(b"staged", "key:2");
        assert!(old.open(&staged, "key:2").is_ok(), "a node not yet given the new key opens it");
        both.seal_with_current();
        let after = both.seal(b"after", "key:3");
        assert_eq!(sealed_key_id(&after), Some(new.key_id()));
        assert_eq!(both.open(&before, "key:1").unwrap().as_slice(), b"secret");
        assert_eq!(both.open(&after, "key:3").unwrap().as_slice(), b"after");
        assert!(matches!(old.open(&after, "key:3"), Err(SecretBoxError::UnknownKey(_))));
        let resealed = both.reseal(&before, "key:1").unwrap().expect("sealed again");
        assert_eq!(new.open(&resealed, "key:1").unwrap().as_slice(), b"secret");
        assert!(both.reseal(&resealed, "key:1").unwrap().is_none(), "already under the current key");
        assert!(both.reseal(&before, "key:2").is_err(), "the associated data still binds it");
    }

    #[test]
    fn derived_keys_do_not_change_with_the_master_key() {
        let old = SecretBox::from_bytes([7; 32]);
        let new = SecretBox::from_bytes([8; 32]);
        let both = new.clone().with_previous(&old);
        assert_eq!(both.derive_key("csrf"), old.derive_key("csrf"));
        let sealed_root = both.sealed_root();
        both.seal_with_current();
        let resealed = both.reseal(&sealed_root, ROOT_AAD).unwrap().unwrap();
        new.adopt_root(&resealed).unwrap();
        assert_eq!(new.derive_key("csrf"), old.derive_key("csrf"), "the root follows the rotation");
        assert_ne!(new.derive_key("csrf"), new.derive_key("client-secret"));
    }
}
