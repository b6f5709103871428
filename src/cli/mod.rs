//! The `sesame` command line: serve, migrate, import, user and client administration,
//! key rotation, and the push-device companion.

mod client;
mod companion;
mod master_key;
mod registration;
mod user;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::bail;
use clap::{Parser, Subcommand};

pub use client::{ClientCommand, ClientFields};
pub use user::{UserCommand, UserFields};

use crate::app;
use crate::clock::SystemClock;
use crate::config::Config;
use crate::state::AppState;

#[derive(Parser)]
#[command(
    name = "sesame",
    version,
    about = "Sésame, an OpenID Connect identity provider for the software of an office"
)]
pub struct Cli {
    /// Configuration file (TOML); every key can also be set by a SESAME_* variable.
    #[arg(long, short, global = true, env = "SESAME_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server.
    Serve {
        /// Seed the demo accounts, applications and client (same as `demo = true`).
        #[arg(long)]
        demo: bool,
        /// Import this file (as `sesame import`) before listening; repeatable. An
        /// environment started by one command, such as the conformance suite's.
        #[arg(long = "import", value_name = "FILE")]
        imports: Vec<PathBuf>,
    },
    /// Check the configuration, the database and the master key for what would hurt in
    /// production, and say what to do; exits 1 on a fatal problem (or on any with
    /// --strict). Changes nothing.
    Check {
        /// Also fail (exit 1) on warnings.
        #[arg(long)]
        strict: bool,
    },
    /// Write a consistent copy of the database to FILE while nodes serve (SQLite: VACUUM
    /// INTO; PostgreSQL: pg_dump). The master key is not in it: keep it apart.
    Backup { file: PathBuf },
    /// Load a backup into an empty place (a new data directory, or an empty PostgreSQL
    /// database); start with the master key of the backed-up place.
    Restore { file: PathBuf },
    /// Create or update the database schema, then exit.
    Migrate,
    /// Upsert applications, clients and accounts from a TOML file.
    Import { file: PathBuf },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage OIDC clients.
    #[command(subcommand)]
    Client(ClientCommand),
    /// Initial access tokens for dynamic client registration (RFC 7591).
    #[command(subcommand)]
    Registration(registration::RegistrationCommand),
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Make a master key, see which key sealed what, rotate the master key online.
    #[command(subcommand, name = "master-key")]
    MasterKey(master_key::MasterKeyCommand),
    /// A push device on this computer: enroll, list, approve or deny sign-in requests
    /// (a client of the device protocol; needs no server configuration).
    Authenticator(companion::AuthenticatorArgs),
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make new signing keys current; the old ones stay published for verification.
    Rotate,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Authenticator(args) = cli.command {
        return companion::run(args).await;
    }
    if let Command::MasterKey(master_key::MasterKeyCommand::New { file }) = &cli.command {
        return master_key::new(file);
    }
    let mut config = Config::load(cli.config.as_deref())?;
    match &cli.command {
        Command::Check { strict } => return check(&config, cli.config.as_deref(), *strict).await,
        Command::Backup { file } => return backup(&config, file).await,
        Command::Restore { file } => return restore(&config, file).await,
        Command::MasterKey(master_key::MasterKeyCommand::Status) => return master_key::status(&config).await,
        _ => {}
    }
    if let Command::Serve { demo, imports } = cli.command {
        if demo {
            config.demo = Some(true);
        }
        return app::serve(config, &imports).await;
    }
    let state = app::open_state(config, Arc::new(SystemClock)).await?;
    match cli.command {
        Command::Serve { .. }
        | Command::Authenticator(_)
        | Command::Check { .. }
        | Command::Backup { .. }
        | Command::Restore { .. } => unreachable_serve(),
        Command::Migrate => {
            println!("database schema is up to date");
            Ok(())
        }
        Command::Import { file } => {
            let report = crate::import::import_file(&state, &file).await?;
            print!("{report}");
            Ok(())
        }
        Command::User(command) => user::run(&state, command).await,
        Command::Client(command) => client::run(&state, command).await,
        Command::Registration(command) => registration::run(&state, command).await,
        Command::MasterKey(master_key::MasterKeyCommand::Rotate) => master_key::rotate(&state).await,
        Command::MasterKey(_) => unreachable_serve(),
        Command::Keys(KeysCommand::Rotate) => {
            let kids = state.keys.rotate(state.clock.now()).await?;
            println!("new current signing keys: {}", kids.join(", "));
            Ok(())
        }
    }
}

/// Records a change made from the command line (the operator's shell account is "who").
pub(crate) async fn audit_cli(state: &AppState, event: &'static str, account_id: Option<&str>) {
    let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let detail = serde_json::json!({"by": format!("cli:{by}")});
    let event = crate::audit::AuditEvent { event, account_id, detail: Some(detail), ..Default::default() };
    crate::audit::record(&state.db, state.clock.now(), event).await;
}

fn unreachable_serve() -> anyhow::Result<()> {
    bail!(
        "serve, check, backup, restore, master-key new and status, and authenticator are handled before the state is \
         opened"
    )
}

async fn backup(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    let written = crate::backup::backup(config, file).await?;
    println!("backup written: {} ({} bytes)", written.file.display(), written.bytes);
    println!(
        "the master key is NOT in it: keep a copy of the master key ({}) apart from the backups; without it the \
         backup opens no signing key and no authenticator",
        master_key_place(config)
    );
    Ok(())
}

async fn restore(config: &Config, file: &std::path::Path) -> anyhow::Result<()> {
    crate::backup::restore(config, file).await?;
    println!("restored {} into {}", file.display(), crate::storage::redact(&config.database_url()));
    println!(
        "start Sésame with the master key of the backed-up place ({}); `sesame check` says whether it opens the keys",
        master_key_place(config)
    );
    Ok(())
}

/// Where this configuration takes its master key from, in words.
fn master_key_place(config: &Config) -> String {
    if config.master_key.is_empty() {
        config.master_key_path().0.display().to_string()
    } else {
        "the `master_key` setting".into()
    }
}

/// `sesame check`: prints every finding (the configuration was already loaded and
/// validated, which names a wrong key on its own).
async fn check(config: &Config, file: Option<&std::path::Path>, strict: bool) -> anyhow::Result<()> {
    use crate::preflight::Severity;
    let findings = crate::preflight::run(config, file).await;
    for finding in &findings {
        println!("{finding}");
    }
    let count = |severity| findings.iter().filter(|f| f.severity == severity).count();
    let (fatal, warnings) = (count(Severity::Fatal), count(Severity::Warning));
    let notes = count(Severity::Note);
    // Notes (what the first start creates) never fail the check, even `--strict`.
    println!(
        "{fatal} fatal, {warnings} warnings, {notes} notes (issuer {}, database {})",
        config.issuer(),
        crate::storage::redact(&config.database_url())
    );
    if fatal > 0 || (strict && warnings > 0) {
        bail!("the check failed");
    }
    Ok(())
}
