//! One-time codes sent to the account (by mail today; by SMS later): six digits from the
//! OS generator, stored as a keyed hash, valid for a few minutes, a few attempts, once.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::crypto;
use crate::domain::DomainError;
use crate::lockout::throttle::{self, Gate, Key, Policy};
use crate::storage::{Db, entities::one_time_code};

/// Wrong attempts a code survives.
pub const MAX_ATTEMPTS: i32 = 5;

/// What a code is for: a code for one purpose never works for another.
pub const ENROLLMENT_EMAIL: &str = "enrollment_email";

#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Accepted,
    /// Wrong code; this many attempts are left.
    Wrong {
        attempts_left: i32,
    },
    /// No live code: expired, used, out of attempts, or never sent.
    NeedNew,
}

fn hash(key: &[u8], id: &str, code: &str) -> String {
    crypto::keyed_hash(key, "one-time-code", format!("{id}:{code}").as_bytes())
}

/// Six decimal digits, uniform (rejection sampling: no modulo bias).
fn six_digits() -> String {
    loop {
        let value = u32::from_be_bytes(crypto::random_bytes::<4>());
        // 4_294_000_000 is the largest multiple of 1_000_000 below 2^32.
        if value < 4_294_000_000 {
            return format!("{:06}", value % 1_000_000);
        }
    }
}

/// A code just issued: the code to send, and its row, to withdraw it if sending fails.
pub struct Issued {
    pub id: String,
    pub code: String,
}

