//! `/admin/api/v1/accounts`: search, create, read, update, archive, restore, reset the
//! password.

use axum::{
    Json,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Response},
};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiJson, record_change};
use crate::accounts::actions::{self, Actor};
use crate::accounts::{self, AccessInput, Account, AccountInput, PasswordInput, StateFilter};
use crate::state::AppState;

mod documents;

use documents::NULLABLE;
pub use documents::{AccountPatch, AccountView, AccountWrite};

pub async fn view(state: &AppState, account: Account) -> Result<AccountView, ApiError> {
    let access = accounts::access_of(&state.db, &account.id).await?.into_iter().map(AccessInput::from).collect();
    let second_factors = crate::second_factor::factors_of(&state.db, &account.id).await?;
    let locks = accounts::locks(&state.db, &account, state.clock.now()).await?;
    Ok(AccountView {
        second_factors,
        locked_at: locks.locked_at,
        locked_until: locks.locked_until,
        second_factor_locked_until: locks.second_factor_locked_until,
        id: account.id,
        username: account.username,
        first_name: account.first_name,
        last_name: account.last_name,
        initials: account.initials,
        email: account.email,
        phone: account.phone,
        address: account.address,
        archived: account.archived,
        two_factor_required: account.two_factor_required,
        sms_disabled: account.sms_disabled,
        account_admin: account.account_admin,
        language: account.language.map(|l| l.code()),
        created_at: account.created_at,
        updated_at: account.updated_at,
        access,
    })
}

async fn existing(state: &AppState, username: &str) -> Result<Account, ApiError> {
    accounts::find_by_username(&state.db, username)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("account `{username}`")))
}

/// The last page a search may ask for (at most 200 per page: twenty million accounts).
const MAX_PAGE: u64 = 100_000;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    state: Option<StateFilter>,
    page: Option<u64>,
    per_page: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<SearchQuery>,
) -> Result<Json<Value>, ApiError> {
    let filter = query.state.unwrap_or(StateFilter::Active);
    let page = query.page.unwrap_or(1);
    if !(1..=MAX_PAGE).contains(&page) {
        return Err(ApiError::invalid("page", format!("a page number from 1 to {MAX_PAGE}")));
    }
    let per_page = query.per_page.unwrap_or(50);
    if !(1..=200).contains(&per_page) {
        return Err(ApiError::invalid("per_page", "from 1 to 200 accounts per page"));
    }
    let page = accounts::search(&state.db, &query.q, filter, page, per_page).await?;
    let mut items = Vec::with_capacity(page.items.len());
    for account in page.items {
        items.push(view(&state, account).await?);
    }
    Ok(Json(json!({"items": items, "total": page.total, "page": page.page, "per_page": page.per_page})))
}

pub async fn show(
    State(state): State<AppState>,
    _admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = existing(&state, &username).await?;
    Ok(Json(view(&state, account).await?))
}

pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<AccountWrite>,
) -> Result<Response, ApiError> {
    let username =
        body.username.clone().ok_or_else(|| ApiError::invalid("username", "a new account needs a username"))?;
    if accounts::find_by_username(&state.db, &username).await?.is_some() {
        return Err(ApiError::conflict("username", "this identifier is already used by another account"));
    }
    if body.password.is_none() {
        return Err(ApiError::invalid("password", "a new account needs a password"));
    }
    let (account, _) =
        accounts::upsert(&state.db, &state.passwords, body.into_input(username), state.clock.now()).await?;
    let after = view(&state, account.clone()).await?;
    record_change(&state, &admin, "admin.account.created", Some(&account.id), Value::Null, json!(after)).await;
    Ok((StatusCode::CREATED, Json(after)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
    request: axum::extract::Request,
) -> Result<Json<AccountView>, ApiError> {
    let object = super::json_object(request, &state).await?;
    if let Some((field, _)) = object.iter().find(|(name, value)| value.is_null() && !NULLABLE.contains(&name.as_str()))
    {
        return Err(ApiError::invalid(
            field,
            "leave the field out to keep its value; only email, phone, address and language may be null",
        ));
    }
    let body: AccountPatch =
        serde_json::from_value(Value::Object(object)).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let current = existing(&state, &username).await?;
    if body.username.as_ref().is_some_and(|given| !given.eq_ignore_ascii_case(&current.username)) {
        return Err(ApiError::invalid("username", "an identifier cannot be changed; create a new account"));
    }
    if current.id == admin.account_id && (body.archived == Some(true) || body.account_admin == Some(false)) {
        let field = if body.archived == Some(true) { "archived" } else { "account_admin" };
        return Err(ApiError::invalid(field, "you cannot archive your own account or take away your own rights"));
    }
    let before = view(&state, current.clone()).await?;
    save(&state, &admin, body.apply_to(&current), json!(before)).await
}

async fn save(
    state: &AppState,
    admin: &Admin,
    input: AccountInput,
    before: Value,
) -> Result<Json<AccountView>, ApiError> {
    let (account, _) = accounts::upsert(&state.db, &state.passwords, input, state.clock.now()).await?;
    let after = view(state, account.clone()).await?;
    record_change(state, admin, "admin.account.updated", Some(&account.id), before, json!(after)).await;
    Ok(Json(after))
}

async fn set_archived(
    state: AppState,
    admin: Admin,
    username: String,
    archived: bool,
) -> Result<Json<AccountView>, ApiError> {
    let current = existing(&state, &username).await?;
    if current.id == admin.account_id && archived {
        return Err(ApiError::invalid("archived", "you cannot archive your own account"));
    }
    let before = view(&state, current.clone()).await?;
    save(&state, &admin, AccountInput { archived, ..AccountInput::unchanged(&current) }, json!(before)).await
}

pub async fn archive(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    set_archived(state, admin, username, true).await
}

pub async fn restore(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    set_archived(state, admin, username, false).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PasswordReset {
    password: Option<String>,
}

/// Sets the password given, or generates a temporary one and answers it once.
pub async fn reset_password(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Value>, ApiError> {
    let current = existing(&state, &username).await?;
    let reset: PasswordReset = if body.iter().all(u8::is_ascii_whitespace) {
        PasswordReset::default()
    } else {
        match serde_json::from_slice::<Value>(&body) {
            Ok(Value::Object(object)) => {
                serde_json::from_value(Value::Object(object)).map_err(|e| ApiError::bad_request(e.to_string()))?
            }
            Ok(_) => return Err(ApiError::bad_request("the body must be a JSON object (or empty)")),
            Err(e) => return Err(ApiError::bad_request(format!("the body is not valid JSON: {e}"))),
        }
    };
    let given = reset.password;
    let generated = given.is_none().then(temporary_password);
    let password = given.or_else(|| generated.clone()).unwrap_or_default();
    let input = AccountInput { password: Some(PasswordInput::Plain(password)), ..AccountInput::unchanged(&current) };
    accounts::upsert(&state.db, &state.passwords, input, state.clock.now()).await?;
    let event = json!({"password": "changed"});
    record_change(&state, &admin, "admin.account.password_reset", Some(&current.id), Value::Null, event).await;
    Ok(Json(match generated {
        Some(password) => json!({"temporary_password": password}),
        None => json!({"password": "changed"}),
    }))
}

/// Four groups of four characters from an alphabet without look-alikes (about 79 bits),
/// drawn without modulo bias.
pub(crate) fn temporary_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut chars = Vec::with_capacity(16);
    while chars.len() < 16 {
        for byte in crate::crypto::random_bytes::<32>() {
            if byte < limit && chars.len() < 16 {
                chars.push(ALPHABET[byte as usize % ALPHABET.len()] as char);
            }
        }
    }
    chars.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// Removes every second factor of the account and reopens enrollment: its next login
/// enrolls anew. The owner is told by mail.
pub async fn reset_second_factors(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let current = existing(&state, &username).await?;
    reset_second_factors_of(&state, &admin, &current).await?;
    Ok(Json(view(&state, existing(&state, &username).await?).await?))
}

/// The reset, as the API and the console both do it.
pub(crate) async fn reset_second_factors_of(
    state: &AppState,
    admin: &Admin,
    account: &Account,
) -> Result<(), ApiError> {
    let actor = Actor::Administrator(admin.account_id.clone());
    Ok(actions::reset_second_factors(state, &actor, account).await?)
}

/// Removes one second factor (an app, a phone, a passkey) by its id, as listed in the
/// account's `second_factors`; the last one of an account that requires two-factor
/// reopens its enrollment.
pub async fn remove_second_factor(
    State(state): State<AppState>,
    admin: Admin,
    Path((username, factor_id)): Path<(String, String)>,
) -> Result<Json<AccountView>, ApiError> {
    let current = existing(&state, &username).await?;
    if !remove_second_factor_of(&state, &admin, &current, &factor_id).await? {
        return Err(ApiError::not_found(format!("second factor {factor_id}")));
    }
    Ok(Json(view(&state, existing(&state, &username).await?).await?))
}

/// The removal, as the API and the console both do it.
pub(crate) async fn remove_second_factor_of(
    state: &AppState,
    admin: &Admin,
    account: &Account,
    factor_id: &str,
) -> Result<bool, ApiError> {
    let actor = Actor::Administrator(admin.account_id.clone());
    Ok(actions::remove_second_factor(state, &actor, account, factor_id).await?)
}

/// Lifts the password and second-factor locks at once.
pub async fn unlock(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let current = existing(&state, &username).await?;
    unlock_account(&state, &admin, &current).await?;
    Ok(Json(view(&state, existing(&state, &username).await?).await?))
}

pub(crate) async fn unlock_account(state: &AppState, admin: &Admin, account: &Account) -> Result<(), ApiError> {
    let actor = Actor::Administrator(admin.account_id.clone());
    Ok(actions::unlock(state, &actor, account).await?)
}

/// Signs the account out everywhere: every session and refresh token (offline ones
/// included) ends; the account stays usable.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let current = existing(&state, &username).await?;
    let ended = sign_out_everywhere_of(&state, &admin, &current).await?;
    Ok(Json(json!({"username": current.username, "sessions_ended": ended})))
}

pub(crate) async fn sign_out_everywhere_of(
    state: &AppState,
    admin: &Admin,
    account: &Account,
) -> Result<usize, ApiError> {
    let actor = Actor::Administrator(admin.account_id.clone());
    Ok(actions::sign_out_everywhere(state, &actor, account).await?)
}

/// Locks the account by hand: no sign-in until an administrator unlocks it; its
/// sessions and refresh tokens end.
pub async fn lock(
    State(state): State<AppState>,
    admin: Admin,
    Path(username): Path<String>,
) -> Result<Json<AccountView>, ApiError> {
    let current = existing(&state, &username).await?;
    lock_account(&state, &admin, &current).await?;
    Ok(Json(view(&state, existing(&state, &username).await?).await?))
}

pub(crate) async fn lock_account(state: &AppState, admin: &Admin, account: &Account) -> Result<(), ApiError> {
    if account.id == admin.account_id {
        return Err(ApiError::invalid("locked", "you cannot lock your own account"));
    }
    let actor = Actor::Administrator(admin.account_id.clone());
    Ok(actions::lock(state, &actor, account).await?)
}
