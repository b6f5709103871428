//! Fetching a document from a URL a client gives: its key set (`jwks_uri`) or a request
//! object by reference (`request_uri`). One policy for both, from `[fetch]`: https only
//! (plain http to a loopback address when `allow_http_loopback`), no redirects (the
//! shared client follows none), a size limit read as the body arrives, and a time limit
//! on the whole exchange, so that a slow or endless document cannot hold a request.

use std::net::IpAddr;
use std::time::Duration;

use crate::config::FetchConfig;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    #[error("the URL is not an absolute https URL")]
    Scheme,
    #[error("the document could not be fetched")]
    Unreachable,
    #[error("the server answered status {0}")]
    Status(u16),
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the document took more than {0} seconds")]
    TooSlow(u64),
}

/// Whether the policy lets `uri` be fetched at all.
pub fn allowed(config: &FetchConfig, uri: &str) -> bool {
    let Ok(url) = url::Url::parse(uri) else {
        return false;
    };
    match url.scheme() {
        "https" => url.has_host(),
        "http" if config.allow_http_loopback => match url.host() {
            Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
            Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
            _ => false,
        },
        _ => false,
    }
}

/// The body at `uri`, under the policy; `accept` is the media type asked for.
pub async fn fetch(
    http: &reqwest::Client,
    config: &FetchConfig,
    uri: &str,
    accept: &str,
) -> Result<Vec<u8>, FetchError> {
    if !allowed(config, uri) {
        return Err(FetchError::Scheme);
    }
    let limit = Duration::from_secs(config.timeout);
    tokio::time::timeout(limit, read(http, uri, accept, config.max_bytes))
        .await
        .unwrap_or(Err(FetchError::TooSlow(config.timeout)))
}

async fn read(http: &reqwest::Client, uri: &str, accept: &str, max_bytes: usize) -> Result<Vec<u8>, FetchError> {
    let mut response =
        http.get(uri).header(reqwest::header::ACCEPT, accept).send().await.map_err(|_| FetchError::Unreachable)?;
    if !response.status().is_success() {
        return Err(FetchError::Status(response.status().as_u16()));
    }
    // A declared length over the limit is refused before anything is read; an
    // undeclared one is counted as it comes.
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(FetchError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|_| FetchError::Unreachable)? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_always_http_only_to_loopback_when_allowed() {
        let strict = FetchConfig::default();
        let loose = FetchConfig { allow_http_loopback: true, ..FetchConfig::default() };
        assert!(allowed(&strict, "https://rp.example/request.jwt"));
        assert!(!allowed(&strict, "http://127.0.0.1:8000/request.jwt"));
        assert!(allowed(&loose, "http://127.0.0.1:8000/request.jwt"));
        assert!(allowed(&loose, "http://[::1]:8000/request.jwt"));
        for refused in [
            "http://rp.example/r",
            "http://localhost/r",
            "http://10.0.0.1/r",
            "ftp://rp.example/r",
            "file:///etc/passwd",
            "urn:x:y",
        ] {
            assert!(!allowed(&loose, refused), "{refused}");
        }
    }
}
