//! Backups and restores of Sésame's database, made while nodes serve.
//!
//! - SQLite: `VACUUM INTO` writes a consistent copy of the database as it stood at one
//!   moment (a read transaction: writers go on), compacted; the copy is an ordinary
//!   SQLite file.
//! - PostgreSQL: `pg_dump --format=custom` of the database, which reads one snapshot
//!   (a repeatable-read transaction); `pg_restore` loads it into an empty database.
//!   Both come with PostgreSQL's client package and must be on the `PATH`.
//!
//! Neither holds the master key, on purpose: a backup that falls into other hands then
//! opens no signing key and no authenticator. The key is kept apart, and a restore
//! needs the same one.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::config::Config;
use crate::storage::{self, Db};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0} already exists: choose a new file (a backup never overwrites one)")]
    TargetExists(PathBuf),
    #[error("{0} does not exist")]
    Missing(PathBuf),
    #[error(
        "the database to restore into is not empty ({0}): restore into a new data directory or an empty \
         database, so that nothing is mixed"
    )]
    NotEmpty(String),
    #[error("{0} is not a backup of Sésame: {1}")]
    NotABackup(PathBuf, String),
    #[error(
        "`{0}` could not be run ({1}): install PostgreSQL's client programs (Debian: `apt install \
         postgresql-client`) in the version of the server or newer"
    )]
    Tool(&'static str, String),
    #[error("`{0}` failed: {1}")]
    ToolFailed(&'static str, String),
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// What a backup wrote.
#[derive(Debug)]
pub struct Written {
    pub file: PathBuf,
    pub bytes: u64,
}

/// Writes a consistent copy of the configured database to `file`, which must not exist.
pub async fn backup(config: &Config, file: &Path) -> Result<Written, BackupError> {
    let url = config.database_url();
    if let Some(source) = storage::sqlite_path(&url).map(Path::new).filter(|source| !source.exists()) {
        return Err(BackupError::Missing(source.to_path_buf()));
    }
    let file = &std::path::absolute(file).map_err(|e| BackupError::Io(file.to_path_buf(), e))?;
    create_private_file(file)?;
    let written = if storage::sqlite_path(&url).is_none() {
        run_tool("pg_dump", &["--format=custom", "--no-owner", "--no-privileges", "--file"], file, &url).await
    } else {
        copy_sqlite(&url, file).await
    };
    if let Err(error) = written {
        // What was written is no backup: nobody should keep it as one.
        let _ = std::fs::remove_file(file);
        return Err(error);
    }
    let bytes = std::fs::metadata(file).map_err(|e| BackupError::Io(file.to_path_buf(), e))?.len();
    Ok(Written { file: file.to_path_buf(), bytes })
}

/// Loads the backup `file` into the configured database, which must be empty (SQLite:
/// no database file yet). Migrations the backup lacks are applied at the next start.
pub async fn restore(config: &Config, file: &Path) -> Result<(), BackupError> {
    if !file.exists() {
        return Err(BackupError::Missing(file.to_path_buf()));
    }
    let file = &std::path::absolute(file).map_err(|e| BackupError::Io(file.to_path_buf(), e))?;
    let url = config.database_url();
    if let Some(target) = storage::sqlite_path(&url) {
        restore_sqlite(file, Path::new(target)).await
    } else {
        let db = storage::connect(&url).await?;
        let tables = table_count(&db).await?;
        db.close().await?;
        if tables > 0 {
            return Err(BackupError::NotEmpty(format!("{tables} tables in {}", storage::redact(&url))));
        }
        check_pg_dump(file).await?;
        run_tool(
            "pg_restore",
            &["--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction"],
            file,
            &url,
        )
        .await
    }
}

/// Copies a checked SQLite backup to `target`, which must not exist yet.
async fn restore_sqlite(file: &Path, target: &Path) -> Result<(), BackupError> {
    // A journal left beside the target would be replayed into the restored database.
    for leftover in ["", "-wal", "-shm", "-journal"] {
        let mut path = target.as_os_str().to_owned();
        path.push(leftover);
        if Path::new(&path).exists() {
            return Err(BackupError::NotEmpty(Path::new(&path).display().to_string()));
        }
    }
    check_sqlite_backup(file).await?;
    if let Some(folder) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(|e| BackupError::Io(folder.to_path_buf(), e))?;
    }
    // Copied beside the target, then renamed: a restore cut short leaves no half-written
    // database where a start would open it.
    let mut partial = target.as_os_str().to_owned();
    partial.push(".restoring");
    let partial = PathBuf::from(partial);
    std::fs::copy(file, &partial).map_err(|e| BackupError::Io(partial.clone(), e))?;
    // A link, not a rename: it fails if a start made the target meanwhile, rather than
    // replacing a database in use.
    let linked = std::fs::hard_link(&partial, target);
    let _ = std::fs::remove_file(&partial);
    linked.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => BackupError::NotEmpty(target.display().to_string()),
        _ => BackupError::Io(target.to_path_buf(), e),
    })
}

