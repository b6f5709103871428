//! The Web Push subscriptions of push devices: checked when a device registers one
//! (where Sésame will send, with which keys), kept with their keys sealed, a few per
//! device, removed when the push service says they are gone or the device is revoked.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use serde_json::json;

use super::encrypt::{AUTH_SECRET_LEN, PUBLIC_KEY_LEN};
use crate::crypto::{self, secretbox::SecretBox};
use crate::domain::DomainError;
use crate::oidc::fetch;
use crate::storage::{Db, entities::web_push_subscription};

/// Subscriptions kept per device: a new one beyond this replaces the oldest (a browser
/// that subscribes again after clearing its data leaves its old endpoint behind).
pub const MAX_PER_DEVICE: usize = 5;
/// Longest endpoint accepted (those of the big push services are under 500 characters).
pub const MAX_ENDPOINT_LEN: usize = 1024;

/// A subscription as the browser's `PushSubscription.toJSON()` gives it.
#[derive(Debug, Deserialize)]
pub struct Offered {
    pub endpoint: String,
    pub keys: OfferedKeys,
}

#[derive(Debug, Deserialize)]
pub struct OfferedKeys {
    pub p256dh: String,
    pub auth: String,
}

/// A checked subscription, ready to encrypt for and send to.
#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub endpoint: url::Url,
    pub p256dh: Vec<u8>,
    pub auth: Vec<u8>,
}

/// Why a subscription is refused; the text tells the device's developer what to fix.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);

/// Checks what a device offers: an `https` endpoint (plain `http` only to a loopback
/// address when `loopback` allows it: tests and a developer's machine), a P-256 point
/// of 65 bytes and an auth secret of 16 bytes.
pub fn check(offered: &Offered, loopback: bool) -> Result<(url::Url, Vec<u8>, Vec<u8>), Invalid> {
    let endpoint = check_endpoint(&offered.endpoint, loopback)?;
    let p256dh = decode(&offered.keys.p256dh).ok_or(Invalid("keys.p256dh is not base64url"))?;
    if p256dh.len() != PUBLIC_KEY_LEN || !is_p256_point(&p256dh) {
        return Err(Invalid("keys.p256dh must be an uncompressed P-256 point (65 bytes)"));
    }
    let auth = decode(&offered.keys.auth).ok_or(Invalid("keys.auth is not base64url"))?;
    if auth.len() != AUTH_SECRET_LEN {
        return Err(Invalid("keys.auth must be 16 bytes"));
    }
    Ok((endpoint, p256dh, auth))
}

fn check_endpoint(text: &str, loopback: bool) -> Result<url::Url, Invalid> {
    if text.len() > MAX_ENDPOINT_LEN {
        return Err(Invalid("the endpoint is longer than 1024 characters"));
    }
    let url = url::Url::parse(text).map_err(|_| Invalid("the endpoint is not an absolute URL"))?;
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(Invalid("the endpoint must not carry credentials or a fragment"));
    }
    match (url.scheme(), url.host()) {
        // A device may name any push service, but not make the server post to the
        // office's own network by address.
        ("https", Some(host)) if is_private_address(&host) => {
            Err(Invalid("the endpoint must be a push service on the internet, not a private address"))
        }
        ("https", Some(_)) => Ok(url),
        ("http", Some(host)) if loopback && is_loopback(&host) => Ok(url),
        ("http", _) => Err(Invalid(
            "the endpoint must use https (plain http only to a loopback address, on a developer's machine)",
        )),
        _ => Err(Invalid("the endpoint must be an https URL")),
    }
}

/// An address literal that is not an ordinary Internet address: this machine, a
/// private or shared network, link-local (cloud metadata), documentation and the other
/// special ranges, by the same rule as every URL a client chooses (`oidc::fetch`).
fn is_private_address(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => !fetch::is_public((*ip).into()),
        url::Host::Ipv6(ip) => !fetch::is_public((*ip).into()),
        url::Host::Domain(_) => false,
    }
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
    }
}

/// Browsers give base64url without padding; some libraries pad it.
fn decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')).ok()
}

fn is_p256_point(bytes: &[u8]) -> bool {
    use aws_lc_rs::agreement::{ECDH_P256, ParsedPublicKey, UnparsedPublicKey};
    ParsedPublicKey::try_from(&UnparsedPublicKey::new(&ECDH_P256, bytes)).is_ok()
}

pub(crate) fn keys_aad(id: &str) -> String {
    format!("web_push_subscription:{id}")
}

/// Stores a checked subscription of the device. The same endpoint registered again
/// replaces its keys; past [`MAX_PER_DEVICE`] the oldest go.
pub async fn store(
    db: &Db,
    secrets: &SecretBox,
    device_id: &str,
    account_id: &str,
    (endpoint, p256dh, auth): (url::Url, Vec<u8>, Vec<u8>),
    now: i64,
) -> Result<String, DomainError> {
    web_push_subscription::Entity::delete_many()
        .filter(web_push_subscription::Column::DeviceId.eq(device_id))
        .filter(web_push_subscription::Column::Endpoint.eq(endpoint.as_str()))
        .exec(db)
        .await?;
    let id = crypto::random_id();
    let keys = json!({"p256dh": URL_SAFE_NO_PAD.encode(&p256dh), "auth": URL_SAFE_NO_PAD.encode(&auth)});
    web_push_subscription::ActiveModel {
        id: Set(id.clone()),
        device_id: Set(device_id.to_string()),
        account_id: Set(account_id.to_string()),
        endpoint: Set(endpoint.to_string()),
        keys: Set(secrets.seal(keys.to_string().as_bytes(), &keys_aad(&id))),
        created_at: Set(now),
    }
    .insert(db)
    .await?;
    drop_beyond_limit(db, device_id).await?;
    Ok(id)
}

