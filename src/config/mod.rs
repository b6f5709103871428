//! Configuration: `config/default.toml` semantics, an optional file given with `--config`,
//! then `SESAME_*` environment variables (`SESAME_LISTEN`, `SESAME_TOKENS__ACCESS_TOKEN_TTL`…).
//!
//! Unknown keys are refused so that a typo never silently falls back to a default.

use std::path::{Path, PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Environment variables with the `SESAME_` prefix that are not configuration keys.
const NON_CONFIG_ENV: [&str; 3] = ["config", "log", "log_format"];

mod address_range;
mod messaging;
mod security;
mod service;
#[cfg(test)]
mod tests;
mod validate;

pub use address_range::AddressRange;
pub use messaging::{MailConfig, PushConfig, SmsConfig, SmsHttpConfig};
pub use security::{
    DeviceAuthorizationConfig, DpopConfig, FetchConfig, LoginConfig, ParConfig, PasskeyConfig, PasswordConfig,
    RateLimitConfig, RegistrationConfig, RequestObjectConfig, SessionConfig, TokenConfig, TwoFactorConfig,
};
pub use service::{CacheConfig, JanitorConfig, MetricsConfig, ServerConfig, ThemeConfig};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address and port the HTTP server listens on.
    pub listen: String,
    /// Public base URL of this provider; the `iss` of every token.
    pub issuer: String,
    /// Where the SQLite database and local state (master key file, outboxes) go.
    pub data_dir: PathBuf,
    /// Empty: SQLite under `data_dir`. Otherwise `sqlite://…` or `postgres://…`.
    pub database_url: String,
    /// Base64 of 32 random bytes encrypting secrets at rest. Empty: read from
    /// `master_key_file`.
    pub master_key: String,
    /// A file holding the master key (base64), which must exist: a secret mounted by
    /// the service manager or the container runtime. Empty: `data_dir/master.key`,
    /// created at the first start.
    pub master_key_file: String,
    /// During a master-key rotation: the key being rotated away from (base64), opened
    /// too, and used to seal until `sesame master-key rotate` begins. Empty: none.
    pub previous_master_key: String,
    /// Or a file that holds it. Empty: none.
    pub previous_master_key_file: String,
    /// Addresses or CIDR ranges of the reverse proxies or load balancers in front of
    /// Sésame, whose `X-Forwarded-For` is believed for the client's address (rate
    /// limits, audit).
    pub trusted_proxies: Vec<AddressRange>,
    /// Seed the demo accounts, applications and client at start. Unset: only when the
    /// database has no account yet and the issuer is a loopback http URL (a developer's
    /// machine), never on a deployment.
    pub demo: Option<bool>,
    pub theme: ThemeConfig,
    pub tokens: TokenConfig,
    pub session: SessionConfig,
    pub password: PasswordConfig,
    pub login: LoginConfig,
    pub two_factor: TwoFactorConfig,
    pub passkeys: PasskeyConfig,
    pub device_authorization: DeviceAuthorizationConfig,
    pub par: ParConfig,
    pub registration: RegistrationConfig,
    pub request_objects: RequestObjectConfig,
    pub fetch: FetchConfig,
    pub dpop: DpopConfig,
    pub mail: MailConfig,
    pub sms: SmsConfig,
    pub push: PushConfig,
    pub rate_limits: RateLimitConfig,
    pub janitor: JanitorConfig,
    pub caches: CacheConfig,
    pub server: ServerConfig,
    pub metrics: MetricsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            master_key: String::new(),
            master_key_file: String::new(),
            previous_master_key: String::new(),
            previous_master_key_file: String::new(),
            trusted_proxies: Vec::new(),
            demo: None,
            theme: ThemeConfig::default(),
            tokens: TokenConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            login: LoginConfig::default(),
            two_factor: TwoFactorConfig::default(),
            passkeys: PasskeyConfig::default(),
            device_authorization: DeviceAuthorizationConfig::default(),
            par: ParConfig::default(),
            registration: RegistrationConfig::default(),
            request_objects: RequestObjectConfig::default(),
            fetch: FetchConfig::default(),
            dpop: DpopConfig::default(),
            mail: MailConfig::default(),
            sms: SmsConfig::default(),
            push: PushConfig::default(),
            rate_limits: RateLimitConfig::default(),
            janitor: JanitorConfig::default(),
            caches: CacheConfig::default(),
            server: ServerConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration file {0} not found")]
    FileNotFound(PathBuf),
}