/// Creates `file`, empty, readable by its owner only (a backup holds password hashes and
/// personal data); fails when it exists, so that no backup replaces another.
fn create_private_file(file: &Path) -> Result<(), BackupError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(file) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(BackupError::TargetExists(file.to_path_buf()))
        }
        Err(error) => Err(BackupError::Io(file.to_path_buf(), error)),
    }
}

async fn copy_sqlite(url: &str, file: &Path) -> Result<(), BackupError> {
    let db = storage::connect(url).await?;
    let copied = vacuum_into(&db, file).await;
    db.close().await?;
    copied
}

/// SQLite writes the copy into the empty file made for it (`VACUUM INTO` accepts an
/// empty file), keeping its modes.
async fn vacuum_into(db: &Db, file: &Path) -> Result<(), BackupError> {
    use sea_orm::{ConnectionTrait, Statement};
    let path = file
        .to_str()
        .ok_or_else(|| BackupError::Io(file.to_path_buf(), std::io::Error::other("the path is not valid UTF-8")))?;
    let statement = Statement::from_sql_and_values(db.get_database_backend(), "VACUUM INTO ?", [path.into()]);
    db.execute_raw(statement).await?;
    Ok(())
}

/// Opens the file as SQLite and reads its schema: it must be Sésame's, not newer than
/// this version.
async fn check_sqlite_backup(file: &Path) -> Result<(), BackupError> {
    use sea_orm::{ConnectionTrait, Statement};
    let not_a_backup = |why: String| BackupError::NotABackup(file.to_path_buf(), why);
    let db = storage::open_sqlite_read_only(file).await.map_err(|e| not_a_backup(e.to_string()))?;
    let schema = storage::schema(&db).await.map_err(|e| not_a_backup(e.to_string()));
    let checked = db.query_one_raw(Statement::from_string(db.get_database_backend(), "PRAGMA quick_check")).await;
    db.close().await?;
    let schema = schema?;
    let verdict = checked.ok().flatten().and_then(|row| row.try_get_by_index::<String>(0).ok());
    if verdict.as_deref() != Some("ok") {
        return Err(not_a_backup(format!(
            "SQLite's integrity check says {}",
            verdict.unwrap_or_else(|| "nothing".into())
        )));
    }
    if schema.pending.len() == sesame_migrations_count() {
        return Err(not_a_backup("it has none of Sésame's tables".into()));
    }
    if !schema.unknown.is_empty() {
        return Err(storage::StorageError::NewerSchema(schema.unknown.join(", ")).into());
    }
    Ok(())
}

/// A custom-format dump must hold Sésame's migration table before it is run against a
/// database.
async fn check_pg_dump(file: &Path) -> Result<(), BackupError> {
    let mut command = std::process::Command::new("pg_restore");
    command.arg("--list").arg(file);
    let output = output_of("pg_restore", command).await?;
    let listing = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() || !listing.contains("TABLE public seaql_migrations") {
        return Err(BackupError::NotABackup(
            file.to_path_buf(),
            "not a pg_dump custom-format file of Sésame's database (no seaql_migrations table)".into(),
        ));
    }
    Ok(())
}

