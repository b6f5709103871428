//! Creating and updating an account: every field validated and normalised first, then
//! written in one transaction with its access.

use sea_orm::{
    ActiveModelTrait,
    ActiveValue::{NotSet, Set},
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, TransactionSession, TransactionTrait,
};

use super::access::{prepare_access, write_access};
use super::locks::end_everything_of;
use super::queries::find_by_username;
use crate::accounts::{AccessInput, Account, AccountInput, PasswordInput, rules};
use crate::applications::Application;
use crate::change_feed::{self, Topic};
use crate::crypto::password::PasswordHasherService;
use crate::domain::{Change, DomainError, Refusals};
use crate::i18n::Locale;
use crate::storage::{
    entities::account::{self, Column},
    is_unique_violation,
};

/// Validated, normalised fields ready to be compared and written.
struct Prepared {
    username: String,
    username_key: String,
    email: Option<String>,
    phone: Option<String>,
    /// `None`: as it is; `Some(None)`: the server's language.
    language: Option<Option<Locale>>,
    access: Option<Vec<(Application, AccessInput)>>,
}

/// Every field checked, whatever the others hold: all the refusals of the input at once,
/// in the order they are checked (the first is what [`upsert`] answers, as it always
/// did), or the fields ready to write.
async fn prepare(db: &impl ConnectionTrait, input: &AccountInput, own_id: Option<&str>) -> Result<Prepared, Refusals> {
    let mut refused = Vec::new();
    let names = kept(&mut refused, rules::normalize_username(&input.username));
    let email = kept(&mut refused, rules::normalize_email(input.email.as_deref()));
    let phone = kept(&mut refused, crate::accounts::normalize_phone(input.phone.as_deref()));
    for (field, value) in
        [("first_name", &input.first_name), ("last_name", &input.last_name), ("initials", &input.initials)]
    {
        if value.chars().count() > 100 {
            refused.push(DomainError::invalid(field, "at most 100 characters"));
        }
    }
    for (column, value, field, message) in [
        (
            Column::UsernameKey,
            names.as_ref().map(|(_, key)| key.as_str()),
            "username",
            "this identifier is already used by another account",
        ),
        (
            Column::Email,
            email.as_ref().and_then(Option::as_deref),
            "email",
            "this email address is already used by another account",
        ),
        (
            Column::Phone,
            phone.as_ref().and_then(Option::as_deref),
            "phone",
            "this phone number is already used by another account",
        ),
    ] {
        match ensure_unique(db, column, value, own_id, field, message).await {
            Ok(()) => {}
            Err(error @ DomainError::Storage(_)) => return Err(error.into()),
            Err(error) => refused.push(error),
        }
    }
    let language = match &input.language {
        None => Some(None),
        Some(None) => Some(Some(None)),
        Some(Some(code)) => kept(&mut refused, rules::parse_language(code)).map(|l| Some(Some(l))),
    };
    let access = match &input.access {
        None => Some(None),
        Some(list) => prepare_access(db, list, &mut refused).await?.map(Some),
    };
    Refusals::of(refused)?;
    match (names, email, phone, language, access) {
        (Some((username, username_key)), Some(email), Some(phone), Some(language), Some(access)) => {
            Ok(Prepared { username, username_key, email, phone, language, access })
        }
        _ => Err(DomainError::invalid("account", "refused").into()),
    }
}

/// The value, or `None` with its refusal noted.
fn kept<T>(refused: &mut Vec<DomainError>, checked: Result<T, DomainError>) -> Option<T> {
    checked.map_err(|error| refused.push(error)).ok()
}

async fn ensure_unique(
    db: &impl ConnectionTrait,
    column: Column,
    value: Option<&str>,
    own_id: Option<&str>,
    field: &str,
    message: &str,
) -> Result<(), DomainError> {
    let Some(value) = value else { return Ok(()) };
    let mut condition = Condition::all().add(column.eq(value));
    if let Some(id) = own_id {
        condition = condition.add(Column::Id.ne(id));
    }
    if account::Entity::find().filter(condition).one(db).await?.is_some() {
        return Err(DomainError::conflict(field, message));
    }
    Ok(())
}

