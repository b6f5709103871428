//! Identifier and password check, throttled so that guessing is slow and nobody can lock
//! the owner out or learn anything about the account.
//!
//! Budgets (see `throttle`) belong to the identifier *and* who tries it:
//! - a browser that completed a login for the account before (its signed "known
//!   browser" cookie, `auth::known_browser`) has a budget of its own;
//! - any other source has one per address (IPv6: per /64), and all of them together one
//!   more, `login.max_failures_per_account`, after which unknown sources are refused
//!   until the owner signs in from a known browser or an administrator unlocks.
//!
//! Budgets are keyed by a hash of the typed identifier whether an account has it or not,
//! and every refusal — unknown identifier, wrong password, any budget spent — is the same
//! outcome, with the same database work and the time of one password check. Only the
//! right password earns a different answer (archived, locked by an administrator).

use std::time::Duration;

use crate::accounts::{self, Account};
use crate::config::LoginConfig;
use crate::crypto::{
    self,
    password::{Busy, PasswordHasherService},
};
use crate::domain::DomainError;
use crate::lockout::throttle::{self, Gate, Key, Policy};
use crate::rate_limit::source_of;
use crate::storage::Db;
use sea_orm::TransactionTrait;

use crate::auth::known_browser::KnownBrowser;

#[derive(Debug)]
pub enum LoginOutcome {
    Success(Box<Account>),
    /// Unknown identifier, wrong password, or too many attempts: the caller is not told
    /// which. `account_id` is for the audit trail only.
    Refused {
        account_id: Option<String>,
        reason: RefusalReason,
    },
    /// The password was right but the account is archived.
    Archived {
        account_id: String,
    },
    /// The password was right but an administrator locked the account.
    LockedByAdmin {
        account_id: String,
    },
    /// Every password-checking thread is busy: try again in a moment.
    Busy,
}

/// Why a login was refused, for the audit trail (never shown).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalReason {
    WrongPassword,
    UnknownIdentifier,
    /// A budget was spent: the password was not checked.
    Throttled,
    /// The node's per-address limit refused this source again within its minute: the
    /// password was not checked, and the refusal is not recorded (the first one was; a
    /// flood of them would fill the audit trail, a row each).
    Flood,
}

impl RefusalReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::WrongPassword => "wrong_password",
            Self::UnknownIdentifier => "unknown_identifier",
            Self::Throttled => "throttled",
            Self::Flood => "flood",
        }
    }
}

/// Who is trying: the address the request came from and the browser's cookie.
pub struct Source<'a> {
    pub ip: Option<&'a str>,
    pub known: &'a KnownBrowser,
}

/// The budgets a password attempt spends.
enum Budgets {
    /// A browser that signed in to this account before: its own budget.
    Known(Key),
    /// Anyone else: the address's budget, then that of all unknown sources.
    Unknown { source: Key, all_unknown: Key },
}

/// The subject under which every password budget of an identifier is kept: a hash, so
/// that the table stays small whatever is typed, and the same whether or not an account
/// has the identifier.
pub fn subject_of(username: &str) -> String {
    format!("user:{}", crypto::token_hash(&username.trim().to_lowercase()))
}

fn budgets(subject: &str, account: Option<&Account>, source: &Source<'_>) -> Budgets {
    match account.and_then(|account| source.known.nonce_for(&account.id)) {
        Some(nonce) => Budgets::Known(Key::new(format!("password:{subject}:browser:{nonce}"), subject)),
        None => Budgets::Unknown {
            source: Key::new(format!("password:{subject}:ip:{}", source_of(source.ip)), subject),
            all_unknown: all_unknown_key(subject),
        },
    }
}

/// The budget of one source (a known browser, or an address).
fn per_source(config: &LoginConfig) -> Policy {
    Policy {
        free: config.max_failures,
        first_wait: config.lockout_seconds,
        max_wait: config.max_lockout_seconds,
        hard_limit: Some(config.max_failures_per_account),
    }
}

/// The budget of every unknown source together: waits after it is spent, and refuses
/// at the hard limit.
fn all_unknown(config: &LoginConfig) -> Policy {
    Policy {
        free: config.max_failures_per_account,
        first_wait: config.lockout_seconds,
        max_wait: config.max_lockout_seconds,
        hard_limit: Some(config.max_failures_per_account),
    }
}

/// Spends one attempt of every budget in turn; the budget of all unknown sources is
/// looked at first and only spent once the address's own lets the attempt through, so
/// that one blocked address cannot drain it.
async fn spend(db: &Db, budgets: &Budgets, config: &LoginConfig, now: i64) -> Result<Gate, DomainError> {
    Ok(match budgets {
        Budgets::Known(key) => throttle::reserve(db, key, &per_source(config), now).await?,
        Budgets::Unknown { source, all_unknown: all } => {
            let shared = throttle::peek(db, all, now).await?;
            if !shared.is_open() {
                return Ok(shared);
            }
            match throttle::reserve(db, source, &per_source(config), now).await? {
                Gate::Open => throttle::reserve(db, all, &all_unknown(config), now).await?,
                closed => closed,
            }
        }
    })
}

