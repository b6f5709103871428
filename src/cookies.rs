//! Cookies Sésame sets: HttpOnly, SameSite=Lax, Path=/, and — when the issuer is https —
//! Secure with the `__Host-` name prefix, which browsers accept only from a secure
//! origin and never with a Domain: a sibling site or a network attacker cannot plant
//! one. Every cookie is built and read through here, so the prefix is never forgotten.

use std::borrow::Cow;

use axum_extra::extract::{
    CookieJar,
    cookie::{Cookie, SameSite},
};

/// The name a cookie goes by: `__Host-name` over https.
pub fn name(base: &str, secure: bool) -> Cow<'_, str> {
    if secure { Cow::Owned(format!("__Host-{base}")) } else { Cow::Borrowed(base) }
}

pub fn build(base: &str, value: String, secure: bool, max_age_seconds: Option<i64>) -> Cookie<'static> {
    let mut cookie = Cookie::build((name(base, secure).into_owned(), value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure);
    if let Some(seconds) = max_age_seconds {
        cookie = cookie.max_age(time::Duration::seconds(seconds));
    }
    cookie.build()
}

/// The value the browser sent for the cookie, if any.
pub fn get(jar: &CookieJar, base: &str, secure: bool) -> Option<String> {
    jar.get(&name(base, secure)).map(|cookie| cookie.value().to_string())
}

/// What removes the cookie from the browser.
pub fn removal(base: &str, secure: bool) -> Cookie<'static> {
    Cookie::build(name(base, secure).into_owned()).path("/").secure(secure).build()
}

#[cfg(test)]
mod tests {
    #[test]
    fn https_cookies_take_the_host_prefix() {
        assert_eq!(super::name("sesame_session", true), "__Host-sesame_session");
        assert_eq!(super::name("sesame_session", false), "sesame_session");
        let cookie = super::build("sesame_browser", "v".into(), true, None);
        assert_eq!(cookie.name(), "__Host-sesame_browser");
        assert_eq!(cookie.path(), Some("/"));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.domain(), None);
    }
}
