//! The OpenID Connect and OAuth 2.0 protocol: the validation of authorization and
//! end-session requests (their endpoints are pages, in `web`), and the endpoints for
//! machines — token (one module per grant, with token minting and refresh-token
//! storage), device authorization, userinfo, introspection, revocation, discovery —
//! that answer in the protocol's terms. Nothing here imports `web`.

pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod claims_request;
pub mod client_assertion;
pub mod client_auth;
pub mod device_authorization;
pub mod discovery;
// DPoP (RFC 9449): proofs of possession, sender-constrained tokens.
pub mod dpop;
pub mod error;
pub mod fetch;
// The FAPI 2.0 Security Profile as a client profile.
pub mod fapi2;
pub mod frontchannel;
pub mod introspect;
pub mod jwks_cache;
pub mod logout;
pub mod par;
pub mod params;
pub mod registration;
pub mod request_object;
pub mod resource;
pub mod revoke;
pub mod scope;
pub mod subject;
pub mod token;
pub mod userinfo;

use axum::{
    Router,
    http::{Method, header},
    routing::get,
};
use tower_http::cors::{Any, CorsLayer};

use crate::state::AppState;

pub const AUTHORIZE_PATH: &str = "/authorize";
pub const TOKEN_PATH: &str = "/token";
pub const USERINFO_PATH: &str = "/userinfo";
pub const JWKS_PATH: &str = "/jwks";
pub const INTROSPECTION_PATH: &str = "/introspect";
pub const REVOCATION_PATH: &str = "/revoke";
pub const END_SESSION_PATH: &str = "/logout";
pub const DEVICE_AUTHORIZATION_PATH: &str = "/device_authorization";
/// Pushed authorization requests (RFC 9126).
pub const PAR_PATH: &str = "/par";
/// Dynamic client registration (RFC 7591); each client's at `{REGISTRATION_PATH}/{client_id}` (RFC 7592).
pub const REGISTRATION_PATH: &str = "/register";
/// The device flow's verification page (a page: `web::device`).
pub const VERIFICATION_PATH: &str = "/device";

pub fn routes() -> Router<AppState> {
    // Browser applications (public clients) call these from their own origin; none of
    // them reads a cookie, so any origin may.
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::HeaderName::from_static(dpop::HEADER)])
        // A browser application reads the nonce to put in its next proof.
        .expose_headers([header::HeaderName::from_static(dpop::NONCE_HEADER), header::WWW_AUTHENTICATE])
        .max_age(std::time::Duration::from_secs(3600));
    let machine_endpoints = Router::new()
        .route("/.well-known/openid-configuration", get(discovery::metadata))
        .route("/.well-known/oauth-authorization-server", get(discovery::metadata))
        .route(JWKS_PATH, get(discovery::jwks))
        .route(TOKEN_PATH, axum::routing::post(token::token))
        .route(USERINFO_PATH, get(userinfo::get).post(userinfo::post))
        .route(INTROSPECTION_PATH, axum::routing::post(introspect::introspect))
        .route(REVOCATION_PATH, axum::routing::post(revoke::revoke))
        .route(DEVICE_AUTHORIZATION_PATH, axum::routing::post(device_authorization::endpoint))
        .route(PAR_PATH, axum::routing::post(par::endpoint::endpoint))
        .layer(cors);
    // Dynamic client registration (RFC 7591, 7592): programs, not browsers; no CORS.
    let registration = Router::new().route(REGISTRATION_PATH, axum::routing::post(registration::register)).route(
        &format!("{}/{{client_id}}", REGISTRATION_PATH),
        get(registration::read).put(registration::update).delete(registration::delete),
    );
    // The authorization and end-session endpoints are pages: see `web::routes`.
    machine_endpoints.merge(registration)
}

/// Scopes Sésame understands; others are ignored (RFC 6749 3.3 lets the server narrow).
pub const SUPPORTED_SCOPES: [&str; 6] = ["openid", "profile", "email", "phone", "address", "offline_access"];
