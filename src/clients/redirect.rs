//! Redirect URIs: what each kind of client may register, and how a requested URI is
//! matched against them.
//!
//! Web clients match exactly, port and query included. Native clients (desktop
//! applications, RFC 8252) register loopback URIs `http://127.0.0.1/path` or
//! `http://[::1]/path`, which match whatever port the application listens on at run
//! time (7.3), private-use schemes in reverse-domain form (`fr.etude.inotacte:/callback`,
//! 7.1) and claimed `https` URIs, both matched exactly. `localhost` is refused: it can
//! resolve elsewhere than the loopback interface (8.3).

use url::{Host, Url};

use super::ApplicationType;
use crate::domain::DomainError;

/// Whether `registered` lets the client be sent to `requested`.
pub fn matches(kind: ApplicationType, registered: &str, requested: &str) -> bool {
    if registered == requested {
        return true;
    }
    kind == ApplicationType::Native
        && match (loopback(registered), loopback(requested)) {
            (Some(registered), Some(requested)) => same_but_port(&registered, &requested),
            _ => false,
        }
}

/// Where a person can go back to the application that asked for `redirect_uri`: the
/// origin of a web application's redirect URI. A desktop application has none (its
/// loopback port lived only as long as its login; a private-use scheme is no page).
pub fn home_of(kind: ApplicationType, redirect_uri: &str) -> Option<String> {
    if kind == ApplicationType::Native {
        return None;
    }
    let url = Url::parse(redirect_uri).ok()?;
    matches!(url.scheme(), "https" | "http").then(|| format!("{}/", url.origin().ascii_serialization()))
}

/// A loopback `http` URI by IP literal, parsed.
fn loopback(uri: &str) -> Option<Url> {
    let url = Url::parse(uri).ok()?;
    let is_loopback = match url.host()? {
        Host::Ipv4(ip) => ip == std::net::Ipv4Addr::LOCALHOST,
        Host::Ipv6(ip) => ip == std::net::Ipv6Addr::LOCALHOST,
        Host::Domain(_) => false,
    };
    (url.scheme() == "http" && is_loopback).then_some(url)
}

fn same_but_port(a: &Url, b: &Url) -> bool {
    a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        && a.username() == b.username()
        && a.password() == b.password()
        && a.fragment().is_none()
        && b.fragment().is_none()
}

/// Checks a redirect URI a client of this kind registers.
pub fn check(kind: ApplicationType, field: &str, uri: &str) -> Result<(), DomainError> {
    let parsed =
        Url::parse(uri).map_err(|e| DomainError::invalid(field, format!("`{uri}` is not an absolute URI ({e})")))?;
    if parsed.fragment().is_some() {
        return Err(DomainError::invalid(field, format!("`{uri}` must not have a fragment (#…)")));
    }
    if kind == ApplicationType::Web {
        return Ok(());
    }
    let refuse = |why: &str| Err(DomainError::invalid(field, format!("`{uri}`: {why}")));
    match parsed.scheme() {
        "https" => Ok(()),
        "http" if parsed.host_str() == Some("localhost") => refuse(
            "use http://127.0.0.1/… or http://[::1]/… (localhost may not be the loopback interface, RFC 8252 8.3)",
        ),
        "http" if loopback(uri).is_some() => Ok(()),
        "http" => {
            refuse("a desktop application listens on the loopback interface: http://127.0.0.1/… or http://[::1]/…")
        }
        scheme if is_reverse_domain(scheme) => Ok(()),
        _ => refuse(
            "a private-use scheme is a reverse domain name the office controls, e.g. fr.etude.inotacte:/callback (RFC 8252 7.1)",
        ),
    }
}

