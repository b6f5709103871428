//! Authentication: the browsers an account signed in from before, the server-side
//! sessions that remember a login, and the `acr` levels they assert. The password check
//! and its budgets are in `lockout::password`; second factors in `second_factor`.

pub mod known_browser;
pub mod session;

/// Authentication Context Class References Sésame asserts in `acr`.
pub mod acr {
    /// Password only.
    pub const PASSWORD: &str = "urn:sesame:loa:1fa";
    /// Password and a second factor.
    pub const MULTI_FACTOR: &str = "urn:sesame:loa:2fa";
    /// Password and a second factor other than a text message (authenticator app, …):
    /// what a client asks for when SMS is not enough for it.
    pub const STRONG: &str = "urn:sesame:loa:2fa-strong";
    pub const SUPPORTED: [&str; 3] = [PASSWORD, MULTI_FACTOR, STRONG];

    /// Whether the request's `acr_values` rule out text messages.
    pub fn wants_strong(acr_values: &[String]) -> bool {
        acr_values.iter().any(|value| value == STRONG)
    }

    /// Whether a session of this `acr` and `amr` satisfies the request's `acr_values`
    /// as far as second factors go.
    pub fn satisfies(acr: &str, amr: &[String], acr_values: &[String]) -> bool {
        if acr != MULTI_FACTOR {
            return false;
        }
        !wants_strong(acr_values) || !amr.iter().any(|value| value == "sms")
    }
}
