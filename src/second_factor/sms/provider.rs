//! Text messages leave through one provider, chosen by `sms.provider`: `outbox` appends one
//! JSON line per message to a file (development and tests read it), `http` calls a
//! generic gateway described by configuration (OVHcloud, Twilio, Brevo, Vonage…), `log`
//! writes the message to the log (codes masked unless the issuer is a developer's
//! loopback URL).

use std::time::Duration;

use serde_json::json;

use crate::config::{Config, SmsHttpConfig};
use crate::outbox::Outbox;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Sms {
    /// E.164, `+33612345678`.
    pub to: String,
    pub text: String,
    /// What it is for (`login_code`), kept in the outbox.
    pub purpose: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The gateway answered with a status it does not accept for this message.
    #[error("the SMS gateway refused the message (HTTP {0})")]
    Refused(u16),
    /// Timeout, connection failure or a 5xx, twice.
    #[error("the SMS gateway could not be reached: {0}")]
    Unreachable(String),
    #[error("the SMS outbox could not be written: {0}")]
    Outbox(#[from] std::io::Error),
}

pub enum SmsProvider {
    Outbox(Outbox),
    Http { config: Box<SmsHttpConfig>, sender: String, client: reqwest::Client },
    Log { show_codes: bool },
}

impl SmsProvider {
    pub fn from_config(config: &Config) -> Result<Self, SmsError> {
        let sms = &config.sms;
        Ok(match sms.provider.as_str() {
            "http" => {
                let client = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_secs(sms.http.timeout.max(1)))
                    .user_agent(concat!("sesame/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| SmsError::Unreachable(e.to_string()))?;
                Self::Http { config: Box::new(sms.http.clone()), sender: sms.sender.clone(), client }
            }
            "log" => Self::Log { show_codes: config.issuer_is_local() },
            _ => Self::Outbox(Outbox::new(&sms.outbox_path, &config.data_dir, "sms-outbox.jsonl")),
        })
    }

    pub async fn send(&self, sms: &Sms, now: i64) -> Result<(), SmsError> {
        match self {
            Self::Outbox(outbox) => {
                let line = json!({"time": now, "to": sms.to, "text": sms.text, "purpose": sms.purpose});
                Ok(outbox.append(&line).await?)
            }
            Self::Http { config, sender, client } => {
                // One retry, and only when trying again can help (no answer or a 5xx).
                match send_http(client, config, sender, sms).await {
                    Err(SmsError::Unreachable(first)) => {
                        tracing::warn!(error = %first, "SMS gateway failed; retrying once");
                        send_http(client, config, sender, sms).await
                    }
                    other => other,
                }
            }
            Self::Log { show_codes } => {
                let text = if *show_codes { sms.text.clone() } else { mask_digits(&sms.text) };
                tracing::info!(to = %sms.to, purpose = sms.purpose, %text, "sms");
                Ok(())
            }
        }
    }
}

/// Replaces `{to}`, `{to_digits}`, `{text}` and `{sender}`, each escaped by `escape`.
fn fill(template: &str, sms: &Sms, sender: &str, escape: impl Fn(&str) -> String) -> String {
    template
        .replace("{to_digits}", &escape(sms.to.trim_start_matches('+')))
        .replace("{to}", &escape(&sms.to))
        .replace("{sender}", &escape(sender))
        .replace("{text}", &escape(&sms.text))
}

fn url_escape(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

fn json_escape(value: &str) -> String {
    let quoted = serde_json::Value::String(value.to_string()).to_string();
    quoted[1..quoted.len() - 1].to_string()
}

async fn send_http(client: &reqwest::Client, config: &SmsHttpConfig, sender: &str, sms: &Sms) -> Result<(), SmsError> {
    let url = fill(&config.url, sms, sender, url_escape);
    let mut request = if config.method == "GET" { client.get(&url) } else { client.post(&url) };
    for (name, value) in &config.headers {
        request = request.header(name, value);
    }
    request = match config.auth.as_str() {
        "basic" => request.basic_auth(&config.username, Some(&config.password)),
        "bearer" => request.bearer_auth(&config.token),
        _ => request,
    };
    if !config.body.is_empty() {
        request = if config.encoding == "form" {
            request.header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(fill(
                &config.body,
                sms,
                sender,
                url_escape,
            ))
        } else {
            request.header(reqwest::header::CONTENT_TYPE, "application/json").body(fill(
                &config.body,
                sms,
                sender,
                json_escape,
            ))
        };
    }
    let response = request.send().await.map_err(|e| SmsError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    if config.accepted_statuses.contains(&status) {
        Ok(())
    } else if response.status().is_server_error() {
        Err(SmsError::Unreachable(format!("HTTP {status}")))
    } else {
        Err(SmsError::Refused(status))
    }
}

/// `Code 123456` → `Code ••••••`: what a production log may show.
fn mask_digits(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_digit() { '•' } else { c }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sms() -> Sms {
        Sms { to: "+33612345678".into(), text: "Code: 123 456 \"&\"".into(), purpose: "login_code" }
    }

    #[test]
    fn templates_escape_for_their_encoding() {
        let json = fill(r#"{"to":"{to}","text":"{text}","from":"{sender}"}"#, &sms(), "Sésame", json_escape);
        let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed["text"], "Code: 123 456 \"&\"");
        assert_eq!(parsed["to"], "+33612345678");
        let form = fill("To={to}&Body={text}&n={to_digits}", &sms(), "S", url_escape);
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(form.as_bytes()).into_owned().collect();
        assert_eq!(pairs[0], ("To".into(), "+33612345678".into()));
        assert_eq!(pairs[1], ("Body".into(), "Code: 123 456 \"&\"".into()));
        assert_eq!(pairs[2], ("n".into(), "33612345678".into()));
    }

    #[test]
    fn production_logs_never_show_the_code() {
        assert_eq!(mask_digits("Sésame : 123456"), "Sésame : ••••••");
    }
}