/// Checks a `frontchannel_logout_uri` (Front-Channel Logout 1.0, 2): the logout page of
/// Sésame, served over https, loads it in an iframe, so it is https too — or loopback
/// http, for an application tried on a developer's machine —, and has no fragment.
pub fn check_frontchannel(field: &str, uri: &str) -> Result<(), DomainError> {
    check(ApplicationType::Web, field, uri)?;
    if Url::parse(uri).is_ok_and(|url| url.scheme() == "https") || loopback(uri).is_some() {
        return Ok(());
    }
    Err(DomainError::invalid(
        field,
        format!("`{uri}`: use an https URI (or http://127.0.0.1/… or http://[::1]/… on a developer's machine)"),
    ))
}

/// The host of a URI, lowercased (the `url` crate does), as a pairwise sector.
pub fn host(uri: &str) -> Option<String> {
    Url::parse(uri).ok()?.host_str().filter(|host| !host.is_empty()).map(str::to_string)
}

/// Whether `candidate` is served by the same origin (scheme, host and port) as
/// `registered`; a loopback `http` URI stands for every port of its address, as a native
/// client's redirect URI does (RFC 8252 7.3).
pub fn same_origin(registered: &str, candidate: &str) -> bool {
    if let (Some(registered), Some(candidate)) = (loopback(registered), loopback(candidate)) {
        return registered.host() == candidate.host();
    }
    match (Url::parse(registered), Url::parse(candidate)) {
        (Ok(registered), Ok(candidate)) => registered.has_host() && registered.origin() == candidate.origin(),
        _ => false,
    }
}

/// Checks a `sector_identifier_uri` (OIDC Core 8.1): an https URL, whose host names the
/// sector — or loopback http, for a relying party tried on a developer's machine (the
/// registration endpoint fetches such a URL only when a test allows it, see `fetch`).
pub fn check_sector_identifier(field: &str, uri: &str) -> Result<(), DomainError> {
    check(ApplicationType::Web, field, uri)?;
    if (Url::parse(uri).is_ok_and(|url| url.scheme() == "https") || loopback(uri).is_some()) && host(uri).is_some() {
        return Ok(());
    }
    Err(DomainError::invalid(field, format!("`{uri}`: use an https URL")))
}

/// Checks a client's `resource` (RFC 8707 2): an absolute URI without a fragment; https,
/// since it names an API that tokens are sent to; no query, which the RFC advises
/// against and which would make two spellings of one API. Never fetched: requests name
/// it exactly as registered.
pub fn check_resource(field: &str, uri: &str) -> Result<(), DomainError> {
    check(ApplicationType::Web, field, uri)?;
    match Url::parse(uri) {
        Ok(url) if url.scheme() == "https" && url.has_host() && url.query().is_none() => Ok(()),
        _ => Err(DomainError::invalid(field, format!("`{uri}`: a resource is an https URI without query or fragment"))),
    }
}

