//! Protocol parameters: the authorization endpoint's, the form endpoints' (`/token`,
//! `/introspect`, `/revoke`) and the client credentials they carry.

use axum::{
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::Value;

use super::harness::{Harness, ISSUER, SEALED_LOGIN, harness, must};
use crate::oidc::client_auth::{Presented, presented};
use crate::oidc::params::Params;

/// `Params::parse`: a name given twice (with values) is refused and named; otherwise
/// every non-empty value is kept and an empty one counts as absent.
pub(super) fn check_params(text: &str) -> Option<Params> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(text.as_bytes()).map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    match Params::parse(text) {
        Ok(params) => {
            for (name, value) in &pairs {
                if !value.is_empty() {
                    assert_eq!(params.get(name), Some(value.as_str()), "parameter {name:?} lost");
                } else if !pairs.iter().any(|(n, v)| n == name && !v.is_empty()) {
                    assert!(!params.contains(name), "empty parameter {name:?} kept");
                }
            }
            Some(params)
        }
        Err(name) => {
            let given = pairs.iter().filter(|(n, v)| *n == name && !v.is_empty()).count();
            assert!(given >= 2, "{name:?} refused as repeated but given {given} times");
            None
        }
    }
}

/// The authorization endpoint, GET (when the bytes make a URI) without a session and
/// POST with pauline's session: never a server error; a login starts only for a
/// request whose client and redirect URI are registered; the browser is sent to a
/// client only at a redirect URI it registered, with `iss` and the request's `state`.
pub fn authorize_params(data: &[u8]) {
    let h = harness();
    let text = std::str::from_utf8(data).ok();
    let params = text.and_then(check_params);
    if let Some(text) = text
        && let Ok(uri) = format!("/authorize?{text}").parse::<axum::http::Uri>()
        && uri.query() == Some(text)
    {
        let request = Request::get(uri).body(Body::empty());
        let (status, headers, body) = h.send(must(request, "request"));
        check_authorization_answer(h, params.as_ref(), status, &headers, &body);
    }
    let request = Request::post("/authorize")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::COOKIE, h.session_cookie())
        .body(Body::from(data.to_vec()));
    let (status, headers, body) = h.send(must(request, "request"));
    check_authorization_answer(h, params.as_ref(), status, &headers, &body);
}

fn check_authorization_answer(
    h: &Harness,
    params: Option<&Params>,
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
) {
    assert!(!status.is_server_error(), "/authorize answered {status}: {}", String::from_utf8_lossy(body));
    let Some(location) = headers.get(header::LOCATION) else {
        return;
    };
    let location = location.to_str();
    assert!(location.is_ok(), "Location is not text: {location:?}");
    let location = location.unwrap_or_default();
    let param = |name: &str| params.and_then(|p| p.get(name));
    if let Some(tx) = location.strip_prefix("/login?tx=") {
        // A login starts: the request it seals is one the server validated.
        let opened = h.state.secrets.open(tx, SEALED_LOGIN);
        assert!(opened.is_ok(), "the login's tx does not open: {location}");
        let sealed: Value = serde_json::from_slice(&opened.unwrap_or_default()).unwrap_or_default();
        let request = &sealed["request"];
        let (client_id, redirect_uri) = (request["client_id"].as_str(), request["redirect_uri"].as_str());
        assert_eq!(client_id, param("client_id"), "the sealed client_id is not the request's");
        assert_eq!(redirect_uri, param("redirect_uri"), "the sealed redirect_uri is not the request's");
        let registered = client_id.and_then(|id| h.registered(id)).unwrap_or_default();
        assert!(
            redirect_uri.is_some_and(|uri| registered.iter().any(|r| r == uri)),
            "a login started for an unregistered redirect URI: {request}"
        );
        return;
    }
    if location.starts_with('/') && !location.starts_with("//") {
        return; // another page of Sésame (consent, second factor)
    }
    // Anything else goes to a client: at the redirect URI the request named, registered.
    let registered = param("client_id").and_then(|id| h.registered(id)).unwrap_or_default();
    let requested = param("redirect_uri").unwrap_or_default();
    assert!(registered.iter().any(|r| r == requested), "sent to {location}, not a registered redirect URI");
    let rest = location.strip_prefix(requested);
    assert!(
        rest.is_some_and(|rest| rest.is_empty() || rest.starts_with(['?', '&'])),
        "sent to {location}, not to the request's redirect URI {requested}"
    );
    let url = must(url::Url::parse(location), "redirect URL");
    let answer: Vec<(String, String)> = url.query_pairs().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    let value_of = |name: &str| answer.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    assert_eq!(value_of("iss"), Some(ISSUER), "no iss in {location}");
    if let Some(state) = param("state") {
        assert_eq!(value_of("state"), Some(state), "state not returned in {location}");
    }
}

