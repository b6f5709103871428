//! The applications pages: each application's catalogue of rights and options and its
//! clients, with their redirect URIs; a new client's secret is shown once.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::auth::ConsoleAdmin;
use super::confirmation;
use super::form::Submitted;
use crate::admin_api;
use crate::applications::{self, Application};
use crate::clients::{self, ClientInput, SecretInput};
use crate::domain::DomainError;
use crate::state::AppState;
use crate::web::{
    csrf,
    flash::{self, Flash},
    i18n::Locale,
    page_error::{PageError, html_page},
    request,
};

pub async fn list(State(state): State<AppState>, _admin: ConsoleAdmin, headers: HeaderMap) -> Response {
    let locale = request::locale(&headers, None);
    match applications::list(&state.db).await {
        Ok(list) => {
            let items: Vec<Value> = list
                .iter()
                .map(|a| json!({"code": a.code, "name": a.name, "rights": a.rights.len(), "options": a.options.len()}))
                .collect();
            html_page(&state, locale, "admin_applications.html", json!({"items": items}), StatusCode::OK)
        }
        Err(error) => PageError::from(error).render(&state, locale),
    }
}

async fn find(state: &AppState, code: &str, locale: Locale) -> Result<Application, Response> {
    match applications::find_by_code(&state.db, code).await {
        Ok(Some(application)) => Ok(application),
        Ok(None) => Err(super::not_found(state, locale)),
        Err(error) => Err(PageError::from(error).render(state, locale)),
    }
}

/// What the application page shows besides the application: a client's secret, shown
/// once, or a refused new client with what was typed. After a browser's post it travels
/// to the page in the flash (Post/Redirect/Get): reloading the page shows it no more,
/// and never sends the post again (which would give the client yet another secret).
#[derive(Default, Serialize, Deserialize)]
struct Shown {
    secret: Option<(String, String)>,
    problem: Option<String>,
    /// The add-client form's fields as typed, after a refusal.
    typed: Option<Typed>,
    #[serde(skip)]
    status: StatusCode,
}

/// The add-client form's fields.
#[derive(Serialize, Deserialize)]
struct Typed {
    client_id: String,
    name: String,
    redirect_uris: String,
    kind: String,
}

impl Typed {
    fn of(form: &Submitted) -> Self {
        let field = |name: &str| form.get(name).to_string();
        Self {
            client_id: field("client_id"),
            name: field("name"),
            redirect_uris: field("redirect_uris"),
            kind: field("kind"),
        }
    }
}

/// The flash's field that holds a [`Shown`].
const SHOWN: &str = "shown";

/// The flash of this application's page, for this administrator.
fn shown_scope(admin: &ConsoleAdmin, application: &Application) -> String {
    super::shown_once_scope(admin, &format!("application:{}", application.code))
}

/// The answer to a post of the application page: for a browser, a redirect to the page,
/// which shows `shown` once; for a script, the page itself with its status.
async fn answer(
    state: &AppState,
    admin: &ConsoleAdmin,
    jar: CookieJar,
    headers: &HeaderMap,
    locale: Locale,
    application: &Application,
    shown: Shown,
) -> Response {
    if flash::is_navigation(headers) {
        let to = format!("/admin/applications/{}", urlencode(&application.code));
        let flash = Flash::default().with(SHOWN, &shown);
        return flash::redirect(state, jar, &shown_scope(admin, application), &to, &flash);
    }
    render(state, &jar, locale, application, shown).await
}

