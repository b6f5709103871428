//! Messages to an account's owner: the code that confirms an enrollment, and a notice
//! whenever a second factor is added or removed (so that an owner who did not do it
//! knows at once). Worded in the theme's messages, in the account's language
//! (`Account::locale`), never the language of the page that caused them: the owner
//! reads them later, elsewhere, and someone else may have caused them.

use serde_json::json;

use crate::accounts::Account;
use crate::mail::{Mail, MailError};
use crate::state::AppState;

/// What changed among the account's second factors.
#[derive(Debug, Clone, Copy)]
pub enum FactorChange {
    Added,
    Removed,
    ResetByAdministrator,
    RecoveryCodeUsed,
}

impl FactorChange {
    fn key(self) -> &'static str {
        match self {
            Self::Added => "factor_added",
            Self::Removed => "factor_removed",
            Self::ResetByAdministrator => "factor_reset",
            Self::RecoveryCodeUsed => "recovery_used",
        }
    }
}

fn words(state: &AppState, key: &str, account: &Account, extra: &[(&str, &str)]) -> String {
    let mut text = state
        .theme
        .message(account.locale(), key)
        .replace("{username}", &account.username)
        .replace("{name}", &account.full_name())
        .replace("{issuer}", &state.config.two_factor.issuer_label);
    for (name, value) in extra {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

/// Sends the code confirming a first enrollment; the caller tells the user if it failed.
pub async fn enrollment_code(
    state: &AppState,
    account: &Account,
    email: &str,
    code: &str,
    now: i64,
) -> Result<(), MailError> {
    let minutes = (state.config.two_factor.email_code_ttl / 60).max(1).to_string();
    let mail = Mail {
        to: email.to_string(),
        subject: words(state, "mail_code_subject", account, &[("code", code)]),
        text: words(state, "mail_code_text", account, &[("code", code), ("minutes", &minutes)]),
        purpose: "enrollment_code",
    };
    let sent = state.mailer.send(&mail, now).await;
    if let Err(error) = &sent {
        tracing::warn!(%error, account_id = %account.id, "the enrollment code could not be mailed");
    }
    sent
}

/// Tells the owner a second factor changed. Never fails the action that caused it: a
/// mail server that is down is logged and recorded in the audit trail.
pub async fn factor_changed(state: &AppState, account: &Account, change: FactorChange, now: i64) {
    let Some(email) = &account.email else { return };
    let key = change.key();
    let mail = Mail {
        to: email.clone(),
        subject: words(state, &format!("mail_{key}_subject"), account, &[]),
        text: words(state, &format!("mail_{key}_text"), account, &[]),
        purpose: key,
    };
    if let Err(error) = state.mailer.send(&mail, now).await {
        tracing::warn!(%error, account_id = %account.id, "a second-factor notice could not be mailed");
        let event = crate::audit::AuditEvent {
            event: "mail.failed",
            account_id: Some(&account.id),
            detail: Some(json!({"purpose": key, "error": error.to_string()})),
            ..Default::default()
        };
        crate::audit::record(&state.db, now, event).await;
    }
}
