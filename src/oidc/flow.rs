//! The login flow between the authorization request and the code: is there a session
//! good enough for this request, must the user log in, may the account open this
//! application, has the user consented, then the authorization code.
//!
//! A request waiting for the user is bound to the browser that started it and consumed
//! once. While it waits for the password it is stored nowhere: it travels sealed
//! (XChaCha20-Poly1305 under the master key) in the `tx` of the login page's URL, so that
//! a flood of unauthenticated authorization requests writes no database row. Once the
//! password is right it is stored (`authorization_requests`, keyed by the id sealed
//! inside) and later stages read it from there. It is a state machine: its
//! stage says what the user must do next (password, second factor, enrollment step,
//! consent), every move is a compare-and-swap on the stored stage, and each page only
//! acts on the stage it was drawn for, so no step can be skipped by going to a later URL,
//! going back, replaying a form or racing two tabs.

use axum::{
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::authorize::AuthorizationRequest;
use super::response;
use crate::accounts::{self, Account};
use crate::app::AppState;
use crate::applications;
use crate::auth::{
    acr,
    known_browser::{self, KnownBrowser},
    session::{self, Session},
};
use crate::clients::{self, Client};
use crate::crypto;
use crate::domain::{DomainError, to_json_text};
use crate::second_factor::{
    self,
    policy::{LoginFacts, Requirement},
};
use crate::storage::entities::{authorization_code, authorization_request, consent, session_client};
use crate::web::{csrf, page_error::PageError, request};

/// What a stored request waits for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "stage", rename_all = "snake_case")]
pub enum Stage {
    Login,
    /// The password of `account_id` was right (or its session is only password-strong);
    /// a second factor is due.
    SecondFactor {
        account_id: String,
        step: FactorStep,
    },
    /// The user is logged in (this session) and must approve the client.
    Consent {
        session_id: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FactorStep {
    /// Prove one of the account's second factors.
    Verify,
    /// Enroll a first authenticator, page by page.
    Enroll { page: EnrollPage, confirm_by_email: bool },
    /// The second factor is proven (`amr` says how); a page tells the user something
    /// before the login continues.
    Passed { amr: Vec<String>, notice: Notice },
}

/// The enrollment pages, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "page", rename_all = "snake_case")]
pub enum EnrollPage {
    Intro,
    Install,
    AddAccount,
    /// The secret being enrolled, and the wrong codes typed for it so far.
    Scan {
        factor_id: String,
        wrong: u32,
    },
    /// The code was right; the mailed code must confirm it.
    Email {
        factor_id: String,
    },
}

impl EnrollPage {
    /// The page's name in its URL (`/login/enroll/{name}`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Intro => "intro",
            Self::Install => "install",
            Self::AddAccount => "add",
            Self::Scan { .. } => "scan",
            Self::Email { .. } => "email",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "notice", rename_all = "snake_case")]
pub enum Notice {
    /// Enrollment finished: the "Done" page.
    Enrolled,
    /// A recovery code was used; this many are left.
    RecoveryUsed { remaining: u64 },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub id: String,
    pub request: AuthorizationRequest,
    pub stage: Stage,
    /// The stored text this was read from (empty while only sealed): a move is made only
    /// if it is still the same.
    #[serde(skip)]
    pub stored: String,
    /// Hash of the id of the browser it is bound to.
    #[serde(skip)]
    pub browser_hash: String,
    /// The sealed form it came in, while it is stored nowhere else (see `tx`).
    #[serde(skip)]
    pub sealed: Option<String>,
}

impl Pending {
    /// What pages and forms name it by: its sealed form until it is stored, then its id.
    pub fn tx(&self) -> &str {
        match &self.sealed {
            Some(sealed) if self.stored.is_empty() => sealed,
            _ => &self.id,
        }
    }

    /// Where the browser goes for this request's current stage.
    pub fn url(&self) -> String {
        let id = self.tx();
        match &self.stage {
            Stage::Login => format!("/login?tx={id}"),
            Stage::Consent { .. } => format!("/consent?tx={id}"),
            Stage::SecondFactor { step: FactorStep::Verify, .. } => format!("/login/verify?tx={id}"),
            Stage::SecondFactor { step: FactorStep::Enroll { page, .. }, .. } => {
                format!("/login/enroll/{}?tx={id}", page.name())
            }
            Stage::SecondFactor { step: FactorStep::Passed { notice: Notice::Enrolled, .. }, .. } => {
                format!("/login/enroll/done?tx={id}")
            }
            Stage::SecondFactor { step: FactorStep::Passed { .. }, .. } => format!("/login/verify/notice?tx={id}"),
        }
    }
}

/// Entry from the authorization endpoint with a validated request.
pub async fn start(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    client: Client,
    request: AuthorizationRequest,
    now: i64,
) -> Response {
    let current = match current_session(state, &jar, now).await {
        Ok(current) => current,
        Err(error) => {
            return PageError::from(error).render(state, request::locale(headers, request.ui_locales.as_deref()));
        }
    };
    let usable = current.filter(|(session, account)| {
        !request.has_prompt("login")
            && request.max_age.is_none_or(|max_age| now - session.auth_time <= max_age)
            && request.hinted_subject.as_ref().is_none_or(|sub| sub == &account.id)
    });
    match usable {
        Some((session, account)) if !acr::satisfies(&session.acr, &session.amr, &request.acr_values) => {
            let locale = request::locale(headers, request.ui_locales.as_deref());
            match requirement_for(state, &account, &client, &request, now).await {
                Ok(Requirement::PasswordOnly) => {
                    proceed(state, jar, headers, client, request, session, account, false, now).await
                }
                Ok(_) if request.has_prompt("none") => request
                    .error("interaction_required", "a second factor is required; retry without prompt=none")
                    .into_response(state),
                Ok(requirement) => {
                    let (jar, browser) = csrf::ensure_browser(state, jar);
                    let response =
                        to_second_factor(state, locale, &browser, None, &client, request, &account, requirement, now)
                            .await;
                    (jar, response).into_response()
                }
                Err(error) => PageError::from(error).render(state, locale),
            }
        }
        Some((session, account)) => proceed(state, jar, headers, client, request, session, account, false, now).await,
        None if request.has_prompt("none") => {
            request.error("login_required", "the user must log in; retry without prompt=none").into_response(state)
        }
        None => {
            let (jar, browser) = csrf::ensure_browser(state, jar);
            match seal_login(state, &browser, request, now) {
                Ok(tx) => (jar, Redirect::to(&format!("/login?tx={tx}"))).into_response(),
                Err(refusal) => refusal.into_response(state),
            }
        }
    }
}

/// The session behind the cookie and its account, if both are still valid.
pub async fn current_session(
    state: &AppState,
    jar: &CookieJar,
    now: i64,
) -> Result<Option<(Session, Account)>, DomainError> {
    let Some(token) = crate::web::cookies::get(jar, &state.config.session.cookie_name, state.config.secure_cookies())
    else {
        return Ok(None);
    };
    let Some(session) = session::find_active(&state.db, &token, now, &state.config.session).await? else {
        return Ok(None);
    };
    match accounts::find_by_id(&state.db, &session.account_id).await? {
        Some(account) if !account.archived => Ok(Some((session, account))),
        _ => Ok(None),
    }
}

/// With an authenticated user: check access, then consent, then issue the code.
#[allow(clippy::too_many_arguments)]
pub async fn proceed(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    client: Client,
    request: AuthorizationRequest,
    session: Session,
    account: Account,
    consent_given: bool,
    now: i64,
) -> Response {
    let locale = request::locale(headers, request.ui_locales.as_deref());
    // The jar may carry a session cookie set by the login that led here: every branch
    // answers with it.
    let (jar, browser) = csrf::ensure_browser(state, jar);
    let response = match decide(state, &client, &request, &account, consent_given).await {
        Err(error) => PageError::from(error).render(state, locale),
        Ok(Decision::NoAccess { application }) => {
            crate::audit::record(
                &state.db,
                now,
                crate::audit::AuditEvent {
                    event: "authorize.access_denied",
                    account_id: Some(&account.id),
                    client_id: Some(&client.client_id),
                    detail: Some(json!({"application": application})),
                    ..Default::default()
                },
            )
            .await;
            let refusal = request.error("access_denied", format!("this account has no access to {application}"));
            if request.has_prompt("none") {
                refusal.into_response(state)
            } else {
                let context = json!({
                    "title": state.theme.message(locale, "no_access_title"),
                    "message": state.theme.message(locale, "no_access"),
                    "application": application,
                    "back_url": response::to_client_url(state, &refusal),
                });
                crate::web::page_error::html_page(state, locale, "error.html", context, StatusCode::FORBIDDEN)
            }
        }
        Ok(Decision::Consent) if request.has_prompt("none") => request
            .error("consent_required", "the user must approve this application; retry without prompt=none")
            .into_response(state),
        Ok(Decision::Consent) => {
            match save_pending(state, &browser, &request, Stage::Consent { session_id: session.id.clone() }, now).await
            {
                Ok(id) => Redirect::to(&format!("/consent?tx={id}")).into_response(),
                Err(error) => PageError::from(error).render(state, locale),
            }
        }
        Ok(Decision::Issue) => match issue_code(state, &client, &request, &session, &account, now).await {
            Ok(code) => {
                let mut params = vec![("code", code)];
                if let Some(value) = &request.state {
                    params.push(("state", value.clone()));
                }
                response::to_client(state, &request.redirect_uri, request.response_mode, params)
            }
            Err(error) => PageError::from(error).render(state, locale),
        },
    };
    (jar, response).into_response()
}

enum Decision {
    NoAccess { application: String },
    Consent,
    Issue,
}

async fn decide(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    account: &Account,
    consent_given: bool,
) -> Result<Decision, DomainError> {
    let application = match &client.application_id {
        Some(id) => applications::find_by_id(&state.db, id).await?,
        None => None,
    };
    let access = accounts::access_of(&state.db, &account.id).await?;
    if !accounts::may_use(&access, application.as_ref()) {
        let name = application.map(|a| a.name).unwrap_or_default();
        return Ok(Decision::NoAccess { application: name });
    }
    if client.first_party || consent_given {
        return Ok(Decision::Issue);
    }
    if request.has_prompt("consent") {
        return Ok(Decision::Consent);
    }
    let granted = consent::Entity::find_by_id((account.id.clone(), client.client_id.clone())).one(&state.db).await?;
    let covered = granted.is_some_and(|g| {
        let granted: Vec<&str> = g.scopes.split_whitespace().collect();
        request.scopes.iter().all(|s| granted.contains(&s.as_str()))
    });
    Ok(if covered { Decision::Issue } else { Decision::Consent })
}

/// Records the user's approval of the client for these scopes.
pub async fn grant_consent(
    state: &AppState,
    account_id: &str,
    client_id: &str,
    scopes: &[String],
    now: i64,
) -> Result<(), DomainError> {
    consent::Entity::delete_by_id((account_id.to_string(), client_id.to_string())).exec(&state.db).await?;
    consent::ActiveModel {
        account_id: Set(account_id.to_string()),
        client_id: Set(client_id.to_string()),
        scopes: Set(scopes.join(" ")),
        granted_at: Set(now),
    }
    .insert(&state.db)
    .await?;
    Ok(())
}

async fn issue_code(
    state: &AppState,
    client: &Client,
    request: &AuthorizationRequest,
    session: &Session,
    account: &Account,
    now: i64,
) -> Result<String, DomainError> {
    let code = crypto::random_token();
    authorization_code::ActiveModel {
        code_hash: Set(crypto::token_hash(&code)),
        client_id: Set(client.client_id.clone()),
        account_id: Set(account.id.clone()),
        session_id: Set(session.id.clone()),
        redirect_uri: Set(request.redirect_uri.clone()),
        scope: Set(request.scopes.join(" ")),
        nonce: Set(request.nonce.clone()),
        code_challenge: Set(request.code_challenge.clone()),
        auth_time: Set(session.auth_time),
        // A client that asked for more than SMS and got it is told so.
        acr: Set(
            if acr::wants_strong(&request.acr_values) && acr::satisfies(&session.acr, &session.amr, &request.acr_values)
            {
                acr::STRONG.to_string()
            } else {
                session.acr.clone()
            },
        ),
        amr: Set(to_json_text(&session.amr)),
        sid: Set(session.sid.clone()),
        created_at: Set(now),
        expires_at: Set(now + state.config.tokens.authorization_code_ttl),
        used_at: Set(None),
    }
    .insert(&state.db)
    .await?;
    record_participant(state, &session.id, &client.client_id, now).await?;
    Ok(code)
}

/// Remembers that the client took part in the session, to tell it when the session ends.
async fn record_participant(state: &AppState, session_id: &str, client_id: &str, now: i64) -> Result<(), DomainError> {
    let row = session_client::ActiveModel {
        session_id: Set(session_id.to_string()),
        client_id: Set(client_id.to_string()),
        created_at: Set(now),
    };
    session_client::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                session_client::Column::SessionId,
                session_client::Column::ClientId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(&state.db)
        .await?;
    Ok(())
}

async fn save_pending(
    state: &AppState,
    browser: &str,
    request: &AuthorizationRequest,
    stage: Stage,
    now: i64,
) -> Result<String, DomainError> {
    let id = crypto::random_token();
    let pending = Pending {
        id: id.clone(),
        request: request.clone(),
        stage,
        stored: String::new(),
        browser_hash: String::new(),
        sealed: None,
    };
    authorization_request::ActiveModel {
        id: Set(id.clone()),
        client_id: Set(request.client_id.clone()),
        browser_hash: Set(csrf::browser_hash(browser)),
        request: Set(to_json_text(&pending)),
        created_at: Set(now),
        expires_at: Set(now + state.config.tokens.authorization_request_ttl),
    }
    .insert(&state.db)
    .await?;
    Ok(id)
}

/// A request waiting for the password, as sealed in the login page's `tx`.
#[derive(Serialize, Deserialize)]
struct SealedLogin {
    /// The id the request will be stored under once the password is right.
    id: String,
    request: AuthorizationRequest,
    browser_hash: String,
    expires_at: i64,
}

/// Associated data of sealed logins: a sealed value made for another purpose never opens.
const SEALED_LOGIN: &str = "pending-login";
/// Largest sealed request: it travels in URLs and forms.
const MAX_SEALED_REQUEST: usize = 6 * 1024;
/// What a consumed request's row holds until it expires, so that a replayed `tx` finds
/// it used.
const CONSUMED: &str = "consumed";

/// The `tx` of a new login: the request, sealed and bound to the browser.
fn seal_login(
    state: &AppState,
    browser: &str,
    request: AuthorizationRequest,
    now: i64,
) -> Result<String, super::response::ErrorRedirect> {
    let sealed = SealedLogin {
        id: crypto::random_token(),
        request,
        browser_hash: csrf::browser_hash(browser),
        expires_at: now + state.config.tokens.authorization_request_ttl,
    };
    let text = to_json_text(&sealed);
    if text.len() > MAX_SEALED_REQUEST {
        return Err(sealed.request.error("invalid_request", "the authorization request is too large"));
    }
    Ok(state.secrets.seal(text.as_bytes(), SEALED_LOGIN))
}

/// Whether a `tx` is a sealed login rather than the id of a stored request.
fn is_sealed(tx: &str) -> bool {
    tx.starts_with("v1.")
}

/// The pending request `tx`, if it exists, has not expired and belongs to this browser.
pub async fn load_pending(
    state: &AppState,
    jar: &CookieJar,
    tx: &str,
    now: i64,
) -> Result<Option<(Pending, Client)>, DomainError> {
    let Some(browser) = csrf::browser_id(state, jar) else {
        return Ok(None);
    };
    let browser_hash = csrf::browser_hash(&browser);
    let (id, sealed) = if is_sealed(tx) {
        let Some(sealed) = open_login(state, tx) else { return Ok(None) };
        let bound = crypto::constant_time_eq(sealed.browser_hash.as_bytes(), browser_hash.as_bytes());
        if sealed.expires_at <= now || !bound {
            return Ok(None);
        }
        (sealed.id.clone(), Some(sealed))
    } else {
        (tx.to_string(), None)
    };
    let row = authorization_request::Entity::find_by_id(id.clone()).one(&state.db).await?;
    let pending = match (row, sealed) {
        // Past the password (or another page's stage): the stored request rules.
        (Some(row), _) => {
            let bound = crypto::constant_time_eq(row.browser_hash.as_bytes(), browser_hash.as_bytes());
            if row.expires_at <= now || !bound {
                return Ok(None);
            }
            let Ok(mut pending) = serde_json::from_str::<Pending>(&row.request) else {
                return Ok(None);
            };
            pending.stored = row.request;
            pending.browser_hash = row.browser_hash;
            pending
        }
        (None, Some(sealed)) => Pending {
            id,
            request: sealed.request,
            stage: Stage::Login,
            stored: String::new(),
            browser_hash: sealed.browser_hash,
            sealed: Some(tx.to_string()),
        },
        (None, None) => return Ok(None),
    };
    let Some(client) = clients::find(&state.db, &pending.request.client_id).await? else {
        return Ok(None);
    };
    Ok(Some((pending, client)))
}

fn open_login(state: &AppState, tx: &str) -> Option<SealedLogin> {
    let text = state.secrets.open(tx, SEALED_LOGIN).ok()?;
    serde_json::from_slice(&text).ok()
}

/// Consumes a pending request: it can be completed once (a second tab, a replayed form
/// or a replayed sealed `tx` finds it used).
pub async fn take_pending(state: &AppState, pending: &Pending, now: i64) -> Result<bool, DomainError> {
    store_stage(state, pending, CONSUMED.to_string(), now).await
}

/// Moves a pending request to its next stage, if no other tab or replayed form moved it
/// first; `Ok(None)` when it had moved (the caller sends the browser to where it is now).
/// Each move gives the user the full request lifetime again: enrollment takes a while.
pub async fn advance(
    state: &AppState,
    pending: &Pending,
    stage: Stage,
    now: i64,
) -> Result<Option<Pending>, DomainError> {
    let next = Pending { stored: String::new(), stage, ..pending.clone() };
    let text = to_json_text(&next);
    Ok(store_stage(state, pending, text.clone(), now).await?.then_some(Pending { stored: text, ..next }))
}

/// Writes the request's next stored text by compare-and-swap: an insert for a request
/// that was only sealed so far (the id's uniqueness is the swap), else an update of the
/// exact text it was read from.
async fn store_stage(state: &AppState, pending: &Pending, text: String, now: i64) -> Result<bool, DomainError> {
    let expires_at = now + state.config.tokens.authorization_request_ttl;
    if pending.stored.is_empty() {
        let row = authorization_request::ActiveModel {
            id: Set(pending.id.clone()),
            client_id: Set(pending.request.client_id.clone()),
            browser_hash: Set(pending.browser_hash.clone()),
            request: Set(text),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        return match row.insert(&state.db).await {
            Ok(_) => Ok(true),
            Err(error) if crate::storage::is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        };
    }
    let result = authorization_request::Entity::update_many()
        .col_expr(authorization_request::Column::Request, sea_orm::sea_query::Expr::value(text))
        .col_expr(authorization_request::Column::ExpiresAt, sea_orm::sea_query::Expr::value(expires_at))
        .filter(authorization_request::Column::Id.eq(pending.id.clone()))
        .filter(authorization_request::Column::Request.eq(pending.stored.clone()))
        .exec(&state.db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Whether this login needs a second factor, and which way.
pub async fn requirement_for(
    state: &AppState,
    account: &Account,
    client: &Client,
    request: &AuthorizationRequest,
    now: i64,
) -> Result<Requirement, DomainError> {
    let enrolled = !second_factor::factors_of(&state.db, &account.id).await?.is_empty();
    let facts = LoginFacts {
        enrolled,
        client_requires: client.require_two_factor,
        request_asks: request.acr_values.iter().any(|value| value == acr::MULTI_FACTOR || value == acr::STRONG),
        admin_login: state.config.two_factor.required_for_admins
            && account.account_admin
            && request.scopes.iter().any(|scope| scope == crate::admin_api::SCOPE),
    };
    Ok(second_factor::policy::requirement(account, &facts, &state.config.two_factor, now))
}

/// After the password: straight on when it is enough, else to the second factor.
#[allow(clippy::too_many_arguments)]
pub async fn after_password(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    pending: Pending,
    client: Client,
    account: Account,
    now: i64,
) -> Response {
    let locale = request::locale(headers, pending.request.ui_locales.as_deref());
    let requirement = match requirement_for(state, &account, &client, &pending.request, now).await {
        Ok(requirement) => requirement,
        Err(error) => return PageError::from(error).render(state, locale),
    };
    if requirement == Requirement::PasswordOnly {
        return complete_login(state, jar, headers, pending, client, account, &["pwd"], acr::PASSWORD, now).await;
    }
    let Some(browser) = csrf::browser_id(state, &jar) else {
        return PageError::expired_login().render(state, locale);
    };
    let request = pending.request.clone();
    let response =
        to_second_factor(state, locale, &browser, Some(&pending), &client, request, &account, requirement, now).await;
    (jar, response).into_response()
}

/// Sends the browser to the first second-factor page the requirement calls for, moving
/// the pending request there (or creating one, for a step-up of an existing session).
#[allow(clippy::too_many_arguments)]
async fn to_second_factor(
    state: &AppState,
    locale: crate::web::i18n::Locale,
    browser: &str,
    pending: Option<&Pending>,
    client: &Client,
    request: AuthorizationRequest,
    account: &Account,
    requirement: Requirement,
    now: i64,
) -> Response {
    let step = match requirement {
        Requirement::PasswordOnly | Requirement::Verify => FactorStep::Verify,
        Requirement::Enroll { confirm_by_email } => FactorStep::Enroll { page: EnrollPage::Intro, confirm_by_email },
        Requirement::CannotEnroll(refusal) => {
            crate::audit::record(
                &state.db,
                now,
                crate::audit::AuditEvent {
                    event: "second_factor.enrollment_refused",
                    account_id: Some(&account.id),
                    client_id: Some(&client.client_id),
                    detail: Some(json!({"reason": refusal.code()})),
                    ..Default::default()
                },
            )
            .await;
            let refusal_redirect =
                request.error("access_denied", "a second factor is required and cannot be enrolled now");
            let context = json!({
                "title": state.theme.message(locale, "enroll_refused_title"),
                "message": state.theme.message(locale, &format!("reason_{}", refusal.code())),
                "back_url": response::to_client_url(state, &refusal_redirect),
            });
            return crate::web::page_error::html_page(state, locale, "error.html", context, StatusCode::FORBIDDEN);
        }
    };
    let stage = Stage::SecondFactor { account_id: account.id.clone(), step };
    let moved = match pending {
        Some(pending) => advance(state, pending, stage, now).await.map(|moved| moved.map(|p| p.url())),
        None => save_pending(state, browser, &request, stage.clone(), now).await.map(|id| {
            let stored =
                Pending { id, request, stage, stored: String::new(), browser_hash: String::new(), sealed: None };
            Some(stored.url())
        }),
    };
    match moved {
        Ok(Some(url)) => Redirect::to(&url).into_response(),
        Ok(None) => PageError::expired_login().render(state, locale),
        Err(error) => PageError::from(error).render(state, locale),
    }
}

/// The user is authenticated as `amr` says: consume the pending request, open a new
/// session in place of the browser's previous one (against fixation; prompt=login,
/// max_age and step-up all end here), then access, consent and the code.
#[allow(clippy::too_many_arguments)]
pub async fn complete_login(
    state: &AppState,
    jar: CookieJar,
    headers: &HeaderMap,
    pending: Pending,
    client: Client,
    account: Account,
    amr: &[&str],
    acr: &str,
    now: i64,
) -> Response {
    let locale = request::locale(headers, pending.request.ui_locales.as_deref());
    let opened = async {
        if !take_pending(state, &pending, now).await? {
            return Ok(None);
        }
        let secure = state.config.secure_cookies();
        if let Some(previous) = crate::web::cookies::get(&jar, &state.config.session.cookie_name, secure) {
            session::delete(&state.db, &crypto::token_hash(&previous)).await?;
        }
        session::create(&state.db, &account.id, amr, acr, now, &state.config.session).await.map(Some)
    };
    match opened.await {
        Ok(Some((token, session))) => {
            let secure = state.config.secure_cookies();
            let cookie = crate::web::cookies::build(&state.config.session.cookie_name, token, secure, None);
            // This browser is now known for the account: its password attempts get a
            // budget of their own (see `auth::known_browser`).
            let known = KnownBrowser::from_jar(&state.known_browser_key, &jar, secure).remember(&account.id);
            let known = crate::web::cookies::build(
                known_browser::COOKIE,
                known.to_cookie(&state.known_browser_key),
                secure,
                Some(known_browser::MAX_AGE),
            );
            let jar = jar.add(cookie).add(known);
            proceed(state, jar, headers, client, pending.request, session, account, false, now).await
        }
        Ok(None) => PageError::expired_login().render(state, locale),
        Err(error) => PageError::from(error).render(state, locale),
    }
}
