//! Sending a login code by text message, in one place: reserve a send within the limits,
//! issue the code, hand the text to the provider, and take the reservation back if the
//! message did not leave (a gateway failure does not count against the user). The
//! login's verification page calls it; it knows nothing of pages.

use super::provider::{Sms, SmsProvider};
use super::{Hold, SMS_LOGIN, mask, release, reserve};
use crate::accounts::Account;
use crate::config::SmsConfig;
use crate::domain::DomainError;
use crate::i18n::Locale;
use crate::second_factor::email_code;
use crate::storage::Db;

/// What sending needs: the database, the codes' key, the provider and its limits.
pub struct Sender<'a> {
    pub db: &'a Db,
    pub code_key: &'a [u8],
    pub provider: &'a SmsProvider,
    pub config: &'a SmsConfig,
}

/// How a request to send a code ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// The code left; `to` is the masked number, `minutes` how long the code lasts.
    Sent { to: String, minutes: i64 },
    /// The previous code was sent a moment ago: wait this many seconds.
    Wait(i64),
    /// A limit per account, number or address is reached for this many seconds.
    Limited(i64),
    /// The account has no number.
    NoPhone,
    /// The provider failed (the send was taken back); the error, for the audit trail.
    Failed(String),
}

impl Sender<'_> {
    /// Sends a fresh login code to the account's number; `compose` writes the text
    /// around the code, in the language given: the account's (`Account::locale`), not
    /// the page's, since the phone is the owner's. Only a database failure is an error.
    pub async fn send_login_code(
        &self,
        account: &Account,
        ip: Option<&str>,
        compose: impl FnOnce(&str, Locale) -> String,
        now: i64,
    ) -> Result<Sent, DomainError> {
        let Some(phone) = account.phone.clone() else {
            return Ok(Sent::NoPhone);
        };
        let reservation = match reserve(self.db, self.config, &account.id, &phone, ip, now).await? {
            Ok(reservation) => reservation,
            Err(Hold::Resend(wait)) => return Ok(Sent::Wait(wait)),
            Err(Hold::Limit(wait)) => return Ok(Sent::Limited(wait)),
        };
        let sent = async {
            let code = email_code::issue(self.db, self.code_key, &account.id, SMS_LOGIN, self.config.code_ttl, now)
                .await
                .map_err(|e| e.to_string())?
                .code;
            let outgoing = Sms { to: phone.clone(), text: compose(&code, account.locale()), purpose: "login_code" };
            self.provider.send(&outgoing, now).await.map_err(|e| e.to_string())
        };
        match sent.await {
            Ok(()) => Ok(Sent::Sent { to: mask(&phone), minutes: self.code_minutes() }),
            Err(error) => {
                // The user is told the message failed either way; a reservation left
                // behind only makes the next send wait.
                if let Err(release_error) = release(self.db, &reservation).await {
                    tracing::error!(%release_error, "could not take back a failed text message's reservation");
                }
                Ok(Sent::Failed(error))
            }
        }
    }

    /// How long a code lasts, in whole minutes (at least one), as the text says it.
    pub fn code_minutes(&self) -> i64 {
        (self.config.code_ttl / 60).max(1)
    }
}
