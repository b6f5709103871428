//! The security events page (`GET /admin/events`) and its CSV export
//! (`GET /admin/events.csv`), for account administrators. Both take the same query
//! fields, a GET form whose names are stable (links and scripts may use them):
//!
//! - `account`: identifier, first or last name, or part of one (any case); or the id
//!   of an account that no longer exists;
//! - `kind`: `sign_in`, `failure`, `second_factor`, `admin` or `token` (empty: all);
//! - `from`, `to`: days `YYYY-MM-DD` in UTC, both included;
//! - `ip`: an address, or its beginning (`192.168.1.`);
//! - `before`: an event id; only older events (the "older" link; the export starts
//!   there too when it is given).
//!
//! The page shows 50 events, the export at most `audit::listing::MAX_ROWS`, newest
//! first. The reading and the words are in `audit`; this only turns requests into a
//! filter and results into a page or a file.

use axum::{
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::ConsoleAdmin;
use crate::audit::{self, Filter, Kind, listing::MAX_ROWS};
use crate::i18n::Locale;
use crate::state::AppState;
use crate::web::{
    page_error::{PageError, html_page},
    request,
};

const PER_PAGE: u64 = 50;

/// The query fields, as typed.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EventsQuery {
    account: String,
    kind: String,
    from: String,
    to: String,
    ip: String,
    #[serde(skip_serializing)]
    before: String,
}

impl EventsQuery {
    fn filter(&self) -> Result<(Filter, Option<i64>), PageError> {
        let filter = Filter::from_fields(&self.account, &self.kind, &self.from, &self.to, &self.ip)
            .map_err(|error| PageError::bad_request(error.to_string()))?;
        let before = match self.before.trim() {
            "" => None,
            id => Some(id.parse::<i64>().map_err(|_| PageError::bad_request("before: an event id"))?),
        };
        Ok((filter, before))
    }

    /// `?account=…&kind=…` with the filled-in filters (and `extra`), for links.
    fn link(&self, extra: Option<(&str, String)>) -> String {
        let mut query = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in
            [("account", &self.account), ("kind", &self.kind), ("from", &self.from), ("to", &self.to), ("ip", &self.ip)]
        {
            if !value.trim().is_empty() {
                query.append_pair(name, value.trim());
            }
        }
        if let Some((name, value)) = extra {
            query.append_pair(name, &value);
        }
        let query = query.finish();
        if query.is_empty() { query } else { format!("?{query}") }
    }
}

pub async fn page(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let (listing, before) = match selected(&state, locale, &query, PER_PAGE).await {
        Ok(selected) => selected,
        Err(page) => return page,
    };
    let words = |key: &str| state.theme.message(locale, key);
    let kinds: Vec<_> =
        Kind::ALL.iter().map(|kind| json!({"value": kind.as_str(), "label": words(&kind.message_key())})).collect();
    let context = json!({
        "entries": listing.entries,
        "filter": query,
        "kinds": kinds,
        "newest": before.map(|_| query.link(None)),
        "older": listing.older.map(|id| query.link(Some(("before", id.to_string())))),
        "csv": query.link(None),
        "cap": thousands(MAX_ROWS, locale),
    });
    html_page(&state, locale, "admin_events.html", context, StatusCode::OK)
}

pub async fn csv(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    headers: HeaderMap,
    Query(query): Query<EventsQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let listing = match selected(&state, locale, &query, MAX_ROWS).await {
        Ok((listing, _)) => listing,
        Err(page) => return page,
    };
    let mut response = (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"security-events.csv\"")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        audit::csv::document(&listing.entries),
    )
        .into_response();
    // More events match than the file holds: the id to export the older ones from.
    if let Some(older) = listing.older
        && let Ok(value) = HeaderValue::from_str(&older.to_string())
    {
        response.headers_mut().insert("x-sesame-older-than", value);
    }
    response
}

/// The events the query selects, at most `limit`, described in `locale` (and the
/// query's `before`); else the page that says what is wrong.
async fn selected(
    state: &AppState,
    locale: Locale,
    query: &EventsQuery,
    limit: u64,
) -> Result<(audit::Listing, Option<i64>), Response> {
    let (filter, before) = query.filter().map_err(|error| error.render(state, locale))?;
    let words = |key: &str| state.theme.message(locale, key);
    let listing = audit::list(&state.db, &filter, before, limit, &words)
        .await
        .map_err(|error| PageError::from(error).render(state, locale))?;
    Ok((listing, before))
}

/// `10 000` in French, `10,000` in English.
fn thousands(n: u64, locale: Locale) -> String {
    let separator = match locale {
        Locale::Fr => '\u{202f}',
        Locale::En => ',',
    };
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(separator);
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_keep_the_filled_in_filters() {
        let query = EventsQuery { account: "paul ".into(), kind: "failure".into(), ..Default::default() };
        assert_eq!(query.link(None), "?account=paul&kind=failure");
        assert_eq!(query.link(Some(("before", "42".into()))), "?account=paul&kind=failure&before=42");
        assert_eq!(EventsQuery::default().link(None), "");
        assert_eq!(thousands(10_000, Locale::En), "10,000");
        assert_eq!(thousands(950, Locale::Fr), "950");
    }
}
