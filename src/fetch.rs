//! Documents Sésame fetches from URLs a client registered (its `jwks_uri`, its
//! `sector_identifier_uri`): through the shared HTTP client (no redirects, a 5-second
//! timeout, see `state`), with a size limit read as the body streams in, and — where a
//! policy asks — only over https, loopback http being allowed for tests alone.

use serde_json::Value;

/// Where and how much may be fetched.
#[derive(Debug, Clone, Copy)]
pub struct FetchPolicy {
    /// `http://127.0.0.1…` and `http://[::1]…` are fetched too (tests); otherwise only
    /// https.
    pub allow_loopback_http: bool,
    /// Larger bodies are refused.
    pub max_bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("`{0}` is not an https URL")]
    NotHttps(String),
    #[error("could not fetch `{0}`: {1}")]
    Failed(String, String),
    #[error("`{0}` answered a document larger than {1} bytes")]
    TooLarge(String, usize),
    #[error("`{0}` did not answer JSON")]
    NotJson(String),
}

impl FetchPolicy {
    /// Whether the URL may be fetched under this policy.
    pub fn check(&self, uri: &str) -> Result<(), FetchError> {
        let Ok(url) = url::Url::parse(uri) else { return Err(FetchError::NotHttps(uri.into())) };
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
        match url.scheme() {
            "https" if url.has_host() => Ok(()),
            "http" if loopback && self.allow_loopback_http => Ok(()),
            _ => Err(FetchError::NotHttps(uri.into())),
        }
    }
}

/// Fetches a JSON document within the policy.
pub async fn json(http: &reqwest::Client, policy: FetchPolicy, uri: &str) -> Result<Value, FetchError> {
    policy.check(uri)?;
    json_unchecked(http, policy.max_bytes, uri).await
}

/// Fetches a JSON document of at most `max_bytes`, whatever the scheme (callers that
/// validated the URL on registration, such as `jwks_uri`).
pub async fn json_unchecked(http: &reqwest::Client, max_bytes: usize, uri: &str) -> Result<Value, FetchError> {
    let failed = |why: String| FetchError::Failed(uri.to_string(), why);
    let mut response = http.get(uri).send().await.map_err(|e| failed(e.to_string()))?;
    if !response.status().is_success() {
        return Err(failed(format!("HTTP status {}", response.status().as_u16())));
    }
    if response.content_length().is_some_and(|length| length > max_bytes as u64) {
        return Err(FetchError::TooLarge(uri.to_string(), max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(e.to_string()))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(FetchError::TooLarge(uri.to_string(), max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    serde_json::from_slice(&body).map_err(|_| FetchError::NotJson(uri.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_unless_loopback_http_is_allowed() {
        let strict = FetchPolicy { allow_loopback_http: false, max_bytes: 1024 };
        let tests = FetchPolicy { allow_loopback_http: true, ..strict };
        assert!(strict.check("https://rp.example/sector.json").is_ok());
        for refused in ["http://127.0.0.1:8080/s", "http://rp.example/s", "file:///etc/passwd", "ftp://x/y", "nonsense"]
        {
            assert!(strict.check(refused).is_err(), "{refused}");
        }
        assert!(tests.check("http://127.0.0.1:8080/s").is_ok());
        assert!(tests.check("http://[::1]:8080/s").is_ok());
        assert!(tests.check("http://rp.example/s").is_err(), "only loopback");
        assert!(tests.check("http://localhost/s").is_err(), "an IP literal, not a name");
    }
}
