//! `sesame import`: idempotent, all or nothing, errors that name the line and the field.

use sea_orm::{EntityTrait, PaginatorTrait};
use sesame::import;
use sesame::storage::entities::account;

use crate::harness::{FIXTURE, TestServer};
use crate::on_every_backend;

on_every_backend!(
    a_second_import_changes_nothing,
    an_invalid_entry_writes_nothing,
    duplicate_email_is_refused_by_field
);

async fn a_second_import_changes_nothing(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let report = import::import_text(&server.state, "office.toml", FIXTURE).await.unwrap();
    assert!(!report.changed(), "{report}");
    assert_eq!(report.accounts, [0, 0, 4]);
    let changed = FIXTURE.replace("first_name = \"Pauline\"", "first_name = \"Paula\"");
    let report = import::import_text(&server.state, "office.toml", &changed).await.unwrap();
    assert_eq!(report.accounts, [0, 1, 3]);
}

async fn an_invalid_entry_writes_nothing(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let before = account::Entity::find().count(&server.state.db).await.unwrap();
    let text = r#"
[[accounts]]
username = "newcomer"
password = "a long enough password"
email = "newcomer@etude.example"

[[accounts]]
username = "bad-rights"
password = "a long enough password"
access = [{ application = "INOTACTE", rights = ["actes.destruction"] }]
"#;
    let error = import::import_text(&server.state, "bad.toml", text).await.unwrap_err().to_string();
    assert!(error.contains("line 8"), "{error}");
    assert!(error.contains("actes.destruction"), "{error}");
    assert_eq!(account::Entity::find().count(&server.state.db).await.unwrap(), before, "nothing written");

    let typo = "[[accounts]]\nusername = \"x\"\npasword = \"y\"\n";
    let error = import::import_text(&server.state, "typo.toml", typo).await.unwrap_err().to_string();
    assert!(error.contains("pasword") && error.contains("line 3"), "{error}");
}

async fn duplicate_email_is_refused_by_field(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let text = r#"
[[accounts]]
username = "copycat"
password = "a long enough password"
email = "Pauline@Etude.example"
"#;
    let error = import::import_text(&server.state, "dup.toml", text).await.unwrap_err().to_string();
    assert!(error.contains("email") && error.contains("already used"), "{error}");
    let text = text.replace("email = \"Pauline@Etude.example\"", "phone = \"+33 6 12 34 56 78\"");
    let error = import::import_text(&server.state, "dup.toml", &text).await.unwrap_err().to_string();
    assert!(error.contains("phone") && error.contains("already used"), "{error}");
}
