//! Second factors under one roof: what an account has enrolled and which one a login
//! asks for (`policy`), and one module per method — `passkey` (WebAuthn), `totp`,
//! `recovery` codes, mailed one-time codes (`email_code`), `sms` with its providers and
//! limits, `push` with its device protocol. Their guessing budget is in `lockout::second_factor`. The login
//! pages (`web::enroll`, `web::verify`), the account page and the device API call them.

pub mod email_code;
pub mod passkey;
pub mod policy;
pub mod push;
pub mod recovery;
pub mod sms;
pub mod totp;

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait, Query},
};
use serde::{Deserialize, Serialize};

use crate::accounts::Account;
use crate::config::Config;
use crate::domain::DomainError;
use crate::storage::{
    Db,
    entities::{account, recovery_code, second_factor},
};

/// Associated data of a second factor's sealed secret (TOTP secret, passkey, push
/// device key): the row's id, so that a secret cannot be moved to another row.
pub fn sealed_aad(factor_id: &str) -> String {
    format!("second_factor:{factor_id}")
}

/// A way to prove the second factor, as the `method` form field names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// A passkey (WebAuthn).
    Webauthn,
    Push,
    Totp,
    Sms,
    Recovery,
}

impl Method {
    /// Strongest first: the order of the "Sign in another way" list and of the default.
    pub const ALL: [Method; 5] = [Method::Webauthn, Method::Push, Method::Totp, Method::Sms, Method::Recovery];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Webauthn => passkey::METHOD,
            Self::Push => "push",
            Self::Totp => "totp",
            Self::Sms => "sms",
            Self::Recovery => "recovery",
        }
    }

    /// The `amr` values (RFC 8176) of a login that used this method after the password.
    pub fn amr(self) -> [&'static str; 3] {
        match self {
            Self::Sms => ["pwd", "sms", "mfa"],
            // A hardware-bound key; a synchronised passkey says `swk` (see
            // `passkey::UsedPasskey`), which the passkey step gives instead.
            Self::Webauthn => ["pwd", "hwk", "mfa"],
            // A signature by the device's software-held key (RFC 8176 `swk`).
            Self::Push => ["pwd", "swk", "mfa"],
            Self::Totp | Self::Recovery => ["pwd", "otp", "mfa"],
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == name)
    }
}

/// An enrolled (confirmed) authenticator.
#[derive(Debug, Clone, Serialize)]
pub struct Factor {
    pub id: String,
    pub method: String,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

impl From<second_factor::Model> for Factor {
    fn from(row: second_factor::Model) -> Self {
        Self {
            id: row.id,
            method: row.method,
            label: row.label,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
        }
    }
}

/// The rows of the account's confirmed authenticators, oldest first.
fn confirmed_of(account_id: &str) -> sea_orm::Select<second_factor::Entity> {
    second_factor::Entity::find()
        .filter(second_factor::Column::AccountId.eq(account_id))
        .filter(second_factor::Column::ConfirmedAt.is_not_null())
        .order_by_asc(second_factor::Column::CreatedAt)
}

/// The account's confirmed authenticators, oldest first.
pub async fn factors_of(db: &Db, account_id: &str) -> Result<Vec<Factor>, DomainError> {
    Ok(confirmed_of(account_id).all(db).await?.into_iter().map(Factor::from).collect())
}

/// A factor's row, with the account's unused recovery codes counted in the same query.
#[derive(FromQueryResult)]
struct FactorRow {
    #[sea_orm(nested)]
    factor: second_factor::Model,
    recovery_left: i64,
}

/// The account's confirmed authenticators, oldest first, and whether it has an unused
/// recovery code left, in one query (the count is a sub-select): the login's pages ask
/// both at every step. Without an authenticator no recovery code is usable, so the count
/// is not needed then.
async fn factors_and_recovery_of(db: &Db, account_id: &str) -> Result<(Vec<second_factor::Model>, bool), DomainError> {
    let unused = Query::select()
        .expr(Expr::col((recovery_code::Entity, recovery_code::Column::Id)).count())
        .from(recovery_code::Entity)
        .and_where(Expr::col((recovery_code::Entity, recovery_code::Column::AccountId)).eq(account_id))
        .and_where(Expr::col((recovery_code::Entity, recovery_code::Column::UsedAt)).is_null())
        .to_owned();
    let rows = confirmed_of(account_id)
        .column_as(Expr::SubQuery(None, Box::new(unused.into())), "recovery_left")
        .into_model::<FactorRow>()
        .all(db)
        .await?;
    let recovery_left = rows.first().is_some_and(|row| row.recovery_left > 0);
    Ok((rows.into_iter().map(|row| row.factor).collect(), recovery_left))
}

/// The methods the account can use at login, strongest first. Text messages go only to
/// an account that has enrolled an authenticator too (the phone number alone was typed
/// by an administrator, not proven by its owner), when the operator allows them.
/// `passkeys_usable`: the server's relying party could be built (`Passkeys::available`).
pub async fn methods_of(
    db: &Db,
    account: &Account,
    config: &Config,
    passkeys_usable: bool,
) -> Result<Vec<Method>, DomainError> {
    Ok(offered_to(db, account, config, passkeys_usable).await?.methods)
}

/// What a verification page offers: the methods, and the rows of the account's confirmed
/// authenticators they come from (a typed code is checked against those rows without
/// reading them again).
pub struct Offered {
    pub methods: Vec<Method>,
    pub factors: Vec<second_factor::Model>,
}

/// [`methods_of`], with the authenticators' rows.
pub async fn offered_to(
    db: &Db,
    account: &Account,
    config: &Config,
    passkeys_usable: bool,
) -> Result<Offered, DomainError> {
    let (factors, recovery_left) = factors_and_recovery_of(db, &account.id).await?;
    let methods = Method::ALL
        .into_iter()
        .filter(|method| match method {
            // Not offered when the relying party cannot be built (an IP-address issuer).
            Method::Webauthn => passkeys_usable && factors.iter().any(|f| f.method == passkey::METHOD),
            Method::Push => config.push.enabled && factors.iter().any(|f| f.method == "push"),
            Method::Totp => factors.iter().any(|f| f.method == "totp"),
            Method::Sms => !factors.is_empty() && sms::usable(account, &config.sms),
            Method::Recovery => recovery_left && !factors.is_empty(),
        })
        .collect();
    Ok(Offered { methods, factors })
}

/// The method offered first: the account's choice if it still has it, else the strongest.
pub fn preferred(account: &Account, methods: &[Method]) -> Option<Method> {
    let chosen = account.preferred_method.as_deref().and_then(Method::parse).filter(|m| *m != Method::Recovery);
    chosen.filter(|m| methods.contains(m)).or_else(|| methods.first().copied())
}

pub async fn set_preferred(db: &Db, account_id: &str, method: Method) -> Result<(), DomainError> {
    account::ActiveModel {
        id: Set(account_id.to_string()),
        preferred_method: Set(Some(method.as_str().to_string())),
        ..Default::default()
    }
    .update(db)
    .await?;
    Ok(())
}

/// The method of one of the account's authenticators (confirmed or not).
pub async fn method_of(db: &Db, account_id: &str, factor_id: &str) -> Result<Option<Method>, DomainError> {
    let row = second_factor::Entity::find_by_id(factor_id.to_string())
        .filter(second_factor::Column::AccountId.eq(account_id))
        .one(db)
        .await?;
    Ok(row.and_then(|row| Method::parse(&row.method)))
}

/// Who removes a second factor, and so which rule holds for the last one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Remover {
    /// The owner may not remove the last one while two-factor is required.
    Owner,
    /// An administrator may: the account's enrollment reopens.
    Administrator,
}

