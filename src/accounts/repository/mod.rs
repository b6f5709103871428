//! Reading and writing accounts and their access.

use std::collections::BTreeMap;

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionSession, TransactionTrait,
};

use super::{Access, AccessInput, Account, AccountInput, PasswordInput, rules};
use crate::applications::{self, Application};
use crate::crypto::password::PasswordHasherService;
use crate::domain::{Change, DomainError, from_json_text, to_json_text};
use crate::storage::{
    Db,
    entities::{account, account_access},
    is_unique_violation,
};

pub async fn find_by_id(db: &impl ConnectionTrait, id: &str) -> Result<Option<Account>, DomainError> {
    Ok(account::Entity::find_by_id(id.to_string()).one(db).await?.map(Account::from))
}

/// Looks an account up by identifier, whatever its case.
pub async fn find_by_username(db: &impl ConnectionTrait, username: &str) -> Result<Option<Account>, DomainError> {
    Ok(account::Entity::find()
        .filter(account::Column::UsernameKey.eq(username.trim().to_lowercase()))
        .one(db)
        .await?
        .map(Account::from))
}

pub async fn list(db: &Db) -> Result<Vec<Account>, DomainError> {
    Ok(account::Entity::find()
        .order_by_asc(account::Column::UsernameKey)
        .all(db)
        .await?
        .into_iter()
        .map(Account::from)
        .collect())
}

/// The account's access to every application it has a record for.
pub async fn access_of(db: &impl ConnectionTrait, account_id: &str) -> Result<Vec<Access>, DomainError> {
    let rows = account_access::Entity::find().filter(account_access::Column::AccountId.eq(account_id)).all(db).await?;
    let ids: Vec<String> = rows.iter().map(|row| row.application_id.clone()).collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let applications: BTreeMap<String, String> = crate::storage::entities::application::Entity::find()
        .filter(crate::storage::entities::application::Column::Id.is_in(ids))
        .all(db)
        .await?
        .into_iter()
        .map(|app| (app.id, app.code))
        .collect();
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            Some(Access {
                application_code: applications.get(&row.application_id)?.clone(),
                application_id: row.application_id,
                allowed: row.allowed,
                initials: row.initials,
                rights: from_json_text(&row.rights),
                options: from_json_text(&row.options),
            })
        })
        .collect())
}

/// Validated, normalised fields ready to be compared and written.
struct Prepared {
    username: String,
    username_key: String,
    email: Option<String>,
    phone: Option<String>,
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
    ensure_unique(
        db,
        account::Column::UsernameKey,
        Some(&username_key),
        own_id,
        "username",
        "this identifier is already used by another account",
    )
    .await?;
    ensure_unique(
        db,
        account::Column::Email,
        email.as_deref(),
        own_id,
        "email",
        "this email address is already used by another account",
    )
    .await?;
    ensure_unique(
        db,
        account::Column::Phone,
        phone.as_deref(),
        own_id,
        "phone",
        "this phone number is already used by another account",
    )
    .await?;
    let access = match &input.access {
        None => None,
        Some(list) => Some(prepare_access(db, list).await?),
    };
    Ok(Prepared { username, username_key, email, phone, access })
}

async fn ensure_unique(
    db: &impl ConnectionTrait,
    column: account::Column,
    value: Option<&str>,
    own_id: Option<&str>,
    field: &str,
    message: &str,
) -> Result<(), DomainError> {
    let Some(value) = value else { return Ok(()) };
    let mut condition = Condition::all().add(column.eq(value));
    if let Some(id) = own_id {
        condition = condition.add(account::Column::Id.ne(id));
    }
    if account::Entity::find().filter(condition).one(db).await?.is_some() {
        return Err(DomainError::conflict(field, message));
    }
    Ok(())
}

