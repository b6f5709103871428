//! The login, from a validated authorization request to the authorization code, free of
//! HTTP: the stages a login goes through (`stage`), where a login in progress lives
//! (`pending`), access and consent (`consent`), the code (`code`), and the transitions
//! between them (`flow`). Each transition returns an [`Outcome`] — go to a page, send
//! the code or an error to the client, refuse with a page — that `web::login_flow`
//! turns into a response.
//!
//! A login's path: `flow::start` (no usable session: the request is sealed into the
//! login page's `tx`) → the password (`auth::password_login`) → `flow::after_password`
//! (the second-factor policy decides) → second-factor pages (`web::verify`,
//! `web::enroll`) → `flow::complete` (a new session) → `flow::proceed` (access, consent,
//! code).

pub mod code;
pub mod consent;
pub mod flow;
pub mod pending;
pub mod request;
pub mod stage;

pub use flow::{Context, Outcome, Refusal};
pub use request::{AuthorizationRequest, ErrorRedirect, ResponseMode};
pub use stage::{EnrollPage, FactorStep, Notice, Pending, Stage};

#[cfg(test)]
mod tests;
