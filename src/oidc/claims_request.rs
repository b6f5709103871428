//! The `claims` request parameter (OIDC Core 5.5): a client names, per place (`id_token`,
//! `userinfo`), claims it wants individually rather than by scope, each possibly
//! `essential` and with a `value` or `values`.
//!
//! What Sésame does with it:
//! - a standard claim (profile, email, phone, address) requested individually is
//!   returned where the account has it, if the client could have had its scope: any
//!   client for a scope it was granted, and a first-party client (no consent page, so
//!   nothing the user approved is bypassed) for a scope it may ask for. A third-party
//!   client gets no more than the scopes the user consented to;
//! - an essential `acr` with values acts as `acr_values` (a second factor is asked for
//!   `urn:sesame:loa:2fa`); if none of its values is one Sésame asserts, the request
//!   fails with `unmet_authentication_requirements` (OpenID Connect Core Unmet
//!   Authentication Requirements 1.0), as 5.5.1.1 asks of an essential `acr` that
//!   cannot be met. A voluntary `acr` is only a wish, and ignored;
//! - `value`/`values` of other claims do not filter anything: the actual value is
//!   returned (5.5.1 lets the provider do so), and `essential` is noted by returning
//!   the claim whenever the account has it, as for any other requested claim.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::claims;
use crate::accounts::Account;
use crate::clients::Client;

/// Longer values are refused: the parameter travels in the sealed pending login and the
/// authorization code row.
pub const MAX_LENGTH: usize = 4096;

/// The `id_token` and `userinfo` members of a `claims` parameter, checked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub id_token: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub userinfo: Map<String, Value>,
}

/// Parses the parameter; the error says what is wrong, for `invalid_request`.
pub fn parse(text: &str) -> Result<ClaimsRequest, String> {
    if text.len() > MAX_LENGTH {
        return Err(format!("the claims parameter is longer than {MAX_LENGTH} bytes"));
    }
    let document: Map<String, Value> =
        serde_json::from_str(text).map_err(|_| "the claims parameter is not a JSON object".to_string())?;
    // Other members are extensions this provider does not know: ignored (5.5).
    Ok(ClaimsRequest { id_token: member(&document, "id_token")?, userinfo: member(&document, "userinfo")? })
}

fn member(document: &Map<String, Value>, name: &str) -> Result<Map<String, Value>, String> {
    let requests = match document.get(name) {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(requests)) => requests,
        Some(_) => return Err(format!("claims.{name} is not a JSON object")),
    };
    for (claim, request) in requests {
        let well_formed = match request {
            Value::Null => true,
            Value::Object(request) => {
                request.get("essential").is_none_or(Value::is_boolean)
                    && request.get("values").is_none_or(Value::is_array)
            }
            _ => false,
        };
        if !well_formed {
            return Err(format!(
                "claims.{name}.{claim} must be null or an object with essential (boolean), value or values (array)"
            ));
        }
    }
    Ok(requests.clone())
}

impl ClaimsRequest {
    /// The account asked for by a `sub` with a `value` (5.5.1): the ID token may only be
    /// about that account.
    pub fn required_subject(&self) -> Option<&str> {
        [&self.id_token, &self.userinfo]
            .into_iter()
            .filter_map(|member| member.get("sub").and_then(Value::as_object))
            .find_map(|request| request.get("value").and_then(Value::as_str))
    }

    /// The values of an essential `acr` request, from either member; `None` when `acr`
    /// is not requested as essential.
    pub fn essential_acr(&self) -> Option<Vec<String>> {
        let request = [&self.id_token, &self.userinfo]
            .into_iter()
            .filter_map(|member| member.get("acr").and_then(Value::as_object))
            .find(|request| request.get("essential") == Some(&Value::Bool(true)))?;
        let single = request.get("value").and_then(Value::as_str);
        let several = request.get("values").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str);
        Some(single.into_iter().chain(several).map(str::to_string).collect())
    }
}

/// The scope that releases a standard claim (OIDC Core 5.4).
fn scope_of(claim: &str) -> Option<&'static str> {
    match claim {
        "name" | "given_name" | "family_name" | "preferred_username" | "updated_at" => Some("profile"),
        "email" | "email_verified" => Some("email"),
        "phone_number" | "phone_number_verified" => Some("phone"),
        "address" => Some("address"),
        _ => None,
    }
}

/// The claims of `requested` (a member of the parameter) that `client`, granted
/// `scopes`, may receive individually (see the module's rules).
pub fn releasable(requested: &Map<String, Value>, client: &Client, scopes: &[String]) -> Vec<String> {
    let may_have = |scope: &str| {
        scopes.iter().any(|s| s == scope) || (client.first_party && super::scope::allowed(client, scope).len() == 1)
    };
    requested.keys().filter(|claim| scope_of(claim).is_some_and(may_have)).cloned().collect()
}

/// The values the account has of the named standard claims.
pub fn values(account: &Account, names: &[String]) -> Map<String, Value> {
    let scopes: Vec<String> = names.iter().filter_map(|name| scope_of(name)).map(str::to_string).collect();
    claims::for_scopes(account, &scopes).into_iter().filter(|(name, _)| names.contains(name)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_checked_and_essential_acr_read() {
        let parsed = parse(
            r#"{"userinfo":{"name":{"essential":true},"email":null},
                "id_token":{"acr":{"essential":true,"values":["urn:sesame:loa:2fa"]}},"other":1}"#,
        )
        .unwrap();
        assert_eq!(parsed.userinfo.keys().collect::<Vec<_>>(), ["email", "name"]);
        assert_eq!(parsed.essential_acr(), Some(vec!["urn:sesame:loa:2fa".to_string()]));
        assert_eq!(parsed.required_subject(), None);
        let named = parse(r#"{"id_token":{"sub":{"value":"abc"}}}"#).unwrap();
        assert_eq!(named.required_subject(), Some("abc"));
        assert_eq!(parse(r#"{"id_token":{"acr":{"values":["x"]}}}"#).unwrap().essential_acr(), None, "voluntary");
        let single = parse(r#"{"id_token":{"acr":{"essential":true,"value":"urn:sesame:loa:1fa"}}}"#).unwrap();
        assert_eq!(single.essential_acr(), Some(vec!["urn:sesame:loa:1fa".to_string()]));
        for bad in [
            "not json",
            "[]",
            r#"{"userinfo":[]}"#,
            r#"{"userinfo":{"name":true}}"#,
            r#"{"id_token":{"acr":{"essential":"yes"}}}"#,
            r#"{"id_token":{"acr":{"values":"x"}}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        let long = format!(r#"{{"userinfo":{{"{}":null}}}}"#, "x".repeat(MAX_LENGTH));
        assert!(parse(&long).unwrap_err().contains("longer"));
    }
}
