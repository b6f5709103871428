//! `sesame registration …`: the initial access tokens that let a program register
//! clients at /register (RFC 7591), bound to one application.

use anyhow::bail;
use clap::Subcommand;

use super::audit_cli;
use crate::registration::initial_tokens::{self, NewToken};
use crate::state::AppState;

#[derive(Subcommand)]
pub enum RegistrationCommand {
    /// Create an initial access token; it is printed once.
    CreateToken {
        /// The application (code) the registered clients belong to.
        #[arg(long)]
        application: String,
        /// Registrations it allows.
        #[arg(long, default_value_t = 1)]
        uses: i32,
        /// Days it stays valid.
        #[arg(long, default_value_t = 7)]
        days: i64,
        /// What it is for (who received it).
        #[arg(long, default_value = "")]
        description: String,
    },
    /// List the initial access tokens (never the tokens themselves).
    ListTokens,
    /// Revoke an initial access token by its id.
    RevokeToken { id: String },
}

pub async fn run(state: &AppState, command: RegistrationCommand) -> anyhow::Result<()> {
    let now = state.clock.now();
    match command {
        RegistrationCommand::CreateToken { application, uses, days, description } => {
            let new = NewToken { application, description, uses, expires_in: days.saturating_mul(86_400) };
            let (token, secret) = initial_tokens::create(&state.db, &state.client_secrets, new, now).await?;
            audit_cli(state, "registration.initial_token_created", None).await;
            println!("id:          {}", token.id);
            println!("application: {}", token.application);
            println!("uses:        {}", token.uses_left);
            println!("expires:     {}", crate::audit::utc(token.expires_at));
            println!("token (shown once): {secret}");
            if !state.config.registration.enabled {
                eprintln!("note: registration.enabled is false: /register answers 404 until it is turned on");
            }
            Ok(())
        }
        RegistrationCommand::ListTokens => {
            for token in initial_tokens::list(&state.db).await? {
                let status = match token.revoked_at {
                    Some(_) => "revoked",
                    None if token.expires_at <= now => "expired",
                    None if token.uses_left <= 0 => "used up",
                    None => "usable",
                };
                println!(
                    "{:<24} {:<16} {:>5} uses left  expires {}  {:<8} {}",
                    token.id,
                    token.application,
                    token.uses_left,
                    crate::audit::utc(token.expires_at),
                    status,
                    token.description
                );
            }
            Ok(())
        }
        RegistrationCommand::RevokeToken { id } => {
            if !initial_tokens::revoke(&state.db, &id, now).await? {
                bail!("no live initial access token has the id `{id}`");
            }
            audit_cli(state, "registration.initial_token_revoked", None).await;
            println!("revoked {id}");
            Ok(())
        }
    }
}
