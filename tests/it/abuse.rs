//! Guessing budgets tried as an attacker would (docs/security.md lists what each test
//! proves): twenty requests at once, across two nodes, from many addresses, with a new
//! code asked between guesses, and the owner still getting in.

use std::time::{Duration, Instant};

use serde_json::Value;
use sesame::lockout::password;

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, Page};
use crate::two_factor::{follow, mailed_code, mails, set_two_factor, submit, walk_enrollment};

on_every_backend!(
    twenty_parallel_wrong_passwords_count_twenty,
    password_guesses_add_up_across_two_nodes,
    refusals_look_alike_whether_the_account_exists_or_not,
    an_attacker_cannot_keep_the_owner_out,
    parallel_second_factor_guesses_are_all_counted,
    a_new_text_message_buys_no_new_guesses,
    restarting_an_enrollment_buys_no_new_mailed_codes,
    consecutive_second_factor_failures_wait_for_an_administrator,
    client_secret_guessing_never_refuses_the_real_client,
);

const PASSWORD: &str = "correct horse battery";

/// A server that believes X-Forwarded-For from the test (127.0.0.1 is its proxy).
async fn behind_proxy(backend: Backend, adjust: impl FnOnce(&mut sesame::config::Config)) -> TestServer {
    TestServer::start_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
        adjust(config);
    })
    .await
}

/// The login page of a new authorization request of `actes-web` in this browser.
async fn login_page(server: &TestServer, browser: &Browser, extra: &[(&str, &str)]) -> (String, rp::AuthRequest) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], extra);
    let start = browser.get(&request.url).await;
    (start.location.expect("sent to the login page"), request)
}

/// The text of the login page's error.
fn login_error(page: &Page) -> String {
    crate::two_factor::element_text(&page.body, "login-error").unwrap_or_default()
}

/// Sends `count` password attempts at once from this browser (one login form).
async fn parallel_logins(server: &TestServer, browser: &Browser, count: usize, password: &str) -> Vec<Page> {
    let (login_path, _) = login_page(server, browser, &[("ui_locales", "en")]).await;
    let form = browser.get(&server.url(&login_path)).await;
    let (csrf, tx) = (form.field("csrf_token").unwrap(), form.field("tx").unwrap());
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (browser, url, csrf, tx, password) =
            (browser.clone(), server.url("/login"), csrf.clone(), tx.clone(), password.to_string());
        attempts.spawn(async move {
            let form =
                [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("username", "pauline"), ("password", &password)];
            browser.post(&url, &form).await
        });
    }
    attempts.join_all().await
}

async fn twenty_parallel_wrong_passwords_count_twenty(backend: Backend) {
    let server = behind_proxy(backend, |_| {}).await;
    let attacker = Browser::at("203.0.113.7");
    let pages = parallel_logins(&server, &attacker, 20, "wrong password").await;
    assert!(pages.iter().all(|p| p.status == 401), "{:?}", pages.iter().map(|p| p.status).collect::<Vec<_>>());
    let ((attempts, failures), (_, all_failures)) =
        password::counts_for_address(&server.state.db, "pauline", Some("203.0.113.7")).await.unwrap();
    assert_eq!(attempts, 20, "twenty parallel attempts count twenty");
    assert_eq!(failures, 5, "only the free budget was checked; the fifteen others were refused unchecked");
    assert_eq!(all_failures, 5, "the budget of all unknown sources counts the checked ones");
    // The source is throttled: the right password is refused from it, like a wrong one.
    let (_, request) = login_page(&server, &attacker, &[]).await;
    let page = attacker.authorize(&server, &request.url, "pauline", PASSWORD).await;
    assert_eq!(page.status, 401, "{}", page.body);
    // Another address is not.
    let owner = Browser::at("198.51.100.20");
    let (_, request) = login_page(&server, &owner, &[]).await;
    let page = owner.authorize(&server, &request.url, "pauline", PASSWORD).await;
    assert_eq!(page.status, 303, "the owner elsewhere gets in: {}", page.body);
}

