//! The transitions of a login: each takes what the login knows so far and returns what
//! happens next as an [`Outcome`], never an HTTP response.

use serde_json::json;

use super::code;
use super::consent::{self, Decision, Interaction};
use super::pending;
use super::request::{AuthorizationRequest, ErrorRedirect};
use super::stage::{EnrollPage, FactorStep, Pending, Stage};
use crate::accounts::{self, Account};
use crate::audit::{self, AuditEvent};
use crate::auth::{
    acr,
    session::{self, Session},
};
use crate::clients::{Client, ClientCache};
use crate::config::{SessionConfig, TokenConfig, TwoFactorConfig};
use crate::crypto::{self, secretbox::SecretBox};
use crate::domain::DomainError;
use crate::second_factor::{
    self,
    policy::{LoginFacts, Requirement},
};
use crate::storage::Db;

/// What a transition needs: the database, the settings it reads, the key that seals
/// logins waiting for their password, and the time.
pub struct Context<'a> {
    pub db: &'a Db,
    pub tokens: &'a TokenConfig,
    pub two_factor: &'a TwoFactorConfig,
    pub session: &'a SessionConfig,
    pub secrets: &'a SecretBox,
    /// Clients as this node keeps them (read again after `client_cache_ttl` seconds).
    pub clients: &'a ClientCache,
    pub now: i64,
}

/// What happens next in a login.
#[derive(Debug)]
pub enum Outcome {
    /// Go to this Sésame page (the login's next stage).
    Next(String),
    /// The login is done: send this code to the client.
    /// (Boxed: the request is by far the largest of the outcomes.)
    Code { request: Box<AuthorizationRequest>, code: String },
    /// Send this error to the client.
    ToClient(ErrorRedirect),
    /// Refuse with a page that says why, and links back to the client.
    Refused(Refusal),
    /// The login in progress is gone: used in another tab, replayed, or expired.
    Expired,
    /// A new session was opened (its cookie `token`, for `account_id`); then `then`,
    /// whose failure must not lose the session.
    SessionOpened { token: String, account_id: String, then: Result<Box<Outcome>, DomainError> },
}

/// Why a login was refused after the user was identified.
#[derive(Debug)]
pub enum Refusal {
    /// The account has no access to the client's application.
    NoAccess { application: String, back: ErrorRedirect },
    /// A second factor is required and cannot be enrolled now (`reason` is a stable code).
    CannotEnroll { reason: &'static str, back: ErrorRedirect },
}

impl Context<'_> {
    /// When a login in progress stored or moved now expires.
    fn request_expiry(&self) -> i64 {
        self.now + self.tokens.authorization_request_ttl
    }

    /// The pending login `tx` of the browser whose id hashes to `browser_hash`, with its
    /// client, if it is still there.
    pub async fn load(&self, browser_hash: &str, tx: &str) -> Result<Option<(Pending, Client)>, DomainError> {
        let Some(pending) = pending::load(self.db, self.secrets, browser_hash, tx, self.now).await? else {
            return Ok(None);
        };
        let client = self.clients.get(self.db, &pending.request.client_id, self.now).await?;
        Ok(client.map(|client| (pending, Client::clone(&client))))
    }

    /// Moves a pending login to `stage`; `None` when another tab or a replayed form
    /// moved it first.
    pub async fn advance(&self, pending: &Pending, stage: Stage) -> Result<Option<Pending>, DomainError> {
        pending::advance(self.db, pending, stage, self.request_expiry(), self.now).await
    }

    /// Consumes a pending login; false when it was already used.
    pub async fn take(&self, pending: &Pending) -> Result<bool, DomainError> {
        pending::take(self.db, pending, self.request_expiry(), self.now).await
    }

    /// The live session behind a cookie token, and its account if not archived.
    pub async fn session_of(&self, token: &str) -> Result<Option<(Session, Account)>, DomainError> {
        let Some(session) = session::find_active(self.db, token, self.now, self.session).await? else {
            return Ok(None);
        };
        match accounts::find_by_id(self.db, &session.account_id).await? {
            Some(account) if !account.archived => Ok(Some((session, account))),
            _ => Ok(None),
        }
    }

