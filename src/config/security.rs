//! The sections about signing in and what it yields: tokens, sessions, passwords, the
//! login's lockouts, the second factor and the rate limits.

use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    pub cookie_name: String,
    /// A session not used for this long ends.
    pub idle_timeout: i64,
    /// A session ends this long after the login, used or not.
    pub max_lifetime: i64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { cookie_name: "sesame_session".into(), idle_timeout: 8 * 3600, max_lifetime: 12 * 3600 }
    }
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

impl Default for LoginConfig {
    fn default() -> Self {
        Self { max_failures: 5, lockout_seconds: 300, max_lockout_seconds: 3600, max_failures_per_account: 100 }
    }
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
pub struct RateLimitConfig {
    /// Login and second-factor form submissions per client IP address and minute, on
    /// each node (whatever the identifiers tried).
    pub login_per_ip_per_minute: u32,
    /// Failed authentications of one client from one address before that address must
    /// wait a minute (doubling with each further failure, up to an hour). Counted in
    /// the database (all nodes); a success never counts.
    pub client_auth_failures_per_minute: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self { login_per_ip_per_minute: 60, client_auth_failures_per_minute: 20 }
    }
}

/// The device authorization grant (RFC 8628): scanners, shared terminals and
/// command-line tools that show a code, which a person approves on another screen.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeviceAuthorizationConfig {
    /// Seconds a device code and its user code stay valid (`expires_in`).
    pub code_ttl: i64,
    /// Seconds a device waits between two polls of the token endpoint (`interval`); one
    /// that polls faster is told to slow down and waits 5 seconds more from then on.
    pub interval: i32,
    /// Wrong user codes typed from one source (an address; IPv6: its /64) before it
    /// waits a minute, doubling with each further wrong code up to an hour.
    pub max_failures_per_source: i32,
    /// Wrong user codes from all sources together in one minute; past it, every source
    /// waits for the next minute.
    pub max_failures_per_minute: i32,
}

impl Default for DeviceAuthorizationConfig {
    fn default() -> Self {
        Self { code_ttl: 600, interval: 5, max_failures_per_source: 5, max_failures_per_minute: 60 }
    }
}

/// Pushed authorization requests (RFC 9126): a client sends its authorization request
/// to `/par`, authenticated, and sends the browser with the `request_uri` it got back.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParConfig {
    /// Every client must push its authorization requests (each client may also be
    /// required to on its own, `require_pushed_authorization_requests`).
    pub require_pushed_authorization_requests: bool,
    /// Seconds a `request_uri` may wait for the browser (`expires_in`; 5 to 600).
    pub request_uri_ttl: i64,
}

impl Default for ParConfig {
    fn default() -> Self {
        Self { require_pushed_authorization_requests: false, request_uri_ttl: 60 }
    }
}

/// Dynamic client registration (OIDC Dynamic Client Registration 1.0, RFC 7591) and
/// its management protocol (RFC 7592): programs register their own clients at
/// `/register`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistrationConfig {
    /// Serve the registration endpoint (and advertise it). Off: `/register` answers 404.
    pub enabled: bool,
    /// Anyone may register a client, without an initial access token; such clients
    /// belong to no application (their tokens carry no application rights). Off: an
    /// initial access token made by an administrator is required.
    pub open: bool,
    /// Clients registered through the endpoint, all together, beyond which a
    /// registration is refused (the operator's own clients do not count).
    pub max_clients: u64,
    /// Registrations (and failed attempts) per client address and minute, per node.
    pub per_ip_per_minute: u32,
    /// Largest registration request body, in bytes. (A `sector_identifier_uri`
    /// document is fetched under `[fetch]`.)
    pub max_body_bytes: usize,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        Self { enabled: false, open: false, max_clients: 1000, per_ip_per_minute: 20, max_body_bytes: 16 * 1024 }
    }
}

