//! The audit trail of security decisions: logins, failures, lockouts, code reuse,
//! administrative changes. Writing it never fails the request that caused it, and it
//! never holds a secret.

use sea_orm::{
    ActiveModelTrait, ActiveValue::NotSet, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
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

/// The account's latest security events, newest first, for its administrators: when
/// (UTC), what, and the details (never a secret: none is ever recorded).
pub async fn recent_for_account(db: &Db, account_id: &str, limit: u64) -> Result<Vec<Value>, sea_orm::DbErr> {
    let rows = audit_event::Entity::find()
        .filter(audit_event::Column::AccountId.eq(account_id))
        .order_by_desc(audit_event::Column::Id)
        .limit(limit)
        .all(db)
        .await?;
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
pub(crate) fn utc(unix: i64) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => {
            format!("{}-{:02}-{:02} {:02}:{:02} UTC", t.year(), u8::from(t.month()), t.day(), t.hour(), t.minute())
        }
        Err(_) => unix.to_string(),
    }
}
