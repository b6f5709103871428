//! The guessing budgets of user codes (RFC 8628 5.1): a person types on the
//! verification page the code their device shows, and whoever guesses a live code can
//! approve a stranger's device for their own account. User codes are short (8 letters
//! of 20), so guessing is limited twice, in the database (`throttle`, reserve before
//! check: parallel guesses count):
//! - per source (an address; IPv6: its /64), `device_authorization.max_failures_per_source`
//!   wrong codes, then waits that double up to an hour;
//! - for all sources together, `device_authorization.max_failures_per_minute` wrong
//!   codes in each minute, so that many addresses do not add up to many guesses.
//!
//! A right code gives its reservation back instead of clearing the budget as a right
//! password does: anyone can start a device authorization and type its code, and that
//! must not buy them more guesses at other people's codes.

use super::throttle::{self, Gate, Key, Policy};
use crate::config::DeviceAuthorizationConfig;
use crate::domain::DomainError;
use crate::rate_limit::source_of;
use crate::storage::Db;

/// The subject of every user-code budget (an administrator's unlock names it).
pub const SUBJECT: &str = "user_code";
/// Length of the shared window, in seconds.
const WINDOW: i64 = 60;

/// The budgets one attempt from `ip` spends at `now`.
pub struct Budgets {
    source: Key,
    everyone: Key,
}

impl Budgets {
    pub fn new(ip: Option<&str>, now: i64) -> Self {
        Self {
            source: Key::new(format!("{SUBJECT}:ip:{}", source_of(ip)), SUBJECT),
            // One key per minute: a fixed window, which the janitor forgets after a day.
            everyone: Key::new(format!("{SUBJECT}:all:{}", now.div_euclid(WINDOW)), SUBJECT),
        }
    }
}

fn per_source(config: &DeviceAuthorizationConfig) -> Policy {
    Policy { free: config.max_failures_per_source, first_wait: 60, max_wait: 3600, hard_limit: None }
}

fn per_window(config: &DeviceAuthorizationConfig) -> Policy {
    Policy { free: config.max_failures_per_minute, first_wait: WINDOW, max_wait: WINDOW, hard_limit: None }
}

/// Reserves one guess of both budgets before a code is looked up; closed (with the
/// time it opens again) when either is spent. The shared budget is looked at first and
/// spent only once the source's lets the guess through, and the source's reservation is
/// given back when the shared one refuses, so that every refused guess is counted in
/// `attempts` only and every checked one in `failures` of both.
pub async fn reserve(
    db: &Db,
    budgets: &Budgets,
    config: &DeviceAuthorizationConfig,
    now: i64,
) -> Result<Gate, DomainError> {
    let shared = throttle::peek(db, &budgets.everyone, now).await?;
    if !shared.is_open() {
        throttle::count_refused(db, &budgets.source, now).await?;
        throttle::count_refused(db, &budgets.everyone, now).await?;
        return Ok(shared);
    }
    let source = throttle::reserve(db, &budgets.source, &per_source(config), now).await?;
    if !source.is_open() {
        return Ok(source);
    }
    let shared = throttle::reserve(db, &budgets.everyone, &per_window(config), now).await?;
    if !shared.is_open() {
        throttle::refund(db, &budgets.source).await?;
    }
    Ok(shared)
}

/// The guess was a live code: it does not count.
pub async fn refund(db: &Db, budgets: &Budgets) -> Result<(), DomainError> {
    throttle::refund(db, &budgets.source).await?;
    throttle::refund(db, &budgets.everyone).await?;
    Ok(())
}

/// `(attempts, failures)` of the budget of one address and of the shared window at
/// `now` (for administrators and tests).
pub async fn counts(db: &Db, ip: Option<&str>, now: i64) -> Result<((i64, i32), (i64, i32)), DomainError> {
    let budgets = Budgets::new(ip, now);
    let read = |row: Option<crate::storage::entities::throttle::Model>| {
        row.map(|row| (row.attempts, row.failures)).unwrap_or((0, 0))
    };
    Ok((read(throttle::counts(db, &budgets.source).await?), read(throttle::counts(db, &budgets.everyone).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_user_code_budgets_are_per_source_and_per_minute() {
        let a = Budgets::new(Some("192.0.2.7"), 120);
        let b = Budgets::new(Some("2001:db8:1:2:aaaa::1"), 179);
        assert_eq!(a.source.key, "user_code:ip:192.0.2.7");
        assert_eq!(b.source.key, "user_code:ip:2001:db8:1:2::/64");
        assert_eq!(a.everyone, b.everyone, "one shared budget per minute");
        assert_ne!(a.everyone, Budgets::new(Some("192.0.2.7"), 180).everyone, "the next minute has its own");
        assert_eq!(a.source.subject, SUBJECT);
    }
}
