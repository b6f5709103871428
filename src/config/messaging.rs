//! The sections about reaching people: mail, text messages (and their HTTP gateway) and
//! push notifications.

use serde::{Deserialize, Serialize};

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
    /// Also wake devices that registered a Web Push subscription (the web authenticator
    /// installed on a phone) through their browser's push service.
    pub web_push: bool,
    /// The contact push services see in Sésame's VAPID tokens (`mailto:…` or
    /// `https://…`); empty: the issuer URL.
    pub vapid_subject: String,
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
            web_push: true,
            vapid_subject: String::new(),
        }
    }
}
