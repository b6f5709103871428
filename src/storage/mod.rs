//! Storage: the database connection (SQLite by default, PostgreSQL for several nodes),
//! migrations, and the sea-orm entities. Repositories live with the domain they serve.

pub mod entities;

use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr, sqlx};
use sesame_migrations::{Migrator, MigratorTrait};

pub type Db = DatabaseConnection;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("cannot open the database at {url}: {reason}")]
    Connect { url: String, reason: String },
    #[error("database migration failed: {0}")]
    Migrate(DbErr),
    #[error("cannot create the data directory {path}: {}", crate::file_errors::in_words(reason))]
    DataDir { path: String, reason: std::io::Error },
    #[error("unsupported database URL `{0}`: use sqlite://FILE or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error(
        "the database was written by a newer Sésame (its schema has {0}, which this version does not know): \
         run the newer version, or restore a backup made by this one; nothing was changed"
    )]
    NewerSchema(String),
}

/// Opens an existing SQLite file to read it only: nothing is created, its journal mode is
/// left as it is (checks, and backups being restored).
pub async fn open_sqlite_read_only(path: &std::path::Path) -> Result<Db, StorageError> {
    let url = format!("sqlite://{}?mode=ro", path.display());
    let mut options = ConnectOptions::new(url.clone());
    options.sqlx_logging(false).max_connections(1).connect_timeout(Duration::from_secs(5)).map_sqlx_sqlite_opts(
        |opts| opts.read_only(true).create_if_missing(false).busy_timeout(Duration::from_secs(5)),
    );
    Database::connect(options).await.map_err(|error| StorageError::Connect { url, reason: explain(&error) })
}

/// Opens the database at `url`, creating the SQLite file's folder if needed.
pub async fn connect(url: &str) -> Result<Db, StorageError> {
    if let Some(path) = sqlite_path(url) {
        if let Some(parent) = std::path::Path::new(path).parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)
                .map_err(|reason| StorageError::DataDir { path: parent.display().to_string(), reason })?;
        }
    } else if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        return Err(StorageError::UnsupportedUrl(redact(url)));
    }
    let mut options = ConnectOptions::new(url.to_string());
    options
        .sqlx_logging(false)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // sqlx pings a pooled connection at every checkout by default: one more round trip
        // per statement (to SQLite's worker thread, or to PostgreSQL), a third of a login's.
        // Only a connection quiet for a second is pinged first (PostgreSQL restarted, a
        // firewall that dropped it); one in use stays checked by its own statements, and
        // a broken one is dropped by the pool when it fails.
        .test_before_acquire_if_idle_for(Duration::from_secs(1))
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|connection, _| Box::pin(async move { stable_query_plans(connection).await }))
        })
        .map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                .synchronous(sqlx::sqlite::SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true)
                .create_if_missing(true)
        });
    // Opening SQLite switches it to WAL, which waits for no one: when another process is
    // migrating the same file at that moment, try again for a few seconds.
    let mut attempts = 0;
    loop {
        match Database::connect(options.clone()).await {
            Ok(db) => return Ok(db),
            Err(error)
                if sqlite_path(url).is_some() && error.to_string().contains("database is locked") && attempts < 50 =>
            {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(source) => return Err(StorageError::Connect { url: redact(url), reason: explain(&source) }),
        }
    }
}

/// Turns on SQLite's query planner stability guarantee for a new connection.
///
/// Without it, SQLite (3.48 and later) plans a `LIMIT ?` by the value bound to it: it
/// marks the statement stale whenever a value is bound there, and compiles it again at
/// its next execution. sqlx binds at every execution, so every `.one()` of sea-orm (ten
/// of a login's 37 statements) was parsed and planned anew instead of coming from sqlx's
/// statement cache. No query here needs a plan chosen by a bound value: there are no
/// partial indexes and no `ANALYZE` statistics, and the only `LIKE` patterns (the
/// searches of accounts and of the audit log) begin with `%` on `lower(…)`, which no
/// index could serve anyway. So one plan per statement is what we want.
async fn stable_query_plans(connection: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
    let mut handle = connection.lock_handle().await?;
    match query_planner_stability(&mut handle, 1) {
        Ok(true) => Ok(()),
        outcome => Err(sqlx::Error::Configuration(
            format!("SQLite did not turn on SQLITE_DBCONFIG_ENABLE_QPSG ({outcome:?})").into(),
        )),
    }
}

