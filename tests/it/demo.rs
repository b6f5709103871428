//! What a new user does first: the demo office, and logging in as Pauline with the
//! demo relying party's credentials; the page the demo relying party
//! (`examples/demo_rp.rs`) shows after her login.

use openidconnect::OAuth2TokenResponse;
use openidconnect::TokenResponse;
use serde_json::json;
use sesame::demo;

use crate::harness::TestServer;
use crate::on_every_backend;
use crate::rp::{self, Browser};

// The demo relying party's page, as the example shows it.
#[path = "../../examples/demo_rp/page.rs"]
mod demo_rp_page;
use demo_rp_page::{SesameIdToken, SesameUserInfo};

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
    // The demo relying party's scopes.
    let request = rp::auth_request(&client, &["profile", "email"], &[]);
    let page = browser.authorize(&server, &request.url, "Pauline", demo::DEMO_PASSWORD).await;
    let tokens = rp::exchange(&client, &page.location_param("code").expect("a code"), request.verifier).await.unwrap();
    let claims = rp::id_claims(&client, &tokens, &request.nonce);
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("Pauline"));

    // What the demo relying party shows of these tokens: her rights in INOTACTE in the
    // table, beside the raw claims.
    let id_token: SesameIdToken = tokens.id_token().expect("an ID token").to_string().parse().unwrap();
    let checked = id_token.claims(&client.id_token_verifier(), &request.nonce).expect("a valid ID token");
    let userinfo: SesameUserInfo = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .expect("userinfo");
    let html =
        demo_rp_page::signed_in(&serde_json::to_value(checked).unwrap(), &serde_json::to_value(&userinfo).unwrap());
    assert!(html.contains("<h1>Signed in as Pauline</h1>"), "{html}");
    assert_eq!(row(&html, "Application", "application"), "INOTACTE");
    assert_eq!(row(&html, "Rights", "rights"), "actes.lecture, actes.redaction, actes.signature");
    assert_eq!(row(&html, "Options", "options"), "etude = Paris, signature_electronique = true");
    assert_eq!(row(&html, "Initials", "initials"), "PM");
    assert_eq!(row(&html, "Applications", "applications"), "INOTACTE, INOTCOMPTABILITE");
    assert_eq!(row(&html, "Name", "name"), "Pauline Martin");
    assert_eq!(row(&html, "Email", "email"), "pauline@etude.example");
    assert_eq!(row(&html, "Email verified", "email_verified"), "no");
    let raw = html.split("id=\"id-token-claims\">").nth(1).expect("the ID token's raw claims");
    assert!(raw.contains("&quot;rights&quot;: [") && raw.contains("actes.redaction"), "{html}");
    assert!(html.contains("id=\"userinfo-claims\">"), "{html}");

    let request = rp::auth_request(&client, &[], &[]);
    let page = Browser::new().authorize(&server, &request.url, "SoniaAIT", demo::DEMO_PASSWORD).await;
    assert_eq!(page.status, 403, "SoniaAIT has no access to INOTACTE");
}

/// The value cell of a row of the demo relying party's table, checking its label.
fn row(html: &str, label: &str, claim: &str) -> String {
    let start = format!("<th scope=\"row\">{label}</th><td id=\"claim-{claim}\">");
    let from = html.find(&start).unwrap_or_else(|| panic!("no {label} row in {html}")) + start.len();
    html[from..].split("</td>").next().unwrap_or_default().to_string()
}

/// The demo relying party's table shows "—" for what the tokens do not carry, and
/// escapes whatever comes from them.
#[test]
fn demo_rp_page_escapes_and_shows_absent_claims() {
    let id_token = json!({
        "preferred_username": "<b>bob</b>",
        "application": "<script>alert(1)</script>",
        "options": {"etude": "Paris \"&\" Lyon", "plafond": 50000},
    });
    let userinfo = json!({"rights": ["a<b", "c"], "initials": null});
    let html = demo_rp_page::signed_in(&id_token, &userinfo);
    assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
    assert!(html.contains("<h1>Signed in as &lt;b&gt;bob&lt;/b&gt;</h1>"), "{html}");
    assert_eq!(row(&html, "Application", "application"), "&lt;script&gt;alert(1)&lt;/script&gt;");
    assert_eq!(row(&html, "Rights", "rights"), "a&lt;b, c");
    assert_eq!(row(&html, "Options", "options"), "etude = Paris &quot;&amp;&quot; Lyon, plafond = 50000");
    assert_eq!(row(&html, "Initials", "initials"), "—");
    assert_eq!(row(&html, "Name", "name"), "—");
    assert_eq!(row(&html, "Email verified", "email_verified"), "—");
}

async fn shipped_import_files_load(backend: crate::harness::Backend) {
    let server = TestServer::start(backend).await;
    let conformance = include_str!("../../config/conformance-import.toml");
    let report = sesame::import::import_text(&server.state, "conformance-import.toml", conformance).await.unwrap();
    // Two for the Basic, Form Post and logout plans, two for FAPI 2.0.
    assert_eq!(report.clients, [4, 0, 0]);
}
