//! The account administration console ("Gestion des comptes"): server-rendered pages in
//! the theme for account administrators, who sign in through Sésame itself like any
//! application (the built-in `sesame-console` client). It calls the same domain
//! functions as the API and the CLI, and records every change in the audit trail.

mod accounts;
mod applications;
mod auth;
mod confirmation;
mod events;
mod form;

use axum::{
    Router,
    http::StatusCode,
    response::{Redirect, Response},
    routing::{get, post},
};

pub use auth::{CONSOLE_CLIENT_ID, ensure_client};

use self::accounts::{Change, SecurityAction, on_post};
use crate::state::AppState;
use crate::web::{i18n::Locale, page_error::PageError};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/accounts") }))
        .route("/admin/login", get(auth::login))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/accounts", get(accounts::list))
        .route("/admin/accounts/new", get(accounts::new_form).post(accounts::create))
        .route("/admin/accounts/{username}", get(accounts::edit_form).post(accounts::update))
        .route("/admin/accounts/{username}/archive", on_post(Change::Archive))
        .route("/admin/accounts/{username}/restore", on_post(Change::Restore))
        .route("/admin/accounts/{username}/password", on_post(Change::ResetPassword))
        .route("/admin/accounts/{username}/second-factors/reset", on_post(SecurityAction::ResetSecondFactors))
        .route(
            "/admin/accounts/{username}/second-factors/{factor_id}/remove",
            axum::routing::post(accounts::remove_second_factor),
        )
        .route("/admin/accounts/{username}/unlock", on_post(SecurityAction::Unlock))
        .route("/admin/accounts/{username}/lock", on_post(SecurityAction::Lock))
        .route("/admin/accounts/{username}/sign-out-everywhere", on_post(SecurityAction::SignOutEverywhere))
        .route("/admin/events", get(events::page))
        .route("/admin/events.csv", get(events::csv))
        .route("/admin/applications", get(applications::list))
        .route("/admin/applications/{code}", get(applications::show))
        .route("/admin/applications/{code}/clients", post(applications::create_client))
        .route(
            "/admin/applications/{code}/clients/{client_id}/secret",
            get(applications::confirm_new_secret).post(applications::new_secret),
        )
}

/// The flash of a page that shows a secret once (a temporary password, a client's secret)
/// after a browser's post: bound to the administrator who asked for it and to what it is
/// about, so that no other page or console session ever shows it.
fn shown_once_scope(admin: &auth::ConsoleAdmin, about: &str) -> String {
    format!("console-once:{}:{about}", admin.0.account_id)
}

/// The page for an account, application or client that does not exist.
fn not_found(state: &AppState, locale: Locale) -> Response {
    PageError::new(StatusCode::NOT_FOUND, "console_not_found_title", "console_not_found").render(state, locale)
}
