//! Entry points of the cargo-fuzz targets in `fuzz/` (see fuzz/README.md): each runs one
//! parser of untrusted input the way the server runs it, then asserts what must hold
//! whatever the bytes. A panic, a failed assertion, an out-of-memory or a hang is a
//! finding. Nothing in the server calls this module.
//!
//! The targets that need the server (the authorization and token endpoints, the import,
//! ID token hints, cookies) share one [`Harness`]: the server's state on a throw-away
//! SQLite database with the test office imported, fixed signing keys, a fixed master key
//! and a fixed clock, so that a corpus made today replays the same tomorrow.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header},
};
use axum_extra::extract::CookieJar;
use base64::{
    Engine,
    engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::accounts::{normalize_email, normalize_phone, normalize_username};
use crate::auth::known_browser::{self, KnownBrowser};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{
    self,
    jws::{SigningAlg, SigningKey, UnverifiedJws, VerifyingKey},
    secretbox::SecretBox,
};
use crate::oidc::client_auth::{Presented, presented};
use crate::oidc::params::Params;
use crate::state::AppState;
use crate::web::{cookies, csrf};

/// The time of every request the harness makes (2027-01-15).
pub const NOW: i64 = 1_800_000_000;
pub const ISSUER: &str = "https://sesame.fuzz";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The office of the integration tests: clients of every kind, accounts with access.
const OFFICE: &str = include_str!("../../tests/fixtures/office.toml");
/// Associated data of the sealed login `tx` (login::pending).
const SEALED_LOGIN: &str = "pending-login";

/// Signing keys made for fuzzing only (PKCS#8), never used by a server: the harness
/// installs them as its current keys so that committed tokens keep verifying.
const RSA_PKCS8: &str = concat!(
    "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQDPzVLxolWdNGLTMQ3B3nwqSwi2bS+NPPTvtwFqzyLUdHy2ZZnJ",
    "SweQ4iEvWGwE133MZgj78Gve/o4xE9QiI6HS77qAO2R0H+ibMUtsdC9P9amZ2HKNUAMkDdgsHJ/aQ18R69F9WLnBBBmrexIwuIHH",
    "KO9usPXt75gVpjVAfs1+IJCzKqcQ1T0X7tfvPxzblDh9EA4StM3xiHnnLbMaem2WJBpz+dAaDdpuz+VKSiCuXNq5OGkHdjxE0a7g",
    "JC/AM+LmaiLIJFl7tzvWiWWcR98PFrhj+6gjFtwprST2BD25io7qdBqN+9dycKvvUSVavHdmH4wY2ZVCjZ6brO+nRm83AgMBAAEC",
    "ggEADj8IWbKEZhOqVso9JDZpksi0HzWbFfbA4BJO0ZDD1Ybq6eJLScaQDTnDhqhsN2TCphm0sfkInDAddXXjjDefJ4Px6EqqF1/8",
    "pW8auaO5fqTb7MUvDUsX/AfK8zM/LkqCIQtmwE4t5fKvA9ebJqXvl8TRrWgKZDaR2aIccoB+/A+Fud4xM2UZzgDwsR5kulY02Tpp",
    "GLPY33BijHUDgFSWxy51oBGYEO4og4gy7dlKOXtpuqjzJETUtRlylD47QIkVR14XbpB6FtMAkYY2n1tVJmqt7QC4PPd0lyqiqm2Q",
    "D/fsCf7kKlfCQ5Ts+uTXBz81GzIVBwF5OB5CVIgQyeDK6QKBgQD81rcU5CPR/IBPbvz+zHF25Ah5ZFCpWQ7a9rQ/2m96U5C1kYpN",
    "BEE9NDrj2LN2OXY7GidfRbydtIdOWvp3u1kY8HcmjLXKqfankRUXwo4hJUTBduPxNs1bihwfRDWpM8lQSXUG6EXbE0q3XUAuhd1J",
    "O6+GTAjnSNZM1XLHtkJg1QKBgQDSZnSmT6j5blk9r6ig860k4oQO5Dz3c/6qAIKRqBQeEDGwSut8yaoeEpmmyi0VExdTx7W25iKh",
    "XAiHgqqwDi4LLKBhGhrvQ99+3+7MIx17CTl5I0xnr2VGlbJOghqPa9S7A/hmtQrKcKEqbLMDP2gFLQw+CCg9wMSvAGDwgWu12wKB",
    "gCeSL0s8vYJy414LP9tdAfEalVzyX1Fx18pbTDCmLkZV59MS+TM+lDtQ/lqEounA6okrebgGgROpmnef841jq/kkQXGuGhGi8jCd",
    "m1CBqZ70Z0NkKR6qdg96mRYnpcJakYpYRNGU7sHvzgTOumnNl6mLhtgc9FPGaYvS6EjrdI4VAoGAVvkZUUJutCUkaLZ7O4VfVnb4",
    "Zft9JEFjzTyGvNVA86h4Ecr2i1AFrYa801CR0DtjEjPk7uU0/YTA1dty2XITIHVjGqCi77Mb6SOCYApH/nsysdugkt/TOplY6tEn",
    "T5AgkOo0Paiq/EIQrSvf2ADW7ATSIbZXhCdyZnD+oYyuTK8CgYAJ8UnWhnSUG6JOZD9XBETtjvsMwZfWqXPvz+uY4Cj8TN7QxnnD",
    "06MfzfpYqAbvPY4RLVZn9KV1MPwGGsdZ0DbCbrPXfxEtcyqT732E8K38VblcgkrvyCKblmeSPPC9zpXikmNwx4wbb3CdS7/NHysf",
    "IzpZCJ4UyuFjQrdjazA4ow==",
);
const EC_PKCS8: &str = concat!(
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgu5Hv7sJqVywmbJrSO4/kO1m6f23Boj31kuWW4ckCZiihRANCAAQm",
    "51SZK3jCO/65YHilF5f5lxnNgYSpIpKe+8fgPWxWXghEIEYBf//5JazM4tUj1xqli0wG6jnLGirbMXeN4LYA",
);
const ED25519_PKCS8: &str = "MC4CAQAwBQYDK2VwBCIEIC/VE38P8OZUBFmvfZicPQ69fOF0GCPWLTFq2+GRGUZR";

/// A push device's own key, for the seeds of the device protocol.
const DEVICE_SEED: [u8; 32] = [0x5e; 32];

fn must<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(value) => value,
        Err(error) => {
            eprintln!("fuzz harness: {what}: {error}");
            std::process::abort()
        }
    }
}

