//! Device authorizations (OAuth 2.0 Device Authorization Grant, RFC 8628), free of HTTP:
//! a scanner, a shared terminal or a command-line tool asks for one at
//! `/device_authorization` (`oidc::device_authorization`), shows its user code, and
//! polls the token endpoint (`oidc::token::device_code`) while a person types the code
//! on the verification page (`web::device`), signs in and approves or denies.
//!
//! A row goes `pending` → `approved` or `denied` (the page) → `used` (the poll that got
//! the tokens), each move one conditional UPDATE, so that two nodes, two tabs or two
//! parallel polls never both make it. The device code is a bearer secret stored as its
//! hash; user codes (`user_code`) are guessable by design, so typing them spends the
//! budgets of `lockout::user_code`.

pub mod user_code;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, ExprTrait, QueryFilter, sea_query::Expr};

use crate::auth::session::Session;
use crate::config::DeviceAuthorizationConfig;
use crate::crypto;
use crate::domain::{DomainError, from_json_text, to_json_text};
use crate::lockout::{self, throttle::Gate};
use crate::storage::{Db, entities::device_authorization as row, is_unique_violation};

/// Seconds added to a device's interval each time it polls too fast (RFC 8628 3.5).
pub const SLOW_DOWN_STEP: i32 = 5;

/// Where a device authorization stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Approved,
    Denied,
    /// Its tokens were issued: the device code is spent.
    Used,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Denied => "denied",
            Self::Used => "used",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(Self::Pending),
            "approved" => Some(Self::Approved),
            "denied" => Some(Self::Denied),
            "used" => Some(Self::Used),
            _ => None,
        }
    }
}

/// What a device receives when it asks for an authorization.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The bearer secret it polls with (only its hash is stored).
    pub device_code: String,
    /// Normalised; shown as `XXXX-XXXX` (`user_code::display`).
    pub user_code: String,
    pub expires_in: i64,
    pub interval: i32,
}

/// A pending device authorization, as the verification page shows it.
#[derive(Debug, Clone)]
pub struct DeviceAuthorization {
    pub id: String,
    pub client_id: String,
    /// Normalised.
    pub user_code: String,
    pub scopes: Vec<String>,
    pub expires_at: i64,
}

impl From<row::Model> for DeviceAuthorization {
    fn from(row: row::Model) -> Self {
        Self {
            scopes: row.scope.split_whitespace().map(str::to_string).collect(),
            id: row.id,
            client_id: row.client_id,
            user_code: row.user_code,
            expires_at: row.expires_at,
        }
    }
}

/// Stores a new pending authorization for `client_id` and returns its codes. A user
/// code already held by another row (2^34.6 codes: rare) is drawn again.
pub async fn create(
    db: &Db,
    client_id: &str,
    scopes: &[String],
    config: &DeviceAuthorizationConfig,
    now: i64,
) -> Result<Issued, DomainError> {
    let device_code = crypto::random_token();
    let mut attempts = 0;
    loop {
        let user_code = user_code::generate();
        let inserted = row::ActiveModel {
            id: Set(crypto::random_id()),
            device_code_hash: Set(crypto::token_hash(&device_code)),
            user_code: Set(user_code.clone()),
            client_id: Set(client_id.to_string()),
            scope: Set(scopes.join(" ")),
            status: Set(Status::Pending.as_str().into()),
            account_id: Set(None),
            session_id: Set(None),
            auth_time: Set(None),
            amr: Set(None),
            acr: Set(None),
            sid: Set(None),
            created_at: Set(now),
            expires_at: Set(now + config.code_ttl),
            poll_interval: Set(config.interval),
            last_polled_at: Set(None),
            decided_at: Set(None),
        }
        .insert(db)
        .await;
        match inserted {
            Ok(_) => {
                return Ok(Issued { device_code, user_code, expires_in: config.code_ttl, interval: config.interval });
            }
            Err(error) if is_unique_violation(&error) && attempts < 5 => attempts += 1,
            Err(error) => return Err(error.into()),
        }
    }
}

