//! The application state that every handler shares: configuration, the database pool,
//! keys, caches and outgoing channels, opened once at start (`open_state`). Domain
//! functions take the narrow parts they need (a connection, a config section), not this.

use std::sync::Arc;

use crate::clients::SecretHasher;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{keys::KeyStore, password::PasswordHasherService, secretbox::SecretBox};
use crate::rate_limit::RateLimiter;
use crate::storage::{self, Db};
use crate::theme::Theme;

/// What every request of a node shares, behind one `Arc`: axum clones the state for each
/// extractor and layer that takes it, and one reference count costs less than the two
/// dozen that the parts would (measured: 4 % of a token request's core).
#[derive(Clone)]
pub struct AppState(Arc<SharedState>);

impl std::ops::Deref for AppState {
    type Target = SharedState;

    fn deref(&self) -> &SharedState {
        &self.0
    }
}

/// The parts of [`AppState`], read through it (`state.config`, `state.db`).
pub struct SharedState {
    pub config: Arc<Config>,
    pub db: Db,
    pub keys: Arc<KeyStore>,
    pub passwords: Arc<PasswordHasherService>,
    pub client_secrets: Arc<SecretHasher>,
    pub theme: Arc<Theme>,
    pub clock: Arc<dyn Clock>,
    pub csrf_key: [u8; 32],
    pub secrets: SecretBox,
    pub limits: Arc<Limits>,
    /// Outgoing HTTP to what the operator configured (push webhook): no redirects, short
    /// timeouts.
    pub http: reqwest::Client,
    /// Calls to URLs that clients give, under `[fetch]`.
    pub fetcher: Arc<crate::oidc::fetch::Fetcher>,
    pub jwks_cache: Arc<crate::oidc::jwks_cache::JwksCache>,
    pub client_cache: Arc<crate::clients::ClientCache>,
    /// The revocation list and the accounts' claims in memory (see `change_feed`).
    pub caches: Arc<crate::change_feed::NodeCaches>,
    /// Access tokens whose signature this node already checked.
    pub verified_tokens: Arc<crate::crypto::verified::VerifiedTokens>,
    /// The discovery document, serialised once.
    pub discovery: crate::oidc::discovery::Metadata,
    pub metrics: Arc<crate::metrics::Metrics>,
    pub mailer: Arc<crate::mail::Mailer>,
    pub sms: Arc<crate::second_factor::sms::provider::SmsProvider>,
    /// Signs push challenges; derived from the master key, the same on every node.
    pub push_key: Arc<crate::crypto::jws::SigningKey>,
    /// Wakes push devices through their browser's push service (VAPID key shared by all nodes).
    pub web_push: Arc<crate::second_factor::push::web_push::WebPush>,
    /// Keys the hashes of one-time codes (recovery codes, mailed codes).
    pub code_key: [u8; 32],
    /// Signs the "known browser" cookie (see `auth::known_browser`).
    pub known_browser_key: [u8; 32],
    /// The passkeys' relying party (see `second_factor::passkey`).
    pub passkeys: Arc<crate::second_factor::passkey::Passkeys>,
    /// Keys pairwise subjects (see `oidc::subject`): the same on every node.
    pub pairwise_key: [u8; 32],
}

