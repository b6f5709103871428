//! Compact JSON Web Signatures (RFC 7515) with the algorithms Sésame signs with:
//! RS256, PS256, ES256 and EdDSA (Ed25519), on aws-lc.

use aws_lc_rs::{
    encoding::AsDer,
    rand::SystemRandom,
    rsa::KeySize,
    signature::{
        self, ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair,
        RsaKeyPair, RsaPublicKeyComponents, UnparsedPublicKey,
    },
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use zeroize::Zeroizing;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Rs256,
    Ps256,
    Es256,
    EdDsa,
}

impl SigningAlg {
    pub const ALL: [SigningAlg; 4] = [SigningAlg::Rs256, SigningAlg::Ps256, SigningAlg::Es256, SigningAlg::EdDsa];

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::Rs256 => "RS256",
            SigningAlg::Ps256 => "PS256",
            SigningAlg::Es256 => "ES256",
            SigningAlg::EdDsa => "EdDSA",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwsError {
    #[error("key generation or parsing failed")]
    Key,
    #[error("signing failed")]
    Sign,
    #[error("malformed token")]
    Malformed,
    #[error("token signed with an unknown key")]
    UnknownKey,
    #[error("bad token signature")]
    BadSignature,
}

enum KeyMaterial {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A private signing key with its key id.
pub struct SigningKey {
    pub kid: String,
    pub alg: SigningAlg,
    material: KeyMaterial,
}

impl SigningKey {
    /// A new key for `alg`, with its PKCS#8 encoding for storage.
    pub fn generate(kid: String, alg: SigningAlg) -> Result<(Self, Zeroizing<Vec<u8>>), JwsError> {
        let pkcs8 = match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                let pair = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| JwsError::Key)?;
                let der = pair.as_der().map_err(|_| JwsError::Key)?;
                Zeroizing::new(der.as_ref().to_vec())
            }
            SigningAlg::Es256 => {
                let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| JwsError::Key)?;
                Zeroizing::new(pair.to_pkcs8v1().map_err(|_| JwsError::Key)?.as_ref().to_vec())
            }
            SigningAlg::EdDsa => {
                let pair = Ed25519KeyPair::generate().map_err(|_| JwsError::Key)?;
                Zeroizing::new(pair.to_pkcs8().map_err(|_| JwsError::Key)?.as_ref().to_vec())
            }
        };
        let key = Self::from_pkcs8(kid, alg, &pkcs8)?;
        Ok((key, pkcs8))
    }

    /// The Ed25519 key of a 32-byte seed: the same key on every node that shares the seed.
    pub fn ed25519_from_seed(kid: String, seed: &[u8; 32]) -> Result<Self, JwsError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| JwsError::Key)?;
        Ok(Self { kid, alg: SigningAlg::EdDsa, material: KeyMaterial::Ed(pair) })
    }

    pub fn from_pkcs8(kid: String, alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, JwsError> {
        let material = match alg {
            SigningAlg::Rs256 | SigningAlg::Ps256 => {
                KeyMaterial::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| JwsError::Key)?)
            }
            SigningAlg::Es256 => KeyMaterial::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(|_| JwsError::Key)?,
            ),
            SigningAlg::EdDsa => KeyMaterial::Ed(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| JwsError::Key)?),
        };
        Ok(Self { kid, alg, material })
    }

    /// The public half as a JWK (RFC 7517), with `kid`, `alg` and `use`.
    pub fn public_jwk(&self) -> Value {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        let mut jwk = match &self.material {
            KeyMaterial::Rsa(pair) => {
                let components = RsaPublicKeyComponents::<Vec<u8>>::from(pair.public_key());
                json!({"kty": "RSA", "n": b64(&components.n), "e": b64(&components.e)})
            }
            KeyMaterial::Ec(pair) => {
                let point = pair.public_key().as_ref();
                // Uncompressed point: 0x04 || x (32 bytes) || y (32 bytes).
                let (x, y) = point.get(1..).unwrap_or_default().split_at(32.min(point.len().saturating_sub(1)));
                json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)})
            }
            KeyMaterial::Ed(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
        };
        jwk["kid"] = json!(self.kid);
        jwk["alg"] = json!(self.alg.as_str());
        jwk["use"] = json!("sig");
        jwk
    }

    /// Signs `claims` as a compact JWS with header `{alg, kid, typ}`.
    /// The token is written into one buffer (a token endpoint signs on every call).
    pub fn sign<T: Serialize>(&self, typ: &str, claims: &T) -> Result<String, JwsError> {
        #[derive(Serialize)]
        struct Header<'a> {
            alg: &'a str,
            kid: &'a str,
            typ: &'a str,
        }
        let header =
            serde_json::to_vec(&Header { alg: self.alg.as_str(), kid: &self.kid, typ }).map_err(|_| JwsError::Sign)?;
        let payload = serde_json::to_vec(claims).map_err(|_| JwsError::Sign)?;
        // base64url is 4/3 of its input; the signature is at most 512 bytes (RSA 4096).
        let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 700);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.sign_bytes(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }

    fn sign_bytes(&self, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        let rng = SystemRandom::new();
        match &self.material {
            KeyMaterial::Rsa(pair) => {
                let padding: &'static dyn signature::RsaEncoding = match self.alg {
                    SigningAlg::Ps256 => &signature::RSA_PSS_SHA256,
                    _ => &signature::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; pair.public_modulus_len()];
                pair.sign(padding, &rng, message, &mut out).map_err(|_| JwsError::Sign)?;
                Ok(out)
            }
            KeyMaterial::Ec(pair) => Ok(pair.sign(&rng, message).map_err(|_| JwsError::Sign)?.as_ref().to_vec()),
            KeyMaterial::Ed(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }

    /// The public half, to check signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        let public = match &self.material {
            KeyMaterial::Rsa(pair) => PublicKey::RsaDer(pair.public_key().as_ref().to_vec()),
            KeyMaterial::Ec(pair) => PublicKey::EcPoint(pair.public_key().as_ref().to_vec()),
            KeyMaterial::Ed(pair) => PublicKey::Ed25519(pair.public_key().as_ref().to_vec()),
        };
        VerifyingKey { kid: Some(self.kid.clone()), alg: self.alg, public }
    }
}