/// Checks every right and option against the application's catalogue.
async fn prepare_access(
    db: &impl ConnectionTrait,
    list: &[AccessInput],
) -> Result<Vec<(Application, AccessInput)>, DomainError> {
    let mut prepared = Vec::new();
    for access in list {
        let field = format!("access.{}", access.application);
        let row = crate::storage::entities::application::Entity::find()
            .filter(crate::storage::entities::application::Column::Code.eq(&access.application))
            .one(db)
            .await?
            .ok_or_else(|| {
                DomainError::invalid(&field, format!("no application has the code `{}`", access.application))
                    .because("application_unknown")
            })?;
        let application = Application::from(row);
        for right in &access.rights {
            if !application.rights.iter().any(|r| &r.code == right) {
                return Err(DomainError::invalid(
                    format!("{field}.rights"),
                    format!("`{right}` is not a right of {}", application.code),
                )
                .because("right_unknown"));
            }
        }
        let mut access = access.clone();
        for (key, value) in &access.options {
            let definition = application.options.iter().find(|o| &o.key == key).ok_or_else(|| {
                DomainError::invalid(
                    format!("{field}.options"),
                    format!("`{key}` is not an option of {}", application.code),
                )
                .because("option_unknown")
            })?;
            if !definition.accepts(value) {
                return Err(DomainError::invalid(
                    format!("{field}.options.{key}"),
                    format!("expects a value of type {:?}", definition.kind).to_lowercase(),
                )
                .because("option_type"));
            }
        }
        for definition in &application.options {
            access.options.entry(definition.key.clone()).or_insert_with(|| definition.default.clone());
        }
        access.rights.sort();
        access.rights.dedup();
        prepared.push((application, access));
    }
    Ok(prepared)
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
    txn.commit().await?;
    Ok((account, change))
}

/// Replaces the account's access; returns whether anything differed.
async fn write_access(
    db: &impl ConnectionTrait,
    account_id: &str,
    wanted: Vec<(Application, AccessInput)>,
) -> Result<bool, DomainError> {
    let current = access_of(db, account_id).await?;
    let same = current.len() == wanted.len()
        && wanted.iter().all(|(app, input)| {
            current.iter().any(|c| {
                c.application_id == app.id
                    && c.allowed == input.allowed
                    && c.initials == input.initials
                    && c.rights == input.rights
                    && c.options == input.options
            })
        });
    if same {
        return Ok(false);
    }
    account_access::Entity::delete_many().filter(account_access::Column::AccountId.eq(account_id)).exec(db).await?;
    for (application, input) in wanted {
        account_access::ActiveModel {
            account_id: Set(account_id.to_string()),
            application_id: Set(application.id),
            allowed: Set(input.allowed),
            initials: Set(input.initials),
            rights: Set(to_json_text(&input.rights)),
            options: Set(to_json_text(&input.options)),
        }
        .insert(db)
        .await?;
    }
    Ok(true)
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

/// An administrator locks the account by hand: no login until they unlock it (the
/// owner learns it only after typing the right password). Its sessions end.
pub async fn lock(db: &Db, account_id: &str, now: i64) -> Result<(), DomainError> {
    let txn = db.begin().await?;
    account::Entity::update_many()
        .col_expr(account::Column::AdminLockedAt, sea_orm::sea_query::Expr::value(now))
        .filter(account::Column::Id.eq(account_id))
        .filter(account::Column::AdminLockedAt.is_null())
        .exec(&txn)
        .await?;
    end_everything_of(&txn, account_id, now).await?;
    txn.commit().await?;
    Ok(())
}

/// An administrator lifts every lock of the account: their own, the password budgets
/// of its identifier and the second factor's.
pub async fn unlock(db: &Db, account: &Account) -> Result<(), DomainError> {
    account::Entity::update_many()
        .col_expr(account::Column::AdminLockedAt, sea_orm::sea_query::Expr::value(Option::<i64>::None))
        .filter(account::Column::Id.eq(&account.id))
        .exec(db)
        .await?;
    crate::auth::password_login::unlock(db, &account.username).await?;
    crate::second_factor::unlock(db, &account.id).await?;
    Ok(())
}

/// What keeps an account from signing in now, as administrators see it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Locks {
    /// When an administrator locked it, if one did.
    pub locked_at: Option<i64>,
    /// Until when unknown browsers may not try its password (browsers that signed in
    /// to it before, and other addresses within their own budgets, still may).
    pub locked_until: Option<i64>,
    /// Until when its second factor refuses codes.
    pub second_factor_locked_until: Option<i64>,
}

