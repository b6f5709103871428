//! Normalisation and validation of account fields, with no storage in sight.

use crate::domain::DomainError;
use crate::i18n::Locale;

/// Identifiers compare without regard to case; the key is what uniqueness is checked on.
pub fn normalize_username(username: &str) -> Result<(String, String), DomainError> {
    let username = username.trim();
    if username.is_empty() || username.chars().count() > 64 {
        return Err(DomainError::invalid("username", "an identifier has 1 to 64 characters").because("username_length"));
    }
    if !username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')) {
        return Err(DomainError::invalid("username", "an identifier may hold letters, digits and . _ - @ only")
            .because("username_characters"));
    }
    Ok((username.to_string(), username.to_lowercase()))
}

/// Trimmed and lower-cased; an empty value means no address.
pub fn normalize_email(email: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    // Checked once lower-cased, as stored: lower case can be longer (`İ` is 2 bytes, `i̇` 3).
    let lowered = email.to_lowercase();
    let valid = lowered.len() <= 254
        && !lowered.chars().any(char::is_whitespace)
        && lowered
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if !valid {
        return Err(DomainError::invalid("email", format!("`{email}` is not an email address")).because("email_format"));
    }
    Ok(Some(lowered))
}

/// An account's language as an operator or the owner gives it: `fr` or `en`, nothing
/// else (an empty value is a mistake, not "no language": leave the field out, or send
/// `null` where a format has one, to keep or clear it).
pub fn parse_language(language: &str) -> Result<Locale, DomainError> {
    Locale::parse(language).ok_or_else(|| {
        DomainError::invalid(
            "language",
            format!("`{language}` is not a language of Sésame: fr (French) or en (English)"),
        )
        .because("language_unknown")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_are_french_or_english() {
        assert_eq!(parse_language("fr").unwrap(), Locale::Fr);
        assert_eq!(parse_language("En").unwrap(), Locale::En);
        for wrong in ["", " ", "de", "fr-FR", "français"] {
            let error = parse_language(wrong).unwrap_err();
            assert!(
                matches!(&error, DomainError::Invalid { field, reason: "language_unknown", .. } if field == "language"),
                "{wrong}: {error:?}"
            );
        }
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(normalize_email(Some(" Pauline@Etude.Example ")).unwrap().unwrap(), "pauline@etude.example");
        assert!(normalize_email(Some("pauline")).is_err());
        assert!(normalize_email(Some("a b@c.d")).is_err());
        // 254 bytes as typed, 378 once lower-cased (found by the `phone` fuzz target).
        let long = format!("a@b.co{}", "İ".repeat(124));
        assert_eq!(long.len(), 254);
        assert!(normalize_email(Some(&long)).is_err());
    }

    #[test]
    fn usernames_compare_without_case() {
        assert_eq!(normalize_username("SoniaAIT").unwrap().1, "soniaait");
        assert!(normalize_username("has space").is_err());
        assert!(normalize_username("").is_err());
    }
}