/// What typing a user code on the verification page leads to.
#[derive(Debug)]
pub enum UserCodeCheck {
    /// The code of a live, pending authorization.
    Found(Box<DeviceAuthorization>),
    /// Not the code of any live, pending authorization — malformed, unknown, expired,
    /// already approved or denied: nothing more is said.
    NotValid,
    /// Too many wrong codes from this source, or from everyone this minute: the code
    /// was not looked up. Typing is possible again at `until`.
    Wait { until: i64 },
}

/// Looks up a typed user code, after spending a guess of the budgets of `ip` (a live
/// code gives it back). A malformed code cannot name anything and costs nothing.
pub async fn check_user_code(
    db: &Db,
    config: &DeviceAuthorizationConfig,
    ip: Option<&str>,
    typed: &str,
    now: i64,
) -> Result<UserCodeCheck, DomainError> {
    let Some(code) = user_code::normalize(typed) else {
        return Ok(UserCodeCheck::NotValid);
    };
    let budgets = lockout::user_code::Budgets::new(ip, now);
    if let Gate::Closed { until } = lockout::user_code::reserve(db, &budgets, config, now).await? {
        return Ok(UserCodeCheck::Wait { until });
    }
    let found = row::Entity::find()
        .filter(row::Column::UserCode.eq(code))
        .filter(row::Column::Status.eq(Status::Pending.as_str()))
        .filter(row::Column::ExpiresAt.gt(now))
        .one(db)
        .await?;
    Ok(match found {
        Some(found) => {
            lockout::user_code::refund(db, &budgets).await?;
            UserCodeCheck::Found(Box::new(found.into()))
        }
        None => UserCodeCheck::NotValid,
    })
}

/// The pending authorization `id`, if it is still live.
pub async fn find_pending(db: &Db, id: &str, now: i64) -> Result<Option<DeviceAuthorization>, DomainError> {
    let found = row::Entity::find_by_id(id.to_string()).one(db).await?;
    Ok(found.filter(|row| row.status == Status::Pending.as_str() && row.expires_at > now).map(Into::into))
}

/// The person signed in as `session` approved: the tokens will be theirs, with the
/// session's `amr`, `acr` and `sid`. False when the authorization is no longer pending
/// (decided in another tab, expired).
pub async fn approve(db: &Db, id: &str, session: &Session, now: i64) -> Result<bool, DomainError> {
    let moved = row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::val(Status::Approved.as_str()))
        .col_expr(row::Column::AccountId, Expr::val(session.account_id.clone()))
        .col_expr(row::Column::SessionId, Expr::val(session.id.clone()))
        .col_expr(row::Column::AuthTime, Expr::val(session.auth_time))
        .col_expr(row::Column::Amr, Expr::val(to_json_text(&session.amr)))
        .col_expr(row::Column::Acr, Expr::val(session.acr.clone()))
        .col_expr(row::Column::Sid, Expr::val(session.sid.clone()))
        .col_expr(row::Column::DecidedAt, Expr::val(now))
        .filter(pending_and_live(id, now))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

/// The person (signed in as `account_id`, when known) denied, or their account may not
/// open the client's application. False when it is no longer pending.
pub async fn deny(db: &Db, id: &str, account_id: Option<&str>, now: i64) -> Result<bool, DomainError> {
    let moved = row::Entity::update_many()
        .col_expr(row::Column::Status, Expr::val(Status::Denied.as_str()))
        .col_expr(row::Column::AccountId, Expr::val(account_id.map(str::to_string)))
        .col_expr(row::Column::DecidedAt, Expr::val(now))
        .filter(pending_and_live(id, now))
        .exec(db)
        .await?;
    Ok(moved.rows_affected == 1)
}

fn pending_and_live(id: &str, now: i64) -> sea_orm::Condition {
    sea_orm::Condition::all()
        .add(row::Column::Id.eq(id))
        .add(row::Column::Status.eq(Status::Pending.as_str()))
        .add(row::Column::ExpiresAt.gt(now))
}

/// An approved authorization whose tokens the polling device may now receive.
#[derive(Debug, Clone)]
pub struct Approved {
    /// The hash of the device code: the grant id of every token it yields.
    pub grant_id: String,
    pub account_id: String,
    /// The approving session's row id.
    pub session_id: Option<String>,
    pub scopes: Vec<String>,
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    pub sid: String,
}

