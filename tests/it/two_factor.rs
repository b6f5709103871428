//! Two-factor login over real HTTP: forced enrollment page by page, the code computed by
//! an independent TOTP implementation from the secret read off the page, the mailed
//! confirmation read from the mail outbox, verification at later logins, replay, skew,
//! lockout, recovery codes, step-up by `acr_values`, and the state machine refusing
//! every shortcut.

use sesame::accounts::{self, AccountInput};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};

const TWO_FACTOR: &str = "urn:sesame:loa:2fa";

/// RFC 6238 with HMAC-SHA1, written from the RFC (not the server's library).
pub struct Authenticator {
    key: Vec<u8>,
}

impl Authenticator {
    /// From the secret as the page shows it (base32, grouped by four).
    pub fn from_page_secret(secret: &str) -> Self {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        let mut bits = 0u64;
        let mut count = 0;
        let mut key = Vec::new();
        for c in secret.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let value = ALPHABET.iter().position(|a| *a as char == c.to_ascii_uppercase()).expect("base32") as u64;
            bits = (bits << 5) | value;
            count += 5;
            if count >= 8 {
                key.push((bits >> (count - 8)) as u8);
                count -= 8;
            }
        }
        Self { key }
    }

    pub fn code_at(&self, time: i64) -> String {
        use aws_lc_rs::hmac;
        let counter = (time as u64 / 30).to_be_bytes();
        let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &self.key), &counter);
        let digest = tag.as_ref();
        let offset = (digest[19] & 0x0f) as usize;
        let value =
            u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
        format!("{:06}", value % 1_000_000)
    }
}

/// The text of the element with this id (`<x id="…">text</x>`).
pub fn element_text(body: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\"");
    let start = body.find(&marker)?;
    let open_end = body[start..].find('>')? + start + 1;
    let close = body[open_end..].find('<')? + open_end;
    Some(rp::unescape(body[open_end..close].trim()))
}

/// The last mailed code to `to`, from the outbox in the server's data folder.
pub fn mailed_code(server: &TestServer, to: &str) -> String {
    let outbox = std::fs::read_to_string(server.state.config.data_dir.join("mail-outbox.jsonl")).expect("mail outbox");
    let line = outbox
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .rfind(|m| m["to"] == to && m["purpose"] == "enrollment_code")
        .expect("a code mailed to the account");
    let text = line["text"].as_str().unwrap_or_default();
    text.split(|c: char| !c.is_ascii_digit()).find(|w| w.len() == 6).expect("six digits in the mail").to_string()
}

