//! The demo: three accounts of a notary's office, its two applications and a relying
//! party client, so that a new user gets from clone to a working login in one command.

use sea_orm::{EntityTrait, PaginatorTrait};

use crate::import::{self, ImportError, ImportReport};
use crate::state::AppState;
use crate::storage::entities::account;

pub const DEMO_IMPORT: &str = include_str!("../config/demo-import.toml");
pub const DEMO_PASSWORD: &str = "sesame-demo";
pub const DEMO_CLIENT_ID: &str = "demo-rp";
pub const DEMO_CLIENT_SECRET: &str = "demo-rp-secret-not-for-production";
pub const DEMO_REDIRECT_URI: &str = "http://127.0.0.1:9090/callback";

/// `demo = true` seeds; unset seeds only an empty database behind a local issuer.
pub async fn should_seed(state: &AppState) -> Result<bool, sea_orm::DbErr> {
    Ok(match state.config.demo {
        Some(choice) => choice,
        None => state.config.issuer_is_local() && account::Entity::find().count(&state.db).await? == 0,
    })
}

pub async fn seed(state: &AppState) -> Result<ImportReport, ImportError> {
    import::import_text(state, "demo data", DEMO_IMPORT).await
}

pub fn print_instructions(state: &AppState) {
    let issuer = state.config.issuer();
    let outbox = state.config.data_dir.join("mail-outbox.jsonl");
    let outbox = outbox.display();
    println!(
        r#"
Sésame is running at {issuer} with demo data.

  Accounts (password "{DEMO_PASSWORD}"):
    Pauline   — INOTACTE and INOTCOMPTABILITE
    SoniaAIT  — INOTCOMPTABILITE only, account administrator
    Emilie    — INOTACTE only, two-step verification on: her first login enrolls an
                authenticator app (Microsoft/Google Authenticator, FreeOTP, Aegis); the
                confirmation code mailed to her is the last line of {outbox}
  Relying party: client_id "{DEMO_CLIENT_ID}", secret "{DEMO_CLIENT_SECRET}",
                 redirect URI {DEMO_REDIRECT_URI}
  Discovery:     {issuer}/.well-known/openid-configuration
  Account administration console: {issuer}/admin (sign in as SoniaAIT)
  My account's security (second factors, phones): {issuer}/account

  Log in through a real OpenID Connect client, in another terminal:
    cargo run --release --example demo_rp
  then open the URL it prints and sign in as Pauline.
"#
    );
}
