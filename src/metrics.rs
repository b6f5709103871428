//! Prometheus metrics at `/metrics` (text exposition format): counters of the security
//! and protocol events an operator watches. Counters are per node; Prometheus sums them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::{
    extract::State,
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

use crate::config::Config;

/// One counter per event; `name` and `help` are what Prometheus shows.
macro_rules! counters {
    ($($field:ident => $name:literal, $help:literal;)*) => {
        #[derive(Default)]
        pub struct Metrics {
            $(pub $field: AtomicU64,)*
        }

        impl Metrics {
            fn render(&self) -> String {
                let mut out = String::new();
                $(
                    out.push_str(concat!("# HELP ", $name, " ", $help, "\n# TYPE ", $name, " counter\n"));
                    out.push_str(&format!(concat!($name, " {}\n"), self.$field.load(Ordering::Relaxed)));
                )*
                out
            }
        }
    };
}

counters! {
    logins_succeeded => "sesame_logins_succeeded_total", "Logins whose password was right (a second factor may follow).";
    second_factor_succeeded => "sesame_second_factor_succeeded_total", "Second factors proven at login (authenticator app or recovery code).";
    second_factor_failed => "sesame_second_factor_failed_total", "Wrong second-factor codes at login.";
    enrollments => "sesame_second_factor_enrollments_total", "Authenticators enrolled (at login or from the account page).";
    sms_sent => "sesame_sms_sent_total", "Login codes sent by text message.";
    sms_failed => "sesame_sms_failed_total", "Text messages the provider did not take (after one retry).";
    sms_limited => "sesame_sms_limited_total", "Text messages refused by the per-account, per-number or per-address limits.";
    logins_failed => "sesame_logins_failed_total", "Refused logins: wrong credentials, locked or archived accounts, rate limits.";
    tokens_issued => "sesame_tokens_issued_total", "Successful token endpoint responses, all grants.";
    token_errors => "sesame_token_errors_total", "Token endpoint errors (OAuth error responses).";
    code_reuse => "sesame_authorization_code_reuse_total", "Authorization codes presented twice (grant revoked).";
    refresh_reuse => "sesame_refresh_token_reuse_total", "Rotated refresh tokens presented again (family revoked).";
    logouts => "sesame_logouts_total", "Sessions ended by logout.";
    backchannel_failures => "sesame_backchannel_logout_failures_total", "Back-channel logout deliveries that failed.";
    push_fraud_reports => "sesame_push_fraud_reports_total", "Sign-in notifications the user reported as not theirs (account locked, administrators alerted).";
}

impl Metrics {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// `/metrics` on the main address: only with `Authorization: Bearer <metrics.bearer_token>`,
/// and not found for anyone else (nor at all when no token is configured).
pub async fn guarded_endpoint(
    State(config): State<Arc<Config>>,
    State(metrics): State<Arc<Metrics>>,
    headers: axum::http::HeaderMap,
) -> Response {
    let expected = &config.metrics.bearer_token;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or_default();
    if expected.is_empty() || !crate::crypto::constant_time_eq(expected.as_bytes(), presented.trim().as_bytes()) {
        return axum::http::StatusCode::NOT_FOUND.into_response();
    }
    endpoint(State(metrics)).await
}

pub async fn endpoint(State(metrics): State<Arc<Metrics>>) -> Response {
    let body = format!(
        "# HELP sesame_build_info Version of this node.\n# TYPE sesame_build_info gauge\nsesame_build_info{{version=\"{}\"}} 1\n{}",
        env!("CARGO_PKG_VERSION"),
        metrics.render()
    );
    ([(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], body)
        .into_response()
}
