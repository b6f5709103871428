//! One sea-orm entity per table; see `migrations/` for the schema.

pub mod account;
pub mod account_access;
pub mod application;
pub mod audit_event;
pub mod authorization_code;
pub mod authorization_request;
// The change feed of the per-node caches (change_feed).
pub mod cache_event;
pub mod client;
// Dynamic client registration (registration).
pub mod client_registration;
pub mod consent;
pub mod device_authorization;
pub mod initial_access_token;
// Which master key seals, and the derivation root (master_key).
pub mod master_key_state;
pub mod one_time_code;
pub mod passkey_ceremony;
pub mod push_challenge;
pub mod push_enrollment;
// Pushed authorization requests (oidc::par).
pub mod pushed_authorization_request;
pub mod recovery_code;
pub mod refresh_token;
pub mod revocation;
pub mod second_factor;
pub mod session;
pub mod session_client;
pub mod signing_key;
pub mod sms_send;
pub mod throttle;
pub mod used_assertion;
// Single use of DPoP proofs (oidc::dpop).
pub mod used_dpop_proof;
// Web Push (second_factor::push::web_push).
pub mod web_push_key;
pub mod web_push_subscription;
