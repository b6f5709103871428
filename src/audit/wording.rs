//! What an audit event says to a person: its kind (the console's filter) and one
//! sentence in the reader's language, naming the account, the administrator who acted,
//! the application and the method. The sentences are the theme's messages
//! (`audit_<code with dots as underscores>` in `i18n/fr.toml` and `i18n/en.toml`), so a
//! theme can reword them (placeholders: `{who}`, `{de_who}` for French's `de`/`d'`,
//! `{actor}`, `{client}`, `{application}`, `{method}`); a code without a sentence (a newer Sésame, a theme that lacks
//! it) still shows, as its code.

use serde_json::Value;

/// The console's kinds of events: each known code belongs to exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Sign-ins, sign-outs, devices approved.
    SignIn,
    /// Refused sign-ins, wrong codes, locks, limits, replays, failed deliveries.
    Failure,
    /// Second factors enrolled, used, removed; codes and notifications sent.
    SecondFactor,
    /// Changes to accounts and applications, by administrators, the command line, an
    /// import or the account's owner.
    Administration,
    /// Tokens issued and revoked, clients registered and changed.
    Token,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::SignIn, Kind::Failure, Kind::SecondFactor, Kind::Administration, Kind::Token];

    /// The value of the console's `kind` filter.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::Failure => "failure",
            Kind::SecondFactor => "second_factor",
            Kind::Administration => "admin",
            Kind::Token => "token",
        }
    }

    pub fn parse(value: &str) -> Option<Kind> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == value)
    }

    /// The message key of the kind's name.
    pub fn message_key(self) -> String {
        format!("audit_kind_{}", self.as_str())
    }

    /// Every known code of this kind (what the filter selects).
    pub fn codes(self) -> Vec<&'static str> {
        EVENTS.iter().filter(|(_, kind)| *kind == self).map(|(code, _)| *code).collect()
    }
}

