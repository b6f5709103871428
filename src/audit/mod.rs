//! The audit trail of security decisions: logins, failures, lockouts, code reuse,
//! administrative changes. Writing it never fails the request that caused it, and it
//! never holds a secret. Reading it for people: `listing` (filters, pages, names),
//! `wording` (each code's kind and sentence), `csv` (the export).

pub mod csv;
pub mod listing;
pub mod wording;

pub use listing::{Entry, Filter, Listing, list};
pub use wording::Kind;

use sea_orm::{ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set};
use serde_json::Value;

use crate::storage::{Db, entities::audit_event};

#[derive(Default)]
pub struct AuditEvent<'a> {
    pub event: &'a str,
    pub account_id: Option<&'a str>,
    pub client_id: Option<&'a str>,
    pub ip: Option<&'a str>,
    pub detail: Option<Value>,
}

pub async fn record(db: &Db, now: i64, event: AuditEvent<'_>) {
    tracing::info!(
        target: "sesame::audit",
        event = event.event,
        account_id = event.account_id,
        client_id = event.client_id,
        ip = event.ip,
        detail = %event.detail.as_ref().map(|d| d.to_string()).unwrap_or_default(),
    );
    let row = audit_event::ActiveModel {
        id: NotSet,
        at: Set(now),
        event: Set(event.event.to_string()),
        account_id: Set(event.account_id.map(str::to_string)),
        client_id: Set(event.client_id.map(str::to_string)),
        ip: Set(event.ip.map(str::to_string)),
        detail: Set(event.detail.unwrap_or(Value::Object(Default::default())).to_string()),
    };
    if let Err(error) = row.insert(db).await {
        tracing::error!(%error, "could not write an audit event");
    }
}

/// The account's latest events as recorded, newest first (code, not words: for
/// programs and tests; people read [`list`]): when (UTC), what, and the details (never
/// a secret: none is ever recorded).
pub async fn recent_for_account(db: &Db, account_id: &str, limit: u64) -> Result<Vec<Value>, sea_orm::DbErr> {
    let rows = listing::select(db, &Filter::for_account(account_id), None, limit).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            serde_json::json!({
                "at": utc(row.at),
                "event": row.event,
                "ip": row.ip,
                "detail": if row.detail == "{}" { String::new() } else { row.detail },
            })
        })
        .collect())
}

/// `2026-11-28 17:09 UTC`.
pub fn utc(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            format!("{}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => unix.to_string(),
    }
}
