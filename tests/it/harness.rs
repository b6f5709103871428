//! Starting a real Sésame for a test: its own database (a SQLite file in a temporary
//! folder, or a fresh PostgreSQL database), fast password hashing, an adjustable clock,
//! the office fixture imported.

use std::sync::Arc;

use sesame::app::{self, AppState, RunningServer};
use sesame::clock::AdjustableClock;
use sesame::config::Config;

/// The bearer token of /metrics on test servers.
pub const METRICS_TOKEN: &str = "test-metrics-token-0123456789";

pub const FIXTURE: &str = include_str!("../fixtures/office.toml");
/// The master key of every test server (and of the upgrade fixtures).
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// PostgreSQL when SESAME_TEST_POSTGRES_URL is set.
    pub fn postgres() -> Option<Self> {
        std::env::var("SESAME_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()).map(Backend::Postgres)
    }
}

/// Runs the test body once per available backend; PostgreSQL is skipped, with a note,
/// when no server is configured.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::harness::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    match $crate::harness::Backend::postgres() {
                        Some(backend) => super::$name(backend).await,
                        None => eprintln!("skipped: SESAME_TEST_POSTGRES_URL is not set"),
                    }
                }
            )*
        }
    };
}

#[allow(dead_code)] // `server` keeps the task alive; `database_url` lets a second node join.
pub struct TestServer {
    pub issuer: String,
    pub state: AppState,
    pub clock: Arc<AdjustableClock>,
    pub server: RunningServer,
    pub database_url: String,
    /// PostgreSQL test database to drop when the test ends.
    drop_database: Option<String>,
    _dir: tempfile::TempDir,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let (Some(name), Some(Backend::Postgres(admin_url))) = (self.drop_database.take(), Backend::postgres()) else {
            return;
        };
        self.server.task.abort();
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            use sea_orm::ConnectionTrait;
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
                return;
            };
            runtime.block_on(async {
                if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
                    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                    let _ = admin.close().await;
                }
            });
        })
        .join();
    }
}

/// A database of its own for one test.
pub async fn fresh_database(backend: &Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("sesame.db").display()),
        Backend::Postgres(admin_url) => {
            use sea_orm::ConnectionTrait;
            let name = format!("sesame_t_{}", uuid::Uuid::new_v4().simple());
            let admin = sea_orm::Database::connect(admin_url.as_str()).await.expect("connect to PostgreSQL");
            admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create a test database");
            admin.close().await.ok();
            let mut url = url::Url::parse(admin_url).expect("SESAME_TEST_POSTGRES_URL is a URL");
            url.set_path(&format!("/{name}"));
            url.to_string()
        }
    }
}

/// Drops a PostgreSQL database made by [`fresh_database`] (SQLite files go with their folder).
pub async fn drop_database(url: &str) {
    use sea_orm::ConnectionTrait;
    let (Some(Backend::Postgres(admin_url)), Some(name)) = (Backend::postgres(), url.rsplit('/').next()) else {
        return;
    };
    if !url.starts_with("postgres") || !name.starts_with("sesame_t_") {
        return;
    }
    if let Ok(admin) = sea_orm::Database::connect(admin_url.as_str()).await {
        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
        let _ = admin.close().await;
    }
}

pub fn test_config(dir: &std::path::Path, database_url: String) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        database_url,
        master_key: MASTER_KEY.into(),
        demo: Some(false),
        ..Config::default()
    };
    // Tests hash many passwords: keep Argon2id, make it cheap.
    config.password.argon2_memory_kib = 1024;
    config.password.argon2_iterations = 1;
    // Tests sign in as an administrator with the password only; the rule that they
    // must use a second factor (on by default) is tested on its own (hardening.rs).
    config.two_factor.required_for_admins = false;
    // Tests serve jwks_uri and request_uri documents over http on 127.0.0.1 (https only
    // by default).
    config.fetch.allow_http_loopback = true;
    // /metrics is served to the operator's token only.
    config.metrics.bearer_token = METRICS_TOKEN.into();
    config
}

impl TestServer {
    pub async fn start(backend: Backend) -> Self {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let database_url = fresh_database(&backend, dir.path()).await;
        Self::start_on(dir, database_url, adjust, true).await
    }

    /// A server on an existing database (a second node, or a restart).
    pub async fn start_on(
        dir: tempfile::TempDir,
        database_url: String,
        adjust: impl FnOnce(&mut Config),
        import_fixture: bool,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a free port");
        let address = listener.local_addr().expect("local address");
        let mut config = test_config(dir.path(), database_url.clone());
        config.issuer = format!("http://{address}");
        adjust(&mut config);
        let clock = Arc::new(AdjustableClock::default());
        let state = app::open_state(config, clock.clone()).await.expect("open the server state");
        app::ensure_builtin_clients(&state).await.expect("register the built-in clients");
        if import_fixture {
            sesame::import::import_text(&state, "office.toml", FIXTURE).await.expect("import the fixture");
        }
        let server = app::spawn_on(listener, state.clone()).expect("serve");
        let drop_database = database_url
            .starts_with("postgres")
            .then(|| database_url.rsplit('/').next().unwrap_or_default().to_string())
            .filter(|name| name.starts_with("sesame_t_"));
        Self { issuer: format!("http://{address}"), state, clock, server, database_url, drop_database, _dir: dir }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }
}

impl TestServer {
    /// The Prometheus metrics, as the operator's scraper reads them.
    pub async fn metrics(&self) -> String {
        let response =
            reqwest::Client::new().get(self.url("/metrics")).bearer_auth(METRICS_TOKEN).send().await.unwrap();
        response.text().await.unwrap()
    }

    pub fn clock_now(&self) -> i64 {
        use sesame::clock::Clock;
        self.clock.now()
    }
}

/// `request.send_json().await`: sends, and reads the JSON body (the test fails on a
/// network error or a body that is not JSON of that type).
pub trait SendJson {
    async fn send_json<T: serde::de::DeserializeOwned>(self) -> T;
}

impl SendJson for reqwest::RequestBuilder {
    async fn send_json<T: serde::de::DeserializeOwned>(self) -> T {
        self.send().await.expect("the request reaches the server").json().await.expect("a JSON body")
    }
}
