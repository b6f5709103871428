//! A real browser (headless Chromium through chromedriver, spoken to in the W3C
//! WebDriver protocol) driving the account administration console end to end.
//!
//! Skipped when chromedriver is missing, unless SESAME_TEST_REQUIRE_BROWSER is set (CI sets
//! it and installs Debian's chromium and chromium-driver). Screenshots go to
//! SESAME_TEST_SCREENSHOT_DIR (docs/screenshots for the README), else target/screenshots.

use crate::harness::SendJson;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub(crate) struct Browser {
    driver: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Browser {
    /// chromedriver runs in a process group of its own: ending the group ends the
    /// Chromium it started too, even when the test failed half-way.
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    pub(crate) async fn start() -> Option<Self> {
        let chromedriver = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(chromedriver) = chromedriver else {
            assert!(
                std::env::var_os("SESAME_TEST_REQUIRE_BROWSER").is_none(),
                "chromedriver is required (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: chromedriver is not installed (apt-get install chromium chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        for _ in 0..100 {
            if http.get(format!("{base}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let capabilities = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,1100", "--lang=fr-FR"],
            "prefs": {"intl.accept_languages": "fr-FR,fr"}
        }}}});
        let created: Value = http.post(format!("{base}/session")).json(&capabilities).send_json().await;
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_string();
        Some(Self { driver, base, session, http })
    }

    pub(crate) async fn command(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send_json().await;
        if answer["value"].get("error").is_some() {
            panic!("WebDriver {path}: {answer}");
        }
        answer["value"].clone()
    }

    pub(crate) async fn goto(&self, url: &str) {
        self.command(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub(crate) async fn element(&self, css: &str) -> String {
        let found =
            self.command(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        found[ELEMENT].as_str().unwrap_or_else(|| panic!("no element {css}: {found}")).to_string()
    }

    pub(crate) async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    pub(crate) async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub(crate) async fn text(&self, css: &str) -> String {
        let id = self.element(css).await;
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Empties a text field.
    pub(crate) async fn clear(&self, css: &str) {
        let id = self.element(css).await;
        self.command(reqwest::Method::POST, &format!("/element/{id}/clear"), Some(json!({}))).await;
    }

    /// A property of an element (`value`, `href`: as the page has it now).
    pub(crate) async fn property(&self, css: &str, name: &str) -> String {
        let id = self.element(css).await;
        let value = self.command(reqwest::Method::GET, &format!("/element/{id}/property/{name}"), None).await;
        value.as_str().unwrap_or_default().to_string()
    }

    /// Whether an element matches `css` now.
    pub(crate) async fn has(&self, css: &str) -> bool {
        let found = self
            .command(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))
            .await;
        found.as_array().is_some_and(|list| !list.is_empty())
    }

    /// The browser's reload button.
    pub(crate) async fn refresh(&self) {
        self.command(reqwest::Method::POST, "/refresh", Some(json!({}))).await;
    }

    /// The browser's back button.
    pub(crate) async fn back(&self) {
        self.command(reqwest::Method::POST, "/back", Some(json!({}))).await;
    }

    pub(crate) async fn url(&self) -> String {
        self.command(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_string()
    }

    /// Fills in and sends Sésame's login form.
    pub(crate) async fn log_in(&self, username: &str, password: &str) {
        self.type_into("#username", username).await;
        self.type_into("#password", password).await;
        self.click("button[type=submit]").await;
    }

    /// Ends the WebDriver session, which closes Chromium.
    pub(crate) async fn quit(&self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }

    /// Waits (up to 10 s) until the address contains `fragment`: clicks do not wait for
    /// the navigation they start.
    pub(crate) async fn wait_url(&self, fragment: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url.contains(fragment) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {fragment}; at {}", self.url().await)
    }

    /// Waits (up to 10 s) until the address's path is exactly `path` (no query).
    async fn wait_url_exact_path(&self, path: &str) -> String {
        for _ in 0..100 {
            let url = self.url().await;
            if url::Url::parse(&url).is_ok_and(|u| u.path() == path && u.query().is_none()) {
                return url;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {path}; at {}", self.url().await)
    }

    /// Waits (up to 10 s) until an element matches `css`.
    pub(crate) async fn wait_element(&self, css: &str) {
        for _ in 0..100 {
            let found = self
                .command(reqwest::Method::POST, "/elements", Some(json!({"using": "css selector", "value": css})))
                .await;
            if found.as_array().is_some_and(|list| !list.is_empty()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no {css} appeared; at {}", self.url().await)
    }

    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.command(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD.decode(png.as_str().unwrap()).unwrap();
        let dir = std::env::var("SESAME_TEST_SCREENSHOT_DIR")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/target/screenshots").into());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), bytes).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_end_to_end_in_chromium() {
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;

    // An administrator signs in to the console through Sésame's own login page.
    browser.goto(&server.url("/admin")).await;
    assert!(browser.url().await.contains("/login?tx="), "sent to sign in");
    browser.log_in("sonia", "orange tulip garden").await;
    browser.wait_url("/admin/accounts").await;
    assert!(browser.text("#accounts").await.contains("pauline"));
    browser.screenshot("console-accounts").await;

    // Creates an account with access to INOTACTE and gives it rights.
    browser.click("#new-account").await;
    browser.wait_url("/admin/accounts/new").await;
    for (field, value) in [
        ("#username", "nadia"),
        ("#password", "quiet library lamp"),
        ("#password_confirm", "quiet library lamp"),
        ("#last_name", "Belkacem"),
        ("#first_name", "Nadia"),
        ("#initials", "NB"),
        ("#email", "nadia@etude.example"),
        ("#phone", "06 11 22 33 44"),
        ("#access-INOTACTE-initials", "NB"),
        ("#option-INOTACTE-etude", "Lyon"),
    ] {
        browser.type_into(field, value).await;
    }
    browser.click("input[name='access.INOTACTE.allowed']").await;
    browser.click("input[name='access.INOTACTE.rights'][value='actes.lecture']").await;
    browser.click("input[name='access.INOTACTE.rights'][value='actes.signature']").await;
    browser.click("#save").await;
    browser.wait_url("/admin/accounts/nadia?saved=1").await;
    assert!(browser.text("#notice").await.contains("enregistré"));
    browser.screenshot("console-account").await;
    let nadia = sesame::accounts::find_by_username(&server.state.db, "nadia").await.unwrap().expect("created");
    let access = sesame::accounts::access_of(&server.state.db, &nadia.id).await.unwrap();
    assert_eq!(access[0].application_code, "INOTACTE");
    assert_eq!(access[0].rights, vec!["actes.lecture", "actes.signature"]);
    assert_eq!(access[0].options["etude"], "Lyon");
    assert_eq!(nadia.phone.as_deref(), Some("+33611223344"));

    // A duplicate email is refused, naming the field, and nothing is written.
    browser.goto(&server.url("/admin/accounts/new")).await;
    browser.type_into("#username", "copycat").await;
    browser.type_into("#password", "quiet library lamp").await;
    browser.type_into("#password_confirm", "quiet library lamp").await;
    browser.type_into("#email", "PAULINE@etude.example").await;
    browser.click("#save").await;
    browser.wait_element("#error-message").await;
    let error = browser.text("#error-message").await;
    assert!(error.contains("Adresse e-mail") && error.contains("déjà utilisé"), "{error}");
    browser.screenshot("console-duplicate-email").await;
    assert!(sesame::accounts::find_by_username(&server.state.db, "copycat").await.unwrap().is_none());

    browser.goto(&server.url("/admin/applications/INOTACTE")).await;
    assert!(browser.text("main").await.contains("actes-web"));
    browser.screenshot("console-application").await;
    browser.quit().await;
}

/// An application whose callback is Sésame's home page, so that Chromium lands
/// somewhere real at the end of a login.
pub(crate) async fn register_guide_app(server: &TestServer) {
    let input = sesame::clients::ClientInput {
        client_id: "guide-app".into(),
        application: Some("INOTACTE".into()),
        name: Some("iNot Actes".into()),
        redirect_uris: vec![server.url("/")],
        token_endpoint_auth_method: Some("none".into()),
        first_party: true,
        ..Default::default()
    };
    let state = &server.state;
    sesame::clients::upsert(&state.db, &state.client_secrets, input, server.clock_now()).await.unwrap();
}

/// An authorization request of the guide app (PKCE with RFC 7636's example challenge).
pub(crate) fn guide_app_login(server: &TestServer, extra: &str) -> String {
    server.url(&format!(
        "/authorize?client_id=guide-app&response_type=code&scope=openid&redirect_uri={}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256{extra}",
        url::form_urlencoded::byte_serialize(server.url("/").as_bytes()).collect::<String>()
    ))
}

/// The forced enrollment as Pauline sees it, page by page, in French: every step is
/// saved as a screenshot for the user guide (docs/user-guide-2fa.md).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_factor_enrollment_in_chromium() {
    use crate::two_factor::{Authenticator, mailed_code, set_two_factor};
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    register_guide_app(&server).await;
    set_two_factor(&server, "pauline", true).await;
    let authorize = |extra: &str| guide_app_login(&server, extra);

    browser.goto(&authorize("")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/enroll/intro").await;
    assert!(browser.text("h1").await.contains("Sécurisez votre compte"));
    browser.screenshot("2fa-1-secure-your-account").await;
    browser.click("form button").await;
    browser.wait_url("/login/enroll/install").await;
    browser.wait_element(".stores svg").await;
    browser.screenshot("2fa-2-install-the-app").await;
    browser.click("form button").await;
    browser.wait_url("/login/enroll/add").await;
    browser.screenshot("2fa-3-add-an-account").await;
    browser.click("form button").await;
    browser.wait_url("/login/enroll/scan").await;
    browser.wait_element(".totp-qr svg").await;
    browser.screenshot("2fa-4-scan-the-qr-code").await;
    browser.click("details.manual summary").await;
    let secret = browser.text("#totp-secret").await;
    assert_eq!(secret.split(' ').count(), 8, "grouped by four: {secret}");
    assert!(browser.text("#totp-uri").await.starts_with("otpauth://totp/"));
    browser.screenshot("2fa-4b-cant-scan").await;
    let app = Authenticator::from_page_secret(&secret);
    browser.type_into("#code", &app.code_at(server.clock_now())).await;
    browser.click("form[action='/login/enroll/scan'] button").await;
    browser.wait_url("/login/enroll/email").await;
    browser.screenshot("2fa-5-confirm-by-email").await;
    browser.type_into("#code", &mailed_code(&server, "pauline@etude.example")).await;
    browser.click("form button").await;
    browser.wait_element("#recovery-codes").await;
    assert!(browser.text("#methods").await.contains("application d'authentification"));
    browser.screenshot("2fa-6-done").await;
    browser.click("form[action='/login/enroll/done'] button").await;
    browser.wait_url("/?code=").await;

    // The next login asks for the code; "Sign in another way" lists the methods.
    server.clock.advance(30);
    browser.goto(&authorize("&prompt=login")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.screenshot("2fa-7-verify").await;
    browser.click("#other-methods").await;
    browser.wait_url("/login/verify/methods").await;
    browser.screenshot("2fa-8-other-ways").await;
    browser.click("button[value=sms]").await;
    browser.wait_url("method=sms").await;
    browser.click("#sms-send").await;
    browser.wait_element("#verify-notice").await;
    assert!(browser.text("#verify-notice").await.contains("+33 6 •• •• •• 78"));
    browser.screenshot("2fa-8b-text-message").await;
    let outbox = std::fs::read_to_string(server.state.config.data_dir.join("sms-outbox.jsonl")).unwrap();
    let last: Value = serde_json::from_str(outbox.lines().last().unwrap()).unwrap();
    let code = last["text"].as_str().unwrap().rsplit('#').next().unwrap().to_string();
    browser.type_into("#code", &code).await;
    browser.click("form[action='/login/verify'] button:not([name])").await;
    browser.wait_url("/?code=").await;

    // Then with the app's code, the usual way.
    server.clock.advance(30);
    browser.goto(&authorize("&prompt=login")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.type_into("#code", &app.code_at(server.clock_now())).await;
    browser.click("form[action='/login/verify'] button").await;
    browser.wait_url("/?code=").await;

    // The account page.
    browser.goto(&server.url("/account/security")).await;
    browser.wait_element("#factors").await;
    browser.screenshot("2fa-9-my-account").await;
    browser.quit().await;
}

/// Push in Chromium: the sign-in page waits and continues by itself when the phone
/// approves, and the web authenticator (WebCrypto key in IndexedDB) approves a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_approval_in_chromium() {
    use crate::push::Device;
    use crate::two_factor::{element_text, follow, set_two_factor, submit};
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    register_guide_app(&server).await;
    let state = &server.state;
    set_two_factor(&server, "pauline", true).await;
    let pauline = sesame::accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    let link = |token: String| server.url(&format!("/authenticator?enroll={token}"));
    let token =
        sesame::second_factor::push::new_enrollment(&state.db, &pauline.id, &state.config.push, server.clock_now())
            .await
            .unwrap();
    let phone = Device::enroll(&server, &link(token)).await;

    // 1. The sign-in page waits for the phone, and continues by itself.
    browser.goto(&guide_app_login(&server, "")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.click("#push-send").await;
    browser.wait_element("#push-number").await;
    let number: i64 = browser.text("#push-number").await.trim().parse().unwrap();
    browser.screenshot("push-1-waiting").await;
    let challenge = phone.pending(&server).await.remove(0);
    let (status, body) = phone.answer(&server, &challenge, "approve", Some(number)).await;
    assert_eq!(status, 200, "{body}");
    browser.wait_url("/?code=").await;

    // 2. The web authenticator enrolls itself and approves a login.
    let token =
        sesame::second_factor::push::new_enrollment(&state.db, &pauline.id, &state.config.push, server.clock_now())
            .await
            .unwrap();
    browser.goto(&link(token)).await;
    browser.wait_element("#enroll-form:not([hidden])").await;
    browser.click("#enroll").await;
    browser.wait_url_exact_path("/authenticator").await;
    for _ in 0..100 {
        if browser.text("#status").await.contains("pauline") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(browser.text("#status").await.contains("pauline"), "enrolled: {}", browser.text("#status").await);
    let http = crate::rp::Browser::new();
    let client = crate::rp::actes_web(&server).await;
    let request = crate::rp::auth_request(&client, &["openid"], &[]);
    let page = http.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(&http, &server, &page).await;
    let waiting = submit(&http, &server, &verify, "/login/verify", &[("method", "push"), ("action", "send")]).await;
    let number = element_text(&waiting.body, "push-number").expect("#push-number");
    browser.wait_element("#request:not([hidden])").await;
    assert!(browser.text("#request-application").await.contains("iNot Actes"));
    browser.type_into("#number", &number).await;
    browser.screenshot("push-2-web-authenticator").await;
    browser.click("#approve").await;
    for _ in 0..100 {
        if browser.text("#status").await.contains("approuvée") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(browser.text("#status").await.contains("approuvée"), "{}", browser.text("#status").await);
    let done = submit(&http, &server, &waiting, "/login/verify", &[("method", "push"), ("action", "complete")]).await;
    assert_eq!(done.status, 303, "{}", done.body);
    browser.quit().await;
}

/// The desktop example (`examples/desktop_rp.rs`, a native client) end to end: it
/// listens on an ephemeral loopback port and opens "the system browser" — here a
/// `BROWSER` script handing the URL to headless Chromium —, the user signs in with a
/// password and an authenticator-app code, the example redeems the code with PKCE,
/// saves its refresh token readable only by its user and prints the identity and the
/// rights; run again, it signs in from the saved token without a browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_example_logs_in_through_chromium() {
    use std::os::unix::fs::PermissionsExt;

    use crate::two_factor::{set_two_factor, walk_enrollment};
    let example = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().join("examples/desktop_rp");
    assert!(
        example.exists(),
        "{} is missing: `cargo test` builds the examples (or `cargo build --examples`)",
        example.display()
    );
    let Some(browser) = Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;

    // Pauline has an authenticator app (enrolled through the login, over plain HTTP).
    set_two_factor(&server, "pauline", true).await;
    let http = crate::rp::Browser::new();
    let request = crate::rp::auth_request(&crate::rp::actes_web(&server).await, &["openid"], &[]);
    let page = http.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let app = walk_enrollment(&http, &server, &page, "pauline@etude.example").await.app;
    server.clock.advance(30);

    let dir = tempfile::tempdir().unwrap();
    let opened = dir.path().join("opened-url");
    let opener = dir.path().join("open-browser");
    std::fs::write(&opener, format!("#!/bin/sh\nprintf '%s' \"$1\" > '{}'\n", opened.display())).unwrap();
    std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
    let token_file = dir.path().join("session/refresh-token");
    let run = |browser_command: &std::path::Path| {
        Command::new(&example)
            .env("SESAME_ISSUER", &server.issuer)
            .env("SESAME_DESKTOP_TOKEN_FILE", &token_file)
            .env("BROWSER", browser_command)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let child = run(&opener);
    let mut url = None;
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&opened)
            && !text.is_empty()
        {
            url = Some(text);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = url.expect("the example opened a browser");
    assert!(url.contains("redirect_uri=http%3A%2F%2F127.0.0.1%3A"), "an ephemeral loopback port: {url}");
    assert!(url.contains("code_challenge_method=S256"), "{url}");
    browser.goto(&url).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.type_into("#code", &app.code_at(server.clock_now())).await;
    browser.click("form[action='/login/verify'] button").await;
    browser.wait_url("127.0.0.1").await;
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap()).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("signed in as pauline"), "{stdout}");
    assert!(stdout.contains("application: INOTACTE") && stdout.contains("rights: actes.lecture"), "{stdout}");
    let mode = std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the refresh token is readable by its user only");
    let first = std::fs::read_to_string(&token_file).unwrap();
    browser.quit().await;

    // The next start uses the saved session: no browser (`false` would fail the run).
    let output = run(std::path::Path::new("false")).wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("saved session") && stdout.contains("signed in as pauline"), "{stdout}");
    assert_ne!(std::fs::read_to_string(&token_file).unwrap(), first, "the refresh token rotated");
}

impl Browser {
    /// Gives Chromium a virtual authenticator (the WebDriver WebAuthn extension): a
    /// platform authenticator that keeps discoverable passkeys and verifies its user.
    async fn add_virtual_authenticator(&self) -> String {
        let options = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserVerified": true,
            "isUserConsenting": true,
        });
        let added = self.command(reqwest::Method::POST, "/webauthn/authenticator", Some(options)).await;
        added.as_str().unwrap_or_else(|| panic!("no virtual authenticator: {added}")).to_string()
    }

    async fn passkeys_of(&self, authenticator: &str) -> Vec<Value> {
        let path = format!("/webauthn/authenticator/{authenticator}/credentials");
        self.command(reqwest::Method::GET, &path, None).await.as_array().cloned().unwrap_or_default()
    }
}

/// Passkeys in Chromium with a virtual authenticator: the forced enrollment's passkey
/// path, a sign-in by passkey alone, and the passkey as second factor after the
/// password; each step saved as a screenshot for the user guide.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passkeys_in_chromium() {
    use crate::two_factor::{mailed_code, set_two_factor};
    let Some(browser) = Browser::start().await else { return };
    // Browsers refuse an IP address as the passkeys' relying party: serve as localhost.
    let mut server =
        TestServer::start_with(Backend::Sqlite, |c| c.issuer = c.issuer.replace("127.0.0.1", "localhost")).await;
    server.issuer = server.issuer.replace("127.0.0.1", "localhost");
    register_guide_app(&server).await;
    set_two_factor(&server, "pauline", true).await;
    let authorize = |extra: &str| guide_app_login(&server, extra);

    let authenticator = browser.add_virtual_authenticator().await;
    // The login page, while the authenticator holds no passkey: the button beside the form.
    browser.goto(&authorize("")).await;
    browser.wait_element("#passkey-sign-in").await;
    browser.screenshot("passkey-4-sign-in").await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/enroll/intro").await;
    browser.wait_element("#enroll-passkey").await;
    browser.screenshot("passkey-1-choose").await;
    browser.click("#enroll-passkey").await;
    browser.wait_url("/login/enroll/passkey").await;
    browser.type_into("#passkey-name", "PC du bureau").await;
    browser.screenshot("passkey-2-create").await;
    browser.click("#passkey-create").await;
    browser.wait_url("/login/enroll/email").await;
    assert_eq!(browser.passkeys_of(&authenticator).await.len(), 1, "the passkey lives in the authenticator");
    browser.type_into("#code", &mailed_code(&server, "pauline@etude.example")).await;
    browser.click("form button").await;
    browser.wait_element("#recovery-codes").await;
    assert!(browser.text("#methods").await.contains("clé d'accès"));
    browser.screenshot("passkey-3-done").await;
    browser.click("form[action='/login/enroll/done'] button").await;
    browser.wait_url("/?code=").await;

    // A sign-in by the passkey alone: the login page offers it in the username field's
    // autofill (conditional mediation), which this authenticator answers at once.
    server.clock.advance(30);
    browser.goto(&authorize("&prompt=login")).await;
    browser.wait_url("/?code=").await;

    // After the password, the passkey is the second factor offered first. The same key
    // moved to an authenticator that keeps no discoverable passkey (a plain security
    // key), so that the autofill does not sign in first.
    let mut credential = browser.passkeys_of(&authenticator).await.remove(0);
    browser.command(reqwest::Method::DELETE, &format!("/webauthn/authenticator/{authenticator}"), None).await;
    let security_key = browser.add_virtual_authenticator().await;
    credential["isResidentCredential"] = json!(false);
    let path = format!("/webauthn/authenticator/{security_key}/credential");
    browser.command(reqwest::Method::POST, &path, Some(credential)).await;
    server.clock.advance(30);
    browser.goto(&authorize("&prompt=login")).await;
    browser.log_in("pauline", "correct horse battery").await;
    browser.wait_url("/login/verify").await;
    browser.wait_element("#passkey-use").await;
    browser.screenshot("passkey-5-second-factor").await;
    browser.click("#passkey-use").await;
    browser.wait_url("/?code=").await;

    // The account page lists it.
    browser.goto(&server.url("/account/security")).await;
    browser.wait_element("#factors").await;
    assert!(browser.text("#factors").await.contains("PC du bureau"));
    browser.screenshot("passkey-6-my-account").await;
    browser.quit().await;
}