/// Every event code Sésame records, with its kind. A unit test fails when the source
/// records a code that is not here, or when a code here has no sentence in a language.
pub const EVENTS: &[(&str, Kind)] = &[
    ("login.success", Kind::SignIn),
    ("logout", Kind::SignIn),
    ("device.authorization_requested", Kind::SignIn),
    ("device.approved", Kind::SignIn),
    ("device.denied", Kind::SignIn),
    ("login.failure", Kind::Failure),
    ("login.archived", Kind::Failure),
    ("login.locked_by_admin", Kind::Failure),
    ("authorize.access_denied", Kind::Failure),
    ("authorize.subject_mismatch", Kind::Failure),
    ("device.access_denied", Kind::Failure),
    ("device.user_code_wrong", Kind::Failure),
    ("device.user_code_throttled", Kind::Failure),
    ("second_factor.failure", Kind::Failure),
    ("second_factor.locked", Kind::Failure),
    ("second_factor.enrollment_wrong_code", Kind::Failure),
    ("second_factor.enrollment_email_wrong_code", Kind::Failure),
    ("second_factor.enrollment_refused", Kind::Failure),
    ("second_factor.enrollment_refused_passkey", Kind::Failure),
    ("second_factor.passkey_counter_went_back", Kind::Failure),
    ("sms.failed", Kind::Failure),
    ("sms.limited", Kind::Failure),
    ("push.limited", Kind::Failure),
    ("push.denied", Kind::Failure),
    ("push.wrong_number", Kind::Failure),
    ("push.fraud_reported", Kind::Failure),
    ("push.fraud_alerted", Kind::Failure),
    ("token.code_reuse", Kind::Failure),
    ("token.refresh_reuse", Kind::Failure),
    ("token.client_auth_failed", Kind::Failure),
    ("mail.failed", Kind::Failure),
    ("second_factor.success", Kind::SecondFactor),
    ("second_factor.enrolled", Kind::SecondFactor),
    ("second_factor.removed", Kind::SecondFactor),
    ("second_factor.passkey_used", Kind::SecondFactor),
    ("second_factor.recovery_code_used", Kind::SecondFactor),
    ("sms.sent", Kind::SecondFactor),
    ("push.sent", Kind::SecondFactor),
    ("push.approved", Kind::SecondFactor),
    ("push.web_push_subscribed", Kind::SecondFactor),
    ("account.recovery_codes_regenerated", Kind::SecondFactor),
    ("account.second_factors_reset", Kind::SecondFactor),
    ("admin.account.created", Kind::Administration),
    ("admin.account.updated", Kind::Administration),
    ("admin.account.archived", Kind::Administration),
    ("admin.account.restored", Kind::Administration),
    ("admin.account.password_reset", Kind::Administration),
    ("admin.account.locked", Kind::Administration),
    ("admin.account.unlocked", Kind::Administration),
    ("admin.account.second_factors_reset", Kind::Administration),
    ("admin.account.second_factor_removed", Kind::Administration),
    ("admin.account.signed_out_everywhere", Kind::Administration),
    ("admin.application.saved", Kind::Administration),
    ("cli.account.created", Kind::Administration),
    ("cli.account.updated", Kind::Administration),
    ("cli.account.locked", Kind::Administration),
    ("cli.account.unlocked", Kind::Administration),
    ("cli.account.second_factors_reset", Kind::Administration),
    ("cli.account.second_factor_removed", Kind::Administration),
    ("cli.account.signed_out_everywhere", Kind::Administration),
    ("cli.master_key.rotated", Kind::Administration),
    ("import.applied", Kind::Administration),
    ("account.locked", Kind::Administration),
    ("account.unlocked", Kind::Administration),
    ("account.signed_out_everywhere", Kind::Administration),
    ("account.language_changed", Kind::Administration),
    ("token.issued", Kind::Token),
    ("token.revoked", Kind::Token),
    ("par.pushed", Kind::Token),
    ("logout.backchannel_failed", Kind::Token),
    ("admin.client.created", Kind::Token),
    ("admin.client.updated", Kind::Token),
    ("admin.client.secret_rotated", Kind::Token),
    ("admin.initial_access_token.created", Kind::Token),
    ("admin.initial_access_token.revoked", Kind::Token),
    ("cli.client.created", Kind::Token),
    ("cli.client.updated", Kind::Token),
    ("registration.client_registered", Kind::Token),
    ("registration.client_updated", Kind::Token),
    ("registration.client_deleted", Kind::Token),
    ("registration.initial_token_created", Kind::Token),
    ("registration.initial_token_revoked", Kind::Token),
];

/// The kind of a code; none for a code this version does not know.
pub fn kind_of(code: &str) -> Option<Kind> {
    EVENTS.iter().find(|(known, _)| *known == code).map(|(_, kind)| *kind)
}

/// What a sentence names, already resolved to people's names.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub event: &'a str,
    /// The account's name (first and last, else its identifier, else its id when it no
    /// longer exists); none when the event concerns no known account.
    pub who: Option<&'a str>,
    /// Who acted when it was not the account itself: an administrator's name, or the
    /// command line's user.
    pub actor: Option<&'a str>,
    pub client: Option<&'a str>,
    pub detail: &'a Value,
}

/// The message key of a code's sentence (a passkey sign-in has its own).
fn key_of(facts: &Facts<'_>) -> String {
    let key = format!("audit_{}", facts.event.replace('.', "_"));
    if facts.event == "login.success" && facts.detail["passwordless"] == Value::Bool(true) {
        return format!("{key}_passkey");
    }
    key
}