/// Keeps the device's newest [`MAX_PER_DEVICE`] subscriptions.
async fn drop_beyond_limit(db: &Db, device_id: &str) -> Result<(), DomainError> {
    let rows = web_push_subscription::Entity::find()
        .filter(web_push_subscription::Column::DeviceId.eq(device_id))
        .order_by_desc(web_push_subscription::Column::CreatedAt)
        .order_by_desc(web_push_subscription::Column::Id)
        .all(db)
        .await?;
    let surplus: Vec<String> = rows.into_iter().skip(MAX_PER_DEVICE).map(|row| row.id).collect();
    if !surplus.is_empty() {
        web_push_subscription::Entity::delete_many()
            .filter(web_push_subscription::Column::Id.is_in(surplus))
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Every subscription of the account's devices; one that cannot be read (sealed under
/// another master key, or tampered with) is skipped and logged.
pub async fn of_account(db: &Db, secrets: &SecretBox, account_id: &str) -> Result<Vec<Subscription>, DomainError> {
    let rows = web_push_subscription::Entity::find()
        .filter(web_push_subscription::Column::AccountId.eq(account_id))
        .all(db)
        .await?;
    Ok(rows.into_iter().filter_map(|row| open(secrets, row)).collect())
}

fn open(secrets: &SecretBox, row: web_push_subscription::Model) -> Option<Subscription> {
    let read = || {
        let plain = secrets.open(&row.keys, &keys_aad(&row.id)).ok()?;
        let keys: OfferedKeys = serde_json::from_slice(&plain).ok()?;
        Some(Subscription {
            id: row.id.clone(),
            endpoint: url::Url::parse(&row.endpoint).ok()?,
            p256dh: decode(&keys.p256dh)?,
            auth: decode(&keys.auth)?,
        })
    };
    let opened = read();
    if opened.is_none() {
        tracing::warn!(subscription = %row.id, "a Web Push subscription cannot be read; skipped");
    }
    opened
}

/// Forgets a subscription the push service no longer knows.
pub async fn remove(db: &Db, id: &str) -> Result<(), DomainError> {
    web_push_subscription::Entity::delete_by_id(id.to_string()).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(endpoint: &str, p256dh: &[u8], auth: &[u8]) -> Offered {
        Offered {
            endpoint: endpoint.into(),
            keys: OfferedKeys { p256dh: URL_SAFE_NO_PAD.encode(p256dh), auth: URL_SAFE_NO_PAD.encode(auth) },
        }
    }

    #[test]
    fn web_push_subscriptions_are_checked() {
        use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
        let ua = PrivateKey::generate(&ECDH_P256).unwrap();
        let point = ua.compute_public_key().unwrap().as_ref().to_vec();
        let good = |endpoint: &str| check(&offered(endpoint, &point, &[7; 16]), true);
        let deployed = |endpoint: &str| check(&offered(endpoint, &point, &[7; 16]), false);
        assert!(good("https://fcm.googleapis.com/fcm/send/abc").is_ok());
        for local in ["http://127.0.0.1:2375/containers/x/stop", "http://localhost:9090/-/quit", "http://[::1]/"] {
            assert!(deployed(local).is_err(), "a deployment never posts to this machine's plain-http services");
        }
        assert!(deployed("https://fcm.googleapis.com/fcm/send/abc").is_ok());
        assert!(good("http://127.0.0.1:4000/push/1").is_ok());
        assert!(good("http://[::1]:4000/push/1").is_ok());
        assert!(good("http://localhost:4000/push/1").is_ok());
        assert!(good("http://push.example/1").is_err(), "plain http to another host");
        assert!(good("http://10.0.0.1/1").is_err());
        assert!(good("ftp://push.example/1").is_err());
        assert!(good("https://user:pw@push.example/1").is_err());
        for private in [
            "https://10.0.0.5/push",
            "https://192.168.1.2/",
            "https://127.0.0.1/",
            "https://[fd00::1]/",
            "https://169.254.169.254/",
            "https://[::ffff:169.254.169.254]/",
            "https://100.64.0.9/",
            "https://[64:ff9b:1::a00:1]/",
        ] {
            assert!(good(private).is_err(), "{private}");
        }
        assert!(good("https://93.184.215.14/push").is_ok(), "a public address");
        assert!(good(&format!("https://push.example/{}", "a".repeat(MAX_ENDPOINT_LEN))).is_err());
        assert!(check(&offered("https://push.example/1", &point[..64], &[7; 16]), false).is_err());
        assert!(check(&offered("https://push.example/1", &point, &[7; 15]), false).is_err());
        assert!(check(&offered("https://push.example/1", &[4; 65], &[7; 16]), false).is_err(), "not on the curve");
        let padded = Offered {
            endpoint: "https://push.example/1".into(),
            keys: OfferedKeys {
                p256dh: base64::engine::general_purpose::URL_SAFE.encode(&point),
                auth: base64::engine::general_purpose::URL_SAFE.encode([7; 16]),
            },
        };
        assert!(check(&padded, false).is_ok(), "padding is tolerated");
    }
}