// The narrow parts that handlers outside the login take instead of the whole state, so
// that the modules this state is made of do not import it back.
macro_rules! part_of_state {
    ($($field:ident: $type:ty),* $(,)?) => {
        $(impl axum::extract::FromRef<AppState> for $type {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

part_of_state! {
    config: Arc<Config>,
    keys: Arc<KeyStore>,
    theme: Arc<Theme>,
    metrics: Arc<crate::metrics::Metrics>,
    discovery: crate::oidc::discovery::Metadata,
}

/// The per-node limits. Budgets that must hold across nodes live in the database
/// (`throttle`); these only spare it a query.
pub struct Limits {
    pub login_per_ip: RateLimiter,
    /// Device authorization requests per address (each writes a row until it expires),
    /// at the rate of login forms, counted apart.
    pub device_authorization_per_ip: RateLimiter,
    /// Codes typed on the device page per address, at the same rate, counted apart: a
    /// malformed code costs no budget in the database, but a refusal is a row of the
    /// audit trail.
    pub device_verification_per_ip: RateLimiter,
    /// Pushed authorization requests of public clients per address (each writes a row
    /// until it expires), at the same rate, counted apart.
    pub par_per_ip: RateLimiter,
    /// Authorization requests per address whose `request_uri` Sésame must fetch, at the
    /// rate of login forms: a link cannot make a node call out without end.
    pub request_uri_per_ip: RateLimiter,
    /// Registration requests per address (`registration.per_ip_per_minute`).
    pub registration_per_ip: RateLimiter,
    /// Client and source pairs this node saw refused, until when (see `oidc::client_auth`).
    pub client_auth_blocked: crate::rate_limit::BlockList,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Secrets(#[from] crate::crypto::secretbox::SecretBoxError),
    #[error(transparent)]
    Keys(#[from] crate::crypto::keys::KeyError),
    #[error(transparent)]
    MasterKey(#[from] crate::master_key::MasterKeyError),
    #[error(transparent)]
    Password(#[from] crate::crypto::password::PasswordError),
    #[error(transparent)]
    Theme(#[from] crate::theme::ThemeError),
    // Not `source`: the reason is in the message, and said once.
    #[error("cannot listen on {address}: {}", crate::state::listen_failure(reason))]
    Listen { address: String, reason: std::io::Error },
    #[error("demo data: {0}")]
    Demo(String),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    #[error(transparent)]
    Sms(#[from] crate::second_factor::sms::provider::SmsError),
    #[error("push signing key: {0}")]
    Push(String),
    #[error("HTTP client: {0}")]
    Http(String),
    #[error("registering the built-in clients (console, account page): {0}")]
    Console(String),
}

/// Opens the database (migrating it), the master key, the signing keys and the theme.
pub async fn open_state(config: Config, clock: Arc<dyn Clock>) -> Result<AppState, StartError> {
    let db = storage::connect(&config.database_url()).await?;
    storage::migrate(&db).await?;
    let holds_sealed = crate::master_key::holds_sealed(&db).await.map_err(crate::master_key::MasterKeyError::from)?;
    let secrets = crate::master_key::load(&config, !holds_sealed)?;
    let lock = storage::StartLock::take(&db).await.map_err(storage::StorageError::Migrate)?;
    let keys = open_keys(&db, &secrets, clock.now()).await;
    lock.release().await.map_err(storage::StorageError::Migrate)?;
    let keys = keys?;
    let passwords = PasswordHasherService::new(&config.password)?;
    let theme = Arc::new(Theme::load(&config.theme)?.with_base(config.base_path()));
    let limits = Limits {
        login_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        device_authorization_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        device_verification_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        par_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        request_uri_per_ip: RateLimiter::new(config.rate_limits.login_per_ip_per_minute, 60),
        registration_per_ip: RateLimiter::new(config.registration.per_ip_per_minute, 60),
        client_auth_blocked: crate::rate_limit::BlockList::default(),
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(5))
        .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StartError::Http(e.to_string()))?;
    let fetcher = crate::oidc::fetch::Fetcher::new(&config.fetch).map_err(StartError::Http)?;
    let client_cache = Arc::new(crate::clients::ClientCache::new(config.tokens.client_cache_ttl));
    let mailer = crate::mail::Mailer::from_config(&config)?;
    let sms = crate::second_factor::sms::provider::SmsProvider::from_config(&config)?;
    let push_key = crate::second_factor::push::server_key(&secrets).map_err(|e| StartError::Push(e.to_string()))?;
    let web_push = crate::second_factor::push::web_push::WebPush::open(
        &config,
        db.clone(),
        secrets.clone(),
        theme.clone(),
        clock.now(),
    )
    .await
    .map_err(|e| StartError::Push(e.to_string()))?;
    let state = AppState(Arc::new(SharedState {
        mailer: Arc::new(mailer),
        sms: Arc::new(sms),
        push_key: Arc::new(push_key),
        web_push: Arc::new(web_push),
        code_key: secrets.derive_key("one-time-codes"),
        known_browser_key: secrets.derive_key("known-browser"),
        pairwise_key: crate::oidc::subject::key(&secrets),
        passkeys: Arc::new(crate::second_factor::passkey::Passkeys::new(&config, secrets.derive_key("passkeys"))),
        metrics: Arc::default(),
        discovery: crate::oidc::discovery::document_json(
            config.issuer(),
            config.par.require_pushed_authorization_requests,
            config.registration.enabled,
        ),
        client_cache: client_cache.clone(),
        caches: Arc::new(crate::change_feed::NodeCaches::new(config.caches.clone(), client_cache)),
        verified_tokens: Default::default(),
        jwks_cache: Arc::default(),
        http,
        fetcher: Arc::new(fetcher),
        limits: Arc::new(limits),
        csrf_key: secrets.derive_key("csrf"),
        client_secrets: Arc::new(SecretHasher::new(secrets.derive_key("client-secret"))),
        secrets,
        keys: Arc::new(keys),
        passwords: Arc::new(passwords),
        theme,
        config: Arc::new(config),
        db,
        clock,
    }));
    Ok(state)
}

/// Which master key seals and the derivation root, then the signing keys: one node at
/// a time on a new database, so that both are made once.
async fn open_keys(db: &storage::Db, secrets: &SecretBox, now: i64) -> Result<KeyStore, StartError> {
    crate::master_key::bind(db, secrets, now).await?;
    Ok(KeyStore::open(db.clone(), secrets.clone(), now).await?)
}

/// Why a port could not be taken, in words, with what to do when it is the usual case.
pub fn listen_failure(reason: &std::io::Error) -> String {
    match reason.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another Sésame, or another program, listens there): stop it or set \
             `listen` to another port"
                .into()
        }
        std::io::ErrorKind::AddrNotAvailable => "this machine has no such address: check `listen`".into(),
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges): use a port above 1024 behind the proxy".into()
        }
        _ => reason.to_string(),
    }
}
