//! `sesame master-key`: make a new master key, count which key sealed what, and rotate
//! (see `src/master_key.rs` for how a rotation stays online).

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;

use crate::config::Config;
use crate::crypto::secretbox::{SecretBox, write_key_file};
use crate::state::AppState;

#[derive(Subcommand)]
pub enum MasterKeyCommand {
    /// Write a new random master key (base64) into FILE, mode 0600; never over an
    /// existing file. Needs no configuration.
    New { file: PathBuf },
    /// Which key seals new secrets, and how many stored secrets each key sealed.
    Status,
    /// Switch to the configured `master_key` from `previous_master_key` and seal every
    /// stored secret again under it, while nodes serve; run again to resume.
    Rotate,
}

pub fn new(file: &Path) -> anyhow::Result<()> {
    let key = crate::crypto::random_bytes::<32>();
    write_key_file(file, &key).with_context(|| "the new master key was not written")?;
    let id = SecretBox::from_bytes(key).key_id().to_string();
    println!("new master key `{id}` written to {} (mode 0600)", file.display());
    println!(
        "to rotate to it: on every node, make it `master_key_file` and the present key `previous_master_key_file`, \
         restart the nodes one at a time, then run `sesame master-key rotate` once"
    );
    Ok(())
}

pub async fn status(config: &Config) -> anyhow::Result<()> {
    let secrets = crate::master_key::load(config, false)?;
    let db = crate::storage::connect(&config.database_url()).await?;
    let census = crate::master_key::census(&db).await?;
    let held = |key: &str| if secrets.holds(key) { "configured" } else { "NOT configured" };
    match &census.sealing_key {
        Some(key) => println!("new secrets are sealed with master key `{key}` ({})", held(key)),
        None => println!("no node of this version has started on this database yet"),
    }
    println!("master_key: `{}`", secrets.key_id());
    if let Some(previous) = secrets.previous_key_id() {
        println!("previous_master_key: `{previous}`");
    }
    for (table, key, count) in &census.counts {
        println!("{table}: {count} sealed with `{key}` ({})", held(key));
    }
    Ok(())
}

pub async fn rotate(state: &AppState) -> anyhow::Result<()> {
    let now = state.clock.now();
    let rotation = crate::master_key::rotate(&state.db, &state.secrets, now, |line| println!("{line}")).await?;
    for (table, id) in &rotation.unopenable {
        println!("{table} {id}: no configured key opens it; left as it is");
    }
    if rotation.switched {
        super::audit_cli(state, "cli.master_key.rotated", None).await;
    }
    if !rotation.unopenable.is_empty() {
        bail!(
            "{} stored secrets could not be opened; configure the key that sealed them (`sesame master-key status`) \
             and run again",
            rotation.unopenable.len()
        );
    }
    if rotation.left > 0 {
        bail!(
            "{} secrets were sealed under the previous key meanwhile: run `sesame master-key rotate` again",
            rotation.left
        );
    }
    let resealed: u64 = rotation.resealed.iter().map(|(_, n)| n).sum();
    println!("done: every stored secret is sealed with master key `{}` ({resealed} sealed again)", rotation.new_key);
    let config = &state.config;
    let previous =
        if config.previous_master_key.is_empty() { "previous_master_key_file" } else { "previous_master_key" };
    let tokens = &config.tokens;
    let wait = tokens.access_token_ttl.max(tokens.authorization_request_ttl);
    println!(
        "access tokens and logins in progress sealed with the previous key live up to {wait} s more: after that, \
         remove `{previous}` from every node (restart them one at a time), then keep the old key only beside the \
         backups made before now, which need it"
    );
    Ok(())
}