/// Issues a new code for the purpose, replacing any earlier one; returns it to send.
pub async fn issue(
    db: &Db,
    key: &[u8],
    account_id: &str,
    purpose: &str,
    ttl: i64,
    now: i64,
) -> Result<Issued, DomainError> {
    one_time_code::Entity::delete_many()
        .filter(one_time_code::Column::AccountId.eq(account_id))
        .filter(one_time_code::Column::Purpose.eq(purpose))
        .exec(db)
        .await?;
    let id = crypto::random_id();
    let code = six_digits();
    one_time_code::ActiveModel {
        code_hash: Set(hash(key, &id, &code)),
        id: Set(id.clone()),
        account_id: Set(account_id.to_string()),
        purpose: Set(purpose.to_string()),
        attempts: Set(0),
        created_at: Set(now),
        expires_at: Set(now + ttl),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    Ok(Issued { id, code })
}

/// The budget of codes mailed for one purpose: one may go now, the next after
/// `first_wait`, each further one in a row after twice the wait before (up to an
/// hour), whatever became of the previous code. A correct code resets it.
fn send_budget(account_id: &str, purpose: &str) -> Key {
    Key::new(format!("send:{purpose}:{account_id}"), format!("account:{account_id}"))
}

/// Takes the right to send a new code now, if the waits allow it.
pub async fn may_send(
    db: &Db,
    account_id: &str,
    purpose: &str,
    first_wait: i64,
    now: i64,
) -> Result<Gate, DomainError> {
    let policy = Policy { free: 1, first_wait, max_wait: 3600, hard_limit: None };
    Ok(throttle::reserve(db, &send_budget(account_id, purpose), &policy, now).await?)
}

/// After a correct code: the next code may go at once.
pub async fn clear_sends(db: &Db, account_id: &str, purpose: &str) -> Result<(), DomainError> {
    Ok(throttle::clear(db, &send_budget(account_id, purpose)).await?)
}

/// A code whose mail could not go out: withdrawn, and its send given back, so that the
/// next try may go at once and nobody is told that a code was sent a moment ago.
/// Only that code: when a newer one replaced it meanwhile (a slow mail that failed
/// after the resend wait), the newer code stays and so does the wait its send set.
/// The code goes and the send comes back in one transaction: a node stopped between the
/// two would otherwise leave the wait without the code.
pub async fn withdraw(db: &Db, account_id: &str, purpose: &str, issued: &Issued) -> Result<(), DomainError> {
    let transaction = db.begin().await?;
    let deleted = one_time_code::Entity::delete_many()
        .filter(one_time_code::Column::Id.eq(&issued.id))
        .filter(one_time_code::Column::AccountId.eq(account_id))
        .filter(one_time_code::Column::Purpose.eq(purpose))
        .exec(&transaction)
        .await?;
    if deleted.rows_affected == 1 {
        throttle::refund(&transaction, &send_budget(account_id, purpose)).await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// When the live code for the purpose was sent, if there is one.
pub async fn sent_at(db: &Db, account_id: &str, purpose: &str, now: i64) -> Result<Option<i64>, DomainError> {
    Ok(live(db, account_id, purpose, now).await?.map(|row| row.created_at))
}

async fn live(db: &Db, account_id: &str, purpose: &str, now: i64) -> Result<Option<one_time_code::Model>, DomainError> {
    Ok(one_time_code::Entity::find()
        .filter(one_time_code::Column::AccountId.eq(account_id))
        .filter(one_time_code::Column::Purpose.eq(purpose))
        .filter(one_time_code::Column::UsedAt.is_null())
        .filter(one_time_code::Column::ExpiresAt.gt(now))
        .filter(one_time_code::Column::Attempts.lt(MAX_ATTEMPTS))
        .order_by_desc(one_time_code::Column::CreatedAt)
        .one(db)
        .await?)
}

/// Checks a code. The attempt is counted before the comparison and the code is used in
/// one conditional statement, so parallel guesses cannot exceed the limit or reuse it.
pub async fn check(
    db: &Db,
    key: &[u8],
    account_id: &str,
    purpose: &str,
    code: &str,
    now: i64,
) -> Result<CodeCheck, DomainError> {
    let Some(row) = live(db, account_id, purpose, now).await? else {
        return Ok(CodeCheck::NeedNew);
    };
    let counted = one_time_code::Entity::update_many()
        .col_expr(one_time_code::Column::Attempts, Expr::col(one_time_code::Column::Attempts).add(1))
        .filter(one_time_code::Column::Id.eq(&row.id))
        .filter(one_time_code::Column::Attempts.lt(MAX_ATTEMPTS))
        .filter(one_time_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    if counted.rows_affected != 1 {
        return Ok(CodeCheck::NeedNew);
    }
    let code: String = code.chars().filter(char::is_ascii_digit).collect();
    if !crypto::constant_time_eq(hash(key, &row.id, &code).as_bytes(), row.code_hash.as_bytes()) {
        return Ok(CodeCheck::Wrong { attempts_left: std::cmp::max(MAX_ATTEMPTS - row.attempts - 1, 0) });
    }
    let used = one_time_code::Entity::update_many()
        .col_expr(one_time_code::Column::UsedAt, Expr::value(now))
        .filter(one_time_code::Column::Id.eq(&row.id))
        .filter(one_time_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(if used.rows_affected == 1 { CodeCheck::Accepted } else { CodeCheck::NeedNew })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{NOW, TestState};

    const WAIT: i64 = 60;

    async fn may_send_at(state: &TestState, account_id: &str, now: i64) -> bool {
        may_send(&state.db, account_id, ENROLLMENT_EMAIL, WAIT, now).await.unwrap().retry_after(now).is_none()
    }

    #[tokio::test]
    async fn a_failed_send_gives_back_its_code_and_its_wait() {
        let state = TestState::open().await;
        let account = state.account("pauline").await.id;
        assert!(may_send_at(&state, &account, NOW).await);
        let issued = issue(&state.db, &state.code_key, &account, ENROLLMENT_EMAIL, 600, NOW).await.unwrap();
        withdraw(&state.db, &account, ENROLLMENT_EMAIL, &issued).await.unwrap();
        assert_eq!(sent_at(&state.db, &account, ENROLLMENT_EMAIL, NOW).await.unwrap(), None);
        assert!(may_send_at(&state, &account, NOW).await, "the next try goes at once");
    }

    #[tokio::test]
    async fn a_send_that_fails_after_a_newer_one_leaves_the_newer_code_and_its_wait() {
        let state = TestState::open().await;
        let account = state.account("pauline").await.id;
        assert!(may_send_at(&state, &account, NOW).await);
        let slow = issue(&state.db, &state.code_key, &account, ENROLLMENT_EMAIL, 600, NOW).await.unwrap();
        // The resend wait passes while the first mail is still on its way; a second goes.
        let later = NOW + WAIT + 1;
        assert!(may_send_at(&state, &account, later).await);
        let newer = issue(&state.db, &state.code_key, &account, ENROLLMENT_EMAIL, 600, later).await.unwrap();
        // Then the first mail fails.
        withdraw(&state.db, &account, ENROLLMENT_EMAIL, &slow).await.unwrap();
        assert_eq!(sent_at(&state.db, &account, ENROLLMENT_EMAIL, later).await.unwrap(), Some(later));
        let checked = check(&state.db, &state.code_key, &account, ENROLLMENT_EMAIL, &newer.code, later).await;
        assert_eq!(checked.unwrap(), CodeCheck::Accepted, "the newer code still works");
        assert!(!may_send_at(&state, &account, later + 1).await, "the newer send's wait stands");
    }

    #[test]
    fn six_digits_keep_leading_zeros() {
        for _ in 0..200 {
            let code = super::six_digits();
            assert_eq!(code.len(), 6);
            assert!(code.chars().all(|c| c.is_ascii_digit()));
        }
    }
}
