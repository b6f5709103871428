//! The `sesame` command line: serve, migrate, import, user and client administration,
//! key rotation, and the push-device companion.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use crate::accounts::actions::Actor;
use crate::accounts::{self, AccountInput, PasswordInput};
use crate::app;
use crate::clients::{self, ClientInput, SecretInput};
use crate::clock::SystemClock;
use crate::config::Config;
use crate::domain::Change;
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
    /// Manage signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// A push device on this computer: enroll, list, approve or deny sign-in requests
    /// (a client of the device protocol; needs no server configuration).
    Authenticator(crate::push::companion::AuthenticatorArgs),
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// List accounts.
    List,
    /// Show one account and its access.
    Show { username: String },
    /// Create an account.
    Add(UserFields),
    /// Change an account; options not given keep their value.
    Set(UserFields),
    /// Remove the account's authenticators and recovery codes and reopen enrollment:
    /// its next login enrolls anew (the owner is told by mail).
    ResetSecondFactors { username: String },
    /// Lift every lock: an administrator's, and those left by wrong passwords or
    /// second-factor codes.
    Unlock { username: String },
    /// Lock the account by hand: no sign-in until it is unlocked; its sessions end.
    Lock { username: String },
}

#[derive(Args)]
pub struct UserFields {
    pub username: String,
    /// The password (prefer --password-stdin: command lines are visible to other users).
    #[arg(long)]
    pub password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long)]
    pub first_name: Option<String>,
    #[arg(long)]
    pub last_name: Option<String>,
    #[arg(long)]
    pub initials: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub archived: Option<bool>,
    #[arg(long)]
    pub two_factor: Option<bool>,
    /// No login codes by text message for this account.
    #[arg(long)]
    pub sms_disabled: Option<bool>,
    #[arg(long)]
    pub admin: Option<bool>,
}

#[derive(Subcommand)]
pub enum ClientCommand {
    /// List clients.
    List,
    /// Show one client.
    Show { client_id: String },
    /// Register a client; a confidential client's secret is generated and printed once.
    Add(ClientFields),
    /// Change a client; options not given keep their value.
    Set(ClientFields),
}

#[derive(Args)]
pub struct ClientFields {
    pub client_id: String,
    /// Application (code) the client belongs to.
    #[arg(long)]
    pub application: Option<String>,
    #[arg(long)]
    pub name: Option<String>,
    /// Redirect URI (repeat for several).
    #[arg(long = "redirect-uri")]
    pub redirect_uris: Vec<String>,
    /// client_secret_basic, client_secret_post or none (public client with PKCE).
    #[arg(long)]
    pub auth_method: Option<String>,
    /// Skip the consent page for this client.
    #[arg(long)]
    pub first_party: Option<bool>,
    /// RS256 (default), PS256, ES256 or EdDSA.
    #[arg(long)]
    pub id_token_alg: Option<String>,
    /// Generate a new secret and print it once.
    #[arg(long)]
    pub new_secret: bool,
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Make new signing keys current; the old ones stay published for verification.
    Rotate,
}

