//! One sea-orm entity per table; see `migrations/` for the schema.

pub mod account;
pub mod account_access;
pub mod application;
pub mod audit_event;
pub mod authorization_code;
pub mod authorization_request;
pub mod client;
pub mod consent;
pub mod issued_token;
pub mod session;
pub mod signing_key;
