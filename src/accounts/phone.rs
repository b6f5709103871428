//! Phone numbers: stored in E.164 (`+33612345678`), accepted as people type them, and
//! shown to people in the national format for French numbers (`06 12 34 56 78`).

use crate::domain::DomainError;

/// E.164 (`+33612345678`); numbers without a country code are French.
pub fn normalize_phone(phone: Option<&str>) -> Result<Option<String>, DomainError> {
    let Some(raw) = phone.map(str::trim).filter(|p| !p.is_empty()) else {
        return Ok(None);
    };
    let compact: String = raw.chars().filter(|c| !matches!(c, ' ' | '.' | '-' | '(' | ')')).collect();
    let international = if let Some(rest) = compact.strip_prefix('+') {
        rest.to_string()
    } else if let Some(rest) = compact.strip_prefix("00") {
        rest.to_string()
    } else if let Some(rest) = compact.strip_prefix('0') {
        format!("33{rest}")
    } else {
        String::new()
    };
    let valid = !international.is_empty()
        && international.chars().all(|c| c.is_ascii_digit())
        && (8..=15).contains(&international.len())
        && !international.starts_with('0')
        && (!international.starts_with("33") || international.len() == 11);
    if !valid {
        return Err(DomainError::invalid(
            "phone",
            format!("`{raw}` is not a phone number (for example 06 12 34 56 78 or +33 6 12 34 56 78)"),
        )
        .because("phone_format"));
    }
    Ok(Some(format!("+{international}")))
}

/// A stored number as an office reads it: a French one (`+33655443322`) in the national
/// format, `06 55 44 33 22`; any other, or anything that is not a French number in
/// E.164, as stored. [`normalize_phone`] reads what this writes back to the same number.
pub fn display_phone(e164: &str) -> String {
    let national = e164
        .strip_prefix("+33")
        .filter(|digits| digits.len() == 9 && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0'));
    let Some(national) = national else { return e164.to_string() };
    let ten = format!("0{national}");
    let pairs: Vec<&str> = (0..ten.len()).step_by(2).filter_map(|i| ten.get(i..i + 2)).collect();
    pairs.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_become_e164() {
        assert_eq!(normalize_phone(Some("06 12 34 56 78")).unwrap().unwrap(), "+33612345678");
        assert_eq!(normalize_phone(Some("+33 6 12 34 56 78")).unwrap().unwrap(), "+33612345678");
        assert_eq!(normalize_phone(Some("0033612345678")).unwrap().unwrap(), "+33612345678");
        assert_eq!(normalize_phone(Some("+1 415 555 0100")).unwrap().unwrap(), "+14155550100");
        assert!(normalize_phone(Some("12345")).is_err());
        assert!(normalize_phone(Some("06 12 34")).is_err());
        assert_eq!(normalize_phone(Some("  ")).unwrap(), None);
    }

    #[test]
    fn french_numbers_are_shown_in_the_national_format() {
        assert_eq!(display_phone("+33655443322"), "06 55 44 33 22");
        assert_eq!(display_phone("+33123456789"), "01 23 45 67 89");
        // Other countries, overseas included, stay international.
        assert_eq!(display_phone("+14155550100"), "+14155550100");
        assert_eq!(display_phone("+262692123456"), "+262692123456");
        assert_eq!(display_phone("+447700900123"), "+447700900123");
        // Not a French number in E.164: shown as it is.
        for odd in ["+3365544332", "+336554433221", "+33055443322", "0655443322", "", "+33 6 55 44 33 22"] {
            assert_eq!(display_phone(odd), odd);
        }
    }

    #[test]
    fn what_is_shown_reads_back_as_the_stored_number() {
        for stored in ["+33655443322", "+33987654321", "+14155550100", "+262692123456"] {
            let shown = display_phone(stored);
            assert_eq!(normalize_phone(Some(&shown)).unwrap().as_deref(), Some(stored), "{shown}");
        }
    }
}
