//! OpenID Connect Front-Channel Logout 1.0: when a session ends at Sésame's logout page,
//! the page loads, in an iframe, the `frontchannel_logout_uri` of every client that
//! took part in it, so that each application clears its own cookies in the browser.
//!
//! `iss` and `sid` are always added (section 2): a client that did not ask for them
//! (`frontchannel_logout_session_required` false) may ignore them, and one that did
//! must get them; sending them costs nothing and spares a per-client branch.

use crate::clients::Client;

/// The iframe addresses for the clients of a session that ended, in the clients' order,
/// each once.
pub fn frames(issuer: &str, sid: &str, clients: &[Client]) -> Vec<String> {
    let mut frames: Vec<String> = Vec::new();
    for uri in clients.iter().filter_map(|client| client.frontchannel_logout_uri.as_deref()) {
        // Registered URIs were checked (absolute, https or loopback, no fragment); one
        // that no longer parses is skipped rather than failing the logout.
        let Ok(mut url) = url::Url::parse(uri) else { continue };
        url.query_pairs_mut().append_pair("iss", issuer).append_pair("sid", sid);
        let frame = url.to_string();
        if !frames.contains(&frame) {
            frames.push(frame);
        }
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(id: &str, uri: Option<&str>) -> Client {
        Client {
            client_id: id.into(),
            application_id: None,
            name: id.into(),
            secret_hash: None,
            redirect_uris: Vec::new(),
            post_logout_redirect_uris: Vec::new(),
            grant_types: Vec::new(),
            scopes: Vec::new(),
            auth_method: crate::clients::AuthMethod::None,
            application_type: Default::default(),
            first_party: true,
            require_two_factor: false,
            require_pushed_authorization_requests: false,
            id_token_alg: crate::crypto::jws::SigningAlg::Rs256,
            access_token_alg: None,
            backchannel_logout_uri: None,
            frontchannel_logout_uri: uri.map(str::to_string),
            frontchannel_logout_session_required: false,
            resource: None,
            jwks: None,
            jwks_uri: None,
            subject_type: Default::default(),
            sector_identifier_uri: None,
            request_object_alg: None,
            require_signed_request_object: false,
            userinfo_alg: None,
        }
    }

    #[test]
    fn every_client_with_a_uri_gets_one_frame_with_iss_and_sid() {
        let clients = [
            client("a", Some("https://a.example/fc?tenant=paris")),
            client("b", None),
            client("c", Some("https://c.example/fc")),
        ];
        let frames = frames("https://sesame.example", "s 1", &clients);
        assert_eq!(
            frames,
            [
                "https://a.example/fc?tenant=paris&iss=https%3A%2F%2Fsesame.example&sid=s+1",
                "https://c.example/fc?iss=https%3A%2F%2Fsesame.example&sid=s+1",
            ]
        );
    }
}
