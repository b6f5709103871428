//! Language of the pages: French first (the users are French offices), English too;
//! chosen by `ui_locales`, then the browser's `Accept-Language`.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Locale {
    Fr,
    En,
}

impl Locale {
    pub const ALL: [Locale; 2] = [Locale::Fr, Locale::En];

    /// The server's language: pages when the browser asks for none we have, and every
    /// message to an account whose owner chose none.
    pub const DEFAULT: Locale = Locale::Fr;

    pub fn code(self) -> &'static str {
        match self {
            Locale::Fr => "fr",
            Locale::En => "en",
        }
    }

    /// A language as accounts store it and operators write it: exactly `fr` or `en`
    /// (any case, spaces around ignored); not a browser's tag such as `en-GB`.
    pub fn parse(code: &str) -> Option<Self> {
        let code = code.trim();
        Self::ALL.into_iter().find(|l| l.code().eq_ignore_ascii_case(code))
    }

    fn from_tag(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|l| l.code() == primary)
    }

    /// The first supported of `ui_locales` (space-separated, by preference), else the
    /// best of `Accept-Language` by quality, else the server's language.
    pub fn negotiate(ui_locales: Option<&str>, accept_language: Option<&str>) -> Self {
        if let Some(found) = ui_locales.and_then(|list| list.split_whitespace().find_map(Self::from_tag)) {
            return found;
        }
        let mut ranked: Vec<(f32, Locale)> = accept_language
            .unwrap_or_default()
            .split(',')
            .filter_map(|item| {
                let mut parts = item.split(';');
                let locale = Self::from_tag(parts.next()?)?;
                let quality =
                    parts.find_map(|p| p.trim().strip_prefix("q=")).and_then(|q| q.parse::<f32>().ok()).unwrap_or(1.0);
                Some((quality, locale))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked.first().map(|(_, l)| *l).unwrap_or(Locale::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ui_locales_win_then_accept_language() {
        assert_eq!(Locale::negotiate(Some("de en-GB"), Some("fr")), Locale::En);
        assert_eq!(Locale::negotiate(None, Some("de, en;q=0.8, fr;q=0.9")), Locale::Fr);
        assert_eq!(Locale::negotiate(None, Some("en-US,en;q=0.9")), Locale::En);
        assert_eq!(Locale::negotiate(None, None), Locale::Fr);
    }

    #[test]
    fn stored_languages_are_exact_codes() {
        assert_eq!(Locale::parse("fr"), Some(Locale::Fr));
        assert_eq!(Locale::parse(" EN "), Some(Locale::En));
        for wrong in ["", "de", "en-GB", "french", "f r"] {
            assert_eq!(Locale::parse(wrong), None, "{wrong}");
        }
        assert_eq!(Locale::DEFAULT, Locale::Fr);
    }
}
