//! "Known browsers": a browser that completed a login for an account keeps a cookie,
//! signed by the server, saying so. Its password attempts for that account are counted
//! against a budget of its own, apart from everybody else's, so that an attacker who
//! exhausts the budget of unknown sources cannot keep the owner out
//! (OWASP, "Slow down online guessing attacks with device cookies").
//!
//! The cookie lists up to `MAX_ACCOUNTS` accounts (a shared office computer) with a
//! random nonce each: the nonce names the budget, so one stolen cookie is throttled on
//! its own. It holds account ids only, never a secret, and changing it breaks the MAC.

use axum_extra::extract::CookieJar;

use crate::crypto;

pub const COOKIE: &str = "sesame_known";
/// Kept as long as browsers allow (400 days).
pub const MAX_AGE: i64 = 400 * 86_400;
const MAX_ACCOUNTS: usize = 5;
const PURPOSE: &str = "known-browser";

/// The accounts this browser has completed a login for, most recent first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KnownBrowser {
    entries: Vec<(String, String)>,
}

impl KnownBrowser {
    /// What the browser's cookie vouches for; nothing when it is absent or forged.
    pub fn from_cookie(key: &[u8], value: Option<&str>) -> Self {
        let Some(payload) = value.and_then(|value| crypto::open_signed(key, PURPOSE, value)) else {
            return Self::default();
        };
        let entries = payload
            .split('~')
            .filter_map(|entry| entry.split_once(':'))
            .filter(|(account, nonce)| !account.is_empty() && !nonce.is_empty())
            .take(MAX_ACCOUNTS)
            .map(|(account, nonce)| (account.to_string(), nonce.to_string()))
            .collect();
        Self { entries }
    }

    /// Reads the cookie from the jar (its name depends on https, see `web::cookies`).
    pub fn from_jar(key: &[u8], jar: &CookieJar, secure: bool) -> Self {
        Self::from_cookie(key, crate::cookies::get(jar, COOKIE, secure).as_deref())
    }

    /// The nonce naming this browser's budget for the account, if it is known here.
    pub fn nonce_for(&self, account_id: &str) -> Option<&str> {
        self.entries.iter().find(|(account, _)| account == account_id).map(|(_, nonce)| nonce.as_str())
    }

    /// The browser completed a login for the account: it goes first (keeping its nonce).
    pub fn remember(mut self, account_id: &str) -> Self {
        let nonce = match self.entries.iter().position(|(account, _)| account == account_id) {
            Some(index) => self.entries.remove(index).1,
            None => crypto::random_id(),
        };
        self.entries.insert(0, (account_id.to_string(), nonce));
        self.entries.truncate(MAX_ACCOUNTS);
        self
    }

    /// The signed cookie value.
    pub fn to_cookie(&self, key: &[u8]) -> String {
        let payload: Vec<String> = self.entries.iter().map(|(account, nonce)| format!("{account}:{nonce}")).collect();
        crypto::sign(key, PURPOSE, &payload.join("~"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: [u8; 32] = [7; 32];

    #[test]
    fn a_remembered_account_is_vouched_for_with_the_same_nonce() {
        let browser = KnownBrowser::default().remember("a1").remember("b2");
        let value = browser.to_cookie(&KEY);
        let read = KnownBrowser::from_cookie(&KEY, Some(&value));
        assert_eq!(read, browser);
        let nonce = read.nonce_for("a1").unwrap().to_string();
        assert_eq!(read.clone().remember("a1").nonce_for("a1"), Some(nonce.as_str()));
        assert_eq!(read.nonce_for("c3"), None);
    }

    #[test]
    fn a_forged_or_foreign_cookie_vouches_for_nothing() {
        let value = KnownBrowser::default().remember("a1").to_cookie(&KEY);
        let forged = value.replace("a1", "a2");
        assert_eq!(KnownBrowser::from_cookie(&KEY, Some(&forged)), KnownBrowser::default());
        assert_eq!(KnownBrowser::from_cookie(&[8; 32], Some(&value)), KnownBrowser::default());
        assert_eq!(KnownBrowser::from_cookie(&KEY, Some("a1:n")), KnownBrowser::default());
    }

    #[test]
    fn at_most_five_accounts_most_recent_first() {
        let browser = (0..8).fold(KnownBrowser::default(), |b, i| b.remember(&format!("acct{i}")));
        assert!(browser.nonce_for("acct7").is_some());
        assert!(browser.nonce_for("acct2").is_none());
        assert_eq!(browser.entries.len(), 5);
    }
}
