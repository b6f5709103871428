use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub username: String,
    /// Lower-cased username: identifiers are unique regardless of case.
    pub username_key: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub initials: String,
    pub email: Option<String>,
    /// The address its owner proved with a mailed code; verified while it equals `email`.
    pub email_verified: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub archived: bool,
    pub two_factor_required: bool,
    pub account_admin: bool,
    /// Unused since migration 5 (guessing budgets live in `throttles`); written as 0 or
    /// null for nodes of the previous release during a rolling upgrade.
    pub failed_logins: i32,
    pub locked_until: Option<i64>,
    pub factor_failures: i32,
    pub factor_locked_until: Option<i64>,
    /// When an administrator locked the account by hand; none: not locked.
    pub admin_locked_at: Option<i64>,
    /// The method offered first at login (`totp`, …); none: the strongest enrolled.
    pub preferred_method: Option<String>,
    /// When an administrator last required two-factor or reset the second factors: a
    /// first authenticator may be enrolled at login for `two_factor.enrollment_window`
    /// seconds after it.
    pub enrollment_opened_at: Option<i64>,
    /// The operator turned text messages off for this account.
    pub sms_disabled: bool,
    /// Until when push approval is off after an "It wasn't me" report.
    pub push_locked_until: Option<i64>,
    /// `fr` or `en`: the language of every message to the account; none: the
    /// server's (`Locale::DEFAULT`).
    pub language: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