#[derive(Debug, Clone)]
enum PublicKey {
    /// RSAPublicKey (PKCS#1) DER.
    RsaDer(Vec<u8>),
    /// Modulus and exponent, big-endian, from a JWK.
    RsaComponents {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// Uncompressed P-256 point.
    EcPoint(Vec<u8>),
    Ed25519(Vec<u8>),
}

/// A public key that checks signatures of one algorithm: ours, or a client's from its JWKS.
#[derive(Debug, Clone)]
pub struct VerifyingKey {
    pub kid: Option<String>,
    pub alg: SigningAlg,
    public: PublicKey,
}

impl VerifyingKey {
    /// A key from a JWK (RFC 7517) of type RSA, EC P-256 or OKP Ed25519. `alg` is the
    /// JWK's own when it has one, else the algorithm the JWS header announces.
    pub fn from_jwk(jwk: &Value, header_alg: SigningAlg) -> Option<Self> {
        let field = |name: &str| jwk.get(name).and_then(Value::as_str);
        let bytes = |name: &str| field(name).and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
        if field("use").is_some_and(|u| u != "sig") {
            return None;
        }
        let alg = match field("alg") {
            Some(name) => SigningAlg::parse(name)?,
            None => header_alg,
        };
        let public = match (field("kty")?, alg) {
            ("RSA", SigningAlg::Rs256 | SigningAlg::Ps256) => {
                PublicKey::RsaComponents { n: bytes("n")?, e: bytes("e")? }
            }
            ("EC", SigningAlg::Es256) if field("crv") == Some("P-256") => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                PublicKey::EcPoint([&[4u8][..], &x, &y].concat())
            }
            ("OKP", SigningAlg::EdDsa) if field("crv") == Some("Ed25519") => PublicKey::Ed25519(bytes("x")?),
            _ => return None,
        };
        Some(Self { kid: field("kid").map(str::to_string), alg, public })
    }

    fn verify_bytes(&self, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &'static dyn signature::VerificationAlgorithm = match self.alg {
            SigningAlg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            SigningAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
            SigningAlg::Es256 => &ECDSA_P256_SHA256_FIXED,
            SigningAlg::EdDsa => &signature::ED25519,
        };
        match &self.public {
            PublicKey::RsaComponents { n, e } => {
                let params = match self.alg {
                    SigningAlg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                    _ => &signature::RSA_PKCS1_2048_8192_SHA256,
                };
                RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }.verify(params, message, signature).is_ok()
            }
            PublicKey::RsaDer(key) | PublicKey::EcPoint(key) | PublicKey::Ed25519(key) => {
                UnparsedPublicKey::new(algorithm, key).verify(message, signature).is_ok()
            }
        }
    }
}

/// The parts of a compact JWS, before its signature is checked.
pub struct UnverifiedJws<'a> {
    pub kid: Option<String>,
    pub alg: String,
    pub typ: Option<String>,
    /// The `jwk` header parameter (RFC 7515 4.1.3): the key a DPoP proof carries.
    pub jwk: Option<Value>,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

