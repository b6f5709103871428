//! A passkey as the second factor: the page's script got the request options from
//! `/login/passkey/options`, the authenticator signed, and its answer arrives in the
//! form's `credential` field.

use axum::http::StatusCode;
use serde_json::json;

use super::{Notes, Step};
use crate::second_factor::passkey::PasskeyError;
use crate::state::AppState;
use crate::web::factor_stage::FactorLogin;
use crate::web::page_error::PageError;
use crate::web::passkey::login_binding;
use crate::web::request::ClientIp;

pub(super) async fn passkey_step(
    state: &AppState,
    login: &FactorLogin,
    credential: &str,
    ip: &ClientIp,
    now: i64,
) -> Step {
    if credential.trim().is_empty() {
        return Step::Show(Notes::error(login.message(state, "passkey_missing")), StatusCode::BAD_REQUEST);
    }
    let binding = login_binding(&login.pending);
    let passkeys = &state.passkeys;
    match passkeys.finish_authentication(&state.db, &state.secrets, &login.account, &binding, credential, now).await {
        Ok(used) => {
            login.audit(state, "second_factor.passkey_used", ip, json!({"factor_id": used.factor_id}), now).await;
            Step::ProvenAs(used.amr_after_password())
        }
        Err(PasskeyError::Domain(error)) => Step::Done(PageError::from(error).render(state, login.locale)),
        Err(error) => {
            crate::metrics::Metrics::count(&state.metrics.second_factor_failed);
            let (event, factor_id) = match &error {
                PasskeyError::CounterWentBack { factor_id, .. } => {
                    ("second_factor.passkey_counter_went_back", Some(factor_id.clone()))
                }
                _ => ("second_factor.failure", None),
            };
            let detail = json!({"method": "webauthn", "reason": error.code(), "factor_id": factor_id});
            login.audit(state, event, ip, detail, now).await;
            let key = match error {
                PasskeyError::Expired => "passkey_expired",
                PasskeyError::UserNotVerified => "passkey_not_verified",
                _ => "passkey_failed",
            };
            Step::Show(Notes::error(login.message(state, key)), StatusCode::UNAUTHORIZED)
        }
    }
}