/// Creates or updates the account with this identifier; nothing is written if any field
/// is refused (the first refusal is answered). A second call with the same input changes
/// nothing.
pub async fn upsert<C>(
    db: &C,
    hasher: &PasswordHasherService,
    input: AccountInput,
    now: i64,
) -> Result<(Account, Change), DomainError>
where
    C: ConnectionTrait + TransactionTrait,
{
    upsert_reporting_all(db, hasher, input, now).await.map_err(Refusals::into_first)
}

/// Every refusal [`upsert`] would answer for this input, all at once; nothing is written.
pub async fn check(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasherService,
    input: &AccountInput,
) -> Result<(), Refusals> {
    let existing = find_by_username(db, &input.username).await?;
    checked(db, hasher, input, existing.as_ref()).await.map(|_| ())
}

/// The password to store, once checked.
enum Password {
    /// The account's, as it is (none given, or the same one typed again).
    Keep(String),
    /// A new one, to hash.
    New(String),
    /// Already hashed (an import).
    Hashed(String),
}

/// The fields and the password checked together, so that every refusal is reported.
async fn checked(
    db: &impl ConnectionTrait,
    hasher: &PasswordHasherService,
    input: &AccountInput,
    existing: Option<&Account>,
) -> Result<(Prepared, Password), Refusals> {
    let prepared = prepare(db, input, existing.map(|a| a.id.as_str())).await;
    let username = rules::normalize_username(&input.username).map(|(name, _)| name).unwrap_or_default();
    let password = match (&input.password, existing) {
        (Some(PasswordInput::Plain(plain)), Some(account))
            if hasher.verify(plain, &account.password_hash).await.map_err(busy)? =>
        {
            Ok(Password::Keep(account.password_hash.clone()))
        }
        (Some(PasswordInput::Plain(plain)), _) => match hasher.policy_violation(&username, plain) {
            Some((reason, problem)) => Err(DomainError::invalid("password", problem).because(reason)),
            None => Ok(Password::New(plain.clone())),
        },
        (Some(PasswordInput::Hash(phc)), _) => PasswordHasherService::check_phc(phc)
            .map(|_| Password::Hashed(phc.clone()))
            .map_err(|e| DomainError::invalid("password_hash", e.to_string())),
        (None, Some(account)) => Ok(Password::Keep(account.password_hash.clone())),
        (None, None) => Err(DomainError::invalid("password", "a new account needs a password or password_hash")
            .because("password_required")),
    };
    match (prepared, password) {
        (Ok(prepared), Ok(password)) => Ok((prepared, password)),
        (Err(refused), Ok(_)) => Err(refused),
        (Ok(_), Err(error)) => Err(error.into()),
        (Err(refused), Err(error)) => {
            let mut all = refused.into_vec();
            all.push(error);
            Err(Refusals::of(all).err().unwrap_or_else(|| DomainError::invalid("account", "refused").into()))
        }
    }
}

