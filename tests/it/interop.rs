//! Interoperability with the relying parties offices deploy, each a real process on a free
//! loopback port pointed at a test server: Apache httpd with mod_auth_openidc, panva's
//! openid-client (Node) and Authlib (Python, Flask). The browser goes to the application,
//! is sent to Sésame, signs in (with a TOTP second factor at Apache), comes back, and the
//! test reads what the application shows: who is signed in and their rights. Then the
//! library refreshes its tokens, Sésame's back-channel logout ends the application's
//! session, and RP-initiated logout ends both. The `openidconnect` crate, the RP of the
//! rest of tests/it, is checked here the way the README's recipe uses it.
//!
//! The RPs live in tests/interop/ (`bash tests/interop/setup.sh` installs what they need).
//! A missing tool skips its test with a note, unless SESAME_TEST_REQUIRE_INTEROP=1 (CI),
//! where it fails.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::{Backend, FIXTURE, TestServer};
use crate::rp::{Browser, Page, payload};
use crate::two_factor::{self, Authenticator};

const PASSWORD: &str = "correct horse battery";
const TWO_FACTOR: &str = "urn:sesame:loa:2fa";
const ONE_FACTOR: &str = "urn:sesame:loa:1fa";

// --- tools: present, skipped, or required -------------------------------------------

fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// `Ok(value)` when the tool is there; otherwise a note and `None`, or a failure when
/// SESAME_TEST_REQUIRE_INTEROP=1.
fn required<T>(rp: &str, found: Result<T, String>) -> Option<T> {
    match found {
        Ok(value) => Some(value),
        Err(missing) if std::env::var("SESAME_TEST_REQUIRE_INTEROP").is_ok_and(|v| v == "1") => {
            panic!(
                "{rp}: {missing}. SESAME_TEST_REQUIRE_INTEROP=1 requires the interoperability tests to run: \
                 `bash tests/interop/setup.sh` installs what they need"
            )
        }
        Err(missing) => {
            eprintln!("skipped: {rp} interoperability test: {missing} (`bash tests/interop/setup.sh` installs it)");
            None
        }
    }
}

