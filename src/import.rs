//! `sesame import FILE.toml`: declarative upsert of applications, clients and accounts,
//! the way an office keeps its set-up in version control. All or nothing: the file is
//! applied in one transaction, and a second run of the same file changes nothing.

use std::path::Path;

use sea_orm::TransactionTrait;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use crate::accounts::{self, AccessInput, AccountInput, PasswordInput};
use crate::applications::{self, ApplicationInput, OptionDef, Right};
use crate::clients::{self, ClientInput, SecretInput};
use crate::domain::{Change, DomainError};
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportFile {
    #[serde(default)]
    pub applications: Vec<ApplicationEntry>,
    #[serde(default)]
    pub clients: Vec<ClientEntry>,
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationEntry {
    pub code: Spanned<String>,
    pub name: String,
    #[serde(default)]
    pub rights: Vec<Right>,
    #[serde(default)]
    pub options: Vec<OptionDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientEntry {
    pub client_id: Spanned<String>,
    pub application: Option<String>,
    pub name: Option<String>,
    pub secret: Option<String>,
    pub secret_hash: Option<String>,
    /// Needed by the code flow; a service or device-flow client may have none.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    pub token_endpoint_auth_method: Option<String>,
    /// `web` (default) or `native`: a desktop application (public, loopback redirect URIs
    /// on any port, private-use schemes).
    pub application_type: Option<String>,
    #[serde(default)]
    pub first_party: bool,
    /// Every login to this client needs a second factor.
    #[serde(default)]
    pub require_two_factor: bool,
    /// Authorization requests must be pushed first (RFC 9126 `/par`).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
    pub id_token_signed_response_alg: Option<String>,
    pub access_token_signed_response_alg: Option<String>,
    pub backchannel_logout_uri: Option<String>,
    /// Front-Channel Logout 1.0: https (or loopback http), loaded in an iframe at logout.
    pub frontchannel_logout_uri: Option<String>,
    #[serde(default)]
    pub frontchannel_logout_session_required: bool,
    /// RFC 8707: the https identifier of the API this client serves (unique).
    pub resource: Option<String>,
    /// A JWK Set as a TOML table, or as JSON text.
    pub jwks: Option<Value>,
    pub jwks_uri: Option<String>,
    /// `public` (default) or `pairwise` (OIDC Core 8.1).
    pub subject_type: Option<String>,
    /// An https URL whose host is the sector of a pairwise client.
    pub sector_identifier_uri: Option<String>,
    /// OIDC Core 6.1: the algorithm of its request objects, or `none` (unsigned ones).
    pub request_object_signing_alg: Option<String>,
    /// RFC 9101 10.5: its authorization requests must carry a signed request object.
    #[serde(default)]
    pub require_signed_request_object: bool,
    /// OIDC Core 5.3.2: userinfo answered as a JWT signed with this algorithm.
    pub userinfo_signed_response_alg: Option<String>,
    /// RFC 9449 5.2: every token request of the client must carry a DPoP proof.
    #[serde(default)]
    pub dpop_bound_access_tokens: bool,
    /// `fapi2`: the FAPI 2.0 Security Profile's rules are enforced for the client.
    pub security_profile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountEntry {
    pub username: Spanned<String>,
    pub password: Option<String>,
    pub password_hash: Option<String>,
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub initials: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub two_factor_required: bool,
    /// No text-message codes for this account.
    #[serde(default)]
    pub sms_disabled: bool,
    #[serde(default)]
    pub account_admin: bool,
    pub access: Option<Vec<AccessInput>>,
    /// `fr` or `en`: the language of the account's messages. Left out, the account
    /// keeps the one it has (its owner may have chosen it on the security page).
    pub language: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {path}: {}", crate::file_errors::in_words(reason))]
    Read { path: String, reason: std::io::Error },
    #[error("{path}: {message}")]
    Syntax { path: String, message: String },
    #[error("{path}, line {line}, {what}: {error}")]
    Entry { path: String, line: usize, what: String, error: Box<DomainError> },
    #[error("storage error: {0}")]
    Storage(#[from] sea_orm::DbErr),
}

/// How many records of each kind were created, updated or left as they were.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub applications: [usize; 3],
    pub clients: [usize; 3],
    pub accounts: [usize; 3],
}

impl ImportReport {
    fn count(slot: &mut [usize; 3], change: Change) {
        slot[match change {
            Change::Created => 0,
            Change::Updated => 1,
            Change::Unchanged => 2,
        }] += 1;
    }

    /// Whether the import wrote anything.
    pub fn changed(&self) -> bool {
        [self.applications, self.clients, self.accounts].iter().any(|c| c[0] + c[1] > 0)
    }
}

impl std::fmt::Display for ImportReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (name, c) in [("applications", self.applications), ("clients", self.clients), ("accounts", self.accounts)] {
            writeln!(f, "{name}: {} created, {} updated, {} unchanged", c[0], c[1], c[2])?;
        }
        Ok(())
    }
}

pub fn parse(path_label: &str, text: &str) -> Result<ImportFile, ImportError> {
    toml::from_str(text).map_err(|e| ImportError::Syntax { path: path_label.to_string(), message: e.to_string() })
}

/// A record named twice in one file would be written twice, the last entry winning, and
/// every later run would write it twice again: the file is refused, naming both lines.
/// Usernames compare without regard to case, as the accounts do.
fn refuse_repeats(label: &str, file: &ImportFile, line_of: impl Fn(usize) -> usize) -> Result<(), ImportError> {
    let username_key =
        |name: &str| accounts::normalize_username(name).map_or_else(|_| name.to_string(), |(_, key)| key);
    let entries =
        file.applications
            .iter()
            .map(|a| ("application", "code", a.code.get_ref().trim().to_string(), a.code.get_ref(), a.code.span()))
            .chain(file.clients.iter().map(|c| {
                ("client", "client_id", c.client_id.get_ref().clone(), c.client_id.get_ref(), c.client_id.span())
            }))
            .chain(file.accounts.iter().map(|a| {
                ("account", "username", username_key(a.username.get_ref()), a.username.get_ref(), a.username.span())
            }));
    let mut seen = std::collections::HashMap::new();
    for (kind, field, key, name, span) in entries {
        let line = line_of(span.start);
        if let Some(first) = seen.insert((kind, key), line) {
            return Err(ImportError::Entry {
                path: label.to_string(),
                line,
                what: format!("{kind} `{name}`"),
                error: Box::new(DomainError::invalid(
                    field,
                    format!("this {kind} is already declared at line {first}; declare each {kind} once"),
                )),
            });
        }
    }
    Ok(())
}

pub async fn import_file(state: &AppState, path: &Path) -> Result<ImportReport, ImportError> {
    let label = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|reason| ImportError::Read { path: label.clone(), reason })?;
    import_text(state, &label, &text).await
}

