//! The browser's identity and the anti-CSRF tokens of every form.
//!
//! The browser carries a random id in an HttpOnly cookie, *signed by the server*: a
//! value the server did not give out (planted by a sibling site or chosen by an
//! attacker to fix a victim's browser id) fails the signature and is replaced, never
//! adopted. A form's token is an HMAC of that id under a key derived from the master
//! key: a forged cross-site form cannot know it, and a token from another browser fails.
//! Pending logins are bound to the id too (stored hashed).

use axum_extra::extract::CookieJar;

use crate::cookies;
use crate::crypto;
use crate::state::AppState;

pub const BROWSER_COOKIE: &str = "sesame_browser";
pub const FIELD: &str = "csrf_token";

/// The browser's id, giving it a new signed one when it has none (or a forged one).
pub fn ensure_browser(state: &AppState, jar: CookieJar) -> (CookieJar, String) {
    if let Some(id) = browser_id(state, &jar) {
        return (jar, id);
    }
    let id = crypto::random_token();
    let value = crypto::sign(&state.csrf_key, "browser-id", &id);
    let jar = jar.add(cookies::build(BROWSER_COOKIE, value, state.config.secure_cookies(), Some(400 * 24 * 3600)));
    (jar, id)
}

/// The id the server gave this browser, if its cookie is intact.
pub fn browser_id(state: &AppState, jar: &CookieJar) -> Option<String> {
    let value = cookies::get(jar, BROWSER_COOKIE, state.config.secure_cookies())?;
    crypto::open_signed(&state.csrf_key, "browser-id", &value).filter(|id| id.len() >= 32).map(str::to_string)
}

/// What the browser id binds server-side records to (stored hashed).
pub fn browser_hash(browser_id: &str) -> String {
    crypto::token_hash(browser_id)
}

/// The anti-CSRF token of this browser's forms (empty when it has no id yet).
pub fn token(state: &AppState, jar: &CookieJar) -> String {
    browser_id(state, jar).map(|id| token_for(state, &id)).unwrap_or_default()
}

/// The anti-CSRF token for a browser id just given out.
pub fn token_for(state: &AppState, browser_id: &str) -> String {
    crypto::keyed_hash(&state.csrf_key, "csrf", browser_id.as_bytes())
}

pub fn verify(state: &AppState, jar: &CookieJar, submitted: &str) -> bool {
    browser_id(state, jar)
        .is_some_and(|id| crypto::constant_time_eq(token_for(state, &id).as_bytes(), submitted.as_bytes()))
}