pub fn mails(server: &TestServer) -> Vec<serde_json::Value> {
    std::fs::read_to_string(server.state.config.data_dir.join("mail-outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// An administrator switching two-factor on or off (the same domain call as the
/// console, the API and the CLI).
pub async fn set_two_factor(server: &TestServer, username: &str, on: bool) {
    let state = &server.state;
    let account = accounts::find_by_username(&state.db, username).await.unwrap().expect("account");
    let input = AccountInput { two_factor_required: on, ..AccountInput::unchanged(&account) };
    accounts::upsert(&state.db, &state.passwords, input, server.clock_now()).await.unwrap();
}

pub async fn audit_count(server: &TestServer, event: &str) -> usize {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use sesame::storage::entities::audit_event;
    let rows = audit_event::Entity::find().filter(audit_event::Column::Event.eq(event)).all(&server.state.db).await;
    rows.unwrap().len()
}

/// Posts the current page's form with its hidden fields plus `extra`.
pub async fn submit(browser: &Browser, server: &TestServer, page: &Page, path: &str, extra: &[(&str, &str)]) -> Page {
    let csrf = page.field("csrf_token").expect("csrf_token");
    let tx = page.field("tx").expect("tx");
    let mut form = vec![("csrf_token", csrf.as_str()), ("tx", tx.as_str())];
    form.extend_from_slice(extra);
    browser.post(&server.url(path), &form).await
}

/// Follows a redirect inside Sésame and returns the page.
pub async fn follow(browser: &Browser, server: &TestServer, page: &Page) -> Page {
    let location = page.location.as_deref().unwrap_or_else(|| panic!("a redirect: {} {}", page.status, page.body));
    assert!(location.starts_with('/'), "stays in Sésame: {location}");
    browser.get(&server.url(location)).await
}

/// What an enrollment walk leaves: the app's key, the recovery codes, the redirect to
/// the client.
pub struct Enrolled {
    pub app: Authenticator,
    /// The code typed at enrollment (a replay of it must fail).
    pub code: String,
    pub recovery_codes: Vec<String>,
    pub to_client: Page,
}

/// From a page redirecting to `/login/enroll/intro`, the steps up to the page that
/// shows the secret.
pub async fn walk_to_scan(browser: &Browser, server: &TestServer, after_password: &Page) -> Page {
    assert_eq!(after_password.location.as_deref().map(|l| l.starts_with("/login/enroll/intro")), Some(true));
    let intro = follow(browser, server, after_password).await;
    assert_eq!(intro.status, 200, "{}", intro.body);
    let install = follow(browser, server, &submit(browser, server, &intro, "/login/enroll/intro", &[]).await).await;
    assert!(install.body.contains("<svg"), "store QR codes");
    let add = follow(browser, server, &submit(browser, server, &install, "/login/enroll/install", &[]).await).await;
    let scan = submit(browser, server, &add, "/login/enroll/add", &[]).await;
    // A new secret that replaces one shown at an earlier login comes with a note, at once.
    if scan.location.is_some() { follow(browser, server, &scan).await } else { scan }
}

/// From a page redirecting to `/login/enroll/intro`, walks every step as a user would.
pub async fn walk_enrollment(browser: &Browser, server: &TestServer, after_password: &Page, email: &str) -> Enrolled {
    let scan = walk_to_scan(browser, server, after_password).await;
    let secret = element_text(&scan.body, "totp-secret").expect("the secret in #totp-secret");
    let uri = element_text(&scan.body, "totp-uri").expect("the URI in #totp-uri");
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    assert!(uri.contains(&format!("secret={}", secret.replace(' ', ""))), "{uri} holds {secret}");
    let app = Authenticator::from_page_secret(&secret);
    assert_eq!(app.key.len(), 20, "160-bit secret");
    let code = app.code_at(server.clock_now());
    let checked = submit(browser, server, &scan, "/login/enroll/scan", &[("code", &code)]).await;
    let done = if checked.location.as_deref().is_some_and(|l| l.starts_with("/login/enroll/email")) {
        let email_page = follow(browser, server, &checked).await;
        let mailed = mailed_code(server, email);
        submit(browser, server, &email_page, "/login/enroll/email", &[("code", &mailed)]).await
    } else {
        checked
    };
    assert_eq!(done.status, 200, "the Done page: {}", done.body);
    let recovery_codes: Vec<String> = done
        .body
        .split("<li><code>")
        .skip(1)
        .filter_map(|part| part.split("</code>").next())
        .map(str::to_string)
        .collect();
    let to_client = submit(browser, server, &done, "/login/enroll/done", &[]).await;
    Enrolled { app, code, recovery_codes, to_client }
}

async fn enroll_pauline(server: &TestServer) -> (Enrolled, rp::AuthRequest) {
    let browser = Browser::new();
    enroll_pauline_in(server, &browser).await
}

async fn enroll_pauline_in(server: &TestServer, browser: &Browser) -> (Enrolled, rp::AuthRequest) {
    set_two_factor(server, "pauline", true).await;
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid", "profile"], &[]);
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    (walk_enrollment(browser, server, &after_password, "pauline@etude.example").await, request)
}

/// A fresh login of pauline up to the verification page.
async fn to_verification(server: &TestServer, browser: &Browser, extra: &[(&str, &str)]) -> (Page, rp::AuthRequest) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], extra);
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(after_password.location.as_deref().map(|l| l.starts_with("/login/verify")), Some(true));
    (follow(browser, server, &after_password).await, request)
}

async fn id_token_claims(server: &TestServer, to_client: &Page, request: rp::AuthRequest) -> serde_json::Value {
    assert_eq!(to_client.status, 303, "{}", to_client.body);
    let code = to_client.location_param("code").expect("code");
    let client = rp::actes_web(server).await;
    let tokens = rp::exchange(&client, &code, request.verifier).await.expect("tokens");
    use openidconnect::TokenResponse;
    use openidconnect::core::CoreTokenResponse;
    let tokens: CoreTokenResponse = tokens;
    let id_token = tokens.id_token().expect("id token").to_string();
    rp::payload(&id_token)
}

