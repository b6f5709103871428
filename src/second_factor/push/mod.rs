//! Push approval with number matching (see docs/push-protocol.md).
//!
//! A device (the `sesame authenticator` companion, the web authenticator, an office's
//! app) holds a key pair; its public key is a second factor of the account
//! (`second_factors.method = 'push'`). A login creates a challenge with a two-digit
//! number shown on the page; the device fetches it (polling, no third-party push
//! service), the user types the number and approves or denies, the device signs its
//! answer, and the waiting page continues. Everything lives in the database, so any node
//! serves any step. Devices in a browser may also be woken by Web Push (`web_push`).

pub mod answer;
pub mod api;
pub mod fraud_alert;
pub mod web_push;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::PushConfig;
use crate::crypto::{
    self,
    jws::{SigningAlg, SigningKey, VerifyingKey},
    secretbox::SecretBox,
};
use crate::domain::DomainError;
use crate::storage::{
    Db,
    entities::{account, push_challenge, push_enrollment, second_factor},
};

/// The protocol version in every message and path.
pub const VERSION: u32 = 1;

/// The server's push signing key: Ed25519 derived from the master key, so every node
/// signs with the same key and devices keep the one they got at enrollment.
pub fn server_key(secrets: &SecretBox) -> Result<SigningKey, crypto::jws::JwsError> {
    let seed = secrets.derive_key("push-server-ed25519");
    let kid = format!("push-{}", &crypto::keyed_hash(&seed, "kid", b"push")[..12]);
    SigningKey::ed25519_from_seed(kid, &seed)
}

/// A challenge's life: pending → approved → used (the login continued), or denied,
/// wrong_number, fraud; past `expires_at` a pending one is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Pending,
    Approved,
    Used,
    Denied,
    WrongNumber,
    Fraud,
    Expired,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Used => "used",
            Self::Denied => "denied",
            Self::WrongNumber => "wrong_number",
            Self::Fraud => "fraud",
            Self::Expired => "expired",
        }
    }

    fn of(row: &push_challenge::Model, now: i64) -> Self {
        match row.state.as_str() {
            "pending" if row.expires_at <= now => Self::Expired,
            "pending" => Self::Pending,
            "approved" => Self::Approved,
            "used" => Self::Used,
            "wrong_number" => Self::WrongNumber,
            "fraud" => Self::Fraud,
            _ => Self::Denied,
        }
    }
}

/// What the device is shown, and signs back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeView {
    pub v: u32,
    pub challenge_id: String,
    pub nonce: String,
    pub account: String,
    pub application: String,
    /// Unix seconds the login asked.
    pub time: i64,
    pub ip: Option<String>,
    /// The client's approximate origin (its network), never a precise place.
    pub origin: Option<String>,
    pub expires_at: i64,
}

/// A registered device.
pub struct Device {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub key: VerifyingKey,
}

/// A device by id, with its public key; `None` if unknown or revoked.
pub async fn device(db: &Db, secrets: &SecretBox, id: &str) -> Result<Option<Device>, DomainError> {
    let Some(row) = second_factor::Entity::find_by_id(id.to_string())
        .filter(second_factor::Column::Method.eq("push"))
        .filter(second_factor::Column::ConfirmedAt.is_not_null())
        .one(db)
        .await?
    else {
        return Ok(None);
    };
    let Ok(plain) = secrets.open(&row.secret, &super::sealed_aad(&row.id)) else { return Ok(None) };
    let Ok(stored) = serde_json::from_slice::<Value>(&plain) else { return Ok(None) };
    let alg = match stored["jwk"]["kty"].as_str() {
        Some("EC") => SigningAlg::Es256,
        _ => SigningAlg::EdDsa,
    };
    let Some(key) = VerifyingKey::from_jwk(&stored["jwk"], alg) else { return Ok(None) };
    Ok(Some(Device { id: row.id, account_id: row.account_id, name: row.label, key }))
}