    /// Whether this login needs a second factor, and which way.
    pub async fn requirement_for(
        &self,
        account: &Account,
        client: &Client,
        request: &AuthorizationRequest,
    ) -> Result<Requirement, DomainError> {
        let enrolled = !second_factor::factors_of(self.db, &account.id).await?.is_empty();
        let facts = LoginFacts {
            enrolled,
            client_requires: client.require_two_factor,
            request_asks: request.acr_values.iter().any(|value| value == acr::MULTI_FACTOR || value == acr::STRONG),
            admin_login: self.two_factor.required_for_admins
                && account.account_admin
                && request.scopes.iter().any(|scope| scope == crate::admin_api::SCOPE),
        };
        Ok(second_factor::policy::requirement(account, &facts, self.two_factor, self.now))
    }

    async fn audit(&self, event: &'static str, account: &Account, client: &Client, detail: serde_json::Value) {
        let event = AuditEvent {
            event,
            account_id: Some(&account.id),
            client_id: Some(&client.client_id),
            detail: Some(detail),
            ..Default::default()
        };
        audit::record(self.db, self.now, event).await;
    }
}

/// A validated authorization request arrives from the browser `browser_hash`, with the
/// browser's current session if it has one.
pub async fn start(
    cx: &Context<'_>,
    browser_hash: &str,
    current: Option<(Session, Account)>,
    client: Client,
    request: AuthorizationRequest,
) -> Result<Outcome, DomainError> {
    let usable = current.filter(|(session, account)| {
        !request.has_prompt("login")
            && request.max_age.is_none_or(|max_age| cx.now - session.auth_time <= max_age)
            && request.hinted_subject.as_ref().is_none_or(|sub| {
                // The hint's `sub` is the one the client knows the account by.
                *sub == crate::oidc::subject::for_client(&crate::oidc::subject::key(cx.secrets), &client, &account.id)
            })
    });
    match usable {
        Some((session, account)) if !acr::satisfies(&session.acr, &session.amr, &request.acr_values) => {
            match cx.requirement_for(&account, &client, &request).await? {
                Requirement::PasswordOnly => {
                    proceed(cx, browser_hash, &client, request, &session, &account, Interaction::Silent).await
                }
                _ if request.has_prompt("none") => Ok(Outcome::ToClient(
                    request.error("interaction_required", "a second factor is required; retry without prompt=none"),
                )),
                requirement => to_second_factor(cx, browser_hash, None, &client, request, &account, requirement).await,
            }
        }
        Some((session, account)) => {
            proceed(cx, browser_hash, &client, request, &session, &account, Interaction::Silent).await
        }
        None if request.has_prompt("none") => {
            Ok(Outcome::ToClient(request.error("login_required", "the user must log in; retry without prompt=none")))
        }
        None => Ok(match pending::seal(cx.secrets, browser_hash, request, cx.request_expiry()) {
            Ok(tx) => Outcome::Next(format!("/login?tx={tx}")),
            Err(refusal) => Outcome::ToClient(refusal),
        }),
    }
}

/// The password of `account` was right: straight on when it is enough, else to the
/// second factor.
pub async fn after_password(
    cx: &Context<'_>,
    previous_session: Option<&str>,
    pending: Pending,
    client: Client,
    account: Account,
) -> Result<Outcome, DomainError> {
    let requirement = cx.requirement_for(&account, &client, &pending.request).await?;
    if requirement == Requirement::PasswordOnly {
        return complete(cx, previous_session, pending, client, account, &["pwd"], acr::PASSWORD).await;
    }
    let request = pending.request.clone();
    let browser_hash = pending.browser_hash.clone();
    to_second_factor(cx, &browser_hash, Some(&pending), &client, request, &account, requirement).await
}

/// Moves the login to the first second-factor page the requirement calls for (or stores
/// a new one, for a step-up of an existing session).
async fn to_second_factor(
    cx: &Context<'_>,
    browser_hash: &str,
    pending: Option<&Pending>,
    client: &Client,
    request: AuthorizationRequest,
    account: &Account,
    requirement: Requirement,
) -> Result<Outcome, DomainError> {
    let step = match requirement {
        Requirement::PasswordOnly | Requirement::Verify => FactorStep::Verify,
        Requirement::Enroll { confirm_by_email } => FactorStep::Enroll { page: EnrollPage::Intro, confirm_by_email },
        Requirement::CannotEnroll(refusal) => {
            let reason = refusal.code();
            cx.audit("second_factor.enrollment_refused", account, client, json!({"reason": reason})).await;
            let back = request.error("access_denied", "a second factor is required and cannot be enrolled now");
            return Ok(Outcome::Refused(Refusal::CannotEnroll { reason, back }));
        }
    };
    let stage = Stage::SecondFactor { account_id: account.id.clone(), step };
    let moved = match pending {
        Some(pending) => cx.advance(pending, stage).await?,
        None => Some(pending::save(cx.db, browser_hash, &request, stage, cx.request_expiry(), cx.now).await?),
    };
    Ok(moved.map_or(Outcome::Expired, |moved| Outcome::Next(moved.url())))
}

