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
use crate::domain::{Change, DomainError};
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

async fn prepare(
    db: &impl ConnectionTrait,
    input: &AccountInput,
    own_id: Option<&str>,
) -> Result<Prepared, DomainError> {
    let (username, username_key) = rules::normalize_username(&input.username)?;
    let email = rules::normalize_email(input.email.as_deref())?;
    let phone = rules::normalize_phone(input.phone.as_deref())?;
    for (field, value) in
        [("first_name", &input.first_name), ("last_name", &input.last_name), ("initials", &input.initials)]
    {
        if value.chars().count() > 100 {
            return Err(DomainError::invalid(field, "at most 100 characters"));
        }
    }
    for (column, value, field, message) in [
        (Column::UsernameKey, Some(&*username_key), "username", "this identifier is already used by another account"),
        (Column::Email, email.as_deref(), "email", "this email address is already used by another account"),
        (Column::Phone, phone.as_deref(), "phone", "this phone number is already used by another account"),
    ] {
        ensure_unique(db, column, value, own_id, field, message).await?;
    }
    let language = match &input.language {
        None => None,
        Some(None) => Some(None),
        Some(Some(code)) => Some(Some(rules::parse_language(code)?)),
    };
    let access = match &input.access {
        None => None,
        Some(list) => Some(prepare_access(db, list).await?),
    };
    Ok(Prepared { username, username_key, email, phone, language, access })
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
/// is refused. A second call with the same input changes nothing.
pub async fn upsert<C>(
    db: &C,
    hasher: &PasswordHasherService,
    input: AccountInput,
    now: i64,
) -> Result<(Account, Change), DomainError>
where
    C: ConnectionTrait + TransactionTrait,
{
    let existing = find_by_username(db, &input.username).await?;
    let prepared = prepare(db, &input, existing.as_ref().map(|a| a.id.as_str())).await?;
    let password_hash = match (&input.password, &existing) {
        (Some(PasswordInput::Plain(plain)), Some(account))
            if hasher.verify(plain, &account.password_hash).await.map_err(busy)? =>
        {
            account.password_hash.clone()
        }
        (Some(PasswordInput::Plain(plain)), _) => {
            if let Some((reason, problem)) = hasher.policy_violation(&prepared.username, plain) {
                return Err(DomainError::invalid("password", problem).because(reason));
            }
            hasher.hash(plain).await.map_err(|e| DomainError::Crypto(e.to_string()))?
        }
        (Some(PasswordInput::Hash(phc)), _) => {
            PasswordHasherService::check_phc(phc).map_err(|e| DomainError::invalid("password_hash", e.to_string()))?;
            phc.clone()
        }
        (None, Some(account)) => account.password_hash.clone(),
        (None, None) => {
            return Err(DomainError::invalid("password", "a new account needs a password or password_hash")
                .because("password_required"));
        }
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