/// Registers a device's public key as a second factor of the account.
pub async fn register_device(
    db: &Db,
    secrets: &SecretBox,
    account_id: &str,
    name: &str,
    jwk: &Value,
    now: i64,
) -> Result<String, DomainError> {
    let id = crypto::random_id();
    let stored = serde_json::json!({"jwk": jwk});
    second_factor::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(account_id.to_string()),
        method: Set("push".into()),
        label: Set(name.chars().take(64).collect()),
        secret: Set(secrets.seal(stored.to_string().as_bytes(), &super::sealed_aad(&id))),
        last_step: Set(None),
        confirmed_at: Set(Some(now)),
        created_at: Set(now),
        last_used_at: Set(None),
        credential_id: Set(None),
        pending_browser: Set(None),
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// A one-time enrollment token for the account; the link holds it, the database its hash.
pub async fn new_enrollment(db: &Db, account_id: &str, config: &PushConfig, now: i64) -> Result<String, DomainError> {
    let token = crypto::random_token();
    push_enrollment::ActiveModel {
        id: Set(crypto::token_hash(&token)),
        account_id: Set(account_id.to_string()),
        created_at: Set(now),
        expires_at: Set(now + config.enrollment_ttl),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(token)
}

/// Uses an enrollment token: the account it enrolls for, once.
pub async fn redeem_enrollment(db: &Db, token: &str, now: i64) -> Result<Option<String>, DomainError> {
    let id = crypto::token_hash(token);
    let Some(row) = push_enrollment::Entity::find_by_id(id.clone()).one(db).await? else { return Ok(None) };
    let used = push_enrollment::Entity::update_many()
        .col_expr(push_enrollment::Column::UsedAt, Expr::value(now))
        .filter(push_enrollment::Column::Id.eq(id))
        .filter(push_enrollment::Column::UsedAt.is_null())
        .filter(push_enrollment::Column::ExpiresAt.gt(now))
        .exec(db)
        .await?;
    Ok((used.rows_affected == 1).then_some(row.account_id))
}

/// Why no challenge is sent now.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// "It wasn't me" was reported: push is off for this many seconds.
    Locked(i64),
    /// Another login's request is waiting on the phone for this many seconds.
    Busy(i64),
    /// The hourly limit is reached.
    Limit,
}

/// What a new challenge is about.
pub struct Ask<'a> {
    pub account_id: &'a str,
    pub login_id: &'a str,
    pub application: &'a str,
    pub ip: Option<&'a str>,
    /// Wake the account's subscribed browsers (Web Push), in this language.
    pub web_push: Option<web_push::Notice<'a>>,
}

/// The challenge of this login, if it has one that is not over.
pub async fn challenge_of_login(db: &Db, login_id: &str) -> Result<Option<push_challenge::Model>, DomainError> {
    Ok(push_challenge::Entity::find()
        .filter(push_challenge::Column::LoginId.eq(login_id))
        .order_by_desc(push_challenge::Column::CreatedAt)
        .one(db)
        .await?)
}

pub fn state_of(row: &push_challenge::Model, now: i64) -> State {
    State::of(row, now)
}

/// Creates a challenge for the login: at most one waiting per account, a few per hour,
/// none while push is locked. Returns it (the number is shown on the page).
pub async fn create_challenge(
    db: &Db,
    config: &PushConfig,
    account: &crate::accounts::Account,
    ask: Ask<'_>,
    now: i64,
) -> Result<Result<push_challenge::Model, Hold>, DomainError> {
    if let Some(until) = account.push_locked_until.filter(|until| *until > now) {
        return Ok(Err(Hold::Locked(until - now)));
    }
    let waiting = push_challenge::Entity::find()
        .filter(push_challenge::Column::AccountId.eq(ask.account_id))
        .filter(push_challenge::Column::State.eq("pending"))
        .filter(push_challenge::Column::ExpiresAt.gt(now))
        .filter(push_challenge::Column::LoginId.ne(ask.login_id))
        .one(db)
        .await?;
    if let Some(other) = waiting {
        return Ok(Err(Hold::Busy(other.expires_at - now)));
    }
    let last_hour = push_challenge::Entity::find()
        .filter(push_challenge::Column::AccountId.eq(ask.account_id))
        .filter(push_challenge::Column::CreatedAt.gt(now - 3600))
        .count(db)
        .await?;
    if last_hour >= config.per_account_per_hour {
        return Ok(Err(Hold::Limit));
    }
    // A new request of the same login replaces its previous one: the old one can no
    // longer be approved, and is detached from the login (it still counts in the hour).
    push_challenge::Entity::update_many()
        .col_expr(push_challenge::Column::State, Expr::value("denied"))
        .filter(push_challenge::Column::LoginId.eq(ask.login_id))
        .filter(push_challenge::Column::State.is_in(["pending", "approved"]))
        .exec(db)
        .await?;
    push_challenge::Entity::update_many()
        .col_expr(push_challenge::Column::LoginId, Expr::value(format!("replaced:{}", ask.login_id)))
        .filter(push_challenge::Column::LoginId.eq(ask.login_id))
        .exec(db)
        .await?;
    let number = 10 + i32::from(u16::from_be_bytes(crypto::random_bytes::<2>()) % 90);
    let row = push_challenge::ActiveModel {
        id: Set(crypto::random_id()),
        account_id: Set(ask.account_id.to_string()),
        login_id: Set(ask.login_id.to_string()),
        nonce: Set(crypto::random_id()),
        number: Set(number),
        application: Set(ask.application.to_string()),
        ip: Set(ask.ip.map(str::to_string)),
        origin: Set(ask.ip.map(approximate_origin)),
        state: Set("pending".into()),
        device_id: Set(None),
        created_at: Set(now),
        expires_at: Set(now + config.challenge_ttl),
        decided_at: Set(None),
    }
    .insert(db)
    .await?;
    if let Some(notice) = ask.web_push {
        notice.sender.notify(ask.account_id, ask.application, notice.locale, now);
    }
    Ok(Ok(row))
}

