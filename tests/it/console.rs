//! The account administration console over HTTP (the browser test drives the happy path
//! in Chromium): who gets in, CSRF, search and filters, archive, password reset.

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{Browser, Page};

on_every_backend!(console_sign_in_and_pages, console_refuses_non_administrators_and_forged_forms);

/// Follows redirects from `page` (GETs), as a browser would.
pub async fn follow(server: &TestServer, browser: &Browser, mut page: Page) -> Page {
    for _ in 0..10 {
        let Some(location) = page.location.clone() else { return page };
        let url = if location.starts_with('/') { server.url(&location) } else { location };
        page = browser.get(&url).await;
    }
    page
}

/// Signs in to the console; returns the page reached.
pub async fn sign_in(server: &TestServer, browser: &Browser, username: &str, password: &str) -> Page {
    let start = follow(server, browser, browser.get(&server.url("/admin")).await).await;
    let (csrf, tx) = (start.field("csrf_token").expect("login form"), start.field("tx").unwrap());
    let page = browser
        .post(
            &server.url("/login"),
            &[("csrf_token", &csrf), ("tx", &tx), ("username", username), ("password", password)],
        )
        .await;
    follow(server, browser, page).await
}

async fn console_sign_in_and_pages(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let list = sign_in(&server, &browser, "sonia", "orange tulip garden").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body.contains("/admin/accounts/pauline") && !list.body.contains("/admin/accounts/archived"),
        "active by default"
    );
    let archived = browser.get(&server.url("/admin/accounts?state=archived")).await;
    assert!(archived.body.contains("/admin/accounts/archived") && !archived.body.contains("/admin/accounts/pauline"));
    let search = browser.get(&server.url("/admin/accounts?q=MART&state=all")).await;
    assert!(search.body.contains("/admin/accounts/pauline") && !search.body.contains("/admin/accounts/emilie"));

    let form = browser.get(&server.url("/admin/accounts/emilie")).await;
    assert!(form.body.contains("name=\"access.INOTACTE.rights\""));
    let csrf = form.field("csrf_token").unwrap();
    let archived = follow(
        &server,
        &browser,
        browser.post(&server.url("/admin/accounts/emilie/archive"), &[("csrf_token", &csrf), ("confirm", "yes")]).await,
    )
    .await;
    assert!(archived.body.contains("/admin/accounts/emilie/restore"), "now offers to restore");
    let emilie = sesame::accounts::find_by_username(&server.state.db, "emilie").await.unwrap().unwrap();
    assert!(emilie.archived);
    let reset = browser.post(&server.url("/admin/accounts/emilie/password"), &[("csrf_token", &csrf)]).await;
    assert!(reset.body.contains("id=\"temporary-password\""));

    let mismatch = browser
        .post(
            &server.url("/admin/accounts/new"),
            &[
                ("csrf_token", &csrf),
                ("username", "zoe"),
                ("password", "quiet library lamp"),
                ("password_confirm", "other"),
            ],
        )
        .await;
    assert_eq!(mismatch.status, 422);
    assert!(mismatch.body.contains("deux mots de passe"), "the confirmation is checked");
    assert!(mismatch.body.contains("value=\"zoe\""), "what was typed is kept");

    let application = browser.get(&server.url("/admin/applications/INOTACTE")).await;
    let text = crate::rp::unescape(&application.body);
    assert!(text.contains("actes-web") && text.contains("https://actes.example/callback"));
    let created = browser
        .post(
            &server.url("/admin/applications/INOTACTE/clients"),
            &[
                ("csrf_token", &csrf),
                ("client_id", "actes-mobile"),
                ("redirect_uris", "https://m.actes.example/cb"),
                ("kind", "web"),
            ],
        )
        .await;
    assert_eq!(created.status, 201);
    assert!(created.body.contains("id=\"client-secret\""), "the secret, once");
    let again = browser.get(&server.url("/admin/applications/INOTACTE")).await;
    assert!(!again.body.contains("id=\"client-secret\""));
}

async fn console_refuses_non_administrators_and_forged_forms(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pauline = Browser::new();
    let page = sign_in(&server, &pauline, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 403, "not an account administrator");
    assert!(pauline.get(&server.url("/admin/accounts")).await.location.is_some_and(|l| l.contains("/admin/login")));

    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let forged = sonia.post(&server.url("/admin/accounts/pauline/archive"), &[("csrf_token", "forged")]).await;
    assert_eq!(forged.status, 403);
    let pauline_now = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(!pauline_now.archived, "nothing done");
    let anonymous = Browser::new().post(&server.url("/admin/accounts/pauline/archive"), &[("csrf_token", "x")]).await;
    assert!(anonymous.location.is_some_and(|l| l.contains("/admin/login")), "not signed in: sent to sign in");
}
