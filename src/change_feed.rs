//! Each node's caches of what introspection and userinfo read on every call — the
//! revocation list and the accounts' claims view — and the change feed that keeps them
//! true across nodes.
//!
//! Whoever revokes a token or changes an account, its access or an application writes
//! one `cache_events` row in the same transaction (`announce`). Every node reads the rows
//! it has not seen yet, every `caches.sync_interval_ms` in the background, and at once
//! before the next read when this process itself announced something (so a change shows
//! on the node that made it at the next call). A node that could not read the feed for
//! `caches.max_staleness_ms` (the database is down) stops trusting its caches and reads
//! the database on every call until it can again: a cache is never older than that bound.
//!
//! Ids come from the database's sequence. Two transactions may commit their rows out of
//! id order; an id skipped by a read is kept as a gap and looked for again until it shows
//! or is old enough to be a rolled-back transaction's.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::accounts::{self, Access, Account};
use crate::config::CacheConfig;
use crate::domain::DomainError;
use crate::storage::Db;
use crate::storage::entities::{cache_event, revocation};

/// Announcements made by this process; a node whose caches have seen fewer syncs first.
/// Process-wide because the write paths hold only a database connection; in production a
/// process is one node.
static ANNOUNCED: AtomicU64 = AtomicU64::new(0);

/// Rows read per query while catching up.
const BATCH: u64 = 5_000;
/// An id missing this long below the highest one read belongs to a rolled-back transaction.
const GAP_PATIENCE: Duration = Duration::from_secs(30);
/// Revocations a node keeps in memory; past it, it asks the database (bounded memory).
const MAX_REVOCATIONS: usize = 500_000;
/// Events re-read at start, so that a row committed late just before is not missed.
const START_LOOKBACK: i32 = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// The subject is a revocation key (`jti:…`, `grant:…`, `sid:…`, `sub:…`).
    Revocation,
    /// The subject is an account id: its row or its access changed.
    Account,
    /// The subject is an application id: its code or catalogue changed.
    Application,
}

impl Topic {
    fn as_str(self) -> &'static str {
        match self {
            Topic::Revocation => "revocation",
            Topic::Account => "account",
            Topic::Application => "application",
        }
    }
}

