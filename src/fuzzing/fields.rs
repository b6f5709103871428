//! Fields people type: phone numbers, email addresses, usernames, device user codes.

use crate::accounts::{display_phone, normalize_email, normalize_phone, normalize_username};
use crate::device_authorization::user_code;

/// `^\+[1-9][0-9]{7,14}$`
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.as_bytes().first().is_some_and(|b| *b != b'0')
}

/// Phone numbers, email addresses and usernames as typed in the console, the admin API
/// or an import file, and user codes as typed on the device page: what is accepted is in
/// its normal form, and normalising it again gives it back unchanged.
pub fn phone(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let blank = text.trim().is_empty();
    match normalize_phone(Some(text)) {
        Ok(Some(e164)) => {
            assert!(is_e164(&e164), "{text:?} normalised to {e164:?}, not E.164");
            assert!(!e164.starts_with("+33") || e164.len() == 12, "French number of the wrong length: {e164}");
            let again = normalize_phone(Some(&e164)).ok().flatten();
            assert_eq!(again.as_deref(), Some(e164.as_str()), "normalising {e164:?} again changes it");
            let shown = display_phone(&e164);
            let read_back = normalize_phone(Some(&shown)).ok().flatten();
            assert_eq!(read_back.as_deref(), Some(e164.as_str()), "{e164:?} shown as {shown:?} reads back otherwise");
        }
        Ok(None) => assert!(blank, "{text:?} taken for no phone number"),
        Err(_) => assert!(!blank),
    }
    match normalize_email(Some(text)) {
        Ok(Some(email)) => {
            assert!(email.len() <= 254, "an address of {} bytes accepted: {email:?}", email.len());
            assert!(!email.chars().any(char::is_whitespace), "whitespace in {email:?}");
            assert_eq!(email.matches('@').count(), 1, "not one @ in {email:?}");
            assert_eq!(email, email.to_lowercase(), "not lower case");
            let again = normalize_email(Some(&email)).ok().flatten();
            assert_eq!(again.as_deref(), Some(email.as_str()), "normalising {email:?} again changes it");
        }
        Ok(None) => assert!(blank, "{text:?} taken for no address"),
        Err(_) => assert!(!blank),
    }
    if let Ok((username, key)) = normalize_username(text) {
        assert_eq!(username, username.trim());
        let count = username.chars().count();
        assert!((1..=64).contains(&count), "a username of {count} characters");
        assert!(username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')));
        assert_eq!(key, username.to_lowercase());
        let again = normalize_username(&username).ok();
        assert_eq!(again, Some((username.clone(), key.clone())), "normalising {username:?} again changes it");
    }
    if let Some(code) = user_code::normalize(text) {
        assert_eq!(code.len(), user_code::LENGTH, "{text:?} normalised to {code:?}");
        assert!(code.bytes().all(|b| user_code::ALPHABET.contains(&b)), "{code:?} outside the alphabet");
        assert_eq!(user_code::normalize(&user_code::display(&code)), Some(code.clone()), "shown {code:?} reads back");
    }
}
