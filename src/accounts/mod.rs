//! Accounts: identity, state, and access to each application with its initials, rights
//! and options. The rules (normalisation, uniqueness, catalogue checks) live here; HTTP
//! and the CLI call these functions.

pub mod actions;
mod phone;
mod repository;
mod rules;

pub use phone::{display_phone, normalize_phone};
pub use repository::*;
pub use rules::{normalize_email, normalize_username, parse_language};

use std::collections::BTreeMap;

use serde_json::Value;

use crate::i18n::Locale;
use crate::storage::entities::account;

#[derive(Debug, Clone, PartialEq)]
pub struct Account {
    pub id: String,
    pub username: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub initials: String,
    pub email: Option<String>,
    /// Its owner proved `email` by typing a code mailed to it.
    pub email_verified: bool,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub archived: bool,
    pub two_factor_required: bool,
    pub account_admin: bool,
    /// When an administrator locked the account by hand; none: not locked.
    pub admin_locked_at: Option<i64>,
    pub preferred_method: Option<String>,
    pub enrollment_opened_at: Option<i64>,
    pub sms_disabled: bool,
    pub push_locked_until: Option<i64>,
    /// The language its owner (or an administrator) chose; none: not chosen.
    pub language: Option<Locale>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl Account {
    /// Whether a grant may give this account tokens now: not archived, not locked by an
    /// administrator (a lock ends its grants; this refuses what was granted in between).
    pub fn may_get_tokens(&self) -> bool {
        !self.archived && self.admin_locked_at.is_none()
    }

    pub fn full_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name).trim().to_string()
    }

    /// The language of every mail, text message and notification to this account,
    /// whatever page triggered it: the one chosen, else the server's.
    pub fn locale(&self) -> Locale {
        self.language.unwrap_or(Locale::DEFAULT)
    }
}

impl From<account::Model> for Account {
    fn from(row: account::Model) -> Self {
        Self {
            id: row.id,
            username: row.username,
            password_hash: row.password_hash,
            first_name: row.first_name,
            last_name: row.last_name,
            initials: row.initials,
            email_verified: row.email.is_some() && row.email_verified == row.email,
            email: row.email,
            phone: row.phone,
            address: row.address,
            archived: row.archived,
            two_factor_required: row.two_factor_required,
            account_admin: row.account_admin,
            admin_locked_at: row.admin_locked_at,
            preferred_method: row.preferred_method,
            enrollment_opened_at: row.enrollment_opened_at,
            sms_disabled: row.sms_disabled,
            push_locked_until: row.push_locked_until,
            // A value this release does not know (written by a later one) reads as
            // not chosen rather than failing every read of the account.
            language: row.language.as_deref().and_then(Locale::parse),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// How the password of an account is given: in clear (hashed here) or already hashed.
#[derive(Debug, Clone)]
pub enum PasswordInput {
    Plain(String),
    Hash(String),
}

/// What an operator declares for an account (import, CLI, later the console).
#[derive(Debug, Clone, Default)]
pub struct AccountInput {
    pub username: String,
    pub password: Option<PasswordInput>,
    pub first_name: String,
    pub last_name: String,
    pub initials: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub archived: bool,
    pub two_factor_required: bool,
    /// No text-message codes for this account, whatever the server allows.
    pub sms_disabled: bool,
    pub account_admin: bool,
    /// `None` leaves the account's access as it is.
    pub access: Option<Vec<AccessInput>>,
    /// `fr` or `en` as given (checked by `upsert`); `Some(None)`: back to the server's
    /// language; `None` leaves it as it is, so that an import or an administrator's
    /// edit that does not name it keeps the owner's choice.
    pub language: Option<Option<String>>,
}

impl AccountInput {
    /// The account's current values as input, to change one thing (access untouched).
    pub fn unchanged(account: &Account) -> Self {
        Self {
            username: account.username.clone(),
            password: None,
            first_name: account.first_name.clone(),
            last_name: account.last_name.clone(),
            initials: account.initials.clone(),
            email: account.email.clone(),
            phone: account.phone.clone(),
            address: account.address.clone(),
            archived: account.archived,
            two_factor_required: account.two_factor_required,
            sms_disabled: account.sms_disabled,
            account_admin: account.account_admin,
            access: None,
            language: None,
        }
    }
}

/// Access of an account to one application, named by its code: as the import file, the
/// API and the console give it, and as the API shows it.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessInput {
    pub application: String,
    #[serde(default = "allowed_by_default")]
    pub allowed: bool,
    #[serde(default)]
    pub initials: String,
    #[serde(default)]
    pub rights: Vec<String>,
    #[serde(default)]
    pub options: BTreeMap<String, Value>,
}

/// Listing an application for an account means giving access unless told otherwise.
fn allowed_by_default() -> bool {
    true
}

impl From<Access> for AccessInput {
    fn from(access: Access) -> Self {
        Self {
            application: access.application_code,
            allowed: access.allowed,
            initials: access.initials,
            rights: access.rights,
            options: access.options,
        }
    }
}

/// An account's access to an application, as tokens carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub application_id: String,
    pub application_code: String,
    pub allowed: bool,
    pub initials: String,
    pub rights: Vec<String>,
    pub options: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_in_the_chosen_language_else_the_servers() {
        let row = |language: Option<&str>| account::Model {
            id: "a".into(),
            username: "pauline".into(),
            username_key: "pauline".into(),
            password_hash: String::new(),
            first_name: String::new(),
            last_name: String::new(),
            initials: String::new(),
            email: None,
            email_verified: None,
            phone: None,
            address: None,
            archived: false,
            two_factor_required: false,
            account_admin: false,
            failed_logins: 0,
            locked_until: None,
            factor_failures: 0,
            factor_locked_until: None,
            admin_locked_at: None,
            preferred_method: None,
            enrollment_opened_at: None,
            sms_disabled: false,
            push_locked_until: None,
            language: language.map(str::to_string),
            created_at: 0,
            updated_at: 0,
        };
        assert_eq!(Account::from(row(Some("en"))).locale(), Locale::En);
        assert_eq!(Account::from(row(Some("fr"))).locale(), Locale::Fr);
        assert_eq!(Account::from(row(None)).locale(), Locale::DEFAULT);
        // Written by a later release that speaks more: read as not chosen.
        let unknown = Account::from(row(Some("de")));
        assert_eq!((unknown.language, unknown.locale()), (None, Locale::DEFAULT));
    }
}
