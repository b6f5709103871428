//! Signed tokens: compact JWS wherever the server reads one.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::Value;

use super::harness::{ISSUER, harness};
use crate::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};

/// Each segment of a compact JWS decodes and encodes back to itself: a token that
/// verifies is the only spelling of its header, claims and signature.
fn is_canonical(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| URL_SAFE_NO_PAD.decode(part).is_ok_and(|bytes| URL_SAFE_NO_PAD.encode(bytes) == *part))
}

/// Compact JWS (ID token hints, access tokens, client assertions, push device messages,
/// bare or in the device protocol's `{"jws": …}` body): parsing never fails badly; what
/// verifies against a fixed key, a JWK or the server's key store was signed over exactly
/// these bytes, with the header's algorithm, and its claims are the unverified ones.
pub fn jws(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_jws(text);
    if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(text) {
        let signed = serde_json::from_str::<crate::second_factor::push::api::Signed>(text);
        assert_eq!(signed.is_ok(), body.get("jws").is_some_and(Value::is_string), "push body read wrong: {text}");
        if let Some(inner) = body.get("jws").and_then(Value::as_str) {
            check_jws(inner);
        }
    }
}

fn check_jws(token: &str) {
    let h = harness();
    let claimed = crate::oidc::client_assertion::claimed_client_id(token);
    let Ok(jws) = UnverifiedJws::parse(token) else {
        assert!(claimed.is_none(), "a client id claimed by a malformed JWS");
        return;
    };
    let unverified = jws.claims_unverified::<Value>().ok();
    assert_eq!(
        claimed.as_deref(),
        unverified.as_ref().and_then(|c| c["sub"].as_str()),
        "claimed_client_id is not the sub"
    );
    let mut verified_by_fixed = false;
    for key in &h.verifying {
        if let Ok(claims) = jws.verify::<Value>(key) {
            verified_by_fixed = true;
            assert_eq!(jws.alg, key.alg.as_str(), "verified under another algorithm than the header's");
            assert!(is_canonical(token), "a non-canonical spelling verifies: {token}");
            assert_eq!(Some(&claims), unverified.as_ref(), "verified claims differ from the unverified ones");
        }
    }
    // Keys from JWKs the token brings itself (push enrollment: `public_key`), and the
    // claims read as a JWK (any JSON reaches from_jwk).
    if let Some(claims) = &unverified {
        for jwk in [&claims["public_key"], claims] {
            for alg in SigningAlg::ALL {
                if let Some(key) = VerifyingKey::from_jwk(jwk, alg)
                    && jws.verify::<Value>(&key).is_ok()
                {
                    assert_eq!(jws.alg, key.alg.as_str(), "verified under another algorithm than the header's");
                    assert!(is_canonical(token), "a non-canonical spelling verifies: {token}");
                }
            }
        }
    }
    let state = &h.state;
    for client in [None, h.actes_web.as_ref()] {
        if let Some(claims) = h.block_on(crate::oidc::token::jwt::claims_of_id_token_hint(state, token, client)) {
            assert!(verified_by_fixed, "an id_token_hint accepted without a key of ours");
            assert_ne!(jws.typ.as_deref(), Some("at+jwt"), "an access token taken as an ID token");
            assert_eq!(claims["iss"], ISSUER);
            assert!(claims["sub"].is_string());
            if let Some(client) = client {
                let aud = &claims["aud"];
                let ours = aud == client.client_id.as_str()
                    || aud.as_array().is_some_and(|a| a.iter().any(|v| v == client.client_id.as_str()));
                assert!(ours, "an id_token_hint for another client accepted: {aud}");
            }
        }
    }
    if let Ok(claims) = h.block_on(crate::oidc::token::jwt::decode_access_token(state, token)) {
        assert!(verified_by_fixed, "an access token accepted without a key of ours");
        assert_eq!(jws.typ.as_deref(), Some("at+jwt"), "an ID token taken as an access token");
        assert_eq!(claims.iss, ISSUER);
    }
}
