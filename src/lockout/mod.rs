//! Lockout, in one place: every guessing budget and what it locks.
//!
//! - `throttle`: the engine — budgets counted in the database with reserve-before-check,
//!   doubling waits and a hard limit, so they hold across nodes and parallel requests.
//! - `password`: the identifier-and-password check and its budgets (per identifier and
//!   source, per known browser, all unknown sources together).
//! - `second_factor`: one budget per account shared by every second-factor method
//!   (codes from apps, recovery codes, texted and mailed codes, push refusals).
//! - `user_code`: the user codes of device authorizations typed on the verification
//!   page, per source and for everyone per minute; a right code gives its guess back.
//!
//! Client secrets (`oidc::client_auth`) and mailed-code resends
//! (`second_factor::email_code`) use the same engine with keys of their own.

pub mod password;
pub mod second_factor;
pub mod throttle;
pub mod user_code;
