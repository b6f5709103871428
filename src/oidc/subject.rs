//! Pairwise subject identifiers (OIDC Core 8.1): what a client is told the user is.
//!
//! A public client gets the account id. A pairwise client gets a keyed hash of its
//! sector (see `Client::sector`) and the account id, under a key derived from the
//! master key: the same on every node and after restarts, the same for two clients of
//! one sector, and unrelated between sectors, so that applications of different
//! publishers cannot match their users with each other.
//!
//! The hash cannot be turned back into the account. Where a pairwise `sub` comes back
//! Sésame either knows the account already and compares (`id_token_hint` against the
//! browser's session), or reads it from the token: an access token of a pairwise
//! client carries its account sealed with the master key (`seal_account`), which only
//! Sésame can open and which, sealed with a fresh nonce each time, links nothing. This
//! spares a table of subjects and a write per token, and keeps an access token checked
//! by its signature alone, as before.

use crate::clients::Client;
use crate::crypto::{self, secretbox::SecretBox};

/// The key of pairwise subjects, derived from the master key.
pub fn key(secrets: &SecretBox) -> [u8; 32] {
    secrets.derive_key("pairwise-subjects")
}

/// The `sub` that `client` is given for the account `account_id`.
pub fn for_client(key: &[u8; 32], client: &Client, account_id: &str) -> String {
    match client.sector() {
        None => account_id.to_string(),
        // The NUL keeps the two parts apart: no host contains one.
        Some(sector) => crypto::keyed_hash(key, "pairwise-sub", format!("{sector}\0{account_id}").as_bytes()),
    }
}

/// The sealing binds the account to the client the token was issued to, so that it
/// cannot be moved into another client's token (which a signature would catch anyway).
fn aad(client_id: &str) -> String {
    format!("pairwise-account:{client_id}")
}

/// The account behind a pairwise `sub`, sealed for `client_id`'s access token.
pub fn seal_account(secrets: &SecretBox, client_id: &str, account_id: &str) -> String {
    secrets.seal(account_id.as_bytes(), &aad(client_id))
}

/// The account sealed by `seal_account`, if it opens.
pub fn open_account(secrets: &SecretBox, client_id: &str, sealed: &str) -> Option<String> {
    let plain = secrets.open(sealed, &aad(client_id)).ok()?;
    String::from_utf8(plain.to_vec()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::SubjectType;

    fn client(redirect: &str, sector_identifier_uri: Option<&str>, subject_type: SubjectType) -> Client {
        Client {
            client_id: redirect.into(),
            application_id: None,
            name: "c".into(),
            secret_hash: None,
            redirect_uris: vec![redirect.into()],
            post_logout_redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: Vec::new(),
            auth_method: crate::clients::AuthMethod::None,
            application_type: Default::default(),
            first_party: false,
            require_two_factor: false,
            require_pushed_authorization_requests: false,
            id_token_alg: crate::crypto::jws::SigningAlg::Rs256,
            access_token_alg: None,
            backchannel_logout_uri: None,
            frontchannel_logout_uri: None,
            frontchannel_logout_session_required: false,
            jwks: None,
            jwks_uri: None,
            subject_type,
            sector_identifier_uri: sector_identifier_uri.map(str::to_string),
            request_object_alg: None,
            require_signed_request_object: false,
            userinfo_alg: None,
            resource: None,
        }
    }

    #[test]
    fn the_sector_decides_the_subject() {
        use SubjectType::{Pairwise, Public};
        let key = [7u8; 32];
        let sub = |c: &Client| for_client(&key, c, "acc-1");
        let a = client("https://a.example/cb", None, Pairwise);
        let a_other_path = client("https://a.example/other", None, Pairwise);
        let b = client("https://b.example/cb", None, Pairwise);
        let b_in_a = client("https://b.example/cb", Some("https://a.example/sector.json"), Pairwise);
        assert_eq!(sub(&client("https://a.example/cb", None, Public)), "acc-1");
        assert_ne!(sub(&a), "acc-1");
        assert_eq!(sub(&a), sub(&a_other_path));
        assert_ne!(sub(&a), sub(&b));
        assert_eq!(sub(&a), sub(&b_in_a));
        assert_ne!(sub(&a), for_client(&key, &a, "acc-2"));
        assert_ne!(sub(&a), for_client(&[8u8; 32], &a, "acc-1"));
    }
}