/// The answer to a device's poll (RFC 8628 3.5).
#[derive(Debug)]
pub enum Poll {
    /// Not decided yet: poll again after the interval.
    Pending,
    /// Polled before the interval was over: it is now `interval` seconds.
    SlowDown {
        interval: i32,
    },
    Denied,
    Expired,
    /// Unknown, another client's, or already used.
    Invalid,
    /// Approved, and now used by this poll: issue the tokens.
    Approved(Box<Approved>),
}

/// A device polls with its device code. An approved authorization is spent by one
/// conditional UPDATE (`approved` → `used`): of parallel polls on any nodes, exactly one
/// gets the tokens. A pending one records the poll, or raises the interval by
/// [`SLOW_DOWN_STEP`] when the device came back too early.
pub async fn poll(db: &Db, device_code: &str, client_id: &str, now: i64) -> Result<Poll, DomainError> {
    let hash = crypto::token_hash(device_code);
    let Some(found) = row::Entity::find().filter(row::Column::DeviceCodeHash.eq(&hash)).one(db).await? else {
        return Ok(Poll::Invalid);
    };
    let status = Status::parse(&found.status);
    if found.client_id != client_id || status == Some(Status::Used) {
        return Ok(Poll::Invalid);
    }
    if found.expires_at <= now {
        return Ok(Poll::Expired);
    }
    match status {
        Some(Status::Pending) => pending_poll(db, &found, now).await,
        Some(Status::Denied) => Ok(Poll::Denied),
        Some(Status::Approved) => {
            let used = row::Entity::update_many()
                .col_expr(row::Column::Status, Expr::val(Status::Used.as_str()))
                .col_expr(row::Column::LastPolledAt, Expr::val(now))
                .filter(row::Column::Id.eq(&found.id))
                .filter(row::Column::Status.eq(Status::Approved.as_str()))
                .exec(db)
                .await?;
            if used.rows_affected != 1 {
                return Ok(Poll::Invalid);
            }
            Ok(approved(found).map_or(Poll::Invalid, |approved| Poll::Approved(Box::new(approved))))
        }
        Some(Status::Used) | None => Ok(Poll::Invalid),
    }
}

/// A poll of a pending authorization: on time, it is recorded; too early (or racing
/// another poll), the interval grows and the poll counts as the last one.
async fn pending_poll(db: &Db, found: &row::Model, now: i64) -> Result<Poll, DomainError> {
    let on_time = Expr::col(row::Column::LastPolledAt)
        .is_null()
        .or(Expr::col(row::Column::LastPolledAt).add(Expr::col(row::Column::PollInterval)).lte(now));
    let recorded = row::Entity::update_many()
        .col_expr(row::Column::LastPolledAt, Expr::val(now))
        .filter(row::Column::Id.eq(&found.id))
        .filter(on_time)
        .exec(db)
        .await?;
    if recorded.rows_affected == 1 {
        return Ok(Poll::Pending);
    }
    row::Entity::update_many()
        .col_expr(row::Column::PollInterval, Expr::col(row::Column::PollInterval).add(SLOW_DOWN_STEP))
        .col_expr(row::Column::LastPolledAt, Expr::val(now))
        .filter(row::Column::Id.eq(&found.id))
        .exec(db)
        .await?;
    let interval = row::Entity::find_by_id(found.id.clone())
        .one(db)
        .await?
        .map_or(found.poll_interval + SLOW_DOWN_STEP, |row| row.poll_interval);
    Ok(Poll::SlowDown { interval })
}

/// The facts of an approved row; `None` if a column the approval writes is missing.
fn approved(row: row::Model) -> Option<Approved> {
    Some(Approved {
        scopes: row.scope.split_whitespace().map(str::to_string).collect(),
        grant_id: row.device_code_hash,
        account_id: row.account_id?,
        session_id: row.session_id,
        auth_time: row.auth_time?,
        amr: from_json_text(row.amr.as_deref()?),
        acr: row.acr?,
        sid: row.sid?,
    })
}

/// Deletes the authorizations that have expired, whatever became of them (janitor).
pub async fn sweep(db: &Db, now: i64) -> Result<u64, DomainError> {
    Ok(row::Entity::delete_many().filter(row::Column::ExpiresAt.lte(now)).exec(db).await?.rows_affected)
}

#[cfg(test)]
mod tests;
