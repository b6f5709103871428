//! The error of the domain layer (accounts, applications, clients, import): what was
//! refused and which field, free of HTTP; each edge maps it to its own response.

use sea_orm::DbErr;

#[derive(Debug, thiserror::Error)]
pub enum DomainError {
    /// A value is malformed or breaks a rule; `field` names it as the user knows it,
    /// `reason` is a stable code (for programs, and for pages to say it in their language).
    #[error("{field}: {message}")]
    Invalid { field: String, message: String, reason: &'static str },
    /// A value that must be unique is already used by another record.
    #[error("{field}: {message}")]
    Conflict { field: String, message: String, reason: &'static str },
    #[error("{0} not found")]
    NotFound(String),
    #[error("storage error: {0}")]
    Storage(#[from] DbErr),
    #[error("{0}")]
    Crypto(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid { field: field.into(), message: message.into(), reason: "invalid" }
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Conflict { field: field.into(), message: message.into(), reason: "taken" }
    }

    /// Whether the failure is the database being out of reach (restarting, network):
    /// the request may succeed if retried, and is answered 503, not 500.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Self::Storage(error) if crate::storage::is_unavailable(error))
    }

    /// Names the rule that was broken with a stable code.
    pub fn because(mut self, code: &'static str) -> Self {
        if let Self::Invalid { reason, .. } | Self::Conflict { reason, .. } = &mut self {
            *reason = code;
        }
        self
    }
}

/// Everything refused in one input: every field that breaks a rule, in the order of the
/// input's fields, so that a form can show them all at once; or the one failure that is
/// no field's (storage, crypto), alone. Never empty.
#[derive(Debug)]
pub struct Refusals(Vec<DomainError>);

impl Refusals {
    /// The first refusal, for the edges that report one (the API, the CLI, the import).
    pub fn into_first(self) -> DomainError {
        self.0.into_iter().next().unwrap_or_else(|| DomainError::invalid("input", "refused"))
    }

    pub fn into_vec(self) -> Vec<DomainError> {
        self.0
    }

    /// The refusals collected, if any.
    pub fn of(list: Vec<DomainError>) -> Result<(), Self> {
        if list.is_empty() { Ok(()) } else { Err(Self(list)) }
    }
}

impl From<DomainError> for Refusals {
    fn from(error: DomainError) -> Self {
        Self(vec![error])
    }
}

impl From<DbErr> for Refusals {
    fn from(error: DbErr) -> Self {
        Self(vec![DomainError::Storage(error)])
    }
}

/// Whether a record was written by an upsert (the import reports these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

/// JSON text of a value that always serialises (lists of strings, maps of values).
pub fn to_json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

/// Parses JSON text written by [`to_json_text`]; a corrupt column reads as the default.
pub fn from_json_text<T: serde::de::DeserializeOwned + Default>(text: &str) -> T {
    serde_json::from_str(text).unwrap_or_default()
}
