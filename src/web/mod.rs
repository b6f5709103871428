//! Pages for people: login, consent, errors, and the theme they are drawn with.

pub mod account;
pub mod client_response;
pub mod consent;
pub mod cookies;
pub mod csrf;
pub mod enroll;
pub mod extract;
pub mod factor_stage;
pub mod i18n;
pub mod login;
pub mod login_flow;
pub mod page_error;
pub mod request;
pub mod sign_in;
pub mod theme;
pub mod verify;

use axum::{
    Router,
    routing::{get, post},
};

use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::show).post(login::submit))
        .route("/login/enroll/{page}", get(enroll::show).post(enroll::submit))
        .route("/login/verify", get(verify::show).post(verify::submit))
        .route("/login/verify/methods", get(verify::methods))
        .route("/login/verify/notice", get(verify::notice))
        .route("/login/verify/push-status", get(verify::push_status))
        .route("/login/continue", post(verify::continue_login))
        .route("/consent", get(consent::show).post(consent::submit))
        .route("/authenticator", get(account::authenticator))
        .route("/account", get(|| async { axum::response::Redirect::to("/account/security") }))
        .route("/account/login", get(account::login))
        .route("/account/callback", get(account::callback))
        .route("/account/security", get(account::show).post(account::submit))
        .route("/static/{*path}", get(theme::static_asset))
        .route("/", get(login::home))
}