/// The user is authenticated as `amr` says: consume the pending login, open a new
/// session in place of the browser's previous one (its cookie token
/// `previous_session`; against fixation: prompt=login, max_age and step-up all end
/// here), then access, consent and the code.
pub async fn complete(
    cx: &Context<'_>,
    previous_session: Option<&str>,
    pending: Pending,
    client: Client,
    account: Account,
    amr: &[&str],
    acr: &str,
) -> Result<Outcome, DomainError> {
    if !cx.take(&pending).await? {
        return Ok(Outcome::Expired);
    }
    if let Some(previous) = previous_session {
        session::delete(cx.db, &crypto::token_hash(previous)).await?;
    }
    let (token, session) = session::create(cx.db, &account.id, amr, acr, cx.now, cx.session).await?;
    let then =
        proceed(cx, &pending.browser_hash, &client, pending.request, &session, &account, Interaction::SignedIn).await;
    Ok(Outcome::SessionOpened { token, account_id: account.id, then: then.map(Box::new) })
}

/// With an authenticated user: check access, then consent, then issue the code.
pub async fn proceed(
    cx: &Context<'_>,
    browser_hash: &str,
    client: &Client,
    request: AuthorizationRequest,
    session: &Session,
    account: &Account,
    interaction: Interaction,
) -> Result<Outcome, DomainError> {
    // A request that named its account by `claims` sub (OIDC Core 5.5.1) gets no token
    // about another one, whoever signed in.
    if let Some(required) = request.claims.as_ref().and_then(|claims| claims.required_subject()) {
        let key = crate::oidc::subject::key(cx.secrets);
        if required != crate::oidc::subject::for_client(&key, client, &account.id) {
            cx.audit("authorize.subject_mismatch", account, client, json!({})).await;
            let why = "the account that signed in is not the one the request named (claims sub)";
            return Ok(Outcome::ToClient(request.error("access_denied", why)));
        }
    }
    match consent::decide(cx.db, client, &request, account, interaction).await? {
        Decision::NoAccess { application } => {
            cx.audit("authorize.access_denied", account, client, json!({"application": application})).await;
            let back = request.error("access_denied", format!("this account has no access to {application}"));
            Ok(if request.has_prompt("none") {
                Outcome::ToClient(back)
            } else {
                Outcome::Refused(Refusal::NoAccess { application, back })
            })
        }
        Decision::Consent if request.has_prompt("none") => Ok(Outcome::ToClient(
            request.error("consent_required", "the user must approve this application; retry without prompt=none"),
        )),
        Decision::Consent => {
            let stage = Stage::Consent { session_id: session.id.clone() };
            let saved = pending::save(cx.db, browser_hash, &request, stage, cx.request_expiry(), cx.now).await?;
            Ok(Outcome::Next(saved.url()))
        }
        Decision::Issue => {
            let expires_at = cx.now + crate::oidc::fapi2::code_lifetime(client, cx.tokens.authorization_code_ttl);
            let code = code::issue(cx.db, &request, session, expires_at, cx.now).await?;
            Ok(Outcome::Code { request: Box::new(request), code })
        }
    }
}

/// The user answered the consent page for the pending login: consumed once; a refusal
/// goes back to the client, an approval is recorded and the login goes on.
pub async fn answer_consent(
    cx: &Context<'_>,
    pending: Pending,
    client: Client,
    current: Option<(Session, Account)>,
    allow: bool,
) -> Result<Outcome, DomainError> {
    if !cx.take(&pending).await? {
        return Ok(Outcome::Expired);
    }
    let Some((session, account)) = current else { return Ok(Outcome::Expired) };
    if !allow {
        return Ok(Outcome::ToClient(
            pending.request.error("access_denied", "the user declined to share their identity"),
        ));
    }
    consent::grant(cx.db, &account.id, &client.client_id, &pending.request.scopes, cx.now).await?;
    proceed(cx, &pending.browser_hash, &client, pending.request, &session, &account, Interaction::Consented).await
}
