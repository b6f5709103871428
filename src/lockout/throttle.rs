//! Guessing budgets — passwords, second-factor codes, client secrets, mailed codes —
//! counted in the database, so that they hold across nodes and parallel requests.
//!
//! An attempt is *reserved* before the guess is checked: one conditional `UPDATE` counts
//! it and, when it is the `free`-th failure in a row or later, sets the wait before the
//! next one, in the same statement. Twenty parallel guesses therefore cannot all slip
//! under the limit: exactly `free` are let through and checked; the others are refused
//! unchecked (and still counted in `attempts`). A success clears the key. Each further
//! failure doubles the wait, up to `max_wait`; at `hard_limit` failures in a row nothing
//! is let through until an administrator unlocks or the owner succeeds by another way
//! (NIST SP 800-63B 5.2.2: at most 100 consecutive failed attempts).
//!
//! Keys are chosen by the callers (`auth::password_login`, `second_factor`,
//! `oidc::client_auth`) so that a budget belongs to whoever spends it: an identifier *and*
//! the source trying it, not the account alone, so that nobody can lock its owner out.

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter,
    sea_query::{CaseStatement, Expr, ExprTrait, OnConflict},
};

use crate::storage::entities::throttle;

/// `blocked_until` of a key that waits for an administrator (or the owner's success).
const UNTIL_UNLOCKED: i64 = i64::MAX / 4;

/// How many failures a key is allowed and what it waits after them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Failures in a row let through before the first wait.
    pub free: i32,
    /// Seconds of the first wait; each further failure doubles it.
    pub first_wait: i64,
    /// Longest wait, in seconds.
    pub max_wait: i64,
    /// Failures in a row after which nothing is let through any more.
    pub hard_limit: Option<i32>,
}

impl Policy {
    /// The wait that follows the `failures`-th failure in a row: none before `free`,
    /// then `first_wait`, doubling, capped; `None` also past the hard limit (see
    /// [`Policy::locks_after`]).
    pub fn wait_after(&self, failures: i32) -> Option<i64> {
        let free = std::cmp::max(self.free, 1);
        if failures < free {
            return None;
        }
        let doublings = (failures - free).clamp(0, 40) as u32;
        Some(std::cmp::min(
            std::cmp::max(self.first_wait, 1).saturating_mul(1_i64 << doublings),
            std::cmp::max(self.max_wait, 1),
        ))
    }

    /// Whether the `failures`-th failure in a row reaches the hard limit.
    pub fn locks_after(&self, failures: i32) -> bool {
        self.hard_limit.is_some_and(|limit| failures >= limit)
    }

    /// `blocked_until` once one more failure is counted, as SQL over the current row: a
    /// ladder of `CASE` arms, one per doubling, so the database computes it atomically.
    fn blocked_until_after_one_more(&self, now: i64) -> Expr {
        let next = || stored(throttle::Column::Failures).add(1);
        let mut ladder = CaseStatement::new();
        if let Some(limit) = self.hard_limit {
            ladder = ladder.case(next().gte(limit), Expr::val(UNTIL_UNLOCKED));
        }
        let free = std::cmp::max(self.free, 1);
        ladder = ladder.case(next().lt(free), stored(throttle::Column::BlockedUntil));
        let mut failures = free;
        while let Some(wait) = self.wait_after(failures) {
            if wait >= std::cmp::max(self.max_wait, 1) {
                break;
            }
            ladder = ladder.case(next().lte(failures), Expr::val(now + wait));
            failures += 1;
        }
        ladder.finally(Expr::val(now + std::cmp::max(self.max_wait, 1))).into()
    }

    /// `blocked_until` of a key's first failure: what the ladder gives over a new row.
    fn blocked_until_after_first(&self, now: i64) -> Option<i64> {
        if self.locks_after(1) {
            return Some(UNTIL_UNLOCKED);
        }
        self.wait_after(1).map(|wait| now + wait)
    }
}

/// A column of the stored row, named with its table: in an upsert's `DO UPDATE`,
/// PostgreSQL would find an unqualified name ambiguous (the stored row or `excluded`).
fn stored(column: throttle::Column) -> Expr {
    Expr::col((throttle::Entity, column))
}

