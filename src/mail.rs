//! Outgoing mail: enrollment confirmation codes and notices to an account's owner.
//!
//! Three transports, chosen by `mail.transport`: `outbox` appends one JSON line per message
//! to a file (development and tests read it), `smtp` sends through a mail server with
//! lettre, `log` writes the message to the log.

use std::time::Duration;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Tokio1Executor,
    message::{Mailbox, Message, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use serde_json::json;

use crate::config::Config;
use crate::outbox::Outbox;

/// One message to send.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    /// What the message is for (`enrollment_code`, `factor_added`, …), kept in the outbox.
    pub purpose: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("the address {0} cannot receive mail")]
    Address(String),
    #[error("mail could not be written: {0}")]
    Outbox(#[from] std::io::Error),
    #[error("the mail server refused or could not be reached: {0}")]
    Smtp(String),
}

pub enum Mailer {
    Outbox(Outbox),
    Smtp { transport: Box<AsyncSmtpTransport<Tokio1Executor>>, from: Mailbox },
    Log,
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let mail = &config.mail;
        Ok(match mail.transport.as_str() {
            "smtp" => {
                let builder = match mail.smtp_tls.as_str() {
                    "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(&mail.smtp_host),
                    "none" => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&mail.smtp_host)),
                    _ => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&mail.smtp_host),
                }
                .map_err(|e| MailError::Smtp(e.to_string()))?;
                let mut builder = builder.port(mail.smtp_port).timeout(Some(Duration::from_secs(mail.smtp_timeout)));
                if !mail.smtp_username.is_empty() {
                    builder =
                        builder.credentials(Credentials::new(mail.smtp_username.clone(), mail.smtp_password.clone()));
                }
                let from = mail.from.parse().map_err(|_| MailError::Address(mail.from.clone()))?;
                Self::Smtp { transport: Box::new(builder.build()), from }
            }
            "log" => Self::Log,
            _ => Self::Outbox(Outbox::new(&mail.outbox_path, &config.data_dir, "mail-outbox.jsonl")),
        })
    }

    /// For `sesame check`: connects to the SMTP server as a send would (TLS, sign-in)
    /// and says hello, sending nothing. The other transports have nothing to reach.
    pub async fn test(&self) -> Result<(), MailError> {
        match self {
            Self::Smtp { transport, .. } => match transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(MailError::Smtp("the server did not answer NOOP".into())),
                Err(error) => Err(MailError::Smtp(error.to_string())),
            },
            Self::Outbox(_) | Self::Log => Ok(()),
        }
    }

    pub async fn send(&self, mail: &Mail, now: i64) -> Result<(), MailError> {
        match self {
            Self::Outbox(outbox) => {
                let line = json!({
                    "time": now,
                    "to": mail.to,
                    "subject": mail.subject,
                    "text": mail.text,
                    "purpose": mail.purpose,
                });
                Ok(outbox.append(&line).await?)
            }
            Self::Smtp { transport, from } => {
                let to: Mailbox = mail.to.parse().map_err(|_| MailError::Address(mail.to.clone()))?;
                let message = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(&mail.subject)
                    .header(ContentType::TEXT_PLAIN)
                    .body(mail.text.clone())
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
                transport.send(message).await.map_err(|e| MailError::Smtp(e.to_string()))?;
                Ok(())
            }
            Self::Log => {
                tracing::info!(to = %mail.to, subject = %mail.subject, purpose = mail.purpose, text = %mail.text, "mail");
                Ok(())
            }
        }
    }
}