impl Locks {
    pub fn any(&self) -> bool {
        self.locked_at.is_some() || self.locked_until.is_some() || self.second_factor_locked_until.is_some()
    }
}

pub async fn locks(db: &Db, account: &Account, now: i64) -> Result<Locks, DomainError> {
    Ok(Locks {
        locked_at: account.admin_locked_at,
        locked_until: crate::auth::password_login::unknown_sources_blocked_until(db, &account.username, now).await?,
        second_factor_locked_until: crate::second_factor::locked_until(db, &account.id, now).await?,
    })
}

/// Whether the account may open the application; accounts of no application (a client
/// not tied to one) are open to every active account.
pub fn may_use(access: &[Access], application: Option<&applications::Application>) -> bool {
    match application {
        None => true,
        Some(app) => access.iter().any(|a| a.application_id == app.id && a.allowed),
    }
}

/// An archived account's sessions end and its refresh tokens are revoked, with the
/// access tokens of both; un-archiving later restores login, not these.
async fn end_everything_of(db: &impl ConnectionTrait, account_id: &str, now: i64) -> Result<(), DomainError> {
    use crate::revocations::{self, Scope};
    use crate::storage::entities::{refresh_token, session};
    // Access tokens live at most a day (see `Config::validate`).
    let until = now + 86_400;
    for ended in session::Entity::find().filter(session::Column::AccountId.eq(account_id)).all(db).await? {
        revocations::revoke(db, Scope::Session(&ended.sid), until).await?;
    }
    session::Entity::delete_many().filter(session::Column::AccountId.eq(account_id)).exec(db).await?;
    let families = refresh_token::Entity::find()
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .filter(refresh_token::Column::Revoked.eq(false))
        .all(db)
        .await?;
    for family in families.iter().map(|t| t.grant_id.as_str()).collect::<std::collections::BTreeSet<_>>() {
        revocations::revoke(db, Scope::Grant(family), until).await?;
    }
    refresh_token::Entity::update_many()
        .col_expr(refresh_token::Column::Revoked, sea_orm::sea_query::Expr::value(true))
        .filter(refresh_token::Column::AccountId.eq(account_id))
        .exec(db)
        .await?;
    Ok(())
}

/// Which accounts a search returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StateFilter {
    Active,
    Archived,
    All,
}

/// One page of a search, with the total count for pagination.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// Accounts whose identifier, first or last name contains `query` (any case), in the
/// given state, sorted by identifier; `page` counts from 1.
pub async fn search(
    db: &Db,
    query: &str,
    state: StateFilter,
    page: u64,
    per_page: u64,
) -> Result<Page<Account>, DomainError> {
    use sea_orm::{
        PaginatorTrait,
        sea_query::{Expr, ExprTrait, Func},
    };
    let mut select = account::Entity::find();
    match state {
        StateFilter::Active => select = select.filter(account::Column::Archived.eq(false)),
        StateFilter::Archived => select = select.filter(account::Column::Archived.eq(true)),
        StateFilter::All => {}
    }
    let query = query.trim().to_lowercase();
    if !query.is_empty() {
        let escaped = query.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        let pattern = format!("%{escaped}%");
        let like = |column: account::Column| {
            Expr::expr(Func::lower(Expr::col(column)))
                .like(sea_orm::sea_query::LikeExpr::new(pattern.clone()).escape('\\'))
        };
        select = select.filter(
            Condition::any()
                .add(like(account::Column::UsernameKey))
                .add(like(account::Column::FirstName))
                .add(like(account::Column::LastName)),
        );
    }
    let per_page = Ord::clamp(per_page, 1, 200);
    let paginator = select.order_by_asc(account::Column::UsernameKey).paginate(db, per_page);
    let total = paginator.num_items().await?;
    let page = Ord::max(page, 1);
    let items = paginator.fetch_page(page - 1).await?.into_iter().map(Account::from).collect();
    Ok(Page { items, total, page, per_page })
}
