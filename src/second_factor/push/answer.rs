//! Answering a push challenge, in one place: on the device (number matching, a refusal
//! counted against the second factor's budget, "it wasn't me" locking push) and on the
//! login's side (an approved challenge proves the second factor once).

use serde_json::json;

use super::{Device, State, challenge, challenge_of_login, lock, state_of, transition};
use crate::accounts::Account;
use crate::audit::{self, AuditEvent};
use crate::config::{PushConfig, TwoFactorConfig};
use crate::crypto::constant_time_eq;
use crate::domain::DomainError;
use crate::lockout;
use crate::storage::Db;

/// What the device decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Approve, with the number the user typed.
    Approve(i64),
    Deny,
    /// Deny and report that the user did not try to sign in.
    Fraud,
}

/// What the device's answer is about, as it signed it.
pub struct Answer<'a> {
    pub device: &'a Device,
    pub account: &'a Account,
    pub challenge_id: &'a str,
    pub nonce: &'a str,
    pub decision: Decision,
    /// The device's address, for the audit trail.
    pub ip: Option<&'a str>,
}

/// Why an answer changed nothing.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    UnknownChallenge,
    Expired,
    /// Already answered (or answered by a parallel request a moment ago).
    NotPending,
    InvalidNonce,
}

/// What the rules need.
pub struct Rules<'a> {
    pub push: &'a PushConfig,
    pub two_factor: &'a TwoFactorConfig,
}

/// Records the device's answer: the challenge moves from pending to the decision's state
/// once (compare-and-swap, so two answers cannot both count), a wrong number or a denial
/// spends one guess of the account's second-factor budget (push bombing ends there
/// too), and a fraud report locks push for `push.fraud_lock_seconds`. Returns the state
/// the challenge is now in.
pub async fn answer(
    db: &Db,
    rules: &Rules<'_>,
    answer: Answer<'_>,
    now: i64,
) -> Result<Result<State, Refused>, DomainError> {
    let Some(row) = challenge(db, answer.challenge_id, &answer.account.id).await? else {
        return Ok(Err(Refused::UnknownChallenge));
    };
    match state_of(&row, now) {
        State::Pending => {}
        State::Expired => return Ok(Err(Refused::Expired)),
        _ => return Ok(Err(Refused::NotPending)),
    }
    if !constant_time_eq(answer.nonce.as_bytes(), row.nonce.as_bytes()) {
        return Ok(Err(Refused::InvalidNonce));
    }
    let (to, event) = match answer.decision {
        Decision::Approve(number) if number == i64::from(row.number) => (State::Approved, "push.approved"),
        Decision::Approve(_) => (State::WrongNumber, "push.wrong_number"),
        Decision::Deny => (State::Denied, "push.denied"),
        Decision::Fraud => (State::Fraud, "push.fraud_reported"),
    };
    if !transition(db, &row.id, State::Pending, to, Some(&answer.device.id), now).await? {
        return Ok(Err(Refused::NotPending));
    }
    let detail = json!({"challenge_id": row.id, "device_id": answer.device.id, "application": row.application, "login_ip": row.ip});
    let event = AuditEvent {
        event,
        account_id: Some(&answer.account.id),
        client_id: None,
        ip: answer.ip,
        detail: Some(detail),
    };
    audit::record(db, now, event).await;
    match to {
        State::WrongNumber | State::Denied => {
            lockout::second_factor::record_failure(db, &answer.account.id, rules.two_factor, now).await?;
        }
        State::Fraud => lock(db, &answer.account.id, now + rules.push.fraud_lock_seconds).await?,
        _ => {}
    }
    Ok(Ok(to))
}

/// Where a login's push request stands when the user continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtLogin {
    /// Approved, and now used: the second factor is proven (once).
    Proven,
    /// No request under way (none sent, or already used).
    None,
    /// Still waiting for the phone, or answered otherwise: what it became.
    Not(State),
}

/// Uses the login's approved request, once: a second submission, or a parallel one,
/// finds it used.
pub async fn redeem_for_login(db: &Db, login_id: &str, now: i64) -> Result<AtLogin, DomainError> {
    let Some(row) = challenge_of_login(db, login_id).await? else {
        return Ok(AtLogin::None);
    };
    Ok(match state_of(&row, now) {
        State::Approved => match transition(db, &row.id, State::Approved, State::Used, None, now).await? {
            true => AtLogin::Proven,
            false => AtLogin::None,
        },
        State::Used => AtLogin::None,
        other => AtLogin::Not(other),
    })
}