async fn render(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    application: &Application,
    shown: Shown,
) -> Response {
    let clients = match clients::list_for_application(&state.db, &application.id).await {
        Ok(list) => list,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    let token = csrf::token(state, jar);
    let (secret_client, secret) = shown.secret.unzip();
    let context = json!({
        "csrf_token": token,
        "application": {"code": application.code, "name": application.name, "rights": application.rights, "options": application.options},
        "clients": clients.iter().map(admin_api::clients::view).collect::<Vec<_>>(),
        "secret_client": secret_client,
        "secret": secret,
        "error_message": shown.problem,
        "typed": shown.typed,
    });
    html_page(state, locale, "admin_application.html", context, shown.status)
}

pub async fn show(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let locale = request::locale(&headers, None);
    let (jar, _) = csrf::ensure_browser(&state, jar);
    let application = match find(&state, &code, locale).await {
        Ok(application) => application,
        Err(response) => return response,
    };
    let (jar, flash) = flash::take(&state, jar, &shown_scope(&admin, &application));
    let shown = flash.and_then(|flash| flash.field::<Shown>(SHOWN)).unwrap_or_default();
    let page = render(&state, &jar, locale, &application, shown).await;
    (jar, page).into_response()
}

/// Registers a client of this application: a web application (secret, shown once) or a
/// desktop one (native: public, PKCE, loopback redirect URIs on any port).
pub async fn create_client(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path(code): Path<String>,
    form: Submitted,
) -> Result<Response, Response> {
    let locale = request::locale(&headers, None);
    let application = find(&state, &code, locale).await?;
    let shown =
        register(&state, &admin, &application, &form).await.map_err(|e| PageError::from(e).render(&state, locale))?;
    Ok(answer(&state, &admin, jar, &headers, locale, &application, shown).await)
}

/// Registers the form's client; a refusal is shown on the page, a failure is an error.
async fn register(
    state: &AppState,
    admin: &ConsoleAdmin,
    application: &Application,
    form: &Submitted,
) -> Result<Shown, DomainError> {
    let public = form.get("kind") == "desktop";
    let secret = (!public).then(clients::generate_secret);
    let input = ClientInput {
        client_id: form.get("client_id").trim().to_string(),
        application: Some(application.code.clone()),
        name: Some(form.get("name").trim().to_string()).filter(|n| !n.is_empty()),
        secret: secret.clone().map(SecretInput::Plain),
        redirect_uris: form.get("redirect_uris").split_whitespace().map(str::to_string).collect(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        token_endpoint_auth_method: Some(if public { "none" } else { "client_secret_basic" }.into()),
        application_type: Some(if public { "native" } else { "web" }.into()),
        first_party: true,
        ..Default::default()
    };
    let outcome = match clients::find(&state.db, &input.client_id).await? {
        Some(_) => Err(DomainError::conflict("client_id", "a client with this id already exists")),
        None => clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await,
    };
    match outcome {
        Ok((client, _)) => {
            let view = admin_api::clients::view(&client);
            admin_api::record_change(state, &admin.0, "admin.client.created", None, Value::Null, view).await;
            Ok(Shown {
                secret: secret.map(|s| (client.client_id.clone(), s)),
                status: StatusCode::CREATED,
                ..Shown::default()
            })
        }
        Err(DomainError::Invalid { field, message, .. } | DomainError::Conflict { field, message, .. }) => Ok(Shown {
            problem: Some(format!("{field}: {message}")),
            typed: Some(Typed::of(form)),
            status: StatusCode::UNPROCESSABLE_ENTITY,
            ..Shown::default()
        }),
        Err(error) => Err(error),
    }
}

/// A path segment (a form-encoded `+` is a space there: written `%20`).
fn urlencode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

fn secret_path(code: &str, client_id: &str) -> String {
    format!("/admin/applications/{}/clients/{}/secret", urlencode(code), urlencode(client_id))
}

/// The confirmation page of a new secret.
fn ask_new_secret(
    state: &AppState,
    jar: &CookieJar,
    locale: Locale,
    form: &Submitted,
    code: &str,
    client_id: &str,
) -> Response {
    let asked = confirmation::Asked {
        key: "new_secret",
        name: client_id.to_string(),
        action: secret_path(code, client_id),
        back: format!("/admin/applications/{}", urlencode(code)),
    };
    confirmation::page(state, jar, locale, form, asked)
}

/// `GET` of a client's new-secret route: the confirmation page (a browser's unconfirmed
/// post is redirected here, so that reloading it sends nothing again).
pub async fn confirm_new_secret(
    State(state): State<AppState>,
    _admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path((code, client_id)): Path<(String, String)>,
) -> Result<Response, Response> {
    let locale = request::locale(&headers, None);
    let (application, client) = confidential_client(&state, &code, &client_id, locale).await?;
    Ok(ask_new_secret(&state, &jar, locale, &Submitted::parse(b""), &application.code, &client.client_id))
}

/// The application `code` and its client `client_id`, which must have a secret; else
/// the page that says so.
async fn confidential_client(
    state: &AppState,
    code: &str,
    client_id: &str,
    locale: Locale,
) -> Result<(Application, clients::Client), Response> {
    let application = find(state, code, locale).await?;
    match clients::find(&state.db, client_id).await {
        Ok(Some(client)) if client.application_id.as_ref() == Some(&application.id) && client.secret_hash.is_some() => {
            Ok((application, client))
        }
        Ok(_) => Err(super::not_found(state, locale)),
        Err(error) => Err(PageError::from(error).render(state, locale)),
    }
}

/// Gives a client a new secret, shown once, once the administrator confirmed: the old
/// one stops working at once.
pub async fn new_secret(
    State(state): State<AppState>,
    admin: ConsoleAdmin,
    jar: CookieJar,
    headers: HeaderMap,
    Path((code, client_id)): Path<(String, String)>,
    form: Submitted,
) -> Result<Response, Response> {
    let locale = request::locale(&headers, None);
    let failed = |error: DomainError| PageError::from(error).render(&state, locale);
    let (application, client) = confidential_client(&state, &code, &client_id, locale).await?;
    if !confirmation::given(&form) {
        if crate::web::flash::is_navigation(&headers) {
            return Ok(Redirect::to(&secret_path(&application.code, &client.client_id)).into_response());
        }
        return Ok(ask_new_secret(&state, &jar, locale, &form, &application.code, &client.client_id));
    }
    let secret = clients::generate_secret();
    let input = ClientInput {
        secret: Some(SecretInput::Plain(secret.clone())),
        ..ClientInput::from_client(&client, Some(application.code.clone()))
    };
    clients::upsert(&state.db, &state.client_secrets, input, state.clock.now()).await.map_err(failed)?;
    state.client_cache.forget(&client.client_id);
    admin_api::record_change(
        &state,
        &admin.0,
        "admin.client.secret_rotated",
        None,
        json!({"client_id": client.client_id}),
        Value::Null,
    )
    .await;
    let shown = Shown { secret: Some((client.client_id.clone(), secret)), ..Shown::default() };
    Ok(answer(&state, &admin, jar, &headers, locale, &application, shown).await)
}
