//! A refused account form: every mistake at once, each in the reader's language and in
//! words that agree with its field (`reason_taken_email`: "cette adresse e-mail est déjà
//! utilisée"), listed above the form and shown again beside its field.

use serde_json::{Map, Value, json};

use crate::domain::{DomainError, Refusals};
use crate::state::AppState;
use crate::web::i18n::Locale;

/// A refused field and what to say about it, in the reader's language.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct Problem {
    pub field: String,
    pub message: String,
    /// Already used by another account (409), rather than a broken rule (422).
    pub conflict: bool,
}

impl Problem {
    /// The console's own check of a field (`console_problem_…`).
    pub fn console(state: &AppState, locale: Locale, field: impl Into<String>, problem: &str) -> Self {
        let message = state.theme.message(locale, &format!("console_problem_{problem}"));
        Self { field: field.into(), message, conflict: false }
    }

    /// A field the domain refused, in the page's words; anything else (the database out
    /// of reach) is no field's and comes back, for its error page.
    pub fn of(state: &AppState, locale: Locale, error: DomainError) -> Result<Self, DomainError> {
        let (field, message, reason, conflict) = match error {
            DomainError::Invalid { field, message, reason } => (field, message, reason, false),
            DomainError::Conflict { field, message, reason } => (field, message, reason, true),
            other => return Err(other),
        };
        let message = localized(state, locale, reason, &field, message);
        Ok(Self { field, message, conflict })
    }

    /// Every refusal of the domain, as problems.
    pub fn all_of(state: &AppState, locale: Locale, refusals: Refusals) -> Result<Vec<Self>, DomainError> {
        refusals.into_vec().into_iter().map(|error| Self::of(state, locale, error)).collect()
    }
}

/// The account form's fields in the order the page shows them: problems are listed in it
/// (a software's fields come after), one per field.
const FORM_ORDER: [&str; 10] = [
    "username",
    "password",
    "password_confirm",
    "last_name",
    "first_name",
    "initials",
    "email",
    "phone",
    "address",
    "language",
];

pub(super) fn in_form_order(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|p| FORM_ORDER.iter().position(|f| *f == p.field).unwrap_or(FORM_ORDER.len()));
    let mut seen = std::collections::HashSet::new();
    problems.retain(|p| seen.insert(p.field.clone()));
    problems
}

/// A message as a sentence of its own, to show under its field ("déjà utilisée …" after
/// the field's name in the summary, "Cette adresse …" beside it).
fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// What the page shows of the problems: the summary above the form (each with its
/// field's name), and the sentence beside each field.
pub(super) struct Shown {
    pub summary: Vec<Value>,
    pub beside: Map<String, Value>,
}

impl Shown {
    pub fn of(state: &AppState, locale: Locale, problems: &[Problem]) -> Self {
        let summary = problems
            .iter()
            .map(|p| json!({"field": p.field, "label": label(state, locale, &p.field), "message": p.message}))
            .collect();
        let beside = problems.iter().map(|p| (p.field.clone(), json!(sentence(&p.message)))).collect();
        Self { summary, beside }
    }

    /// Each application's section of the form: `invalid` when any of its fields is, and
    /// in `error` every problem of the section but those shown beside an option's input.
    pub fn mark_sections(&self, mut sections: Value) -> Value {
        if let Some(list) = sections.as_array_mut() {
            for section in list {
                let prefix = format!("access.{}.", section["code"].as_str().unwrap_or_default());
                let mine: Vec<(&String, &Value)> =
                    self.beside.iter().filter(|(field, _)| field.starts_with(&prefix)).collect();
                if mine.is_empty() {
                    continue;
                }
                section["invalid"] = json!(true);
                let option = format!("{prefix}option.");
                let sentences: Vec<&str> = mine
                    .iter()
                    .filter(|(field, _)| !field.starts_with(&option))
                    .filter_map(|(_, sentence)| sentence.as_str())
                    .collect();
                if !sentences.is_empty() {
                    section["error"] = json!(sentences.join(" "));
                }
            }
        }
        sections
    }
}

/// A field's name as the form labels it (`access.INOTACTE.rights`: the software access
/// of INOTACTE).
fn label(state: &AppState, locale: Locale, field: &str) -> String {
    if let Some(rest) = field.strip_prefix("access.") {
        let code = rest.split('.').next().unwrap_or(rest);
        return format!("{} {code}", state.theme.message(locale, "console_field_access"));
    }
    let key = format!("console_field_{field}");
    let label = state.theme.message(locale, &key);
    if label == key { field.to_string() } else { label }
}

/// The page's own words for a broken rule when the theme has them: for this field
/// (`reason_taken_email`, which agrees with it in French), else for any
/// (`reason_password_common`); else the domain's message.
fn localized(state: &AppState, locale: Locale, reason: &str, field: &str, message: String) -> String {
    let text = [format!("reason_{reason}_{field}"), format!("reason_{reason}")]
        .into_iter()
        .map(|key| (state.theme.message(locale, &key), key))
        .find(|(text, key)| text != key);
    match text {
        Some((text, _)) => text.replace("{min}", &state.config.password.min_length.to_string()),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(field: &str) -> Problem {
        Problem { field: field.into(), message: format!("{field} is wrong"), conflict: false }
    }

    #[test]
    fn problems_follow_the_form_once_per_field() {
        let shown = in_form_order(vec![
            problem("access.INOTACTE.rights"),
            problem("phone"),
            problem("email"),
            problem("password_confirm"),
            problem("email"),
            problem("username"),
        ]);
        let fields: Vec<&str> = shown.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["username", "password_confirm", "email", "phone", "access.INOTACTE.rights"]);
    }

    #[test]
    fn a_section_says_every_problem_of_its_fields() {
        let problems = [problem("access.INOTACTE.rights"), problem("access.INOTACTE.initials"), problem("email")];
        let shown = Shown {
            summary: Vec::new(),
            beside: problems.iter().map(|p| (p.field.clone(), json!(sentence(&p.message)))).collect(),
        };
        let sections = shown.mark_sections(json!([{"code": "INOTACTE"}, {"code": "INOTCOMPTA"}]));
        let error = sections[0]["error"].as_str().unwrap();
        assert!(error.contains("Access.INOTACTE.rights is wrong"), "{error}");
        assert!(error.contains("Access.INOTACTE.initials is wrong"), "{error}");
        assert_eq!(sections[0]["invalid"], json!(true));
        assert!(sections[1].get("error").is_none() && sections[1].get("invalid").is_none());
    }

    #[test]
    fn a_message_beside_its_field_is_a_sentence() {
        assert_eq!(sentence("cette adresse e-mail est déjà utilisée."), "Cette adresse e-mail est déjà utilisée.");
        assert_eq!(sentence("écrivez un nombre."), "Écrivez un nombre.");
        assert_eq!(sentence(""), "");
    }
}
