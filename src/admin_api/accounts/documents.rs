//! The admin API's account documents: what is read (`AccountView`), written whole
//! (`AccountWrite`, PUT and POST) or in part (`AccountPatch`, PATCH), searched for and
//! reset.

use serde::{Deserialize, Serialize};

use crate::accounts::{AccessInput, Account, AccountInput, PasswordInput};

#[derive(Serialize)]
pub struct AccountView {
    pub(super) id: String,
    pub(super) username: String,
    pub(super) first_name: String,
    pub(super) last_name: String,
    pub(super) initials: String,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) address: Option<String>,
    pub(super) archived: bool,
    pub(super) two_factor_required: bool,
    pub(super) sms_disabled: bool,
    pub(super) account_admin: bool,
    /// `fr` or `en`, the language of every message to the account; `null`: not chosen,
    /// the server's.
    pub(super) language: Option<&'static str>,
    pub(super) created_at: i64,
    pub(super) updated_at: i64,
    pub(super) access: Vec<AccessInput>,
    /// The enrolled second factors (never their secrets).
    pub(super) second_factors: Vec<crate::second_factor::Factor>,
    /// When an administrator locked the account by hand (`POST …/lock`), if one did.
    pub(super) locked_at: Option<i64>,
    /// Set while wrong passwords keep unknown browsers from trying the account's
    /// password (browsers that signed in to it before still may).
    pub(super) locked_until: Option<i64>,
    /// Set while wrong second-factor codes keep the second factor locked.
    pub(super) second_factor_locked_until: Option<i64>,
}

/// The body of a create or an update: every field of the account form.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountWrite {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    #[serde(default)]
    pub(super) first_name: String,
    #[serde(default)]
    pub(super) last_name: String,
    #[serde(default)]
    pub(super) initials: String,
    pub(super) email: Option<String>,
    pub(super) phone: Option<String>,
    pub(super) address: Option<String>,
    #[serde(default)]
    pub(super) archived: bool,
    #[serde(default)]
    pub(super) two_factor_required: bool,
    #[serde(default)]
    pub(super) sms_disabled: bool,
    #[serde(default)]
    pub(super) account_admin: bool,
    /// Left out: the account's access stays as it is.
    pub(super) access: Option<Vec<AccessInput>>,
    /// `fr` or `en`; left out (or `null`): the account's language stays as it is (the
    /// server's for a new account).
    pub(super) language: Option<String>,
}

impl AccountWrite {
    pub(super) fn into_input(self, username: String) -> AccountInput {
        AccountInput {
            username,
            password: self.password.map(PasswordInput::Plain),
            first_name: self.first_name,
            last_name: self.last_name,
            initials: self.initials,
            email: self.email,
            phone: self.phone,
            address: self.address,
            archived: self.archived,
            two_factor_required: self.two_factor_required,
            sms_disabled: self.sms_disabled,
            account_admin: self.account_admin,
            access: self.access,
            language: self.language.map(Some),
        }
    }
}

/// The body of an update (PUT or PATCH): only the fields it names change; `null`
/// clears an optional one (email, phone, address); `access`, when given, replaces the
/// account's access as a whole.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    pub(super) username: Option<String>,
    pub(super) password: Option<String>,
    pub(super) first_name: Option<String>,
    pub(super) last_name: Option<String>,
    pub(super) initials: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub(super) email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub(super) phone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub(super) address: Option<Option<String>>,
    pub(super) archived: Option<bool>,
    pub(super) two_factor_required: Option<bool>,
    pub(super) sms_disabled: Option<bool>,
    pub(super) account_admin: Option<bool>,
    pub(super) access: Option<Vec<AccessInput>>,
    /// `null`: back to the server's language.
    #[serde(default, deserialize_with = "present")]
    pub(super) language: Option<Option<String>>,
}

/// A field that is present, even as `null` (`Some(None)`), as opposed to absent (`None`).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl AccountPatch {
    pub(super) fn apply_to(self, current: &Account) -> AccountInput {
        let unchanged = AccountInput::unchanged(current);
        AccountInput {
            password: self.password.map(PasswordInput::Plain),
            first_name: self.first_name.unwrap_or(unchanged.first_name),
            last_name: self.last_name.unwrap_or(unchanged.last_name),
            initials: self.initials.unwrap_or(unchanged.initials),
            email: self.email.unwrap_or(unchanged.email),
            phone: self.phone.unwrap_or(unchanged.phone),
            address: self.address.unwrap_or(unchanged.address),
            archived: self.archived.unwrap_or(unchanged.archived),
            two_factor_required: self.two_factor_required.unwrap_or(unchanged.two_factor_required),
            sms_disabled: self.sms_disabled.unwrap_or(unchanged.sms_disabled),
            account_admin: self.account_admin.unwrap_or(unchanged.account_admin),
            access: self.access,
            language: self.language,
            username: unchanged.username,
        }
    }
}

/// The fields `null` may clear; any other field given as `null` is refused.
pub(super) const NULLABLE: [&str; 4] = ["email", "phone", "address", "language"];
