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
const NON_CONFIG_ENV: [&str; 3] = ["config", "log", "master_key_file"];

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
    /// Base64 of 32 random bytes encrypting secrets at rest. Empty: a key file in `data_dir`.
    pub master_key: String,
    /// Addresses of the reverse proxies or load balancers in front of Sésame, whose
    /// `X-Forwarded-For` is believed for the client's address (rate limits, audit).
    pub trusted_proxies: Vec<std::net::IpAddr>,
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
    pub mail: MailConfig,
    pub sms: SmsConfig,
    pub push: PushConfig,
    pub rate_limits: RateLimitConfig,
    pub janitor: JanitorConfig,
    pub server: ServerConfig,
    pub metrics: MetricsConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThemeConfig {
    /// Name of the theme folder under `dir`.
    pub name: String,
    /// Folder holding theme folders; files missing there come from the built-in theme.
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    pub authorization_code_ttl: i64,
    pub access_token_ttl: i64,
    pub id_token_ttl: i64,
    /// How long a login started at the authorization endpoint may take.
    pub authorization_request_ttl: i64,
    /// Algorithm of access tokens (ES256, RS256, PS256, EdDSA); a client may choose its own.
    pub access_token_alg: String,
    /// A refresh token unused for this long expires (each rotation pushes it back).
    pub refresh_token_ttl: i64,
    /// A refresh token family ends this long after the login, rotated or not.
    pub refresh_token_max_lifetime: i64,
    /// Seconds during which a just-rotated refresh token may be presented again by the
    /// same client (two tabs refreshing at once) without being taken for a theft.
    pub refresh_token_reuse_grace: i64,
    /// Seconds a node keeps a client's registration in memory for the token,
    /// introspection and revocation endpoints.
    pub client_cache_ttl: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub cookie_name: String,
    /// A session not used for this long ends.
    pub idle_timeout: i64,
    /// A session ends this long after the login, used or not.
    pub max_lifetime: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordConfig {
    /// Fewest characters a new password may have.
    pub min_length: usize,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// Threads that check passwords (each holds `argon2_memory_kib`); 0: one per core.
    pub workers: usize,
    /// Checks that may wait for a thread; past it, login pages answer 503 at once.
    pub queue: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Wrong passwords for one identifier from one source (an address, or a browser
    /// that signed in to the account before) before that source must wait.
    pub max_failures: i32,
    /// The first wait, in seconds; it doubles with each further failure.
    pub lockout_seconds: i64,
    /// The longest wait, in seconds.
    pub max_lockout_seconds: i64,
    /// Wrong passwords in a row for one identifier from all unknown browsers together
    /// before unknown browsers are refused for it, until the owner signs in from a
    /// browser they used before or an administrator unlocks (NIST SP 800-63B: 100).
    pub max_failures_per_account: i32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TwoFactorConfig {
    /// Name shown for the account in authenticator apps.
    pub issuer_label: String,
    /// TOTP code length (6 to 8) and step in seconds. Every common app honours 6 digits
    /// and 30 seconds; see config/default.toml for the others.
    pub totp_digits: u8,
    pub totp_period: u64,
    /// Steps accepted either side of the current one (clock drift between phone and server).
    pub totp_skew: u16,
    /// Seconds after an administrator requires two-factor (or resets the second factors)
    /// during which the account may enroll its first authenticator at login.
    pub enrollment_window: i64,
    /// Confirm a first enrollment with a code mailed to the account's address (when it has one).
    pub email_confirmation: bool,
    /// Seconds a mailed confirmation code stays valid.
    pub email_code_ttl: i64,
    /// Wrong enrollment codes before a new secret is generated.
    pub enrollment_max_attempts: u32,
    /// Wrong second-factor codes before the second factor is locked, and for how long
    /// (doubling with each further series, up to a day).
    pub max_failures: i32,
    pub lockout_seconds: i64,
    /// Wrong second-factor codes in a row (all methods, mailed codes included) after
    /// which the second factor stays locked until an administrator unlocks it.
    pub max_consecutive_failures: i32,
    /// Seconds before another confirmation code may be mailed; each further one in a
    /// row doubles the wait (up to an hour), whatever became of the previous code.
    pub email_resend_wait: i64,
    /// Account administrators must sign in to the console with a second factor, and
    /// enroll one at their next sign-in there if they have none.
    pub required_for_admins: bool,
    /// How many recovery codes an account gets.
    pub recovery_codes: usize,
    /// The authenticator app suggested on the "Install the app" page, and its store pages.
    pub app_name: String,
    pub android_app_url: String,
    pub ios_app_url: String,
}

impl Default for TwoFactorConfig {
    fn default() -> Self {
        Self {
            issuer_label: "Sésame".into(),
            totp_digits: 6,
            totp_period: 30,
            totp_skew: 1,
            enrollment_window: 14 * 86_400,
            email_confirmation: true,
            email_code_ttl: 600,
            enrollment_max_attempts: 5,
            max_failures: 5,
            lockout_seconds: 300,
            max_consecutive_failures: 100,
            email_resend_wait: 60,
            required_for_admins: true,
            recovery_codes: 10,
            app_name: "Microsoft Authenticator".into(),
            android_app_url: "https://play.google.com/store/apps/details?id=com.azure.authenticator".into(),
            ios_app_url: "https://apps.apple.com/app/microsoft-authenticator/id983156458".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// `outbox` (a JSON line per message in `outbox_path`), `smtp` or `log`.
    pub transport: String,
    /// Empty: `mail-outbox.jsonl` in `data_dir`.
    pub outbox_path: String,
    /// The From header of every message.
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (port 587), `tls` (port 465) or `none` (a relay on localhost only).
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: String,
    /// Seconds to wait for the SMTP server.
    pub smtp_timeout: u64,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            transport: "outbox".into(),
            outbox_path: String::new(),
            from: "Sésame <no-reply@localhost>".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_timeout: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsConfig {
    /// Offer "Receive a text message" at all.
    pub enabled: bool,
    /// `outbox` (a JSON line per message in `outbox_path`), `http` or `log`.
    pub provider: String,
    /// Empty: `sms-outbox.jsonl` in `data_dir`.
    pub outbox_path: String,
    /// The sender name or number shown on the phone (`{sender}` in the HTTP template).
    pub sender: String,
    /// Seconds a code stays valid.
    pub code_ttl: i64,
    /// Seconds before another code may be asked for.
    pub resend_wait: i64,
    /// Codes sent per account, per phone number and per client address: in 15 minutes
    /// and in a day.
    pub per_account_per_15_minutes: u64,
    pub per_account_per_day: u64,
    pub per_phone_per_15_minutes: u64,
    pub per_phone_per_day: u64,
    pub per_ip_per_15_minutes: u64,
    pub per_ip_per_day: u64,
    /// Country calling codes text messages may go to (without `+`).
    pub allowed_country_codes: Vec<String>,
    pub http: SmsHttpConfig,
}

impl Default for SmsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            provider: "outbox".into(),
            outbox_path: String::new(),
            sender: "Sesame".into(),
            code_ttl: 300,
            resend_wait: 60,
            per_account_per_15_minutes: 3,
            per_account_per_day: 10,
            per_phone_per_15_minutes: 3,
            per_phone_per_day: 10,
            per_ip_per_15_minutes: 10,
            per_ip_per_day: 50,
            allowed_country_codes: ["33", "262", "590", "594", "596"].map(String::from).to_vec(),
            http: SmsHttpConfig::default(),
        }
    }
}

/// A generic SMS gateway reached over HTTP(S); see config/sms-*.toml for OVHcloud,
/// Twilio, Brevo and Vonage.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmsHttpConfig {
    /// The gateway's URL; `{to}`, `{to_digits}`, `{text}`, `{sender}` are replaced
    /// (URL-encoded).
    pub url: String,
    /// `POST` or `GET`.
    pub method: String,
    /// Extra request headers (an API key…).
    pub headers: std::collections::BTreeMap<String, String>,
    /// `json` or `form`: how `body` is encoded and how its placeholders are escaped.
    pub encoding: String,
    /// The request body with `{to}`, `{to_digits}`, `{text}`, `{sender}`; empty: none.
    pub body: String,
    /// `none`, `basic` (username and password) or `bearer` (token).
    pub auth: String,
    pub username: String,
    pub password: String,
    pub token: String,
    /// Seconds to wait for the gateway.
    pub timeout: u64,
    /// Response statuses that mean the message was accepted.
    pub accepted_statuses: Vec<u16>,
}

impl Default for SmsHttpConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            method: "POST".into(),
            headers: Default::default(),
            encoding: "json".into(),
            body: String::new(),
            auth: "none".into(),
            username: String::new(),
            password: String::new(),
            token: String::new(),
            timeout: 10,
            accepted_statuses: vec![200, 201, 202],
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PushConfig {
    /// Offer "Approve a notification" to accounts with a registered device.
    pub enabled: bool,
    /// Seconds a login request waits on the phone.
    pub challenge_ttl: i64,
    /// Requests sent to an account's devices per hour (against push bombing).
    pub per_account_per_hour: u64,
    /// Seconds push stays off for an account after an "It wasn't me" report.
    pub fraud_lock_seconds: i64,
    /// Seconds an enrollment link (QR code) stays valid.
    pub enrollment_ttl: i64,
    /// Seconds a device's clock may differ from the server's.
    pub clock_tolerance: i64,
    /// Longest long-poll a device may ask for, in seconds.
    pub max_wait: u64,
    /// Optional: an URL told (POST JSON) of each new request, for an office's own app.
    pub webhook_url: String,
}

impl Default for PushConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            challenge_ttl: 120,
            per_account_per_hour: 10,
            fraud_lock_seconds: 3600,
            enrollment_ttl: 600,
            clock_tolerance: 60,
            max_wait: 25,
            webhook_url: String::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Login and second-factor form submissions per client IP address and minute, on
    /// each node (whatever the identifiers tried).
    pub login_per_ip_per_minute: u32,
    /// Failed authentications of one client from one address before that address must
    /// wait a minute (doubling with each further failure, up to an hour). Counted in
    /// the database (all nodes); a success never counts.
    pub client_auth_failures_per_minute: u32,
}

/// The HTTP server's limits against slow or piled-up connections.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Seconds a client has to send a request's headers; an idle kept-alive connection
    /// is closed after this too (slow-loris).
    pub header_read_timeout: u64,
    /// Seconds a request may take in all, body included (a push long-poll waits at most
    /// `push.max_wait`, which must be shorter).
    pub request_timeout: u64,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { header_read_timeout: 10, request_timeout: 60, max_connections: 4096 }
    }
}

