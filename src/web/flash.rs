//! Post/Redirect/Get for the pages people fill in: a form submitted by a browser is
//! answered with `303 See Other` to the page of the step the login (or the account
//! page) is at, never with a page drawn in answer to the POST. Reloading or going back
//! then re-reads a page — no "Confirm form resubmission" — and lands on the current step.
//!
//! What the next page must say (a wrong code, a notice, the identifier typed) travels in
//! a short-lived cookie sealed by the master key (AEAD: the browser can neither read nor
//! forge it; the recovery codes shown once may travel in it), bound to the page's scope
//! (the login `tx`, or the account page) and read once.
//!
//! Only a browser's top-level navigation is redirected: it announces itself with Fetch
//! Metadata (`Sec-Fetch-Mode: navigate`, sent by every current browser). Scripted
//! clients and older browsers get the page with its status in answer to the POST, as
//! before, so that what a program observes (`401` for a wrong password…) is unchanged.

use axum::{
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
};
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};

use crate::cookies;
use crate::state::AppState;

pub const COOKIE: &str = "sesame_flash";
/// Long enough for a slow redirect, short enough that a message never shows up later.
const LIFETIME_SECONDS: i64 = 120;

/// What the page after a redirect shows.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq)]
pub struct Flash {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// What the page needs besides its messages (the identifier typed, the method
    /// chosen, recovery codes shown once), by name.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub fields: serde_json::Map<String, serde_json::Value>,
    /// Sealed with the rest: a value copied out of the browser is refused once past,
    /// whatever the cookie's own Max-Age.
    #[serde(default)]
    expires_at: i64,
}

impl Flash {
    pub fn error(text: impl Into<String>) -> Self {
        Self { error: Some(text.into()), ..Self::default() }
    }

    pub fn notice(text: impl Into<String>) -> Self {
        Self { notice: Some(text.into()), ..Self::default() }
    }

    /// A page's error and notice, either or both.
    pub fn messages(error: Option<String>, notice: Option<String>) -> Self {
        Self { error, notice, ..Self::default() }
    }

    pub fn with(mut self, name: &str, value: impl Serialize) -> Self {
        if let Ok(value) = serde_json::to_value(value) {
            self.fields.insert(name.to_string(), value);
        }
        self
    }

    /// A text field, empty when absent.
    pub fn text(&self, name: &str) -> &str {
        self.fields.get(name).and_then(|v| v.as_str()).unwrap_or_default()
    }

    /// A list of texts, empty when absent.
    pub fn texts(&self, name: &str) -> Vec<String> {
        self.field(name).unwrap_or_default()
    }

    /// A field of any shape, if present and of that shape.
    pub fn field<T: serde::de::DeserializeOwned>(&self, name: &str) -> Option<T> {
        self.fields.get(name).and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    pub fn flag(&self, name: &str) -> bool {
        self.fields.get(name).and_then(|v| v.as_bool()).unwrap_or(false)
    }
}

/// Whether this request is a person's form submission in a browser tab, to be
/// answered by a redirect (Fetch Metadata).
pub fn is_navigation(headers: &HeaderMap) -> bool {
    headers.get("sec-fetch-mode").is_some_and(|mode| mode.as_bytes().eq_ignore_ascii_case(b"navigate"))
}

/// `303 See Other` to `to`, whose page (of `scope`) will show `flash`.
pub fn redirect(state: &AppState, jar: CookieJar, scope: &str, to: &str, flash: &Flash) -> Response {
    let flash = Flash { expires_at: state.clock.now() + LIFETIME_SECONDS, ..flash.clone() };
    let jar = match serde_json::to_vec(&flash) {
        Ok(text) => {
            let sealed = state.secrets.seal(&text, &aad(scope));
            jar.add(cookies::build(COOKIE, sealed, state.config.secure_cookies(), Some(LIFETIME_SECONDS)))
        }
        Err(_) => jar,
    };
    (jar, Redirect::to(to)).into_response()
}

/// The flash left for the page of `scope`, read once: the returned jar removes it. A
/// flash of another scope (another login, a stale tab) is dropped, never shown.
pub fn take(state: &AppState, jar: CookieJar, scope: &str) -> (CookieJar, Option<Flash>) {
    let secure = state.config.secure_cookies();
    let Some(sealed) = cookies::get(&jar, COOKIE, secure) else { return (jar, None) };
    let now = state.clock.now();
    let flash = state
        .secrets
        .open(&sealed, &aad(scope))
        .ok()
        .and_then(|text| serde_json::from_slice::<Flash>(&text).ok())
        .filter(|flash| flash.expires_at > now);
    match flash {
        Some(flash) => (jar.remove(cookies::removal(COOKIE, secure)), Some(flash)),
        // Another page's flash stays for its page (two tabs), until it expires.
        None => (jar, None),
    }
}

fn aad(scope: &str) -> String {
    format!("flash:{scope}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_navigation_is_redirected() {
        let mut headers = HeaderMap::new();
        assert!(!is_navigation(&headers));
        headers.insert("sec-fetch-mode", "cors".parse().unwrap());
        assert!(!is_navigation(&headers));
        headers.insert("sec-fetch-mode", "navigate".parse().unwrap());
        assert!(is_navigation(&headers));
    }

    #[test]
    fn fields_read_back_as_written() {
        let flash = Flash::error("wrong").with("username", "Pauline").with("codes", ["a", "b"]).with("locked", true);
        let text = serde_json::to_vec(&flash).unwrap();
        let back: Flash = serde_json::from_slice(&text).unwrap();
        assert_eq!(back, flash);
        assert_eq!(back.text("username"), "Pauline");
        assert_eq!(back.texts("codes"), ["a", "b"]);
        assert!(back.flag("locked"));
        assert_eq!(back.text("absent"), "");
    }
}
