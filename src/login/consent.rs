//! Whether an authenticated user may go on to the client: access to the client's
//! application first, then the user's consent (first-party clients need none).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::request::AuthorizationRequest;
use crate::accounts::{self, Account};
use crate::applications::Application;
use crate::clients::{ApplicationType, Client};
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

/// How the user took part in this request before it reached the consent rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// None: an existing session answered (single sign-on).
    Silent,
    /// The user signed in (password, second factor) during this request.
    SignedIn,
    /// The user approved on the consent page a moment ago.
    Consented,
}

/// Whether the client's identity is not assured by its redirect URI: a desktop
/// application's loopback or private-use URI can be answered by any program on the
/// computer, where an `https` URI belongs to the site (RFC 8252 8.6).
pub fn unassured(client: &Client, request: &AuthorizationRequest) -> bool {
    client.application_type == ApplicationType::Native && !request.redirect_uri.starts_with("https://")
}

/// The consent rule: none when just given; asked when single sign-on would answer a
/// client whose identity is not assured (RFC 8252 8.6: a program impersonating a
/// desktop application must not get a code without the user's knowledge); none for a
/// first-party client; always asked with `prompt=consent`; else the scopes granted
/// before must cover the request.
pub fn consent_needed(
    first_party: bool,
    interaction: Interaction,
    unassured: bool,
    request: &AuthorizationRequest,
    granted_scopes: Option<&str>,
) -> bool {
    if interaction == Interaction::Consented {
        return false;
    }
    if unassured && interaction == Interaction::Silent {
        return true;
    }
    if first_party {
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

/// Decides from the account's access, how the user took part, and its consents.
pub async fn decide(
    db: &impl ConnectionTrait,
    client: &Client,
    request: &AuthorizationRequest,
    account: &Account,
    interaction: Interaction,
) -> Result<Decision, DomainError> {
    let just_given = interaction == Interaction::Consented;
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
    let unassured = unassured(client, request);
    Ok(if consent_needed(client.first_party, interaction, unassured, request, granted.as_deref()) {
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
    // A client of no application is open to every account.
    let Some(id) = &client.application_id else {
        return Ok(ApplicationAccess { application: None, allowed: true });
    };
    Ok(match accounts::application_open_to(db, id, &account.id).await? {
        Some((application, allowed)) => ApplicationAccess { application: Some(application), allowed },
        // Its application deleted since: as before, no application to refuse by.
        None => ApplicationAccess { application: None, allowed: true },
    })
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
    use super::{Interaction::*, consent_needed};
    use crate::login::request::tests::request;

    #[test]
    fn consent_is_asked_unless_first_party_or_covered() {
        let mut asked = request();
        asked.scopes = vec!["openid".into(), "email".into()];
        asked.prompt.clear();
        assert!(!consent_needed(true, Silent, false, &asked, None), "first-party clients need none");
        assert!(!consent_needed(false, Consented, false, &asked, None), "just given");
        assert!(consent_needed(false, SignedIn, false, &asked, None), "never given");
        assert!(consent_needed(false, Silent, false, &asked, Some("openid")), "a new scope asks again");
        assert!(!consent_needed(false, Silent, false, &asked, Some("email openid profile")), "covered");
        asked.prompt = vec!["consent".into()];
        assert!(
            consent_needed(false, Silent, false, &asked, Some("email openid profile")),
            "prompt=consent always asks"
        );
    }

    #[test]
    fn a_desktop_application_is_not_answered_silently() {
        let mut asked = request();
        asked.prompt.clear();
        assert!(consent_needed(true, Silent, true, &asked, Some("openid")), "single sign-on asks, first-party or not");
        assert!(!consent_needed(true, SignedIn, true, &asked, None), "signing in was the user's act");
        assert!(!consent_needed(true, Consented, true, &asked, None), "approved a moment ago");
        assert!(!consent_needed(true, Silent, false, &asked, None), "an assured client is answered");
    }
}