/// `fr.etude.inotacte`: at least two labels, as RFC 8252 7.1 asks of private-use schemes.
fn is_reverse_domain(scheme: &str) -> bool {
    let labels: Vec<&str> = scheme.split('.').collect();
    labels.len() >= 2 && labels.iter().all(|label| !label.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Web};

    #[test]
    fn resources_are_https_without_query_or_fragment() {
        for ok in ["https://actes.example/api", "https://api.actes.example", "https://actes.example:8443/v2/"] {
            assert!(check_resource("resource", ok).is_ok(), "{ok}");
        }
        for refused in [
            "actes-api",
            "/api",
            "http://actes.example/api",
            "https://actes.example/api#v2",
            "https://actes.example/api?tenant=paris",
            "urn:actes:api",
        ] {
            assert!(check_resource("resource", refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn same_origin_is_scheme_host_and_port() {
        let registered = "https://actes.example/cb";
        assert!(same_origin(registered, "https://actes.example/request/1.jwt"));
        assert!(same_origin(registered, "https://actes.example:443/r"));
        for other in [
            "https://actes.example:8443/r",
            "http://actes.example/r",
            "https://admin.actes.example/r",
            "https://actes.example.evil.example/r",
            "not a url",
        ] {
            assert!(!same_origin(registered, other), "{other}");
        }
        assert!(same_origin("http://127.0.0.1/cb", "http://127.0.0.1:8123/request.jwt"));
        assert!(!same_origin("http://127.0.0.1/cb", "http://[::1]:8123/request.jwt"));
        assert!(!same_origin("fr.etude.inotacte:/callback", "fr.etude.inotacte:/request"));
    }

    #[test]
    fn a_web_application_is_found_again_at_its_origin() {
        let home = |kind, uri| super::home_of(kind, uri);
        assert_eq!(
            home(ApplicationType::Web, "https://actes.example:8443/cb?x=1").as_deref(),
            Some("https://actes.example:8443/")
        );
        assert_eq!(
            home(ApplicationType::Web, "http://127.0.0.1:9090/callback").as_deref(),
            Some("http://127.0.0.1:9090/")
        );
        assert_eq!(home(ApplicationType::Native, "http://127.0.0.1:51234/callback"), None);
        assert_eq!(home(ApplicationType::Web, "fr.etude.inotacte:/callback"), None);
    }

    #[test]
    fn loopback_uris_of_native_clients_match_any_port() {
        let v4 = "http://127.0.0.1/callback";
        assert!(matches(Native, v4, "http://127.0.0.1:51234/callback"));
        assert!(matches(Native, v4, "http://127.0.0.1/callback"));
        assert!(matches(Native, "http://127.0.0.1:7777/callback", "http://127.0.0.1:8888/callback"));
        assert!(matches(Native, "http://[::1]/cb", "http://[::1]:60000/cb"));
        for other in [
            "http://127.0.0.1:51234/other",
            "http://127.0.0.1:51234/callback?x=1",
            "http://127.0.0.1:51234/callback/",
            "http://localhost:51234/callback",
            "http://[::1]:51234/callback",
            "https://127.0.0.1:51234/callback",
            "http://127.0.0.2:51234/callback",
            "http://user@127.0.0.1:51234/callback",
        ] {
            assert!(!matches(Native, v4, other), "{other}");
        }
    }

    #[test]
    fn web_clients_and_other_uris_match_exactly() {
        assert!(!matches(Web, "http://127.0.0.1/callback", "http://127.0.0.1:51234/callback"));
        assert!(matches(Web, "https://actes.example/cb", "https://actes.example/cb"));
        assert!(!matches(Native, "fr.etude.inotacte:/callback", "fr.etude.inotacte:/callback2"));
        assert!(matches(Native, "fr.etude.inotacte:/callback", "fr.etude.inotacte:/callback"));
        assert!(!matches(Native, "https://actes.example/cb", "https://actes.example:8443/cb"));
    }

    #[test]
    fn native_clients_register_loopback_private_use_or_https() {
        for ok in [
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "fr.etude.inotacte:/callback",
            "https://a.example/cb",
        ] {
            assert!(check(Native, "redirect_uris", ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://localhost/callback",
            "http://192.168.1.2/callback",
            "inotacte:/callback",
            "http://127.0.0.1/callback#x",
        ] {
            assert!(check(Native, "redirect_uris", refused).is_err(), "{refused}");
        }
        assert!(check(Web, "redirect_uris", "http://localhost/callback").is_ok(), "web clients unchanged");
    }

    #[test]
    fn frontchannel_logout_uris_are_https_or_loopback_without_fragment() {
        for ok in ["https://actes.example/fc-logout?x=1", "http://127.0.0.1:8080/fc", "http://[::1]/fc"] {
            assert!(check_frontchannel("frontchannel_logout_uri", ok).is_ok(), "{ok}");
        }
        for refused in [
            "http://actes.example/fc",
            "https://actes.example/fc#frag",
            "fr.etude.inotacte:/fc",
            "javascript:alert(1)",
            "/relative",
        ] {
            assert!(check_frontchannel("frontchannel_logout_uri", refused).is_err(), "{refused}");
        }
    }
}