/// What became of a removal.
#[derive(Debug)]
pub enum Removal {
    Removed(Factor),
    /// The account has no such (confirmed) factor.
    Unknown,
    /// The owner's last one while two-factor is required: kept.
    LastKept,
}

/// Removes one authenticator of the account. When it was the last one, the recovery
/// codes go too, and an account that requires two-factor gets its enrollment window
/// reopened (its next login enrolls anew, as after a reset). The account row is
/// written first, so two removals at once (the owner and an administrator, two tabs)
/// take turns: the second counts what the first left, and the last factor of an account
/// that requires two-factor is never removed by its owner.
pub async fn remove(
    db: &Db,
    account: &Account,
    factor_id: &str,
    by: Remover,
    now: i64,
) -> Result<Removal, DomainError> {
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(account::Column::UpdatedAt, sea_orm::sea_query::Expr::value(now))
        .filter(account::Column::Id.eq(account.id.clone()))
        .exec(&txn)
        .await?;
    let confirmed = || {
        second_factor::Entity::find()
            .filter(second_factor::Column::AccountId.eq(account.id.clone()))
            .filter(second_factor::Column::ConfirmedAt.is_not_null())
    };
    let Some(row) = confirmed().filter(second_factor::Column::Id.eq(factor_id)).one(&txn).await? else {
        return Ok(Removal::Unknown);
    };
    let left = confirmed().count(&txn).await? - 1;
    if left == 0 && by == Remover::Owner && account.two_factor_required {
        return Ok(Removal::LastKept);
    }
    second_factor::Entity::delete_by_id(row.id.clone()).exec(&txn).await?;
    // `updated_at` is a claim (profile scope).
    crate::change_feed::announce(&txn, crate::change_feed::Topic::Account, &account.id, 0).await?;
    if left == 0 {
        recovery_code::Entity::delete_many()
            .filter(recovery_code::Column::AccountId.eq(account.id.clone()))
            .exec(&txn)
            .await?;
        let reopened = account.two_factor_required.then_some(now);
        account::ActiveModel {
            id: Set(account.id.clone()),
            preferred_method: Set(None),
            enrollment_opened_at: Set(reopened.or(account.enrollment_opened_at)),
            updated_at: Set(now),
            ..Default::default()
        }
        .update(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(Removal::Removed(Factor::from(row)))
}

/// An administrator's reset: every authenticator and recovery code goes, the lock is
/// lifted, and the enrollment window opens again so that the next login enrolls anew.
pub async fn reset(db: &Db, account_id: &str, now: i64) -> Result<(), DomainError> {
    let txn = db.begin().await?;
    second_factor::Entity::delete_many().filter(second_factor::Column::AccountId.eq(account_id)).exec(&txn).await?;
    recovery_code::Entity::delete_many().filter(recovery_code::Column::AccountId.eq(account_id)).exec(&txn).await?;
    crate::lockout::second_factor::unlock(&txn, account_id).await?;
    account::ActiveModel {
        id: Set(account_id.to_string()),
        preferred_method: Set(None),
        enrollment_opened_at: Set(Some(now)),
        updated_at: Set(now),
        ..Default::default()
    }
    .update(&txn)
    .await?;
    crate::change_feed::announce(&txn, crate::change_feed::Topic::Account, account_id, 0).await?;
    txn.commit().await?;
    Ok(())
}
