//! What a person meets in the first hour, in a real browser where it matters: forms
//! answer with a redirect (no "Confirm form resubmission", the back button lands on the
//! current step), a dead end leads back to the application, a push refused on the phone
//! says so on the sign-in page; and a failed confirmation mail says it failed and does
//! not make the next try wait.

use crate::browser::{Browser, guide_app_login, register_guide_app};
use crate::harness::{Backend, TestServer};
use crate::rp::{self, Page};
use crate::two_factor::{
    Authenticator, element_text, follow, mails, set_two_factor, submit, walk_enrollment, walk_to_scan,
};

/// Pauline with an authenticator app, enrolled over HTTP by another browser.
async fn pauline_with_an_app(server: &TestServer) -> Authenticator {
    set_two_factor(server, "pauline", true).await;
    let http = rp::Browser::new();
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let after_password = http.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let enrolled = walk_enrollment(&http, server, &after_password, "pauline@etude.example").await;
    server.clock.advance(30);
    enrolled.app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_answer_with_a_redirect_and_the_back_button_lands_on_the_current_step_in_chromium() {
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    register_guide_app(&server).await;
    let app = pauline_with_an_app(&server).await;

    // A wrong password: the form again, by GET, with the message and the name typed.
    browser.goto(&guide_app_login(&server, "")).await;
    let form_url = browser.wait_url("/login?tx=").await;
    browser.log_in("pauline", "not the password").await;
    browser.wait_element("#login-error").await;
    assert_eq!(browser.url().await, form_url, "the login page again, read by GET");
    assert_eq!(browser.property("#username", "value").await, "pauline", "the identifier typed is kept");
    // Reloading re-reads the page: nothing is sent again, the message was said once.
    browser.refresh().await;
    browser.wait_element("#username").await;
    assert!(!browser.has("#login-error").await, "a reload sends nothing again");

    // The right password; back from the code page lands on the code page again.
    browser.clear("#username").await;
    browser.log_in("pauline", "correct horse battery").await;
    let verify_url = browser.wait_url("/login/verify?tx=").await;
    browser.back().await;
    browser.wait_url("/login/verify?tx=").await;

    // A wrong code: the code page again by GET, with the message; a reload clears it.
    let wrong = if app.code_at(server.clock_now()) == "000000" { "111111" } else { "000000" };
    browser.type_into("#code", wrong).await;
    browser.click("form[action='/login/verify'] button").await;
    browser.wait_element("#verify-error").await;
    let after_wrong = browser.url().await;
    assert!(after_wrong.starts_with(&verify_url) && after_wrong.contains("method=totp"), "{after_wrong}");
    browser.refresh().await;
    browser.wait_element("#code").await;
    assert!(!browser.has("#verify-error").await, "a reload sends nothing again");

    // The right code ends at the application; going back finds the login used up, and
    // the page leads back to the application rather than nowhere.
    browser.type_into("#code", &app.code_at(server.clock_now())).await;
    browser.click("form[action='/login/verify'] button").await;
    browser.wait_url("/?code=").await;
    browser.back().await;
    browser.wait_element("#back-to-application").await;
    assert_eq!(browser.property("#back-to-application", "href").await, server.url("/"));
    assert!(browser.text("#back-to-application").await.contains("iNot Actes"));
    browser.screenshot("2fa-10-expired-back-to-the-application").await;
    browser.quit().await;
}

/// A push request denied, or answered with the wrong number, on the phone: the sign-in
/// page that waited says what happened and what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_refused_on_the_phone_is_explained_on_the_sign_in_page_in_chromium() {
    use crate::push::Device;
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    register_guide_app(&server).await;
    let state = &server.state;
    set_two_factor(&server, "pauline", true).await;
    let pauline = sesame::accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    let token =
        sesame::second_factor::push::new_enrollment(&state.db, &pauline.id, &state.config.push, server.clock_now())
            .await
            .unwrap();
    let phone = Device::enroll(&server, &server.url(&format!("/authenticator?enroll={token}"))).await;

    browser.goto(&guide_app_login(&server, "")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.click("#push-send").await;
    browser.wait_element("#push-number").await;
    let challenge = phone.pending(&server).await.remove(0);
    let (status, body) = phone.answer(&server, &challenge, "deny", None).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_element("#verify-error").await;
    let said = browser.text("#verify-error").await;
    assert!(said.contains("refusée") && said.contains("Envoyez"), "denied, and what to do: {said}");
    assert!(browser.has("#push-send").await, "another request can be sent");
    browser.screenshot("push-3-refused").await;

    browser.click("#push-send").await;
    browser.wait_element("#push-number").await;
    let number: i64 = browser.text("#push-number").await.trim().parse().unwrap();
    let challenge = phone.pending(&server).await.remove(0);
    let wrong = if number == 10 { 11 } else { 10 };
    let (status, body) = phone.answer(&server, &challenge, "approve", Some(wrong)).await;
    assert_eq!(status, 400, "the phone is told too: {body}");
    browser.wait_element("#verify-error").await;
    let said = browser.text("#verify-error").await;
    assert!(said.contains("nombre saisi"), "the wrong number, said: {said}");
    browser.quit().await;
}

/// A program posting the forms (no Fetch Metadata) still gets the page with its status
/// at once, as before: only a browser's navigation is redirected.
#[tokio::test]
async fn a_program_posting_a_form_gets_the_page_with_its_status() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let http = rp::Browser::new();
    let refused = http.authorize(&server, &request.url, "pauline", "not the password").await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(element_text(&refused.body, "login-error").is_some());

    // The same form from a browser tab: 303 to the form, which says it once.
    let navigating = rp::Browser::navigating();
    let page = navigating.get(&request.url).await;
    let location = page.location.clone().expect("to the login page");
    let form = navigating.get(&server.url(&location)).await;
    let (csrf, tx) = (form.field("csrf_token").unwrap(), form.field("tx").unwrap());
    let fields = [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("username", "pauline"), ("password", "nope")];
    let answered = navigating.post(&server.url("/login"), &fields).await;
    assert_eq!(answered.status, 303, "{}", answered.body);
    assert_eq!(answered.location.as_deref(), Some(location.as_str()));
    let shown = navigating.get(&server.url(&location)).await;
    assert!(element_text(&shown.body, "login-error").is_some(), "the message, once");
    assert!(shown.body.contains("value=\"pauline\""), "the identifier typed");
    let again = navigating.get(&server.url(&location)).await;
    assert!(element_text(&again.body, "login-error").is_none(), "read once");
    // Another browser cannot read it: the flash is sealed for this login.
    assert!(!again.body.contains("nope"));
}

