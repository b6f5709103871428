//! The master key's custody in the database, and its rotation.
//!
//! One row (`master_key_state`) says which master key seals new secrets and holds the
//! derivation root, sealed. A node reads it at start (`bind`) and every
//! [`WATCH_EVERY`] after (`spawn_watch`).
//!
//! Rotating, online, with nodes serving (README, "Rotating the master key"):
//! 1. `sesame master-key new FILE` makes the new key.
//! 2. Every node is restarted with the new key as `master_key` and the old one as
//!    `previous_master_key`: it opens both, and still seals with the old one, which
//!    the nodes not yet restarted have.
//! 3. `sesame master-key rotate` switches the row to the new key (nodes follow within
//!    [`WATCH_EVERY`]), then seals every stored secret again under it, a batch at a
//!    time, each row replaced only if unchanged since read. Interrupted, it is run
//!    again and goes on; run on a finished rotation, it does nothing.
//! 4. Once it says so, `previous_master_key` is removed from every node.
//!
//! What is derived from the root (CSRF and cookie keys, client-secret hashes, pairwise
//! subjects, the push server key) does not change: applications, companion apps and
//! client secrets keep working.

use std::time::Duration;

use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};

use crate::crypto::secretbox::{SecretBox, SecretBoxError, sealed_key_id};
use crate::storage::Db;
use crate::storage::entities::{master_key_state, second_factor, signing_key, web_push_key, web_push_subscription};

/// How often a node reads which key seals: the time a rotation waits for every node to
/// follow it.
pub const WATCH_EVERY: Duration = Duration::from_secs(2);
/// Rows read per query while sealing again.
const BATCH: u64 = 200;
/// Passes over every table after the switch: a node that had not yet followed it may
/// have sealed a few secrets under the previous key during the first one.
const MAX_PASSES: usize = 5;
const STATE_ID: i32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
    #[error("the derivation root in the database cannot be opened: {0}")]
    Root(SecretBoxError),
    #[error(
        "the database seals new secrets with master key `{sealing}`, which this node does not have (it has {held}): \
         configure that key as `master_key` (or `master_key_file`), or as `previous_master_key` (or \
         `previous_master_key_file`) during a rotation"
    )]
    NotHeld { sealing: String, held: String },
    #[error(
        "nothing to rotate to: the database already seals with master key `{0}` and no previous key is configured; \
         make a new key (`sesame master-key new FILE`), configure it as `master_key` and this one as \
         `previous_master_key` on every node, then run `sesame master-key rotate`"
    )]
    NoNewKey(String),
}

/// Reads (or, on the first start of this version, writes) which key seals and the
/// derivation root, and sets `secrets` to match. Run at start, before any key is derived.
pub async fn bind(db: &Db, secrets: &SecretBox, now: i64) -> Result<(), MasterKeyError> {
    let row = match read(db).await? {
        Some(row) => row,
        None => first_state(db, secrets, now).await?,
    };
    follow(secrets, &row)?;
    secrets.adopt_root(&row.root).map_err(MasterKeyError::Root)
}

/// The master key from configuration, else from `master.key` in the data directory,
/// which is created only for a database that holds nothing sealed yet (`may_create`);
/// with the previous key when one is configured.
pub fn load(config: &crate::config::Config, may_create: bool) -> Result<SecretBox, SecretBoxError> {
    let current = if config.master_key.is_empty() {
        match config.master_key_path() {
            (path, true) if may_create => SecretBox::from_file_or_create(&path)?,
            (path, true) if !path.exists() => return Err(SecretBoxError::Missing(path.display().to_string())),
            (path, _) => SecretBox::from_file(&path)?,
        }
    } else {
        SecretBox::from_base64(&config.master_key)?
    };
    let previous = if !config.previous_master_key.is_empty() {
        Some(SecretBox::from_base64(&config.previous_master_key)?)
    } else if !config.previous_master_key_file.is_empty() {
        Some(SecretBox::from_file(std::path::Path::new(&config.previous_master_key_file))?)
    } else {
        None
    };
    Ok(match previous {
        Some(previous) => current.with_previous(&previous),
        None => current,
    })
}

/// Whether the database holds anything sealed with a master key already.
pub async fn holds_sealed(db: &Db) -> Result<bool, sea_orm::DbErr> {
    Ok(signing_key::Entity::find().one(db).await?.is_some())
}