/// Whether the stored row lets an attempt through now (no wait holds).
fn open_now(now: i64) -> Expr {
    stored(throttle::Column::BlockedUntil).is_null().or(stored(throttle::Column::BlockedUntil).lte(now))
}

/// A budget: what is limited, and whose it is (an unlock clears a whole subject).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub key: String,
    pub subject: String,
}

impl Key {
    pub fn new(key: impl Into<String>, subject: impl Into<String>) -> Self {
        Self { key: key.into(), subject: subject.into() }
    }
}

/// Whether an attempt may be checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// Refused until `until` (a Unix time; far away when only an unlock reopens it).
    Closed {
        until: i64,
    },
}

impl Gate {
    pub fn is_open(self) -> bool {
        self == Gate::Open
    }

    /// Seconds to wait, when closed; `None` when open.
    pub fn retry_after(self, now: i64) -> Option<i64> {
        match self {
            Gate::Open => None,
            Gate::Closed { until } => Some(std::cmp::max(until - now, 1)),
        }
    }

    /// Closed until an administrator unlocks (or the owner succeeds another way).
    pub fn needs_unlock(self) -> bool {
        matches!(self, Gate::Closed { until } if until >= UNTIL_UNLOCKED)
    }
}

/// Counts one more failure, atomically, with the wait it earns; when `only_if_open`, only
/// if the key is not waiting (a reservation). Whether it was counted. One statement: the
/// key's first failure inserts its row, a later one updates it (`ON CONFLICT … DO
/// UPDATE … WHERE`), so parallel attempts are counted one after the other by the database.
async fn add_failure(
    db: &impl ConnectionTrait,
    key: &Key,
    policy: &Policy,
    now: i64,
    only_if_open: bool,
) -> Result<bool, DbErr> {
    let first = throttle::ActiveModel {
        key: Set(key.key.clone()),
        subject: Set(key.subject.clone()),
        attempts: Set(1),
        failures: Set(1),
        blocked_until: Set(policy.blocked_until_after_first(now)),
        updated_at: Set(now),
    };
    let mut on_conflict = OnConflict::column(throttle::Column::Key);
    on_conflict.values([
        (throttle::Column::BlockedUntil, policy.blocked_until_after_one_more(now)),
        (throttle::Column::Attempts, stored(throttle::Column::Attempts).add(1)),
        (throttle::Column::Failures, stored(throttle::Column::Failures).add(1)),
        (throttle::Column::UpdatedAt, Expr::val(now)),
    ]);
    if only_if_open {
        on_conflict.action_and_where(open_now(now));
    }
    let counted =
        throttle::Entity::insert(first).on_conflict(on_conflict.to_owned()).exec_without_returning(db).await?;
    Ok(counted == 1)
}

/// Reserves one attempt before the guess is checked: counted as a failure now (a
/// success clears it) and let through only if the key is not waiting. Refused attempts
/// are counted in `attempts` only.
pub async fn reserve(db: &impl ConnectionTrait, key: &Key, policy: &Policy, now: i64) -> Result<Gate, DbErr> {
    if add_failure(db, key, policy, now, true).await? {
        return Ok(Gate::Open);
    }
    count_refused(db, key, now).await?;
    peek(db, key, now).await
}

/// Counts a failure that happened elsewhere (a push request denied on the phone, a
/// wrong client secret checked without a reservation); the gate it leaves.
pub async fn record_failure(db: &impl ConnectionTrait, key: &Key, policy: &Policy, now: i64) -> Result<Gate, DbErr> {
    add_failure(db, key, policy, now, false).await?;
    peek(db, key, now).await
}

/// Counts an attempt refused without looking at the database (a node that already knew
/// the key waits): `attempts` only.
pub async fn count_refused(db: &impl ConnectionTrait, key: &Key, now: i64) -> Result<(), DbErr> {
    throttle::Entity::update_many()
        .col_expr(throttle::Column::Attempts, Expr::col(throttle::Column::Attempts).add(1))
        .col_expr(throttle::Column::UpdatedAt, Expr::val(now))
        .filter(throttle::Column::Key.eq(&key.key))
        .exec(db)
        .await?;
    Ok(())
}

