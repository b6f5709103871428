//! The login's storage and transitions on a real database (a SQLite file), without a
//! server.

use super::flow::{self, Context, Outcome};
use super::pending;
use super::request::tests::request;
use super::stage::{FactorStep, Stage};
use crate::clients::{AuthMethod, Client, ClientCache};
use crate::config::Config;
use crate::crypto::{jws::SigningAlg, secretbox::SecretBox};
use crate::storage::{self, Db};

const NOW: i64 = 1_800_000_000;

async fn database() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().unwrap();
    let db = storage::connect(&format!("sqlite://{}/login.db?mode=rwc", dir.path().display())).await.unwrap();
    storage::migrate(&db).await.unwrap();
    (dir, db)
}

/// Clients read from the database at every use, as the tests change them.
static CLIENTS: std::sync::LazyLock<ClientCache> = std::sync::LazyLock::new(|| ClientCache::new(0));

fn context<'a>(db: &'a Db, config: &'a Config, secrets: &'a SecretBox, now: i64) -> Context<'a> {
    let (tokens, two_factor, session) = (&config.tokens, &config.two_factor, &config.session);
    Context { db, tokens, two_factor, session, secrets, clients: &CLIENTS, now }
}

fn client() -> Client {
    Client {
        client_id: "inotacte".into(),
        application_id: None,
        name: "INOTACTE".into(),
        secret_hash: None,
        redirect_uris: vec!["https://actes.example/callback?app=1".into()],
        post_logout_redirect_uris: Vec::new(),
        grant_types: vec!["authorization_code".into()],
        scopes: Vec::new(),
        auth_method: AuthMethod::None,
        application_type: Default::default(),
        first_party: true,
        require_two_factor: false,
        require_pushed_authorization_requests: false,
        id_token_alg: SigningAlg::Es256,
        access_token_alg: None,
        backchannel_logout_uri: None,
        frontchannel_logout_uri: None,
        frontchannel_logout_session_required: false,
        resource: None,
        jwks: None,
        jwks_uri: None,
        subject_type: Default::default(),
        sector_identifier_uri: None,
        request_object_alg: None,
        require_signed_request_object: false,
        userinfo_alg: None,
        dpop_bound_access_tokens: false,
        security_profile: None,
    }
}

fn verify_stage() -> Stage {
    Stage::SecondFactor { account_id: "a1".into(), step: FactorStep::Verify }
}

#[tokio::test]
async fn a_sealed_login_is_bound_to_its_browser_and_expires() {
    let (_dir, db) = database().await;
    let secrets = SecretBox::from_bytes([7; 32]);
    let tx = pending::seal(&secrets, "browser-a", request(), NOW + 60).unwrap();
    let found = pending::load(&db, &secrets, "browser-a", &tx, NOW).await.unwrap().expect("its own browser");
    assert_eq!(found.stage, Stage::Login);
    assert_eq!(found.tx(), tx, "named by its seal while stored nowhere");
    assert!(pending::load(&db, &secrets, "browser-b", &tx, NOW).await.unwrap().is_none(), "another browser");
    assert!(pending::load(&db, &secrets, "browser-a", &tx, NOW + 60).await.unwrap().is_none(), "expired");
    let other_key = SecretBox::from_bytes([8; 32]);
    assert!(pending::load(&db, &other_key, "browser-a", &tx, NOW).await.unwrap().is_none(), "another key");
    // One character in the middle of the sealed text changed (every bit of it counts).
    let middle = tx.len() / 2;
    let replacement = if &tx[middle..=middle] == "A" { "B" } else { "A" };
    let tampered = format!("{}{replacement}{}", &tx[..middle], &tx[middle + 1..]);
    assert!(pending::load(&db, &secrets, "browser-a", &tampered, NOW).await.unwrap().is_none(), "tampered");
}

#[tokio::test]
async fn each_move_happens_once_and_a_used_login_is_gone() {
    let (_dir, db) = database().await;
    let secrets = SecretBox::from_bytes([7; 32]);
    let tx = pending::seal(&secrets, "browser-a", request(), NOW + 600).unwrap();
    let sealed = pending::load(&db, &secrets, "browser-a", &tx, NOW).await.unwrap().unwrap();

    // The password was right in two tabs at once: one of them moves the login.
    let moved = pending::advance(&db, &sealed, verify_stage(), NOW + 600, NOW).await.unwrap().expect("first move");
    assert!(pending::advance(&db, &sealed, verify_stage(), NOW + 600, NOW).await.unwrap().is_none(), "replay");
    assert_eq!(moved.url(), format!("/login/verify?tx={}", moved.id));

    // The sealed tx now finds the stored request, at its stored stage.
    let reread = pending::load(&db, &secrets, "browser-a", &tx, NOW).await.unwrap().unwrap();
    assert_eq!(reread.stage, verify_stage());
    let by_id = pending::load(&db, &secrets, "browser-a", &moved.id, NOW).await.unwrap().unwrap();
    assert!(pending::load(&db, &secrets, "browser-b", &moved.id, NOW).await.unwrap().is_none(), "bound");

    // Consumed once: a stale copy cannot take it again, and it is gone for every tx.
    assert!(pending::take(&db, &by_id, NOW + 600, NOW).await.unwrap());
    assert!(!pending::take(&db, &reread, NOW + 600, NOW).await.unwrap(), "taken twice");
    assert!(pending::load(&db, &secrets, "browser-a", &moved.id, NOW).await.unwrap().is_none());
    assert!(pending::load(&db, &secrets, "browser-a", &tx, NOW).await.unwrap().is_none(), "sealed replay");
}

#[tokio::test]
async fn start_without_a_session_seals_the_request_or_tells_the_client() {
    let (_dir, db) = database().await;
    let (config, secrets) = (Config::default(), SecretBox::from_bytes([7; 32]));
    let cx = context(&db, &config, &secrets, NOW);
    let outcome = flow::start(&cx, "browser-a", None, client(), request()).await.unwrap();
    let Outcome::Next(url) = outcome else { panic!("expected the login page, got {outcome:?}") };
    let tx = url.strip_prefix("/login?tx=").expect("the login page");
    let pending = pending::load(&db, &secrets, "browser-a", tx, NOW).await.unwrap().expect("a login in progress");
    assert_eq!((pending.stage, pending.request.client_id.as_str()), (Stage::Login, "inotacte"));

    let mut silent = request();
    silent.prompt = vec!["none".into()];
    let outcome = flow::start(&cx, "browser-a", None, client(), silent).await.unwrap();
    let Outcome::ToClient(error) = outcome else { panic!("expected an error for the client, got {outcome:?}") };
    assert_eq!((error.error, error.state.as_deref()), ("login_required", Some("xyz")));
}