/// The expired page of a login that another browser started (or that timed out) names
/// the application and leads back to it.
#[tokio::test]
async fn an_expired_login_page_leads_back_to_the_application() {
    let server = TestServer::start(Backend::Sqlite).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let http = rp::Browser::new();
    let page = http.get(&request.url).await;
    let location = page.location.clone().expect("to the login page");
    let expired: Page = rp::Browser::new().get(&server.url(&location)).await;
    assert_eq!(expired.status, 400, "{}", expired.body);
    let link = expired.body.split("id=\"back-to-application\" href=\"").nth(1).expect("a link back");
    let href = rp::unescape(link.split('"').next().unwrap());
    assert_eq!(href, "https://actes.example/", "the origin of its redirect URI");
    assert!(expired.body.contains("iNot Actes"), "names the application: {}", expired.body);
}

/// A confirmation mail that could not go out says so, and the next try mails at once
/// (it does not say a code was sent a moment ago).
#[tokio::test]
async fn a_failed_confirmation_mail_does_not_make_the_next_try_wait() {
    let server = TestServer::start(Backend::Sqlite).await;
    set_two_factor(&server, "pauline", true).await;
    let client = rp::actes_web(&server).await;
    let http = rp::Browser::new();
    let request = rp::auth_request(&client, &["openid"], &[]);
    let after_password = http.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let scan = walk_to_scan(&http, &server, &after_password).await;
    let app = Authenticator::from_page_secret(&element_text(&scan.body, "totp-secret").unwrap());

    // The outbox cannot be written: the mail fails.
    let outbox = server.state.config.data_dir.join("mail-outbox.jsonl");
    let kept = outbox.with_extension("kept");
    if outbox.exists() {
        std::fs::rename(&outbox, &kept).unwrap();
    }
    std::fs::create_dir(&outbox).unwrap();
    let failed =
        submit(&http, &server, &scan, "/login/enroll/scan", &[("code", &app.code_at(server.clock_now()))]).await;
    assert_eq!(failed.status, 503, "{}", failed.body);
    assert!(element_text(&failed.body, "enroll-error").is_some_and(|e| e.contains("e-mail")), "{}", failed.body);
    std::fs::remove_dir(&outbox).unwrap();
    if kept.exists() {
        std::fs::rename(&kept, &outbox).unwrap();
    }

    server.clock.advance(30);
    let retried =
        submit(&http, &server, &failed, "/login/enroll/scan", &[("code", &app.code_at(server.clock_now()))]).await;
    assert_eq!(retried.status, 303, "to the mail page: {}", retried.body);
    let email_page = follow(&http, &server, &retried).await;
    assert_eq!(element_text(&email_page.body, "enroll-notice"), None, "no 'sent a moment ago': {}", email_page.body);
    let sent = mails(&server).iter().filter(|m| m["purpose"] == "enrollment_code").count();
    assert_eq!(sent, 1, "the retry mailed the code");
}