/// SQLite's query planner stability guarantee on a connection: `set` 1 turns it on, 0
/// off, -1 only asks. Whether it is on afterwards, or SQLite's error code.
fn query_planner_stability(
    handle: &mut sqlx::sqlite::LockedSqliteHandle<'_>,
    set: std::ffi::c_int,
) -> Result<bool, std::ffi::c_int> {
    let mut on: std::ffi::c_int = -1;
    // SAFETY: the lock keeps the open connection from its worker thread during the call;
    // ENABLE_QPSG takes an int and a pointer to an int, where SQLite writes the setting
    // as it then is (`on` outlives the call).
    let rc = unsafe {
        libsqlite3_sys::sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            libsqlite3_sys::SQLITE_DBCONFIG_ENABLE_QPSG,
            set,
            std::ptr::from_mut(&mut on),
        )
    };
    if rc == libsqlite3_sys::SQLITE_OK { Ok(on == 1) } else { Err(rc) }
}

/// A connection error in words an operator can act on.
fn explain(error: &DbErr) -> String {
    let text = error.to_string();
    if text.contains("pool timed out") {
        return "no answer from the database server within 5 seconds: is it running, and are the host and port right?"
            .into();
    }
    without_internals(&text)
}

/// The database's own words, without the wrappers' prefixes and the server's source
/// line (`… at line 948` is PostgreSQL's code, not the operator's configuration).
fn without_internals(text: &str) -> String {
    let text = text.trim_start_matches("Connection Error: ").trim_start_matches("error returned from database: ");
    match text.rsplit_once(" at line ") {
        Some((words, line)) if !line.is_empty() && line.chars().all(|c| c.is_ascii_digit()) => words.to_string(),
        _ => text.to_string(),
    }
}

/// Brings the schema up to date; safe to run on every start and from several nodes
/// (they take turns, see [`StartLock`]).
pub async fn migrate(db: &Db) -> Result<(), StorageError> {
    let lock = StartLock::take(db).await.map_err(StorageError::Migrate)?;
    let migrated = match schema(db).await {
        Ok(schema) if !schema.unknown.is_empty() => Err(StorageError::NewerSchema(schema.unknown.join(", "))),
        Ok(_) => Migrator::up(db, None).await.map_err(StorageError::Migrate),
        Err(error) => Err(StorageError::Migrate(error)),
    };
    lock.release().await.map_err(StorageError::Migrate)?;
    migrated
}

/// Where the database's schema stands against this version's migrations.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Schema {
    /// Migrations of this version not applied yet (the next start applies them).
    pub pending: Vec<String>,
    /// Migrations applied that this version does not have: a newer version wrote the
    /// database, and this one must not touch it.
    pub unknown: Vec<String>,
}

/// Compares the migrations applied to `db` with this version's; an empty database has
/// them all pending.
pub async fn schema(db: &Db) -> Result<Schema, DbErr> {
    use sea_orm::{ConnectionTrait, Statement};
    let known: Vec<String> = Migrator::migrations().iter().map(|migration| migration.name().to_string()).collect();
    let backend = db.get_database_backend();
    let table_exists = match backend {
        sea_orm::DatabaseBackend::Postgres => {
            "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'seaql_migrations'"
        }
        _ => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
    };
    if db.query_one_raw(Statement::from_string(backend, table_exists)).await?.is_none() {
        return Ok(Schema { pending: known, unknown: Vec::new() });
    }
    let rows = db.query_all_raw(Statement::from_string(backend, "SELECT version FROM seaql_migrations")).await?;
    let applied: Vec<String> = rows.iter().filter_map(|row| row.try_get::<String>("", "version").ok()).collect();
    Ok(Schema {
        pending: known.iter().filter(|name| !applied.contains(name)).cloned().collect(),
        unknown: applied.into_iter().filter(|name| !known.contains(name)).collect(),
    })
}

/// Nodes starting together on one database take turns for first-start work
/// (migrations, signing keys, the built-in clients, the demo). On PostgreSQL: a
/// transaction-scoped advisory lock, held by one connection of the pool while the
/// others do the work, released at commit — or by the server if the node dies. On
/// SQLite (one node, but a `sesame import` may start beside `serve`): an exclusive lock
/// on a file next to the database, released when the process lets go of it or dies.
/// Creating tables or rows that another node creates at the same moment would otherwise
/// fail (duplicate `pg_type` entries, "table already exists", duplicate primary keys).
pub struct StartLock(Held);

enum Held {
    Postgres(sea_orm::DatabaseTransaction),
    /// Held open for its lock, released when closed.
    #[allow(dead_code)]
    File(std::fs::File),
    Nothing,
}

