//! The signing keys, shared by every node through the database: private halves sealed
//! with the master key, a current key per algorithm, retired keys kept in the JWKS until
//! the tokens they signed have expired. Each node caches them and reloads when stale
//! or when it meets a key id it does not know.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use tokio::sync::RwLock;

use super::jws::{SigningAlg, SigningKey};
use super::secretbox::SecretBox;
use crate::storage::{Db, entities::signing_key};

/// Shortest time between two reloads caused by an unknown key id.
const UNKNOWN_KID_RELOAD_GAP: Duration = Duration::from_secs(1);
const CACHE_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
    #[error("signing key {kid}: {reason}")]
    Unusable { kid: String, reason: String },
    #[error("no current signing key for {0}")]
    Missing(&'static str),
}

struct Loaded {
    current: HashMap<SigningAlg, Arc<SigningKey>>,
    by_kid: HashMap<String, Arc<SigningKey>>,
    jwks: Value,
    /// The JWKS serialised once per reload: the endpoint serves these bytes.
    jwks_json: bytes::Bytes,
    at: Instant,
}

pub struct KeyStore {
    db: Db,
    secrets: SecretBox,
    loaded: RwLock<Loaded>,
}

impl KeyStore {
    /// Loads the keys, creating a current key for every algorithm that has none.
    pub async fn open(db: Db, secrets: SecretBox, now: i64) -> Result<Self, KeyError> {
        let store = Self {
            db,
            secrets,
            loaded: RwLock::new(Loaded {
                current: HashMap::new(),
                by_kid: HashMap::new(),
                jwks: json!({"keys": []}),
                jwks_json: bytes::Bytes::from_static(b"{\"keys\":[]}"),
                at: crate::clock::instant(),
            }),
        };
        let rows = store.rows().await?;
        for alg in SigningAlg::ALL {
            if !rows.iter().any(|row| row.status == "current" && row.alg == alg.as_str()) {
                store.create_key(alg, now).await?;
            }
        }
        store.reload().await?;
        Ok(store)
    }

    async fn rows(&self) -> Result<Vec<signing_key::Model>, KeyError> {
        Ok(signing_key::Entity::find().order_by_asc(signing_key::Column::CreatedAt).all(&self.db).await?)
    }

    async fn create_key(&self, alg: SigningAlg, now: i64) -> Result<(), KeyError> {
        let kid = super::random_id();
        let (key, pkcs8) = SigningKey::generate(kid.clone(), alg)
            .map_err(|e| KeyError::Unusable { kid: kid.clone(), reason: e.to_string() })?;
        signing_key::ActiveModel {
            kid: Set(kid.clone()),
            alg: Set(alg.as_str().to_string()),
            private_key: Set(self.secrets.seal(&pkcs8, &sealed_aad(&kid))),
            public_jwk: Set(key.public_jwk().to_string()),
            status: Set("current".into()),
            created_at: Set(now),
            retired_at: Set(None),
        }
        .insert(&self.db)
        .await?;
        Ok(())
    }

    /// Reads every key from the database into the cache.
    pub async fn reload(&self) -> Result<(), KeyError> {
        let rows = self.rows().await?;
        let mut current = HashMap::new();
        let mut by_kid = HashMap::new();
        let mut jwks = Vec::new();
        for row in rows {
            let Some(key) = open_row(&self.secrets, &row)? else {
                continue;
            };
            let key = Arc::new(key);
            jwks.push(key.public_jwk());
            // Rows come oldest first: the newest current key of an algorithm wins.
            if row.status == "current" {
                current.insert(key.alg, key.clone());
            }
            by_kid.insert(row.kid, key);
        }
        let jwks = json!({"keys": jwks});
        let jwks_json = bytes::Bytes::from(jwks.to_string());
        *self.loaded.write().await = Loaded { current, by_kid, jwks, jwks_json, at: crate::clock::instant() };
        Ok(())
    }

    async fn reload_if_stale(&self) {
        if self.loaded.read().await.at.elapsed() > CACHE_TTL
            && let Err(error) = self.reload().await
        {
            tracing::error!(%error, "could not reload signing keys; keeping the cached ones");
        }
    }

    /// The key that signs new tokens with `alg`.
    pub async fn current(&self, alg: SigningAlg) -> Result<Arc<SigningKey>, KeyError> {
        self.reload_if_stale().await;
        self.loaded.read().await.current.get(&alg).cloned().ok_or(KeyError::Missing(alg.as_str()))
    }

    /// The key with this id, current or retired; reloads if it is unknown (another node
    /// may have rotated) — at most once per `UNKNOWN_KID_RELOAD_GAP`, so that tokens with
    /// made-up key ids cannot make every request read and decrypt every key.
    pub async fn find(&self, kid: &str) -> Option<Arc<SigningKey>> {
        self.reload_if_stale().await;
        let loaded_at = {
            let loaded = self.loaded.read().await;
            if let Some(key) = loaded.by_kid.get(kid) {
                return Some(key.clone());
            }
            loaded.at
        };
        if loaded_at.elapsed() < UNKNOWN_KID_RELOAD_GAP || self.reload().await.is_err() {
            return None;
        }
        self.loaded.read().await.by_kid.get(kid).cloned()
    }

    /// The JSON Web Key Set, serialised.
    pub async fn jwks_json(&self) -> bytes::Bytes {
        self.reload_if_stale().await;
        self.loaded.read().await.jwks_json.clone()
    }

    /// The JSON Web Key Set published at the `jwks_uri`.
    pub async fn jwks(&self) -> Value {
        self.reload_if_stale().await;
        self.loaded.read().await.jwks.clone()
    }

    /// Adds a new current key for every algorithm and retires the previous ones, which
    /// stay published so that tokens they signed still verify.
    pub async fn rotate(&self, now: i64) -> Result<Vec<String>, KeyError> {
        signing_key::Entity::update_many()
            .col_expr(signing_key::Column::Status, sea_orm::sea_query::Expr::value("retired"))
            .col_expr(signing_key::Column::RetiredAt, sea_orm::sea_query::Expr::value(now))
            .filter(signing_key::Column::Status.eq("current"))
            .exec(&self.db)
            .await?;
        for alg in SigningAlg::ALL {
            self.create_key(alg, now).await?;
        }
        self.reload().await?;
        let loaded = self.loaded.read().await;
        Ok(SigningAlg::ALL.iter().filter_map(|alg| loaded.current.get(alg).map(|k| k.kid.clone())).collect())
    }
}

/// Associated data of a signing key's sealed private key.
pub fn sealed_aad(kid: &str) -> String {
    format!("signing-key:{kid}")
}

/// The signing key a row holds, opened with the master key; none for an algorithm this
/// version does not know.
fn open_row(secrets: &SecretBox, row: &signing_key::Model) -> Result<Option<SigningKey>, KeyError> {
    let Some(alg) = SigningAlg::parse(&row.alg) else {
        return Ok(None);
    };
    let unusable = |reason: String| KeyError::Unusable { kid: row.kid.clone(), reason };
    let pkcs8 = secrets.open(&row.private_key, &sealed_aad(&row.kid)).map_err(|e| unusable(e.to_string()))?;
    SigningKey::from_pkcs8(row.kid.clone(), alg, &pkcs8).map(Some).map_err(|e| unusable(e.to_string()))
}

/// Whether `secrets` opens every signing key stored in `db` (`sesame check`); writes
/// nothing.
pub async fn check_sealed(db: &Db, secrets: &SecretBox) -> Result<(), KeyError> {
    for row in signing_key::Entity::find().all(db).await? {
        open_row(secrets, &row)?;
    }
    Ok(())
}
