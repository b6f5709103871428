//! What the second-factor pages (enrollment, verification) share: finding the pending
//! login behind `tx` at a second-factor stage, with its account, and the common answers.

use axum::{
    extract::{FromRequest, FromRequestParts, Request},
    http::{HeaderMap, request::Parts},
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

use super::extract::{CsrfForm, CsrfProtected};
use super::login_flow as flow;
use super::{
    csrf,
    i18n::Locale,
    page_error::PageError,
    request::{self, ClientIp},
};
use crate::accounts::{self, Account};
use crate::audit::{self, AuditEvent};
use crate::clients::Client;
use crate::domain::DomainError;
use crate::lockout::throttle::{self, Gate};
use crate::login::{FactorStep, Pending, Stage};
use crate::state::AppState;

/// A pending login waiting for a second factor.
pub struct FactorLogin {
    pub pending: Pending,
    pub client: Client,
    pub account: Account,
    pub step: FactorStep,
    pub locale: Locale,
}

impl FactorLogin {
    /// The "sign-in expired" page of this login, leading back to its application.
    pub fn expired(&self, state: &AppState) -> Response {
        let back = flow::back_of(&self.client, &self.pending.request.redirect_uri);
        PageError::expired_login().back_to(Some(back)).render(state, self.locale)
    }

    /// Sends the browser to wherever the login really is now.
    pub fn to_current(&self) -> Response {
        Redirect::to(&self.pending.url()).into_response()
    }

    /// The second factor is proven, as `amr` says: the login goes on with a two-factor
    /// session (consent, then the code).
    pub async fn complete<S: AsRef<str>>(
        self,
        state: &AppState,
        jar: CookieJar,
        headers: &HeaderMap,
        amr: &[S],
        now: i64,
    ) -> Response {
        let amr: Vec<&str> = amr.iter().map(AsRef::as_ref).collect();
        let acr = crate::auth::acr::MULTI_FACTOR;
        flow::complete_login(state, jar, headers, self.pending, self.client, self.account, &amr, acr, now).await
    }

    /// Where this login's forms may lead the browser: the application's redirect URI.
    pub fn form_target(&self) -> Option<&str> {
        Some(&self.pending.request.redirect_uri)
    }

    /// Reserves one guess of the account's second-factor budget before a code is
    /// checked; until when the second factor is locked when the guess is refused.
    pub async fn reserve_guess(&self, state: &AppState, now: i64) -> Result<Option<i64>, DomainError> {
        let budget = &state.config.two_factor;
        Ok(match crate::lockout::second_factor::reserve_guess(&state.db, &self.account.id, budget, now).await? {
            Gate::Closed { until } => Some(until),
            Gate::Open => None,
        })
    }

    /// What a locked second factor tells its user: for how long, or that an
    /// administrator must unlock it.
    pub fn locked_text(&self, state: &AppState, until: i64, now: i64) -> String {
        if throttle::is_until_unlocked(until) {
            return state.theme.message(self.locale, "verify_locked_until_unlocked");
        }
        let minutes = ((until - now).max(1) + 59) / 60;
        state.theme.message(self.locale, "verify_locked").replace("{minutes}", &minutes.to_string())
    }

    /// Records a security decision about this login in the audit trail.
    /// A message of the theme in the login's language.
    pub fn message(&self, state: &AppState, key: &str) -> String {
        state.theme.message(self.locale, key)
    }

    pub async fn audit(&self, state: &AppState, event: &str, ip: &ClientIp, detail: serde_json::Value, now: i64) {
        let event = AuditEvent {
            event,
            account_id: Some(&self.account.id),
            client_id: Some(&self.client.client_id),
            ip: ip.0.as_deref(),
            detail: Some(detail),
        };
        audit::record(&state.db, now, event).await;
    }
}

/// The pending login `tx` of this browser, if it is at a second-factor stage; otherwise
/// the answer to give (an expired page, or a redirect to the stage it is at).
pub async fn load(
    state: &AppState,
    jar: &CookieJar,
    headers: &HeaderMap,
    tx: Option<&str>,
    now: i64,
) -> Result<FactorLogin, Response> {
    let fallback = request::locale(headers, None);
    let Some(tx) = tx else { return Err(PageError::expired_login().render(state, fallback)) };
    let (pending, client) = match flow::load_pending(state, jar, tx, now).await {
        Ok(Some(found)) => found,
        Ok(None) => return Err(flow::expired(state, tx).await.render(state, fallback)),
        Err(error) => return Err(PageError::from(error).render(state, fallback)),
    };
    let Stage::SecondFactor { account_id, step } = &pending.stage else {
        return Err(Redirect::to(&pending.url()).into_response());
    };
    let account = match accounts::find_by_id(&state.db, account_id).await {
        Ok(Some(account)) if !account.archived => account,
        Ok(_) => {
            let back = flow::back_of(&client, &pending.request.redirect_uri);
            return Err(PageError::expired_login().back_to(Some(back)).render(state, fallback));
        }
        Err(error) => return Err(PageError::from(error).render(state, fallback)),
    };
    let locale = request::locale(headers, pending.request.ui_locales.as_deref());
    let step = step.clone();
    Ok(FactorLogin { pending, client, account, step, locale })
}

/// The login in progress of a second-factor page, named by the `tx` of its query: the
/// handler runs only for a login at a second-factor stage (else the expired page or a
/// redirect to where the login is).
pub struct AtFactorStage(pub FactorLogin);

impl FromRequestParts<AppState> for AtFactorStage {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(&parts.headers);
        let query = parts.uri.query().unwrap_or_default();
        let tx = url::form_urlencoded::parse(query.as_bytes()).find(|(name, _)| name == "tx").map(|(_, v)| v);
        Ok(Self(load(state, &jar, &parts.headers, tx.as_deref(), state.clock.now()).await?))
    }
}

/// A form of a second-factor page: it names its login by `tx`.
pub trait NamesLogin {
    fn tx(&self) -> &str;
}

/// A CSRF-checked form of a second-factor page and its login in progress.
pub struct FactorForm<T>(pub FactorLogin, pub T);

impl<T> FromRequest<AppState> for FactorForm<T>
where
    T: DeserializeOwned + CsrfProtected + NamesLogin + Send,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let jar = CookieJar::from_headers(request.headers());
        let headers = request.headers().clone();
        let CsrfForm(form) = CsrfForm::<T>::from_request(request, state).await?;
        let login = load(state, &jar, &headers, Some(form.tx()), state.clock.now()).await?;
        Ok(Self(login, form))
    }
}

/// The refusal of a form whose anti-CSRF token does not belong to this browser.
pub fn csrf_refusal(state: &AppState, jar: &CookieJar, headers: &HeaderMap, submitted: &str) -> Option<Response> {
    if csrf::verify(state, jar, submitted) {
        return None;
    }
    Some(PageError::csrf().render(state, request::locale(headers, None)))
}

/// The anti-CSRF token for this browser's forms.
pub fn csrf_token(state: &AppState, jar: &CookieJar) -> String {
    csrf::token(state, jar)
}

/// `pauline@etude.example` → `p•••••e@etude.example`: enough for the owner to recognise.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let mut chars = local.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            let last = if local.chars().count() > 2 {
                chars.last().map(String::from).unwrap_or_default()
            } else {
                String::new()
            };
            format!("{first}•••{last}@{domain}")
        }
        None => "•••".into(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn masked_email_keeps_the_domain() {
        assert_eq!(super::mask_email("pauline@etude.example"), "p•••e@etude.example");
        assert_eq!(super::mask_email("pl@etude.example"), "p•••@etude.example");
    }
}
