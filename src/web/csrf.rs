//! Anti-CSRF tokens for every form. The browser carries a random id in an HttpOnly
//! cookie; a form's token is an HMAC of that id under a key derived from the master key.
//! A forged cross-site form cannot know the token; a token from another browser fails.

use axum_extra::extract::CookieJar;

use super::cookies;
use crate::crypto;

pub const BROWSER_COOKIE: &str = "sesame_browser";
pub const FIELD: &str = "csrf_token";

/// The browser id, creating the cookie if the browser has none yet.
pub fn ensure_browser(jar: CookieJar, secure: bool) -> (CookieJar, String) {
    if let Some(id) = browser_id(&jar) {
        return (jar, id);
    }
    let id = crypto::random_token();
    let jar = jar.add(cookies::build(BROWSER_COOKIE, id.clone(), secure, Some(400 * 24 * 3600)));
    (jar, id)
}

pub fn browser_id(jar: &CookieJar) -> Option<String> {
    jar.get(BROWSER_COOKIE).map(|c| c.value().to_string()).filter(|v| v.len() >= 32)
}

/// What the browser id binds server-side records to (stored hashed).
pub fn browser_hash(browser_id: &str) -> String {
    crypto::token_hash(browser_id)
}

pub fn token(key: &[u8; 32], browser_id: &str) -> String {
    crypto::keyed_hash(key, "csrf", browser_id.as_bytes())
}

pub fn verify(key: &[u8; 32], jar: &CookieJar, submitted: &str) -> bool {
    browser_id(jar).is_some_and(|id| crypto::constant_time_eq(token(key, &id).as_bytes(), submitted.as_bytes()))
}