async fn password_guesses_add_up_across_two_nodes(backend: Backend) {
    let first = behind_proxy(backend, |_| {}).await;
    let dir = tempfile::tempdir().unwrap();
    let second = TestServer::start_on(
        dir,
        first.database_url.clone(),
        |c| c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()],
        false,
    )
    .await;
    let attacker = Browser::at("203.0.113.8");
    // One visit first, so that both nodes see the same browser (cookies are per host).
    login_page(&first, &attacker, &[]).await;
    let (a, b) = tokio::join!(
        parallel_logins(&first, &attacker, 10, "wrong password"),
        parallel_logins(&second, &attacker, 10, "wrong password")
    );
    assert!(a.iter().chain(&b).all(|p| p.status == 401));
    let ((attempts, failures), _) =
        password::counts_for_address(&first.state.db, "pauline", Some("203.0.113.8")).await.unwrap();
    assert_eq!((attempts, failures), (20, 5), "one budget for both nodes, counted atomically");
}

/// Median duration of `samples` refused logins, each from its own address.
async fn refusal_timing(server: &TestServer, prefix: &str, username: &str, samples: u8) -> (Duration, Vec<Page>) {
    let mut durations = Vec::new();
    let mut pages = Vec::new();
    for i in 0..samples {
        let browser = Browser::at(&format!("{prefix}.{i}"));
        let (login_path, _) = login_page(server, &browser, &[("ui_locales", "en")]).await;
        let form = browser.get(&server.url(&login_path)).await;
        let (csrf, tx) = (form.field("csrf_token").unwrap(), form.field("tx").unwrap());
        let fields =
            [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("username", username), ("password", "nope nope")];
        let started = Instant::now();
        pages.push(browser.post(&server.url("/login"), &fields).await);
        durations.push(started.elapsed());
    }
    durations.sort();
    (durations[durations.len() / 2], pages)
}

async fn refusals_look_alike_whether_the_account_exists_or_not(backend: Backend) {
    // The real Argon2 cost, so that a check's time is what could tell.
    let server = behind_proxy(backend, |c| {
        c.password = sesame::config::PasswordConfig::default();
        c.login.max_failures = 1;
    })
    .await;
    // Spend the budgets of one address for an existing and an unknown identifier.
    for username in ["pauline", "nobody-here"] {
        let browser = Browser::at("192.0.2.200");
        let (login_path, _) = login_page(&server, &browser, &[]).await;
        browser.login(&server, &login_path, username, "first guess").await;
    }
    let (wrong, wrong_pages) = refusal_timing(&server, "192.0.2", "pauline", 5).await;
    let (unknown, unknown_pages) = refusal_timing(&server, "198.51.100", "nobody-here", 5).await;
    let throttled = {
        let mut durations = Vec::new();
        let mut pages = Vec::new();
        for username in ["pauline", "nobody-here", "pauline", "nobody-here", "pauline", "nobody-here"] {
            let browser = Browser::at("192.0.2.200");
            let (login_path, _) = login_page(&server, &browser, &[("ui_locales", "en")]).await;
            let form = browser.get(&server.url(&login_path)).await;
            let (csrf, tx) = (form.field("csrf_token").unwrap(), form.field("tx").unwrap());
            let fields =
                [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("username", username), ("password", PASSWORD)];
            let started = Instant::now();
            pages.push(browser.post(&server.url("/login"), &fields).await);
            durations.push(started.elapsed());
        }
        durations.sort();
        (durations[durations.len() / 2], pages)
    };
    let all: Vec<&Page> = wrong_pages.iter().chain(&unknown_pages).chain(&throttled.1).collect();
    let message = login_error(all[0]);
    assert!(message.starts_with("Wrong username or password"), "{message}");
    for page in &all {
        assert_eq!(page.status, 401, "same status");
        assert_eq!(login_error(page), message, "same words");
        assert!(!page.body.contains("locked"), "nothing tells a lock");
    }
    // Same time: an unknown identifier and a spent budget take the time of a real check.
    let reference = wrong.as_secs_f64();
    for (what, took) in [("unknown identifier", unknown), ("spent budget", throttled.0)] {
        let ratio = took.as_secs_f64() / reference;
        // Loose bounds (tests share two cores); without the equalisation a refusal takes
        // a few milliseconds against tens for a check.
        assert!((0.3..3.0).contains(&ratio), "{what} took {took:?}, a wrong password {wrong:?}");
    }
}