pub async fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::Authenticator(args) = cli.command {
        return crate::push::companion::run(args).await;
    }
    let mut config = Config::load(cli.config.as_deref())?;
    if let Command::Serve { demo: true } = cli.command {
        config.demo = Some(true);
    }
    if let Command::Serve { .. } = cli.command {
        return app::serve(config).await;
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
        Command::User(command) => user(&state, command).await,
        Command::Client(command) => client(&state, command).await,
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

fn read_password(fields: &UserFields) -> anyhow::Result<Option<String>> {
    if fields.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(fields.password.clone())
}

async fn user(state: &AppState, command: UserCommand) -> anyhow::Result<()> {
    let now = state.clock.now();
    match command {
        UserCommand::List => {
            for account in accounts::list(&state.db).await? {
                let flags = [
                    (account.archived, "archived"),
                    (account.account_admin, "admin"),
                    (account.two_factor_required, "2fa"),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, name)| *name)
                .collect::<Vec<_>>()
                .join(",");
                println!(
                    "{:<20} {:<30} {:<30} {}",
                    account.username,
                    account.full_name(),
                    account.email.unwrap_or_default(),
                    flags
                );
            }
            Ok(())
        }
        UserCommand::Show { username } => {
            let account = accounts::find_by_username(&state.db, &username)
                .await?
                .with_context(|| format!("no account `{username}`"))?;
            println!("id:            {}", account.id);
            println!("username:      {}", account.username);
            println!("name:          {}", account.full_name());
            println!("initials:      {}", account.initials);
            println!("email:         {}", account.email.clone().unwrap_or_default());
            println!("phone:         {}", account.phone.clone().unwrap_or_default());
            println!("archived:      {}", account.archived);
            println!("two-factor:    {}", account.two_factor_required);
            println!("sms disabled:  {}", account.sms_disabled);
            println!("account admin: {}", account.account_admin);
            let locks = accounts::locks(&state.db, &account, state.clock.now()).await?;
            if let Some(at) = locks.locked_at {
                println!("locked:        by an administrator (since {at}); `sesame user unlock` lifts it");
            }
            if let Some(until) = locks.locked_until {
                println!("waiting:       unknown browsers may try its password again at {until}");
            }
            if let Some(until) = locks.second_factor_locked_until {
                println!("second factor: locked until {until}");
            }
            for access in accounts::access_of(&state.db, &account.id).await? {
                println!(
                    "access:        {} allowed={} initials={} rights=[{}] options={}",
                    access.application_code,
                    access.allowed,
                    access.initials,
                    access.rights.join(", "),
                    serde_json::to_string(&access.options).unwrap_or_default()
                );
            }
            Ok(())
        }
        UserCommand::Add(fields) => {
            if accounts::find_by_username(&state.db, &fields.username).await?.is_some() {
                bail!("account `{}` already exists; use `sesame user set`", fields.username);
            }
            let password = read_password(&fields)?.context("a new account needs --password or --password-stdin")?;
            let input = AccountInput {
                username: fields.username.clone(),
                password: Some(PasswordInput::Plain(password)),
                first_name: fields.first_name.unwrap_or_default(),
                last_name: fields.last_name.unwrap_or_default(),
                initials: fields.initials.unwrap_or_default(),
                email: fields.email,
                phone: fields.phone,
                archived: fields.archived.unwrap_or(false),
                two_factor_required: fields.two_factor.unwrap_or(false),
                sms_disabled: fields.sms_disabled.unwrap_or(false),
                account_admin: fields.admin.unwrap_or(false),
                ..Default::default()
            };
            let (account, _) = accounts::upsert(&state.db, &state.passwords, input, now).await?;
            audit_cli(state, "cli.account.created", Some(&account.id)).await;
            println!("created account {} ({})", account.username, account.id);
            Ok(())
        }
        UserCommand::Set(fields) => {
            let current = accounts::find_by_username(&state.db, &fields.username)
                .await?
                .with_context(|| format!("no account `{}`", fields.username))?;
            let password = read_password(&fields)?;
            let input = AccountInput {
                username: current.username.clone(),
                password: password.map(PasswordInput::Plain),
                first_name: fields.first_name.unwrap_or(current.first_name),
                last_name: fields.last_name.unwrap_or(current.last_name),
                initials: fields.initials.unwrap_or(current.initials),
                email: fields.email.or(current.email),
                phone: fields.phone.or(current.phone),
                address: current.address,
                archived: fields.archived.unwrap_or(current.archived),
                two_factor_required: fields.two_factor.unwrap_or(current.two_factor_required),
                sms_disabled: fields.sms_disabled.unwrap_or(current.sms_disabled),
                account_admin: fields.admin.unwrap_or(current.account_admin),
                access: None,
            };
            let (account, change) = accounts::upsert(&state.db, &state.passwords, input, now).await?;
            if change != Change::Unchanged {
                audit_cli(state, "cli.account.updated", Some(&account.id)).await;
            }
            println!(
                "{} account {}",
                if change == Change::Unchanged { "unchanged" } else { "updated" },
                account.username
            );
            Ok(())
        }
        UserCommand::ResetSecondFactors { username } => {
            let account = accounts::find_by_username(&state.db, &username)
                .await?
                .with_context(|| format!("no account `{username}`"))?;
            accounts::actions::reset_second_factors(state, &Actor::command_line(), &account).await?;
            println!("second factors of {} removed; the next login enrolls anew", account.username);
            Ok(())
        }
        UserCommand::Unlock { username } => {
            let account = accounts::find_by_username(&state.db, &username)
                .await?
                .with_context(|| format!("no account `{username}`"))?;
            accounts::actions::unlock(state, &Actor::command_line(), &account).await?;
            println!("account {} unlocked", account.username);
            Ok(())
        }
        UserCommand::Lock { username } => {
            let account = accounts::find_by_username(&state.db, &username)
                .await?
                .with_context(|| format!("no account `{username}`"))?;
            accounts::actions::lock(state, &Actor::command_line(), &account).await?;
            println!("account {} locked: no sign-in until `sesame user unlock {}`", account.username, account.username);
            Ok(())
        }
    }
}

