//! The checks a loaded configuration must pass before the server starts: each names the
//! key that is wrong.

use super::{Config, ConfigError};

impl Config {
    /// What is allowed but risky together, in words for the operator: logged at start,
    /// the server still starts.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let registration = &self.registration;
        if registration.enabled && registration.open {
            if self.fetch.allow_private_addresses {
                warnings.push(
                    "open registration with `fetch.allow_private_addresses`: anyone can register a client whose \
                     jwks_uri, sector document or logout endpoint makes Sésame call the office's network; \
                     close registration (`registration.open = false`) or turn the setting off"
                        .to_string(),
                );
            }
            if self.fetch.allow_http_loopback {
                warnings.push(
                    "open registration with `fetch.allow_http_loopback`: anyone can register a client whose URLs \
                     make Sésame call services of this machine; this setting is for tests and development only"
                        .to_string(),
                );
            }
        }
        warnings
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
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
            ("passkeys.ceremony_ttl", self.passkeys.ceremony_ttl),
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
        self.validate_passkeys()?;
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

    /// A model list with a typo would otherwise allow every model: refused instead.
    fn validate_passkeys(&self) -> Result<(), ConfigError> {
        for aaguid in &self.passkeys.allowed_aaguids {
            if uuid::Uuid::parse_str(aaguid).is_err() {
                return Err(ConfigError::Invalid(format!(
                    "key `passkeys.allowed_aaguids`: `{aaguid}` is not an AAGUID such as cb69481e-8ff7-4039-93ec-0a2729a154a8"
                )));
            }
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
        let caches = &self.caches;
        if caches.enabled()
            && (caches.max_staleness_ms < caches.sync_interval_ms.saturating_mul(2)
                || caches.max_staleness_ms > 60_000
                || caches.max_accounts < 1)
        {
            return invalid(
                "key `caches.max_staleness_ms` is at least twice `caches.sync_interval_ms` and at most 60000, \
                 and `caches.max_accounts` at least 1",
            );
        }
        let device = &self.device_authorization;
        if !(60..=86_400).contains(&device.code_ttl)
            || !(1..=60).contains(&device.interval)
            || device.max_failures_per_source < 1
            || device.max_failures_per_minute < 1
        {
            return invalid(
                "keys `device_authorization.code_ttl` (60 to 86400 seconds), `device_authorization.interval` \
                 (1 to 60 seconds), `device_authorization.max_failures_per_source` and \
                 `device_authorization.max_failures_per_minute` (at least 1) are out of range",
            );
        }
        if !(1..=600).contains(&self.dpop.proof_max_age) {
            return invalid("key `dpop.proof_max_age` is 1 to 600 seconds");
        }
        if !(0..=60).contains(&self.dpop.proof_max_clock_skew) {
            return invalid("key `dpop.proof_max_clock_skew` is 0 to 60 seconds");
        }
        if !(30..=3600).contains(&self.dpop.nonce_lifetime) {
            return invalid("key `dpop.nonce_lifetime` is 30 to 3600 seconds");
        }
        if !(5..=600).contains(&self.par.request_uri_ttl) {
            return invalid("key `par.request_uri_ttl` is 5 to 600 seconds (RFC 9126 asks for a short lifetime)");
        }
        let registration = &self.registration;
        if registration.per_ip_per_minute == 0 || !(1024..=65536).contains(&registration.max_body_bytes) {
            return invalid(
                "keys `registration.per_ip_per_minute` (at least 1) and `registration.max_body_bytes` (1024 to 65536) \
                 are out of range",
            );
        }
        if !(60..=86_400).contains(&self.request_objects.max_lifetime) {
            return invalid("key `request_objects.max_lifetime` is 60 to 86400 seconds");
        }
        if !(1024..=1_048_576).contains(&self.fetch.max_bytes) || !(1..=30).contains(&self.fetch.timeout) {
            return invalid(
                "keys `fetch.max_bytes` (1024 to 1048576 bytes) and `fetch.timeout` (1 to 30 seconds) are out of range",
            );
        }
        if !(1..=1024).contains(&self.fetch.max_concurrent) {
            return invalid("key `fetch.max_concurrent` is 1 to 1024 calls at once");
        }
        if self.server.header_read_timeout == 0 || self.server.max_connections == 0 {
            return invalid("keys `server.header_read_timeout` and `server.max_connections` are at least 1");
        }
        let subject = self.push.vapid_subject.trim();
        if !subject.is_empty() && !subject.starts_with("mailto:") && !subject.starts_with("https://") {
            return invalid("key `push.vapid_subject` must be a mailto: or https:// URL (or empty: the issuer)");
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
}