async fn read(db: &Db) -> Result<Option<master_key_state::Model>, sea_orm::DbErr> {
    master_key_state::Entity::find_by_id(STATE_ID).one(db).await
}

/// The row as this node sees things: it seals with the key it seals with. A database
/// that already holds signing keys has derived every purpose key from that master key
/// itself, which stays the root; a new one gets a random root.
async fn first_state(db: &Db, secrets: &SecretBox, now: i64) -> Result<master_key_state::Model, MasterKeyError> {
    if !holds_sealed(db).await? {
        secrets.new_root();
    }
    let row = master_key_state::ActiveModel {
        id: Set(STATE_ID),
        sealing_key: Set(secrets.sealing_key_id().to_string()),
        root: Set(secrets.sealed_root()),
        updated_at: Set(now),
    };
    // Two nodes starting at once: the first row stays, and both read it.
    master_key_state::Entity::insert(row)
        .on_conflict(OnConflict::column(master_key_state::Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    read(db).await?.ok_or_else(|| sea_orm::DbErr::RecordNotFound("master_key_state".into()).into())
}

/// Seals with the key the row names, if this node has it.
fn follow(secrets: &SecretBox, row: &master_key_state::Model) -> Result<(), MasterKeyError> {
    if !secrets.holds(&row.sealing_key) {
        return Err(MasterKeyError::NotHeld { sealing: row.sealing_key.clone(), held: held(secrets) });
    }
    if row.sealing_key == secrets.key_id() && secrets.sealing_key_id() != secrets.key_id() {
        secrets.seal_with_current();
        tracing::info!(
            key = secrets.key_id(),
            "the master-key rotation began: new secrets are sealed with the new key"
        );
    }
    Ok(())
}

fn held(secrets: &SecretBox) -> String {
    match secrets.previous_key_id() {
        Some(previous) => format!("`{}` and `{previous}`", secrets.key_id()),
        None => format!("`{}`", secrets.key_id()),
    }
}

/// Follows the row for as long as the server runs. A node that lacks the key the
/// database now seals with says so in its log and on `/healthz`, so that a load
/// balancer stops sending it logins it could not finish.
pub fn spawn_watch(db: Db, secrets: SecretBox) {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(WATCH_EVERY);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match read(&db).await {
                Ok(Some(row)) => match follow(&secrets, &row) {
                    Ok(()) => {
                        if secrets.set_usable(true) {
                            tracing::info!("this node holds the master key the database seals with again");
                        }
                    }
                    Err(error) => {
                        if secrets.set_usable(false) {
                            tracing::error!(%error, "this node can no longer open new secrets");
                        }
                    }
                },
                Ok(None) => {}
                Err(error) => tracing::debug!(%error, "cannot read the master key state"),
            }
        }
    });
}

/// The tables that hold values sealed with the master key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SealedTable {
    SigningKeys,
    SecondFactors,
    WebPushSubscriptions,
    WebPushKeys,
}

impl SealedTable {
    pub const ALL: [SealedTable; 4] =
        [Self::SigningKeys, Self::SecondFactors, Self::WebPushSubscriptions, Self::WebPushKeys];

