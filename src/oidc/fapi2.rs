//! The FAPI 2.0 Security Profile (final) as a client profile (`security_profile =
//! "fapi2"`): the rules Sésame enforces for such a client, over its registration.
//!
//! - Authorization requests are pushed (PAR, 5.3.2.2), with PKCE S256 (5.3.2.2.5), a
//!   `redirect_uri` (5.3.2.2.7... PAR's parameters), `response_type=code` only; their
//!   `request_uri` lives at most 600 seconds (`par.request_uri_ttl` is capped there).
//! - The client authenticates with `private_key_jwt` (5.3.2.1; checked at
//!   registration), its assertion's `aud` the issuer (accepted, as the endpoints' URLs).
//! - Access tokens are sender-constrained by DPoP (5.3.2.1): `Client::requires_dpop`.
//! - PS256, ES256 or EdDSA only (5.4): ID tokens (registration), client assertions and
//!   DPoP proofs (here).
//! - `iss` in the authorization response (RFC 9207) is sent to every client already.

use crate::crypto::jws::SigningAlg;

/// FAPI 2.0 Security Profile 5.4.1: PS256, ES256 or EdDSA (Ed25519); not RS256.
pub fn allows_alg(alg: SigningAlg) -> bool {
    matches!(alg, SigningAlg::Ps256 | SigningAlg::Es256 | SigningAlg::EdDsa)
}
