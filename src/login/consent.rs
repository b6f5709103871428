//! Whether an authenticated user may go on to the client: access to the client's
//! application first, then the user's consent (first-party clients need none).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::request::AuthorizationRequest;
use crate::accounts::{self, Account};
use crate::applications::{self, Application};
use crate::clients::Client;
use crate::domain::DomainError;
use crate::storage::entities::consent;

/// What happens to an authenticated user's request.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// The account may not open the client's application (named).
    NoAccess { application: String },
    /// The user must approve the client first.
    Consent,
    /// Straight to the code.
    Issue,
}

/// The consent rule: none for a first-party client or when just given; always asked
/// with `prompt=consent`; else the scopes granted before must cover the request.
pub fn consent_needed(
    first_party: bool,
    just_given: bool,
    request: &AuthorizationRequest,
    granted_scopes: Option<&str>,
) -> bool {
    if first_party || just_given {
        return false;
    }
    if request.has_prompt("consent") {
        return true;
    }
    let covered = granted_scopes.is_some_and(|granted| {
        let granted: Vec<&str> = granted.split_whitespace().collect();
        request.scopes.iter().all(|s| granted.contains(&s.as_str()))
    });
    !covered
}

/// Decides from the account's access and its consents (`just_given`: the user approved
/// on the consent page a moment ago).
pub async fn decide(
    db: &impl ConnectionTrait,
    client: &Client,
    request: &AuthorizationRequest,
    account: &Account,
    just_given: bool,
) -> Result<Decision, DomainError> {
    let access = application_access(db, client, account).await?;
    if !access.allowed {
        return Ok(Decision::NoAccess { application: access.name() });
    }
    let asks = !client.first_party && !just_given && !request.has_prompt("consent");
    let granted = if asks {
        consent::Entity::find_by_id((account.id.clone(), client.client_id.clone())).one(db).await?.map(|g| g.scopes)
    } else {
        None
    };
    Ok(if consent_needed(client.first_party, just_given, request, granted.as_deref()) {
        Decision::Consent
    } else {
        Decision::Issue
    })
}

/// The client's application, and whether the account may open it.
#[derive(Debug)]
pub struct ApplicationAccess {
    /// `None` for a client of no application (Sésame's own pages, a partner).
    pub application: Option<Application>,
    pub allowed: bool,
}

impl ApplicationAccess {
    /// The application's name, as refusals show it ("" when the client has none).
    pub fn name(&self) -> String {
        self.application.as_ref().map(|a| a.name.clone()).unwrap_or_default()
    }
}

/// The access rule of every login: an account may go on to a client only if it may
/// open the client's application (any account, for a client of no application).
pub async fn application_access(
    db: &impl ConnectionTrait,
    client: &Client,
    account: &Account,
) -> Result<ApplicationAccess, DomainError> {
    let application = match &client.application_id {
        Some(id) => applications::find_by_id(db, id).await?,
        None => None,
    };
    let access = accounts::access_of(db, &account.id).await?;
    let allowed = accounts::may_use(&access, application.as_ref());
    Ok(ApplicationAccess { application, allowed })
}

/// Records the user's approval of the client for these scopes.
pub async fn grant(
    db: &impl ConnectionTrait,
    account_id: &str,
    client_id: &str,
    scopes: &[String],
    now: i64,
) -> Result<(), DomainError> {
    consent::Entity::delete_by_id((account_id.to_string(), client_id.to_string())).exec(db).await?;
    consent::ActiveModel {
        account_id: Set(account_id.to_string()),
        client_id: Set(client_id.to_string()),
        scopes: Set(scopes.join(" ")),
        granted_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::consent_needed;
    use crate::login::request::tests::request;

    #[test]
    fn consent_is_asked_unless_first_party_or_covered() {
        let mut asked = request();
        asked.scopes = vec!["openid".into(), "email".into()];
        asked.prompt.clear();
        assert!(!consent_needed(true, false, &asked, None), "first-party clients need none");
        assert!(!consent_needed(false, true, &asked, None), "just given");
        assert!(consent_needed(false, false, &asked, None), "never given");
        assert!(consent_needed(false, false, &asked, Some("openid")), "a new scope asks again");
        assert!(!consent_needed(false, false, &asked, Some("email openid profile")), "covered");
        asked.prompt = vec!["consent".into()];
        assert!(consent_needed(false, false, &asked, Some("email openid profile")), "prompt=consent always asks");
    }
}
