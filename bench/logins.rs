//! Whole logins per second, as browsers make them, against the release server on one
//! core: the authorization request, the login page, the password, the TOTP page and
//! code, the redirect back with the code, and the code's redemption at the token
//! endpoint with PKCE (S256) — seven HTTP exchanges, one Argon2 verification, one TOTP check, two
//! signatures (ID and access tokens), each login by another account.
//!
//! Beside it, in the same run and on the same kind of core, the cost of one Argon2
//! verification alone at the configured cost: the rate it allows is the ceiling no
//! login path can pass on one core.
//!
//! `bash bench/logins.sh` builds the server and runs this (the server pinned to core 0,
//! this load generator to core 1). Settings by environment: `LOGINS_ACCOUNTS` (2000),
//! `LOGINS_SECONDS` (15), `LOGINS_CONCURRENCY` (16), `BENCH_BIN` (the server binary,
//! `target/release/sesame`), `LOGINS_PORT` (18191), `LOGINS_ALG` (ES256: the ID and
//! access tokens' algorithm), `SESAME_PASSWORD__ARGON2_MEMORY_KIB` and
//! `SESAME_PASSWORD__ARGON2_ITERATIONS` (the hashing cost, for the bench's hashes and
//! the server alike: 8 and 1 leave the login's own work alone on the core). Besides the
//! rate it prints each kind of the server's threads with its CPU per login.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sesame::clock::SystemClock;
use sesame::config::{Config, PasswordConfig};
use sesame::crypto::password::PasswordHasherService;
use sesame::second_factor::totp;

const PASSWORD: &str = "load test phrase 1";
const CLIENT: &str = "bench-web";
const SECRET: &str = "bench-web-secret-0123456789";
const REDIRECT: &str = "https://bench.example/callback";

type Failure = Box<dyn std::error::Error + Send + Sync>;

struct Account {
    username: String,
    totp_key: Vec<u8>,
}

/// The algorithm of the ID and access tokens: ES256 unless `LOGINS_ALG` says (RS256, the
/// default of a client that names none, costs about 1 ms of the core per signature).
fn signing_alg() -> String {
    setting("LOGINS_ALG", "ES256".to_string())
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let count: usize = setting("LOGINS_ACCOUNTS", 2000);
    let seconds: u64 = setting("LOGINS_SECONDS", 15);
    let concurrency: usize = setting("LOGINS_CONCURRENCY", 16);
    let port: u16 = setting("LOGINS_PORT", 18191);
    let bin: String = setting("BENCH_BIN", "target/release/sesame".to_string());
    let dir = tempfile::tempdir()?;
    let issuer = format!("http://127.0.0.1:{port}");
    let mut config =
        Config { issuer: issuer.clone(), data_dir: dir.path().into(), demo: Some(false), ..Config::default() };
    config.listen = format!("127.0.0.1:{port}");
    // A smaller cost (say 8 KiB, 1 pass) leaves the login's own work alone on the core:
    // the server gets the same setting through its environment, so it verifies without
    // rehashing.
    config.password.argon2_memory_kib =
        setting("SESAME_PASSWORD__ARGON2_MEMORY_KIB", config.password.argon2_memory_kib);
    config.password.argon2_iterations =
        setting("SESAME_PASSWORD__ARGON2_ITERATIONS", config.password.argon2_iterations);

    let (argon2_ms, hash) = argon2_alone(&config.password).await?;
    println!(
        "Argon2 alone on the server's core (m={} KiB, t={}, p={}): {argon2_ms:.2} ms per verification, at most {:.1} logins/s",
        config.password.argon2_memory_kib,
        config.password.argon2_iterations,
        config.password.argon2_parallelism,
        1000.0 / argon2_ms
    );

    let started = sesame::clock::instant();
    let accounts = set_up(&config, count, &hash).await?;
    println!(
        "{count} accounts with an enrolled authenticator app, tokens signed {}, set up in {:.1} s",
        signing_alg(),
        started.elapsed().as_secs_f64()
    );

    let mut server = start_server(&bin, &config, dir.path())?;
    let outcome = run(&issuer, accounts, seconds, concurrency, server.id()).await;
    let _ = server.kill();
    let _ = server.wait();
    let report = outcome?;
    let rate = report.logins as f64 / report.elapsed;
    println!(
        "{} logins in {:.1} s by {concurrency} browsers at once: {rate:.1} logins/s, p50 {:.0} ms, p99 {:.0} ms, \
         {} failed, server CPU {:.0}%",
        report.logins,
        report.elapsed,
        report.percentile(0.50),
        report.percentile(0.99),
        report.failures,
        report.server_cpu * 100.0
    );
    println!("{:.0}% of the rate Argon2 alone allows", rate / (1000.0 / argon2_ms) * 100.0);
    // The same share, read from the server itself: each login hashes once, so the part
    // of the core its Argon2 thread used is the part of the Argon2 limit reached, at the
    // machine's speed of the moment (Argon2 alone, timed apart, varies by 15 % here).
    let argon2: f64 = report.threads.iter().filter(|(kind, _)| kind.starts_with("argon2")).map(|(_, used)| used).sum();
    println!("the server's Argon2 thread used {:.0}% of the core", argon2 / report.elapsed * 100.0);
    // Where the rest goes: each kind of thread's CPU per login.
    for (kind, used) in &report.threads {
        println!("  {kind:<16} {:6.2} ms of CPU per login", used * 1000.0 / report.logins.max(1) as f64);
    }
    if report.failures > 0 {
        return Err(format!("{} logins failed", report.failures).into());
    }
    Ok(())
}

