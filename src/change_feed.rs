//! Each node's caches of what introspection and userinfo read on every call — the
//! revocation list and the accounts' claims view — and the change feed that keeps them
//! true across nodes.
//!
//! Whoever revokes a token or changes an account, its access, an application or a
//! client writes one `cache_events` row in the same transaction (`announce`); a client's
//! row takes that client out of each node's `clients::ClientCache`. Every node reads the
//! rows it has not seen yet every `caches.sync_interval_ms` in the background, and before
//! each answer for a second after this process announced something (so a change shows on
//! the node that made it at the next call). A node that could not read the feed for
//! `caches.max_staleness_ms` (the database is down, the process was paused) stops
//! trusting its caches and reads the database on every call; when the feed answers again
//! it starts over from the tables themselves, as at start.
//!
//! Ids come from the database's sequence. Two transactions may commit their rows out of
//! id order: ids skipped by a read are kept as gaps (ranges) and looked for again, by
//! range, until they show or are old enough (`GAP_PATIENCE`) to be a rolled-back
//! transaction's. As a backstop for what even that could miss (a transaction longer than
//! the patience), views are read again after `VIEW_TTL` and the revocation list whole
//! every `FULL_RELOAD`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::accounts::{self, Access, Account};
use crate::clients::ClientCache;
use crate::config::CacheConfig;
use crate::domain::DomainError;
use crate::storage::Db;
use crate::storage::entities::{cache_event, revocation};

/// When this process last announced a change (milliseconds since `process_epoch`).
/// Process-wide because the write paths hold only a database connection; in production a
/// process is one node.
static ANNOUNCED_AT: AtomicI64 = AtomicI64::new(i64::MIN / 2);
/// How long after its own announcement a node reads the feed before every answer: time
/// for the announcing transaction to commit.
const OWN_CHANGE_WINDOW_MS: i64 = 1_000;

/// Rows read per query while catching up.
const BATCH: u64 = 2_000;
/// Gap ranges looked for per read of the feed.
const GAPS_PER_SYNC: usize = 50;
/// Past this many gap ranges, the node starts over from the tables.
const MAX_GAPS: usize = 1_000;
/// An id missing this long below the highest one read belongs to a rolled-back transaction.
const GAP_PATIENCE: Duration = Duration::from_secs(600);
/// Revocations a node keeps in memory; past it, it asks the database (bounded memory).
const MAX_REVOCATIONS: usize = 500_000;
/// Events re-read at start, so that a row committed late just before is not missed.
const START_LOOKBACK: i64 = 1_000;
/// A view is read again from the database after this, whatever the feed says.
const VIEW_TTL: Duration = Duration::from_secs(300);
/// The revocation list is read whole again this often, and the feed's ids checked.
const FULL_RELOAD: Duration = Duration::from_secs(600);

fn process_epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(crate::clock::instant)
}

fn process_millis() -> i64 {
    process_epoch().elapsed().as_millis() as i64
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// The subject is a revocation key (`jti:…`, `grant:…`, `sid:…`, `sub:…`).
    Revocation,
    /// The subject is an account id: its row or its access changed.
    Account,
    /// The subject is an application id: its code or catalogue changed.
    Application,
    /// The subject is a client id: its registration changed (a new secret, a removed
    /// redirect URI) or it was removed.
    Client,
}