/// Where the Prometheus metrics are served: nowhere unless the operator says.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    /// An address:port of its own for `/metrics` (e.g. 127.0.0.1:9464, or an internal
    /// interface); empty: none.
    pub listen: String,
    /// A bearer token with which `/metrics` is served on the main address too
    /// (`Authorization: Bearer …`); empty: not served there.
    pub bearer_token: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JanitorConfig {
    /// Seconds between two sweeps of expired rows; 0 turns the janitor off on this node.
    pub interval: u64,
    /// Days audit events are kept.
    pub audit_retention_days: i64,
}

impl Default for JanitorConfig {
    fn default() -> Self {
        Self { interval: 300, audit_retention_days: 400 }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { login_per_ip_per_minute: 60, client_auth_failures_per_minute: 20 }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            issuer: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from("data"),
            database_url: String::new(),
            master_key: String::new(),
            trusted_proxies: Vec::new(),
            demo: None,
            theme: ThemeConfig::default(),
            tokens: TokenConfig::default(),
            session: SessionConfig::default(),
            password: PasswordConfig::default(),
            login: LoginConfig::default(),
            two_factor: TwoFactorConfig::default(),
            mail: MailConfig::default(),
            sms: SmsConfig::default(),
            push: PushConfig::default(),
            rate_limits: RateLimitConfig::default(),
            janitor: JanitorConfig::default(),
            server: ServerConfig::default(),
            metrics: MetricsConfig::default(),
        }
    }
}