/// Spends the budget of all unknown sources for pauline from five new addresses.
async fn spend_unknown_budget(server: &TestServer, first_address: u8) {
    for i in first_address..first_address + 5 {
        let attacker = Browser::at(&format!("203.0.113.{i}"));
        for _ in 0..2 {
            let (login_path, _) = login_page(server, &attacker, &[]).await;
            assert_eq!(attacker.login(server, &login_path, "pauline", "guess").await.status, 401);
        }
    }
}

async fn an_attacker_cannot_keep_the_owner_out(backend: Backend) {
    let server = behind_proxy(backend, |c| {
        c.login.max_failures = 2;
        c.login.max_failures_per_account = 6;
    })
    .await;
    // The owner signed in from this browser once: it is a known browser for the account.
    let owner = Browser::at("198.51.100.30");
    let (_, request) = login_page(&server, &owner, &[]).await;
    assert_eq!(owner.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 303);
    // Guesses from many addresses spend the budget of all unknown sources.
    spend_unknown_budget(&server, 0).await;
    let ((_, _), (_, all_failures)) = password::counts_for_address(&server.state.db, "pauline", None).await.unwrap();
    assert_eq!(all_failures, 6, "stops at the hard limit");
    // Unknown browsers are refused now, even with the right password, from anywhere…
    let stranger = Browser::at("192.0.2.99");
    let (_, request) = login_page(&server, &stranger, &[]).await;
    assert_eq!(stranger.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 401);
    // …and a forged known-browser cookie is worth nothing…
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let forged = format!("sesame_known={}:abc.AAAA; Path=/", account.id);
    let forger = Browser::at_with_cookie("192.0.2.98", Some((&server.issuer, &forged)));
    let (_, request) = login_page(&server, &forger, &[]).await;
    assert_eq!(forger.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 401);
    // …but the owner's browser gets in (a new login, prompt=login, asks the password),
    // and her success makes the shared budget whole again (failures count in a row).
    let (_, request) = login_page(&server, &owner, &[("prompt", "login")]).await;
    let page = owner.authorize(&server, &request.url, "pauline", PASSWORD).await;
    assert_eq!(page.status, 303, "a known browser has its own budget: {}", page.body);
    let (_, request) = login_page(&server, &stranger, &[]).await;
    assert_eq!(stranger.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 303);
    // An administrator's unlock reopens unknown browsers too.
    spend_unknown_budget(&server, 10).await;
    let newcomer = Browser::at("192.0.2.97");
    let (_, request) = login_page(&server, &newcomer, &[]).await;
    assert_eq!(newcomer.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 401);
    sesame::accounts::unlock(&server.state.db, &account).await.unwrap();
    let (_, request) = login_page(&server, &newcomer, &[]).await;
    assert_eq!(newcomer.authorize(&server, &request.url, "pauline", PASSWORD).await.status, 303);
}

/// Pauline with an authenticator app; returns a browser at her verification page.
async fn at_verification(server: &TestServer) -> (crate::two_factor::Authenticator, Browser, Page) {
    set_two_factor(server, "pauline", true).await;
    let browser = Browser::new();
    let (_, request) = login_page(server, &browser, &[]).await;
    let page = browser.authorize(server, &request.url, "pauline", PASSWORD).await;
    let enrolled = walk_enrollment(&browser, server, &page, "pauline@etude.example").await;
    let browser = Browser::new();
    let (_, request) = login_page(server, &browser, &[("ui_locales", "en")]).await;
    let page = browser.authorize(server, &request.url, "pauline", PASSWORD).await;
    let verify = follow(&browser, server, &page).await;
    (enrolled.app, browser, verify)
}

async fn factor_counts(server: &TestServer) -> (i64, i32) {
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    sesame::lockout::second_factor::guess_counts(&server.state.db, &account.id).await.unwrap()
}