/// Tells every node's caches about a change; call it with the connection (or
/// transaction) that makes the change. `until`: a revocation's end, else 0.
pub async fn announce(
    db: &impl ConnectionTrait,
    topic: Topic,
    subject: &str,
    until: i64,
) -> Result<(), sea_orm::DbErr> {
    let row = cache_event::ActiveModel {
        id: NotSet,
        topic: Set(topic.as_str().to_string()),
        subject: Set(subject.to_string()),
        until: Set(until),
        created_at: Set(unix_now()),
    };
    cache_event::Entity::insert(row).exec_without_returning(db).await?;
    ANNOUNCED.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

/// Deletes events every node has long read (the janitor's part). The rows are stamped
/// by the system clock, whatever clock the caller runs on.
pub async fn sweep(db: &Db) -> Result<u64, DomainError> {
    let horizon = unix_now() - 3_600;
    Ok(cache_event::Entity::delete_many()
        .filter(cache_event::Column::CreatedAt.lt(horizon))
        .exec(db)
        .await?
        .rows_affected)
}

/// The feed's rows are stamped and swept by the system clock, not by the clock a test
/// moves: they are compared across nodes.
fn unix_now() -> i64 {
    use crate::clock::Clock;
    crate::clock::SystemClock.now()
}

/// Where this node is in the feed.
#[derive(Default)]
struct Cursor {
    started: bool,
    highest: i32,
    /// Ids below `highest` not read yet, with when they were first missed.
    gaps: BTreeMap<i32, Instant>,
    last_prune: Option<Instant>,
}

pub struct NodeCaches {
    config: CacheConfig,
    cursor: tokio::sync::Mutex<Cursor>,
    /// Milliseconds since `epoch` of the last successful read of the feed; -1: never.
    synced_at: AtomicI64,
    /// The value of `ANNOUNCED` that the last successful read started after.
    announced_seen: AtomicU64,
    epoch: Instant,
    revoked: std::sync::RwLock<HashMap<String, i64>>,
    revocations_overflow: AtomicBool,
    views: std::sync::RwLock<HashMap<String, Arc<AccountView>>>,
    /// Bumped by every account or application change applied: a view read from the
    /// database while one was applied is not kept (it may predate the change).
    views_epoch: AtomicU64,
}

/// What userinfo and introspection need of an account: the account and its access.
pub struct AccountView {
    pub account: Account,
    pub access: Vec<Access>,
}

impl NodeCaches {
    pub fn new(config: CacheConfig) -> Self {
        Self {
            config,
            cursor: Default::default(),
            synced_at: AtomicI64::new(-1),
            announced_seen: AtomicU64::new(0),
            epoch: crate::clock::instant(),
            revoked: Default::default(),
            revocations_overflow: AtomicBool::new(false),
            views: Default::default(),
            views_epoch: AtomicU64::new(0),
        }
    }

    /// Reads the feed in the background for as long as the server runs.
    pub fn spawn_sync(self: &Arc<Self>, db: Db) {
        if !self.config.enabled() {
            return;
        }
        let caches = Arc::downgrade(self);
        let every = Duration::from_millis(self.config.sync_interval_ms);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(caches) = caches.upgrade() else { return };
                if let Err(error) = caches.sync(&db).await {
                    tracing::warn!(%error, "cannot read the cache change feed; caches are bypassed until it answers");
                }
            }
        });
    }

    /// Whether the caches may answer now: read recently, and after this process's
    /// own latest announcement.
    async fn trusted(&self, db: &Db) -> bool {
        if !self.config.enabled() {
            return false;
        }
        if ANNOUNCED.load(Ordering::SeqCst) != self.announced_seen.load(Ordering::SeqCst)
            && let Err(error) = self.sync(db).await
        {
            tracing::warn!(%error, "cannot read the cache change feed");
            return false;
        }
        let synced_at = self.synced_at.load(Ordering::SeqCst);
        synced_at >= 0 && self.millis() - synced_at <= self.config.max_staleness_ms as i64
    }

    fn millis(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// Reads what the feed holds that this node has not applied yet.
    pub async fn sync(&self, db: &Db) -> Result<(), DomainError> {
        let announced = ANNOUNCED.load(Ordering::SeqCst);
        let mut cursor = self.cursor.lock().await;
        if !cursor.started {
            self.start(db, &mut cursor).await?;
        }
        loop {
            let from = cursor.gaps.keys().next().map(|first| first - 1).unwrap_or(cursor.highest).min(cursor.highest);
            let rows = cache_event::Entity::find()
                .filter(cache_event::Column::Id.gt(from))
                .order_by_asc(cache_event::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?;
            let full = rows.len() as u64 == BATCH;
            for row in rows {
                self.take(&mut cursor, row);
            }
            if !full {
                break;
            }
        }
        let now = crate::clock::instant();
        cursor.gaps.retain(|_, missed| now.duration_since(*missed) < GAP_PATIENCE);
        if cursor.last_prune.is_none_or(|at| now.duration_since(at) > Duration::from_secs(60)) {
            cursor.last_prune = Some(now);
            if self.prune_revocations() {
                // The list in memory lacks some that overflowed: read it whole again.
                self.start(db, &mut cursor).await?;
            }
        }
        self.announced_seen.store(announced, Ordering::SeqCst);
        self.synced_at.store(self.millis(), Ordering::SeqCst);
        Ok(())
    }

    /// First read: every revocation still in force, and the feed's position.
    async fn start(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        let highest = cache_event::Entity::find()
            .order_by_desc(cache_event::Column::Id)
            .one(db)
            .await?
            .map(|row| row.id)
            .unwrap_or(0);
        let now = unix_now();
        let rows = revocation::Entity::find()
            .filter(revocation::Column::ExpiresAt.gt(now))
            .limit(MAX_REVOCATIONS as u64 + 1)
            .all(db)
            .await?;
        let overflow = rows.len() > MAX_REVOCATIONS;
        let list: HashMap<String, i64> = rows.into_iter().map(|row| (row.key, row.expires_at)).collect();
        // Replaced whole, so that a reader never sees a list half read.
        *self.revoked.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = list;
        self.revocations_overflow.store(overflow, Ordering::SeqCst);
        // Events just before the start are read again: applying one twice is harmless.
        cursor.highest = (highest - START_LOOKBACK).max(0);
        cursor.started = true;
        Ok(())
    }

    fn take(&self, cursor: &mut Cursor, row: cache_event::Model) {
        if row.id <= cursor.highest {
            if cursor.gaps.remove(&row.id).is_none() {
                return; // already applied
            }
        } else {
            let now = crate::clock::instant();
            // Ids skipped over may still commit; a huge jump is not tracked id by id.
            if row.id - cursor.highest <= BATCH as i32 {
                for missing in cursor.highest + 1..row.id {
                    cursor.gaps.entry(missing).or_insert(now);
                }
            }
            cursor.highest = row.id;
        }
        self.apply(&row);
    }

    fn apply(&self, event: &cache_event::Model) {
        match event.topic.as_str() {
            "revocation" => self.remember_revocation(&event.subject, event.until),
            "account" => {
                self.views_epoch.fetch_add(1, Ordering::SeqCst);
                self.views.write().unwrap_or_else(|p| p.into_inner()).remove(&event.subject);
            }
            // An application's code is in every view that has access to it: rare, so all go.
            "application" => {
                self.views_epoch.fetch_add(1, Ordering::SeqCst);
                self.views.write().unwrap_or_else(|p| p.into_inner()).clear();
            }
            other => tracing::warn!(topic = other, "unknown cache event topic"),
        }
    }

    fn remember_revocation(&self, key: &str, until: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        if revoked.len() >= MAX_REVOCATIONS && !revoked.contains_key(key) {
            self.revocations_overflow.store(true, Ordering::SeqCst);
            return;
        }
        let entry = revoked.entry(key.to_string()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Forgets revocations whose tokens have all expired (as the janitor deletes them);
    /// whether the list overflowed and has room again, to be read whole anew.
    fn prune_revocations(&self) -> bool {
        let now = unix_now();
        let mut revoked = self.revoked.write().unwrap_or_else(|p| p.into_inner());
        revoked.retain(|_, until| *until > now);
        revoked.len() < MAX_REVOCATIONS / 2 && self.revocations_overflow.load(Ordering::SeqCst)
    }

    /// Whether any of `keys` (revocation keys) is revoked; `None` when the caches cannot
    /// answer and the database must.
    pub async fn revoked(&self, db: &Db, keys: &[String]) -> Option<bool> {
        if !self.trusted(db).await || self.revocations_overflow.load(Ordering::SeqCst) {
            return None;
        }
        let revoked = self.revoked.read().unwrap_or_else(|p| p.into_inner());
        Some(keys.iter().any(|key| revoked.contains_key(key)))
    }

    /// The account and its access, from memory when the caches may answer.
    pub async fn account_view(&self, db: &Db, account_id: &str) -> Result<Option<Arc<AccountView>>, DomainError> {
        let trusted = self.trusted(db).await;
        if trusted && let Some(view) = self.views.read().unwrap_or_else(|p| p.into_inner()).get(account_id) {
            return Ok(Some(view.clone()));
        }
        let epoch = self.views_epoch.load(Ordering::SeqCst);
        let Some(account) = accounts::find_by_id(db, account_id).await? else { return Ok(None) };
        let access = accounts::access_of(db, account_id).await?;
        let view = Arc::new(AccountView { account, access });
        if trusted && self.views_epoch.load(Ordering::SeqCst) == epoch {
            let mut views = self.views.write().unwrap_or_else(|p| p.into_inner());
            if views.len() >= self.config.max_accounts {
                views.clear();
            }
            views.insert(account_id.to_string(), view.clone());
        }
        Ok(Some(view))
    }
}