    pub fn name(self) -> &'static str {
        match self {
            Self::SigningKeys => "signing_keys",
            Self::SecondFactors => "second_factors",
            Self::WebPushSubscriptions => "web_push_subscriptions",
            Self::WebPushKeys => "web_push_keys",
        }
    }

    fn aad(self, id: &str) -> String {
        match self {
            Self::SigningKeys => crate::crypto::keys::sealed_aad(id),
            Self::SecondFactors => crate::second_factor::sealed_aad(id),
            Self::WebPushSubscriptions => crate::second_factor::push::web_push::subscription::keys_aad(id),
            Self::WebPushKeys => crate::second_factor::push::web_push::vapid::aad(),
        }
    }

    /// Up to `BATCH` rows after `after` in id order: (id, sealed value).
    async fn rows_after(self, db: &Db, after: &str) -> Result<Vec<(String, String)>, sea_orm::DbErr> {
        Ok(match self {
            Self::SigningKeys => signing_key::Entity::find()
                .filter(signing_key::Column::Kid.gt(after))
                .order_by_asc(signing_key::Column::Kid)
                .limit(BATCH)
                .all(db)
                .await?
                .into_iter()
                .map(|row| (row.kid, row.private_key))
                .collect(),
            Self::SecondFactors => second_factor::Entity::find()
                .filter(second_factor::Column::Id.gt(after))
                .order_by_asc(second_factor::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?
                .into_iter()
                .map(|row| (row.id, row.secret))
                .collect(),
            Self::WebPushSubscriptions => web_push_subscription::Entity::find()
                .filter(web_push_subscription::Column::Id.gt(after))
                .order_by_asc(web_push_subscription::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?
                .into_iter()
                .map(|row| (row.id, row.keys))
                .collect(),
            Self::WebPushKeys => web_push_key::Entity::find()
                .filter(web_push_key::Column::Id.gt(after))
                .order_by_asc(web_push_key::Column::Id)
                .limit(BATCH)
                .all(db)
                .await?
                .into_iter()
                .map(|row| (row.id, row.private_key))
                .collect(),
        })
    }

    /// Replaces `old` by `new` in row `id`, unless the row changed since it was read
    /// (a passkey's counter, a re-enrollment): then the next pass reads it again.
    async fn replace(self, db: &Db, id: &str, old: &str, new: &str) -> Result<bool, sea_orm::DbErr> {
        let updated = match self {
            Self::SigningKeys => {
                signing_key::Entity::update_many()
                    .col_expr(signing_key::Column::PrivateKey, Expr::value(new))
                    .filter(signing_key::Column::Kid.eq(id))
                    .filter(signing_key::Column::PrivateKey.eq(old))
                    .exec(db)
                    .await?
            }
            Self::SecondFactors => {
                second_factor::Entity::update_many()
                    .col_expr(second_factor::Column::Secret, Expr::value(new))
                    .filter(second_factor::Column::Id.eq(id))
                    .filter(second_factor::Column::Secret.eq(old))
                    .exec(db)
                    .await?
            }
            Self::WebPushSubscriptions => {
                web_push_subscription::Entity::update_many()
                    .col_expr(web_push_subscription::Column::Keys, Expr::value(new))
                    .filter(web_push_subscription::Column::Id.eq(id))
                    .filter(web_push_subscription::Column::Keys.eq(old))
                    .exec(db)
                    .await?
            }
            Self::WebPushKeys => {
                web_push_key::Entity::update_many()
                    .col_expr(web_push_key::Column::PrivateKey, Expr::value(new))
                    .filter(web_push_key::Column::Id.eq(id))
                    .filter(web_push_key::Column::PrivateKey.eq(old))
                    .exec(db)
                    .await?
            }
        };
        Ok(updated.rows_affected == 1)
    }
}

/// How many stored secrets each master key sealed, per table.
#[derive(Debug, Default)]
pub struct Census {
    pub sealing_key: Option<String>,
    /// (table, key id, count), in table order then key order.
    pub counts: Vec<(&'static str, String, u64)>,
}

impl Census {
    /// Secrets sealed under keys that `secrets` does not hold.
    pub fn unopenable(&self, secrets: &SecretBox) -> u64 {
        self.counts.iter().filter(|(_, key, _)| !secrets.holds(key)).map(|(_, _, n)| n).sum()
    }

    /// Secrets sealed under a key other than `key_id`.
    pub fn not_under(&self, key_id: &str) -> u64 {
        self.counts.iter().filter(|(_, key, _)| key != key_id).map(|(_, _, n)| n).sum()
    }
}

/// Counts the stored secrets by the master key that sealed them (reads only).
pub async fn census(db: &Db) -> Result<Census, MasterKeyError> {
    let mut census = Census { sealing_key: read(db).await?.map(|row| row.sealing_key), counts: Vec::new() };
    for table in SealedTable::ALL {
        let mut by_key = std::collections::BTreeMap::<String, u64>::new();
        let mut after = String::new();
        loop {
            let rows = table.rows_after(db, &after).await?;
            let Some((last, _)) = rows.last() else { break };
            after = last.clone();
            for (_, sealed) in &rows {
                *by_key.entry(sealed_key_id(sealed).unwrap_or("?").to_string()).or_default() += 1;
            }
        }
        census.counts.extend(by_key.into_iter().map(|(key, n)| (table.name(), key, n)));
    }
    Ok(census)
}

/// What `rotate` did.
#[derive(Debug, Default)]
pub struct Rotation {
    /// Whether this run switched the database to the new key (false: an earlier run did).
    pub switched: bool,
    pub new_key: String,
    /// Secrets sealed again, per table.
    pub resealed: Vec<(&'static str, u64)>,
    /// Rows whose value no configured key opens (table, id): left as they are.
    pub unopenable: Vec<(&'static str, String)>,
    /// Secrets still under another key after every pass (written meanwhile by a node
    /// that had not followed the switch): run again.
    pub left: u64,
}

/// Switches the database to the configured (new) master key, then seals every stored
/// secret again under it. `say` reports progress.
pub async fn rotate(db: &Db, secrets: &SecretBox, now: i64, say: impl Fn(&str)) -> Result<Rotation, MasterKeyError> {
    let state = match read(db).await? {
        Some(row) => row,
        None => first_state(db, secrets, now).await?,
    };
    let new_key = secrets.key_id().to_string();
    let mut rotation = Rotation { new_key: new_key.clone(), ..Rotation::default() };
    if state.sealing_key != new_key {
        if secrets.previous_key_id() != Some(state.sealing_key.as_str()) {
            return Err(MasterKeyError::NotHeld { sealing: state.sealing_key, held: held(secrets) });
        }
        rotation.switched = switch(db, secrets, &state, now).await?;
        say(&format!(
            "new secrets are now sealed with master key `{new_key}`; waiting {} s for every node to follow",
            2 * WATCH_EVERY.as_secs() + 1
        ));
        tokio::time::sleep(2 * WATCH_EVERY + Duration::from_secs(1)).await;
    } else if secrets.previous_key_id().is_none() && census(db).await?.not_under(&new_key) == 0 {
        return Err(MasterKeyError::NoNewKey(new_key));
    }
    secrets.seal_with_current();
    for pass in 0..MAX_PASSES {
        let resealed = reseal_pass(db, secrets, &mut rotation, &say).await?;
        if resealed == 0 {
            break;
        }
        if pass + 1 < MAX_PASSES {
            tokio::time::sleep(WATCH_EVERY).await;
        }
    }
    let unopenable = rotation.unopenable.len() as u64;
    rotation.left = census(db).await?.not_under(&new_key).saturating_sub(unopenable);
    Ok(rotation)
}

/// The row switched to the new key, the root sealed again under it; `false` if another
/// run switched it first.
async fn switch(
    db: &Db,
    secrets: &SecretBox,
    state: &master_key_state::Model,
    now: i64,
) -> Result<bool, MasterKeyError> {
    let root = secrets.reseal(&state.root, crate::crypto::secretbox::ROOT_AAD).map_err(MasterKeyError::Root)?;
    let switched = master_key_state::Entity::update_many()
        .col_expr(master_key_state::Column::SealingKey, Expr::value(secrets.key_id()))
        .col_expr(master_key_state::Column::Root, Expr::value(root.unwrap_or_else(|| state.root.clone())))
        .col_expr(master_key_state::Column::UpdatedAt, Expr::value(now))
        .filter(master_key_state::Column::Id.eq(STATE_ID))
        .filter(master_key_state::Column::SealingKey.eq(state.sealing_key.as_str()))
        .exec(db)
        .await?;
    Ok(switched.rows_affected == 1)
}

/// One pass over every table; the number of secrets sealed again.
async fn reseal_pass(
    db: &Db,
    secrets: &SecretBox,
    rotation: &mut Rotation,
    say: &impl Fn(&str),
) -> Result<u64, MasterKeyError> {
    let mut total = 0;
    for table in SealedTable::ALL {
        let mut resealed = 0;
        let mut after = String::new();
        loop {
            let rows = table.rows_after(db, &after).await?;
            let Some((last, _)) = rows.last() else { break };
            after = last.clone();
            for (id, sealed) in rows {
                match secrets.reseal(&sealed, &table.aad(&id)) {
                    Ok(None) => {}
                    Ok(Some(new)) => resealed += u64::from(table.replace(db, &id, &sealed, &new).await?),
                    Err(_) => {
                        if !rotation.unopenable.iter().any(|(t, i)| *t == table.name() && *i == id) {
                            rotation.unopenable.push((table.name(), id));
                        }
                    }
                }
            }
        }
        if resealed > 0 {
            say(&format!("{}: {resealed} secrets sealed again", table.name()));
            match rotation.resealed.iter_mut().find(|(name, _)| *name == table.name()) {
                Some((_, n)) => *n += resealed,
                None => rotation.resealed.push((table.name(), resealed)),
            }
        }
        total += resealed;
    }
    Ok(total)
}
