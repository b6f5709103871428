//! Which claims about the account each scope releases (OIDC Core 5.4), shared by the
//! ID token and the userinfo endpoint.

use serde_json::{Map, Value, json};

use crate::accounts::Account;

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
        // Addresses are entered by an administrator, not proven by the user.
        claims.insert("email_verified".into(), json!(false));
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
