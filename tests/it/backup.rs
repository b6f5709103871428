//! `sesame backup` while the server serves logins, and `sesame restore` into a fresh
//! place: the same accounts sign in there with the same authenticator apps, and tokens
//! signed before the backup verify with the restored keys.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use openidconnect::TokenResponse;
use sesame::crypto::jws::{SigningAlg, UnverifiedJws, VerifyingKey};

use crate::harness::{Backend, MASTER_KEY, TestServer, fresh_database};
use crate::on_every_backend;
use crate::rp::{self, Browser};
use crate::two_factor::{follow, set_two_factor, submit, walk_enrollment};

on_every_backend!(a_backup_made_under_load_restores_the_same_logins_apps_and_keys);

/// The binary, for the database at `database_url`, with the test servers' master key.
fn sesame(database_url: &str, data_dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .env("SESAME_DATABASE_URL", database_url)
        .env("SESAME_DATA_DIR", data_dir)
        .env("SESAME_MASTER_KEY", MASTER_KEY)
        .env("SESAME_LOG", "warn");
    command
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("run sesame");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    text
}

async fn a_backup_made_under_load_restores_the_same_logins_apps_and_keys(backend: Backend) {
    // The load comes from one address: lift its per-address budget.
    let server = TestServer::start_with(backend.clone(), |c| c.rate_limits.login_per_ip_per_minute = 100_000).await;
    // Pauline enrolls an authenticator app and gets an ID token, before the backup.
    set_two_factor(&server, "pauline", true).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["openid", "profile"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let enrolled = walk_enrollment(&browser, &server, &after_password, "pauline@etude.example").await;
    let code = enrolled.to_client.location_param("code").expect("a code");
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    let id_token = tokens.id_token().expect("an ID token").to_string();

    // Logins of another account go on, writing sessions and audit rows, while the
    // backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let signed_in = Arc::new(AtomicUsize::new(0));
    let server = Arc::new(server);
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (server, stop, signed_in) = (server.clone(), stop.clone(), signed_in.clone());
            tokio::spawn(async move {
                let client = rp::actes_web(&server).await;
                while !stop.load(Ordering::Relaxed) {
                    let request = rp::auth_request(&client, &["openid"], &[]);
                    let page = Browser::new().authorize(&server, &request.url, "emilie", "blue river stone").await;
                    if page.location_param("code").is_some() {
                        signed_in.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let started = sesame::clock::instant();
    while signed_in.load(Ordering::Relaxed) < 4 {
        assert!(started.elapsed().as_secs() < 30, "the load signs in");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("sesame.backup");
    let before = signed_in.load(Ordering::Relaxed);
    let (url, dir, target) = (server.database_url.clone(), folder.path().to_path_buf(), file.clone());
    let said = tokio::task::spawn_blocking(move || run(sesame(&url, &dir).args(["backup", target.to_str().unwrap()])))
        .await
        .unwrap();
    let during = signed_in.load(Ordering::Relaxed) - before;
    stop.store(true, Ordering::Relaxed);
    for task in load {
        task.await.unwrap();
    }
    assert!(said.contains("backup written") && said.contains("master key is NOT in it"), "{said}");
    assert!(std::fs::metadata(&file).unwrap().len() > 0);
    let again = Command::new(env!("CARGO_BIN_EXE_sesame"))
        .env("SESAME_DATABASE_URL", &server.database_url)
        .env("SESAME_MASTER_KEY", MASTER_KEY)
        .args(["backup", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!again.status.success(), "a backup never overwrites a file");
    eprintln!("logins completed while the backup ran: {during}");

    // A fresh place: a new data directory, or an empty PostgreSQL database.
    let place = tempfile::tempdir().unwrap();
    let restored_url = fresh_database(&backend, place.path()).await;
    let said = run(sesame(&restored_url, place.path()).args(["restore", file.to_str().unwrap()]));
    assert!(said.contains("restored"), "{said}");
    let refused = sesame(&restored_url, place.path()).args(["restore", file.to_str().unwrap()]).output().unwrap();
    assert!(!refused.status.success(), "a restore into a place that has data is refused");
    let said = run(sesame(&restored_url, place.path()).args(["check"]));
    assert!(said.contains("0 fatal"), "the master key opens the restored keys: {said}");
    let restored = TestServer::start_on(place, restored_url, |_| {}, false).await;

    // The ID token signed before the backup verifies with the restored key set.
    let jws = UnverifiedJws::parse(&id_token).unwrap();
    let jwks: serde_json::Value = reqwest::get(restored.url("/jwks")).await.unwrap().json().await.unwrap();
    let alg = SigningAlg::parse(&jws.alg).unwrap();
    let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"].as_str() == jws.kid.as_deref());
    let key = VerifyingKey::from_jwk(jwk.expect("the token's key is published"), alg).unwrap();
    let claims: serde_json::Value = jws.verify(&key).expect("the signature verifies");
    assert_eq!(claims["sub"], rp::payload(&id_token)["sub"]);

    // Pauline signs in there with her password and a code of the same app.
    restored.clock.advance(60);
    let browser = Browser::new();
    let client = rp::actes_web(&restored).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let after_password = browser.authorize(&restored, &request.url, "pauline", "correct horse battery").await;
    assert!(after_password.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")), "two-factor is kept");
    let verify = follow(&browser, &restored, &after_password).await;
    let code = enrolled.app.code_at(restored.clock_now());
    let page = submit(&browser, &restored, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(page.status, 303, "the same app's code is accepted: {}", page.body);
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    assert_eq!(rp::payload(&tokens.id_token().unwrap().to_string())["sub"], claims["sub"]);
}