impl Topic {
    fn as_str(self) -> &'static str {
        match self {
            Topic::Revocation => "revocation",
            Topic::Account => "account",
            Topic::Application => "application",
            Topic::Client => "client",
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
    ANNOUNCED_AT.store(process_millis(), Ordering::SeqCst);
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

/// Ids not read yet below the highest one read: `lo..=hi`, missed since `since`.
struct Gap {
    lo: i64,
    hi: i64,
    since: Instant,
}

/// Where this node is in the feed.
#[derive(Default)]
struct Cursor {
    started: bool,
    highest: i64,
    gaps: Vec<Gap>,
    last_full_reload: Option<Instant>,
}

pub struct NodeCaches {
    config: CacheConfig,
    cursor: tokio::sync::Mutex<Cursor>,
    /// `process_millis` when the last successful read of the feed began; -1: never.
    synced_at: AtomicI64,
    revoked: std::sync::RwLock<HashMap<String, i64>>,
    revocations_overflow: std::sync::atomic::AtomicBool,
    views: std::sync::RwLock<HashMap<String, Arc<AccountView>>>,
    /// Bumped by every account or application change applied: a view read from the
    /// database while one was applied is not kept (it may predate the change).
    views_epoch: AtomicU64,
    /// The node's clients (`clients::ClientCache`), forgotten one by one as the feed
    /// says they changed, so a change made on another node applies here within the sync
    /// interval rather than the cache's `tokens.client_cache_ttl`.
    clients: Arc<ClientCache>,
}

/// What userinfo and introspection need of an account: the account and its access.
pub struct AccountView {
    pub account: Account,
    pub access: Vec<Access>,
    loaded: Instant,
}

impl NodeCaches {
    pub fn new(config: CacheConfig, clients: Arc<ClientCache>) -> Self {
        Self {
            clients,
            config,
            cursor: Default::default(),
            synced_at: AtomicI64::new(-1),
            revoked: Default::default(),
            revocations_overflow: Default::default(),
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
        let asked_at = process_millis();
        if asked_at - ANNOUNCED_AT.load(Ordering::SeqCst) < OWN_CHANGE_WINDOW_MS
            && let Err(error) = self.sync_since(db, asked_at).await
        {
            tracing::warn!(%error, "cannot read the cache change feed");
            return false;
        }
        self.fresh()
    }

    fn fresh(&self) -> bool {
        let synced_at = self.synced_at.load(Ordering::SeqCst);
        synced_at >= 0 && process_millis() - synced_at <= self.config.max_staleness_ms as i64
    }

    /// Reads the feed, unless a read that began at or after `asked_at` already did
    /// (callers waiting for the same read share it).
    async fn sync_since(&self, db: &Db, asked_at: i64) -> Result<(), DomainError> {
        let mut cursor = self.cursor.lock().await;
        if self.synced_at.load(Ordering::SeqCst) >= asked_at {
            return Ok(());
        }
        self.sync_locked(db, &mut cursor).await
    }

    /// Reads what the feed holds that this node has not applied yet.
    pub async fn sync(&self, db: &Db) -> Result<(), DomainError> {
        let mut cursor = self.cursor.lock().await;
        self.sync_locked(db, &mut cursor).await
    }

    async fn sync_locked(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        let began = process_millis();
        let now = crate::clock::instant();
        // Never read, or not for so long that the janitor may have swept what was missed.
        if !cursor.started || !self.fresh() {
            self.start(db, cursor).await?;
        } else if cursor.last_full_reload.is_none_or(|at| now.duration_since(at) > FULL_RELOAD) {
            self.full_reload(db, cursor).await?;
        }
        self.read_new(db, cursor).await?;
        self.read_gaps(db, cursor).await?;
        cursor.gaps.retain(|gap| now.duration_since(gap.since) < GAP_PATIENCE);
        if cursor.gaps.len() > MAX_GAPS {
            self.start(db, cursor).await?;
        }
        self.synced_at.store(began, Ordering::SeqCst);
        Ok(())
    }

    /// Rows above the highest id read, in order, a batch at a time.
    async fn read_new(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        loop {
            let rows = cache_event::Entity::find()
                .filter(cache_event::Column::Id.gt(cursor.highest))
                .order_by_asc(cache_event::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?;
            let full = rows.len() as u64 == BATCH;
            for row in rows {
                if row.id > cursor.highest + 1 {
                    cursor.gaps.push(Gap { lo: cursor.highest + 1, hi: row.id - 1, since: crate::clock::instant() });
                }
                cursor.highest = row.id;
                self.apply(&row);
            }
            if !full {
                return Ok(());
            }
        }
    }

    /// Looks for the rows of the oldest gaps; each found row splits its gap.
    async fn read_gaps(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        let mut kept = Vec::with_capacity(cursor.gaps.len());
        for (index, gap) in std::mem::take(&mut cursor.gaps).into_iter().enumerate() {
            if index >= GAPS_PER_SYNC {
                kept.push(gap);
                continue;
            }
            let rows = cache_event::Entity::find()
                .filter(cache_event::Column::Id.between(gap.lo, gap.hi))
                .order_by_asc(cache_event::Column::Id)
                .all(db)
                .await?;
            let mut lo = gap.lo;
            for row in rows {
                if row.id > lo {
                    kept.push(Gap { lo, hi: row.id - 1, since: gap.since });
                }
                lo = row.id + 1;
                self.apply(&row);
            }
            if lo <= gap.hi {
                kept.push(Gap { lo, hi: gap.hi, since: gap.since });
            }
        }
        cursor.gaps = kept;
        Ok(())
    }

    /// From the tables themselves, as at start: every revocation in force, no view, and
    /// the feed's position (a little before its end, re-read: applying twice is harmless).
    async fn start(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        let highest = self.highest_id(db).await?;
        self.views_epoch.fetch_add(1, Ordering::SeqCst);
        self.views.write().unwrap_or_else(|p| p.into_inner()).clear();
        self.clients.forget_all();
        self.reload_revocations(db).await?;
        cursor.highest = (highest - START_LOOKBACK).max(0);
        cursor.gaps.clear();
        cursor.started = true;
        cursor.last_full_reload = Some(crate::clock::instant());
        Ok(())
    }

    /// The backstop: the revocation list read whole again; ids that went back (a
    /// database restored or failed over) start the node over.
    async fn full_reload(&self, db: &Db, cursor: &mut Cursor) -> Result<(), DomainError> {
        if self.highest_id(db).await? < cursor.highest {
            return self.start(db, cursor).await;
        }
        self.reload_revocations(db).await?;
        cursor.last_full_reload = Some(crate::clock::instant());
        Ok(())
    }

    async fn highest_id(&self, db: &Db) -> Result<i64, DomainError> {
        Ok(cache_event::Entity::find().order_by_desc(cache_event::Column::Id).one(db).await?.map_or(0, |row| row.id))
    }

    async fn reload_revocations(&self, db: &Db) -> Result<(), DomainError> {
        let rows = revocation::Entity::find()
            .filter(revocation::Column::ExpiresAt.gt(unix_now()))
            .limit(MAX_REVOCATIONS as u64 + 1)
            .all(db)
            .await?;
        let overflow = rows.len() > MAX_REVOCATIONS;
        let list: HashMap<String, i64> = rows.into_iter().map(|row| (row.key, row.expires_at)).collect();
        // Replaced whole, so that a reader never sees a list half read.
        *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = list;
        self.revocations_overflow.store(overflow, Ordering::SeqCst);
        Ok(())
    }

    fn apply(&self, event: &cache_event::Model) {
        match event.topic.as_str() {
            "revocation" => self.remember_revocation(&event.subject, event.until),
            "account" => {
                let mut views = self.views.write().unwrap_or_else(|p| p.into_inner());
                self.views_epoch.fetch_add(1, Ordering::SeqCst);
                views.remove(&event.subject);
            }
            // An application's code is in every view that has access to it: rare, so all go.
            "application" => {
                let mut views = self.views.write().unwrap_or_else(|p| p.into_inner());
                self.views_epoch.fetch_add(1, Ordering::SeqCst);
                views.clear();
            }
            "client" => self.clients.forget(&event.subject),
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
        if trusted
            && let Some(view) = self.views.read().unwrap_or_else(|p| p.into_inner()).get(account_id)
            && view.loaded.elapsed() < VIEW_TTL
        {
            return Ok(Some(view.clone()));
        }
        let epoch = self.views_epoch.load(Ordering::SeqCst);
        let Some(account) = accounts::find_by_id(db, account_id).await? else { return Ok(None) };
        let access = accounts::access_of(db, account_id).await?;
        let view = Arc::new(AccountView { account, access, loaded: crate::clock::instant() });
        if trusted {
            let mut views = self.views.write().unwrap_or_else(|p| p.into_inner());
            // Under the lock that `apply` takes: no change slips between check and insert.
            if self.views_epoch.load(Ordering::SeqCst) == epoch {
                if views.len() >= self.config.max_accounts {
                    views.clear();
                }
                views.insert(account_id.to_string(), view.clone());
            }
        }
        Ok(Some(view))
    }
}
