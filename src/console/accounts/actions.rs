//! The buttons of the account page that are not fields of its form: each posts to a route
//! of its own (`/admin/accounts/{username}/…`) with the page's anti-CSRF token, and one
//! handler serves them all, told by its route which action it is.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{MethodRouter, get},
};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use super::{FormPage, Problem, find, render_form, stored_access, urlencode};
use crate::accounts::{self, Account, AccountInput, PasswordInput};
use crate::admin_api::{self, accounts::view};
use crate::console::{
    auth::ConsoleAdmin,
    confirmation,
    form::{self, Submitted},
};
use crate::state::AppState;
use crate::web::{
    flash::{self, Flash},
    i18n::Locale,
    page_error::{PageError, html_page},
    request,
};

/// Second factors and locks are not fields of the account form: resetting, unlocking or
/// locking calls the same functions as the API, then comes back to the account with a
/// notice (`?saved=…`).
#[derive(Debug, Clone, Copy)]
pub enum SecurityAction {
    ResetSecondFactors,
    Unlock,
    Lock,
    SignOutEverywhere,
}

/// Changes of the account itself, recorded in the audit trail like the form's.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Archive,
    Restore,
    /// A temporary password, shown once.
    ResetPassword,
}

/// One or the other; `on_post` takes either.
#[derive(Debug, Clone, Copy)]
pub enum Action {
    Security(SecurityAction),
    Change(Change),
}

impl From<SecurityAction> for Action {
    fn from(action: SecurityAction) -> Self {
        Self::Security(action)
    }
}

impl From<Change> for Action {
    fn from(change: Change) -> Self {
        Self::Change(change)
    }
}

impl Action {
    /// What the confirmation page says of it (`console_confirm_{key}_…`), for the actions
    /// that cannot be taken back: archiving signs the person out everywhere, a reset
    /// removes every second factor. Its words' key, and the end of its route.
    fn confirmation(self) -> Option<(&'static str, &'static str)> {
        match self {
            Self::Change(Change::Archive) => Some(("archive", "archive")),
            Self::Security(SecurityAction::ResetSecondFactors) => {
                Some(("reset_second_factors", "second-factors/reset"))
            }
            _ => None,
        }
    }
}

/// The POST handler of one button: the administrator, the form (its anti-CSRF token
/// checked) and the account named in the path, then the action. An action that asks for
/// confirmation is done only when the form carries `confirm=yes`; without it, the answer
/// is the confirmation page (nothing done), whose form posts the same fields with it.
pub fn on_post(action: impl Into<Action>) -> MethodRouter<AppState> {
    let action = action.into();
    // A browser's unconfirmed post is redirected here, so that the confirmation page is
    // read by GET (reloading it sends nothing again); other actions have no page here.
    // A temporary password is shown here once, after a browser's post.
    let confirm_page = move |State(state): State<AppState>,
                             admin: ConsoleAdmin,
                             jar: CookieJar,
                             headers: HeaderMap,
                             Path(username): Path<String>| async move {
        let locale = request::locale(&headers, None);
        let current = match find(&state, locale, &username).await {
            Ok(account) => account,
            Err(page) => return page,
        };
        if let Action::Change(Change::ResetPassword) = action {
            return show_temporary_password(&state, &admin, jar, locale, &current);
        }
        match action.confirmation() {
            Some((key, route)) => ask(&state, &jar, locale, &Submitted::parse(b""), &current, key, route),
            None => Redirect::to(&format!("/admin/accounts/{}", urlencode(&current.username))).into_response(),
        }
    };
    get(confirm_page).post(
        move |State(state): State<AppState>,
              admin: ConsoleAdmin,
              jar: CookieJar,
              headers: HeaderMap,
              Path(username): Path<String>,
              form: Submitted| async move {
            let locale = request::locale(&headers, None);
            let current = match find(&state, locale, &username).await {
                Ok(account) => account,
                Err(page) => return page,
            };
            let refused_self = matches!(action, Action::Change(Change::Archive)) && current.id == admin.0.account_id;
            if let Some((key, route)) = action.confirmation()
                && !refused_self
                && !confirmation::given(&form)
            {
                if flash::is_navigation(&headers) {
                    let here = format!("/admin/accounts/{}/{route}", urlencode(&current.username));
                    return Redirect::to(&here).into_response();
                }
                return ask(&state, &jar, locale, &form, &current, key, route);
            }
            match action {
                Action::Security(action) => secure(&state, &admin, locale, current, action).await,
                Action::Change(what) => change(&state, &admin, &jar, &headers, locale, current, what).await,
            }
        },
    )
}

/// The confirmation page of an action on this account (`route`: the end of its path).
fn ask(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    form: &Submitted,
    account: &Account,
    key: &'static str,
    route: &str,
) -> Response {
    let full_name = account.full_name();
    let name =
        if full_name.is_empty() { account.username.clone() } else { format!("{full_name} ({})", account.username) };
    let back = format!("/admin/accounts/{}", urlencode(&account.username));
    let asked = confirmation::Asked { key, name, action: format!("{back}/{route}"), back };
    confirmation::page(state, jar, locale, form, asked)
}