impl Config {
    /// Defaults, then the optional file, then `SESAME_*` environment variables.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::FileNotFound(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("SESAME_")
                .filter(|key| {
                    let key = key.as_str().to_ascii_lowercase();
                    !key.starts_with("test_") && !NON_CONFIG_ENV.contains(&key.as_str())
                })
                .split("__"),
        );
        let config: Config = figment.extract().map_err(describe_figment_error)?;
        config.validate()?;
        Ok(config)
    }

    /// Where the master key is read from when `master_key` is empty, and whether it is
    /// created there when missing (only the default place is).
    pub fn master_key_path(&self) -> (PathBuf, bool) {
        if self.master_key_file.is_empty() {
            (self.data_dir.join("master.key"), true)
        } else {
            (PathBuf::from(&self.master_key_file), false)
        }
    }

    /// The path of the issuer (`/sso` for `https://office.example/sso`), empty at the
    /// root: Sésame's own pages, redirects and scripts are under it, whether it is
    /// mounted in another application (`Router::nest`) or behind a proxy that strips it.
    pub fn base_path(&self) -> String {
        url::Url::parse(self.issuer()).map(|url| url.path().trim_end_matches('/').to_string()).unwrap_or_default()
    }

    /// The issuer without a trailing slash, to which endpoint paths are appended.
    pub fn issuer(&self) -> &str {
        self.issuer.trim_end_matches('/')
    }

    /// The database URL, defaulting to a SQLite file under the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}?mode=rwc", self.data_dir.join("sesame.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// Whether the issuer is this machine over plain http (a developer's set-up).
    pub fn issuer_is_local(&self) -> bool {
        url::Url::parse(&self.issuer).is_ok_and(|url| {
            url.scheme() == "http"
                && matches!(url.host(), Some(url::Host::Domain("localhost")))
                    | url.host().is_some_and(|h| match h {
                        url::Host::Ipv4(ip) => ip.is_loopback(),
                        url::Host::Ipv6(ip) => ip.is_loopback(),
                        url::Host::Domain(_) => false,
                    })
        })
    }

    /// Whether cookies must carry `Secure`: the provider is reached over https.
    pub fn secure_cookies(&self) -> bool {
        self.issuer.starts_with("https://")
    }
}

/// One line per problem: the key, where it came from, and what is wrong with it.
/// What serde expected, as a person would say it.
fn expected_in_words(expected: &str) -> &str {
    match expected.trim_start_matches("a ").trim_start_matches("an ") {
        "i8" | "i16" | "i32" | "i64" | "u8" | "u16" | "u32" | "u64" | "usize" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "bool" | "boolean" => "true or false",
        "string" | "str" => "text in quotes",
        "sequence" => "a list in brackets, [\"…\", \"…\"]",
        "map" => "a table",
        _ => expected,
    }
}

fn describe_figment_error(error: figment::Error) -> ConfigError {
    let problems: Vec<String> = error
        .into_iter()
        .map(|e| {
            let source = match &e.metadata {
                Some(metadata) => match &metadata.source {
                    Some(figment::Source::File(path)) => format!(" in {}", path.display()),
                    _ => format!(" in {}", metadata.name),
                },
                None => String::new(),
            };
            match &e.kind {
                figment::error::Kind::UnknownField(field, expected) => {
                    let key =
                        e.path.iter().take(e.path.len().saturating_sub(1)).chain([field]).cloned().collect::<Vec<_>>();
                    format!("unknown key `{}`{source}; the keys here are: {}", key.join("."), expected.join(", "))
                }
                figment::error::Kind::InvalidType(actual, expected) => {
                    format!("key `{}`{source}: {actual} is not {}", e.path.join("."), expected_in_words(expected))
                }
                // A file that is not TOML: its name, then the parser's line, column and snippet.
                kind if e.path.is_empty() => format!("{}: {kind}", source.trim_start_matches(" in ")),
                kind => format!("key `{}`{source}: {kind}", e.path.join(".")),
            }
        })
        .collect();
    ConfigError::Invalid(problems.join("; "))
}
