//! `sesame user …`: accounts from the command line.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::audit_cli;
use crate::accounts::actions::Actor;
use serde_json::Value;

use crate::accounts::{self, AccessInput, AccountInput, PasswordInput};
use crate::applications::{self, OptionDef, OptionType};
use crate::domain::Change;
use crate::state::AppState;

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
    /// End every session and refresh token of the account (offline ones included): each
    /// application, desktop ones included, must log in again. The account stays usable.
    SignOutEverywhere { username: String },
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
    /// The language of every mail and text message to the account (default: the
    /// server's, French).
    #[arg(long, value_parser = ["fr", "en"])]
    pub language: Option<String>,
    #[command(flatten)]
    pub access: AccessFields,
}

/// Access to one application, as `--access APP` and what applies to it.
#[derive(Args, Default)]
pub struct AccessFields {
    /// Give the account access to this application (by its code), or change that
    /// access with the options below.
    #[arg(long, value_name = "APPLICATION")]
    pub access: Option<String>,
    /// Its rights in that application, comma-separated (replacing those it had; "" for
    /// none), from the application's catalogue.
    #[arg(long, value_name = "RIGHT,…", value_delimiter = ',', requires = "access")]
    pub rights: Option<Vec<String>>,
    /// An option in that application, KEY=VALUE (repeatable); `KEY=` sets it back to
    /// the application's default.
    #[arg(long = "option", value_name = "KEY=VALUE", requires = "access")]
    pub options: Vec<String>,
    /// Its initials in that application (default: none).
    #[arg(long, value_name = "INITIALS", requires = "access")]
    pub app_initials: Option<String>,
    /// Remove the account's access to this application (repeatable).
    #[arg(long, value_name = "APPLICATION")]
    pub remove_access: Vec<String>,
}

/// The account's access list after `--access …` and `--remove-access …`; `None` when
/// neither was given (the list stays as it is).
async fn changed_access(
    state: &AppState,
    fields: &AccessFields,
    mut list: Vec<AccessInput>,
) -> anyhow::Result<Option<Vec<AccessInput>>> {
    if fields.access.is_none() && fields.remove_access.is_empty() {
        return Ok(None);
    }
    for code in &fields.remove_access {
        let before = list.len();
        list.retain(|access| access.application != *code);
        if list.len() == before {
            bail!("the account has no access to `{code}` to remove");
        }
    }
    let Some(code) = &fields.access else { return Ok(Some(list)) };
    let application = applications::find_by_code(&state.db, code)
        .await?
        .with_context(|| format!("--access: no application `{code}` (see the import file's [[applications]])"))?;
    let index = match list.iter().position(|access| access.application == application.code) {
        Some(index) => index,
        None => {
            list.push(AccessInput {
                application: application.code.clone(),
                allowed: true,
                initials: String::new(),
                rights: Vec::new(),
                options: Default::default(),
            });
            list.len() - 1
        }
    };
    let entry = &mut list[index];
    entry.allowed = true;
    if let Some(rights) = &fields.rights {
        entry.rights =
            rights.iter().map(|right| right.trim()).filter(|right| !right.is_empty()).map(String::from).collect();
    }
    if let Some(initials) = &fields.app_initials {
        entry.initials = initials.clone();
    }
    for option in &fields.options {
        let (key, value) = option.split_once('=').with_context(|| format!("--option `{option}`: write KEY=VALUE"))?;
        if value.is_empty() {
            entry.options.remove(key);
            continue;
        }
        let definition = application
            .options
            .iter()
            .find(|definition| definition.key == key)
            .with_context(|| format!("--option: `{}` has no option `{key}`", application.code))?;
        entry.options.insert(key.to_string(), option_value(definition, value)?);
    }
    Ok(Some(list))
}

/// `value` as the option's type says: text, `true`/`false`, or a whole number.
fn option_value(definition: &OptionDef, value: &str) -> anyhow::Result<Value> {
    let key = &definition.key;
    Ok(match definition.kind {
        OptionType::String => Value::String(value.to_string()),
        OptionType::Boolean => match value {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => bail!("--option {key}: `{value}` is not true or false"),
        },
        OptionType::Integer => Value::from(
            value.parse::<i64>().ok().with_context(|| format!("--option {key}: `{value}` is not a whole number"))?,
        ),
    })
}

fn read_password(fields: &UserFields) -> anyhow::Result<Option<String>> {
    if fields.password_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("reading the password from standard input")?;
        return Ok(Some(line.trim_end_matches(['\r', '\n']).to_string()));
    }
    Ok(fields.password.clone())
}

pub async fn run(state: &AppState, command: UserCommand) -> anyhow::Result<()> {
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
            let chosen = if account.language.is_some() { "" } else { " (not chosen: the server's)" };
            println!("language:      {}{chosen}", account.locale().code());
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
            let access = changed_access(state, &fields.access, Vec::new()).await?;
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
                language: fields.language.map(Some),
                access,
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
            let had = accounts::access_of(&state.db, &current.id).await?.into_iter().map(AccessInput::from).collect();
            let access = changed_access(state, &fields.access, had).await?;
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
                access,
                language: fields.language.map(Some),
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
        UserCommand::SignOutEverywhere { username } => {
            let account = accounts::find_by_username(&state.db, &username)
                .await?
                .with_context(|| format!("no account `{username}`"))?;
            let ended = accounts::actions::sign_out_everywhere(state, &Actor::command_line(), &account).await?;
            println!(
                "account {} signed out everywhere: {ended} session(s) ended, refresh tokens revoked",
                account.username
            );
            Ok(())
        }
    }
}
