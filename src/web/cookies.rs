//! Cookies Sésame sets: HttpOnly, SameSite=Lax, Secure when the issuer is https.

use axum_extra::extract::cookie::{Cookie, SameSite};

pub fn build(name: &str, value: String, secure: bool, max_age_seconds: Option<i64>) -> Cookie<'static> {
    let mut cookie =
        Cookie::build((name.to_string(), value)).path("/").http_only(true).same_site(SameSite::Lax).secure(secure);
    if let Some(seconds) = max_age_seconds {
        cookie = cookie.max_age(time::Duration::seconds(seconds));
    }
    cookie.build()
}
