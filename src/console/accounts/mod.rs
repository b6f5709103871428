//! The accounts pages: the searchable list, and the account form in three sections
//! (identity card; rights; software access with each application's rights and options).
//! The buttons of the account page that are not fields of its form are in `actions`.

mod actions;
mod problems;

pub use actions::{Change, SecurityAction, on_post, remove_second_factor};

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};

use self::problems::{Problem, in_form_order};
use super::auth::ConsoleAdmin;
use super::form::{self, Submitted};
use crate::accounts::{self, AccessInput, Account, StateFilter};
use crate::admin_api::{self, accounts::view};
use crate::applications;
use crate::domain::DomainError;
use crate::state::AppState;
use crate::web::flash::{self, Flash};
use crate::web::{
    csrf,
    i18n::Locale,
    page_error::{PageError, html_page},
    request,
};

const PER_PAGE: u64 = 25;
/// Events on the account page; the events page has them all.
const RECENT_EVENTS: u64 = 15;

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    state: Option<StateFilter>,
    page: Option<u64>,
}

pub async fn list(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    headers: HeaderMap,
    Query(query): Query<ListQuery>,
) -> Response {
    let locale = request::locale(&headers, None);
    let filter = query.state.unwrap_or(StateFilter::Active);
    let page = match accounts::search(&state.db, &query.q, filter, query.page.unwrap_or(1), PER_PAGE).await {
        Ok(page) => page,
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    let pages = page.total.div_ceil(page.per_page).max(1);
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|a| {
            json!({
                "username": a.username, "name": a.full_name(), "email": a.email,
                "phone": a.phone.as_deref().map(accounts::display_phone),
                "archived": a.archived, "account_admin": a.account_admin,
            })
        })
        .collect();
    let context = json!({
        "items": items, "q": query.q, "state": filter, "page": page.page, "pages": pages, "total": page.total,
        "previous": (page.page > 1).then(|| page.page - 1), "next": (page.page < pages).then(|| page.page + 1),
    });
    html_page(&state, locale, "admin_accounts.html", context, StatusCode::OK)
}

/// Everything the account form shows.
struct FormPage<'a> {
    values: Value,
    access: Vec<AccessInput>,
    existing: Option<&'a Account>,
    /// Every refused field, in the form's order.
    problems: Vec<Problem>,
    notice: Option<String>,
}

