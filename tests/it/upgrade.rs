//! Upgrades: a database written by an earlier release (fixtures made from release 0.1.0
//! with `sesame import tests/fixtures/office.toml`, one SQLite file and one `pg_dump`)
//! is restored, migrated by this version at start, and serves its accounts with its
//! signing keys. Add a fixture for every release whose schema changes, and keep the old
//! ones: each must still upgrade.

use openidconnect::{OAuth2TokenResponse, TokenResponse};

use crate::harness::{Backend, TestServer, fresh_database};
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(a_database_of_release_0_1_0_upgrades_and_serves);

const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

async fn a_database_of_release_0_1_0_upgrades_and_serves(backend: Backend) {
    let fixture = match backend {
        Backend::Sqlite => "release-0.1.0.sqlite",
        Backend::Postgres(_) => "release-0.1.0.pgdump",
    };
    let fixture = format!("{}/tests/fixtures/upgrade/{fixture}", env!("CARGO_MANIFEST_DIR"));
    let place = tempfile::tempdir().unwrap();
    let url = fresh_database(&backend, place.path()).await;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sesame"))
        .env("SESAME_DATABASE_URL", &url)
        .env("SESAME_DATA_DIR", place.path())
        .env("SESAME_MASTER_KEY", MASTER_KEY)
        .env("SESAME_LOG", "warn")
        .args(["restore", &fixture])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let release_kids = {
        use sea_orm::{ConnectionTrait, Statement};
        let db = sesame::storage::connect(&url).await.unwrap();
        let rows = db
            .query_all_raw(Statement::from_string(db.get_database_backend(), "SELECT kid FROM signing_keys"))
            .await
            .unwrap();
        db.close().await.unwrap();
        rows.iter().map(|row| row.try_get::<String>("", "kid").unwrap()).collect::<Vec<_>>()
    };
    assert_eq!(release_kids.len(), 4, "the release made one key per algorithm");
    let server = TestServer::start_on(place, url, |_| {}, false).await;
    let schema = sesame::storage::schema(&server.state.db).await.unwrap();
    assert_eq!(schema, sesame::storage::Schema::default(), "every migration of this version is applied");
    // The release's signing keys are still the ones published: tokens it signed verify.
    let jwks: serde_json::Value = reqwest::get(server.url("/jwks")).await.unwrap().json().await.unwrap();
    let mut kids: Vec<String> =
        jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str().map(str::to_string)).collect();
    kids.sort();
    let mut release_kids = release_kids;
    release_kids.sort();
    assert_eq!(kids, release_kids, "the release's keys are kept, and no others made");

    // Pauline signs in with her password; her rights are in the token.
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid", "profile"], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("a code: {} {}", page.status, page.body));
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    assert!(tokens.id_token().is_some());
    let access = rp::payload(tokens.access_token().secret());
    assert_eq!(access["rights"], serde_json::json!(["actes.lecture"]), "{access}");
}
