//! Reading the audit trail for people: a filter (account, kind, dates, address), one
//! bounded page at a time, newest first (keyset pagination by id, never an offset, never
//! every row), each event with its account's and its actor's names and its sentence
//! (`wording`). The console's events page, its CSV export and the account page all
//! read it through [`list`].

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, Func, LikeExpr, Query},
};
use serde::Serialize;
use serde_json::Value;

use super::wording::{self, Facts, Kind};
use crate::domain::DomainError;
use crate::storage::{
    Db,
    entities::{account, audit_event},
};

/// The most rows one read returns (the CSV export's cap).
pub const MAX_ROWS: u64 = 10_000;

/// Ids looked up in one query (well under every database's limit of parameters).
const IDS_PER_QUERY: usize = 500;

/// Which events to read; empty fields select everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exactly this account (the account page).
    pub account_id: Option<String>,
    /// Accounts whose identifier, first or last name contains this (any case), or whose
    /// id it is (an account that no longer exists).
    pub account: Option<String>,
    pub kind: Option<Kind>,
    /// From this time (Unix seconds), included.
    pub from: Option<i64>,
    /// Until this time (Unix seconds), excluded.
    pub until: Option<i64>,
    /// Addresses that start with this (`192.168.1.` or a whole address).
    pub ip: Option<String>,
}

impl Filter {
    /// The console's filter fields as typed: `account`, `kind` (a [`Kind`] value or
    /// empty), `from` and `to` (days `YYYY-MM-DD` in UTC, both included), `ip`.
    pub fn from_fields(account: &str, kind: &str, from: &str, to: &str, ip: &str) -> Result<Self, DomainError> {
        let text = |value: &str| Some(value.trim().to_string()).filter(|v| !v.is_empty());
        let kind = match kind.trim() {
            "" => None,
            other => Some(Kind::parse(other).ok_or_else(|| DomainError::invalid("kind", "not a kind of event"))?),
        };
        let day = |field: &str, value: &str| match value.trim() {
            "" => Ok(None),
            other => {
                day_start(other).map(Some).ok_or_else(|| DomainError::invalid(field, "a date is written YYYY-MM-DD"))
            }
        };
        let from = day("from", from)?;
        let until = day("to", to)?.map(|start| start + 86_400);
        Ok(Self { account_id: None, account: text(account), kind, from, until, ip: text(ip) })
    }

    /// The events of one account.
    pub fn for_account(account_id: &str) -> Self {
        Self { account_id: Some(account_id.to_string()), ..Self::default() }
    }

    fn condition(&self) -> Condition {
        let mut condition = Condition::all();
        if let Some(id) = &self.account_id {
            condition = condition.add(audit_event::Column::AccountId.eq(id.as_str()));
        }
        if let Some(text) = &self.account {
            let pattern = format!("%{}%", like_escaped(&text.to_lowercase()));
            let like = |column: account::Column| {
                Expr::expr(Func::lower(Expr::col(column))).like(LikeExpr::new(pattern.clone()).escape('\\'))
            };
            let matching = Query::select()
                .column(account::Column::Id)
                .from(account::Entity)
                .cond_where(
                    Condition::any()
                        .add(like(account::Column::UsernameKey))
                        .add(like(account::Column::FirstName))
                        .add(like(account::Column::LastName)),
                )
                .to_owned();
            condition = condition.add(
                Condition::any()
                    .add(audit_event::Column::AccountId.in_subquery(matching))
                    .add(audit_event::Column::AccountId.eq(text.as_str())),
            );
        }
        if let Some(kind) = self.kind {
            condition = condition.add(audit_event::Column::Event.is_in(kind.codes()));
        }
        if let Some(from) = self.from {
            condition = condition.add(audit_event::Column::At.gte(from));
        }
        if let Some(until) = self.until {
            condition = condition.add(audit_event::Column::At.lt(until));
        }
        if let Some(ip) = &self.ip {
            let pattern = format!("{}%", like_escaped(ip));
            condition = condition.add(Expr::col(audit_event::Column::Ip).like(LikeExpr::new(pattern).escape('\\')));
        }
        condition
    }
}

fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Midnight UTC of `YYYY-MM-DD`, as Unix seconds.
fn day_start(text: &str) -> Option<i64> {
    let mut parts = text.split('-');
    let (year, month, day) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(month.parse::<u8>().ok()?).ok()?;
    let date = time::Date::from_calendar_date(year.parse().ok()?, month, day.parse().ok()?).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp())
}

/// The rows of `filter` older than the event `before` (all when none), newest first, at
/// most `limit`, and never more than one past [`MAX_ROWS`] (which tells that more match).
pub async fn select(
    db: &Db,
    filter: &Filter,
    before: Option<i64>,
    limit: u64,
) -> Result<Vec<audit_event::Model>, sea_orm::DbErr> {
    let mut condition = filter.condition();
    if let Some(before) = before {
        condition = condition.add(audit_event::Column::Id.lt(before));
    }
    audit_event::Entity::find()
        .filter(condition)
        .order_by_desc(audit_event::Column::Id)
        .limit(Ord::min(limit, MAX_ROWS + 1))
        .all(db)
        .await
}

/// One event as people read it.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub id: i64,
    /// Unix seconds.
    pub at: i64,
    /// RFC 3339 in UTC (`2026-11-28T17:09:05Z`): the `datetime` of the page's `<time>`.
    pub datetime: String,
    /// `2026-11-28 17:09:05 UTC`: what the page shows without JavaScript.
    pub utc: String,
    pub event: String,
    /// The kind's filter value; none for a code this version does not know.
    pub kind: Option<&'static str>,
    /// The sentence, in the reader's language.
    pub text: String,
    pub account_id: Option<String>,
    /// The account's identifier; its id when it no longer exists.
    pub account: Option<String>,
    /// First and last name, else the identifier, else the id.
    pub account_name: Option<String>,
    /// The administrator (or command-line user) who acted, when it was not the account.
    pub actor: Option<String>,
    pub client_id: Option<String>,
    pub ip: Option<String>,
    /// The recorded details as JSON; empty when there are none.
    pub detail: String,
}

