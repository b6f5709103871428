//! A login code by text message (`second_factor::sms::send`), and its text.

use axum::http::StatusCode;
use serde_json::json;

use super::Notes;
use crate::i18n::Locale;
use crate::second_factor::sms::{self, send::Sent};
use crate::state::AppState;
use crate::web::factor_stage::FactorLogin;
use crate::web::request::ClientIp;

/// Sends a login code by text message (`sms::send`); what to tell the user.
pub(super) async fn send_sms(state: &AppState, login: &FactorLogin, ip: &ClientIp, now: i64) -> (Notes, StatusCode) {
    let message = |key: &str| state.theme.message(login.locale, key);
    let sender =
        sms::send::Sender { db: &state.db, code_key: &state.code_key, provider: &state.sms, config: &state.config.sms };
    let minutes = sender.code_minutes();
    let compose = |code: &str, locale| sms_text(state, locale, code, minutes);
    match sender.send_login_code(&login.account, ip.0.as_deref(), compose, now).await {
        Ok(Sent::Sent { to, minutes }) => {
            crate::metrics::Metrics::count(&state.metrics.sms_sent);
            login.audit(state, "sms.sent", ip, json!({"to": to}), now).await;
            let text = message("sms_sent").replace("{phone}", &to).replace("{minutes}", &minutes.to_string());
            (Notes { notice: Some(text), error: None }, StatusCode::OK)
        }
        Ok(Sent::Wait(wait)) => {
            let text = message("sms_resend_wait").replace("{seconds}", &wait.to_string());
            (Notes::error(text), StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(Sent::Limited(wait)) => {
            crate::metrics::Metrics::count(&state.metrics.sms_limited);
            login.audit(state, "sms.limited", ip, json!({"retry_after": wait}), now).await;
            let text = message("sms_limited").replace("{minutes}", &((wait + 59) / 60).to_string());
            (Notes::error(text), StatusCode::TOO_MANY_REQUESTS)
        }
        Ok(Sent::NoPhone) => (Notes::error(message("verify_method_unavailable")), StatusCode::BAD_REQUEST),
        Ok(Sent::Failed(error)) => {
            crate::metrics::Metrics::count(&state.metrics.sms_failed);
            login.audit(state, "sms.failed", ip, json!({"error": error}), now).await;
            (Notes::error(message("sms_failed")), StatusCode::SERVICE_UNAVAILABLE)
        }
        Err(error) => {
            tracing::error!(%error, "could not send a text message");
            (Notes::error(message("error_internal")), StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The text: who sends it, what for, how long it lasts, and the origin-bound last line
/// (`@host #code`) with which phones offer to fill it in only on Sésame's own pages;
/// in the account's language, which the sender gives.
fn sms_text(state: &AppState, locale: Locale, code: &str, minutes: i64) -> String {
    let host = url::Url::parse(state.config.issuer())
        .ok()
        .and_then(|url| url.host_str().map(str::to_string))
        .unwrap_or_default();
    let text = state
        .theme
        .message(locale, "sms_text")
        .replace("{issuer}", &state.config.two_factor.issuer_label)
        .replace("{code}", code)
        .replace("{minutes}", &minutes.to_string());
    format!("{text}\n\n@{host} #{code}")
}
