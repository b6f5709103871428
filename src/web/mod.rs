//! Pages for people: login, consent, errors, and the theme they are drawn with.

pub mod consent;
pub mod cookies;
pub mod csrf;
pub mod i18n;
pub mod login;
pub mod page_error;
pub mod request;
pub mod theme;

use axum::{Router, routing::get};

use crate::app::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", get(login::show).post(login::submit))
        .route("/consent", get(consent::show).post(consent::submit))
        .route("/static/{*path}", get(theme::static_asset))
        .route("/", get(login::home))
}
