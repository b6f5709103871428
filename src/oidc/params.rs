//! Protocol parameters from a query string or a form body. A parameter given twice is
//! an error (RFC 6749 3.1); an empty value counts as absent; unknown ones are kept and
//! ignored by the endpoints.

use std::collections::HashMap;

use axum::http::{HeaderMap, header};

#[derive(Debug, Default, Clone)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Parses `application/x-www-form-urlencoded` text; returns the repeated name on error.
    pub fn parse(encoded: &str) -> Result<Self, String> {
        let mut map = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(encoded.as_bytes()) {
            if value.is_empty() {
                continue;
            }
            if map.insert(name.to_string(), value.into_owned()).is_some() {
                return Err(name.into_owned());
            }
        }
        Ok(Self(map))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    pub fn owned(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// How many parameters there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// These parameters and `name`, which the request left out (a pushed request's
    /// `client_id`, known from its authentication).
    pub fn with(mut self, name: &str, value: String) -> Self {
        self.0.insert(name.to_string(), value);
        self
    }
}

/// The text of an `application/x-www-form-urlencoded` body, or what is wrong with it.
pub fn form_text(headers: &HeaderMap, body: &[u8]) -> Result<String, &'static str> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err("send the request as application/x-www-form-urlencoded");
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the request body is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(Params::parse("a=1&a=2").unwrap_err(), "a");
        let p = Params::parse("a=1&b=&c=x%20y").unwrap();
        assert_eq!(p.get("a"), Some("1"));
        assert_eq!(p.get("b"), None);
        assert_eq!(p.get("c"), Some("x y"));
    }
}