pub async fn import_text(state: &AppState, label: &str, text: &str) -> Result<ImportReport, ImportError> {
    let file = parse(label, text)?;
    let line_of = |offset: usize| text[..offset.min(text.len())].lines().count().max(1);
    refuse_repeats(label, &file, line_of)?;
    let now = state.clock.now();
    let mut report = ImportReport::default();
    let txn = state.db.begin().await?;
    for entry in file.applications {
        let what = format!("application `{}`", entry.code.get_ref());
        let line = line_of(entry.code.span().start);
        let input = ApplicationInput {
            code: entry.code.into_inner(),
            name: entry.name,
            rights: entry.rights,
            options: entry.options,
        };
        let (_, change) = applications::upsert(&txn, input, now).await.map_err(|error| ImportError::Entry {
            path: label.to_string(),
            line,
            what,
            error: Box::new(error),
        })?;
        ImportReport::count(&mut report.applications, change);
    }
    for entry in file.clients {
        let what = format!("client `{}`", entry.client_id.get_ref());
        let line = line_of(entry.client_id.span().start);
        let entry_error =
            |error| ImportError::Entry { path: label.to_string(), line, what: what.clone(), error: Box::new(error) };
        let secret = match (entry.secret, entry.secret_hash) {
            (Some(_), Some(_)) => {
                return Err(entry_error(DomainError::invalid("secret", "give `secret` or `secret_hash`, not both")));
            }
            (Some(plain), None) => Some(SecretInput::Plain(plain)),
            (None, Some(hash)) => Some(SecretInput::Hash(hash)),
            (None, None) => None,
        };
        let input = ClientInput {
            client_id: entry.client_id.into_inner(),
            application: entry.application,
            name: entry.name,
            secret,
            redirect_uris: entry.redirect_uris,
            post_logout_redirect_uris: entry.post_logout_redirect_uris,
            grant_types: entry.grant_types,
            scopes: entry.scopes,
            token_endpoint_auth_method: entry.token_endpoint_auth_method,
            application_type: entry.application_type,
            first_party: entry.first_party,
            require_two_factor: entry.require_two_factor,
            require_pushed_authorization_requests: entry.require_pushed_authorization_requests,
            id_token_signed_response_alg: entry.id_token_signed_response_alg,
            access_token_signed_response_alg: entry.access_token_signed_response_alg,
            backchannel_logout_uri: entry.backchannel_logout_uri,
            frontchannel_logout_uri: entry.frontchannel_logout_uri,
            frontchannel_logout_session_required: entry.frontchannel_logout_session_required,
            subject_type: entry.subject_type,
            sector_identifier_uri: entry.sector_identifier_uri,
            resource: entry.resource,
            jwks: match entry.jwks {
                Some(Value::String(text)) => Some(
                    serde_json::from_str(&text)
                        .map_err(|e| entry_error(DomainError::invalid("jwks", e.to_string())))?,
                ),
                other => other,
            },
            jwks_uri: entry.jwks_uri,
            request_object_signing_alg: entry.request_object_signing_alg,
            require_signed_request_object: entry.require_signed_request_object,
            userinfo_signed_response_alg: entry.userinfo_signed_response_alg,
            dpop_bound_access_tokens: entry.dpop_bound_access_tokens,
            security_profile: entry.security_profile,
        };
        let (_, change) = clients::upsert(&txn, &state.client_secrets, input, now).await.map_err(entry_error)?;
        ImportReport::count(&mut report.clients, change);
    }
    for entry in file.accounts {
        let what = format!("account `{}`", entry.username.get_ref());
        let line = line_of(entry.username.span().start);
        let entry_error =
            |error| ImportError::Entry { path: label.to_string(), line, what: what.clone(), error: Box::new(error) };
        let password = match (entry.password, entry.password_hash) {
            (Some(_), Some(_)) => {
                return Err(entry_error(DomainError::invalid(
                    "password",
                    "give `password` or `password_hash`, not both",
                )));
            }
            (Some(plain), None) => Some(PasswordInput::Plain(plain)),
            (None, Some(hash)) => Some(PasswordInput::Hash(hash)),
            (None, None) => None,
        };
        let input = AccountInput {
            username: entry.username.into_inner(),
            password,
            first_name: entry.first_name,
            last_name: entry.last_name,
            initials: entry.initials,
            email: entry.email,
            phone: entry.phone,
            address: entry.address,
            archived: entry.archived,
            two_factor_required: entry.two_factor_required,
            sms_disabled: entry.sms_disabled,
            account_admin: entry.account_admin,
            access: entry.access,
            language: entry.language.map(Some),
        };
        let (_, change) = accounts::upsert(&txn, &state.passwords, input, now).await.map_err(entry_error)?;
        ImportReport::count(&mut report.accounts, change);
    }
    txn.commit().await?;
    if report.changed() {
        let detail = serde_json::json!({
            "by": "import",
            "file": label,
            "applications": report.applications,
            "clients": report.clients,
            "accounts": report.accounts,
        });
        let event = crate::audit::AuditEvent { event: "import.applied", detail: Some(detail), ..Default::default() };
        crate::audit::record(&state.db, now, event).await;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_declared_twice_is_refused_with_both_lines() {
        // Found by the `import_file` fuzz target: the second run of such a file changed
        // the account again (the last entry won each time).
        let text = "[[accounts]]\nusername = \"zoe\"\nfirst_name = \"Zoé\"\n\n[[accounts]]\nusername = \"Zoe\"\n";
        let file = parse("f.toml", text).unwrap();
        let line_of = |offset: usize| text[..offset].lines().count().max(1);
        let error = refuse_repeats("f.toml", &file, line_of).unwrap_err().to_string();
        assert!(error.contains("line 6") && error.contains("line 2"), "{error}");
        let distinct =
            parse("f.toml", "[[accounts]]\nusername = \"zoe\"\n[[clients]]\nclient_id = \"zoe\"\nredirect_uris = []\n");
        assert!(refuse_repeats("f.toml", &distinct.unwrap(), line_of).is_ok(), "kinds are apart");
    }
}
