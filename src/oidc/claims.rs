//! Which claims about the account each scope releases (OIDC Core 5.4), shared by the
//! ID token and the userinfo endpoint.

use serde_json::{Map, Value, json};

use crate::accounts::{self, Access, Account};
use crate::clients::Client;
use crate::domain::DomainError;
use crate::storage::Db;

/// Sésame's own claims: what the account may do in the client's application.
pub const AUTHORIZATION_CLAIMS: [&str; 6] =
    ["application", "rights", "options", "initials", "applications", "account_admin"];

pub const STANDARD_CLAIMS: [&str; 14] = [
    "sub",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
    "acr",
    "amr",
    "auth_time",
];

/// The claims `scopes` release about `account` (`sub` excluded).
pub fn for_scopes(account: &Account, scopes: &[String]) -> Map<String, Value> {
    let mut claims = Map::new();
    let has = |scope: &str| scopes.iter().any(|s| s == scope);
    if has("profile") {
        claims.insert("name".into(), json!(account.full_name()));
        claims.insert("given_name".into(), json!(account.first_name));
        claims.insert("family_name".into(), json!(account.last_name));
        claims.insert("preferred_username".into(), json!(account.username));
        claims.insert("updated_at".into(), json!(account.updated_at));
    }
    if has("email")
        && let Some(email) = &account.email
    {
        claims.insert("email".into(), json!(email));
        // Entered by an administrator; proven once its owner typed a code mailed to it.
        claims.insert("email_verified".into(), json!(account.email_verified));
    }
    if has("phone")
        && let Some(phone) = &account.phone
    {
        claims.insert("phone_number".into(), json!(phone));
        claims.insert("phone_number_verified".into(), json!(false));
    }
    if has("address")
        && let Some(address) = &account.address
    {
        claims.insert("address".into(), json!({"formatted": address}));
    }
    claims
}

/// The account's authorization for `client`, read anew for every token: `application`
/// (the code of the client's application), `rights` and `options` there, `initials`
/// used there (the account's own when none are set), `applications` (the codes of every
/// application the account may open, for a portal) and `account_admin` when true.
pub async fn authorization(db: &Db, account: &Account, client: &Client) -> Result<Map<String, Value>, DomainError> {
    let access = accounts::access_of(db, &account.id).await?;
    Ok(authorization_from(account, &access, client))
}

/// The same, from the account's access already read (userinfo's cached view).
pub fn authorization_from(account: &Account, access: &[Access], client: &Client) -> Map<String, Value> {
    let mut claims = Map::new();
    let mut open: Vec<&str> = access.iter().filter(|a| a.allowed).map(|a| a.application_code.as_str()).collect();
    open.sort_unstable();
    claims.insert("applications".into(), json!(open));
    let here =
        client.application_id.as_ref().and_then(|id| access.iter().find(|a| &a.application_id == id && a.allowed));
    if let Some(here) = here {
        let initials = if here.initials.is_empty() { &account.initials } else { &here.initials };
        claims.insert("application".into(), json!(here.application_code));
        claims.insert("rights".into(), json!(here.rights));
        claims.insert("options".into(), json!(here.options));
        claims.insert("initials".into(), json!(initials));
    }
    if account.account_admin {
        claims.insert("account_admin".into(), json!(true));
    }
    claims
}