/// One worker, as the server on one core has; thirty verifications one after another,
/// on the core the server will run on (cores of a virtual machine differ in speed).
async fn argon2_alone(password: &PasswordConfig) -> Result<(f64, String), Failure> {
    let core: usize = setting("SERVER_CORE", 0);
    let config = PasswordConfig { workers: 1, ..password.clone() };
    let hasher = on_core(core, || PasswordHasherService::new(&config))?;
    let hash = hasher.hash(PASSWORD).await?;
    hasher.verify(PASSWORD, &hash).await?;
    const RUNS: u32 = 30;
    let started = sesame::clock::instant();
    for _ in 0..RUNS {
        assert!(hasher.verify(PASSWORD, &hash).await?);
    }
    Ok((started.elapsed().as_secs_f64() * 1000.0 / f64::from(RUNS), hash))
}

/// Runs `start` with the calling thread on `core`: the threads it starts stay there.
fn on_core<T>(core: usize, start: impl FnOnce() -> T) -> T {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: the sets are plain bitmaps owned here; pid 0 is the calling thread.
    unsafe {
        let mut before: libc::cpu_set_t = std::mem::zeroed();
        let known = libc::sched_getaffinity(0, size, &mut before) == 0;
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, size, &set);
        let started = start();
        if known {
            libc::sched_setaffinity(0, size, &before);
        }
        started
    }
}

/// The application, its client, and `count` accounts sharing one password hash, each
/// with an authenticator app enrolled as the enrollment pages would.
async fn set_up(config: &Config, count: usize, hash: &str) -> Result<Vec<Account>, Failure> {
    let state = sesame::app::open_state(config.clone(), Arc::new(SystemClock)).await?;
    let alg = signing_alg();
    let mut file = format!(
        "[[applications]]\ncode = \"BENCH\"\nname = \"Bench\"\n\n[[clients]]\nclient_id = \"{CLIENT}\"\n\
         application = \"BENCH\"\nsecret = \"{SECRET}\"\nredirect_uris = [\"{REDIRECT}\"]\n\
         token_endpoint_auth_method = \"client_secret_basic\"\nfirst_party = true\n\
         id_token_signed_response_alg = \"{alg}\"\naccess_token_signed_response_alg = \"{alg}\"\n"
    );
    for index in 0..count {
        file.push_str(&format!(
            "\n[[accounts]]\nusername = \"user{index:05}\"\npassword_hash = \"{hash}\"\nfirst_name = \"User\"\n\
             last_name = \"Number{index}\"\nemail = \"user{index:05}@bench.example\"\ntwo_factor_required = true\n\
             access = [{{ application = \"BENCH\" }}]\n"
        ));
    }
    sesame::import::import_text(&state, "bench-logins.toml", &file).await?;
    let now = unix_now();
    let mut accounts = Vec::with_capacity(count);
    for index in 0..count {
        let username = format!("user{index:05}");
        let account = sesame::accounts::find_by_username(&state.db, &username).await?.ok_or("account not imported")?;
        let factor = totp::begin(&state.db, &state.secrets, &account.id, "bench", None, now).await?;
        let enrollment =
            totp::enrollment(&state.db, &state.secrets, &state.config.two_factor, &account.id, &username, &factor)
                .await?
                .ok_or("no pending enrollment")?;
        totp::activate(&state.db, &account.id, &factor, now).await?;
        accounts.push(Account { username, totp_key: base32(&enrollment.secret_grouped) });
    }
    state.db.clone().close().await?;
    Ok(accounts)
}