async fn enrollment_then_every_login_asks_the_code(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (enrolled, request) = enroll_pauline(&server).await;
    assert_eq!(enrolled.recovery_codes.len(), 10, "ten recovery codes");
    let claims = id_token_claims(&server, &enrolled.to_client, request).await;
    assert_eq!(claims["acr"], TWO_FACTOR);
    let amr: Vec<&str> = claims["amr"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    for value in ["pwd", "otp", "mfa"] {
        assert!(amr.contains(&value), "amr {amr:?}");
    }
    // The owner was told.
    assert!(mails(&server).iter().any(|m| m["purpose"] == "factor_added" && m["to"] == "pauline@etude.example"));

    // The next login asks for the code; the one used at enrollment is refused (replay).
    let browser = Browser::new();
    let (verify, request) = to_verification(&server, &browser, &[]).await;
    assert!(verify.body.contains("name=\"code\""), "{}", verify.body);
    // The very code typed at enrollment (not "the code of now": the step may have moved).
    let used = enrolled.code.clone();
    let replay = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &used)]).await;
    assert_eq!(replay.status, 401, "a code accepted once is refused: {}", replay.body);
    server.clock.advance(30);
    let fresh = enrolled.app.code_at(server.clock_now());
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &fresh)]).await;
    let claims = id_token_claims(&server, &page, request).await;
    assert_eq!(claims["acr"], TWO_FACTOR);

    // One step of clock skew either way is accepted, two are not.
    server.clock.advance(60);
    let browser = Browser::new();
    let (verify, _) = to_verification(&server, &browser, &[]).await;
    let too_old = enrolled.app.code_at(server.clock_now() - 60);
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &too_old)]).await;
    assert_eq!(page.status, 401);
    let behind = enrolled.app.code_at(server.clock_now() - 30);
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &behind)]).await;
    assert_eq!(page.status, 303, "one step behind is accepted: {}", page.body);

    // The SSO session is two-factor: a new request needs neither password nor code.
    let client = rp::actes_web(&server).await;
    let again = rp::auth_request(&client, &["openid"], &[("acr_values", TWO_FACTOR)]);
    let page = browser.get(&again.url).await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("https://actes.example")), "{:?}", page.location);

    // prompt=login asks for the password and the second factor again.
    let relogin = rp::auth_request(&client, &["openid"], &[("prompt", "login")]);
    let page = browser.authorize(&server, &relogin.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")), "{:?}", page.location);
    // So does max_age once the session is older than it.
    server.clock.advance(5);
    let aged = rp::auth_request(&client, &["openid"], &[("max_age", "2")]);
    let page = browser.authorize(&server, &aged.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/verify")), "{:?}", page.location);
}

async fn enrollment_steps_cannot_be_skipped_or_replayed(backend: Backend) {
    let server = TestServer::start(backend).await;
    set_two_factor(&server, "pauline", true).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let browser = Browser::new();
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let intro = follow(&browser, &server, &after_password).await;
    let tx = intro.field("tx").unwrap();

    // Later pages by URL send back to the current one; their forms do nothing.
    for page in ["install", "add", "scan", "email", "done"] {
        let direct = browser.get(&server.url(&format!("/login/enroll/{page}?tx={tx}"))).await;
        assert_eq!(direct.location.as_deref(), Some(format!("/login/enroll/intro?tx={tx}").as_str()), "{page}");
        let posted = submit(&browser, &server, &intro, &format!("/login/enroll/{page}"), &[("code", "123456")]).await;
        assert_eq!(posted.location.as_deref(), Some(format!("/login/enroll/intro?tx={tx}").as_str()), "{page}");
    }
    for path in ["/login/verify", "/login/verify/notice"] {
        let direct = browser.get(&server.url(&format!("{path}?tx={tx}"))).await;
        assert_eq!(direct.location.as_deref(), Some(format!("/login/enroll/intro?tx={tx}").as_str()), "{path}");
    }
    let continued = submit(&browser, &server, &intro, "/login/continue", &[]).await;
    assert_eq!(continued.location.as_deref(), Some(format!("/login/enroll/intro?tx={tx}").as_str()));
    // The password page is done with: going back to it does not log in again.
    let login_again = browser.get(&server.url(&format!("/login?tx={tx}"))).await;
    assert_eq!(login_again.location.as_deref(), Some(format!("/login/enroll/intro?tx={tx}").as_str()));

    // Step forward; replaying the intro form (back button, second tab) moves nothing.
    let moved = submit(&browser, &server, &intro, "/login/enroll/intro", &[]).await;
    assert_eq!(moved.location.as_deref(), Some(format!("/login/enroll/install?tx={tx}").as_str()));
    let replayed = submit(&browser, &server, &intro, "/login/enroll/intro", &[]).await;
    assert_eq!(replayed.location.as_deref(), Some(format!("/login/enroll/install?tx={tx}").as_str()));
    let install = follow(&browser, &server, &moved).await;
    let add = follow(&browser, &server, &submit(&browser, &server, &install, "/login/enroll/install", &[]).await).await;
    let scan = follow(&browser, &server, &submit(&browser, &server, &add, "/login/enroll/add", &[]).await).await;
    let secret = element_text(&scan.body, "totp-secret").unwrap();

    // A wrong code says so and keeps the secret.
    let wrong = submit(&browser, &server, &scan, "/login/enroll/scan", &[("code", "000000")]).await;
    assert_eq!(wrong.status, 400);
    assert_eq!(element_text(&wrong.body, "totp-secret").as_deref(), Some(secret.as_str()));
    assert!(wrong.body.contains("id=\"enroll-error\""));
    // Too many wrong codes: a new secret.
    let mut last = wrong;
    for _ in 0..4 {
        last = submit(&browser, &server, &scan, "/login/enroll/scan", &[("code", "000000")]).await;
    }
    let new_secret = element_text(&last.body, "totp-secret").unwrap();
    assert_ne!(new_secret, secret, "a new secret after five wrong codes");
    // The old secret's codes no longer work.
    let old_code = Authenticator::from_page_secret(&secret).code_at(server.clock_now());
    let refused = submit(&browser, &server, &last, "/login/enroll/scan", &[("code", &old_code)]).await;
    assert_eq!(refused.status, 400);

    // A right code goes to the mailed confirmation; it cannot be skipped either.
    let app = Authenticator::from_page_secret(&new_secret);
    let checked =
        submit(&browser, &server, &last, "/login/enroll/scan", &[("code", &app.code_at(server.clock_now()))]).await;
    assert_eq!(checked.location.as_deref(), Some(format!("/login/enroll/email?tx={tx}").as_str()));
    let skip = submit(&browser, &server, &last, "/login/enroll/done", &[]).await;
    assert_eq!(skip.location.as_deref(), Some(format!("/login/enroll/email?tx={tx}").as_str()));
    // Not active yet: no factor until the mailed code is given.
    let account = accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(sesame::second_factor::factors_of(&server.state.db, &account.id).await.unwrap().is_empty());
    let email_page = follow(&browser, &server, &checked).await;
    let wrong = submit(&browser, &server, &email_page, "/login/enroll/email", &[("code", "999999")]).await;
    assert_eq!(wrong.status, 400);
    let resend = submit(&browser, &server, &email_page, "/login/enroll/email", &[("action", "resend")]).await;
    assert_eq!(resend.status, 429, "resend waits a minute");
    let done = submit(
        &browser,
        &server,
        &email_page,
        "/login/enroll/email",
        &[("code", &mailed_code(&server, "pauline@etude.example"))],
    )
    .await;
    assert_eq!(done.status, 200, "{}", done.body);
    // Finishing twice (second tab) does nothing more; the login completes once.
    let again = submit(&browser, &server, &email_page, "/login/enroll/email", &[("code", "123456")]).await;
    assert_eq!(again.location.as_deref(), Some(format!("/login/enroll/done?tx={tx}").as_str()));
    let to_client = submit(&browser, &server, &done, "/login/enroll/done", &[]).await;
    assert_eq!(to_client.status, 303);
    let replay = submit(&browser, &server, &done, "/login/enroll/done", &[]).await;
    assert_ne!(replay.status, 303, "the request was consumed");
    assert_eq!(sesame::second_factor::factors_of(&server.state.db, &account.id).await.unwrap().len(), 1);
}

async fn recovery_codes_work_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (enrolled, _) = enroll_pauline(&server).await;
    let browser = Browser::new();
    let (verify, request) = to_verification(&server, &browser, &[]).await;
    let methods = browser.get(&server.url(&format!("/login/verify/methods?tx={}", verify.field("tx").unwrap()))).await;
    assert!(methods.body.contains("value=\"recovery\"") && methods.body.contains("value=\"totp\""), "{}", methods.body);
    let code = &enrolled.recovery_codes[0];
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "recovery"), ("code", code)]).await;
    let notice = follow(&browser, &server, &page).await;
    assert!(notice.body.contains("id=\"recovery-used\""), "{}", notice.body);
    assert!(element_text(&notice.body, "recovery-used").unwrap().contains('9'));
    let to_client = submit(&browser, &server, &notice, "/login/continue", &[]).await;
    let claims = id_token_claims(&server, &to_client, request).await;
    assert_eq!(claims["acr"], TWO_FACTOR);
    assert_eq!(audit_count(&server, "second_factor.recovery_code_used").await, 1);

    let browser = Browser::new();
    let (verify, _) = to_verification(&server, &browser, &[]).await;
    let again = submit(&browser, &server, &verify, "/login/verify", &[("method", "recovery"), ("code", code)]).await;
    assert_eq!(again.status, 401, "a recovery code works once");

    // Once every code is used, the method is no longer offered (the count is read with
    // the factors, in one query).
    {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
        use sesame::storage::entities::recovery_code;
        let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
        recovery_code::Entity::update_many()
            .col_expr(recovery_code::Column::UsedAt, Expr::value(1_i64))
            .filter(recovery_code::Column::AccountId.eq(&pauline.id))
            .exec(&server.state.db)
            .await
            .unwrap();
    }
    let browser = Browser::new();
    let (verify, _) = to_verification(&server, &browser, &[]).await;
    let methods = browser.get(&server.url(&format!("/login/verify/methods?tx={}", verify.field("tx").unwrap()))).await;
    assert!(methods.body.contains("value=\"totp\""), "{}", methods.body);
    assert!(!methods.body.contains("value=\"recovery\""), "no code left: {}", methods.body);
}

