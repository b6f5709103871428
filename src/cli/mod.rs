//! The `sesame` command line: serve, migrate, import, user and client administration,
//! key rotation, and the push-device companion.

mod client;
mod companion;
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
    let mut config = Config::load(cli.config.as_deref())?;
    if let Command::Serve { demo, imports } = cli.command {
        if demo {
            config.demo = Some(true);
        }
        return app::serve(config, &imports).await;
    }
    let state = app::open_state(config, Arc::new(SystemClock)).await?;
    match cli.command {
        Command::Serve { .. } | Command::Authenticator(_) => unreachable_serve(),
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
        Command::Keys(KeysCommand::Rotate) => {
            let kids = state.keys.rotate(state.clock.now()).await?;
            println!("new current signing keys: {}", kids.join(", "));
            Ok(())
        }
    }
}

/// Records a change made from the command line (the operator's shell account is "who").
async fn audit_cli(state: &AppState, event: &'static str, account_id: Option<&str>) {
    let by = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    let detail = serde_json::json!({"by": format!("cli:{by}")});
    let event = crate::audit::AuditEvent { event, account_id, detail: Some(detail), ..Default::default() };
    crate::audit::record(&state.db, state.clock.now(), event).await;
}

fn unreachable_serve() -> anyhow::Result<()> {
    bail!("serve is handled before the state is opened")
}
