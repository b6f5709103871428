//! Authentication: proving who the user is (password today; second factors build on
//! this) and the server-side sessions that remember it.

pub mod password_login;
pub mod session;

/// Authentication Context Class References Sésame asserts in `acr`.
pub mod acr {
    /// Password only.
    pub const PASSWORD: &str = "urn:sesame:loa:1fa";
    /// Password and a second factor.
    pub const MULTI_FACTOR: &str = "urn:sesame:loa:2fa";
    pub const SUPPORTED: [&str; 2] = [PASSWORD, MULTI_FACTOR];
}
