//! The demo relying party's page after a login: what Sésame says about the person in a
//! table (their name, and what makes Sésame different: the application, their rights,
//! options and initials there), beside the raw claims of the ID token and userinfo.
//! Shared by `examples/demo_rp.rs` and its test (tests/it/demo.rs).

use openidconnect::AdditionalClaims;
use openidconnect::core::{CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Sésame's own claims (README, "Rights in tokens"), each one absent when Sésame sends
/// none: the crate keeps them with the standard claims it checks.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct SesameClaims {
    /// The code of this client's application (`INOTACTE`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub application: Option<String>,
    /// The person's rights in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rights: Option<Vec<String>>,
    /// Their option values there (`{"etude": "Paris"}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<Map<String, Value>>,
    /// The initials they use there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initials: Option<String>,
    /// Every application they may open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<String>>,
    /// Present (true) for account administrators only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account_admin: Option<bool>,
}

impl AdditionalClaims for SesameClaims {}

/// An ID token with Sésame's claims, checked by the crate like any other.
pub type SesameIdToken =
    openidconnect::IdToken<SesameClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// Userinfo's answer with Sésame's claims.
pub type SesameUserInfo = openidconnect::UserInfoClaims<SesameClaims, CoreGenderClaim>;

/// Shown for a claim that neither the ID token nor userinfo carries.
const ABSENT: &str = "—";

/// The page, from the checked ID token's claims and userinfo's, as JSON objects.
pub fn signed_in(id_token: &Value, userinfo: &Value) -> String {
    let username = escape(&text(lookup(id_token, userinfo, "preferred_username").map(|(value, _)| value)));
    let rows = [
        ("Name", "name"),
        ("Email", "email"),
        ("Email verified", "email_verified"),
        ("Application", "application"),
        ("Rights", "rights"),
        ("Options", "options"),
        ("Initials", "initials"),
        ("Applications", "applications"),
    ]
    .iter()
    .map(|(label, claim)| {
        let (value, from) = match lookup(id_token, userinfo, claim) {
            Some((value, from)) => (escape(&text(Some(value))), from),
            None => (ABSENT.to_string(), ""),
        };
        format!("<tr><th scope=\"row\">{label}</th><td id=\"claim-{claim}\">{value}</td><td>{from}</td></tr>")
    })
    .collect::<String>();
    let pretty = |claims: &Value| escape(&serde_json::to_string_pretty(claims).unwrap_or_default());
    format!(
        r#"<!doctype html><meta charset="utf-8"><title>Signed in: demo relying party</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; }}
main {{ display: flex; flex-wrap: wrap; gap: 2rem; align-items: flex-start; }}
table {{ border-collapse: collapse; }}
th, td {{ text-align: left; padding: .3rem .8rem; border-bottom: 1px solid #ddd; vertical-align: top; }}
td:last-child {{ color: #666; font-size: .85em; }}
pre {{ background: #f4f4f4; padding: .8rem; overflow-x: auto; }}
</style>
<h1>Signed in as {username}</h1>
<main>
<section>
<h2>Who, and what they may do here</h2>
<table id="sesame-claims">
<thead><tr><th>Claim</th><th>Value</th><th>From</th></tr></thead>
<tbody>
{rows}
</tbody>
</table>
</section>
<section>
<h2>ID token claims (verified)</h2><pre id="id-token-claims">{}</pre>
<h2>Userinfo</h2><pre id="userinfo-claims">{}</pre>
</section>
</main>
<p><a href="/">Sign in again</a></p>
"#,
        pretty(id_token),
        pretty(userinfo),
    )
}

/// A claim's value, from the ID token and userinfo (the ID token's first), and where
/// it was found.
fn lookup<'a>(id_token: &'a Value, userinfo: &'a Value, claim: &str) -> Option<(&'a Value, &'static str)> {
    let (in_token, in_userinfo) = (present(id_token, claim), present(userinfo, claim));
    let from = match (in_token.is_some(), in_userinfo.is_some()) {
        (true, true) => "ID token, userinfo",
        (true, false) => "ID token",
        (false, true) => "userinfo",
        (false, false) => return None,
    };
    Some((in_token.or(in_userinfo)?, from))
}

fn present<'a>(claims: &'a Value, claim: &str) -> Option<&'a Value> {
    claims.get(claim).filter(|value| !value.is_null())
}

/// A claim's value in words: a list joined by commas, an object as `key = value`
/// pairs (`etude = Paris, signature_electronique = true`), `yes`/`no` for a boolean.
fn text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => ABSENT.to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Bool(true)) => "yes".into(),
        Some(Value::Bool(false)) => "no".into(),
        Some(Value::Array(items)) if items.is_empty() => "(none)".into(),
        Some(Value::Array(items)) => items.iter().map(|item| text(Some(item))).collect::<Vec<_>>().join(", "),
        Some(Value::Object(map)) if map.is_empty() => "(none)".into(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(key, value)| match value {
                Value::String(text) => format!("{key} = {text}"),
                other => format!("{key} = {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        Some(other) => other.to_string(),
    }
}

/// HTML-escapes text taken from a token or an answer, for an element or an attribute.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}
