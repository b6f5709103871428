//! "It wasn't me": every active administrator with an email address is told at once,
//! each in their own language: which account, which application, when, from which
//! address the sign-in came, and what to do. The owner's report already suspended push
//! approval; the administrators are the ones who can reset the password.
//!
//! Once per report: only the device answer that moved the challenge from pending to
//! fraud (a compare-and-swap in the database, `answer::answer`) starts the alert, so a
//! retried or parallel answer, on this node or another, never mails twice. Sending runs
//! apart from the device's request, which never waits for a mail server.

use serde_json::json;

use crate::accounts::{self, Account};
use crate::audit::{self, AuditEvent};
use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::mail::Mail;
use crate::state::AppState;

/// What the mail says, gathered once for every administrator.
struct Report {
    username: String,
    name: String,
    application: String,
    asked_at: String,
    ip: Option<String>,
    origin: Option<String>,
    locked_until: Option<String>,
    console: String,
}

/// Starts the alert of the report of `challenge_id` by the account; returns at once.
pub fn spawn(state: &AppState, account_id: &str, challenge_id: &str, now: i64) {
    let (state, account_id, challenge_id) = (state.clone(), account_id.to_string(), challenge_id.to_string());
    tokio::spawn(async move {
        if let Err(error) = alert(&state, &account_id, &challenge_id, now).await {
            tracing::error!(%error, %challenge_id, "the administrators could not be told of a fraud report");
        }
    });
}

async fn alert(state: &AppState, account_id: &str, challenge_id: &str, now: i64) -> Result<(), DomainError> {
    let Some(challenge) = super::challenge(&state.db, challenge_id, account_id).await? else { return Ok(()) };
    let Some(account) = accounts::find_by_id(&state.db, account_id).await? else { return Ok(()) };
    let report = Report {
        username: account.username.clone(),
        name: account.full_name(),
        application: challenge.application,
        asked_at: audit::utc(challenge.created_at),
        ip: challenge.ip,
        origin: challenge.origin,
        locked_until: account.push_locked_until.map(audit::utc),
        console: format!("{}/admin/accounts/{}", state.config.issuer(), urlencode(&account.username)),
    };
    let mut told = 0;
    for admin in accounts::administrators_with_email(&state.db).await? {
        if tell(state, &admin, &report, now).await {
            told += 1;
        }
    }
    let detail = json!({"challenge_id": challenge_id, "administrators": told});
    let event = AuditEvent {
        event: "push.fraud_alerted",
        account_id: Some(account_id),
        detail: Some(detail),
        ..Default::default()
    };
    audit::record(&state.db, now, event).await;
    Ok(())
}

/// Mails one administrator; a failure is logged and recorded, and the others are still
/// told. Whether the mail left.
async fn tell(state: &AppState, admin: &Account, report: &Report, now: i64) -> bool {
    let Some(to) = &admin.email else { return false };
    let locale = admin.locale();
    let mail = Mail {
        to: to.clone(),
        subject: words(state, locale, "mail_push_fraud_subject", admin, report),
        text: words(state, locale, "mail_push_fraud_text", admin, report),
        purpose: "push_fraud_reported",
    };
    match state.mailer.send(&mail, now).await {
        Ok(()) => true,
        Err(error) => {
            tracing::warn!(%error, admin_id = %admin.id, "a fraud alert could not be mailed");
            let detail = json!({"purpose": mail.purpose, "error": error.to_string()});
            let event = AuditEvent {
                event: "mail.failed",
                account_id: Some(&admin.id),
                detail: Some(detail),
                ..Default::default()
            };
            audit::record(&state.db, now, event).await;
            false
        }
    }
}

fn words(state: &AppState, locale: Locale, key: &str, admin: &Account, report: &Report) -> String {
    let unknown = state.theme.message(locale, "mail_push_fraud_unknown");
    fill(&state.theme.message(locale, key), &state.config.two_factor.issuer_label, &admin.full_name(), report, &unknown)
}

/// The message with its placeholders replaced; what is not known reads `unknown`.
fn fill(template: &str, issuer: &str, admin_name: &str, report: &Report, unknown: &str) -> String {
    let or_unknown = |value: &Option<String>| value.clone().unwrap_or_else(|| unknown.to_string());
    [
        ("{issuer}", issuer.to_string()),
        ("{admin}", admin_name.to_string()),
        ("{username}", report.username.clone()),
        ("{name}", report.name.clone()),
        ("{application}", report.application.clone()),
        ("{time}", report.asked_at.clone()),
        ("{ip}", or_unknown(&report.ip)),
        ("{origin}", or_unknown(&report.origin)),
        ("{until}", or_unknown(&report.locked_until)),
        ("{console}", report.console.clone()),
    ]
    .iter()
    .fold(template.to_string(), |text, (name, value)| text.replace(name, value))
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(ip: Option<&str>) -> Report {
        Report {
            username: "pauline".into(),
            name: "Pauline Martin".into(),
            application: "iNot Actes".into(),
            asked_at: "2026-12-01 09:30 UTC".into(),
            ip: ip.map(str::to_string),
            origin: ip.map(crate::second_factor::push::approximate_origin),
            locked_until: Some("2026-12-01 10:30 UTC".into()),
            console: "https://sesame.example/admin/accounts/pauline".into(),
        }
    }

    #[test]
    fn every_fact_is_in_the_mail() {
        let template = "{issuer} {admin}: {name} ({username}) {application} {time} {ip} {origin} {until} {console}";
        let text = fill(template, "Sésame", "Sonia Ait", &report(Some("192.0.2.7")), "unknown");
        assert_eq!(
            text,
            "Sésame Sonia Ait: Pauline Martin (pauline) iNot Actes 2026-12-01 09:30 UTC 192.0.2.7 192.0.2.0/24 \
             2026-12-01 10:30 UTC https://sesame.example/admin/accounts/pauline"
        );
    }

    #[test]
    fn an_unknown_address_says_so() {
        let text = fill("from {ip} ({origin})", "S", "A", &report(None), "inconnue");
        assert_eq!(text, "from inconnue (inconnue)");
    }
}