/// Resets, unlocks or locks through the admin API's functions (audit and mail included).
async fn secure(
    state: &AppState,
    admin: &ConsoleAdmin,
    locale: Locale,
    current: Account,
    action: SecurityAction,
) -> Response {
    let (done, what) = match action {
        SecurityAction::ResetSecondFactors => {
            (admin_api::accounts::reset_second_factors_of(state, &admin.0, &current).await, "second_factors")
        }
        SecurityAction::Unlock => (admin_api::accounts::unlock_account(state, &admin.0, &current).await, "unlocked"),
        SecurityAction::Lock => (admin_api::accounts::lock_account(state, &admin.0, &current).await, "locked"),
        SecurityAction::SignOutEverywhere => {
            (admin_api::accounts::sign_out_everywhere_of(state, &admin.0, &current).await.map(|_| ()), "signed_out")
        }
    };
    match done {
        Ok(()) => {
            Redirect::to(&format!("/admin/accounts/{}?saved={what}", urlencode(&current.username))).into_response()
        }
        Err(_) => PageError::internal().render(state, locale),
    }
}

/// Archives, restores or gives a temporary password, through `accounts::upsert`.
async fn change(
    state: &AppState,
    admin: &ConsoleAdmin,
    jar: &CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    current: Account,
    change: Change,
) -> Response {
    let before = view(state, current.clone()).await.map(|v| json!(v)).unwrap_or(Value::Null);
    let mut input = AccountInput::unchanged(&current);
    let temporary = match change {
        Change::Archive if current.id == admin.0.account_id => {
            let access = accounts::access_of(&state.db, &current.id).await.map(stored_access).unwrap_or_default();
            let problem = Problem::console(state, locale, "archived", "archive_self");
            let page = FormPage {
                values: form::values_of(&current),
                access,
                existing: Some(&current),
                problems: vec![problem],
                notice: None,
            };
            return render_form(state, jar, locale, page, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
        Change::Archive => {
            input.archived = true;
            None
        }
        Change::Restore => {
            input.archived = false;
            None
        }
        Change::ResetPassword => {
            let password = admin_api::accounts::temporary_password();
            input.password = Some(PasswordInput::Plain(password.clone()));
            Some(password)
        }
    };
    let after = match &temporary {
        Some(_) => json!({"password": "changed"}),
        None => json!({"archived": input.archived}),
    };
    if let Err(error) = accounts::upsert(&state.db, &state.passwords, input, state.clock.now()).await {
        return PageError::from(error).render(state, locale);
    }
    let event = match change {
        Change::Archive => "admin.account.archived",
        Change::Restore => "admin.account.restored",
        Change::ResetPassword => "admin.account.password_reset",
    };
    let before = if temporary.is_some() { Value::Null } else { json!({"archived": before["archived"]}) };
    admin_api::record_change(state, &admin.0, event, Some(&current.id), before, after).await;
    match temporary {
        // A browser reads it by GET, so that reloading never gives yet another password.
        Some(password) if flash::is_navigation(headers) => {
            let to = format!("/admin/accounts/{}/password", urlencode(&current.username));
            let flash = Flash::default().with(TEMPORARY_PASSWORD, password);
            flash::redirect(state, jar.clone(), &password_scope(admin, &current), &to, &flash)
        }
        Some(password) => temporary_password_page(state, locale, &current, &password),
        None => Redirect::to(&format!("/admin/accounts/{}?saved=1", urlencode(&current.username))).into_response(),
    }
}

/// The flash's field that holds a temporary password.
const TEMPORARY_PASSWORD: &str = "temporary_password";

fn password_scope(admin: &ConsoleAdmin, account: &Account) -> String {
    crate::console::shown_once_scope(admin, &format!("password:{}", account.id))
}

fn temporary_password_page(state: &AppState, locale: Locale, account: &Account, password: &str) -> Response {
    let context = json!({"username": account.username, "temporary_password": password});
    html_page(state, locale, "admin_password.html", context, StatusCode::OK)
}

/// `GET` of the password route: the temporary password just given, once; read again (a
/// reload, the back button), the account's page, the password no longer shown.
fn show_temporary_password(
    state: &AppState,
    admin: &ConsoleAdmin,
    jar: CookieJar,
    locale: Locale,
    account: &Account,
) -> Response {
    let (jar, flash) = flash::take(state, jar, &password_scope(admin, account));
    match flash.map(|flash| flash.text(TEMPORARY_PASSWORD).to_string()).filter(|p| !p.is_empty()) {
        Some(password) => (jar, temporary_password_page(state, locale, account, &password)).into_response(),
        None => Redirect::to(&format!("/admin/accounts/{}", urlencode(&account.username))).into_response(),
    }
}

/// Removes one second factor of the account (the button beside it in the list).
pub async fn remove_second_factor(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    headers: HeaderMap,
    Path((username, factor_id)): Path<(String, String)>,
    _form: Submitted,
) -> Response {
    let locale = request::locale(&headers, None);
    let current = match find(&state, locale, &username).await {
        Ok(account) => account,
        Err(page) => return page,
    };
    match admin_api::accounts::remove_second_factor_of(&state, &admin.0, &current, &factor_id).await {
        Ok(true) => {
            Redirect::to(&format!("/admin/accounts/{}?saved=second_factor_removed", urlencode(&current.username)))
                .into_response()
        }
        Ok(false) => {
            PageError::new(StatusCode::NOT_FOUND, "console_not_found_title", "console_not_found").render(&state, locale)
        }
        Err(_) => PageError::internal().render(&state, locale),
    }
}
