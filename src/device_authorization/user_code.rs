//! User codes (RFC 8628 6.1): what a person reads on the device and types on another
//! screen. Eight letters of a 20-letter alphabet without vowels (no words can form) and
//! without letters easily mistaken for digits or for each other (no vowels, so no `O`,
//! `I`, `U`; no `Y`): 20^8 ≈ 2^34.6 codes. Shown as `XXXX-XXXX`; typed in any case, with
//! or without the dash and spaces.

/// The letters of a user code.
pub const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a code (the dash is only shown).
pub const LENGTH: usize = 8;

/// A new user code, normalised (eight letters, no dash), from the system's randomness.
pub fn generate() -> String {
    let mut pool = crate::crypto::random_bytes::<32>().into_iter();
    from_random(|| match pool.next() {
        Some(byte) => byte,
        None => {
            pool = crate::crypto::random_bytes::<32>().into_iter();
            pool.next().unwrap_or_default()
        }
    })
}

/// A code from random bytes: each byte below 240 (twelve times 20) picks a letter, the
/// others are skipped, so that every letter is equally likely.
pub fn from_random(mut next_byte: impl FnMut() -> u8) -> String {
    let limit = (256 / ALPHABET.len() * ALPHABET.len()) as u8;
    let mut code = String::with_capacity(LENGTH);
    while code.len() < LENGTH {
        let byte = next_byte();
        if byte < limit {
            code.push(ALPHABET[byte as usize % ALPHABET.len()] as char);
        }
    }
    code
}

/// What a person typed, normalised: upper case, without dashes and white space; `None`
/// when it cannot be a user code (wrong length, a letter outside the alphabet).
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '‐' | '‑' | '–' | '—'))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == LENGTH && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// A normalised code as people read it: `XXXX-XXXX`.
pub fn display(code: &str) -> String {
    match (code.get(..LENGTH / 2), code.get(LENGTH / 2..)) {
        (Some(head), Some(tail)) if code.len() == LENGTH => format!("{head}-{tail}"),
        _ => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_codes_are_eight_letters_of_the_alphabet() {
        for _ in 0..200 {
            let code = generate();
            assert_eq!(code.len(), LENGTH);
            assert!(code.bytes().all(|b| ALPHABET.contains(&b)), "{code}");
            assert_eq!(normalize(&code).as_deref(), Some(code.as_str()), "a generated code normalises to itself");
        }
        assert_ne!(generate(), generate(), "2^34.6 codes: two in a row are not the same");
    }

    #[test]
    fn the_alphabet_has_twenty_distinct_consonants() {
        let mut letters = ALPHABET.to_vec();
        letters.sort_unstable();
        letters.dedup();
        assert_eq!(letters.len(), 20);
        assert!(!ALPHABET.iter().any(|b| b"AEIOUY0123456789".contains(b)));
    }

    #[test]
    fn bytes_past_the_last_whole_alphabet_are_skipped() {
        // 240..=255 would favour the first 16 letters: they are skipped, not folded.
        let mut bytes = [255u8, 240, 0, 19, 20, 239, 1, 2, 3, 4].into_iter();
        let code = from_random(|| bytes.next().expect("enough bytes"));
        assert_eq!(code, "BZBZCDFG");
        // Every letter is reachable and equally likely over 0..240.
        let mut counts = [0usize; 20];
        let mut byte = 0u8;
        let code = from_random(|| {
            let b = byte;
            byte = byte.wrapping_add(1);
            b
        });
        assert_eq!(code, "BCDFGHJK");
        for b in 0u8..240 {
            counts[b as usize % 20] += 1;
        }
        assert!(counts.iter().all(|c| *c == 12));
    }

    #[test]
    fn typed_codes_are_normalised() {
        assert_eq!(normalize("WDJB-MJHT").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize("wdjb-mjht").as_deref(), Some("WDJBMJHT"), "case");
        assert_eq!(normalize(" wdjb mjht ").as_deref(), Some("WDJBMJHT"), "spaces");
        assert_eq!(normalize("WDJBMJHT").as_deref(), Some("WDJBMJHT"), "no dash");
        assert_eq!(normalize("WD-JB–MJ HT").as_deref(), Some("WDJBMJHT"), "dashes anywhere, en dash too");
        assert_eq!(normalize("WDJB-MJH"), None, "too short");
        assert_eq!(normalize("WDJB-MJHTB"), None, "too long");
        assert_eq!(normalize("WDJB-MJH0"), None, "a digit");
        assert_eq!(normalize("WAJB-MJHT"), None, "a vowel is not in the alphabet");
        assert_eq!(normalize("WDJB_MJHT"), None, "an underscore is not a dash");
        assert_eq!(normalize("ẞDJBMJHT"), None, "non-ASCII");
        assert_eq!(normalize(""), None);
    }

    #[test]
    fn codes_are_shown_in_two_groups() {
        assert_eq!(display("WDJBMJHT"), "WDJB-MJHT");
        assert_eq!(display(&normalize(&display("BCDFGHJK")).unwrap()), "BCDF-GHJK");
    }
}
