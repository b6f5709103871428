//! Message encryption for Web Push (RFC 8291) in the `aes128gcm` content coding
//! (RFC 8188): ECDH P-256 between a fresh application-server key and the browser's
//! subscription key, HKDF-SHA256 keyed with the subscription's auth secret, then one
//! AES-128-GCM record. The push service in the middle sees only ciphertext.

use aws_lc_rs::{
    aead::{self, AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey},
    agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey},
    hkdf::{self, HKDF_SHA256, KeyType, Salt},
};
use zeroize::Zeroizing;

/// An uncompressed P-256 point: 0x04 ‖ x ‖ y.
pub const PUBLIC_KEY_LEN: usize = 65;
/// The subscription's authentication secret.
pub const AUTH_SECRET_LEN: usize = 16;
const SALT_LEN: usize = 16;
const TAG_LEN: usize = 16;
/// The record size written in the header, as in RFC 8291's example: one record holds
/// the whole message.
const RECORD_SIZE: u32 = 4096;
/// salt ‖ rs ‖ idlen ‖ keyid (the server's public key).
const HEADER_LEN: usize = SALT_LEN + 4 + 1 + PUBLIC_KEY_LEN;
/// Push services must accept 4096 bytes of body (RFC 8291 section 4): what is left for
/// the plaintext once the header, the record's delimiter and its tag are counted.
pub const MAX_PLAINTEXT: usize = 4096 - HEADER_LEN - 1 - TAG_LEN;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EncryptError {
    #[error("the subscription's p256dh key is not an uncompressed P-256 point")]
    BadPublicKey,
    #[error("the subscription's auth secret is not 16 bytes")]
    BadAuthSecret,
    #[error("the message is longer than {MAX_PLAINTEXT} bytes")]
    TooLong,
    #[error("the cryptographic library failed")]
    Crypto,
}

/// Encrypts `plaintext` for the subscription whose keys are `ua_public` (p256dh) and
/// `auth_secret`: the body of the push message, header included.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth_secret: &[u8]) -> Result<Vec<u8>, EncryptError> {
    // A new key pair and salt for every message, as RFC 8291 requires.
    let as_private = PrivateKey::generate(&ECDH_P256).map_err(|_| EncryptError::Crypto)?;
    let salt = crate::crypto::random_bytes::<SALT_LEN>();
    encrypt_with(plaintext, ua_public, auth_secret, &as_private, &salt)
}

/// [`encrypt`] with the application server's key pair and the salt given, so that the
/// RFC's example can be reproduced byte for byte.
fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth_secret: &[u8],
    as_private: &PrivateKey,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, EncryptError> {
    if ua_public.len() != PUBLIC_KEY_LEN || ua_public.first() != Some(&4) {
        return Err(EncryptError::BadPublicKey);
    }
    if auth_secret.len() != AUTH_SECRET_LEN {
        return Err(EncryptError::BadAuthSecret);
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EncryptError::TooLong);
    }
    let as_public = as_private.compute_public_key().map_err(|_| EncryptError::Crypto)?;
    let ecdh_secret = agreement::agree(
        as_private,
        UnparsedPublicKey::new(&ECDH_P256, ua_public),
        EncryptError::BadPublicKey,
        |secret| Ok(Zeroizing::new(secret.to_vec())),
    )?;
    let keys = ContentKeys::derive(&ecdh_secret, auth_secret, ua_public, as_public.as_ref(), salt)?;

    // One record, the last: the plaintext, then the delimiter 0x02 (no padding).
    let mut record = Vec::with_capacity(plaintext.len() + 1 + TAG_LEN);
    record.extend_from_slice(plaintext);
    record.push(2);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &keys.cek[..]).map_err(|_| EncryptError::Crypto)?);
    // The first (and only) record's nonce is the derived nonce itself (sequence 0).
    let nonce = Nonce::assume_unique_for_key(keys.nonce);
    key.seal_in_place_append_tag(nonce, Aad::empty(), &mut record).map_err(|_| EncryptError::Crypto)?;

    let mut body = Vec::with_capacity(HEADER_LEN + record.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(PUBLIC_KEY_LEN as u8);
    body.extend_from_slice(as_public.as_ref());
    body.extend_from_slice(&record);
    Ok(body)
}

