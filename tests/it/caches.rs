//! Each node's caches of revocations and accounts (src/change_feed.rs), tried across two
//! real nodes: this test's server and a second `sesame serve` process on the same
//! database, as behind a load balancer. What one node changes, the other must show within
//! the feed's sync interval, never later than `caches.max_staleness_ms`.

use std::time::{Duration, Instant};

use openidconnect::OAuth2TokenResponse;
use serde_json::{Value, json};

use crate::harness::{Backend, FIXTURE, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(
    a_revocation_and_a_change_of_rights_reach_the_other_node_within_the_sync_interval,
    a_new_client_secret_reaches_the_other_node_within_the_sync_interval,
);

const SYNC_INTERVAL_MS: u64 = 200;
/// The hard bound: past it a node stops trusting its caches (default 2000 ms).
const MAX_STALENESS: Duration = Duration::from_millis(2_000);

/// A second node: the real binary, on the database of `a`, with `a`'s issuer and keys.
struct OtherNode {
    child: std::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for OtherNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary on the database of `a`, with `a`'s issuer and keys.
fn sesame_on(a: &TestServer, dir: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .env_remove("SESAME_CONFIG")
        .env("SESAME_DATABASE_URL", &a.database_url)
        .env("SESAME_DATA_DIR", dir)
        .env("SESAME_ISSUER", &a.issuer)
        .env("SESAME_MASTER_KEY", &a.state.config.master_key)
        .env("SESAME_DEMO", "false")
        .env("SESAME_JANITOR__INTERVAL", "0")
        .env("SESAME_CACHES__SYNC_INTERVAL_MS", SYNC_INTERVAL_MS.to_string())
        .env("SESAME_LOG", "warn");
    command
}

async fn other_node(a: &TestServer) -> OtherNode {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = sesame_on(a, dir.path())
        .arg("serve")
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        // Clients cached for ten minutes: only the change feed can bring a change sooner.
        .env("SESAME_TOKENS__CLIENT_CACHE_TTL", "600")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let node = OtherNode { child, url: format!("http://127.0.0.1:{port}"), _dir: dir };
    for _ in 0..300 {
        if reqwest::get(format!("{}/healthz", node.url)).await.is_ok_and(|r| r.status() == 200) {
            return node;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the second node does not answer");
}

async fn introspect(url: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(format!("{url}/introspect"))
        .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn userinfo(url: &str, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(format!("{url}/userinfo")).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

/// Asks `probe` every 10 ms until it holds; how long it took (fails past the hard bound).
async fn time_until<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if probe().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < MAX_STALENESS, "{what}: not seen by the other node after {MAX_STALENESS:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn a_revocation_and_a_change_of_rights_reach_the_other_node_within_the_sync_interval(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = other_node(&a).await;

    // A service token, introspected at B (which keeps its revocation list in memory)…
    let issued: Value = reqwest::Client::new()
        .post(a.url("/token"))
        .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = issued["access_token"].as_str().unwrap().to_string();
    assert_eq!(introspect(&b.url, &token).await["active"], true);
    // …revoked at A: B says so within the sync interval.
    let revoked = reqwest::Client::new()
        .post(a.url("/revoke"))
        .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 200);
    assert_eq!(introspect(&a.url(""), &token).await["active"], false, "at once on the node that revoked it");
    let took = time_until("the revocation", || async { introspect(&b.url, &token).await["active"] == false }).await;
    eprintln!("revocation seen by the other node after {} ms", took.as_millis());

    // A user's rights, read by userinfo at B, changed at A.
    let browser = Browser::new();
    let actes = rp::actes_web(&a).await;
    let (code, request) = rp::code_for_pauline(&a, &actes, &browser, &[]).await;
    let tokens = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    let access = tokens.access_token().secret().clone();
    let (status, info) = userinfo(&b.url, &access).await;
    assert_eq!((status, &info["rights"]), (200, &json!(["actes.lecture"])), "{info}");
    let promoted = FIXTURE.replace(
        r#"rights = ["actes.lecture"], options = { etude = "Paris" }"#,
        r#"rights = ["actes.lecture", "actes.signature"], options = { etude = "Lyon" }"#,
    );
    assert_ne!(promoted, FIXTURE);
    sesame::import::import_text(&a.state, "office.toml", &promoted).await.unwrap();
    let took = time_until("the change of rights", || async {
        userinfo(&b.url, &access).await.1["rights"] == json!(["actes.lecture", "actes.signature"])
    })
    .await;
    eprintln!("change of rights seen by the other node after {} ms", took.as_millis());

    // Archived at A: B refuses the token.
    let archived = promoted.replace(
        "username = \"pauline\"\npassword = \"correct horse battery\"",
        "username = \"pauline\"\npassword = \"correct horse battery\"\narchived = true",
    );
    assert_ne!(archived, promoted);
    sesame::import::import_text(&a.state, "office.toml", &archived).await.unwrap();
    time_until("the archiving", || async { userinfo(&b.url, &access).await.0 == 401 }).await;
}

/// A `client_credentials` request for the service client with `secret`: its status.
async fn service_token(url: &str, secret: &str) -> u16 {
    reqwest::Client::new()
        .post(format!("{url}/token"))
        .basic_auth("actes-api", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn a_new_client_secret_reaches_the_other_node_within_the_sync_interval(backend: Backend) {
    let a = TestServer::start(backend).await;
    let b = other_node(&a).await;
    let old = "actes-api-secret-0123456789";
    // Both nodes read the client and keep it (B for ten minutes, see `other_node`).
    assert_eq!(service_token(&a.url(""), old).await, 200);
    assert_eq!(service_token(&b.url, old).await, 200);

    // An operator rotates the secret with the command line: a third process.
    let dir = tempfile::tempdir().unwrap();
    let output = sesame_on(&a, dir.path()).args(["client", "set", "actes-api", "--new-secret"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    let new = printed.lines().find_map(|line| line.split("store it now): ").nth(1)).unwrap().trim().to_string();
    assert_ne!(new, old);

    // Both nodes refuse the old secret and take the new one within the sync interval.
    for (node, url) in [("A", a.url("")), ("B", b.url.clone())] {
        let took = time_until(&format!("the old secret refused at {node}"), || async {
            service_token(&url, old).await == 401
        })
        .await;
        eprintln!("new client secret seen by node {node} after {} ms", took.as_millis());
        assert_eq!(service_token(&url, &new).await, 200, "the new secret at {node}");
    }
}
