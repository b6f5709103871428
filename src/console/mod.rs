//! The account administration console ("Gestion des comptes"): server-rendered pages in
//! the theme for account administrators, who sign in through Sésame itself like any
//! application (the built-in `sesame-console` client). It calls the same domain
//! functions as the API and the CLI, and records every change in the audit trail.

mod accounts;
mod applications;
mod auth;
mod form;

use axum::{
    Router,
    response::Redirect,
    routing::{get, post},
};

pub use auth::{CONSOLE_CLIENT_ID, ensure_client};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(|| async { Redirect::to("/admin/accounts") }))
        .route("/admin/login", get(auth::login))
        .route("/admin/callback", get(auth::callback))
        .route("/admin/accounts", get(accounts::list))
        .route("/admin/accounts/new", get(accounts::new_form).post(accounts::create))
        .route("/admin/accounts/{username}", get(accounts::edit_form).post(accounts::update))
        .route("/admin/accounts/{username}/archive", post(accounts::archive))
        .route("/admin/accounts/{username}/restore", post(accounts::restore))
        .route("/admin/accounts/{username}/password", post(accounts::reset_password))
        .route("/admin/accounts/{username}/second-factors/reset", post(accounts::reset_second_factors))
        .route("/admin/accounts/{username}/unlock", post(accounts::unlock))
        .route("/admin/accounts/{username}/lock", post(accounts::lock))
        .route("/admin/applications", get(applications::list))
        .route("/admin/applications/{code}", get(applications::show))
        .route("/admin/applications/{code}/clients", post(applications::create_client))
        .route("/admin/applications/{code}/clients/{client_id}/secret", post(applications::new_secret))
}