/// The fixed signing key of `alg`, under the key id `fuzz-<alg>`.
pub fn fixed_key(alg: SigningAlg) -> SigningKey {
    let pkcs8 = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => RSA_PKCS8,
        SigningAlg::Es256 => EC_PKCS8,
        SigningAlg::EdDsa => ED25519_PKCS8,
    };
    let der = must(STANDARD.decode(pkcs8), "fixed key base64");
    must(SigningKey::from_pkcs8(format!("fuzz-{}", alg.as_str().to_lowercase()), alg, &der), "fixed key")
}

struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        NOW
    }
}

/// The server, once per fuzzing process.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    pub state: AppState,
    router: Router,
    /// A live session of `pauline` (the cookie's value), to reach what follows a login.
    session_token: String,
    /// The fixed keys, public halves as the server checks them and as JWKs.
    verifying: Vec<VerifyingKey>,
    /// The client ID token hints are checked for.
    actes_web: Option<crate::clients::Client>,
}

static HARNESS: OnceLock<Harness> = OnceLock::new();

pub fn harness() -> &'static Harness {
    HARNESS.get_or_init(Harness::start)
}

impl Harness {
    fn start() -> Self {
        let runtime = must(tokio::runtime::Builder::new_current_thread().enable_all().build(), "tokio runtime");
        let dir = scratch_dir();
        let mut config = Config {
            issuer: ISSUER.into(),
            data_dir: dir.clone(),
            database_url: format!("sqlite://{}?mode=rwc", dir.join("sesame.db").display()),
            master_key: MASTER_KEY.into(),
            demo: Some(false),
            ..Config::default()
        };
        config.password.argon2_memory_kib = 1024;
        config.password.argon2_iterations = 1;
        config.two_factor.required_for_admins = false;
        // Budgets would soon refuse every request of a fuzzer: out of the way.
        config.rate_limits.login_per_ip_per_minute = u32::MAX;
        config.rate_limits.client_auth_failures_per_minute = u32::MAX;
        config.janitor.interval = 0;
        let (state, session_token, actes_web) = runtime.block_on(async {
            let db = must(crate::storage::connect(&config.database_url()).await, "database");
            must(crate::storage::migrate(&db).await, "migrations");
            let secrets = must(SecretBox::from_base64(MASTER_KEY), "master key");
            for alg in SigningAlg::ALL {
                let key = fixed_key(alg);
                let der = match alg {
                    SigningAlg::Rs256 | SigningAlg::Ps256 => RSA_PKCS8,
                    SigningAlg::Es256 => EC_PKCS8,
                    SigningAlg::EdDsa => ED25519_PKCS8,
                };
                let der = must(STANDARD.decode(der), "fixed key base64");
                let row = crate::storage::entities::signing_key::ActiveModel {
                    kid: Set(key.kid.clone()),
                    alg: Set(alg.as_str().to_string()),
                    private_key: Set(secrets.seal(&der, &format!("signing-key:{}", key.kid))),
                    public_jwk: Set(key.public_jwk().to_string()),
                    status: Set("current".into()),
                    created_at: Set(NOW),
                    retired_at: Set(None),
                };
                must(row.insert(&db).await, "fixed signing key");
            }
            drop(db);
            let state = must(crate::app::open_state(config, Arc::new(FixedClock)).await, "server state");
            must(crate::app::ensure_builtin_clients(&state).await, "built-in clients");
            must(crate::import::import_text(&state, "office.toml", OFFICE).await, "test office");
            let pauline = must(crate::accounts::find_by_username(&state.db, "pauline").await, "pauline");
            let Some(pauline) = pauline else {
                eprintln!("fuzz harness: the test office has no pauline");
                std::process::abort()
            };
            let (token, _) = must(
                crate::auth::session::create(
                    &state.db,
                    &pauline.id,
                    &["pwd"],
                    crate::auth::acr::PASSWORD,
                    NOW,
                    &state.config.session,
                )
                .await,
                "session",
            );
            let actes_web = must(crate::clients::find(&state.db, "actes-web").await, "actes-web");
            (state, token, actes_web)
        });
        let router = crate::app::router(state.clone());
        let verifying = SigningAlg::ALL
            .into_iter()
            .flat_map(|alg| {
                let key = fixed_key(alg);
                let from_jwk = VerifyingKey::from_jwk(&key.public_jwk(), alg);
                [Some(key.verifying_key()), from_jwk]
            })
            .flatten()
            .collect();
        Self { runtime, state, router, session_token, verifying, actes_web }
    }

    fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Sends one request through every layer of the server, as hyper would.
    fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
        self.block_on(async {
            let response = match self.router.clone().oneshot(request).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            (parts.status, parts.headers, body.to_vec())
        })
    }

    fn cookie(&self, base: &str, value: &str) -> String {
        format!("{}={value}", cookies::name(base, self.state.config.secure_cookies()))
    }

    fn session_cookie(&self) -> String {
        self.cookie(&self.state.config.session.cookie_name, &self.session_token)
    }

    fn registered(&self, client_id: &str) -> Option<Vec<String>> {
        thread_local! {
            static CLIENTS: std::cell::RefCell<HashMap<String, Option<Vec<String>>>> = Default::default();
        }
        if let Some(known) = CLIENTS.with(|c| c.borrow().get(client_id).cloned()) {
            return known;
        }
        let found = self.block_on(crate::clients::find(&self.state.db, client_id)).ok().flatten();
        let uris = found.map(|client| client.redirect_uris);
        CLIENTS.with(|c| c.borrow_mut().insert(client_id.to_string(), uris.clone()));
        uris
    }
}

/// A folder of its own for this process's database, in memory when the machine has
/// /dev/shm; folders left by fuzzing processes that have ended are removed.
fn scratch_dir() -> PathBuf {
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    if let Ok(entries) = std::fs::read_dir(&base) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(pid) = name.strip_prefix("sesame-fuzz-")
                && !std::path::Path::new(&format!("/proc/{pid}")).exists()
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = base.join(format!("sesame-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    must(std::fs::create_dir_all(&dir), "scratch folder");
    dir
}

// ---------------------------------------------------------------------------------------
// Protocol parameters

/// `Params::parse`: a name given twice (with values) is refused and named; otherwise
/// every non-empty value is kept and an empty one counts as absent.
fn check_params(text: &str) -> Option<Params> {
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

// ---------------------------------------------------------------------------------------
// Signed tokens

/// Each segment of a compact JWS decodes and encodes back to itself: a token that
/// verifies is the only spelling of its header, claims and signature.
fn is_canonical(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|part| URL_SAFE_NO_PAD.decode(part).is_ok_and(|bytes| URL_SAFE_NO_PAD.encode(bytes) == *part))
}

/// Compact JWS (ID token hints, access tokens, client assertions, push device messages,
/// bare or in the device protocol's `{"jws": …}` body): parsing never fails badly; what
/// verifies against a fixed key, a JWK or the server's key store was signed over exactly
/// these bytes, with the header's algorithm, and its claims are the unverified ones.
pub fn jws(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    check_jws(text);
    if let Ok(Value::Object(body)) = serde_json::from_str::<Value>(text) {
        let signed = serde_json::from_str::<crate::push::api::Signed>(text);
        assert_eq!(signed.is_ok(), body.get("jws").is_some_and(Value::is_string), "push body read wrong: {text}");
        if let Some(inner) = body.get("jws").and_then(Value::as_str) {
            check_jws(inner);
        }
    }
}

fn check_jws(token: &str) {
    let h = harness();
    let claimed = crate::oidc::client_assertion::claimed_client_id(token);
    let Ok(jws) = UnverifiedJws::parse(token) else {
        assert!(claimed.is_none(), "a client id claimed by a malformed JWS");
        return;
    };
    let unverified = jws.claims_unverified::<Value>().ok();
    assert_eq!(
        claimed.as_deref(),
        unverified.as_ref().and_then(|c| c["sub"].as_str()),
        "claimed_client_id is not the sub"
    );
    let mut verified_by_fixed = false;
    for key in &h.verifying {
        if let Ok(claims) = jws.verify::<Value>(key) {
            verified_by_fixed = true;
            assert_eq!(jws.alg, key.alg.as_str(), "verified under another algorithm than the header's");
            assert!(is_canonical(token), "a non-canonical spelling verifies: {token}");
            assert_eq!(Some(&claims), unverified.as_ref(), "verified claims differ from the unverified ones");
        }
    }
    // Keys from JWKs the token brings itself (push enrollment: `public_key`), and the
    // claims read as a JWK (any JSON reaches from_jwk).
    if let Some(claims) = &unverified {
        for jwk in [&claims["public_key"], claims] {
            for alg in SigningAlg::ALL {
                if let Some(key) = VerifyingKey::from_jwk(jwk, alg)
                    && jws.verify::<Value>(&key).is_ok()
                {
                    assert_eq!(jws.alg, key.alg.as_str(), "verified under another algorithm than the header's");
                    assert!(is_canonical(token), "a non-canonical spelling verifies: {token}");
                }
            }
        }
    }
    let state = &h.state;
    for client in [None, h.actes_web.as_ref()] {
        if let Some(claims) = h.block_on(crate::oidc::tokens::claims_of_id_token_hint(state, token, client)) {
            assert!(verified_by_fixed, "an id_token_hint accepted without a key of ours");
            assert_ne!(jws.typ.as_deref(), Some("at+jwt"), "an access token taken as an ID token");
            assert_eq!(claims["iss"], ISSUER);
            assert!(claims["sub"].is_string());
            if let Some(client) = client {
                let aud = &claims["aud"];
                let ours = aud == client.client_id.as_str()
                    || aud.as_array().is_some_and(|a| a.iter().any(|v| v == client.client_id.as_str()));
                assert!(ours, "an id_token_hint for another client accepted: {aud}");
            }
        }
    }
    if let Ok(claims) = h.block_on(crate::oidc::tokens::decode_access_token(state, token)) {
        assert!(verified_by_fixed, "an access token accepted without a key of ours");
        assert_eq!(jws.typ.as_deref(), Some("at+jwt"), "an ID token taken as an access token");
        assert_eq!(claims.iss, ISSUER);
    }
}

// ---------------------------------------------------------------------------------------
// Account fields

/// `^\+[1-9][0-9]{7,14}$`
pub fn is_e164(phone: &str) -> bool {
    let Some(digits) = phone.strip_prefix('+') else { return false };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && digits.as_bytes().first().is_some_and(|b| *b != b'0')
}

/// Phone numbers, email addresses and usernames as typed in the console, the admin API
/// or an import file: what is accepted is in its normal form, and normalising it again
/// gives it back unchanged.
pub fn phone(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let blank = text.trim().is_empty();
    match normalize_phone(Some(text)) {
        Ok(Some(e164)) => {
            assert!(is_e164(&e164), "{text:?} normalised to {e164:?}, not E.164");
            assert!(!e164.starts_with("+33") || e164.len() == 12, "French number of the wrong length: {e164}");
            let again = normalize_phone(Some(&e164)).ok().flatten();
            assert_eq!(again.as_deref(), Some(e164.as_str()), "normalising {e164:?} again changes it");
        }
        Ok(None) => assert!(blank, "{text:?} taken for no phone number"),
        Err(_) => assert!(!blank),
    }
    match normalize_email(Some(text)) {
        Ok(Some(email)) => {
            assert!(email.len() <= 254, "an address of {} bytes accepted: {email:?}", email.len());
            assert!(!email.chars().any(char::is_whitespace), "whitespace in {email:?}");
            assert_eq!(email.matches('@').count(), 1, "not one @ in {email:?}");
            assert_eq!(email, email.to_lowercase(), "not lower case");
            let again = normalize_email(Some(&email)).ok().flatten();
            assert_eq!(again.as_deref(), Some(email.as_str()), "normalising {email:?} again changes it");
        }
        Ok(None) => assert!(blank, "{text:?} taken for no address"),
        Err(_) => assert!(!blank),
    }
    if let Ok((username, key)) = normalize_username(text) {
        assert_eq!(username, username.trim());
        let count = username.chars().count();
        assert!((1..=64).contains(&count), "a username of {count} characters");
        assert!(username.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')));
        assert_eq!(key, username.to_lowercase());
        let again = normalize_username(&username).ok();
        assert_eq!(again, Some((username.clone(), key.clone())), "normalising {username:?} again changes it");
    }
}

// ---------------------------------------------------------------------------------------
// The import file

/// `sesame import FILE.toml`, parsed and applied to the harness's database: never a
/// panic; every position it reports is inside the text; and, as the README promises, a
/// file that was imported once changes nothing the second time.
pub fn import_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(file) = crate::import::parse("fuzz.toml", text) else { return };
    let spans = file
        .applications
        .iter()
        .map(|a| a.code.span())
        .chain(file.clients.iter().map(|c| c.client_id.span()))
        .chain(file.accounts.iter().map(|a| a.username.span()));
    for span in spans {
        assert!(span.start <= text.len() && text.is_char_boundary(span.start), "span {span:?} outside the text");
    }
    let h = harness();
    let first = h.block_on(crate::import::import_text(&h.state, "fuzz.toml", text));
    if first.is_ok() {
        let second = h.block_on(crate::import::import_text(&h.state, "fuzz.toml", text));
        assert!(second.is_ok(), "an imported file refused the second time: {:?}", second.err());
        let report = second.unwrap_or_default();
        assert!(!report.changed(), "a second import of the same file changed something:\n{report}");
    }
}

// ---------------------------------------------------------------------------------------
// Cookies and sealed values

/// Cookie headers (and bare cookie values, and the login's `tx`): a signed value opens
/// only when its MAC was made with the key and for the purpose (so it is exactly what
/// `sign` gives for that value), a known-browser cookie vouches for nothing unless it
/// was signed so, a sealed value opens only with its key and associated data; and every
/// value the server makes reads back.
pub fn cookies(data: &[u8]) {
    let h = harness();
    let state = &h.state;
    let secure = state.config.secure_cookies();
    let mut values: Vec<String> = Vec::new();
    if let Ok(text) = std::str::from_utf8(data) {
        values.push(text.to_string());
    }
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, value);
        let jar = CookieJar::from_headers(&headers);
        values.extend(jar.iter().map(|c| c.value().to_string()));
        if let Some(id) = csrf::browser_id(state, &jar) {
            let cookie = cookies::get(&jar, csrf::BROWSER_COOKIE, secure).unwrap_or_default();
            assert!(id.len() >= 32, "a short browser id accepted");
            assert_eq!(crypto::sign(&state.csrf_key, "browser-id", &id), cookie, "browser id not signed by us");
        }
        let known = KnownBrowser::from_jar(&state.known_browser_key, &jar, secure);
        if known != KnownBrowser::default() {
            let cookie = cookies::get(&jar, known_browser::COOKIE, secure).unwrap_or_default();
            assert!(crypto::open_signed(&state.known_browser_key, "known-browser", &cookie).is_some());
        }
    }
    let other_key = [0xa5u8; 32];
    let other_box = SecretBox::from_bytes(other_key);
    for value in &values {
        for (key, purpose) in [(&state.csrf_key, "browser-id"), (&state.known_browser_key, "known-browser")] {
            if let Some(opened) = crypto::open_signed(key, purpose, value) {
                assert_eq!(&crypto::sign(key, purpose, opened), value, "opened, yet not what sign makes");
                assert!(crypto::open_signed(&other_key, purpose, value).is_none(), "opens under another key");
                assert!(crypto::open_signed(key, "other-purpose", value).is_none(), "opens for another purpose");
            }
        }
        let known = KnownBrowser::from_cookie(&state.known_browser_key, Some(value));
        if known != KnownBrowser::default() {
            assert!(crypto::open_signed(&state.known_browser_key, "known-browser", value).is_some(), "forged");
            assert_eq!(KnownBrowser::from_cookie(&other_key, Some(value)), KnownBrowser::default());
            let again =
                KnownBrowser::from_cookie(&state.known_browser_key, Some(&known.to_cookie(&state.known_browser_key)));
            assert_eq!(again, known, "a known-browser cookie does not read back");
        }
        if let Ok(opened) = state.secrets.open(value, SEALED_LOGIN) {
            let body = value.splitn(3, '.').nth(2).unwrap_or_default();
            assert!(URL_SAFE_NO_PAD.decode(body).is_ok_and(|b| URL_SAFE_NO_PAD.encode(b) == body), "non-canonical");
            assert!(state.secrets.open(value, "another-purpose").is_err(), "a sealed value opens for another purpose");
            assert!(other_box.open(value, SEALED_LOGIN).is_err(), "a sealed value opens under another key");
            let _ = serde_json::from_slice::<Value>(&opened);
        }
    }
    // What the server makes from any value reads back.
    let text = String::from_utf8_lossy(data);
    let signed = crypto::sign(&state.csrf_key, "browser-id", &text);
    assert_eq!(crypto::open_signed(&state.csrf_key, "browser-id", &signed), Some(&*text), "sign does not open");
    let sealed = state.secrets.seal(data, SEALED_LOGIN);
    let opened = state.secrets.open(&sealed, SEALED_LOGIN).map(|p| p.to_vec()).unwrap_or_default();
    assert_eq!(opened, data, "seal does not open");
    // Account ids are UUIDs: any up to five of them, remembered, read back in order.
    let accounts: Vec<String> = data
        .chunks(16)
        .take(7)
        .map(|chunk| {
            let mut bytes = [0u8; 16];
            bytes[..chunk.len()].copy_from_slice(chunk);
            uuid::Uuid::from_bytes(bytes).to_string()
        })
        .collect();
    let browser = accounts.iter().fold(KnownBrowser::default(), |b, id| b.remember(id));
    let cookie = browser.to_cookie(&state.known_browser_key);
    assert_eq!(KnownBrowser::from_cookie(&state.known_browser_key, Some(&cookie)), browser);
    for id in accounts.iter().rev().take(5) {
        assert!(browser.nonce_for(id).is_some(), "a recent account forgotten");
    }
}