async fn parallel_second_factor_guesses_are_all_counted(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (app, browser, verify) = at_verification(&server).await;
    server.clock.advance(30);
    let (csrf, tx) = (verify.field("csrf_token").unwrap(), verify.field("tx").unwrap());
    let right = app.code_at(server.clock_now());
    let wrong: Vec<String> =
        (0..20).map(|i| format!("{:06}", (right.parse::<u32>().unwrap() + 1 + i) % 1_000_000)).collect();
    let mut guesses = tokio::task::JoinSet::new();
    for code in wrong {
        let (browser, url, csrf, tx) = (browser.clone(), server.url("/login/verify"), csrf.clone(), tx.clone());
        guesses.spawn(async move {
            let form =
                [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("method", "totp"), ("code", code.as_str())];
            browser.post(&url, &form).await.status
        });
    }
    let statuses = guesses.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert_eq!(factor_counts(&server).await, (20, 5), "twenty counted, five checked");
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &right)]).await;
    assert_eq!(page.status, 429, "the right code waits too: {}", page.body);
    assert!(page.body.contains("locked"), "the owner is told: {}", page.body);
}

async fn a_new_text_message_buys_no_new_guesses(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (_, browser, verify) = at_verification(&server).await;
    let sms = [("method", "sms"), ("action", "send")];
    assert_eq!(submit(&browser, &server, &verify, "/login/verify", &sms).await.status, 200);
    for _ in 0..3 {
        let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "sms"), ("code", "000000")]).await;
        assert_eq!(page.status, 401);
    }
    // A resend obeys its wait; after it, a new code does not refill the budget.
    assert_eq!(submit(&browser, &server, &verify, "/login/verify", &sms).await.status, 429);
    server.clock.advance(61);
    assert_eq!(submit(&browser, &server, &verify, "/login/verify", &sms).await.status, 200);
    let statuses = [
        submit(&browser, &server, &verify, "/login/verify", &[("method", "sms"), ("code", "000001")]).await.status,
        submit(&browser, &server, &verify, "/login/verify", &[("method", "sms"), ("code", "000002")]).await.status,
    ];
    assert_eq!(statuses.map(|s| s.as_u16()), [401, 429], "the fifth wrong code in all locks");
    assert_eq!(factor_counts(&server).await.1, 5);
}

async fn restarting_an_enrollment_buys_no_new_mailed_codes(backend: Backend) {
    let server = TestServer::start(backend).await;
    set_two_factor(&server, "pauline", true).await;
    let enroll_to_email = |browser: Browser| {
        let server = &server;
        async move {
            let (_, request) = login_page(server, &browser, &[("ui_locales", "en")]).await;
            let page = browser.authorize(server, &request.url, "pauline", PASSWORD).await;
            // The second browser's new secret comes with a note to delete the first.
            let scan = crate::two_factor::walk_to_scan(&browser, server, &page).await;
            let secret = crate::two_factor::element_text(&scan.body, "totp-secret").unwrap();
            let code = crate::two_factor::Authenticator::from_page_secret(&secret).code_at(server.clock_now());
            let checked = submit(&browser, server, &scan, "/login/enroll/scan", &[("code", &code)]).await;
            (browser, checked)
        }
    };
    let (browser, checked) = enroll_to_email(Browser::new()).await;
    let email_page = follow(&browser, &server, &checked).await;
    let first_code = mailed_code(&server, "pauline@etude.example");
    for guess in ["000000", "000001"] {
        let page = submit(&browser, &server, &email_page, "/login/enroll/email", &[("code", guess)]).await;
        assert_eq!(page.status, 400, "{}", page.body);
    }
    // A new login, a new secret scanned: no new mail within the wait, and the page says so.
    let mailed = mails(&server).iter().filter(|m| m["purpose"] == "enrollment_code").count();
    let (browser, moved) = enroll_to_email(Browser::new()).await;
    assert_eq!(moved.status, 200, "drawn in place with a notice: {}", moved.body);
    assert!(moved.body.contains("a moment ago"), "{}", moved.body);
    assert_eq!(mails(&server).iter().filter(|m| m["purpose"] == "enrollment_code").count(), mailed);
    for guess in ["000002", "000003", "000004"] {
        let page = submit(&browser, &server, &moved, "/login/enroll/email", &[("code", guess)]).await;
        assert!(page.status == 400 || page.status == 429, "{}", page.status);
    }
    assert_eq!(factor_counts(&server).await.1, 5, "mailed codes spend the second-factor budget");
    let page = submit(&browser, &server, &moved, "/login/enroll/email", &[("code", &first_code)]).await;
    assert_eq!(page.status, 429, "locked: even the right code waits");
}