/// Request objects (OIDC Core 6, RFC 9101).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RequestObjectConfig {
    /// Longest validity a request object may claim, in seconds: its `exp` at most this
    /// far ahead, its `nbf` at most this far behind (60 to 86400).
    pub max_lifetime: i64,
}

impl Default for RequestObjectConfig {
    fn default() -> Self {
        Self { max_lifetime: 3600 }
    }
}

/// URLs a client gives (its `jwks_uri`, a `request_uri`, a sector document, its
/// back-channel logout URI): https to public addresses only, never followed through
/// redirects, bounded in size, time and number at once (`oidc::fetch`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Also fetch over plain http from a loopback address (127.0.0.0/8, ::1): for tests
    /// and a developer's machine, never a deployment. Otherwise https only.
    pub allow_http_loopback: bool,
    /// Also connect to private and other non-public addresses (not loopback, which
    /// needs `allow_http_loopback`, nor link-local and cloud metadata addresses): for an
    /// office whose applications serve their keys or logout endpoints on its own
    /// network. Then whoever can register a client or send a `request_uri` can make
    /// Sésame call that network: keep registration closed.
    pub allow_private_addresses: bool,
    /// Largest document, in bytes (1024 to 1048576).
    pub max_bytes: usize,
    /// Seconds to connect and read it all (1 to 30); also the longest wait for a slot.
    pub timeout: u64,
    /// Calls to clients' URLs in progress at once, per node (1 to 1024).
    pub max_concurrent: usize,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self {
            allow_http_loopback: false,
            allow_private_addresses: false,
            max_bytes: 65536,
            timeout: 5,
            max_concurrent: 32,
        }
    }
}

/// DPoP (RFC 9449): proofs of possession that bind tokens to a client's key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DpopConfig {
    /// Every DPoP proof must carry a nonce this server gave out (`DPoP-Nonce`, RFC 9449
    /// 8 and 9): a proof made in advance, or captured and replayed later, is refused
    /// with `use_dpop_nonce`. Costs clients one more round trip at first.
    pub require_nonce: bool,
    /// Seconds a proof is accepted after its `iat` (1 to 600).
    pub proof_max_age: i64,
    /// Seconds a proof's `iat` may be ahead of this server's clock (0 to 60).
    pub proof_max_clock_skew: i64,
    /// Seconds a server nonce stays current (30 to 3600); the previous one is accepted
    /// as well, so a nonce lives between one and two of these.
    pub nonce_lifetime: i64,
}

impl Default for DpopConfig {
    fn default() -> Self {
        Self { require_nonce: false, proof_max_age: 60, proof_max_clock_skew: 15, nonce_lifetime: 300 }
    }
}

/// Passkeys (WebAuthn): as a second factor, and as a sign-in without password.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasskeyConfig {
    /// Offer passkeys at all.
    pub enabled: bool,
    /// A passkey alone (with its PIN or biometrics) signs in, without the password.
    pub passwordless: bool,
    /// The relying-party id: the domain passkeys are bound to. Empty: the issuer's host.
    /// It must be that host or a parent domain of it (`etude.example` for
    /// `https://sso.etude.example`); an IP address cannot be one (browsers refuse it).
    pub rp_id: String,
    /// Origins whose pages may use the passkeys, besides the issuer's own origin (an
    /// issuer published under another public host than the one people see).
    pub origins: Vec<String>,
    /// When not empty, only authenticators of these models (AAGUIDs, as
    /// `cb69481e-8ff7-4039-93ec-0a2729a154a8`) may be registered.
    pub allowed_aaguids: Vec<String>,
    /// Seconds a ceremony (the browser asking the authenticator) may take.
    pub ceremony_ttl: i64,
}

impl Default for PasskeyConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            passwordless: true,
            rp_id: String::new(),
            origins: Vec::new(),
            allowed_aaguids: Vec::new(),
            ceremony_ttl: 300,
        }
    }
}