/// Tells the office's own app, if one is configured, that a request waits (it then
/// polls like any device). Fire and forget: the login never waits for it.
pub fn notify_webhook(http: &reqwest::Client, config: &PushConfig, username: &str, challenge: &push_challenge::Model) {
    if config.webhook_url.is_empty() {
        return;
    }
    let url = config.webhook_url.clone();
    let body = serde_json::json!({"v": VERSION, "account": username, "challenge_id": challenge.id, "expires_at": challenge.expires_at});
    let http = http.clone();
    tokio::spawn(async move {
        if let Err(error) = http.post(&url).json(&body).send().await {
            tracing::warn!(%error, "push webhook failed");
        }
    });
}

/// The client's network, not its address: "192.0.2.0/24", "2001:db8:1::/48".
pub fn approximate_origin(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(v4)) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        Ok(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::/48", s[0], s[1], s[2])
        }
        Err(_) => "unknown".into(),
    }
}

/// The challenges waiting for the account's devices.
pub async fn pending_for(db: &Db, account_id: &str, now: i64) -> Result<Vec<push_challenge::Model>, DomainError> {
    Ok(push_challenge::Entity::find()
        .filter(push_challenge::Column::AccountId.eq(account_id))
        .filter(push_challenge::Column::State.eq("pending"))
        .filter(push_challenge::Column::ExpiresAt.gt(now))
        .all(db)
        .await?)
}

pub fn view(row: &push_challenge::Model, username: &str) -> ChallengeView {
    ChallengeView {
        v: VERSION,
        challenge_id: row.id.clone(),
        nonce: row.nonce.clone(),
        account: username.to_string(),
        application: row.application.clone(),
        time: row.created_at,
        ip: row.ip.clone(),
        origin: row.origin.clone(),
        expires_at: row.expires_at,
    }
}

/// Moves a challenge out of `pending` (or `approved` → `used`), if it still is there.
pub async fn transition(
    db: &Db,
    id: &str,
    from: State,
    to: State,
    device_id: Option<&str>,
    now: i64,
) -> Result<bool, DomainError> {
    let mut update = push_challenge::Entity::update_many()
        .col_expr(push_challenge::Column::State, Expr::value(to.as_str()))
        .col_expr(push_challenge::Column::DecidedAt, Expr::value(now))
        .filter(push_challenge::Column::Id.eq(id))
        .filter(push_challenge::Column::State.eq(from.as_str()));
    if from == State::Pending {
        update = update.filter(push_challenge::Column::ExpiresAt.gt(now));
    }
    if let Some(device) = device_id {
        update = update.col_expr(push_challenge::Column::DeviceId, Expr::value(device));
    }
    Ok(update.exec(db).await?.rows_affected == 1)
}

/// "It wasn't me": push is off for the account for a while.
pub async fn lock(db: &Db, account_id: &str, until: i64) -> Result<(), DomainError> {
    account::ActiveModel { id: Set(account_id.to_string()), push_locked_until: Set(Some(until)), ..Default::default() }
        .update(db)
        .await?;
    Ok(())
}

/// The challenge by id, if it belongs to the account.
pub async fn challenge(db: &Db, id: &str, account_id: &str) -> Result<Option<push_challenge::Model>, DomainError> {
    Ok(push_challenge::Entity::find_by_id(id.to_string())
        .filter(Condition::all().add(push_challenge::Column::AccountId.eq(account_id)))
        .one(db)
        .await?)
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_networks() {
        assert_eq!(super::approximate_origin("192.0.2.77"), "192.0.2.0/24");
        assert_eq!(super::approximate_origin("2001:db8:1:2::5"), "2001:db8:1::/48");
    }
}
