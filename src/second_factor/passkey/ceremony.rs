//! Ceremonies in progress: what the server asked the browser's authenticator, kept
//! server-side until the answer comes back, and used once. A ceremony is found by its
//! challenge (which the browser's answer quotes in its client data), so several may be
//! outstanding for one login (the autofill prompt and the button), and an answer sent
//! twice — a replay — finds its ceremony gone.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::DomainError;
use crate::storage::entities::passkey_ceremony;

/// What a ceremony is for: it serves nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Registering a new passkey for an account.
    Register,
    /// Proving one of an account's passkeys (the second factor).
    Authenticate,
    /// A sign-in by passkey alone: the browser says whose passkey it is.
    Discover,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Authenticate => "authenticate",
            Self::Discover => "discover",
        }
    }
}

/// A ceremony to keep: its challenge (base64url) and the library's state.
pub struct NewCeremony<'a> {
    pub purpose: Purpose,
    pub binding: &'a str,
    pub account_id: Option<&'a str>,
    pub challenge: &'a [u8],
    pub state: String,
    pub expires_at: i64,
}

/// Keeps a ceremony. A login (or an account page) has one ceremony of each purpose at
/// a time: a new one replaces the last (the page's script aborts the autofill prompt
/// before the button's), so repeated requests for options do not pile up rows.
pub async fn save(db: &impl ConnectionTrait, ceremony: NewCeremony<'_>) -> Result<(), DomainError> {
    passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::Binding.eq(ceremony.binding))
        .filter(passkey_ceremony::Column::Purpose.eq(ceremony.purpose.as_str()))
        .exec(db)
        .await?;
    passkey_ceremony::ActiveModel {
        id: Set(URL_SAFE_NO_PAD.encode(ceremony.challenge)),
        purpose: Set(ceremony.purpose.as_str().to_string()),
        binding: Set(ceremony.binding.to_string()),
        account_id: Set(ceremony.account_id.map(str::to_string)),
        state: Set(ceremony.state),
        expires_at: Set(ceremony.expires_at),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// A ceremony taken back: the account it was started for and the library's state.
pub struct Taken {
    pub account_id: Option<String>,
    pub state: String,
}

/// Takes the ceremony whose challenge the browser's answer quotes, if it is for this
/// purpose and binding and has not expired: it is deleted, so only one answer is ever
/// checked against it (two parallel answers: one delete wins).
pub async fn take(
    db: &impl ConnectionTrait,
    purpose: Purpose,
    binding: &str,
    challenge: &str,
    now: i64,
) -> Result<Option<Taken>, DomainError> {
    let Some(row) = passkey_ceremony::Entity::find_by_id(challenge.to_string()).one(db).await? else {
        return Ok(None);
    };
    if row.purpose != purpose.as_str() || row.binding != binding {
        return Ok(None);
    }
    let deleted = passkey_ceremony::Entity::delete_many()
        .filter(passkey_ceremony::Column::Id.eq(row.id.clone()))
        .exec(db)
        .await?;
    if deleted.rows_affected != 1 || row.expires_at <= now {
        return Ok(None);
    }
    Ok(Some(Taken { account_id: row.account_id, state: row.state }))
}

/// How many sign-ins by passkey alone are waiting for their answer, everywhere: those
/// anybody can start, so their number is capped (see `passkey::MAX_WAITING_DISCOVERIES`).
pub async fn waiting_discoveries(db: &impl ConnectionTrait, now: i64) -> Result<u64, DomainError> {
    use sea_orm::PaginatorTrait;
    Ok(passkey_ceremony::Entity::find()
        .filter(passkey_ceremony::Column::Purpose.eq(Purpose::Discover.as_str()))
        .filter(passkey_ceremony::Column::ExpiresAt.gt(now))
        .count(db)
        .await?)
}

/// Deletes ceremonies nobody finished (the janitor's round).
pub async fn purge_expired(db: &impl ConnectionTrait, now: i64) -> Result<u64, DomainError> {
    let result =
        passkey_ceremony::Entity::delete_many().filter(passkey_ceremony::Column::ExpiresAt.lte(now)).exec(db).await?;
    Ok(result.rows_affected)
}

/// The challenge an answer quotes: `challenge` of its client data (base64url JSON, as
/// the WebAuthn JSON forms carry it), or `None` if it is not there.
pub fn quoted_challenge(client_data_json: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ClientData {
        challenge: String,
    }
    serde_json::from_slice::<ClientData>(client_data_json).ok().map(|data| data.challenge)
}