// ---------------------------------------------------------------------------------------
// Seeds

/// Realistic inputs for each target's corpus, made with the harness's own keys (the
/// fuzz targets write them when `SESAME_FUZZ_SEEDS` names a folder).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    let text = |items: Vec<String>| items.into_iter().map(String::into_bytes).collect();
    match target {
        "authorize_params" => {
            let hint = id_token(SigningAlg::Rs256, "actes-web");
            text(vec![
                "response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&scope=openid%20profile%20email&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj".into(),
                "response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback%3Ftenant%3Dparis&scope=openid&response_mode=form_post&state=s1&prompt=none".into(),
                "response_type=code&client_id=actes-desktop&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback&scope=openid+offline_access&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256&state=xyz".into(),
                "response_type=code&client_id=partner-portal&redirect_uri=https%3A%2F%2Fpartner.example%2Fcb&scope=openid%20phone%20address&max_age=0&ui_locales=en&acr_values=urn%3Asesame%3Aloa%3A2fa&login_hint=pauline".into(),
                format!("response_type=code&client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&scope=openid&id_token_hint={hint}&prompt=login&claims=%7B%22userinfo%22%3A%7B%22email%22%3Anull%7D%7D"),
                "response_type=token&client_id=compta-web&redirect_uri=https%3A%2F%2Fcompta.example%2Fcallback&scope=openid&request=eyJhbGciOiJub25lIn0.e30.&state=a&state=b".into(),
                "client_id=actes-web&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback&response_type=code&scope=openid".into(),
            ])
        }
        "token_params" => {
            let basic = |id: &str, secret: &str| STANDARD.encode(format!("{id}:{secret}"));
            text(vec![
                format!("/token\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ngrant_type=client_credentials&scope=actes.api", basic("actes-api", "actes-api-secret-0123456789")),
                format!("/token\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ngrant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&redirect_uri=https%3A%2F%2Factes.example%2Fcallback", basic("actes-web", "actes-web-secret-0123456789")),
                "/token\ncontent-type: application/x-www-form-urlencoded; charset=UTF-8\n\ngrant_type=refresh_token&refresh_token=tGzv3JOkF0XG5Qx2TlKWIA&client_id=compta-web&client_secret=compta-web-secret-0123456789&scope=openid".into(),
                "/token\ncontent-type: application/x-www-form-urlencoded\n\ngrant_type=authorization_code&code=abc&client_id=actes-desktop&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback".into(),
                format!("/token\ncontent-type: application/x-www-form-urlencoded\n\ngrant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}", client_assertion()),
                format!("/introspect\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ntoken={}&token_type_hint=access_token", basic("actes-api", "actes-api-secret-0123456789"), access_token()),
                format!("/revoke\ncontent-type: application/x-www-form-urlencoded\nauthorization: Basic {}\n\ntoken=tGzv3JOkF0XG5Qx2TlKWIA&token_type_hint=refresh_token", basic("actes-web", "actes-web-secret-0123456789")),
                "/token\ncontent-type: application/json\n\n{\"grant_type\":\"client_credentials\"}".into(),
            ])
        }
        "basic_auth" => text(vec![
            format!(
                "Basic {}\ngrant_type=authorization_code&code=x",
                STANDARD.encode("actes-web:actes-web-secret-0123456789")
            ),
            format!("basic {}\nclient_id=my%3Aclient", STANDARD.encode("my%3Aclient:p%40ss+w%C3%B6rd")),
            "Basic not-base64!\n".into(),
            "\nclient_id=compta-web&client_secret=compta-web-secret-0123456789".into(),
            format!(
                "\nclient_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={}",
                client_assertion()
            ),
            "\nclient_id=actes-desktop".into(),
        ]),
        "jws" => {
            let mut tokens: Vec<String> = SigningAlg::ALL.into_iter().map(|alg| id_token(alg, "actes-web")).collect();
            tokens.push(access_token());
            tokens.push(client_assertion());
            tokens.push(format!("{{\"jws\":\"{}\"}}", push_enrollment()));
            tokens.push(push_answer());
            tokens.push(format!("{{\"jws\":\"{}\"}}", push_answer()));
            text(tokens)
        }
        "phone" => text(
            [
                "06 12 34 56 78",
                "+33 6 12 34 56 78",
                "0033612345678",
                "+1 (415) 555-0100",
                "06.12.34.56.78",
                "pauline@etude.example",
                " Emilie.Durand@Etude.Example ",
                "SoniaAIT",
                "jean-marc.o_neil@office",
            ]
            .map(String::from)
            .to_vec(),
        ),
        "import_file" => text(vec![OFFICE.to_string(), IMPORT_EXTRAS.to_string()]),
        "cookies" => {
            let h = harness();
            let state = &h.state;
            let browser = crypto::sign(&state.csrf_key, "browser-id", &crypto::random_token());
            let known = KnownBrowser::default()
                .remember("0b9e1b52-3f6c-4d0e-9a0f-6a4c1f1e2d3c")
                .remember("5f2c8a61-7d4e-4b8a-b1c2-93e0d4f5a6b7")
                .to_cookie(&state.known_browser_key);
            let tx = state.secrets.seal(
                json!({"id": "x", "request": {"client_id": "actes-web"}, "browser_hash": "h", "expires_at": NOW + 600})
                    .to_string()
                    .as_bytes(),
                SEALED_LOGIN,
            );
            text(vec![
                format!(
                    "{}; {}; {}",
                    h.cookie(csrf::BROWSER_COOKIE, &browser),
                    h.cookie(known_browser::COOKIE, &known),
                    h.session_cookie()
                ),
                h.cookie(csrf::BROWSER_COOKIE, &browser),
                known,
                tx,
            ])
        }
        _ => Vec::new(),
    }
}