/// The key's gate now, without counting anything.
pub async fn peek(db: &impl ConnectionTrait, key: &Key, now: i64) -> Result<Gate, DbErr> {
    let row = throttle::Entity::find_by_id(key.key.clone()).one(db).await?;
    Ok(match row.and_then(|row| row.blocked_until).filter(|until| *until > now) {
        Some(until) => Gate::Closed { until },
        None => Gate::Open,
    })
}

/// The stored counts of a key (for the console, the API and tests).
pub async fn counts(db: &impl ConnectionTrait, key: &Key) -> Result<Option<throttle::Model>, DbErr> {
    throttle::Entity::find_by_id(key.key.clone()).one(db).await
}

/// After a success: the budget is whole again.
pub async fn clear(db: &impl ConnectionTrait, key: &Key) -> Result<(), DbErr> {
    throttle::Entity::delete_by_id(key.key.clone()).exec(db).await?;
    Ok(())
}

/// After a success: these budgets are whole again, in one statement.
pub async fn clear_all(db: &impl ConnectionTrait, keys: &[&Key]) -> Result<(), DbErr> {
    let keys: Vec<&str> = keys.iter().map(|key| key.key.as_str()).collect();
    throttle::Entity::delete_many().filter(throttle::Column::Key.is_in(keys)).exec(db).await?;
    Ok(())
}

/// After a success that must not clear the budget: the reservation of this attempt is
/// given back — one failure less, and the wait it set, if any, lifted. For guesses
/// where anyone can make a success of their own (the user code of a device
/// authorization they started), so that successes never buy guesses.
///
/// Lifting the wait restores the state before the reservation: a reservation is let
/// through only while no wait holds, and while the wait it set holds no other one is
/// let through to set another.
pub async fn refund(db: &impl ConnectionTrait, key: &Key) -> Result<(), DbErr> {
    throttle::Entity::update_many()
        .col_expr(throttle::Column::Failures, Expr::col(throttle::Column::Failures).sub(1))
        .col_expr(throttle::Column::BlockedUntil, Expr::val(Option::<i64>::None))
        .filter(throttle::Column::Key.eq(&key.key))
        .filter(throttle::Column::Failures.gt(0))
        .exec(db)
        .await?;
    Ok(())
}

/// An administrator's unlock: every budget of these subjects is whole again.
pub async fn clear_subjects(db: &impl ConnectionTrait, subjects: &[String]) -> Result<u64, DbErr> {
    let result =
        throttle::Entity::delete_many().filter(throttle::Column::Subject.is_in(subjects.to_vec())).exec(db).await?;
    Ok(result.rows_affected)
}

/// Whether a stored `blocked_until` means "until unlocked", for display.
pub fn is_until_unlocked(until: i64) -> bool {
    until >= UNTIL_UNLOCKED
}

/// Forgets budgets that have been quiet for a day and are not waiting (janitor).
pub async fn sweep(db: &impl ConnectionTrait, now: i64) -> Result<u64, DbErr> {
    let quiet =
        Expr::col(throttle::Column::BlockedUntil).is_null().or(Expr::col(throttle::Column::BlockedUntil).lte(now));
    let result = throttle::Entity::delete_many()
        .filter(throttle::Column::UpdatedAt.lte(now - 86_400))
        .filter(quiet)
        .exec(db)
        .await?;
    Ok(result.rows_affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy { free: 5, first_wait: 300, max_wait: 3600, hard_limit: Some(100) };

    #[test]
    fn waits_double_from_the_free_budget_up_to_the_cap() {
        assert_eq!(POLICY.wait_after(4), None);
        assert_eq!(POLICY.wait_after(5), Some(300));
        assert_eq!(POLICY.wait_after(6), Some(600));
        assert_eq!(POLICY.wait_after(8), Some(2400));
        assert_eq!(POLICY.wait_after(9), Some(3600));
        assert_eq!(POLICY.wait_after(60), Some(3600));
        assert!(!POLICY.locks_after(99));
        assert!(POLICY.locks_after(100));
    }

    #[test]
    fn closed_gates_say_how_long() {
        assert_eq!(Gate::Closed { until: 160 }.retry_after(100), Some(60));
        assert_eq!(Gate::Open.retry_after(100), None);
        assert!(Gate::Closed { until: UNTIL_UNLOCKED }.needs_unlock());
        assert!(!Gate::Closed { until: 160 }.needs_unlock());
    }
}