impl Default for ThemeConfig {
    fn default() -> Self {
        Self { name: "default".into(), dir: PathBuf::from("themes") }
    }
}

impl Default for TokenConfig {
    fn default() -> Self {
        Self {
            authorization_code_ttl: 60,
            access_token_ttl: 600,
            id_token_ttl: 3600,
            authorization_request_ttl: 1800,
            access_token_alg: "ES256".into(),
            refresh_token_ttl: 14 * 86_400,
            refresh_token_max_lifetime: 90 * 86_400,
            refresh_token_reuse_grace: 10,
            client_cache_ttl: 5,
        }
    }
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { cookie_name: "sesame_session".into(), idle_timeout: 8 * 3600, max_lifetime: 12 * 3600 }
    }
}

impl Default for PasswordConfig {
    fn default() -> Self {
        Self {
            min_length: 8,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            workers: 0,
            queue: 256,
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        Self { max_failures: 5, lockout_seconds: 300, max_lockout_seconds: 3600, max_failures_per_account: 100 }
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

    fn validate(&self) -> Result<(), ConfigError> {
        let issuer = url::Url::parse(&self.issuer)
            .map_err(|e| ConfigError::Invalid(format!("key `issuer`: `{}` is not a URL ({e})", self.issuer)))?;
        if !matches!(issuer.scheme(), "https" | "http") || issuer.query().is_some() || issuer.fragment().is_some() {
            return Err(ConfigError::Invalid(format!(
                "key `issuer`: `{}` must be an http(s) URL without query or fragment",
                self.issuer
            )));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "key `listen`: `{}` is not an address:port such as 127.0.0.1:8080",
                self.listen
            )));
        }
        for (key, value) in [
            ("tokens.authorization_code_ttl", self.tokens.authorization_code_ttl),
            ("tokens.access_token_ttl", self.tokens.access_token_ttl),
            ("tokens.id_token_ttl", self.tokens.id_token_ttl),
            ("tokens.authorization_request_ttl", self.tokens.authorization_request_ttl),
            ("tokens.refresh_token_ttl", self.tokens.refresh_token_ttl),
            ("tokens.refresh_token_max_lifetime", self.tokens.refresh_token_max_lifetime),
            ("session.idle_timeout", self.session.idle_timeout),
            ("session.max_lifetime", self.session.max_lifetime),
            ("login.lockout_seconds", self.login.lockout_seconds),
            ("login.max_lockout_seconds", self.login.max_lockout_seconds),
            ("two_factor.email_resend_wait", self.two_factor.email_resend_wait),
            ("two_factor.enrollment_window", self.two_factor.enrollment_window),
            ("two_factor.email_code_ttl", self.two_factor.email_code_ttl),
            ("two_factor.lockout_seconds", self.two_factor.lockout_seconds),
        ] {
            if value <= 0 {
                return Err(ConfigError::Invalid(format!("key `{key}` must be a positive number of seconds")));
            }
        }
        let totp = &self.two_factor;
        if !(6..=8).contains(&totp.totp_digits) || !(15..=120).contains(&totp.totp_period) || totp.totp_skew > 4 {
            return Err(ConfigError::Invalid(
                "keys `two_factor.totp_digits` (6 to 8), `two_factor.totp_period` (15 to 120 seconds) and \
                 `two_factor.totp_skew` (0 to 4 steps) are out of range"
                    .into(),
            ));
        }
        if !matches!(self.mail.transport.as_str(), "outbox" | "smtp" | "log") {
            return Err(ConfigError::Invalid(format!(
                "key `mail.transport`: `{}` is not one of outbox, smtp, log",
                self.mail.transport
            )));
        }
        if self.mail.transport == "smtp" && self.mail.smtp_host.is_empty() {
            return Err(ConfigError::Invalid("key `mail.smtp_host` is needed with mail.transport = \"smtp\"".into()));
        }
        if !matches!(self.mail.smtp_tls.as_str(), "starttls" | "tls" | "none") {
            return Err(ConfigError::Invalid(format!(
                "key `mail.smtp_tls`: `{}` is not one of starttls, tls, none",
                self.mail.smtp_tls
            )));
        }
        if self.mail.from.parse::<lettre::message::Mailbox>().is_err() {
            return Err(ConfigError::Invalid(format!(
                "key `mail.from`: `{}` is not an address such as `Sésame <no-reply@example.org>`",
                self.mail.from
            )));
        }
        self.validate_sms()?;
        self.validate_limits()?;
        if self.tokens.access_token_ttl > 86_400 {
            return Err(ConfigError::Invalid(
                "key `tokens.access_token_ttl`: at most 86400 seconds (a day); use refresh tokens for longer access"
                    .into(),
            ));
        }
        if crate::crypto::jws::SigningAlg::parse(&self.tokens.access_token_alg).is_none() {
            return Err(ConfigError::Invalid(format!(
                "key `tokens.access_token_alg`: `{}` is not one of RS256, PS256, ES256, EdDSA",
                self.tokens.access_token_alg
            )));
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let invalid = |message: &str| Err(ConfigError::Invalid(message.into()));
        if self.login.max_failures < 1 || self.two_factor.max_failures < 1 {
            return invalid("keys `login.max_failures` and `two_factor.max_failures` are at least 1");
        }
        if self.login.max_failures_per_account < self.login.max_failures
            || !(1..=100).contains(&self.login.max_failures_per_account)
            || !(1..=100).contains(&self.two_factor.max_consecutive_failures)
        {
            return invalid(
                "keys `login.max_failures_per_account` (at least `login.max_failures`) and \
                 `two_factor.max_consecutive_failures` are 1 to 100 (NIST SP 800-63B 5.2.2)",
            );
        }
        if self.server.header_read_timeout == 0 || self.server.max_connections == 0 {
            return invalid("keys `server.header_read_timeout` and `server.max_connections` are at least 1");
        }
        if self.server.request_timeout <= self.push.max_wait {
            return invalid("key `server.request_timeout` must be longer than `push.max_wait`");
        }
        if !self.metrics.listen.is_empty() && self.metrics.listen.parse::<std::net::SocketAddr>().is_err() {
            return invalid("key `metrics.listen` is an address:port such as 127.0.0.1:9464, or empty");
        }
        if !self.metrics.bearer_token.is_empty() && self.metrics.bearer_token.len() < 16 {
            return invalid("key `metrics.bearer_token` has at least 16 characters (or is empty)");
        }
        Ok(())
    }