fn start_server(bin: &str, config: &Config, data_dir: &std::path::Path) -> Result<Child, Failure> {
    let child = Command::new("taskset")
        .args(["-c", &setting("SERVER_CORE", "0".to_string()), bin, "serve"])
        .env("SESAME_DATA_DIR", data_dir)
        .env("SESAME_ISSUER", &config.issuer)
        .env("SESAME_LISTEN", &config.listen)
        .env("SESAME_DEMO", "false")
        .env("SESAME_LOG", "warn")
        .env("SESAME_JANITOR__INTERVAL", "0")
        // Every browser comes from 127.0.0.1 here: the per-address budget is another
        // guard's business.
        .env("SESAME_RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE", "100000000")
        .env("TOKIO_WORKER_THREADS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()?;
    Ok(child)
}

struct Report {
    logins: usize,
    failures: usize,
    elapsed: f64,
    /// Milliseconds per login, sorted.
    latencies: Vec<f64>,
    server_cpu: f64,
    /// The share of the core the server's Argon2 thread used.
    /// Seconds of CPU each kind of the server's threads used during the run.
    threads: Vec<(String, f64)>,
}

impl Report {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len()) - 1;
        self.latencies[index]
    }
}

async fn run(
    issuer: &str,
    accounts: Vec<Account>,
    seconds: u64,
    concurrency: usize,
    pid: u32,
) -> Result<Report, Failure> {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{issuer}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A first login, outside the measure: the server's caches and connections warm up.
    let accounts = Arc::new(accounts);
    login(issuer, &accounts[0]).await.map_err(|e| format!("the first login failed: {e}"))?;
    let next = Arc::new(AtomicUsize::new(1));
    let deadline = sesame::clock::instant() + Duration::from_secs(seconds);
    let cpu_before = server_ticks(pid);
    let threads_before = ticks_by_thread(pid);
    let started = sesame::clock::instant();
    let mut browsers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (accounts, next, issuer) = (accounts.clone(), next.clone(), issuer.to_string());
        browsers.spawn(async move {
            let (mut latencies, mut failures) = (Vec::new(), 0);
            while sesame::clock::instant() < deadline {
                // Each account once: its TOTP code is spent for the step.
                let Some(account) = accounts.get(next.fetch_add(1, Ordering::Relaxed)) else { break };
                let began = sesame::clock::instant();
                match login(&issuer, account).await {
                    Ok(()) => latencies.push(began.elapsed().as_secs_f64() * 1000.0),
                    Err(error) => {
                        failures += 1;
                        eprintln!("{}: {error}", account.username);
                    }
                }
            }
            (latencies, failures)
        });
    }
    let mut report =
        Report { logins: 0, failures: 0, elapsed: 0.0, latencies: Vec::new(), server_cpu: 0.0, threads: Vec::new() };
    while let Some(joined) = browsers.join_next().await {
        let (latencies, failures) = joined?;
        report.latencies.extend(latencies);
        report.failures += failures;
    }
    report.elapsed = started.elapsed().as_secs_f64();
    report.server_cpu = (server_ticks(pid) - cpu_before) / 100.0 / report.elapsed;
    report.logins = report.latencies.len();
    for (kind, ticks) in ticks_by_thread(pid) {
        let used = (ticks - threads_before.get(&kind).copied().unwrap_or(0.0)) / 100.0;
        if used > 0.0 {
            report.threads.push((kind, used));
        }
    }
    report.latencies.sort_by(f64::total_cmp);
    if next.load(Ordering::Relaxed) > accounts.len() {
        eprintln!("every account logged in before the time was up: raise LOGINS_ACCOUNTS");
    }
    Ok(report)
}