/// Writes `seeds(target)` into `dir`, one file each (`seed-N`).
pub fn write_seeds(target: &str, dir: &std::path::Path) {
    must(std::fs::create_dir_all(dir), "seed folder");
    for (n, seed) in seeds(target).iter().enumerate() {
        must(std::fs::write(dir.join(format!("seed-{n}")), seed), "seed file");
    }
}

/// An import file with what the test office lacks: hashes, key sets, options.
const IMPORT_EXTRAS: &str = r#"[[applications]]
code = "INOTPAIE"
name = "iNot Paie"
rights = [{ code = "paie.lecture", label = "Consulter" }]
options = [{ key = "plafond", type = "integer", label = "Plafond", default = 10 }, { key = "actif", type = "boolean", label = "Actif" }]

[[clients]]
client_id = "paie-web"
application = "INOTPAIE"
secret_hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg"
redirect_uris = ["https://paie.example/callback"]
backchannel_logout_uri = "https://paie.example/logout"
require_two_factor = true

[[clients]]
client_id = "paie-batch"
application = "INOTPAIE"
redirect_uris = ["https://paie.example/unused"]
grant_types = ["client_credentials"]
token_endpoint_auth_method = "private_key_jwt"
jwks = '{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","kid":"k1"}]}'

[[accounts]]
username = "Remi.Paie"
password_hash = "$argon2id$v=19$m=1024,t=1,p=1$c2FsdHNhbHRzYWx0$Yk4zHk3WQp7wQd2oXGFlTLz0b8m9wQk0c5oX0Bh4pDg"
first_name = "Rémi"
email = "remi@etude.example"
phone = "+33 7 00 00 00 01"
two_factor_required = true
sms_disabled = true
access = [{ application = "INOTPAIE", rights = ["paie.lecture"], options = { plafond = 500, actif = true } }]
"#;