/// The advisory lock's key: any constant unique to Sésame ("sesame" in ASCII).
const START_LOCK_KEY: i64 = 0x7365_7361_6d65;

impl StartLock {
    pub async fn take(db: &Db) -> Result<Self, DbErr> {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        match db.get_database_backend() {
            sea_orm::DatabaseBackend::Postgres => {
                let txn = db.begin().await?;
                txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({START_LOCK_KEY})")).await?;
                Ok(Self(Held::Postgres(txn)))
            }
            sea_orm::DatabaseBackend::Sqlite => {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        sea_orm::DatabaseBackend::Sqlite,
                        "SELECT file FROM pragma_database_list WHERE name = 'main'",
                    ))
                    .await?;
                let file: Option<String> = row.and_then(|row| row.try_get_by_index(0).ok());
                let Some(path) = file.filter(|f| !f.is_empty()) else { return Ok(Self(Held::Nothing)) };
                let locked = tokio::task::spawn_blocking(move || {
                    let file = std::fs::OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(format!("{path}.start-lock"))?;
                    file.lock()?;
                    Ok::<_, std::io::Error>(file)
                })
                .await
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .map_err(|e| DbErr::Custom(format!("cannot lock the database for start-up: {e}")))?;
                Ok(Self(Held::File(locked)))
            }
            _ => Ok(Self(Held::Nothing)),
        }
    }

    pub async fn release(self) -> Result<(), DbErr> {
        match self.0 {
            Held::Postgres(txn) => txn.commit().await,
            // Closing the file lets go of the lock.
            Held::File(_) | Held::Nothing => Ok(()),
        }
    }
}

/// The file of a SQLite URL (`sqlite://FILE?…`); none for another database.
pub fn sqlite_path(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    Some(rest.split('?').next().unwrap_or(rest))
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    if parsed.password().is_some() {
        let _ = parsed.set_password(Some("***"));
    }
    // PostgreSQL also takes the password as a query parameter.
    if parsed.query_pairs().any(|(name, _)| is_password_parameter(&name)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(name, value)| {
                let value = if is_password_parameter(&name) { "***".to_string() } else { value.into_owned() };
                (name.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
    }
    parsed.to_string()
}

/// Query parameters of a database URL that hold a password.
pub fn is_password_parameter(name: &str) -> bool {
    name.eq_ignore_ascii_case("password") || name.eq_ignore_ascii_case("sslpassword")
}

/// Whether `error` is a violation of a unique constraint (a concurrent insert won).
pub fn is_unique_violation(error: &DbErr) -> bool {
    matches!(error.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}

/// Whether a database error means the server is out of reach (restarting, network, pool
/// exhausted) rather than that the statement was wrong: worth a 503 and a retry.
pub fn is_unavailable(error: &DbErr) -> bool {
    match error {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(sea_orm::RuntimeErr::SqlxError(error)) | DbErr::Query(sea_orm::RuntimeErr::SqlxError(error)) => {
            matches!(
                error.as_ref(),
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed
            ) || error
                .as_database_error()
                .and_then(|e| e.code())
                .is_some_and(|code| code.starts_with("57P") || code.starts_with("08"))
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_errors_keep_the_databases_words_only() {
        assert_eq!(
            without_internals(
                "Connection Error: error returned from database: database \"nonexistent\" does not exist at line 948"
            ),
            "database \"nonexistent\" does not exist"
        );
        assert_eq!(without_internals("disk I/O error"), "disk I/O error");
        assert_eq!(without_internals("the field at line one"), "the field at line one");
    }

    /// Whether SQLite's query planner stability guarantee is on for `connection`.
    async fn query_plans_are_stable(connection: &mut sqlx::SqliteConnection) -> bool {
        let mut handle = connection.lock_handle().await.unwrap();
        query_planner_stability(&mut handle, -1).unwrap()
    }

    #[tokio::test]
    async fn every_sqlite_connection_keeps_one_plan_per_statement() {
        let dir = tempfile::tempdir().unwrap();
        let db = connect(&format!("sqlite://{}/plans.db", dir.path().display())).await.unwrap();
        let pool = db.get_sqlite_connection_pool();
        // All that the pool may open, held at once, so that each is a connection of its own.
        let mut held = Vec::new();
        for _ in 0..pool.options().get_max_connections() {
            held.push(pool.acquire().await.unwrap());
        }
        assert!(!held.is_empty());
        for connection in &mut held {
            assert!(query_plans_are_stable(connection).await, "a pooled connection plans by bound values");
        }
    }
}
