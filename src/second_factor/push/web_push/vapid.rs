//! VAPID (RFC 8292): Sésame identifies itself to push services with an ES256 JWT signed
//! by one P-256 key pair. Browsers bind each subscription to that key's public half (the
//! `applicationServerKey`), so every node must sign with the same key and keep it: it
//! is made once, at the first start, and stored sealed with the master key.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use serde_json::json;

use crate::crypto::{
    jws::{SigningAlg, SigningKey},
    secretbox::SecretBox,
};
use crate::domain::DomainError;
use crate::storage::{Db, entities::web_push_key, is_unique_violation};

/// The key's row id, the same on every node.
const KEY_ID: &str = "vapid";
/// How long a token stays valid: RFC 8292 allows at most 24 hours; half leaves room
/// for a push service whose clock is ahead.
const TOKEN_LIFETIME: i64 = 12 * 3600;

/// The application server's key pair.
pub struct VapidKey {
    signer: SigningKey,
    /// The uncompressed P-256 point: the `applicationServerKey`, and `k` in requests.
    public_key: String,
}

impl VapidKey {
    /// The key in the database, made and stored first if there is none. Two nodes
    /// starting at once both try to insert the same row id; the one that loses reads
    /// the winner's key, so all end with one key.
    pub async fn load_or_create(db: &Db, secrets: &SecretBox, now: i64) -> Result<Self, DomainError> {
        if let Some(row) = web_push_key::Entity::find_by_id(KEY_ID).one(db).await? {
            return Self::from_row(&row, secrets);
        }
        let (signer, pkcs8) = SigningKey::generate(KEY_ID.into(), SigningAlg::Es256).map_err(crypto_error)?;
        let public_key = public_point(&signer)?;
        let row = web_push_key::ActiveModel {
            id: Set(KEY_ID.into()),
            private_key: Set(secrets.seal(&pkcs8, &aad())),
            public_key: Set(public_key.clone()),
            created_at: Set(now),
        };
        match row.insert(db).await {
            Ok(_) => Ok(Self { signer, public_key }),
            Err(error) if is_unique_violation(&error) => {
                let row = web_push_key::Entity::find_by_id(KEY_ID)
                    .one(db)
                    .await?
                    .ok_or_else(|| DomainError::NotFound("the VAPID key".into()))?;
                Self::from_row(&row, secrets)
            }
            Err(error) => Err(error.into()),
        }
    }

    fn from_row(row: &web_push_key::Model, secrets: &SecretBox) -> Result<Self, DomainError> {
        let pkcs8 = secrets.open(&row.private_key, &aad()).map_err(crypto_error)?;
        let signer = SigningKey::from_pkcs8(KEY_ID.into(), SigningAlg::Es256, &pkcs8).map_err(crypto_error)?;
        let public_key = public_point(&signer)?;
        if public_key != row.public_key {
            return Err(DomainError::Crypto("the stored VAPID public key does not match its private key".into()));
        }
        Ok(Self { signer, public_key })
    }

    /// The `applicationServerKey` browsers subscribe with (base64url, 65 bytes).
    pub fn public_key(&self) -> &str {
        &self.public_key
    }

    /// `Authorization: vapid t=<JWT>, k=<public key>` for a request to `endpoint`:
    /// `aud` is the push service's origin, `sub` the operator's contact.
    pub fn authorization(&self, endpoint: &url::Url, subject: &str, now: i64) -> Result<String, DomainError> {
        let claims = json!({
            "aud": endpoint.origin().ascii_serialization(),
            "exp": now + TOKEN_LIFETIME,
            "sub": subject,
        });
        let token = self.signer.sign("JWT", &claims).map_err(crypto_error)?;
        Ok(format!("vapid t={token}, k={}", self.public_key))
    }
}

pub(crate) fn aad() -> String {
    format!("web-push-key:{KEY_ID}")
}

fn crypto_error(error: impl std::fmt::Display) -> DomainError {
    DomainError::Crypto(format!("VAPID key: {error}"))
}

/// The public key as the uncompressed point, from the signer's JWK.
fn public_point(signer: &SigningKey) -> Result<String, DomainError> {
    let jwk = signer.public_jwk();
    let coordinate = |name: &str| {
        jwk[name]
            .as_str()
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .filter(|bytes| bytes.len() == 32)
            .ok_or_else(|| crypto_error("not a P-256 key"))
    };
    let point = [&[4u8][..], &coordinate("x")?, &coordinate("y")?].concat();
    Ok(URL_SAFE_NO_PAD.encode(point))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::jws::{UnverifiedJws, VerifyingKey};

    #[test]
    fn web_push_vapid_token_names_the_push_service_and_verifies_with_k() {
        let (signer, _) = SigningKey::generate(KEY_ID.into(), SigningAlg::Es256).unwrap();
        let key = VapidKey { public_key: public_point(&signer).unwrap(), signer };
        let endpoint = url::Url::parse("https://push.example.net:8443/wpush/v2/abc?x=1").unwrap();
        let header = key.authorization(&endpoint, "mailto:admin@etude.example", 1_000).unwrap();
        let (token, k) = header.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        assert_eq!(point.len(), 65);
        let jwk = json!({"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                         "y": URL_SAFE_NO_PAD.encode(&point[33..])});
        let verifier = VerifyingKey::from_jwk(&jwk, SigningAlg::Es256).unwrap();
        let claims: serde_json::Value = UnverifiedJws::parse(token).unwrap().verify(&verifier).unwrap();
        assert_eq!(claims["aud"], "https://push.example.net:8443");
        assert_eq!(claims["sub"], "mailto:admin@etude.example");
        assert_eq!(claims["exp"], 1_000 + TOKEN_LIFETIME);
    }
}