/// The form endpoints (`/token`, `/introspect`, `/revoke`) with any headers and body.
/// The input reads like an HTTP request: an optional path line (`/introspect`), header
/// lines, a blank line, the body. Never a server error (503 with Retry-After aside);
/// JSON is JSON; errors carry an OAuth error code; tokens are never cached.
pub fn token_params(data: &[u8]) {
    let h = harness();
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&data[..at], &data[at + 2..]),
        None => (&b"content-type: application/x-www-form-urlencoded"[..], data),
    };
    let mut path = "/token";
    let mut headers = HeaderMap::new();
    for line in head.split(|b| *b == b'\n') {
        match line {
            b"/token" => path = "/token",
            b"/introspect" => path = "/introspect",
            b"/revoke" => path = "/revoke",
            _ => {
                let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
                let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
                if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
                    headers.append(name, value);
                }
            }
        }
    }
    // The parser alone: a form body or a reason, and the same parameters as Params.
    let form = crate::oidc::token::form_params(&headers, body);
    if let Ok(params) = &form {
        let text = std::str::from_utf8(body).unwrap_or_default();
        let again = check_params(text);
        assert!(again.is_some(), "form_params accepted what Params refuses");
        let _ = params;
    }
    let mut request = Request::builder().method(Method::POST).uri(path);
    for (name, value) in &headers {
        request = request.header(name, value);
    }
    let (status, answer_headers, answer) = h.send(must(request.body(Body::from(body.to_vec())), "request"));
    let shown = String::from_utf8_lossy(&answer);
    assert!(
        !status.is_server_error() || status == StatusCode::SERVICE_UNAVAILABLE,
        "{path} answered {status}: {shown}"
    );
    if status == StatusCode::SERVICE_UNAVAILABLE {
        assert!(answer_headers.contains_key(header::RETRY_AFTER), "503 without Retry-After");
    }
    let is_json = answer_headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let json: Option<Value> = is_json.then(|| serde_json::from_slice(&answer).ok()).flatten();
    assert!(!is_json || json.is_some(), "{path} sent JSON that is not: {shown}");
    if status.is_client_error() && is_json {
        let code = json.as_ref().and_then(|j| j["error"].as_str()).unwrap_or_default();
        assert!(
            !code.is_empty() && code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{path} error without an OAuth error code: {shown}"
        );
    }
    if path == "/token" {
        if status == StatusCode::OK {
            let json = json.unwrap_or_default();
            assert!(json["access_token"].is_string() && json["token_type"] == "Bearer", "odd token answer: {json}");
            let no_store = answer_headers.get(header::CACHE_CONTROL).is_some_and(|v| v == "no-store");
            assert!(no_store, "tokens sent without Cache-Control: no-store");
        }
        // A malformed body is refused before anything else is looked at.
        if form.is_err() {
            assert_eq!(status, StatusCode::BAD_REQUEST, "a malformed body answered {status}: {shown}");
        }
    }
}

/// Client credentials of the token endpoints (`client_auth::presented`): the
/// `Authorization: Basic` header (first line of the input) and the form body (the rest).
/// What is accepted is consistent with the request, and credentials encoded as RFC 6749
/// 2.3.1 says (form-urlencoded, then base64) always come back exactly.
pub fn basic_auth(data: &[u8]) {
    let (line, rest) = match data.iter().position(|b| *b == b'\n') {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &b""[..]),
    };
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_bytes(line) {
        headers.insert(header::AUTHORIZATION, value);
    }
    let text = std::str::from_utf8(rest).ok();
    if let Some(params) = text.and_then(|t| Params::parse(t).ok()) {
        let basic = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")));
        match presented(&headers, &params) {
            Ok(Presented::Basic { client_id, secret }) => {
                assert!(basic.is_some(), "Basic credentials without a Basic header");
                assert!(!params.contains("client_secret") && !params.contains("client_assertion"), "two methods");
                assert!(params.get("client_id").is_none_or(|id| id == client_id), "client_id differs");
                // Decoding what was decoded and encoded again gives the same.
                let again = presented(&basic_header(&client_id, &secret), &Params::default());
                assert!(
                    matches!(&again, Ok(Presented::Basic { client_id: c, secret: s }) if *c == client_id && *s == secret),
                    "Basic credentials do not survive a round trip"
                );
            }
            Ok(Presented::Post { client_id, secret }) => {
                assert!(basic.is_none() && !params.contains("client_assertion"), "two methods");
                assert_eq!(params.get("client_id"), Some(client_id.as_str()));
                assert_eq!(params.get("client_secret"), Some(secret.as_str()));
            }
            Ok(Presented::Assertion { client_id, assertion }) => {
                assert!(basic.is_none() && !params.contains("client_secret"), "two methods");
                assert_eq!(params.get("client_assertion"), Some(assertion.as_str()));
                let claimed = crate::oidc::client_assertion::claimed_client_id(&assertion);
                assert_eq!(claimed.as_deref(), Some(client_id.as_str()), "the assertion's sub is not the client");
                assert!(params.get("client_id").is_none_or(|id| id == client_id), "client_id differs");
            }
            Ok(Presented::Public { client_id }) => {
                assert!(basic.is_none(), "a Basic header taken for a public client");
                assert!(!params.contains("client_secret") && !params.contains("client_assertion"));
                assert_eq!(params.get("client_id"), Some(client_id.as_str()));
            }
            Err(_) => {}
        }
    }
    // Any id and secret, encoded by the book, are read back exactly.
    let id = String::from_utf8_lossy(line);
    let secret = String::from_utf8_lossy(rest);
    let read = presented(&basic_header(&id, &secret), &Params::default());
    assert!(
        matches!(&read, Ok(Presented::Basic { client_id, secret: s }) if *client_id == id && *s == secret),
        "RFC 6749 2.3.1 credentials not read back: {id:?} / {secret:?}"
    );
}

/// `Authorization: Basic` as RFC 6749 2.3.1 encodes it.
pub fn basic_header(client_id: &str, secret: &str) -> HeaderMap {
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let value = format!("Basic {}", STANDARD.encode(format!("{}:{}", encode(client_id), encode(secret))));
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, must(HeaderValue::from_str(&value), "Basic header"));
    headers
}