/// After the right password: the budgets spent are whole again, and so is that of all
/// unknown sources (failures are counted in a row: NIST SP 800-63B 5.2.2).
async fn clear(db: &Db, subject: &str, budgets: &Budgets) -> Result<(), DomainError> {
    match budgets {
        Budgets::Known(key) => throttle::clear_all(db, &[key, &all_unknown_key(subject)]).await?,
        Budgets::Unknown { source, all_unknown } => throttle::clear_all(db, &[source, all_unknown]).await?,
    }
    Ok(())
}

/// Every hashing thread was busy, so the password was not checked: the attempt gives
/// back what `spend` reserved, in one transaction. Otherwise a flood that keeps the
/// hashing threads busy would spend the budgets of the owner's retries, up to the wait
/// for an administrator. Known identifier or not, the same statements.
async fn give_back(db: &Db, budgets: &Budgets) -> Result<LoginOutcome, DomainError> {
    let transaction = db.begin().await?;
    match budgets {
        Budgets::Known(key) => throttle::refund(&transaction, key).await?,
        Budgets::Unknown { source, all_unknown } => {
            throttle::refund(&transaction, source).await?;
            throttle::refund(&transaction, all_unknown).await?;
        }
    }
    transaction.commit().await?;
    Ok(LoginOutcome::Busy)
}

fn all_unknown_key(subject: &str) -> Key {
    Key::new(format!("password:{subject}:unknown"), subject)
}

pub async fn verify_password(
    db: &Db,
    hasher: &PasswordHasherService,
    config: &LoginConfig,
    username: &str,
    password: &str,
    source: &Source<'_>,
    now: i64,
) -> Result<LoginOutcome, DomainError> {
    let subject = subject_of(username);
    let account = accounts::find_by_username(db, username).await?;
    let budgets = budgets(&subject, account.as_ref(), source);
    let account_id = account.as_ref().map(|account| account.id.clone());
    if !spend(db, &budgets, config, now).await?.is_open() {
        // Take the time a check would have taken: a spent budget looks like a wrong password.
        tokio::time::sleep(hasher.typical_duration().max(Duration::from_millis(1))).await;
        return Ok(LoginOutcome::Refused { account_id, reason: RefusalReason::Throttled });
    }
    let Some(account) = account else {
        return Ok(match hasher.verify_dummy(password).await {
            Ok(()) => LoginOutcome::Refused { account_id: None, reason: RefusalReason::UnknownIdentifier },
            Err(Busy) => give_back(db, &budgets).await?,
        });
    };
    match hasher.verify(password, &account.password_hash).await {
        Ok(true) => {}
        Ok(false) => return Ok(LoginOutcome::Refused { account_id, reason: RefusalReason::WrongPassword }),
        Err(Busy) => return give_back(db, &budgets).await,
    }
    clear(db, &subject, &budgets).await?;
    if account.archived {
        return Ok(LoginOutcome::Archived { account_id: account.id });
    }
    if account.admin_locked_at.is_some() {
        return Ok(LoginOutcome::LockedByAdmin { account_id: account.id });
    }
    Ok(LoginOutcome::Success(Box::new(account)))
}

/// An administrator's unlock of an account's password: every budget of its identifier.
pub async fn unlock(db: &Db, username: &str) -> Result<u64, DomainError> {
    Ok(throttle::clear_subjects(db, &[subject_of(username)]).await?)
}

/// The counts of the budget of one address for an identifier, and of all unknown
/// sources together: `(attempts, failures)` each (for administrators and tests).
pub async fn counts_for_address(
    db: &Db,
    username: &str,
    ip: Option<&str>,
) -> Result<((i64, i32), (i64, i32)), DomainError> {
    let subject = subject_of(username);
    let no_browser = KnownBrowser::default();
    let Budgets::Unknown { source, all_unknown } = budgets(&subject, None, &Source { ip, known: &no_browser }) else {
        return Ok(((0, 0), (0, 0)));
    };
    let read = |row: Option<crate::storage::entities::throttle::Model>| {
        row.map(|row| (row.attempts, row.failures)).unwrap_or((0, 0))
    };
    Ok((read(throttle::counts(db, &source).await?), read(throttle::counts(db, &all_unknown).await?)))
}

/// Until when unknown browsers wait before trying this identifier again, if they do
/// (shown to administrators; a known browser and other addresses may still try).
pub async fn unknown_sources_blocked_until(db: &Db, username: &str, now: i64) -> Result<Option<i64>, DomainError> {
    let key = all_unknown_key(&subject_of(username));
    Ok(match throttle::peek(db, &key, now).await? {
        Gate::Closed { until } => Some(until),
        Gate::Open => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_mapped_addresses_are_ipv4_sources() {
        assert_eq!(source_of(Some("::ffff:192.0.2.7")), "192.0.2.7");
    }

    #[test]
    fn sources_are_addresses_and_ipv6_subscribers() {
        assert_eq!(source_of(Some("192.0.2.7")), "192.0.2.7");
        assert_eq!(source_of(Some("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(source_of(Some("2001:db8:1:2:bbbb::9")), source_of(Some("2001:db8:1:2:aaaa::1")));
        assert_eq!(source_of(None), "unknown");
    }

    #[test]
    fn identifiers_share_a_subject_whatever_their_case() {
        assert_eq!(subject_of(" Pauline "), subject_of("pauline"));
        assert_ne!(subject_of("pauline"), subject_of("paulina"));
        assert!(subject_of(&"x".repeat(5000)).len() < 60, "bounded whatever is typed");
    }
}