async fn wrong_codes_lock_the_second_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (enrolled, _) = enroll_pauline(&server).await;
    server.clock.advance(30);
    let browser = Browser::new();
    let (verify, _) = to_verification(&server, &browser, &[]).await;
    for attempt in 1..=5 {
        let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", "000000")]).await;
        let expected = if attempt < 5 { 401 } else { 429 };
        assert_eq!(page.status, expected, "attempt {attempt}");
    }
    // Locked: even the right code waits, and the page says how long.
    let right = enrolled.app.code_at(server.clock_now());
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &right)]).await;
    assert_eq!(page.status, 429);
    assert!(page.body.contains('5'), "minutes to wait: {}", page.body);
    server.clock.advance(301);
    let right = enrolled.app.code_at(server.clock_now());
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &right)]).await;
    assert_eq!(page.status, 303, "after the lock: {}", page.body);
}

async fn acr_values_steps_up_an_account_without_two_factor(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let browser = Browser::new();
    // Emilie logs in with her password only: acr is one-factor.
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(&server, &request.url, "emilie", "blue river stone").await;
    let claims = id_token_claims(&server, &page, request).await;
    assert_eq!(claims["acr"], "urn:sesame:loa:1fa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    // The client asks for two-factor: her session is not enough, she enrolls (confirmed
    // by mail, since no administrator opened a window) without retyping her password.
    let request = rp::auth_request(&client, &["openid"], &[("acr_values", TWO_FACTOR)]);
    let page = browser.get(&request.url).await;
    let enrolled = walk_enrollment(&browser, &server, &page, "emilie@etude.example").await;
    let claims = id_token_claims(&server, &enrolled.to_client, request).await;
    assert_eq!(claims["acr"], TWO_FACTOR);
    // prompt=none cannot step up.
    let other = Browser::new();
    let request = rp::auth_request(&client, &["openid"], &[]);
    other.authorize(&server, &request.url, "sonia", "orange tulip garden").await;
    let silent = rp::auth_request(&client, &["openid"], &[("acr_values", TWO_FACTOR), ("prompt", "none")]);
    let page = other.get(&silent.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("interaction_required"), "{:?}", page.location);
}

async fn enrollment_window_closes(backend: Backend) {
    let server = TestServer::start(backend).await;
    set_two_factor(&server, "pauline", true).await;
    server.clock.advance(15 * 86_400);
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let browser = Browser::new();
    let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(page.body.contains("access_denied"), "a way back to the application: {}", page.body);
    // An administrator reopens it by resetting the second factors.
    let account = accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    sesame::second_factor::reset(&server.state.db, &account.id, server.clock_now()).await.unwrap();
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/enroll/intro")), "{:?}", page.location);
}

async fn administrators_reset_and_unlock(backend: Backend) {
    use reqwest::Method;
    let server = TestServer::start(backend).await;
    let (enrolled, _) = enroll_pauline(&server).await;
    server.clock.advance(30);
    let browser = Browser::new();
    let (verify, _) = to_verification(&server, &browser, &[]).await;
    for _ in 0..5 {
        submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", "000000")]).await;
    }
    let api = crate::admin_api::api(&server).await;
    let (status, account) = api.call(Method::GET, "/accounts/pauline", None).await;
    assert_eq!(status, 200);
    assert_eq!(account["second_factors"].as_array().map(Vec::len), Some(1), "{account}");
    assert_eq!(account["second_factors"][0]["method"], "totp");
    assert!(account["second_factors"][0].get("secret").is_none());
    assert!(account["second_factor_locked_until"].is_i64(), "{account}");
    let (status, account) = api.call(Method::POST, "/accounts/pauline/unlock", None).await;
    assert_eq!(status, 200);
    assert!(account["second_factor_locked_until"].is_null());
    let code = enrolled.app.code_at(server.clock_now());
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(page.status, 303, "unlocked by the administrator: {}", page.body);

    let (status, account) = api.call(Method::POST, "/accounts/pauline/second-factors/reset", None).await;
    assert_eq!(status, 200);
    assert_eq!(account["second_factors"], serde_json::json!([]));
    assert!(mails(&server).iter().any(|m| m["purpose"] == "factor_reset"), "the owner is told");
    assert_eq!(audit_count(&server, "admin.account.second_factors_reset").await, 1);
    let (status, _) = api.call(Method::POST, "/accounts/nobody/second-factors/reset", None).await;
    assert_eq!(status, 404);
    // The next login enrolls anew, the old app's codes are worthless.
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/enroll/intro")), "{:?}", page.location);

    // The console does the same from the account's page.
    let (enrolled, _) = {
        let browser = Browser::new();
        let request = rp::auth_request(&client, &["openid"], &[]);
        let page = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
        (walk_enrollment(&browser, &server, &page, "pauline@etude.example").await, ())
    };
    assert_eq!(enrolled.to_client.status, 303);
    let admin = Browser::new();
    crate::console::sign_in(&server, &admin, "sonia", "orange tulip garden").await;
    let page = admin.get(&server.url("/admin/accounts/pauline")).await;
    assert!(page.body.contains("id=\"reset-second-factors\""), "{}", page.body);
    let csrf = page.field("csrf_token").unwrap();
    let reset = admin
        .post(&server.url("/admin/accounts/pauline/second-factors/reset"), &[("csrf_token", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(reset.location.as_deref(), Some("/admin/accounts/pauline?saved=second_factors"));
    let forged = admin.post(&server.url("/admin/accounts/pauline/second-factors/reset"), &[("csrf_token", "x")]).await;
    assert_eq!(forged.status, 403);
    let account = accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(sesame::second_factor::factors_of(&server.state.db, &account.id).await.unwrap().is_empty());
}

async fn users_manage_their_own_second_factors(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Without a session the page signs in like an application.
    let anonymous = Browser::new();
    let page = anonymous.get(&server.url("/account/security")).await;
    assert_eq!(page.location.as_deref(), Some("/account/login"));
    let page = anonymous.get(&server.url("/account/login")).await;
    assert!(page.location.as_deref().is_some_and(|l| l.contains("client_id=sesame-account")), "{:?}", page.location);

    let browser = Browser::new();
    enroll_pauline_in(&server, &browser).await;
    let page = browser.get(&server.url("/account/security")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"factors\""));
    let csrf = page.field("csrf_token").unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let browser = &browser;
        let server = &server;
        let csrf = csrf.clone();
        async move {
            let mut all: Vec<(&str, String)> = vec![("csrf_token", csrf)];
            all.extend(form);
            let borrowed: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            browser.post(&server.url("/account/security"), &borrowed).await
        }
    };
    // Add a second authenticator: its own secret, active once a code is right.
    let adding = post(vec![("action", "add".into())]).await;
    let secret = element_text(&adding.body, "totp-secret").expect("the new secret");
    let factor_id = adding.field("factor_id").unwrap();
    let wrong =
        post(vec![("action", "confirm_add".into()), ("factor_id", factor_id.clone()), ("code", "000000".into())]).await;
    assert_eq!(wrong.status, 400);
    let code = Authenticator::from_page_secret(&secret).code_at(server.clock_now());
    let added = post(vec![("action", "confirm_add".into()), ("factor_id", factor_id.clone()), ("code", code)]).await;
    assert!(added.body.contains("id=\"account-notice\""), "{}", added.body);
    let account = accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let factors = sesame::second_factor::factors_of(&server.state.db, &account.id).await.unwrap();
    assert_eq!(factors.len(), 2);
    // New recovery codes replace the old ones.
    let codes = post(vec![("action", "recovery".into())]).await;
    assert_eq!(codes.body.matches("<li><code>").count(), 10);
    // Remove one; the last one stays while two-factor is required.
    let removed = post(vec![("action", "remove".into()), ("factor_id", factors[0].id.clone())]).await;
    assert_eq!(removed.status, 200);
    let refused = post(vec![("action", "remove".into()), ("factor_id", factors[1].id.clone())]).await;
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("id=\"account-error\""));
    assert!(mails(&server).iter().any(|m| m["purpose"] == "factor_removed"));
    // A forged form, and a sign-in that is no longer recent, are refused.
    let forged = browser.post(&server.url("/account/security"), &[("csrf_token", "x"), ("action", "recovery")]).await;
    assert_eq!(forged.status, 403);
    server.clock.advance(1000);
    let stale = post(vec![("action", "recovery".into())]).await;
    assert!(
        stale.location.as_deref().is_some_and(|l| l.starts_with("/account/login?fresh=true")),
        "{:?}",
        stale.location
    );
}

async fn a_code_is_accepted_once_across_nodes(backend: Backend) {
    let a = TestServer::start(backend).await;
    let (enrolled, _) = enroll_pauline(&a).await;
    let issuer = a.issuer.clone();
    let b =
        TestServer::start_on(tempfile::tempdir().unwrap(), a.database_url.clone(), move |c| c.issuer = issuer, false)
            .await;
    a.clock.advance(30);
    b.clock.advance(30);
    let (at_a, at_b) = (Browser::new(), Browser::new());
    let (verify_a, _) = to_verification(&a, &at_a, &[]).await;
    // Node B shares A's issuer; the browser reaches it at its own address.
    let client = rp::actes_web(&a).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let url = request.url.replace(&a.issuer, &b.issuer);
    let after_password = at_b.authorize(&b, &url, "pauline", "correct horse battery").await;
    let verify_b = follow(&at_b, &b, &after_password).await;
    assert!(verify_b.body.contains("name=\"code\""), "{}", verify_b.body);
    let code = enrolled.app.code_at(a.clock_now());
    let first = submit(&at_a, &a, &verify_a, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let second = submit(&at_b, &b, &verify_b, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(second.status, 401, "the other node refuses the same code");
}

on_every_backend!(
    a_code_is_accepted_once_across_nodes,
    users_manage_their_own_second_factors,
    administrators_reset_and_unlock,
    enrollment_then_every_login_asks_the_code,
    enrollment_steps_cannot_be_skipped_or_replayed,
    recovery_codes_work_once,
    wrong_codes_lock_the_second_factor,
    acr_values_steps_up_an_account_without_two_factor,
    enrollment_window_closes,
    the_mailed_enrollment_code_proves_the_email_address,
    a_login_restarted_during_enrollment_shows_the_same_secret_in_that_browser_only,
);

/// Typing the code mailed at enrollment proves the address: `email_verified` is true in
/// the ID token and at userinfo from then on, and false again once an administrator
/// changes the address.
async fn the_mailed_enrollment_code_proves_the_email_address(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let verified = |tokens: &openidconnect::core::CoreTokenResponse| {
        use openidconnect::TokenResponse;
        rp::payload(&tokens.id_token().expect("an ID token").to_string())["email_verified"].clone()
    };
    let request = rp::auth_request(&client, &["openid", "email"], &[]);
    let page = Browser::new().authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let tokens = rp::exchange(&client, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    assert_eq!(verified(&tokens), false, "an address an administrator typed is not proven");

    set_two_factor(&server, "pauline", true).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["openid", "email"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let enrolled = walk_enrollment(&browser, &server, &after_password, "pauline@etude.example").await;
    assert!(mails(&server).iter().any(|m| m["to"] == "pauline@etude.example"), "the code was mailed");
    let code = enrolled.to_client.location_param("code").expect("a code");
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    assert_eq!(verified(&tokens), true, "proven by the mailed code");
    let userinfo = |token: String| {
        let url = server.url("/userinfo");
        async move {
            let response = reqwest::Client::new().get(url).bearer_auth(token).send().await.unwrap();
            response.json::<serde_json::Value>().await.unwrap()
        }
    };
    use openidconnect::OAuth2TokenResponse;
    let token = tokens.access_token().secret().to_string();
    assert_eq!(userinfo(token.clone()).await["email_verified"], true);

    let state = &server.state;
    let account = accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    let input =
        AccountInput { email: Some("pauline.martin@etude.example".into()), ..AccountInput::unchanged(&account) };
    accounts::upsert(&state.db, &state.passwords, input, server.clock_now()).await.unwrap();
    let info = userinfo(token).await;
    assert_eq!(info["email"], "pauline.martin@etude.example");
    assert_eq!(info["email_verified"], false, "a new address is not proven");
}

/// A login restarted before the code was typed shows the secret already shown in that
/// browser (the app keeps one entry); another browser, which may be a password thief's,
/// gets a secret of its own; the first secret's code then enrolls.
async fn a_login_restarted_during_enrollment_shows_the_same_secret_in_that_browser_only(backend: Backend) {
    let server = TestServer::start(backend).await;
    set_two_factor(&server, "pauline", true).await;
    let client = rp::actes_web(&server).await;
    let secret_in = |page: &Page| element_text(&page.body, "totp-secret").expect("the secret in #totp-secret");
    let browser = Browser::new();
    let request = rp::auth_request(&client, &["openid"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let first = secret_in(&walk_to_scan(&browser, &server, &after_password).await);

    let request = rp::auth_request(&client, &["openid"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let scan = walk_to_scan(&browser, &server, &after_password).await;
    assert_eq!(secret_in(&scan), first, "the same secret in the same browser");
    assert_eq!(element_text(&scan.body, "enroll-notice"), None, "nothing to delete from the app");

    let elsewhere = Browser::new();
    let other_request = rp::auth_request(&client, &["openid"], &[]);
    let other = elsewhere.authorize(&server, &other_request.url, "pauline", "correct horse battery").await;
    let other_scan = walk_to_scan(&elsewhere, &server, &other).await;
    assert_ne!(secret_in(&other_scan), first, "never shown to another browser");
    let note = element_text(&other_scan.body, "enroll-notice").expect("a note: the earlier entry is stale");
    assert!(note.contains("supprimez-le") || note.contains("delete it"), "{note}");

    let code = Authenticator::from_page_secret(&first).code_at(server.clock_now());
    let checked = submit(&browser, &server, &scan, "/login/enroll/scan", &[("code", &code)]).await;
    assert_eq!(checked.status, 303, "{}", checked.body);
    assert!(checked.location.as_deref().is_some_and(|l| l.starts_with("/login/enroll/")), "{:?}", checked.location);
}