/// The event in one sentence of the reader's language; `words` gives a message of the
/// theme in that language (the key itself when it has none).
pub fn sentence(facts: &Facts<'_>, words: &dyn Fn(&str) -> String) -> String {
    let key = key_of(facts);
    let template = words(&key);
    if template == key {
        // A code this version (or this theme) has no words for: its code, and whose.
        return match facts.who {
            Some(who) => format!("{} — {who}", facts.event),
            None => facts.event.to_string(),
        };
    }
    let or_words = |value: Option<&str>, fallback: &str| value.map(str::to_string).unwrap_or_else(|| words(fallback));
    let method = match facts.detail["method"].as_str() {
        Some(method) => {
            let key = format!("audit_method_{method}");
            let name = words(&key);
            format!(" ({})", if name == key { method.to_string() } else { name })
        }
        None => String::new(),
    };
    let client = facts.client.map(str::to_string).or_else(|| client_in(facts.detail));
    let application =
        facts.detail["application"].as_str().map(str::to_string).or_else(|| client.clone()).unwrap_or_default();
    let who = or_words(facts.who, "audit_unknown_account");
    // One pass, so that a name holding `{actor}` is never replaced again.
    let replacements = [
        ("{de_who}", de(&who)),
        ("{who}", who),
        ("{actor}", or_words(facts.actor, "audit_unknown_actor")),
        ("{client}", or_words(client.as_deref(), "audit_unknown_client")),
        ("{application}", application),
        ("{method}", method),
    ];
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template.as_str();
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        match replacements.iter().find(|(name, _)| tail.starts_with(name)) {
            Some((name, value)) => {
                out.push_str(value);
                rest = &tail[name.len()..];
            }
            None => {
                out.push('{');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// French "of": `d'Émilie Durand`, `d'un identifiant inconnu`, `de Pauline Martin`.
fn de(name: &str) -> String {
    let elided =
        name.chars().next().is_some_and(|c| "aeiouyàâäéèêëîïôöùûüæœ".contains(c.to_lowercase().next().unwrap_or(c)));
    if elided { format!("d'{name}") } else { format!("de {name}") }
}

/// The client an administrative change was about (its record before or after).
fn client_in(detail: &Value) -> Option<String> {
    [&detail["client_id"], &detail["after"]["client_id"], &detail["before"]["client_id"]]
        .into_iter()
        .find_map(Value::as_str)
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::i18n::Locale;
    use crate::theme::Theme;

    /// The first segments of event codes: a dotted string literal starting with one of
    /// these, anywhere in `src/`, is taken for an event code.
    const PREFIXES: [&str; 15] = [
        "account",
        "admin",
        "authorize",
        "cli",
        "device",
        "import",
        "login",
        "logout",
        "mail",
        "par",
        "push",
        "registration",
        "second_factor",
        "sms",
        "token",
    ];

    /// Dotted literals with those prefixes that are not event codes (configuration keys).
    const NOT_EVENTS: [&str; 2] = ["login.lockout_seconds", "login.max_lockout_seconds"];

    fn literals_in(dir: &Path, found: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                literals_in(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                // Every piece between two double quotes: the string literals, and code
                // between them (which never looks like `login.success`); counting
                // pieces would be thrown off by a `'"'`.
                for piece in text.split('"') {
                    found.insert(piece.to_string());
                }
            }
        }
    }

    fn is_event_code(literal: &str) -> bool {
        let mut parts = literal.split('.');
        let first = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        PREFIXES.contains(&first)
            && !rest.is_empty()
            && rest.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            && !matches!(rest.last(), Some(&("html" | "toml" | "js" | "json" | "jsonl")))
            && !NOT_EVENTS.contains(&literal)
    }

    fn theme() -> Theme {
        Theme::load(&crate::config::ThemeConfig::default()).unwrap()
    }

    #[test]
    fn every_code_in_the_source_is_known() {
        let mut literals = BTreeSet::new();
        literals_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut literals);
        let codes: BTreeSet<&str> = literals.iter().map(String::as_str).filter(|l| is_event_code(l)).collect();
        assert!(codes.contains("login.success") && codes.contains("admin.account.archived"), "{codes:?}");
        let unknown: Vec<&&str> = codes.iter().filter(|code| kind_of(code).is_none()).collect();
        assert!(unknown.is_empty(), "audit codes without a kind and words in audit::wording::EVENTS: {unknown:?}");
        let mut seen = BTreeSet::new();
        for (code, _) in EVENTS {
            assert!(seen.insert(code), "{code} is listed twice");
        }
    }

    #[test]
    fn every_known_code_has_a_sentence_in_each_language() {
        let theme = theme();
        let detail = json!({"method": "totp", "application": "INOTACTE"});
        for locale in Locale::ALL {
            let words = |key: &str| theme.message(locale, key);
            for (code, kind) in EVENTS {
                let facts = Facts {
                    event: code,
                    who: Some("Marie Dupont"),
                    actor: Some("Sonia Ait"),
                    client: Some("actes-web"),
                    detail: &detail,
                };
                let text = sentence(&facts, &words);
                assert!(!text.starts_with(code), "{code} has no sentence in {}: {text}", locale.code());
                assert!(!text.contains('{'), "{code} in {}: a placeholder is left: {text}", locale.code());
                assert_ne!(words(&kind.message_key()), kind.message_key(), "{kind:?} has a name");
            }
            let passkey = json!({"method": "webauthn", "passwordless": true});
            let facts =
                Facts { event: "login.success", who: Some("Marie"), actor: None, client: None, detail: &passkey };
            assert_ne!(sentence(&facts, &words), sentence(&Facts { detail: &json!({}), ..facts }, &words));
        }
    }

    #[test]
    fn sentences_name_people_in_each_language() {
        let theme = theme();
        let detail = json!({"method": "totp"});
        let facts = Facts {
            event: "second_factor.success",
            who: Some("Marie Dupont"),
            actor: None,
            client: None,
            detail: &detail,
        };
        let en = sentence(&facts, &|key| theme.message(Locale::En, key));
        let fr = sentence(&facts, &|key| theme.message(Locale::Fr, key));
        assert!(en.contains("Marie Dupont") && en.contains("authenticator app"), "{en}");
        assert!(fr.contains("Marie Dupont") && fr.contains("application d'authentification"), "{fr}");
        let archived = Facts {
            event: "admin.account.archived",
            who: Some("Marie Dupont"),
            actor: Some("Sonia Ait"),
            client: None,
            detail: &Value::Null,
        };
        let en = sentence(&archived, &|key| theme.message(Locale::En, key));
        assert!(en.contains("Marie Dupont") && en.contains("Sonia Ait"), "{en}");
        let fr = sentence(&archived, &|key| theme.message(Locale::Fr, key));
        assert_eq!(fr, "Compte de Marie Dupont archivé par Sonia Ait");
        let emilie = Facts { who: Some("Émilie Durand"), ..archived };
        assert_eq!(
            sentence(&emilie, &|key| theme.message(Locale::Fr, key)),
            "Compte d'Émilie Durand archivé par Sonia Ait"
        );
        // A name that looks like a placeholder is not replaced again.
        let tricky = Facts { who: Some("{actor}"), ..archived };
        assert!(sentence(&tricky, &|key| theme.message(Locale::En, key)).contains("{actor}"));
    }

    #[test]
    fn an_unknown_code_shows_as_its_code() {
        let theme = theme();
        let words = |key: &str| theme.message(Locale::En, key);
        let facts =
            Facts { event: "future.thing", who: Some("Marie Dupont"), actor: None, client: None, detail: &Value::Null };
        assert_eq!(sentence(&facts, &words), "future.thing — Marie Dupont");
        assert_eq!(kind_of("future.thing"), None);
        assert_eq!(sentence(&Facts { who: None, ..facts }, &words), "future.thing");
    }

    #[test]
    fn kinds_partition_the_codes() {
        let total: usize = Kind::ALL.iter().map(|kind| kind.codes().len()).sum();
        assert_eq!(total, EVENTS.len());
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(Kind::parse("everything"), None);
    }
}
