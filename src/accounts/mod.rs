//! Accounts: identity, state, and access to each application with its initials, rights
//! and options. The rules (normalisation, uniqueness, catalogue checks) live here; HTTP
//! and the CLI call these functions.

pub mod actions;
mod repository;
mod rules;

pub use repository::*;
pub use rules::{normalize_email, normalize_phone, normalize_username};

use std::collections::BTreeMap;

use serde_json::Value;

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
