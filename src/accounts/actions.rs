//! The administrative actions on an account, one function each that the console, the
//! admin API and the CLI all call: the action, its audit record (who, before, after)
//! and the owner's notification, the same whichever door it came through.

use serde_json::{Value, json};

use super::{Account, repository};
use crate::audit::{self, AuditEvent};
use crate::domain::DomainError;
use crate::notify::{self, FactorChange};
use crate::state::AppState;

/// Who acts.
pub enum Actor {
    /// An account administrator (its account id), through the console or the admin API.
    Administrator(String),
    /// Someone at the server's command line (the operating-system user).
    CommandLine(String),
    /// The account's owner, on its security page.
    Owner,
}

impl Actor {
    /// The command-line user running this process.
    pub fn command_line() -> Self {
        Self::CommandLine(std::env::var("USER").unwrap_or_else(|_| "cli".into()))
    }

    fn by(&self) -> String {
        match self {
            Self::Administrator(account_id) => account_id.clone(),
            Self::CommandLine(user) => format!("cli:{user}"),
            Self::Owner => "owner".into(),
        }
    }

    /// The audit event of `action` by this actor: `admin.account.…` or `cli.account.…`.
    fn event(&self, action: Action) -> &'static str {
        match (self, action) {
            (Self::Administrator(_), Action::ResetSecondFactors) => "admin.account.second_factors_reset",
            (Self::Administrator(_), Action::Unlock) => "admin.account.unlocked",
            (Self::Administrator(_), Action::Lock) => "admin.account.locked",
            (Self::CommandLine(_), Action::ResetSecondFactors) => "cli.account.second_factors_reset",
            (Self::CommandLine(_), Action::Unlock) => "cli.account.unlocked",
            (Self::CommandLine(_), Action::Lock) => "cli.account.locked",
            (Self::Administrator(_), Action::SignOutEverywhere) => "admin.account.signed_out_everywhere",
            (Self::CommandLine(_), Action::SignOutEverywhere) => "cli.account.signed_out_everywhere",
            (Self::Owner, Action::SignOutEverywhere) => "account.signed_out_everywhere",
            // The owner's own security actions are recorded by the account page.
            (Self::Owner, Action::ResetSecondFactors) => "account.second_factors_reset",
            (Self::Owner, Action::Unlock) => "account.unlocked",
            (Self::Owner, Action::Lock) => "account.locked",
            (Self::Administrator(_), Action::RemoveSecondFactor) => "admin.account.second_factor_removed",
            (Self::CommandLine(_), Action::RemoveSecondFactor) => "cli.account.second_factor_removed",
            (Self::Owner, Action::RemoveSecondFactor) => "second_factor.removed",
        }
    }
}

#[derive(Clone, Copy)]
enum Action {
    ResetSecondFactors,
    Unlock,
    Lock,
    SignOutEverywhere,
    RemoveSecondFactor,
}

async fn record(state: &AppState, actor: &Actor, action: Action, account: &Account, before: Value, after: Value) {
    let detail = json!({"by": actor.by(), "before": before, "after": after});
    let event = AuditEvent {
        event: actor.event(action),
        account_id: Some(&account.id),
        detail: Some(detail),
        ..Default::default()
    };
    audit::record(&state.db, state.clock.now(), event).await;
}

/// Removes every second factor of the account and reopens enrollment: its next login
/// enrolls anew. The owner is told by mail.
pub async fn reset_second_factors(state: &AppState, actor: &Actor, account: &Account) -> Result<(), DomainError> {
    let now = state.clock.now();
    let before = json!(crate::second_factor::factors_of(&state.db, &account.id).await?);
    crate::second_factor::reset(&state.db, &account.id, now).await?;
    notify::factor_changed(state, account, FactorChange::ResetByAdministrator, now).await;
    record(state, actor, Action::ResetSecondFactors, account, before, json!([])).await;
    Ok(())
}

/// Lifts the password and second-factor locks at once.
pub async fn unlock(state: &AppState, actor: &Actor, account: &Account) -> Result<(), DomainError> {
    let before = repository::locks(&state.db, account, state.clock.now()).await?;
    repository::unlock(&state.db, account).await?;
    record(state, actor, Action::Unlock, account, json!(before), json!({})).await;
    Ok(())
}

/// Locks the account by hand: no sign-in until it is unlocked; its sessions and refresh
/// tokens end.
pub async fn lock(state: &AppState, actor: &Actor, account: &Account) -> Result<(), DomainError> {
    let now = state.clock.now();
    repository::lock(&state.db, &account.id, now).await?;
    record(state, actor, Action::Lock, account, json!({}), json!({"locked_at": now})).await;
    Ok(())
}

/// Signs the account out everywhere (see `oidc::logout::sign_out_everywhere`): every
/// session and every refresh token, offline ones included, end; the account itself
/// stays usable.
pub async fn sign_out_everywhere(state: &AppState, actor: &Actor, account: &Account) -> Result<usize, DomainError> {
    let now = state.clock.now();
    let ended = crate::oidc::logout::sign_out_everywhere(state, &account.id, now).await?;
    record(state, actor, Action::SignOutEverywhere, account, json!({"sessions": ended}), json!({"sessions": 0})).await;
    Ok(ended)
}

/// Removes one second factor of the account (an app, a phone, a passkey); false if it
/// has no such one. The last one of an account that requires two-factor reopens its
/// enrollment. The owner is told by mail.
pub async fn remove_second_factor(
    state: &AppState,
    actor: &Actor,
    account: &Account,
    factor_id: &str,
) -> Result<bool, DomainError> {
    let now = state.clock.now();
    use crate::second_factor::{Removal, Remover};
    let by = match actor {
        Actor::Owner => Remover::Owner,
        Actor::Administrator(_) | Actor::CommandLine(_) => Remover::Administrator,
    };
    let Removal::Removed(removed) = crate::second_factor::remove(&state.db, account, factor_id, by, now).await? else {
        return Ok(false);
    };
    notify::factor_changed(state, account, FactorChange::Removed, now).await;
    record(state, actor, Action::RemoveSecondFactor, account, json!(removed), json!(null)).await;
    Ok(true)
}