fn runs(program: &Path, args: &[&str]) -> Result<String, String> {
    let output =
        Command::new(program).args(args).output().map_err(|e| format!("{} cannot run: {e}", program.display()))?;
    if !output.status.success() {
        return Err(format!(
            "{} {} failed: {}",
            program.display(),
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_string())
}

/// Debian's apache2 and libapache2-mod-auth-openidc.
fn apache() -> Result<PathBuf, String> {
    let binary = PathBuf::from("/usr/sbin/apache2");
    if !binary.exists() {
        return Err("apache2 is not installed (Debian package apache2)".into());
    }
    if !Path::new(MOD_AUTH_OPENIDC).exists() {
        return Err(format!("{MOD_AUTH_OPENIDC} is missing (Debian package libapache2-mod-auth-openidc)"));
    }
    Ok(binary)
}

const MOD_AUTH_OPENIDC: &str = "/usr/lib/apache2/modules/mod_auth_openidc.so";

/// Node 20 or newer, and `npm ci` done in tests/interop/node.
fn node() -> Result<PathBuf, String> {
    let node = PathBuf::from("node");
    let version = runs(&node, &["--version"]).map_err(|e| format!("Node is missing ({e})"))?;
    let major: u32 = version.trim_start_matches('v').split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
    if major < 20 {
        return Err(format!("Node {version} is too old for openid-client 6 (20 or newer)"));
    }
    if !interop_dir().join("node/node_modules/openid-client/package.json").exists() {
        return Err("openid-client is not installed (`npm ci` in tests/interop/node)".into());
    }
    Ok(node)
}

/// A Python with Authlib and Flask: the venv that tests/interop/setup.sh makes in
/// target/interop/venv, else `python3` if it has them.
fn python() -> Result<PathBuf, String> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/interop/venv/bin/python");
    let candidates = [venv, PathBuf::from("python3")];
    let mut why = Vec::new();
    for python in candidates {
        match runs(&python, &["-c", "import authlib, flask, requests"]) {
            Ok(_) => return Ok(python),
            Err(e) => why.push(e),
        }
    }
    Err(format!("no Python with Authlib and Flask ({})", why.join("; ")))
}

// --- relying-party processes ---------------------------------------------------------

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

/// A relying party running as a child process; stopped (SIGTERM, then SIGKILL) when dropped.
struct RpProcess {
    name: &'static str,
    child: Child,
    base: String,
    log: PathBuf,
    /// Extra logs to show on failure (Apache's error log).
    other_logs: Vec<PathBuf>,
    _dir: tempfile::TempDir,
}

impl RpProcess {
    /// Starts `command` with its output in `dir`, and waits until it listens on `port`;
    /// `other_logs` are shown too when something fails.
    async fn start(
        name: &'static str,
        mut command: Command,
        port: u16,
        dir: tempfile::TempDir,
        other_logs: Vec<PathBuf>,
    ) -> Self {
        let log = dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("the RP's log file");
        command.stdin(Stdio::null()).stdout(file.try_clone().expect("log file")).stderr(file);
        // A process group of its own: Apache's parent signals its whole group when it stops,
        // which must not be the test's.
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let mut rp = Self { name, child, base: format!("http://127.0.0.1:{port}"), log, other_logs, _dir: dir };
        rp.wait_ready(port).await;
        rp
    }

    async fn wait_ready(&mut self, port: u16) {
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{} exited ({status}) before listening:\n{}", self.name, self.logs());
            }
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{} is not listening on {port} after 20 s:\n{}", self.name, self.logs());
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Its output, for failure messages.
    fn logs(&self) -> String {
        let mut out = String::new();
        for path in std::iter::once(&self.log).chain(&self.other_logs) {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            out.push_str(&format!("--- {} ({})\n", self.name, path.display()));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for RpProcess {
    fn drop(&mut self) {
        // SIGTERM lets Apache stop its children; then make sure.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

// --- the browser across the application and Sésame ---------------------------------

/// Where a navigation ended, and every URL it went through.
struct Visit {
    url: String,
    page: Page,
    trail: Vec<String>,
}

/// Opens `url` and follows redirects, across the application and Sésame, to the first page
/// that is not one.
async fn navigate(browser: &Browser, url: &str) -> Visit {
    let mut url = url.to_string();
    let mut trail = Vec::new();
    for _ in 0..12 {
        trail.push(url.clone());
        let page = browser.get(&url).await;
        match page.location.as_deref() {
            Some(location) if page.status.is_redirection() => {
                url = url::Url::parse(&url).expect("a URL").join(location).expect("a Location").to_string();
            }
            _ => return Visit { url, page, trail },
        }
    }
    panic!("redirect loop: {trail:#?}");
}

/// Follows a redirect `page` (at `from`) to the end.
async fn continue_from(browser: &Browser, from: &str, page: &Page) -> Visit {
    let location = page.location.as_deref().unwrap_or_else(|| panic!("a redirect: {} {}", page.status, page.body));
    let next = url::Url::parse(from).expect("a URL").join(location).expect("a Location");
    navigate(browser, next.as_str()).await
}

/// The authorization request the library sent, from a navigation's trail.
fn authorization_request(server: &TestServer, visit: &Visit) -> url::Url {
    let authorize = server.url("/authorize?");
    let sent = visit.trail.iter().find(|u| u.starts_with(&authorize));
    url::Url::parse(sent.unwrap_or_else(|| panic!("went through {authorize}: {:#?}", visit.trail))).unwrap()
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Signs in on Sésame's sign-in page (where the application sent the browser).
async fn sign_in(browser: &Browser, server: &TestServer, login: &Visit, username: &str) -> Page {
    assert!(
        login.url.starts_with(&server.url("/login?")) && login.page.status == 200,
        "Sésame's sign-in page, through {:#?}: {} {}",
        login.trail,
        login.page.status,
        login.page.body
    );
    two_factor::submit(browser, server, &login.page, "/login", &[("username", username), ("password", PASSWORD)]).await
}

/// Sésame's part after a password (`after_password` redirects to the verification page):
/// the app's code, then the redirect back to the application.
async fn verify_totp(browser: &Browser, server: &TestServer, after_password: &Page, app: &Authenticator) -> Page {
    let location = after_password.location.as_deref().unwrap_or_default();
    assert!(location.starts_with("/login/verify"), "asks for the second factor: {location}");
    let verify = two_factor::follow(browser, server, after_password).await;
    // The next step's code: the one used at enrollment may still be current (replay).
    let code = app.code_at(server.clock_now() + 30);
    let back =
        two_factor::submit(browser, server, &verify, "/login/verify", &[("method", "totp"), ("code", &code)]).await;
    assert_eq!(back.status, 303, "the code is accepted: {}", back.body);
    back
}

/// Registers a client through the import file, as the README's recipe says.
async fn register(server: &TestServer, entry: &str) {
    sesame::import::import_text(&server.state, "interop.toml", entry).await.expect("the [[clients]] entry imports");
}

/// An administrator gives pauline the right to sign in INOTACTE (an import of the office
/// file, as operators do).
async fn grant_signature(server: &TestServer, two_factor_required: bool) {
    let before = "rights = [\"actes.lecture\"], options = { etude = \"Paris\" }";
    assert!(FIXTURE.contains(before));
    let mut office =
        FIXTURE.replace(before, "rights = [\"actes.lecture\", \"actes.signature\"], options = { etude = \"Paris\" }");
    if two_factor_required {
        office = office.replacen("username = \"pauline\"\n", "username = \"pauline\"\ntwo_factor_required = true\n", 1);
    }
    sesame::import::import_text(&server.state, "office.toml", &office).await.expect("the office file imports");
}

/// Ends the browser's Sésame session from Sésame itself (as from another application or
/// the account page): every application of the session is told over the back channel.
async fn log_out_at_sesame(browser: &Browser, server: &TestServer) {
    let confirm = browser.get(&server.url("/logout")).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let csrf = confirm.field("csrf_token").expect("the confirmation form");
    let done = browser.post(&server.url("/logout/confirm"), &[("csrf_token", &csrf)]).await;
    assert!(done.status.is_success() || done.status.is_redirection(), "{} {}", done.status, done.body);
}

async fn backchannel_failures(server: &TestServer) -> usize {
    two_factor::audit_count(server, "logout.backchannel_failed").await
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

// --- Apache httpd + mod_auth_openidc -------------------------------------------------

const APACHE_SECRET: &str = "actes-apache-secret-0123456789";

/// The README's recipe for mod_auth_openidc.
fn apache_client(base: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "actes-apache"
application = "INOTACTE"
secret = "{APACHE_SECRET}"
redirect_uris = ["{base}/protected/redirect_uri"]
post_logout_redirect_uris = ["{base}/loggedout.html"]
backchannel_logout_uri = "{base}/protected/redirect_uri?logout=backchannel"
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "client_secret_basic"
first_party = true
"#
    )
}

/// Apache in the foreground with tests/interop/apache/httpd.conf filled in, in a
/// temporary folder; as root, its workers run as `nobody`.
async fn start_apache(binary: &Path, server: &TestServer, port: u16) -> RpProcess {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let root = dir.path();
    let source = interop_dir().join("apache");
    let as_root = running_as_root();
    let user = if as_root { "User nobody\nGroup nogroup" } else { "" };
    let config = std::fs::read_to_string(source.join("httpd.conf"))
        .expect("tests/interop/apache/httpd.conf")
        .replace("@DIR@", &root.display().to_string())
        .replace("@PORT@", &port.to_string())
        .replace("@ISSUER@", &server.issuer)
        .replace("@CLIENT_ID@", "actes-apache")
        .replace("@CLIENT_SECRET@", APACHE_SECRET)
        .replace("@PASSPHRASE@", &sesame::crypto::random_id())
        .replace("@USER@", user);
    std::fs::write(root.join("httpd.conf"), config).unwrap();
    std::fs::create_dir_all(root.join("htdocs/protected/signature")).unwrap();
    for file in ["htdocs/loggedout.html", "htdocs/protected/claims.cgi"] {
        std::fs::copy(source.join(file), root.join(file)).unwrap();
    }
    // The same page in the part of the application that needs the signature right.
    std::fs::copy(source.join("htdocs/protected/claims.cgi"), root.join("htdocs/protected/signature/claims.cgi"))
        .unwrap();
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    for script in ["htdocs/protected/claims.cgi", "htdocs/protected/signature/claims.cgi"] {
        mode(&root.join(script), 0o755);
    }
    if as_root {
        // The workers (nobody) read the pages and run the script.
        for path in ["", "htdocs", "htdocs/protected", "htdocs/protected/signature"] {
            mode(&root.join(path), 0o755);
        }
    }
    let mut command = Command::new(binary);
    command
        .arg("-DFOREGROUND")
        .arg("-f")
        .arg(root.join("httpd.conf"))
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/bin")
        .env("LANG", "C");
    let error_log = root.join("error.log");
    RpProcess::start("apache2", command, port, dir, vec![error_log]).await
}

/// What the CGI page behind mod_auth_openidc prints: its environment, `NAME=value` lines.
fn environment(visit: &Visit, rp: &RpProcess) -> std::collections::HashMap<String, String> {
    assert!(
        visit.page.status == 200 && visit.url == rp.url("/protected/claims.cgi"),
        "expected the protected page, got {} at {:#?}:\n{}\n{}",
        visit.page.status,
        visit.trail,
        visit.page.body,
        rp.logs()
    );
    visit.page.body.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apache_mod_auth_openidc() {
    let Some(binary) = required("Apache mod_auth_openidc", apache()) else { return };
    let started = std::time::Instant::now();
    let server = TestServer::start(Backend::Sqlite).await;
    let port = free_port();
    register(&server, &apache_client(&format!("http://127.0.0.1:{port}"))).await;
    two_factor::set_two_factor(&server, "pauline", true).await;
    let rp = start_apache(&binary, &server, port).await;
    let protected = rp.url("/protected/claims.cgi");

    // First login: the module sends the browser to Sésame, which makes pauline enroll an
    // authenticator app (two-factor is on for her), then back to the protected page.
    let browser = Browser::new();
    let login = navigate(&browser, &protected).await;
    let request = authorization_request(&server, &login);
    assert_eq!(query(&request, "client_id").as_deref(), Some("actes-apache"));
    assert_eq!(query(&request, "code_challenge_method").as_deref(), Some("S256"));
    assert!(query(&request, "nonce").is_some() && query(&request, "state").is_some());
    let after_password = sign_in(&browser, &server, &login, "pauline").await;
    let enrolled = two_factor::walk_enrollment(&browser, &server, &after_password, "pauline@etude.example").await;
    let page = continue_from(&browser, &server.issuer, &enrolled.to_client).await;
    let env = environment(&page, &rp);
    assert_eq!(env["REMOTE_USER"], "pauline", "OIDCRemoteUserClaim preferred_username");
    assert_eq!(env["OIDC_CLAIM_application"], "INOTACTE");
    assert_eq!(env["OIDC_CLAIM_rights"], "actes.lecture");
    assert_eq!(env["OIDC_CLAIM_initials"], "PM");
    assert_eq!(serde_json::from_str::<Value>(&env["OIDC_CLAIM_options"]).unwrap()["etude"], "Paris");
    assert_eq!(env["OIDC_CLAIM_applications"], "INOTACTE,INOTCOMPTABILITE");
    assert_eq!(env["OIDC_CLAIM_acr"], TWO_FACTOR, "the second factor is in the token");
    assert_eq!(env["OIDC_CLAIM_amr"], "pwd,otp,mfa");
    assert_eq!(env["OIDC_CLAIM_given_name"], "Pauline");
    let first_sid = env["OIDC_CLAIM_sid"].clone();
    // Without the signature right, its part of the application is closed to her.
    let signature = rp.url("/protected/signature/claims.cgi");
    let refused = browser.get(&signature).await;
    assert_eq!(refused.status, 401, "Require claim rights:actes.signature: {}", refused.body);

    // Refresh, through the module's refresh hook on its redirect URI: a new access token,
    // which carries the rights as they are now.
    grant_signature(&server, true).await;
    let old_access = env["OIDC_access_token"].clone();
    let mut refresh = url::Url::parse(&rp.url("/protected/redirect_uri")).unwrap();
    refresh.query_pairs_mut().append_pair("refresh", &protected).append_pair("access_token", &old_access);
    let page = navigate(&browser, refresh.as_str()).await;
    let env = environment(&page, &rp);
    let new_access = &env["OIDC_access_token"];
    assert_ne!(new_access, &old_access, "refreshed: {}", rp.logs());
    assert_eq!(strings(&payload(new_access)["rights"]), ["actes.lecture", "actes.signature"]);
    let userinfo = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(new_access).send().await.unwrap();
    assert_eq!(userinfo.status(), 200, "Sésame takes the refreshed token");

    // Second login in another browser: the code from the app this time.
    let other = Browser::new();
    let login = navigate(&other, &protected).await;
    let after_password = sign_in(&other, &server, &login, "pauline").await;
    let back = verify_totp(&other, &server, &after_password, &enrolled.app).await;
    let page = continue_from(&other, &server.issuer, &back).await;
    let env = environment(&page, &rp);
    assert_eq!(env["OIDC_CLAIM_acr"], TWO_FACTOR);
    assert_eq!(env["OIDC_CLAIM_rights"], "actes.lecture,actes.signature", "the new right at the next login");
    assert_ne!(env["OIDC_CLAIM_sid"], first_sid);
    let page = navigate(&other, &signature).await;
    assert_eq!(page.page.status, 200, "the right opens its part: {}", page.page.body);
    assert!(page.page.body.contains("OIDC_CLAIM_rights=actes.lecture,actes.signature"));

    // Back-channel logout: that browser signs out at Sésame; the logout token reaches the
    // module, which ends that session (by sid) and no other.
    log_out_at_sesame(&other, &server).await;
    assert_eq!(backchannel_failures(&server).await, 0, "the module accepted the logout token:\n{}", rp.logs());
    let again = navigate(&other, &protected).await;
    assert!(again.url.starts_with(&server.url("/login?")), "session ended by the back channel: {:#?}", again.trail);
    let still = navigate(&browser, &protected).await;
    assert_eq!(environment(&still, &rp)["OIDC_CLAIM_sid"], first_sid, "the other session goes on");

    // RP-initiated logout: the module's logout URL sends the browser to Sésame's
    // end_session_endpoint with the ID token as hint, and Sésame back to the page.
    let mut logout = url::Url::parse(&rp.url("/protected/redirect_uri")).unwrap();
    logout.query_pairs_mut().append_pair("logout", &rp.url("/loggedout.html"));
    let out = navigate(&browser, logout.as_str()).await;
    assert!(out.trail.iter().any(|u| u.starts_with(&server.url("/logout?id_token_hint="))), "{:#?}", out.trail);
    assert_eq!(out.url, rp.url("/loggedout.html"), "{:#?}", out.trail);
    assert!(out.page.body.contains("id=\"logged-out\""));
    let again = navigate(&browser, &protected).await;
    assert!(again.url.starts_with(&server.url("/login?")), "signed out of both: {:#?}", again.trail);
    assert_eq!(backchannel_failures(&server).await, 0, "{}", rp.logs());
    eprintln!("Apache mod_auth_openidc: {:.1} s", started.elapsed().as_secs_f64());
}

// --- openid-client (Node) and Authlib (Python): the same journey ---------------------

/// What the Node and Python applications show at `/` (JSON).
struct Shown {
    claims: Value,
    userinfo: Value,
    refreshed: i64,
    access_token: String,
}

fn shown(visit: &Visit, rp: &RpProcess) -> Shown {
    assert!(
        visit.page.status == 200 && visit.url == rp.url("/"),
        "expected the application's page, got {} at {:#?}:\n{}\n{}",
        visit.page.status,
        visit.trail,
        visit.page.body,
        rp.logs()
    );
    let body: Value = serde_json::from_str(&visit.page.body).unwrap_or_else(|e| panic!("{e}: {}", visit.page.body));
    Shown {
        claims: body["claims"].clone(),
        userinfo: body["userinfo"].clone(),
        refreshed: body["refreshed"].as_i64().unwrap_or(-1),
        access_token: body["access_token"].as_str().unwrap_or_default().to_string(),
    }
}

async fn status(rp: &RpProcess) -> Value {
    reqwest::get(rp.url("/status")).await.unwrap().json().await.unwrap()
}

/// Login, rights, refresh, back-channel logout, RP-initiated logout, for an application
/// that shows JSON at `/` and has /refresh, /logout and /status.
/// `refresh_checks_id_token`: the library checks the ID token of a refresh response and
/// the application shows its claims (openid-client; Authlib keeps the login's).
async fn journey(server: &TestServer, rp: &RpProcess, client_id: &str, refresh_checks_id_token: bool) {
    let browser = Browser::new();
    let login = navigate(&browser, &rp.url("/")).await;
    let request = authorization_request(server, &login);
    assert_eq!(query(&request, "client_id").as_deref(), Some(client_id));
    assert_eq!(query(&request, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&request, "redirect_uri"), Some(rp.url("/callback")));
    let back = sign_in(&browser, server, &login, "pauline").await;
    let page = continue_from(&browser, &server.issuer, &back).await;
    let first = shown(&page, rp);
    assert_eq!(first.claims["preferred_username"], "pauline");
    assert_eq!(first.claims["aud"], client_id);
    assert_eq!(first.claims["acr"], ONE_FACTOR);
    for claims in [&first.claims, &first.userinfo] {
        assert_eq!(claims["application"], "INOTACTE");
        assert_eq!(strings(&claims["rights"]), ["actes.lecture"]);
        assert_eq!(claims["options"]["etude"], "Paris");
        assert_eq!(claims["initials"], "PM");
        assert_eq!(strings(&claims["applications"]), ["INOTACTE", "INOTCOMPTABILITE"]);
    }
    assert_eq!(first.userinfo["sub"], first.claims["sub"]);
    assert_eq!(first.refreshed, 0);

    // Refresh by the library: a new access token; the rights as they are now.
    grant_signature(server, false).await;
    let page = navigate(&browser, &rp.url("/refresh")).await;
    let refreshed = shown(&page, rp);
    assert_eq!(refreshed.refreshed, 1, "{}", rp.logs());
    assert_ne!(refreshed.access_token, first.access_token, "a new access token");
    assert_eq!(strings(&refreshed.userinfo["rights"]), ["actes.lecture", "actes.signature"]);
    if refresh_checks_id_token {
        assert_eq!(strings(&refreshed.claims["rights"]), ["actes.lecture", "actes.signature"], "the new ID token");
        assert_eq!(refreshed.claims["sid"], first.claims["sid"]);
        assert_eq!(refreshed.claims["auth_time"], first.claims["auth_time"]);
    }

    // Back-channel logout: a second browser signs in, then out at Sésame; the application
    // checks the logout token and ends that session only.
    let other = Browser::new();
    let login = navigate(&other, &rp.url("/")).await;
    let back = sign_in(&other, server, &login, "pauline").await;
    let second = shown(&continue_from(&other, &server.issuer, &back).await, rp);
    log_out_at_sesame(&other, server).await;
    assert_eq!(backchannel_failures(server).await, 0, "{}", rp.logs());
    let received = status(rp).await;
    let deliveries = received["backchannel"].as_array().cloned().unwrap_or_default();
    assert_eq!(deliveries.len(), 1, "one logout token: {received}");
    assert_eq!(deliveries[0]["sid"], second.claims["sid"], "{received}");
    assert_eq!(deliveries[0]["sub"], second.claims["sub"]);
    assert_eq!(deliveries[0]["ended"], 1, "{received}");
    let again = navigate(&other, &rp.url("/")).await;
    assert!(again.url.starts_with(&server.url("/login?")), "signed out: {:#?}", again.trail);
    let still = shown(&navigate(&browser, &rp.url("/")).await, rp);
    assert_eq!(still.claims["sid"], first.claims["sid"], "the first session goes on");

    // RP-initiated logout: the library's end-session URL, with the ID token as hint and
    // a state that comes back.
    let out = navigate(&browser, &rp.url("/logout")).await;
    let end_session = out.trail.iter().find(|u| u.starts_with(&server.url("/logout?"))).expect("Sésame's logout");
    let end_session = url::Url::parse(end_session).unwrap();
    assert!(query(&end_session, "id_token_hint").is_some(), "{end_session}");
    let state = query(&end_session, "state").expect("a state");
    assert_eq!(out.page.status, 200, "{}: {}\n{}", out.url, out.page.body, rp.logs());
    assert_eq!(out.url, format!("{}?state={state}", rp.url("/logged-out")));
    let again = navigate(&browser, &rp.url("/")).await;
    assert!(again.url.starts_with(&server.url("/login?")), "signed out of both: {:#?}", again.trail);
    assert_eq!(backchannel_failures(server).await, 0, "{}", rp.logs());
}

/// The README's recipe for a Node or Python application: its client entry.
fn json_rp_client(client_id: &str, secret: &str, base: &str, auth_method: &str) -> String {
    format!(
        r#"
[[clients]]
client_id = "{client_id}"
application = "INOTACTE"
secret = "{secret}"
redirect_uris = ["{base}/callback"]
post_logout_redirect_uris = ["{base}/logged-out"]
backchannel_logout_uri = "{base}/backchannel-logout"
grant_types = ["authorization_code", "refresh_token"]
token_endpoint_auth_method = "{auth_method}"
first_party = true
"#
    )
}

fn rp_command(
    program: &Path,
    script: &str,
    folder: &str,
    server: &TestServer,
    port: u16,
    id: &str,
    secret: &str,
) -> Command {
    let mut command = Command::new(program);
    command
        .arg(script)
        .current_dir(interop_dir().join(folder))
        .env("SESAME_ISSUER", &server.issuer)
        .env("RP_PORT", port.to_string())
        .env("CLIENT_ID", id)
        .env("CLIENT_SECRET", secret)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_openid_client() {
    let Some(node) = required("openid-client (Node)", node()) else { return };
    let started = std::time::Instant::now();
    let server = TestServer::start(Backend::Sqlite).await;
    let port = free_port();
    let secret = "actes-node-secret-0123456789";
    let base = format!("http://127.0.0.1:{port}");
    register(&server, &json_rp_client("actes-node", secret, &base, "client_secret_post")).await;
    let command = rp_command(&node, "rp.mjs", "node", &server, port, "actes-node", secret);
    let rp = RpProcess::start("openid-client", command, port, tempfile::tempdir().unwrap(), vec![]).await;
    journey(&server, &rp, "actes-node", true).await;
    eprintln!("openid-client: {:.1} s", started.elapsed().as_secs_f64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_authlib() {
    let Some(python) = required("Authlib (Python)", python()) else { return };
    let started = std::time::Instant::now();
    let server = TestServer::start(Backend::Sqlite).await;
    let port = free_port();
    let secret = "actes-python-secret-0123456789";
    let base = format!("http://127.0.0.1:{port}");
    register(&server, &json_rp_client("actes-python", secret, &base, "client_secret_basic")).await;
    let command = rp_command(&python, "app.py", "python", &server, port, "actes-python", secret);
    let rp = RpProcess::start("authlib", command, port, tempfile::tempdir().unwrap(), vec![]).await;
    journey(&server, &rp, "actes-python", false).await;
    eprintln!("Authlib: {:.1} s", started.elapsed().as_secs_f64());
}

// --- the openidconnect crate (Rust) ---------------------------------------------------

/// Sésame's claims, typed for the `openidconnect` crate (the README's recipe).
#[derive(Clone, Debug, serde::Deserialize, serde::Serialize)]
struct SesameClaims {
    application: String,
    #[serde(default)]
    rights: Vec<String>,
    #[serde(default)]
    options: serde_json::Map<String, Value>,
    initials: Option<String>,
    #[serde(default)]
    applications: Vec<String>,
    #[serde(default)]
    account_admin: bool,
}

impl openidconnect::AdditionalClaims for SesameClaims {}

type SesameIdToken = openidconnect::IdToken<
    SesameClaims,
    openidconnect::core::CoreGenderClaim,
    openidconnect::core::CoreJweContentEncryptionAlgorithm,
    openidconnect::core::CoreJwsSigningAlgorithm,
>;

/// The README's recipe for the `openidconnect` crate, in process (the rest of tests/it
/// uses the crate too): rights read from the checked ID token and from userinfo, refresh,
/// and the RP-initiated logout URL built by the crate. (The crate has no back-channel
/// logout; lifecycle.rs checks Sésame's logout tokens.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_openidconnect() {
    use crate::rp::http_client;
    use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreGenderClaim};
    use openidconnect::{
        AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, LogoutRequest, Nonce, OAuth2TokenResponse,
        PkceCodeChallenge, PostLogoutRedirectUrl, ProviderMetadataWithLogout, RedirectUrl, Scope, TokenResponse,
        UserInfoClaims,
    };

    let server = TestServer::start(Backend::Sqlite).await;
    let base = "http://127.0.0.1:9090";
    let secret = "actes-rust-secret-0123456789";
    register(&server, &json_rp_client("actes-rust", secret, base, "client_secret_basic")).await;

    let metadata =
        ProviderMetadataWithLogout::discover_async(IssuerUrl::new(server.issuer.clone()).unwrap(), &http_client)
            .await
            .expect("discovery");
    let end_session = metadata.additional_metadata().end_session_endpoint.clone().expect("end_session_endpoint");
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new("actes-rust".into()),
        Some(ClientSecret::new(secret.into())),
    )
    .set_redirect_uri(RedirectUrl::new(format!("{base}/callback")).unwrap());

    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    let browser = Browser::new();
    let login = navigate(&browser, url.as_str()).await;
    let back = sign_in(&browser, &server, &login, "pauline").await;
    assert_eq!(back.location_param("state").as_deref(), Some(state.secret().as_str()));
    let code = back.location_param("code").expect("a code");
    let tokens = client
        .exchange_code(AuthorizationCode::new(code))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http_client)
        .await
        .expect("tokens");

    // The ID token, typed with Sésame's claims and checked by the crate.
    let id_token: SesameIdToken = tokens.id_token().expect("an ID token").to_string().parse().unwrap();
    let claims = id_token.claims(&client.id_token_verifier(), &nonce).expect("a valid ID token");
    let rights = claims.additional_claims();
    assert_eq!(claims.preferred_username().map(|u| u.as_str()), Some("pauline"));
    assert_eq!(
        (rights.application.as_str(), rights.rights.as_slice()),
        ("INOTACTE", ["actes.lecture".to_string()].as_slice())
    );
    assert_eq!(rights.options["etude"], "Paris");
    assert_eq!(rights.initials.as_deref(), Some("PM"));
    assert!(!rights.account_admin);
    let userinfo: UserInfoClaims<SesameClaims, CoreGenderClaim> = client
        .user_info(tokens.access_token().clone(), None)
        .unwrap()
        .request_async(&http_client)
        .await
        .expect("userinfo");
    assert_eq!(userinfo.additional_claims().rights, ["actes.lecture"]);

    // Refresh: a new ID token with the rights as they are now.
    grant_signature(&server, false).await;
    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().expect("a refresh token"))
        .unwrap()
        .request_async(&http_client)
        .await
        .expect("refreshed");
    let renewed: SesameIdToken = refreshed.id_token().expect("a new ID token").to_string().parse().unwrap();
    let renewed_claims = renewed.claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(())).expect("valid");
    assert_eq!(renewed_claims.additional_claims().rights, ["actes.lecture", "actes.signature"]);
    assert_eq!(renewed_claims.subject(), claims.subject());

    // RP-initiated logout, the URL built by the crate.
    let logout = LogoutRequest::from(end_session)
        .set_id_token_hint(&renewed)
        .set_post_logout_redirect_uri(PostLogoutRedirectUrl::new(format!("{base}/logged-out")).unwrap())
        .set_state(CsrfToken::new("bye".into()))
        .http_get_url();
    let out = browser.get(logout.as_str()).await;
    assert_eq!(out.location, Some(format!("{base}/logged-out?state=bye")), "{}", out.body);
    let again = navigate(&browser, url.as_str()).await;
    assert!(again.url.starts_with(&server.url("/login?")), "signed out: {:#?}", again.trail);
}