/// One page of entries, and the id to continue from when older ones match too.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub entries: Vec<Entry>,
    pub older: Option<i64>,
}

/// The events of `filter` older than `before`, newest first, at most `limit`, in the
/// language of `words` (a theme's messages in one language).
pub async fn list(
    db: &Db,
    filter: &Filter,
    before: Option<i64>,
    limit: u64,
    words: &(dyn Fn(&str) -> String + Sync),
) -> Result<Listing, DomainError> {
    let limit = Ord::clamp(limit, 1, MAX_ROWS);
    let mut rows = select(db, filter, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    let people = People::of(db, &rows).await?;
    let entries: Vec<Entry> = rows.into_iter().map(|row| describe(row, &people, words)).collect();
    let older = if more { entries.last().map(|entry| entry.id) } else { None };
    Ok(Listing { entries, older })
}

/// The accounts an event names, by id.
struct Person {
    username: String,
    name: String,
}

struct People(HashMap<String, Person>);

impl People {
    /// The accounts of `rows` and of the administrators who acted in them, in a few
    /// queries whatever the number of rows.
    async fn of(db: &Db, rows: &[audit_event::Model]) -> Result<Self, DomainError> {
        let mut ids: Vec<String> = Vec::new();
        for row in rows {
            let actor = serde_json::from_str::<Value>(&row.detail)
                .ok()
                .and_then(|detail| detail["by"].as_str().map(str::to_string))
                .filter(|by| !by.starts_with("cli:") && by != "owner");
            ids.extend(row.account_id.clone().into_iter().chain(actor));
        }
        ids.sort();
        ids.dedup();
        let mut found = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let accounts = account::Entity::find().filter(account::Column::Id.is_in(chunk.to_vec())).all(db).await?;
            for a in accounts {
                let name = format!("{} {}", a.first_name, a.last_name).trim().to_string();
                let name = if name.is_empty() { a.username.clone() } else { name };
                found.insert(a.id, Person { username: a.username, name });
            }
        }
        Ok(Self(found))
    }

    fn name(&self, id: &str) -> String {
        self.0.get(id).map(|p| p.name.clone()).unwrap_or_else(|| id.to_string())
    }
}

/// The row as people read it: names for ids, a sentence for the code. The one rendering
/// of an event, whatever shows it.
fn describe(row: audit_event::Model, people: &People, words: &dyn Fn(&str) -> String) -> Entry {
    let detail: Value = serde_json::from_str(&row.detail).unwrap_or(Value::Null);
    let account_name = row.account_id.as_deref().map(|id| people.name(id));
    let actor = match detail["by"].as_str() {
        None | Some("owner") => None,
        Some(by) => Some(match by.strip_prefix("cli:") {
            Some(user) => words("audit_actor_cli").replace("{user}", user),
            None => people.name(by),
        }),
    };
    let facts = Facts {
        event: &row.event,
        who: account_name.as_deref(),
        actor: actor.as_deref(),
        client: row.client_id.as_deref(),
        detail: &detail,
    };
    let text = wording::sentence(&facts, words);
    let account = row.account_id.as_deref().map(|id| people.0.get(id).map_or(id, |p| p.username.as_str()).to_string());
    Entry {
        id: row.id,
        at: row.at,
        datetime: rfc3339(row.at),
        utc: utc_seconds(row.at),
        kind: wording::kind_of(&row.event).map(Kind::as_str),
        text,
        account,
        account_name,
        actor,
        event: row.event,
        account_id: row.account_id,
        client_id: row.client_id,
        ip: row.ip,
        detail: if row.detail == "{}" { String::new() } else { row.detail },
    }
}

/// `2026-11-28T17:09:05Z`.
pub fn rfc3339(unix: i64) -> String {
    written(unix, "T", "Z")
}

/// `2026-11-28 17:09:05 UTC`.
fn utc_seconds(unix: i64) -> String {
    written(unix, " ", " UTC")
}

/// The date, `between`, the time to the second, then `after`; the number itself for a
/// time out of range.
fn written(unix: i64, between: &str, after: &str) -> String {
    match time::OffsetDateTime::from_unix_timestamp(unix) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02}{between}{:02}:{:02}:{:02}{after}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        ),
        Err(_) => unix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_fields_are_checked() {
        let filter = Filter::from_fields(" paul ", "failure", "2030-01-02", "2030-01-02", "").unwrap();
        assert_eq!(filter.account.as_deref(), Some("paul"));
        assert_eq!(filter.kind, Some(Kind::Failure));
        assert_eq!(filter.from, Some(1_893_542_400));
        assert_eq!(filter.until, Some(1_893_542_400 + 86_400), "the last day is included");
        assert_eq!(filter.ip, None);
        assert_eq!(Filter::from_fields("", "", "", "", "").unwrap(), Filter::default());
        for (kind, from) in [("all-of-them", ""), ("", "02/01/2030"), ("", "2030-13-01"), ("", "2030-02-30")] {
            assert!(Filter::from_fields("", kind, from, "", "").is_err(), "{kind} {from}");
        }
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(rfc3339(1_893_589_745), "2030-01-02T13:09:05Z");
        assert_eq!(utc_seconds(1_893_589_745), "2030-01-02 13:09:05 UTC");
    }
}
