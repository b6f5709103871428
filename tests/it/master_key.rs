//! `sesame master-key rotate` with two nodes serving: nodes restarted with the new key
//! keep sealing with the old one until the rotation begins (so that a node not yet
//! restarted opens what they write), logins go on throughout, an interrupted rotation
//! resumes, and afterwards a node with the new key alone serves the same authenticator
//! apps, client secrets, tokens and derived keys; a node left with the old key alone is
//! refused at start and reported unready while running.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use openidconnect::TokenResponse;
use sesame::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};
use sesame::master_key::{self, Census};

use crate::harness::{Backend, MASTER_KEY, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser};
use crate::two_factor::{follow, set_two_factor, submit, walk_enrollment};

on_every_backend!(the_master_key_rotates_online_with_two_nodes_serving);

/// The binary on `database_url` with these keys (base64; the previous one optional).
fn sesame(database_url: &str, data_dir: &std::path::Path, key: &str, previous: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_DATA_DIR", data_dir)
        .env("SESAME_MASTER_KEY", key)
        .env("SESAME_PREVIOUS_MASTER_KEY", previous.unwrap_or(""))
        .env("SESAME_LOG", "warn");
    command
}

fn output(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("run sesame");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn sealed_under(census: &Census, key: &str) -> u64 {
    census.counts.iter().filter(|(_, k, _)| k == key).map(|(_, _, n)| n).sum()
}

/// A node on the same database with these keys.
async fn node(first: &TestServer, key: &str, previous: Option<&str>) -> TestServer {
    let (key, previous) = (key.to_string(), previous.unwrap_or_default().to_string());
    TestServer::start_on(
        tempfile::tempdir().unwrap(),
        first.database_url.clone(),
        move |c| {
            c.master_key = key;
            c.previous_master_key = previous;
            c.rate_limits.login_per_ip_per_minute = 100_000;
        },
        false,
    )
    .await
}

async fn the_master_key_rotates_online_with_two_nodes_serving(backend: Backend) {
    let old = TestServer::start_with(backend.clone(), |c| c.rate_limits.login_per_ip_per_minute = 100_000).await;
    let old_key = old.state.secrets.key_id().to_string();
    // Pauline enrolls an authenticator app and gets an ID token under the old key.
    set_two_factor(&old, "pauline", true).await;
    let client = rp::actes_web(&old).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["openid", "profile"], &[]);
    let after_password = browser.authorize(&old, &request.url, "pauline", "correct horse battery").await;
    let enrolled = walk_enrollment(&browser, &old, &after_password, "pauline@etude.example").await;
    let code = enrolled.to_client.location_param("code").expect("a code");
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    let id_token = tokens.id_token().expect("an ID token").to_string();

    // The operator makes a new key.
    let folder = tempfile::tempdir().unwrap();
    let key_file = folder.path().join("master.key.next");
    let (ok, said) = output(Command::new(env!("CARGO_BIN_EXE_sesame")).args(["master-key", "new"]).arg(&key_file));
    assert!(ok && said.contains("written"), "{said}");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key_file).unwrap().permissions());
    assert_eq!(mode & 0o077, 0, "the key file is readable by its owner only");
    let (again, _) = output(Command::new(env!("CARGO_BIN_EXE_sesame")).args(["master-key", "new"]).arg(&key_file));
    assert!(!again, "a key file is never overwritten");
    let new_key_text = std::fs::read_to_string(&key_file).unwrap().trim().to_string();

    // Rolling restart, first step: node B has both keys while the old node has only
    // the old one. B still seals with the old key: Emilie enrolls on B, and the old
    // node checks her app's codes.
    let b = node(&old, &new_key_text, Some(MASTER_KEY)).await;
    let new_key = b.state.secrets.key_id().to_string();
    assert_ne!(new_key, old_key);
    assert_eq!(b.state.secrets.sealing_key_id(), old_key, "B seals with the key every node has");
    set_two_factor(&b, "emilie", true).await;
    let emilie_client = rp::actes_web(&b).await;
    let request = rp::auth_request(&emilie_client, &["openid"], &[]);
    let emilie_browser = Browser::new();
    let after_password = emilie_browser.authorize(&b, &request.url, "emilie", "blue river stone").await;
    let emilie = walk_enrollment(&emilie_browser, &b, &after_password, "emilie@etude.example").await;
    old.clock.advance(60);
    let on_old = rp::actes_web(&old).await;
    let request = rp::auth_request(&on_old, &["openid"], &[]);
    let on_old_browser = Browser::new();
    let page = on_old_browser.authorize(&old, &request.url, "emilie", "blue river stone").await;
    let verify = follow(&on_old_browser, &old, &page).await;
    let code = emilie.app.code_at(old.clock_now());
    let page = submit(&on_old_browser, &old, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(page.status, 303, "the old node opens what B sealed: {}", page.body);
    let census = master_key::census(&b.state.db).await.unwrap();
    assert_eq!(sealed_under(&census, &new_key), 0, "nothing is sealed with the new key yet: {census:?}");

    // Second step: node A replaces the old node with both keys; the old node stays up,
    // forgotten by the operator. Logins go on at A and B from now on.
    let a = node(&old, &new_key_text, Some(MASTER_KEY)).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (signed_in, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let nodes = Arc::new((a, b));
    let load: Vec<_> = (0..4)
        .map(|i| {
            let (nodes, stop, signed_in, failed) = (nodes.clone(), stop.clone(), signed_in.clone(), failed.clone());
            tokio::spawn(async move {
                let server = if i % 2 == 0 { &nodes.0 } else { &nodes.1 };
                let client = rp::actes_web(server).await;
                while !stop.load(Ordering::Relaxed) {
                    let request = rp::auth_request(&client, &["openid"], &[]);
                    let page = Browser::new().authorize(server, &request.url, "sonia", "orange tulip garden").await;
                    match page.location_param("code") {
                        Some(_) => signed_in.fetch_add(1, Ordering::Relaxed),
                        None => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();

    // A first `rotate` is interrupted after the switch (as by a kill): new secrets are
    // sealed with the new key, old ones are still under the old key.
    let mut config = sesame::config::Config { master_key: new_key_text.clone(), ..Default::default() };
    config.previous_master_key = MASTER_KEY.into();
    let operator = master_key::load(&config, false).unwrap();
    let interrupted = tokio::time::timeout(
        Duration::from_millis(500),
        master_key::rotate(&nodes.0.state.db, &operator, nodes.0.clock_now(), |_| {}),
    )
    .await;
    assert!(interrupted.is_err(), "the rotation was still waiting for the nodes");
    let census = master_key::census(&nodes.0.state.db).await.unwrap();
    assert_eq!(census.sealing_key.as_deref(), Some(new_key.as_str()));
    assert!(sealed_under(&census, &old_key) > 0, "{census:?}");
    tokio::time::sleep(master_key::WATCH_EVERY * 2 + Duration::from_millis(500)).await;
    assert_eq!(nodes.1.state.secrets.sealing_key_id(), new_key, "B followed the switch");
    let ready = reqwest::get(old.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), 503, "the forgotten node says it cannot serve");
    let dir = folder.path().to_path_buf();
    let url = nodes.0.database_url.clone();
    let (ok, said) = output(sesame(&url, &dir, &new_key_text, None).arg("check"));
    assert!(
        !ok && said.contains("not configured"),
        "without the previous key, check names what it cannot open: {said}"
    );

    // Run again: it goes on, while logins go on.
    let (new_text, dir2) = (new_key_text.clone(), dir.clone());
    let url2 = url.clone();
    let (ok, said) = tokio::task::spawn_blocking(move || {
        output(sesame(&url2, &dir2, &new_text, Some(MASTER_KEY)).args(["master-key", "rotate"]))
    })
    .await
    .unwrap();
    assert!(ok && said.contains("done"), "{said}");
    assert!(said.contains("second_factors: ") && said.contains("signing_keys: "), "{said}");
    let before = signed_in.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(signed_in.load(Ordering::Relaxed) > before, "logins went on");
    assert_eq!(failed.load(Ordering::Relaxed), 0, "no login failed during the rotation");
    let census = master_key::census(&nodes.0.state.db).await.unwrap();
    assert_eq!(census.not_under(&new_key), 0, "every secret is under the new key: {census:?}");
    let (ok, said) = output(sesame(&url, &dir, &new_key_text, Some(MASTER_KEY)).args(["master-key", "rotate"]));
    assert!(ok && said.contains("0 sealed again"), "a finished rotation run again does nothing: {said}");
    let (ok, said) = output(sesame(&url, &dir, MASTER_KEY, None).arg("check"));
    assert!(!ok && said.contains("which is not configured"), "the old key alone is refused: {said}");

    // A node with the new key alone serves everything made under the old one.
    let fresh = node(&old, &new_key_text, None).await;
    assert_eq!(fresh.state.pairwise_key, old.state.pairwise_key, "pairwise subjects do not change");
    assert_eq!(fresh.state.csrf_key, old.state.csrf_key);
    assert_eq!(fresh.state.code_key, old.state.code_key);
    assert_eq!(
        fresh.state.push_key.public_jwk(),
        old.state.push_key.public_jwk(),
        "companion apps keep the server key"
    );
    let jws = UnverifiedJws::parse(&id_token).unwrap();
    let jwks: serde_json::Value = reqwest::get(fresh.url("/jwks")).await.unwrap().json().await.unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"].as_str() == jws.kid.as_deref());
    let key = VerifyingKey::from_jwk(jwk.expect("the token's key is published"), SigningAlg::parse(&jws.alg).unwrap());
    let claims: serde_json::Value = jws.verify(&key.unwrap()).expect("the signature verifies");
    fresh.clock.advance(120);
    let client = rp::actes_web(&fresh).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    // Another browser: the first one's session (same database, same host) would skip the login.
    let browser = Browser::new();
    let after_password = browser.authorize(&fresh, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(&browser, &fresh, &after_password).await;
    let code = enrolled.app.code_at(fresh.clock_now());
    let page = submit(&browser, &fresh, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(page.status, 303, "the same app's code is accepted: {}", page.body);
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier)
        .await
        .expect("the client secret made under the old key still authenticates");
    assert_eq!(rp::payload(&tokens.id_token().unwrap().to_string())["sub"], claims["sub"]);

    // A node started with the old key alone is refused, naming the key.
    let config = sesame::config::Config {
        master_key: MASTER_KEY.into(),
        database_url: url.clone(),
        data_dir: dir.clone(),
        ..Default::default()
    };
    let refused = sesame::app::open_state(config, Arc::new(sesame::clock::SystemClock)).await;
    let error = refused.err().expect("refused").to_string();
    assert!(error.contains(&new_key), "{error}");
}
