//! Codes by text message: who may receive them (the operator's switches, the allowed
//! countries), how the number is shown, and the sending limits per account, per number
//! and per client address that stand against SMS pumping and toll fraud. The limits are
//! counted in the database so that they hold across nodes. `send` sends a login code
//! within them; `provider` is the gateway (outbox, HTTP, log).

pub mod provider;
pub mod send;

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::accounts::Account;
use crate::config::SmsConfig;
use crate::crypto;
use crate::domain::DomainError;
use crate::storage::{Db, entities::sms_send};

/// The purpose of login codes sent by SMS (see `email_code`).
pub const SMS_LOGIN: &str = "sms_login";

const QUARTER: i64 = 15 * 60;
const DAY: i64 = 86_400;

/// The allowed calling code the number starts with (the longest one), if any.
pub fn country_code<'a>(phone: &str, config: &'a SmsConfig) -> Option<&'a str> {
    let digits = phone.strip_prefix('+')?;
    config
        .allowed_country_codes
        .iter()
        .filter(|code| digits.starts_with(code.as_str()))
        .max_by_key(|c| c.len())
        .map(String::as_str)
}

/// Whether the account can receive login codes by SMS now.
pub fn usable(account: &Account, config: &SmsConfig) -> bool {
    config.enabled
        && !account.sms_disabled
        && account.phone.as_deref().is_some_and(|phone| country_code(phone, config).is_some())
}

/// `+33612345678` → `+33 6 •• •• •• 78`; other countries `+262 •••• 78`: enough for the
/// owner to recognise their number, too little for anyone else.
pub fn mask(phone: &str) -> String {
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 4 {
        return "••••".into();
    }
    let last = &digits[digits.len() - 2..];
    match digits.strip_prefix("33") {
        Some(national) if national.len() == 9 => format!("+33 {} •• •• •• {last}", &national[..1]),
        _ => format!("+{} •••• {last}", &digits[..digits.len().min(3).min(digits.len() - 2)]),
    }
}

/// Why no code is sent now.
#[derive(Debug, PartialEq, Eq)]
pub enum Hold {
    /// The last code was sent a moment ago: wait this many seconds.
    Resend(i64),
    /// A limit per account, number or address is reached for this many seconds.
    Limit(i64),
}

/// Records a send about to happen, then counts: if it goes over a limit it is taken
/// back and the caller is told how long to wait. Recording first means two parallel
/// requests cannot both slip under a limit.
pub async fn reserve(
    db: &Db,
    config: &SmsConfig,
    account_id: &str,
    phone: &str,
    ip: Option<&str>,
    now: i64,
) -> Result<Result<String, Hold>, DomainError> {
    let last = sms_send::Entity::find()
        .filter(sms_send::Column::AccountId.eq(account_id))
        .order_by_desc(sms_send::Column::SentAt)
        .one(db)
        .await?;
    if let Some(wait) = last.map(|row| row.sent_at + config.resend_wait - now).filter(|wait| *wait > 0) {
        return Ok(Err(Hold::Resend(wait)));
    }
    let id = crypto::random_id();
    sms_send::ActiveModel {
        id: Set(id.clone()),
        account_id: Set(account_id.to_string()),
        phone: Set(phone.to_string()),
        ip: Set(ip.map(str::to_string)),
        sent_at: Set(now),
    }
    .insert(db)
    .await?;
    let mut checks = vec![
        (sms_send::Column::AccountId, account_id.to_string(), config.per_account_per_15_minutes, QUARTER),
        (sms_send::Column::AccountId, account_id.to_string(), config.per_account_per_day, DAY),
        (sms_send::Column::Phone, phone.to_string(), config.per_phone_per_15_minutes, QUARTER),
        (sms_send::Column::Phone, phone.to_string(), config.per_phone_per_day, DAY),
    ];
    if let Some(ip) = ip {
        checks.push((sms_send::Column::Ip, ip.to_string(), config.per_ip_per_15_minutes, QUARTER));
        checks.push((sms_send::Column::Ip, ip.to_string(), config.per_ip_per_day, DAY));
    }
    for (column, value, limit, window) in checks {
        let sent: Vec<i64> = sms_send::Entity::find()
            .filter(column.eq(value))
            .filter(sms_send::Column::SentAt.gt(now - window))
            .order_by_asc(sms_send::Column::SentAt)
            .all(db)
            .await?
            .into_iter()
            .map(|row| row.sent_at)
            .collect();
        if sent.len() as u64 > limit {
            release(db, &id).await?;
            let oldest = sent.first().copied().unwrap_or(now);
            return Ok(Err(Hold::Limit((oldest + window - now).max(1))));
        }
    }
    Ok(Ok(id))
}

/// Takes back a reserved send (the gateway failed: it does not count against the user).
pub async fn release(db: &Db, id: &str) -> Result<(), DomainError> {
    sms_send::Entity::delete_by_id(id.to_string()).exec(db).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_masked() {
        assert_eq!(mask("+33612345678"), "+33 6 •• •• •• 78");
        assert_eq!(mask("+262692123456"), "+262 •••• 56");
    }

    #[test]
    fn only_allowed_countries() {
        let config = SmsConfig::default();
        assert_eq!(country_code("+33612345678", &config), Some("33"));
        assert_eq!(country_code("+262692123456", &config), Some("262"));
        assert_eq!(country_code("+447700900123", &config), None);
        assert_eq!(country_code("0612345678", &config), None);
    }
}
