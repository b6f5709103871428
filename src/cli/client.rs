//! `sesame client …`: OIDC clients from the command line.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

use super::audit_cli;
use crate::clients::{self, ClientInput, SecretInput};
use crate::domain::Change;
use crate::state::AppState;

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
    /// web (default) or native: a desktop application (public; loopback redirect URIs
    /// such as http://127.0.0.1/callback match any port; private-use schemes).
    #[arg(long)]
    pub application_type: Option<String>,
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

pub async fn run(state: &AppState, command: ClientCommand) -> anyhow::Result<()> {
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
            let native = fields.application_type.as_deref() == Some("native");
            let public = fields.auth_method.as_deref() == Some("none") || (native && fields.auth_method.is_none());
            let secret = (!public).then(clients::generate_secret);
            let input = ClientInput {
                client_id: fields.client_id.clone(),
                application: fields.application,
                name: fields.name,
                secret: secret.clone().map(SecretInput::Plain),
                redirect_uris: fields.redirect_uris,
                token_endpoint_auth_method: fields.auth_method,
                application_type: fields.application_type,
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
                application_type: Some(
                    fields.application_type.unwrap_or_else(|| current.application_type.as_str().into()),
                ),
                first_party: fields.first_party.unwrap_or(current.first_party),
                require_two_factor: current.require_two_factor,
                require_pushed_authorization_requests: current.require_pushed_authorization_requests,
                id_token_signed_response_alg: Some(
                    fields.id_token_alg.unwrap_or_else(|| current.id_token_alg.as_str().to_string()),
                ),
                access_token_signed_response_alg: current.access_token_alg.map(|a| a.as_str().to_string()),
                backchannel_logout_uri: current.backchannel_logout_uri,
                frontchannel_logout_uri: current.frontchannel_logout_uri,
                frontchannel_logout_session_required: current.frontchannel_logout_session_required,
                resource: current.resource,
                jwks: current.jwks,
                jwks_uri: current.jwks_uri,
                subject_type: Some(current.subject_type.as_str().into()),
                sector_identifier_uri: current.sector_identifier_uri,
                request_object_signing_alg: current.request_object_alg.map(|a| a.as_str().to_string()),
                require_signed_request_object: current.require_signed_request_object,
                userinfo_signed_response_alg: current.userinfo_alg.map(|a| a.as_str().to_string()),
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
