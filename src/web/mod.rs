//! Pages for people: login, second factor, consent, account security, the device
//! flow's verification page, errors; and the passkey ceremonies' JSON options.

pub mod account;
pub mod account_language;
pub mod authorize;
pub mod client_response;
pub mod consent;
pub mod csrf;
pub mod device;
pub mod enroll;
pub mod extract;
pub mod factor_stage;
pub mod flash;
pub mod login;
pub mod login_flow;
pub mod logout;
pub mod page_error;
pub mod passkey;
pub mod request;
pub mod sign_in;
pub mod verify;

// The theme, languages and cookies serve mails and the device API too; these names
// keep the paths pages have always used.
pub use crate::{cookies, i18n, theme};

use axum::{
    Router,
    routing::{get, post},
};

use crate::oidc::{AUTHORIZE_PATH, END_SESSION_PATH, VERIFICATION_PATH};
use crate::state::AppState;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(AUTHORIZE_PATH, get(authorize::handle).post(authorize::handle))
        .route(END_SESSION_PATH, get(logout::handle).post(logout::handle))
        .route("/logout/confirm", post(logout::confirm))
        .route(logout::DONE_PATH, get(logout::done))
        .route("/login", get(login::show).post(login::submit))
        .route("/login/enroll/{page}", get(enroll::show).post(enroll::submit))
        .route("/login/passkey/options", post(passkey::login_options))
        .route("/login/verify", get(verify::show).post(verify::submit))
        .route("/login/verify/methods", get(verify::methods))
        .route("/login/verify/notice", get(verify::notice))
        .route("/login/verify/push-status", get(verify::push_status))
        .route("/login/continue", post(verify::continue_login))
        .route("/consent", get(consent::show).post(consent::submit))
        .route(VERIFICATION_PATH, get(device::show).post(device::submit))
        .route("/device/confirm", get(device::confirm).post(device::decide))
        .route(device::DONE_PATH, get(device::done))
        .route("/device/login", get(device::login))
        .route("/device/qr.svg", get(device::qr_code))
        .route("/device/callback", get(device::callback))
        .route("/authenticator", get(account::authenticator))
        .route("/account", get(|| async { axum::response::Redirect::to("/account/security") }))
        .route("/account/login", get(account::login))
        .route("/account/callback", get(account::callback))
        .route("/account/security", get(account::show).post(account::submit))
        .route("/account/passkeys/options", post(passkey::account_options))
        .route("/account/language", post(account_language::submit))
        .route("/static/{*path}", get(crate::theme::static_asset))
        .route("/", get(login::home))
}
