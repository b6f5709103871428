//! The FAPI 2.0 Security Profile (final) as a client profile (`security_profile =
//! "fapi2"`): the rules Sésame enforces for such a client, over its registration.
//!
//! - Authorization requests are pushed (PAR, 5.3.2.2: `oidc::par::required`), with
//!   PKCE, `code_challenge_method=S256` stated (`oidc::authorize`), a `redirect_uri`
//!   (required of every request), `response_type=code` only (the only one Sésame has);
//!   their `request_uri` lives at most 600 seconds (`par.request_uri_ttl` cannot be
//!   more); codes at most 60 seconds (`code_lifetime`).
//! - The client authenticates with `private_key_jwt` (5.3.2.1; checked at
//!   registration), its assertion's `aud` the issuer (accepted, as the endpoints' URLs).
//! - Access tokens are sender-constrained by DPoP (5.3.2.1): `Client::requires_dpop`.
//! - PS256, ES256 or EdDSA only (5.4, `allows_alg`): ID tokens (at registration),
//!   client assertions (`oidc::client_assertion`) and DPoP proofs at the token and PAR
//!   endpoints (`oidc::dpop`) and at userinfo.
//! - `iss` in the authorization response (RFC 9207) is sent to every client already.

use crate::clients::Client;
use crate::crypto::jws::SigningAlg;

/// FAPI 2.0 Security Profile 5.3.2.1: authorization codes live at most 60 seconds.
const MAX_CODE_LIFETIME: i64 = 60;

/// FAPI 2.0 Security Profile 5.4.1: PS256, ES256 or EdDSA (Ed25519); not RS256.
pub fn allows_alg(alg: SigningAlg) -> bool {
    matches!(alg, SigningAlg::Ps256 | SigningAlg::Es256 | SigningAlg::EdDsa)
}

/// The lifetime of a code for `client`: the server's, capped for a FAPI 2.0 client.
pub fn code_lifetime(client: &Client, configured: i64) -> i64 {
    if client.is_fapi2() { configured.min(MAX_CODE_LIFETIME) } else { configured }
}

/// A FAPI 2.0 client's authorization request also states `code_challenge_method=S256`
/// (5.3.2.2: PKCE with S256; a challenge without its method means `plain` in RFC 7636).
pub fn pkce_method_ok(client: &Client, method: Option<&str>) -> bool {
    !client.is_fapi2() || method == Some("S256")
}