async fn client(state: &AppState, command: ClientCommand) -> anyhow::Result<()> {
    let now = state.clock.now();
    match command {
        ClientCommand::List => {
            for client in clients::list(&state.db).await? {
                println!(
                    "{:<24} {:<20} {:<20} {}",
                    client.client_id,
                    client.name,
                    client.auth_method.as_str(),
                    client.redirect_uris.join(" ")
                );
            }
            Ok(())
        }
        ClientCommand::Show { client_id } => {
            let client =
                clients::find(&state.db, &client_id).await?.with_context(|| format!("no client `{client_id}`"))?;
            println!("client_id:      {}", client.client_id);
            println!("name:           {}", client.name);
            println!("auth method:    {}", client.auth_method.as_str());
            println!("first party:    {}", client.first_party);
            println!("id token alg:   {}", client.id_token_alg.as_str());
            println!("redirect URIs:  {}", client.redirect_uris.join(" "));
            println!("grant types:    {}", client.grant_types.join(" "));
            Ok(())
        }
        ClientCommand::Add(fields) => {
            if clients::find(&state.db, &fields.client_id).await?.is_some() {
                bail!("client `{}` already exists; use `sesame client set`", fields.client_id);
            }
            let public = fields.auth_method.as_deref() == Some("none");
            let secret = (!public).then(clients::generate_secret);
            let input = ClientInput {
                client_id: fields.client_id.clone(),
                application: fields.application,
                name: fields.name,
                secret: secret.clone().map(SecretInput::Plain),
                redirect_uris: fields.redirect_uris,
                token_endpoint_auth_method: fields.auth_method,
                first_party: fields.first_party.unwrap_or(false),
                id_token_signed_response_alg: fields.id_token_alg,
                ..Default::default()
            };
            let (client, _) = clients::upsert(&state.db, &state.client_secrets, input, now).await?;
            audit_cli(state, "cli.client.created", None).await;
            println!("created client {}", client.client_id);
            if let Some(secret) = secret {
                println!("client secret (shown once, store it now): {secret}");
            }
            Ok(())
        }
        ClientCommand::Set(fields) => {
            let current = clients::find(&state.db, &fields.client_id)
                .await?
                .with_context(|| format!("no client `{}`", fields.client_id))?;
            let application = match fields.application {
                Some(code) => Some(code),
                None => match &current.application_id {
                    Some(id) => crate::applications::find_by_id(&state.db, id).await?.map(|a| a.code),
                    None => None,
                },
            };
            let auth_method = fields.auth_method.unwrap_or_else(|| current.auth_method.as_str().to_string());
            let new_secret = (fields.new_secret && auth_method != "none").then(clients::generate_secret);
            let secret = match (&new_secret, &current.secret_hash) {
                (Some(plain), _) => Some(SecretInput::Plain(plain.clone())),
                (None, Some(hash)) if auth_method != "none" => Some(SecretInput::Hash(hash.clone())),
                _ => None,
            };
            let input = ClientInput {
                client_id: current.client_id.clone(),
                application,
                name: Some(fields.name.unwrap_or(current.name)),
                secret,
                redirect_uris: if fields.redirect_uris.is_empty() {
                    current.redirect_uris
                } else {
                    fields.redirect_uris
                },
                post_logout_redirect_uris: current.post_logout_redirect_uris,
                grant_types: current.grant_types,
                scopes: current.scopes,
                token_endpoint_auth_method: Some(auth_method),
                first_party: fields.first_party.unwrap_or(current.first_party),
                require_two_factor: current.require_two_factor,
                id_token_signed_response_alg: Some(
                    fields.id_token_alg.unwrap_or_else(|| current.id_token_alg.as_str().to_string()),
                ),
                access_token_signed_response_alg: current.access_token_alg.map(|a| a.as_str().to_string()),
                backchannel_logout_uri: current.backchannel_logout_uri,
                jwks: current.jwks,
                jwks_uri: current.jwks_uri,
            };
            let (client, change) = clients::upsert(&state.db, &state.client_secrets, input, now).await?;
            if change != Change::Unchanged {
                audit_cli(state, "cli.client.updated", None).await;
            }
            println!(
                "{} client {}",
                if change == Change::Unchanged { "unchanged" } else { "updated" },
                client.client_id
            );
            if let Some(secret) = new_secret {
                println!("client secret (shown once, store it now): {secret}");
            }
            Ok(())
        }
    }
}