    fn validate_sms(&self) -> Result<(), ConfigError> {
        let sms = &self.sms;
        let invalid = |message: String| Err(ConfigError::Invalid(message));
        if !matches!(sms.provider.as_str(), "outbox" | "http" | "log") {
            return invalid(format!("key `sms.provider`: `{}` is not one of outbox, http, log", sms.provider));
        }
        if sms.code_ttl <= 0 || sms.resend_wait < 0 {
            return invalid("keys `sms.code_ttl` (positive) and `sms.resend_wait` (0 or more) are seconds".into());
        }
        if let Some(code) =
            sms.allowed_country_codes.iter().find(|c| c.is_empty() || !c.chars().all(|d| d.is_ascii_digit()))
        {
            return invalid(format!("key `sms.allowed_country_codes`: `{code}` is not a calling code such as \"33\""));
        }
        if sms.provider == "http" {
            let http = &sms.http;
            if !http.url.starts_with("https://") && !http.url.starts_with("http://") {
                return invalid("key `sms.http.url` is needed with sms.provider = \"http\" (an http(s) URL)".into());
            }
            if !matches!(http.method.as_str(), "POST" | "GET") || !matches!(http.encoding.as_str(), "json" | "form") {
                return invalid("keys `sms.http.method` (POST, GET) and `sms.http.encoding` (json, form)".into());
            }
            if !matches!(http.auth.as_str(), "none" | "basic" | "bearer") {
                return invalid(format!("key `sms.http.auth`: `{}` is not one of none, basic, bearer", http.auth));
            }
        }
        Ok(())
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
                kind => format!("key `{}`{source}: {kind}", e.path.join(".")),
            }
        })
        .collect();
    ConfigError::Invalid(problems.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn mistyped_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "listne = \"127.0.0.1:1\"\n").unwrap();
        let error = Config::load(Some(&file)).unwrap_err().to_string();
        assert!(error.contains("listne"), "{error}");
    }

    #[test]
    fn sqlite_is_the_default_database() {
        let config = Config::default();
        assert!(config.database_url().starts_with("sqlite://"));
    }
}

#[cfg(test)]
mod default_file {
    use super::*;

    /// config/default.toml documents every key with its default: keep them in step.
    #[test]
    fn default_toml_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let from_file: Config = Figment::from(Toml::file_exact(&path)).extract().unwrap();
        let defaults = Config::default();
        assert_eq!(
            serde_json::to_value(&from_file).unwrap(),
            serde_json::to_value(&defaults).unwrap(),
            "config/default.toml and Config::default() differ"
        );
    }

    #[test]
    fn example_files_load() {
        for name in [
            "demo.toml",
            "postgres.toml",
            "conformance.toml",
            "sms-ovhcloud.toml",
            "sms-twilio.toml",
            "sms-brevo.toml",
            "sms-vonage.toml",
        ] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name);
            let parsed: Result<Config, _> =
                Figment::from(Serialized::defaults(Config::default())).merge(Toml::file_exact(&path)).extract();
            assert!(parsed.is_ok(), "{name}: {parsed:?}");
        }
    }
}