/// [`upsert`], answering every refused field at once (for a form that shows them all).
pub async fn upsert_reporting_all<C>(
    db: &C,
    hasher: &PasswordHasherService,
    input: AccountInput,
    now: i64,
) -> Result<(Account, Change), Refusals>
where
    C: ConnectionTrait + TransactionTrait,
{
    let existing = find_by_username(db, &input.username).await?;
    let (prepared, password) = checked(db, hasher, &input, existing.as_ref()).await?;
    let password_hash = match password {
        Password::Keep(hash) | Password::Hashed(hash) => hash,
        Password::New(plain) => hasher.hash(&plain).await.map_err(|e| DomainError::Crypto(e.to_string()))?,
    };

    let was_active = existing.as_ref().is_some_and(|a| !a.archived);
    let txn = db.begin().await?;
    let (account, mut change) = match existing {
        None => {
            let row = account::ActiveModel {
                id: Set(uuid::Uuid::new_v4().to_string()),
                username: Set(prepared.username.clone()),
                username_key: Set(prepared.username_key.clone()),
                password_hash: Set(password_hash),
                first_name: Set(input.first_name.trim().to_string()),
                last_name: Set(input.last_name.trim().to_string()),
                initials: Set(input.initials.trim().to_string()),
                email: Set(prepared.email.clone()),
                email_verified: Set(None),
                phone: Set(prepared.phone.clone()),
                address: Set(input.address.clone().filter(|a| !a.trim().is_empty())),
                archived: Set(input.archived),
                two_factor_required: Set(input.two_factor_required),
                account_admin: Set(input.account_admin),
                failed_logins: Set(0),
                locked_until: Set(None),
                factor_failures: Set(0),
                factor_locked_until: Set(None),
                admin_locked_at: Set(None),
                preferred_method: Set(None),
                // Requiring two-factor, or making an administrator (who must have one,
                // `two_factor.required_for_admins`), opens the window for a first enrollment.
                enrollment_opened_at: Set((input.two_factor_required || input.account_admin).then_some(now)),
                sms_disabled: Set(input.sms_disabled),
                push_locked_until: Set(None),
                language: Set(prepared.language.flatten().map(|l| l.code().to_string())),
                created_at: Set(now),
                updated_at: Set(now),
            }
            .insert(&txn)
            .await
            .map_err(unique_to_conflict)?;
            (Account::from(row), Change::Created)
        }
        Some(current) => {
            let wanted = Account {
                username: prepared.username.clone(),
                password_hash,
                first_name: input.first_name.trim().to_string(),
                last_name: input.last_name.trim().to_string(),
                initials: input.initials.trim().to_string(),
                email: prepared.email.clone(),
                phone: prepared.phone.clone(),
                address: input.address.clone().filter(|a| !a.trim().is_empty()),
                archived: input.archived,
                two_factor_required: input.two_factor_required,
                sms_disabled: input.sms_disabled,
                account_admin: input.account_admin,
                language: prepared.language.unwrap_or(current.language),
                ..current.clone()
            };
            if wanted == current {
                (current, Change::Unchanged)
            } else {
                let row = account::ActiveModel {
                    id: Set(current.id.clone()),
                    username: Set(wanted.username.clone()),
                    password_hash: Set(wanted.password_hash.clone()),
                    first_name: Set(wanted.first_name.clone()),
                    last_name: Set(wanted.last_name.clone()),
                    initials: Set(wanted.initials.clone()),
                    email: Set(wanted.email.clone()),
                    phone: Set(wanted.phone.clone()),
                    address: Set(wanted.address.clone()),
                    archived: Set(wanted.archived),
                    two_factor_required: Set(wanted.two_factor_required),
                    sms_disabled: Set(wanted.sms_disabled),
                    account_admin: Set(wanted.account_admin),
                    // Written only when given: a value this release cannot read stays.
                    language: match prepared.language {
                        Some(language) => Set(language.map(|l| l.code().to_string())),
                        None => NotSet,
                    },
                    // Switching two-factor on, or the administrator right, opens the window
                    // for a first enrollment.
                    enrollment_opened_at: Set(
                        if (wanted.two_factor_required && !current.two_factor_required)
                            || (wanted.account_admin && !current.account_admin)
                        {
                            Some(now)
                        } else {
                            current.enrollment_opened_at
                        },
                    ),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .update(&txn)
                .await
                .map_err(unique_to_conflict)?;
                (Account::from(row), Change::Updated)
            }
        }
    };
    if let Some(access) = prepared.access
        && write_access(&txn, &account.id, access).await?
        && change == Change::Unchanged
    {
        change = Change::Updated;
    }
    if was_active && account.archived {
        end_everything_of(&txn, &account.id, now).await?;
    }
    if change != Change::Unchanged {
        change_feed::announce(&txn, Topic::Account, &account.id, 0).await?;
    }
    txn.commit().await?;
    Ok((account, change))
}

fn busy(error: crate::crypto::password::Busy) -> DomainError {
    DomainError::Crypto(error.to_string())
}

/// A unique index caught what the checks above missed (two writers at once).
fn unique_to_conflict(error: sea_orm::DbErr) -> DomainError {
    if is_unique_violation(&error) {
        DomainError::conflict("account", "the identifier, email or phone is already used by another account")
    } else {
        DomainError::Storage(error)
    }
}
