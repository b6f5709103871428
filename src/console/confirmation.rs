//! The confirmation step of the console's actions that cannot be taken back (archiving an
//! account, resetting its second factors, giving a client a new secret): the button posts
//! without `confirm`, and the answer is a page that says what will happen, whose form
//! posts the same fields with `confirm=yes`. The server acts only on the second post, so
//! that nothing depends on JavaScript, and a script that posts without confirming does
//! nothing.

use axum::{http::StatusCode, response::Response};
use axum_extra::extract::CookieJar;
use serde_json::{Value, json};

use super::form::Submitted;
use crate::state::AppState;
use crate::web::{csrf, i18n::Locale, page_error::html_page};

/// The field that confirms, and its value.
pub const FIELD: &str = "confirm";
const YES: &str = "yes";

/// Whether the form confirms its action.
pub fn given(form: &Submitted) -> bool {
    form.get(FIELD) == YES
}

/// What is asked: the words (`console_confirm_{key}_title`, `…_question`,
/// `…_consequence`, `…_button`, in which `{name}` is the account or client), where the
/// confirmed form posts, and where cancelling goes back to.
pub struct Asked {
    pub key: &'static str,
    pub name: String,
    pub action: String,
    pub back: String,
}

/// The confirmation page (200: nothing was done).
pub fn page(state: &AppState, jar: &CookieJar, locale: Locale, form: &Submitted, asked: Asked) -> Response {
    let words = |part: &str| {
        state.theme.message(locale, &format!("console_confirm_{}_{part}", asked.key)).replace("{name}", &asked.name)
    };
    let mut carried: Vec<(&str, &str)> =
        form.fields().filter(|(name, _)| *name != csrf::FIELD && *name != FIELD).collect();
    carried.sort_unstable();
    let carried: Vec<Value> = carried.into_iter().map(|(name, value)| json!({"name": name, "value": value})).collect();
    let context = json!({
        "csrf_token": csrf::token(state, jar),
        "title": words("title"),
        "question": words("question"),
        "consequence": words("consequence"),
        "button": words("button"),
        "action": asked.action,
        "back": asked.back,
        "carried": carried,
        "confirm_field": FIELD,
        "confirm_value": YES,
    });
    html_page(state, locale, "admin_confirm.html", context, StatusCode::OK)
}
