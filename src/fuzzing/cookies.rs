//! Cookies and sealed values.

use axum::http::{HeaderMap, HeaderValue, header};
use axum_extra::extract::CookieJar;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

use super::harness::{SEALED_LOGIN, harness};
use crate::auth::known_browser::{self, KnownBrowser};
use crate::crypto::{self, secretbox::SecretBox};
use crate::web::{cookies, csrf};

/// Cookie headers (and bare cookie values, and the login's `tx`): a signed value opens
/// only when its MAC was made with the key and for the purpose (so it is exactly what
/// `sign` gives for that value), a known-browser cookie vouches for nothing unless it
/// was signed so, a sealed value opens only with its key and associated data; and every
/// value the server makes reads back.
pub fn cookies(data: &[u8]) {
    let h = harness();
    let state = &h.state;
    let secure = state.config.secure_cookies();
    let mut values: Vec<String> = Vec::new();
    if let Ok(text) = std::str::from_utf8(data) {
        values.push(text.to_string());
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value);
        let jar = CookieJar::from_headers(&headers);
        values.extend(jar.iter().map(|c| c.value().to_string()));
        if let Some(id) = csrf::browser_id(state, &jar) {
            let cookie = cookies::get(&jar, csrf::BROWSER_COOKIE, secure).unwrap_or_default();
            assert!(id.len() >= 32, "a short browser id accepted");
            assert_eq!(crypto::sign(&state.csrf_key, "browser-id", &id), cookie, "browser id not signed by us");
        }
        let known = KnownBrowser::from_jar(&state.known_browser_key, &jar, secure);
        if known != KnownBrowser::default() {
            let cookie = cookies::get(&jar, known_browser::COOKIE, secure).unwrap_or_default();
            assert!(crypto::open_signed(&state.known_browser_key, "known-browser", &cookie).is_some());
        }
    }
    let other_key = [0xa5u8; 32];
    let other_box = SecretBox::from_bytes(other_key);
    for value in &values {
        for (key, purpose) in [(&state.csrf_key, "browser-id"), (&state.known_browser_key, "known-browser")] {
            if let Some(opened) = crypto::open_signed(key, purpose, value) {
                assert_eq!(&crypto::sign(key, purpose, opened), value, "opened, yet not what sign makes");
                assert!(crypto::open_signed(&other_key, purpose, value).is_none(), "opens under another key");
                assert!(crypto::open_signed(key, "other-purpose", value).is_none(), "opens for another purpose");
            }
        }
        let known = KnownBrowser::from_cookie(&state.known_browser_key, Some(value));
        if known != KnownBrowser::default() {
            assert!(crypto::open_signed(&state.known_browser_key, "known-browser", value).is_some(), "forged");
            assert_eq!(KnownBrowser::from_cookie(&other_key, Some(value)), KnownBrowser::default());
            let again =
                KnownBrowser::from_cookie(&state.known_browser_key, Some(&known.to_cookie(&state.known_browser_key)));
            assert_eq!(again, known, "a known-browser cookie does not read back");
        }
        if let Ok(opened) = state.secrets.open(value, SEALED_LOGIN) {
            let body = value.splitn(3, '.').nth(2).unwrap_or_default();
            assert!(URL_SAFE_NO_PAD.decode(body).is_ok_and(|b| URL_SAFE_NO_PAD.encode(b) == body), "non-canonical");
            assert!(state.secrets.open(value, "another-purpose").is_err(), "a sealed value opens for another purpose");
            assert!(other_box.open(value, SEALED_LOGIN).is_err(), "a sealed value opens under another key");
            let _ = serde_json::from_slice::<Value>(&opened);
        }
    }
    // What the server makes from any value reads back.
    let text = String::from_utf8_lossy(data);
    let signed = crypto::sign(&state.csrf_key, "browser-id", &text);
    assert_eq!(crypto::open_signed(&state.csrf_key, "browser-id", &signed), Some(&*text), "sign does not open");
    let sealed = state.secrets.seal(data, SEALED_LOGIN);
    let opened = state.secrets.open(&sealed, SEALED_LOGIN).map(|p| p.to_vec()).unwrap_or_default();
    assert_eq!(opened, data, "seal does not open");
    // Account ids are UUIDs: any up to five of them, remembered, read back in order.
    let accounts: Vec<String> = data
        .chunks(16)
        .take(7)
        .map(|chunk| {
            let mut bytes = [0u8; 16];
            bytes[..chunk.len()].copy_from_slice(chunk);
            uuid::Uuid::from_bytes(bytes).to_string()
        })
        .collect();
    let browser = accounts.iter().fold(KnownBrowser::default(), |b, id| b.remember(id));
    let cookie = browser.to_cookie(&state.known_browser_key);
    assert_eq!(KnownBrowser::from_cookie(&state.known_browser_key, Some(&cookie)), browser);
    for id in accounts.iter().rev().take(5) {
        assert!(browser.nonce_for(id).is_some(), "a recent account forgotten");
    }
}