fn sesame_migrations_count() -> usize {
    use sesame_migrations::MigratorTrait;
    sesame_migrations::Migrator::migrations().len()
}

async fn table_count(db: &Db) -> Result<i64, BackupError> {
    use sea_orm::{ConnectionTrait, Statement};
    let statement = Statement::from_string(
        db.get_database_backend(),
        "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema()",
    );
    let row = db.query_one_raw(statement).await?;
    Ok(row.and_then(|row| row.try_get::<i64>("", "n").ok()).unwrap_or(0))
}

/// Runs pg_dump or pg_restore on `file` against the database at `url`. The password,
/// if the URL has one, goes through the environment, not the command line that other
/// users of the machine can read.
async fn run_tool(tool: &'static str, args: &[&str], file: &Path, url: &str) -> Result<(), BackupError> {
    let (url, password) = split_password(url);
    let mut command = std::process::Command::new(tool);
    command.args(args);
    match tool {
        "pg_dump" => command.arg(file).arg(format!("--dbname={url}")),
        _ => command.arg(format!("--dbname={url}")).arg(file),
    };
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = output_of(tool, command).await?;
    if !output.status.success() {
        return Err(BackupError::ToolFailed(tool, String::from_utf8_lossy(&output.stderr).trim().to_string()));
    }
    Ok(())
}

/// Runs `command` (without input) off the async threads, and what it printed.
async fn output_of(
    tool: &'static str,
    mut command: std::process::Command,
) -> Result<std::process::Output, BackupError> {
    command.stdin(Stdio::null());
    tokio::task::spawn_blocking(move || command.output())
        .await
        .map_err(|e| BackupError::Tool(tool, e.to_string()))?
        .map_err(|e| BackupError::Tool(tool, e.to_string()))
}

/// The URL without its password (in the user part or as a `password` parameter), and
/// the password.
fn split_password(url: &str) -> (String, Option<String>) {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return (url.to_string(), None);
    };
    let mut password = parsed.password().map(percent_decoded);
    let _ = parsed.set_password(None);
    let pairs: Vec<(String, String)> = parsed.query_pairs().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    if let Some((_, given)) = pairs.iter().find(|(name, _)| name.eq_ignore_ascii_case("password")) {
        password = Some(given.clone());
    }
    if pairs.iter().any(|(name, _)| name.eq_ignore_ascii_case("password")) {
        let kept = pairs.into_iter().filter(|(name, _)| !name.eq_ignore_ascii_case("password"));
        parsed.query_pairs_mut().clear().extend_pairs(kept);
        if parsed.query() == Some("") {
            parsed.set_query(None);
        }
    }
    (parsed.to_string(), password)
}

/// `%XX` sequences of a URL's part as the bytes they stand for.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes.get(index + 1..index + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[index], hex.and_then(|hex| u8::from_str_radix(hex, 16).ok())) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url_for_the_environment() {
        let (url, password) = split_password("postgres://sesame:p%40ss%2Fw0rd@db.office.lan:5432/sesame");
        assert_eq!(url, "postgres://sesame@db.office.lan:5432/sesame");
        assert_eq!(password.as_deref(), Some("p@ss/w0rd"));
        assert_eq!(split_password("postgres://sesame@db/sesame"), ("postgres://sesame@db/sesame".into(), None));
        assert_eq!(percent_decoded("100%"), "100%", "a lone percent sign stays");
        let (url, password) = split_password("postgres://sesame@db/sesame?password=s%40cret&sslmode=require");
        assert_eq!(
            (url.as_str(), password.as_deref()),
            ("postgres://sesame@db/sesame?sslmode=require", Some("s@cret"))
        );
        let (url, _) = split_password("postgres://sesame@db/sesame?password=x");
        assert_eq!(url, "postgres://sesame@db/sesame");
        let shown = storage::redact("postgres://sesame:hunter2@db/sesame?password=hunter3&sslmode=require");
        assert!(!shown.contains("hunter") && shown.contains("sslmode=require"), "{shown}");
    }
}
