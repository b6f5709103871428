//! Upgrades: a database written by an earlier release is loaded, migrated by this
//! version at start, and serves its accounts with its signing keys. The fixtures are SQL
//! text made from release 0.1.0 after `sesame import tests/fixtures/office.toml`
//! (`sqlite3 sesame.db .dump`; `pg_dump --format=plain --inserts --no-owner
//! --no-privileges`, its `\restrict` lines removed, which only psql reads). Add a
//! fixture for every release whose schema changes, and keep the old ones: each must
//! still upgrade.

use openidconnect::{OAuth2TokenResponse, TokenResponse};

use crate::harness::{Backend, MASTER_KEY, TestServer, fresh_database};
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(a_database_of_release_0_1_0_upgrades_and_serves);

async fn a_database_of_release_0_1_0_upgrades_and_serves(backend: Backend) {
    let fixture = match backend {
        Backend::Sqlite => include_str!("../fixtures/upgrade/release-0.1.0.sqlite.sql"),
        Backend::Postgres(_) => include_str!("../fixtures/upgrade/release-0.1.0.postgres.sql"),
    };
    let place = tempfile::tempdir().unwrap();
    let url = fresh_database(&backend, place.path()).await;
    {
        // A connection of its own: the PostgreSQL dump empties its search_path.
        use sea_orm::ConnectionTrait;
        let loader = sea_orm::Database::connect(url.as_str()).await.unwrap();
        loader.execute_unprepared(fixture).await.expect("load the release's database");
        loader.close().await.unwrap();
    }

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
    let server = TestServer::start_on(place, url, |c| c.master_key = MASTER_KEY.into(), false).await;
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