async fn consecutive_second_factor_failures_wait_for_an_administrator(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.two_factor.max_failures = 2;
        c.two_factor.lockout_seconds = 10;
        c.two_factor.max_consecutive_failures = 6;
    })
    .await;
    let (app, browser, verify) = at_verification(&server).await;
    let mut last = None;
    for _ in 0..6 {
        // Past every wait (10, 20, 40, 80 s), within the login's lifetime.
        server.clock.advance(100);
        last =
            Some(submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", "000000")]).await);
    }
    let last = last.unwrap();
    assert_eq!(last.status, 429);
    assert!(last.body.contains("until an administrator unlocks it"), "{}", last.body);
    server.clock.advance(30 * 86_400);
    let (browser, verify) = {
        let browser = Browser::new();
        let (_, request) = login_page(&server, &browser, &[("ui_locales", "en")]).await;
        let page = browser.authorize(&server, &request.url, "pauline", PASSWORD).await;
        let verify = follow(&browser, &server, &page).await;
        (browser, verify)
    };
    let right = app.code_at(server.clock_now());
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &right)]).await;
    assert_eq!(page.status, 429, "a month later, still locked");
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    sesame::accounts::unlock(&server.state.db, &account).await.unwrap();
    let page = submit(&browser, &server, &verify, "/login/verify", &[("method", "totp"), ("code", &right)]).await;
    assert_eq!(page.status, 303, "unlocked by an administrator: {}", page.body);
}

async fn client_credentials(server: &TestServer, address: &str, secret: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .header("x-forwarded-for", address)
        .basic_auth("actes-api", Some(secret))
        .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn client_secret_guessing_never_refuses_the_real_client(backend: Backend) {
    let first = behind_proxy(backend, |c| c.rate_limits.client_auth_failures_per_minute = 5).await;
    let dir = tempfile::tempdir().unwrap();
    let second = TestServer::start_on(
        dir,
        first.database_url.clone(),
        |c| {
            c.trusted_proxies = vec!["127.0.0.1".parse().unwrap()];
            c.rate_limits.client_auth_failures_per_minute = 5;
        },
        false,
    )
    .await;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..30 {
        let url = if i % 2 == 0 { first.url("/token") } else { second.url("/token") };
        guesses.spawn(async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", "203.0.113.50")
                .basic_auth("actes-api", Some(format!("guess-{i}")))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
    }
    let statuses = guesses.join_all().await;
    assert!(statuses.iter().all(|s| *s == 401 || *s == 429), "{statuses:?}");
    assert!(statuses.contains(&429), "the guessing source waits");
    let key =
        sesame::oidc::client_auth::budget_of("actes-api", &sesame::web::request::ClientIp(Some("203.0.113.50".into())));
    let row = sesame::lockout::throttle::counts(&first.state.db, &key).await.unwrap().unwrap();
    assert_eq!(row.attempts, 30, "every guess counted, on both nodes");
    // The real client, from its own address, is never refused; a success costs nothing.
    for server in [&first, &second] {
        let (status, body) = client_credentials(server, "198.51.100.60", "actes-api-secret-0123456789").await;
        assert_eq!(status, 200, "{body}");
    }
    let real = sesame::oidc::client_auth::budget_of(
        "actes-api",
        &sesame::web::request::ClientIp(Some("198.51.100.60".into())),
    );
    assert!(
        sesame::lockout::throttle::counts(&first.state.db, &real).await.unwrap().is_none(),
        "a success is not counted"
    );
    // The guessing source waits, even with the right secret.
    assert_eq!(client_credentials(&first, "203.0.113.50", "actes-api-secret-0123456789").await.0, 429);
}
