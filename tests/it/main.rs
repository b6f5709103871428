//! Sésame's integration tests: one binary (linking is slow), modules by concern. Each
//! test starts a real server on a free port through the library's entry point and
//! drives it over HTTP; storage tests run on SQLite and, when SESAME_TEST_POSTGRES_URL
//! is set, on PostgreSQL.

// The tests measure real durations (throttling waits, slow clients): only the server's
// code must read time through its clock (see clippy.toml).
#![allow(clippy::disallowed_methods)]

mod harness;
mod rp;

mod abuse;
pub mod admin_api;
mod backup;
mod browser;
mod caches;
mod claims_parameter;
mod cli;
mod console;
mod console_events;
mod console_polish;
mod demo;
mod device;
mod embedding;
// DPoP (RFC 9449).
pub mod dpop;
// The FAPI 2.0 Security Profile as a client profile.
mod fapi2;
mod first_hour;
mod frontchannel;
mod hardening;
mod import;
mod interop;
mod language;
pub mod lifecycle;
mod limits;
// Master-key rotation with two nodes serving.
mod master_key;
mod native;
mod oidcc;
mod pages;
// Pairwise subject identifiers (OIDC Core 8.1).
mod pairwise;
// Pushed authorization requests (RFC 9126).
mod par;
mod passkey_authenticator;
mod passkeys;
pub mod push;
// Request objects (OIDC Core 6, RFC 9101) and signed userinfo (OIDC Core 5.3.2).
mod request_objects;
// Resource indicators (RFC 8707).
mod resource_indicators;
// Dynamic client registration (RFC 7591, RFC 7592).
mod registration;
mod rights;
mod sign_out;
pub mod sms;
pub mod two_factor;
mod upgrade;

// Web Push delivery of push requests (second_factor::push::web_push).
mod web_push;
