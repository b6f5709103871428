//! What a new user does first: the demo office, and logging in as Pauline with the
//! demo relying party's credentials.

use sesame::demo;

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(pauline_logs_in_to_the_demo_client, shipped_import_files_load);

async fn pauline_logs_in_to_the_demo_client(backend: crate::harness::Backend) {
    let dir = tempfile::tempdir().unwrap();
    let url = crate::harness::fresh_database(&backend, dir.path()).await;
    let server = TestServer::start_on(dir, url, |c| c.demo = Some(true), false).await;
    assert!(demo::should_seed(&server.state).await.unwrap());
    demo::seed(&server.state).await.unwrap();
    let again = demo::seed(&server.state).await.unwrap();
    assert!(!again.changed(), "seeding twice changes nothing");

    let client =
        rp::client(&server, demo::DEMO_CLIENT_ID, Some(demo::DEMO_CLIENT_SECRET), demo::DEMO_REDIRECT_URI).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["profile"], &[]);
    let page = browser.authorize(&server, &request.url, "Pauline", demo::DEMO_PASSWORD).await;
    let tokens = rp::exchange(&client, &page.location_param("code").expect("a code"), request.verifier).await.unwrap();
    let claims = rp::id_claims(&client, &tokens, &request.nonce);
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("Pauline"));

    let request = rp::auth_request(&client, &[], &[]);
    let page = Browser::new().authorize(&server, &request.url, "SoniaAIT", demo::DEMO_PASSWORD).await;
    assert_eq!(page.status, 403, "SoniaAIT has no access to INOTACTE");
}

async fn shipped_import_files_load(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let conformance = include_str!("../../config/conformance-import.toml");
    let report = sesame::import::import_text(&server.state, "conformance-import.toml", conformance).await.unwrap();
    // Two for the Basic, Form Post and logout plans, two for FAPI 2.0.
    assert_eq!(report.clients, [4, 0, 0]);
}
