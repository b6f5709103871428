//! Fixtures of the unit tests that need the server's state without a server: an
//! [`AppState`] opened by `open_state` on a throw-away SQLite file (real migrations,
//! real keys), a fixed clock, and a small office imported as an operator would.

use std::sync::Arc;

use crate::accounts::{self, Account};
use crate::clients::{self, Client};
use crate::clock::Clock;
use crate::config::Config;
use crate::state::AppState;

/// The time of the tests (2027-01-15), as the fixed clock tells it.
pub(crate) const NOW: i64 = 1_800_000_000;
pub(crate) const ISSUER: &str = "https://sesame.test";
const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// One client of each kind the protocol code tells apart, and accounts with access.
const OFFICE: &str = r#"
[[applications]]
code = "INOTACTE"
name = "iNot Actes"
rights = [{ code = "actes.lecture", label = "Consulter les actes" }, { code = "actes.signature", label = "Signer" }]
options = [{ key = "etude", type = "string", label = "Étude", default = "" }]

[[applications]]
code = "INOTCOMPTABILITE"
name = "iNot Comptabilité"
rights = [{ code = "compta.lecture", label = "Consulter" }]

# Confidential, first-party (refresh tokens without offline_access), two redirect URIs.
[[clients]]
client_id = "actes-web"
application = "INOTACTE"
secret = "actes-web-secret-0123456789"
redirect_uris = ["https://actes.example/callback", "https://actes.example/callback?tenant=paris"]
grant_types = ["authorization_code", "refresh_token"]
first_party = true

# Another confidential client, to present what was issued to actes-web.
[[clients]]
client_id = "compta-web"
application = "INOTCOMPTABILITE"
secret = "compta-web-secret-0123456789"
redirect_uris = ["https://compta.example/callback"]
grant_types = ["authorization_code", "refresh_token"]
first_party = true
id_token_signed_response_alg = "ES256"

# Public (a desktop application): PKCE is required.
[[clients]]
client_id = "actes-desktop"
application = "INOTACTE"
redirect_uris = ["http://127.0.0.1:7777/callback"]
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "none"
first_party = true
id_token_signed_response_alg = "EdDSA"

# Third-party: a refresh token only when the user grants offline_access.
[[clients]]
client_id = "partner-portal"
secret = "partner-portal-secret-0123"
redirect_uris = ["https://partner.example/cb"]
grant_types = ["authorization_code", "refresh_token"]
first_party = false

# A narrower list of scopes than the standard ones, and one of Sésame's own.
[[clients]]
client_id = "admin-tool"
secret = "admin-tool-secret-0123456789"
redirect_uris = ["https://admin.example/callback"]
scopes = ["profile", "sesame:admin"]
first_party = true

# A service acting for itself.
[[clients]]
client_id = "actes-api"
application = "INOTACTE"
secret = "actes-api-secret-0123456789"
redirect_uris = ["https://actes.example/unused"]
grant_types = ["client_credentials"]
scopes = ["actes.api", "actes.admin"]
access_token_signed_response_alg = "EdDSA"

[[accounts]]
username = "pauline"
password = "correct horse battery"
first_name = "Pauline"
last_name = "Martin"
initials = "PM"
email = "pauline@etude.example"
access = [
  { application = "INOTACTE", initials = "PM", rights = ["actes.lecture"], options = { etude = "Paris" } },
  { application = "INOTCOMPTABILITE", rights = ["compta.lecture"] },
]

[[accounts]]
username = "archived"
password = "quiet harbour 7"
first_name = "Old"
last_name = "Account"
archived = true
access = [{ application = "INOTACTE" }]
"#;

/// A clock that always tells [`NOW`]; tests pass other times explicitly.
pub(crate) struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> i64 {
        NOW
    }
}

/// The server's state on its own database, removed with the value.
pub(crate) struct TestState {
    pub(crate) state: AppState,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestState {
    type Target = AppState;

    fn deref(&self) -> &AppState {
        &self.state
    }
}

impl TestState {
    /// The state as `open_state` makes it, with the test office imported.
    pub(crate) async fn open() -> Self {
        Self::open_with(|_| {}).await
    }

    /// The same, with the configuration changed first.
    pub(crate) async fn open_with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let mut config = Config {
            issuer: ISSUER.into(),
            data_dir: dir.path().to_path_buf(),
            database_url: format!("sqlite://{}?mode=rwc", dir.path().join("sesame.db").display()),
            master_key: MASTER_KEY.into(),
            demo: Some(false),
            ..Config::default()
        };
        config.password.argon2_memory_kib = 1024;
        config.password.argon2_iterations = 1;
        change(&mut config);
        let state = crate::state::open_state(config, Arc::new(FixedClock)).await.expect("server state");
        crate::import::import_text(&state, "office.toml", OFFICE).await.expect("test office");
        Self { state, _dir: dir }
    }

    pub(crate) async fn client(&self, client_id: &str) -> Client {
        clients::find(&self.db, client_id).await.expect("database").expect("a client of the test office")
    }

    pub(crate) async fn account(&self, username: &str) -> Account {
        accounts::find_by_username(&self.db, username).await.expect("database").expect("an account of the test office")
    }
}
