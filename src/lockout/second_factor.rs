//! The second factor's guessing budget: one per account, shared by every method.

use sea_orm::ConnectionTrait;

use super::throttle::{self, Gate, Key, Policy};
use crate::config::TwoFactorConfig;
use crate::domain::DomainError;
use crate::storage::Db;

/// The second factor's guessing budget of an account. Every method spends it — codes
/// from apps, recovery codes, texted and mailed codes (enrollment confirmations
/// included), push requests refused on the phone — so asking for a new code, or trying
/// another method, never buys more guesses. See `throttle`.
fn budget(account_id: &str) -> Key {
    Key::new(format!("factor:{account_id}"), format!("account:{account_id}"))
}

fn budget_policy(config: &TwoFactorConfig) -> Policy {
    Policy {
        free: config.max_failures,
        first_wait: config.lockout_seconds,
        max_wait: 86_400,
        hard_limit: Some(config.max_consecutive_failures),
    }
}

/// Reserves one guess before a code is checked (counted as a failure until
/// `clear_failures`); closed while the second factor is locked.
pub async fn reserve_guess(db: &Db, account_id: &str, config: &TwoFactorConfig, now: i64) -> Result<Gate, DomainError> {
    Ok(throttle::reserve(db, &budget(account_id), &budget_policy(config), now).await?)
}

/// Counts a failure decided elsewhere (a push request denied or answered with the
/// wrong number on the phone); the gate it leaves.
pub async fn record_failure(
    db: &Db,
    account_id: &str,
    config: &TwoFactorConfig,
    now: i64,
) -> Result<Gate, DomainError> {
    Ok(throttle::record_failure(db, &budget(account_id), &budget_policy(config), now).await?)
}

/// Until when the second factor is locked, if it is.
pub async fn locked_until(db: &Db, account_id: &str, now: i64) -> Result<Option<i64>, DomainError> {
    Ok(match throttle::peek(db, &budget(account_id), now).await? {
        Gate::Closed { until } => Some(until),
        Gate::Open => None,
    })
}

/// The account's second-factor budget as counted: attempts (refused ones included) and
/// failures in a row (for the console, the API and tests).
pub async fn guess_counts(db: &Db, account_id: &str) -> Result<(i64, i32), DomainError> {
    let row = throttle::counts(db, &budget(account_id)).await?;
    Ok(row.map(|row| (row.attempts, row.failures)).unwrap_or((0, 0)))
}

/// After a correct code: the budget is whole again.
pub async fn clear_failures(db: &Db, account_id: &str) -> Result<(), DomainError> {
    Ok(throttle::clear(db, &budget(account_id)).await?)
}

/// An administrator's unlock: the second factor's budget and its mailed codes' waits.
pub async fn unlock(db: &impl ConnectionTrait, account_id: &str) -> Result<(), DomainError> {
    throttle::clear_subjects(db, &[format!("account:{account_id}")]).await?;
    Ok(())
}
