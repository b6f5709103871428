//! Web Push: a sign-in request reaches a phone whose authenticator page is closed.
//!
//! A push device that runs in a browser (the web authenticator) registers the browser's
//! push subscription over the signed device protocol (`api`). When a login creates a
//! challenge, Sésame sends every subscription of the account's devices a notification
//! through the browser vendor's push service: encrypted for the browser (RFC 8291,
//! `encrypt`), signed with Sésame's VAPID key (RFC 8292, `vapid`), posted (`send`).
//! The notification carries no secret and no number: it only says that a request waits;
//! the device fetches and checks the signed challenge over the protocol as before, and
//! polling stays the way devices without Web Push learn of requests.

pub mod api;
pub mod encrypt;
pub mod send;
pub mod subscription;
pub mod vapid;

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::config::{Config, FetchConfig};
use crate::crypto::secretbox::SecretBox;
use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::oidc::fetch::PublicResolver;
use crate::storage::Db;
use crate::theme::Theme;
use send::{Message, Outcome};
use subscription::Subscription;
use vapid::VapidKey;

/// Version of the notification payload.
pub const PAYLOAD_VERSION: u32 = 1;

/// Sends the notifications; one per node, in the application state.
pub struct WebPush {
    enabled: bool,
    /// Plain-http endpoints on this machine are accepted (`fetch.allow_http_loopback`,
    /// or an issuer on this machine over http: a developer's set-up).
    pub loopback_allowed: bool,
    /// `sub` of the VAPID tokens: the operator's contact.
    subject: String,
    /// Seconds a push service keeps an undelivered notification: the challenge's life.
    ttl: i64,
    vapid: VapidKey,
    http: reqwest::Client,
    db: Db,
    secrets: SecretBox,
    theme: Arc<Theme>,
}

/// What a login gives the push module so that it can tell the devices: the sender and
/// the language of the notification.
#[derive(Clone, Copy)]
pub struct Notice<'a> {
    pub sender: &'a Arc<WebPush>,
    pub locale: Locale,
}

impl WebPush {
    /// Loads (or, at the very first start, makes) the VAPID key shared by all nodes.
    pub async fn open(
        config: &Config,
        db: Db,
        secrets: SecretBox,
        theme: Arc<Theme>,
        now: i64,
    ) -> Result<Self, DomainError> {
        let vapid = VapidKey::load_or_create(&db, &secrets, now).await?;
        // Its own client: short timeouts (a push service that hangs must not keep tasks
        // around) and no redirects (an endpoint is where the browser said, nowhere else).
        // A device chooses the endpoint: its name must resolve to a public address, never
        // the office's network (push services are on the Internet, whatever
        // `fetch.allow_private_addresses` opens for clients' own URLs), nor this machine
        // but on a developer's one. No proxy from the environment: through one, the name
        // would not be checked.
        let loopback_allowed = config.fetch.allow_http_loopback || config.issuer_is_local();
        let resolver_policy = FetchConfig {
            allow_http_loopback: loopback_allowed,
            allow_private_addresses: false,
            ..config.fetch.clone()
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(PublicResolver::new(&resolver_policy))
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(4))
            .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| DomainError::Crypto(format!("Web Push HTTP client: {e}")))?;
        let subject = match config.push.vapid_subject.trim() {
            "" => config.issuer().to_string(),
            given => given.to_string(),
        };
        Ok(Self {
            enabled: config.push.enabled && config.push.web_push,
            loopback_allowed,
            subject,
            ttl: config.push.challenge_ttl,
            vapid,
            http,
            db,
            secrets,
            theme,
        })
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The `applicationServerKey` browsers subscribe with.
    pub fn public_key(&self) -> &str {
        self.vapid.public_key()
    }

    /// Tells the account's subscribed browsers that a sign-in to `application` waits.
    /// Returns at once: the sends run in the background, and a failure is only logged
    /// (the login never waits for a push service, nor fails because of one).
    pub fn notify(self: &Arc<Self>, account_id: &str, application: &str, locale: Locale, now: i64) {
        if !self.enabled {
            return;
        }
        let payload = self.payload(application, locale);
        let this = Arc::clone(self);
        let account_id = account_id.to_string();
        tokio::spawn(async move {
            let subscriptions = match subscription::of_account(&this.db, &this.secrets, &account_id).await {
                Ok(found) => found,
                Err(error) => {
                    tracing::warn!(%error, "Web Push: could not read the subscriptions");
                    return;
                }
            };
            for found in subscriptions {
                let this = Arc::clone(&this);
                let payload = payload.clone();
                // One task each: a slow push service does not delay the others.
                tokio::spawn(async move { this.deliver(&found, &payload, now).await });
            }
        });
    }

    /// The notification: what to show, in the user's language; no number, no secret.
    fn payload(&self, application: &str, locale: Locale) -> Vec<u8> {
        let text = |key: &str| self.theme.message(locale, key).replace("{application}", application);
        json!({
            "v": PAYLOAD_VERSION,
            "type": "push_challenge",
            "application": application,
            "title": text("web_push_title"),
            "body": text("web_push_body"),
        })
        .to_string()
        .into_bytes()
    }

    async fn deliver(&self, subscription: &Subscription, payload: &[u8], now: i64) {
        let body = match encrypt::encrypt(payload, &subscription.p256dh, &subscription.auth) {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(%error, subscription = %subscription.id, "Web Push: cannot encrypt");
                return;
            }
        };
        let message = Message { body, ttl: self.ttl, vapid: &self.vapid, subject: &self.subject, now };
        let host = subscription.endpoint.host_str().unwrap_or_default().to_string();
        match send::send(&self.http, subscription, message).await {
            Outcome::Accepted => tracing::debug!(%host, "Web Push: notification accepted"),
            Outcome::Gone => {
                tracing::info!(%host, subscription = %subscription.id, "Web Push: subscription gone, removed");
                if let Err(error) = subscription::remove(&self.db, &subscription.id).await {
                    tracing::warn!(%error, "Web Push: could not remove a gone subscription");
                }
            }
            Outcome::Failed(reason) => tracing::warn!(%host, %reason, "Web Push: notification not delivered"),
        }
    }
}
