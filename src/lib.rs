//! Sésame, an OpenID Connect identity provider for the software of an office.
//!
//! The crate is the whole server as a library: [`app::open_state`] opens the database,
//! keys and theme; [`app::router`] gives the `axum::Router` to serve or mount;
//! [`app::serve`] runs it standalone. See README.md for the map of the modules.

// The discovery document is one `json!` literal with many members.
#![recursion_limit = "256"]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::todo))]

pub mod accounts;
pub mod admin_api;
pub mod app;
pub mod applications;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod change_feed;
pub mod cli;
pub mod client_ip;
pub mod clients;
pub mod clock;
pub mod config;
pub mod console;
pub mod cookies;
pub mod crypto;
pub mod demo;
pub mod device_authorization;
pub mod domain;
pub mod file_errors;
#[doc(hidden)]
pub mod fuzzing;
pub mod http_server;
pub mod i18n;
pub mod import;
pub mod janitor;
pub mod lockout;
pub mod login;
pub mod mail;
pub mod master_key;
pub mod metrics;
pub mod notify;
pub mod oidc;
pub mod outbox;
pub mod preflight;
pub mod rate_limit;
pub mod registration;
pub mod revocations;
pub mod second_factor;
pub mod state;
pub mod storage;
#[cfg(test)]
mod testing;
pub mod theme;
pub mod web;