async fn render_form(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    page: FormPage<'_>,
    status: StatusCode,
) -> Response {
    let applications = match applications::list(&state.db).await {
        Ok(list) => list,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let token = csrf::token(state, jar);
    let existing = async {
        let Some(account) = page.existing else {
            return Ok::<_, DomainError>((accounts::Locks::default(), Vec::new(), Vec::new()));
        };
        let locks = accounts::locks(&state.db, account, state.clock.now()).await?;
        let second_factors: Vec<_> = crate::second_factor::factors_of(&state.db, &account.id)
            .await?
            .into_iter()
            .map(|f| {
                let last_used = f.last_used_at.map(crate::audit::utc);
                json!({"id": f.id, "label": f.label, "method": f.method, "created": crate::audit::utc(f.created_at), "last_used": last_used})
            })
            .collect();
        let words = |key: &str| state.theme.message(locale, key);
        let filter = crate::audit::Filter::for_account(&account.id);
        let events = crate::audit::list(&state.db, &filter, None, RECENT_EVENTS, &words).await?.entries;
        Ok((locks, second_factors, events))
    };
    let (locks, second_factors, events) = match existing.await {
        Ok(read) => read,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let shown = problems::Shown::of(state, locale, &page.problems);
    let sections = shown.mark_sections(form::access_section(&applications, &page.access));
    let context = json!({
        "csrf_token": token,
        "values": page.values,
        "applications": sections,
        "existing": page.existing.map(|a| json!({"username": a.username, "archived": a.archived})),
        "second_factors": second_factors,
        "events": events,
        "locked": locks.any(),
        "locked_by_admin": locks.locked_at.is_some(),
        "problems": shown.summary,
        "errors": shown.beside,
        "notice": page.notice,
    });
    html_page(state, locale, "admin_account.html", context, status)
}

fn stored_access(access: Vec<accounts::Access>) -> Vec<AccessInput> {
    access.into_iter().map(AccessInput::from).collect()
}

pub async fn new_form(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
) -> Response {
    let (jar, _) = csrf::ensure_browser(&state, jar);
    let locale = request::locale(&headers, None);
    let (jar, flash) = flash::take(&state, jar, &flash_scope(None));
    if let Some(refusal) = flash.as_ref().and_then(Refusal::from_flash) {
        let page = refusal.redrawn(&state, &jar, locale, None).await;
        return (jar, page).into_response();
    }
    let page = FormPage { values: json!({}), access: Vec::new(), existing: None, problems: Vec::new(), notice: None };
    (jar.clone(), render_form(&state, &jar, locale, page, StatusCode::OK).await).into_response()
}

#[derive(Deserialize)]
pub struct EditQuery {
    saved: Option<String>,
}

pub async fn edit_form(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path(username): Path<String>,
    Query(query): Query<EditQuery>,
) -> Response {
    let (jar, _) = csrf::ensure_browser(&state, jar);
    let locale = request::locale(&headers, None);
    let account = match find(&state, locale, &username).await {
        Ok(account) => account,
        Err(page) => return page,
    };
    let (jar, flash) = flash::take(&state, jar, &flash_scope(Some(&account)));
    if let Some(refusal) = flash.as_ref().and_then(Refusal::from_flash) {
        let page = refusal.redrawn(&state, &jar, locale, Some(&account)).await;
        return (jar, page).into_response();
    }
    let access = match accounts::access_of(&state.db, &account.id).await {
        Ok(access) => stored_access(access),
        Err(error) => return PageError::from(error).render(&state, locale),
    };
    let notice = query.saved.as_deref().map(|what| match what {
        "second_factors" => state.theme.message(locale, "console_second_factors_reset"),
        "unlocked" => state.theme.message(locale, "console_unlocked"),
        "locked" => state.theme.message(locale, "console_locked_done"),
        "signed_out" => state.theme.message(locale, "console_signed_out_everywhere"),
        "second_factor_removed" => state.theme.message(locale, "console_second_factor_removed"),
        _ => state.theme.message(locale, "console_saved"),
    });
    let page =
        FormPage { values: form::values_of(&account), access, existing: Some(&account), problems: Vec::new(), notice };
    (jar.clone(), render_form(&state, &jar, locale, page, StatusCode::OK).await).into_response()
}

pub async fn create(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    form: Submitted,
) -> Response {
    let locale = request::locale(&headers, None);
    let username = form.get("username").trim().to_string();
    save(&state, &admin, &jar, &headers, locale, &form, username, None).await
}

pub async fn update(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path(username): Path<String>,
    form: Submitted,
) -> Response {
    let locale = request::locale(&headers, None);
    let current = match find(&state, locale, &username).await {
        Ok(account) => account,
        Err(page) => return page,
    };
    let name = current.username.clone();
    save(&state, &admin, &jar, &headers, locale, &form, name, Some(current)).await
}

/// Checks every field, then writes; a refusal draws the form again with all its mistakes.
#[allow(clippy::too_many_arguments)]
async fn save(
    state: &AppState,
    admin: &ConsoleAdmin,
    jar: &CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    form: &Submitted,
    username: String,
    current: Option<Account>,
) -> Response {
    let applications = match applications::list(&state.db).await {
        Ok(list) => list,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let (input, early) = form::account_input(form, username, &applications);
    let mut problems: Vec<Problem> =
        early.into_iter().map(|p| Problem::console(state, locale, p.field, p.problem)).collect();
    if current.is_none() {
        // A new account: its identifier must be free (the domain would update the
        // account that has it), and it needs a password.
        let mut refusals = Vec::new();
        match accounts::find_by_username(&state.db, &input.username).await {
            Ok(Some(_)) => {
                refusals.push(DomainError::conflict("username", "this identifier is already used by another account"))
            }
            Ok(None) => {}
            Err(error) => return PageError::from(error).render(state, locale),
        }
        if form.get("password").is_empty() {
            refusals
                .push(DomainError::invalid("password", "a new account needs a password").because("password_required"));
        }
        for error in refusals {
            match Problem::of(state, locale, error) {
                Ok(problem) => problems.push(problem),
                Err(error) => return PageError::from(error).render(state, locale),
            }
        }
    }
    if !problems.is_empty() {
        // Nothing is written, but the domain's refusals are shown with the form's own.
        if let Err(refusals) = accounts::check(&state.db, &state.passwords, &input).await {
            match Problem::all_of(state, locale, refusals) {
                Ok(more) => problems.extend(more),
                Err(error) => return PageError::from(error).render(state, locale),
            }
        }
        return refused(state, jar, headers, locale, form, current.as_ref(), problems).await;
    }
    let before = match &current {
        Some(account) => view(state, account.clone()).await.map(|v| json!(v)).unwrap_or(Value::Null),
        None => Value::Null,
    };
    match accounts::upsert_reporting_all(&state.db, &state.passwords, input, state.clock.now()).await {
        Ok((account, _)) => {
            let after = view(state, account.clone()).await.map(|v| json!(v)).unwrap_or(Value::Null);
            let event = if current.is_some() { "admin.account.updated" } else { "admin.account.created" };
            admin_api::record_change(state, &admin.0, event, Some(&account.id), before, after).await;
            Redirect::to(&format!("/admin/accounts/{}?saved=1", urlencode(&account.username))).into_response()
        }
        Err(refusals) => match Problem::all_of(state, locale, refusals) {
            Ok(problems) => refused(state, jar, headers, locale, form, current.as_ref(), problems).await,
            Err(error) => PageError::from(error).render(state, locale),
        },
    }
}

/// Draws the form again with what was submitted and every refused field: for a
/// browser, by a redirect to the form's page (Post/Redirect/Get), the submission (its
/// passwords left out) and the problems sealed in the flash cookie.
#[allow(clippy::too_many_arguments)]
async fn refused(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    form: &Submitted,
    current: Option<&Account>,
    problems: Vec<Problem>,
) -> Response {
    let problems = in_form_order(problems);
    if flash::is_navigation(headers) {
        let to = match current {
            Some(account) => format!("/admin/accounts/{}", urlencode(&account.username)),
            None => "/admin/accounts/new".to_string(),
        };
        let flash = Flash::default().with(SUBMITTED, form.without_secrets()).with(PROBLEMS, &problems);
        return flash::redirect(state, jar.clone(), &flash_scope(current), &to, &flash);
    }
    let status = if !problems.is_empty() && problems.iter().all(|p| p.conflict) {
        StatusCode::CONFLICT
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Refusal { form: form.without_secrets(), problems }.draw(state, jar, locale, current, status).await
}

const SUBMITTED: &str = "submitted";
const PROBLEMS: &str = "problems";

/// An account form's flash is for the page of that account (or of a new one).
fn flash_scope(current: Option<&Account>) -> String {
    format!("console-account:{}", current.map(|a| a.id.as_str()).unwrap_or("new"))
}

/// A refused submission: what was typed and what is wrong with it.
struct Refusal {
    form: Submitted,
    problems: Vec<Problem>,
}

impl Refusal {
    fn from_flash(flash: &Flash) -> Option<Self> {
        Some(Self { form: flash.field(SUBMITTED)?, problems: flash.field(PROBLEMS)? })
    }

    /// The form again, on the page a browser was redirected to.
    async fn redrawn(self, state: &AppState, jar: &CookieJar, locale: Locale, current: Option<&Account>) -> Response {
        self.draw(state, jar, locale, current, StatusCode::OK).await
    }

    async fn draw(
        self,
        state: &AppState,
        jar: &CookieJar,
        locale: Locale,
        current: Option<&Account>,
        status: StatusCode,
    ) -> Response {
        let applications = match applications::list(&state.db).await {
            Ok(list) => list,
            Err(error) => return PageError::from(error).render(state, locale),
        };
        let form = &self.form;
        let username = current.map(|a| a.username.clone()).unwrap_or_else(|| form.get("username").to_string());
        let access = form::account_input(form, username, &applications).0.access.unwrap_or_default();
        let values = form::values_submitted(form);
        let page = FormPage { values, access, existing: current, problems: self.problems, notice: None };
        render_form(state, jar, locale, page, status).await
    }
}

fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// The account named in the path, or the console's page for what does not exist.
async fn find(state: &AppState, locale: Locale, username: &str) -> Result<Account, Response> {
    match accounts::find_by_username(&state.db, username).await {
        Ok(Some(account)) => Ok(account),
        Ok(None) => Err(super::not_found(state, locale)),
        Err(error) => Err(PageError::from(error).render(state, locale)),
    }
}