/// One login by a fresh browser (its own cookies), as the pages lead it.
async fn login(issuer: &str, account: &Account) -> Result<(), Failure> {
    let browser = reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build()?;
    let state = sesame::crypto::random_id();
    let verifier = format!("{}{}", sesame::crypto::random_id(), sesame::crypto::random_id());
    let challenge = sesame::crypto::pkce_s256(&verifier);
    let authorize = url::Url::parse_with_params(
        &format!("{issuer}/authorize"),
        &[
            ("client_id", CLIENT),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile"),
            ("state", &state),
            ("nonce", "n"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )?;
    let login_page = follow(&browser, issuer, browser.get(authorize).send().await?).await?;
    let after_password = post(
        &browser,
        issuer,
        "/login",
        &login_page,
        &[("username", account.username.as_str()), ("password", PASSWORD)],
    )
    .await?;
    let verify_page = follow(&browser, issuer, after_password).await?;
    let code = totp_code(&account.totp_key, unix_now());
    let back = post(&browser, issuer, "/login/verify", &verify_page, &[("method", "totp"), ("code", &code)]).await?;
    let callback = location(&back).ok_or_else(|| format!("the code was not accepted ({})", back.status()))?;
    let callback = url::Url::parse(&callback)?;
    let code = callback
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .ok_or_else(|| format!("no code in {callback}"))?;
    let tokens = browser
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?;
    if !tokens.status().is_success() {
        return Err(format!("token endpoint: {}", tokens.text().await?).into());
    }
    Ok(())
}

fn location(response: &reqwest::Response) -> Option<String> {
    response.headers().get("location")?.to_str().ok().map(str::to_string)
}

/// The page a redirect leads to, read whole.
async fn follow(browser: &reqwest::Client, issuer: &str, response: reqwest::Response) -> Result<String, Failure> {
    let target = location(&response).ok_or_else(|| format!("expected a redirect, got {}", response.status()))?;
    let url = if target.starts_with('/') { format!("{issuer}{target}") } else { target };
    let page = browser.get(url).send().await?;
    if !page.status().is_success() {
        return Err(format!("page answered {}", page.status()).into());
    }
    Ok(page.text().await?)
}

/// Submits the page's form to `action` with its hidden `csrf_token` and `tx`.
async fn post(
    browser: &reqwest::Client,
    issuer: &str,
    action: &str,
    page: &str,
    fields: &[(&str, &str)],
) -> Result<reqwest::Response, Failure> {
    let csrf = hidden(page, "csrf_token").ok_or("no csrf_token on the page")?;
    let tx = hidden(page, "tx").ok_or("no tx on the page")?;
    let mut form = vec![("csrf_token", csrf.as_str()), ("tx", tx.as_str())];
    form.extend_from_slice(fields);
    Ok(browser.post(format!("{issuer}{action}")).form(&form).send().await?)
}

fn hidden(page: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page.find(&marker)? + marker.len();
    let end = page[start..].find('"')? + start;
    Some(page[start..end].to_string())
}

fn base32(grouped: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let (mut bits, mut count, mut key) = (0u64, 0, Vec::new());
    for c in grouped.chars().filter(|c| c.is_ascii_alphanumeric()) {
        let value = ALPHABET.iter().position(|a| *a as char == c.to_ascii_uppercase()).unwrap_or(0) as u64;
        bits = (bits << 5) | value;
        count += 5;
        if count >= 8 {
            key.push((bits >> (count - 8)) as u8);
            count -= 8;
        }
    }
    key
}

/// RFC 6238 with the defaults Sésame enrolls: SHA-1, 6 digits, 30 seconds.
fn totp_code(key: &[u8], time: i64) -> String {
    use aws_lc_rs::hmac;
    let counter = (time as u64 / 30).to_be_bytes();
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key), &counter);
    let digest = tag.as_ref();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", value % 1_000_000)
}

fn unix_now() -> i64 {
    use sesame::clock::Clock;
    SystemClock.now()
}

/// CPU time (user + system, in clock ticks of 1/100 s) the server has used so far.
fn server_ticks(pid: u32) -> f64 {
    ticks_of(&format!("/proc/{pid}/stat"))
}

/// The CPU ticks of each kind of the server's threads (by name, without a trailing
/// number: `tokio-runtime-w`, `sqlx-sqlite-wor`, `argon2-`…).
fn ticks_by_thread(pid: u32) -> std::collections::BTreeMap<String, f64> {
    let mut kinds = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return kinds };
    for task in tasks.flatten() {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        let kind = name.trim().trim_end_matches(|c: char| c.is_ascii_digit()).to_string();
        *kinds.entry(kind).or_insert(0.0) += ticks_of(&task.path().join("stat").to_string_lossy());
    }
    kinds
}

/// utime + stime of a `/proc/…/stat` file.
fn ticks_of(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The command name may hold spaces: the fields after its closing parenthesis.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    field(11) + field(12)
}
