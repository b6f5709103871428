//! The server the targets run against, once per fuzzing process: its state on a
//! throw-away SQLite database with the test office imported, fixed signing keys, a fixed
//! master key and a fixed clock, so that a corpus made today replays the same tomorrow.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Request, StatusCode},
};
use base64::{Engine, engine::general_purpose::STANDARD};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use tower::ServiceExt;

use crate::clock::Clock;
use crate::config::Config;
use crate::cookies;
use crate::crypto::{
    jws::{SigningAlg, SigningKey, VerifyingKey},
    secretbox::SecretBox,
};
use crate::state::AppState;

/// The time of every request the harness makes (2027-01-15).
pub const NOW: i64 = 1_800_000_000;
pub const ISSUER: &str = "https://sesame.fuzz";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
/// The office of the integration tests: clients of every kind, accounts with access.
pub(super) const OFFICE: &str = include_str!("../../tests/fixtures/office.toml");
/// Associated data of the sealed login `tx` (login::pending).
pub(super) const SEALED_LOGIN: &str = "pending-login";

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

pub(super) fn must<T, E: std::fmt::Display>(result: Result<T, E>, what: &str) -> T {
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
    must(SigningKey::from_pkcs8(format!("fuzz-{}", alg.as_str().to_lowercase()), alg, &fixed_der(alg)), "fixed key")
}

/// The PKCS#8 document of the fixed key of `alg`.
fn fixed_der(alg: SigningAlg) -> Vec<u8> {
    let pkcs8 = match alg {
        SigningAlg::Rs256 | SigningAlg::Ps256 => RSA_PKCS8,
        SigningAlg::Es256 => EC_PKCS8,
        SigningAlg::EdDsa => ED25519_PKCS8,
    };
    must(STANDARD.decode(pkcs8), "fixed key base64")
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
    pub(super) router: Router,
    /// A live session of `pauline` (the cookie's value), to reach what follows a login.
    pub(super) session_token: String,
    /// The fixed keys, public halves as the server checks them and as JWKs.
    pub(super) verifying: Vec<VerifyingKey>,
    /// The client ID token hints are checked for.
    pub(super) actes_web: Option<crate::clients::Client>,
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
                let der = fixed_der(alg);
                let row = crate::storage::entities::signing_key::ActiveModel {
                    kid: Set(key.kid.clone()),
                    alg: Set(alg.as_str().to_string()),
                    private_key: Set(secrets.seal(&der, &crate::crypto::keys::sealed_aad(&key.kid))),
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

    pub(super) fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Sends one request through every layer of the server, as hyper would.
    pub(super) fn send(&self, request: Request<Body>) -> (StatusCode, HeaderMap, Vec<u8>) {
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

    pub(super) fn cookie(&self, base: &str, value: &str) -> String {
        format!("{}={value}", cookies::name(base, self.state.config.secure_cookies()))
    }

    pub(super) fn session_cookie(&self) -> String {
        self.cookie(&self.state.config.session.cookie_name, &self.session_token)
    }

    pub(super) fn registered(&self, client_id: &str) -> Option<Vec<String>> {
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