fn id_token(alg: SigningAlg, audience: &str) -> String {
    let claims = json!({
        "iss": ISSUER, "sub": "0b9e1b52-3f6c-4d0e-9a0f-6a4c1f1e2d3c", "aud": audience,
        "exp": NOW + 600, "iat": NOW, "auth_time": NOW - 60, "nonce": "n-0S6_WzA2Mj", "sid": "s1",
    });
    must(fixed_key(alg).sign("JWT", &claims), "sign")
}

fn access_token() -> String {
    let claims = json!({
        "iss": ISSUER, "sub": "actes-api", "aud": ISSUER, "client_id": "actes-api", "scope": "actes.api",
        "exp": NOW + 600, "iat": NOW, "jti": "at-1",
    });
    must(fixed_key(SigningAlg::EdDsa).sign("at+jwt", &claims), "sign")
}

fn client_assertion() -> String {
    let claims = json!({
        "iss": "actes-api", "sub": "actes-api", "aud": format!("{ISSUER}/token"),
        "exp": NOW + 300, "iat": NOW, "jti": "ca-1",
    });
    must(fixed_key(SigningAlg::Es256).sign("JWT", &claims), "sign")
}

fn device_key() -> SigningKey {
    must(SigningKey::ed25519_from_seed("device-1".into(), &DEVICE_SEED), "device key")
}

fn push_enrollment() -> String {
    let key = device_key();
    let mut public = key.public_jwk();
    if let Some(jwk) = public.as_object_mut() {
        jwk.retain(|name, _| ["kty", "crv", "x"].contains(&name.as_str()));
    }
    let claims = json!({"token": "enr-0123456789", "name": "Téléphone de Pauline", "public_key": public, "iat": NOW});
    must(key.sign("JWT", &claims), "sign")
}

fn push_answer() -> String {
    let claims = json!({
        "challenge_id": "c-1", "nonce": "nonce-1", "decision": "approve", "number": 42,
        "iat": NOW, "jti": "j-1", "wait": 20,
    });
    must(device_key().sign("JWT", &claims), "sign")
}