impl<'a> UnverifiedJws<'a> {
    pub fn parse(token: &'a str) -> Result<Self, JwsError> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(JwsError::Malformed)?;
        let (header, payload) = signing_input.split_once('.').ok_or(JwsError::Malformed)?;
        let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).map_err(|_| JwsError::Malformed)?)
            .map_err(|_| JwsError::Malformed)?;
        // RFC 7515 4.1.11: a `crit` header names extensions the recipient must
        // understand; Sésame understands none, so such a JWS is refused.
        if header.get("crit").is_some() {
            return Err(JwsError::Malformed);
        }
        let text = |name: &str| header.get(name).and_then(Value::as_str).map(str::to_string);
        Ok(Self {
            kid: text("kid"),
            alg: text("alg").ok_or(JwsError::Malformed)?,
            typ: text("typ"),
            jwk: header.get("jwk").cloned(),
            signing_input,
            payload: URL_SAFE_NO_PAD.decode(payload).map_err(|_| JwsError::Malformed)?,
            signature: URL_SAFE_NO_PAD.decode(signature).map_err(|_| JwsError::Malformed)?,
        })
    }

    /// The claims, before the signature is checked: only to find which key to check with.
    pub fn claims_unverified<T: DeserializeOwned>(&self) -> Result<T, JwsError> {
        serde_json::from_slice(&self.payload).map_err(|_| JwsError::Malformed)
    }

    /// Checks the signature with `key`, whose algorithm must be the header's (no `none`,
    /// no algorithm confusion), and decodes the claims.
    pub fn verify<T: DeserializeOwned>(&self, key: &VerifyingKey) -> Result<T, JwsError> {
        if self.alg != key.alg.as_str() || !key.verify_bytes(self.signing_input.as_bytes(), &self.signature) {
            return Err(JwsError::BadSignature);
        }
        serde_json::from_slice(&self.payload).map_err(|_| JwsError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_critical_header_is_refused() {
        let (key, _) = SigningKey::generate("k1".into(), SigningAlg::Es256).unwrap();
        let token = key.sign("JWT", &json!({"sub": "x"})).unwrap();
        let (_, rest) = token.split_once('.').unwrap();
        let header = json!({"alg": "ES256", "kid": "k1", "crit": ["exp"], "exp": 1});
        let forged = format!("{}.{rest}", URL_SAFE_NO_PAD.encode(header.to_string()));
        assert!(matches!(UnverifiedJws::parse(&forged), Err(JwsError::Malformed)));
    }

    #[test]
    fn every_algorithm_signs_and_verifies() {
        for alg in SigningAlg::ALL {
            let (key, pkcs8) = SigningKey::generate("k1".into(), alg).unwrap();
            let reloaded = SigningKey::from_pkcs8("k1".into(), alg, &pkcs8).unwrap();
            let token = reloaded.sign("JWT", &json!({"sub": "x"})).unwrap();
            let parsed = UnverifiedJws::parse(&token).unwrap();
            assert_eq!(parsed.kid.as_deref(), Some("k1"));
            let claims: Value = parsed.verify(&key.verifying_key()).unwrap();
            assert_eq!(claims["sub"], "x", "{alg:?}");
            assert_eq!(key.public_jwk()["alg"], alg.as_str());
        }
    }

    #[test]
    fn keys_from_published_jwks_verify() {
        for alg in SigningAlg::ALL {
            let (key, _) = SigningKey::generate("k".into(), alg).unwrap();
            let token = key.sign("JWT", &json!({"sub": "y"})).unwrap();
            let from_jwk = VerifyingKey::from_jwk(&key.public_jwk(), alg).unwrap();
            let claims: Value = UnverifiedJws::parse(&token).unwrap().verify(&from_jwk).unwrap();
            assert_eq!(claims["sub"], "y", "{alg:?}");
        }
        let (rsa, _) = SigningKey::generate("r".into(), SigningAlg::Rs256).unwrap();
        assert!(VerifyingKey::from_jwk(&rsa.public_jwk(), SigningAlg::Es256).is_some(), "the JWK's alg wins");
        let mut encryption = rsa.public_jwk();
        encryption["use"] = json!("enc");
        assert!(VerifyingKey::from_jwk(&encryption, SigningAlg::Rs256).is_none());
    }

    #[test]
    fn tampered_or_confused_tokens_fail() {
        let (rs, _) = SigningKey::generate("r".into(), SigningAlg::Rs256).unwrap();
        let (es, _) = SigningKey::generate("e".into(), SigningAlg::Es256).unwrap();
        let token = rs.sign("JWT", &json!({"sub": "x"})).unwrap();
        let parsed = UnverifiedJws::parse(&token).unwrap();
        assert!(parsed.verify::<Value>(&es.verifying_key()).is_err());
        let (head, _) = token.rsplit_once('.').unwrap();
        let forged = format!("{head}.AAAA");
        assert!(UnverifiedJws::parse(&forged).unwrap().verify::<Value>(&rs.verifying_key()).is_err());
    }
}
