//! The language of the account's messages, chosen by its owner on the security page
//! (`POST /account/language`): French or English. Every mail and text message to the
//! account is then written in it, whatever the language of the page that caused it.
//! Harmless to the account's safety, like the method offered first: no fresh sign-in.

use axum::{extract::State, http::HeaderMap, response::Response};
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use serde_json::{Value, json};

use super::account::{ACCOUNT_CLIENT_ID, render_outcome, signed_in};
use super::extract::{CsrfForm, CsrfProtected, PageLocale};
use super::page_error::PageError;
use crate::accounts::{self, Account};
use crate::audit::{self, AuditEvent};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LanguageForm {
    csrf_token: String,
    #[serde(default)]
    language: String,
}

impl CsrfProtected for LanguageForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// What the page's form shows: the language in use, and whether the owner chose it.
pub fn context(account: &Account) -> Value {
    json!({"code": account.locale().code(), "chosen": account.language.is_some()})
}

pub async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    PageLocale(locale): PageLocale,
    CsrfForm(form): CsrfForm<LanguageForm>,
) -> Response {
    let now = state.clock.now();
    let (session, mut account, _) = match signed_in(&state, &jar, now).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Ok(language) = accounts::parse_language(&form.language) else {
        let error = state.theme.message(locale, "reason_language_unknown");
        return render_outcome(&state, jar, &headers, locale, &session, &account, Err(error)).await;
    };
    if account.language != Some(language) {
        if let Err(error) = accounts::set_language(&state.db, &account.id, language, now).await {
            return PageError::from(error).render(&state, locale);
        }
        let event = AuditEvent {
            event: "account.language_changed",
            account_id: Some(&account.id),
            client_id: Some(ACCOUNT_CLIENT_ID),
            detail: Some(json!({"language": language.code()})),
            ..Default::default()
        };
        audit::record(&state.db, now, event).await;
        account.language = Some(language);
    }
    let notice = state.theme.message(locale, "account_language_saved");
    render_outcome(&state, jar, &headers, locale, &session, &account, Ok(notice)).await
}
