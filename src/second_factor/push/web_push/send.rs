//! Delivering one message to a push service (RFC 8030 section 5): a POST of the
//! encrypted body to the subscription's endpoint, with its VAPID authorization.

use reqwest::{StatusCode, header};

use super::subscription::Subscription;
use super::vapid::VapidKey;

/// What the push service answered.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted (201, or any 2xx).
    Accepted,
    /// 404 or 410: the subscription expired or was withdrawn; forget it.
    Gone,
    /// Anything else: logged, the subscription kept (the service may be down for a while).
    Failed(String),
}

/// What one send needs besides the subscription.
pub struct Message<'a> {
    /// The RFC 8291 body.
    pub body: Vec<u8>,
    /// Seconds the push service keeps the message for an offline browser: a sign-in
    /// request is useless once it expired.
    pub ttl: i64,
    pub vapid: &'a VapidKey,
    pub subject: &'a str,
    pub now: i64,
}

/// Posts the message; never panics, never retries (the device also polls).
pub async fn send(http: &reqwest::Client, subscription: &Subscription, message: Message<'_>) -> Outcome {
    let authorization = match message.vapid.authorization(&subscription.endpoint, message.subject, message.now) {
        Ok(value) => value,
        Err(error) => return Outcome::Failed(error.to_string()),
    };
    let request = http
        .post(subscription.endpoint.clone())
        .header(header::AUTHORIZATION, authorization)
        .header(header::CONTENT_ENCODING, "aes128gcm")
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header("TTL", message.ttl.max(0).to_string())
        // A sign-in is waiting: wake the phone even on battery saving.
        .header("Urgency", "high")
        // A newer request replaces one the phone has not received yet.
        .header("Topic", "sesame-sign-in")
        .body(message.body);
    match request.send().await {
        Ok(response) if response.status().is_success() => Outcome::Accepted,
        Ok(response) if matches!(response.status(), StatusCode::NOT_FOUND | StatusCode::GONE) => Outcome::Gone,
        Ok(response) => Outcome::Failed(format!("the push service answered {}", response.status())),
        Err(error) => Outcome::Failed(error.to_string()),
    }
}