/// The content-encryption key and nonce of RFC 8291 section 3.4 and RFC 8188 section 2.2.
struct ContentKeys {
    cek: Zeroizing<[u8; 16]>,
    nonce: [u8; aead::NONCE_LEN],
}

impl ContentKeys {
    fn derive(
        ecdh_secret: &[u8],
        auth_secret: &[u8],
        ua_public: &[u8],
        as_public: &[u8],
        salt: &[u8],
    ) -> Result<Self, EncryptError> {
        // IKM = HKDF(auth_secret, ecdh_secret, "WebPush: info" ‖ 0 ‖ ua_public ‖ as_public, 32)
        let prk_key = Salt::new(HKDF_SHA256, auth_secret).extract(ecdh_secret);
        let mut ikm = Zeroizing::new([0u8; 32]);
        expand(&prk_key, &[b"WebPush: info\0", ua_public, as_public], &mut ikm[..])?;
        // PRK = HKDF-Extract(salt, IKM); CEK and NONCE from it.
        let prk = Salt::new(HKDF_SHA256, salt).extract(&ikm[..]);
        let mut cek = Zeroizing::new([0u8; 16]);
        expand(&prk, &[b"Content-Encoding: aes128gcm\0"], &mut cek[..])?;
        let mut nonce = [0u8; aead::NONCE_LEN];
        expand(&prk, &[b"Content-Encoding: nonce\0"], &mut nonce)?;
        Ok(Self { cek, nonce })
    }
}

/// HKDF-Expand into `out` (its length is the output length).
fn expand(prk: &hkdf::Prk, info: &[&[u8]], out: &mut [u8]) -> Result<(), EncryptError> {
    struct Len(usize);
    impl KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    prk.expand(info, Len(out.len())).and_then(|okm| okm.fill(out)).map_err(|_| EncryptError::Crypto)
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    fn b64(text: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(text).unwrap()
    }

    /// RFC 8291 Appendix A, byte for byte: the same server key pair and salt give the
    /// published message.
    #[test]
    fn web_push_reproduces_rfc8291_appendix_a() {
        let plaintext = b64("V2hlbiBJIGdyb3cgdXAsIEkgd2FudCB0byBiZSBhIHdhdGVybWVsb24");
        assert_eq!(plaintext, b"When I grow up, I want to be a watermelon");
        let as_private =
            PrivateKey::from_private_key(&ECDH_P256, &b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).unwrap();
        assert_eq!(
            as_private.compute_public_key().unwrap().as_ref(),
            b64("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")
        );
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth_secret = b64("BTBZMqHH6r4Tts7J_aSIgg");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().unwrap();

        let body = encrypt_with(&plaintext, &ua_public, &auth_secret, &as_private, &salt).unwrap();

        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEq\
             KK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn web_push_messages_differ_and_bad_keys_are_refused() {
        let ua = PrivateKey::generate(&ECDH_P256).unwrap();
        let ua_public = ua.compute_public_key().unwrap();
        let first = encrypt(b"hello", ua_public.as_ref(), &[1; 16]).unwrap();
        let second = encrypt(b"hello", ua_public.as_ref(), &[1; 16]).unwrap();
        assert_ne!(first, second, "a fresh key and salt each time");
        assert_eq!(first.len(), HEADER_LEN + 5 + 1 + TAG_LEN);
        assert_eq!(encrypt(b"x", &ua_public.as_ref()[..33], &[1; 16]), Err(EncryptError::BadPublicKey));
        assert_eq!(encrypt(b"x", ua_public.as_ref(), &[1; 15]), Err(EncryptError::BadAuthSecret));
        let not_on_curve = [&[4u8][..], &[0xAB; 64]].concat();
        assert_eq!(encrypt(b"x", &not_on_curve, &[1; 16]), Err(EncryptError::BadPublicKey));
        assert_eq!(encrypt(&vec![0; MAX_PLAINTEXT + 1], ua_public.as_ref(), &[1; 16]), Err(EncryptError::TooLong));
    }
}
