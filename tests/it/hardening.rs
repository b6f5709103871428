//! The server's other guards tried as an attacker would (docs/security.md lists what
//! each test proves): unambiguous token subjects, API bodies that change only what they
//! name and errors in the documented shape, bounded password checks and connections,
//! headers and cookies, administrators' second factor, and nodes starting together.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::{Api, api};
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser};
use crate::two_factor::{set_two_factor, walk_enrollment};

on_every_backend!(
    a_client_token_is_never_an_account,
    an_account_update_changes_only_what_it_names,
    every_api_error_has_the_documented_shape,
    past_the_queue_password_checks_answer_503,
    slow_and_idle_connections_are_closed,
    authorization_floods_write_nothing,
    headers_and_metrics_exposure,
    browser_ids_are_always_the_servers,
    administrators_use_their_second_factor,
    three_nodes_start_together_on_a_fresh_database,
);

async fn a_client_token_is_never_an_account(backend: Backend) {
    let server = TestServer::start(backend).await;
    let response = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("actes-api", Some("actes-api-secret-0123456789"))
        .form(&[("grant_type", "client_credentials"), ("scope", "actes.api")])
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_string();
    let userinfo = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(userinfo.status(), 401, "a client's own token has no user");
    let (status, body) = Api { server: &server, token }.call(Method::GET, "/accounts", None).await;
    assert_eq!(status, 403, "{body}");
    // A client id shaped like an account id is refused, by the API and the import.
    let account = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let (status, body) = api(&server)
        .await
        .call(
            Method::POST,
            "/clients",
            Some(json!({"client_id": account.id, "redirect_uris": ["https://x.example/cb"],
                        "grant_types": ["client_credentials"]})),
        )
        .await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("client_id")), "{body}");
    let import = format!(
        "[[clients]]\nclient_id = \"{}\"\nsecret = \"a long enough secret\"\nredirect_uris = [\"https://x.example/cb\"]\n",
        uuid::Uuid::new_v4()
    );
    assert!(sesame::import::import_text(&server.state, "uuid.toml", &import).await.is_err());
}

async fn an_account_update_changes_only_what_it_names(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let (_, before) = api.call(Method::GET, "/accounts/pauline", None).await;
    let access = json!([{"application": "INOTACTE", "rights": ["actes.signature"]}]);
    let (status, after) = api.call(Method::PUT, "/accounts/pauline", Some(json!({"access": access}))).await;
    assert_eq!(status, 200, "{after}");
    for field in ["first_name", "last_name", "initials", "email", "phone", "address", "account_admin", "archived"] {
        assert_eq!(after[field], before[field], "{field} kept");
    }
    assert_eq!(after["access"][0]["rights"], json!(["actes.signature"]));
    let (status, after) =
        api.call(Method::PATCH, "/accounts/pauline", Some(json!({"phone": null, "first_name": "Paula"}))).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!((after["phone"].clone(), after["first_name"].clone()), (Value::Null, json!("Paula")));
    assert_eq!(after["email"], before["email"], "not named, kept");
    let (status, body) = api.call(Method::PATCH, "/accounts/sonia", Some(json!({"account_admin": false}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("account_admin")), "not one's own rights");
}

async fn every_api_error_has_the_documented_shape(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let http = reqwest::Client::new();
    // A body over the 64 KiB limit.
    let big: &'static str = Box::leak(format!("{{\"first_name\": \"{}\"}}", "x".repeat(70_000)).into_boxed_str());
    let raw = |method: Method, path: &str, body: Option<&'static str>| {
        let mut request =
            http.request(method, server.url(&format!("/admin/api/v1{path}"))).bearer_auth(api.token.clone());
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body);
        }
        request.send()
    };
    for (method, path, body, status) in [
        (Method::GET, "/accounts?page=18446744073709551615", None, 422),
        (Method::GET, "/accounts?page=0", None, 422),
        (Method::GET, "/accounts?per_page=100000", None, 422),
        (Method::GET, "/accounts?page=abc", None, 400),
        (Method::GET, "/accounts?state=everything", None, 400),
        (Method::POST, "/accounts", Some("not json"), 400),
        (Method::POST, "/accounts", Some("{\"username\": 42}"), 422),
        (Method::PUT, "/accounts/pauline", Some("{\"archived\": \"yes\"}"), 422),
        (Method::PUT, "/accounts/pauline", Some("{\"unknown_field\": 1}"), 422),
        (Method::DELETE, "/accounts/pauline", None, 405),
        (Method::GET, "/nothing/here", None, 404),
        (Method::PATCH, "/accounts/pauline", Some("{\"first_name\": null}"), 422),
        (Method::POST, "/accounts/pauline/password", Some("[\"quiet library lamp 9\"]"), 400),
        (Method::PUT, "/applications/SEQAPP", Some("[\"Seq app\", [], []]"), 400),
        (Method::POST, "/accounts/sonia/lock", None, 422),
        (Method::POST, "/accounts", Some(big), 413),
    ] {
        let response = raw(method.clone(), path, body).await.unwrap();
        let got = response.status().as_u16();
        let cache = response.headers().get("cache-control").map(|v| v.to_str().unwrap().to_string());
        let json: Value = response.json().await.unwrap_or_else(|_| panic!("{method} {path}: JSON error body"));
        assert!(got == status || (status == 422 && got == 400), "{method} {path}: {got} {json}");
        assert!(json["error"]["code"].is_string() && json["error"]["message"].is_string(), "{method} {path}: {json}");
        assert_eq!(cache.as_deref(), Some("no-store"), "{method} {path}");
    }
    // Nothing was written by the refused requests.
    let (_, pauline) = api.call(Method::GET, "/accounts/pauline", None).await;
    assert_eq!(pauline["archived"], false);
}

async fn past_the_queue_password_checks_answer_503(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.password = sesame::config::PasswordConfig { workers: 1, queue: 2, ..Default::default() };
    })
    .await;
    // Thirty login forms first, then every password at once (each for its own identifier,
    // so that no budget refuses one before it reaches the queue).
    let client = rp::actes_web(&server).await;
    let mut forms = Vec::new();
    for i in 0..30 {
        let browser = Browser::new();
        let request = rp::auth_request(&client, &["openid"], &[]);
        let start = browser.get(&request.url).await;
        let login = browser.get(&server.url(&start.location.unwrap())).await;
        forms.push((browser, login.field("csrf_token").unwrap(), login.field("tx").unwrap(), format!("user{i}")));
    }
    let mut logins = tokio::task::JoinSet::new();
    for (browser, csrf, tx, username) in forms {
        let url = server.url("/login");
        logins.spawn(async move {
            let form =
                [("csrf_token", csrf.as_str()), ("tx", tx.as_str()), ("username", &username), ("password", "x y z w")];
            let response = browser.http.post(url).form(&form).send().await.unwrap();
            ((response.status().as_u16(), response.headers().contains_key("retry-after")), username)
        });
    }
    let (answers, usernames): (Vec<_>, Vec<_>) = logins.join_all().await.into_iter().unzip();
    assert!(answers.iter().all(|(status, _)| *status == 401 || *status == 503), "{answers:?}");
    assert!(answers.contains(&(503, true)), "some wait past the queue, told when to retry: {answers:?}");
    // A password not checked for want of a thread spends no budget: a flood that keeps
    // the threads busy cannot use up the owner's retries. A checked one counts.
    for ((status, _), username) in answers.iter().zip(&usernames) {
        let (source, all_unknown) =
            sesame::lockout::password::counts_for_address(&server.state.db, username, Some("127.0.0.1")).await.unwrap();
        let failures = if *status == 503 { 0 } else { 1 };
        assert_eq!((source.1, all_unknown.1), (failures, failures), "{username} answered {status}");
    }
}

/// A raw TCP connection to the server.
fn connect(address: std::net::SocketAddr) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    stream
}

/// Seconds until the server closes the connection after its last answer (reads until
/// the end of the stream).
fn seconds_until_closed(mut stream: std::net::TcpStream) -> f64 {
    let mut started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return started.elapsed().as_secs_f64(),
            Ok(_) => started = Instant::now(),
        }
    }
}

async fn slow_and_idle_connections_are_closed(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.server.header_read_timeout = 1;
        c.server.request_timeout = 3;
        c.push.max_wait = 2;
    })
    .await;
    let address = server.server.address;
    let (closed_slow, closed_idle, slow_body) = tokio::task::spawn_blocking({
        move || {
            // Slow loris: headers that never end.
            let mut slow = connect(address);
            slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
            let closed_slow = seconds_until_closed(slow);
            // Idle after one request on a kept-alive connection.
            let mut idle = connect(address);
            idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
            let closed_idle = seconds_until_closed(idle);
            // A body that never arrives: 408 when the request's time is up.
            let mut body = connect(address);
            body.write_all(b"POST /token HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\ngrant_type=").unwrap();
            let mut answer = String::new();
            let _ = body.read_to_string(&mut answer);
            (closed_slow, closed_idle, answer)
        }
    })
    .await
    .unwrap();
    assert!((0.5..4.0).contains(&closed_slow), "slow headers closed after {closed_slow:.1} s");
    assert!((0.5..4.0).contains(&closed_idle), "idle connection closed after {closed_idle:.1} s");
    assert!(slow_body.starts_with("HTTP/1.1 408"), "{slow_body}");
}

async fn authorization_floods_write_nothing(backend: Backend) {
    use sea_orm::{EntityTrait, PaginatorTrait};
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    for _ in 0..200 {
        let request = rp::auth_request(&client, &["openid"], &[]);
        let page = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .get(&request.url)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 303);
    }
    let rows = sesame::storage::entities::authorization_request::Entity::find().count(&server.state.db).await.unwrap();
    assert_eq!(rows, 0, "a login waiting for its password is stored nowhere");
    // A request too large to travel sealed is refused, still without a row.
    let huge = "s".repeat(8000);
    let request = rp::auth_request(&client, &["openid"], &[("login_hint", huge.as_str())]);
    let page = Browser::new().get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("invalid_request"), "{:?}", page.location);
}

async fn headers_and_metrics_exposure(backend: Backend) {
    let server = TestServer::start_with(backend, |c| {
        c.metrics.bearer_token = "metrics-token-0123456789".into();
        c.metrics.listen = "127.0.0.1:0".into();
    })
    .await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let browser = Browser::new();
    let login_path = browser.get(&request.url).await.location.unwrap();
    let login = browser.http.get(server.url(&login_path)).send().await.unwrap();
    let csp = login.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("form-action 'self' https://actes.example") && !csp.contains('*'), "{csp}");
    for response in [
        login,
        http.get(server.url("/static/sesame.css")).send().await.unwrap(),
        http.get(server.url("/.well-known/openid-configuration")).send().await.unwrap(),
        http.post(server.url("/token")).form(&[("grant_type", "x")]).send().await.unwrap(),
    ] {
        assert_eq!(response.headers()["x-content-type-options"], "nosniff", "{}", response.url());
    }
    let home = http.get(server.url("/")).send().await.unwrap();
    assert!(home.headers()["content-security-policy"].to_str().unwrap().ends_with("form-action 'self'"));
    // Userinfo and the admin API are never cached.
    let (code, request) = rp::code_for_pauline(&server, &client, &Browser::new(), &["openid"]).await;
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    let token = openidconnect::OAuth2TokenResponse::access_token(&tokens).secret().clone();
    let userinfo = http.get(server.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!((userinfo.status().as_u16(), &userinfo.headers()["cache-control"]), (200, &"no-store".parse().unwrap()));
    let anonymous = http.get(server.url("/admin/api/v1/accounts")).send().await.unwrap();
    assert_eq!(anonymous.headers()["cache-control"], "no-store");
    // /metrics: only with the token on the main address, and freely on its own address.
    assert_eq!(http.get(server.url("/metrics")).send().await.unwrap().status(), 404);
    let wrong = http.get(server.url("/metrics")).bearer_auth("guess-guess-guess-guess").send().await.unwrap();
    assert_eq!(wrong.status(), 404);
    let scraped = http.get(server.url("/metrics")).bearer_auth("metrics-token-0123456789").send().await.unwrap();
    assert_eq!(scraped.status(), 200);
    let own = server.server.metrics_address.expect("a metrics address");
    let scraped = http.get(format!("http://{own}/metrics")).send().await.unwrap();
    assert!(scraped.text().await.unwrap().contains("sesame_logins_succeeded_total"));
    assert_eq!(http.get(format!("http://{own}/authorize")).send().await.unwrap().status(), 404, "metrics only");
}

async fn browser_ids_are_always_the_servers(backend: Backend) {
    let server = TestServer::start(backend).await;
    let client = rp::actes_web(&server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let chosen = "attacker-chosen-browser-id-0123456789abcdefgh";
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&request.url)
        .header("cookie", format!("sesame_browser={chosen}"))
        .send()
        .await
        .unwrap();
    let set: Vec<String> =
        response.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
    let browser_cookie = set.iter().find(|c| c.starts_with("sesame_browser=")).expect("a new browser id is given");
    assert!(!browser_cookie.contains(chosen), "an id the client chose is replaced, not adopted: {browser_cookie}");
    // Over https the cookies take the __Host- prefix (Secure, Path=/, no Domain).
    let https = TestServer::start_with(Backend::Sqlite, |c| c.issuer = "https://login.etude.example".into()).await;
    let url = https.url(
        "/authorize?client_id=actes-web&response_type=code&scope=openid&state=s\
         &redirect_uri=https%3A%2F%2Factes.example%2Fcallback\
         &code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
    );
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(&url)
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("__Host-sesame_browser=") && cookie.contains("Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
}

async fn list_accounts(server: &TestServer, token: &str) -> (u16, Value) {
    Api { server, token: token.to_string() }.call(Method::GET, "/accounts", None).await
}

async fn administrators_use_their_second_factor(backend: Backend) {
    // Without the rule, an administrator without a second factor gets a password-only token…
    let lax = TestServer::start(backend.clone()).await;
    let password_only = crate::admin_api::admin_token(&lax).await;
    assert_eq!(list_accounts(&lax, &password_only).await.0, 200);
    // …which administers nothing on a node with the rule (the default).
    let dir = tempfile::tempdir().unwrap();
    let issuer = lax.issuer.clone();
    let strict = TestServer::start_on(
        dir,
        lax.database_url.clone(),
        |c| {
            c.issuer = issuer;
            c.two_factor.required_for_admins = true;
        },
        false,
    )
    .await;
    let (status, body) = list_accounts(&strict, &password_only).await;
    assert_eq!((status, body["error"]["reason"].as_str()), (403, Some("second_factor_required")), "{body}");
    // An administrator who has a second factor needs it even without the rule: once
    // Sonia has one, her password-only token is refused everywhere.
    set_two_factor(&lax, "sonia", true).await;
    let browser = Browser::new();
    let client = rp::actes_web(&lax).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    let page = browser.authorize(&lax, &request.url, "sonia", "orange tulip garden").await;
    walk_enrollment(&browser, &lax, &page, "sonia@etude.example").await;
    let (status, body) = list_accounts(&lax, &password_only).await;
    assert_eq!((status, body["error"]["reason"].as_str()), (403, Some("second_factor_required")), "{body}");

    // With the rule, signing in to the console enrolls a second factor first.
    let server = TestServer::start_with(backend, |c| c.two_factor.required_for_admins = true).await;
    let browser = Browser::new();
    let start = crate::console::follow(&server, &browser, browser.get(&server.url("/admin")).await).await;
    let (csrf, tx) = (start.field("csrf_token").unwrap(), start.field("tx").unwrap());
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("tx", tx.as_str()),
        ("username", "sonia"),
        ("password", "orange tulip garden"),
    ];
    let page = browser.post(&server.url("/login"), &fields).await;
    assert!(page.location.as_deref().is_some_and(|l| l.starts_with("/login/enroll/intro")), "{:?}", page.location);
    let enrolled = walk_enrollment(&browser, &server, &page, "sonia@etude.example").await;
    let console = crate::console::follow(&server, &browser, enrolled.to_client).await;
    assert_eq!(console.status, 200, "{}", console.body);
    assert!(console.body.contains("/admin/accounts/pauline"), "{}", console.body);
    // A non-administrator is not asked to enroll anything to be told she cannot come in.
    let other = Browser::new();
    let start = crate::console::follow(&server, &other, other.get(&server.url("/admin")).await).await;
    let (csrf, tx) = (start.field("csrf_token").unwrap(), start.field("tx").unwrap());
    let fields = [
        ("csrf_token", csrf.as_str()),
        ("tx", tx.as_str()),
        ("username", "pauline"),
        ("password", "correct horse battery"),
    ];
    let page = crate::console::follow(&server, &other, other.post(&server.url("/login"), &fields).await).await;
    assert_eq!(page.status, 403, "{}", page.body);
}

async fn three_nodes_start_together_on_a_fresh_database(backend: Backend) {
    for round in 0..10 {
        let dir = tempfile::tempdir().unwrap();
        let url = crate::harness::fresh_database(&backend, dir.path()).await;
        let start = |url: String| {
            let dir = dir.path().to_path_buf();
            async move {
                let config = crate::harness::test_config(&dir, url);
                let clock = std::sync::Arc::new(sesame::clock::AdjustableClock::default());
                let state = sesame::app::open_state(config, clock).await?;
                sesame::app::ensure_builtin_clients(&state).await?;
                Ok::<_, sesame::app::StartError>(state)
            }
        };
        let (a, b, c) = tokio::join!(start(url.clone()), start(url.clone()), start(url.clone()));
        let mut states = Vec::new();
        for (node, started) in [a, b, c].into_iter().enumerate() {
            states.push(started.unwrap_or_else(|e| panic!("round {round}, node {node}: {e}")));
        }
        use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
        use sesame::storage::entities::signing_key;
        let current = signing_key::Entity::find()
            .filter(signing_key::Column::Status.eq("current"))
            .count(&states[0].db)
            .await
            .unwrap();
        assert_eq!(current as usize, sesame::crypto::jws::SigningAlg::ALL.len(), "one current key per algorithm");
        for state in states {
            // A clone shares the pool: closing it closes the node's connections.
            state.db.clone().close().await.ok();
        }
        crate::harness::drop_database(&url).await;
    }
}

/// The real binary under 200 parallel logins at the real Argon2 cost, each for an
/// account of its own: its peak memory (VmHWM) stays under the README's bound, because
/// password checks run on a fixed number of threads, each reusing one buffer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peak_memory_under_200_parallel_logins() {
    const LOGINS: usize = 200;
    const LIMIT_MB: u64 = 300;
    let dir = tempfile::tempdir().unwrap();
    let hasher =
        sesame::crypto::password::PasswordHasherService::new(&sesame::config::PasswordConfig::default()).unwrap();
    let phc = hasher.hash("correct horse battery").await.unwrap();
    let mut import = crate::harness::FIXTURE.to_string();
    for i in 0..LOGINS {
        import.push_str(&format!(
            "\n[[accounts]]\nusername = \"clerk{i}\"\npassword_hash = \"{phc}\"\naccess = [{{ application = \"INOTACTE\" }}]\n"
        ));
    }
    let import_file = dir.path().join("office.toml");
    std::fs::write(&import_file, import).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    // SESAME_TEST_BIN measures another build (a release, or an older one to compare).
    let binary = std::env::var("SESAME_TEST_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_sesame").to_string());
    let sesame = |args: &[&str]| {
        let mut command = std::process::Command::new(&binary);
        command
            .args(args)
            .env_remove("SESAME_DATABASE_URL")
            .env("SESAME_DATA_DIR", dir.path())
            .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
            .env("SESAME_ISSUER", &issuer)
            .env("SESAME_DEMO", "false")
            .env("SESAME_MASTER_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
            .env("SESAME_RATE_LIMITS__LOGIN_PER_IP_PER_MINUTE", "10000")
            .env("SESAME_LOG", "warn");
        command
    };
    let imported = sesame(&["import", import_file.to_str().unwrap()]).output().unwrap();
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    let mut child = sesame(&["serve"]).stdout(std::process::Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if http.get(format!("{issuer}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Every login form first, then every password at once.
    let client =
        rp::client_at(&issuer, "actes-web", Some("actes-web-secret-0123456789"), "https://actes.example/callback")
            .await;
    let mut forms = Vec::new();
    for i in 0..LOGINS {
        let browser = Browser::new();
        let request = rp::auth_request(&client, &["openid"], &[]);
        let start = browser.get(&request.url).await;
        let login = browser.get(&format!("{issuer}{}", start.location.unwrap())).await;
        forms.push((browser, login.field("csrf_token").unwrap(), login.field("tx").unwrap(), format!("clerk{i}")));
    }
    let started = Instant::now();
    let mut logins = tokio::task::JoinSet::new();
    for (browser, csrf, tx, username) in forms {
        let url = format!("{issuer}/login");
        logins.spawn(async move {
            let form = [
                ("csrf_token", csrf.as_str()),
                ("tx", tx.as_str()),
                ("username", &username),
                ("password", "correct horse battery"),
            ];
            browser.http.post(url).form(&form).send().await.unwrap().status().as_u16()
        });
    }
    let statuses = logins.join_all().await;
    let took = started.elapsed();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM in /proc/PID/status");
    let served = statuses.iter().filter(|s| **s == 303).count();
    eprintln!("{LOGINS} parallel logins: {served} signed in, peak memory {} MB, {took:?}", peak_kb / 1024);
    assert!(statuses.iter().all(|s| *s == 303 || *s == 503), "{statuses:?}");
    assert!(served >= LOGINS / 2, "most are served, the rest told to retry: {statuses:?}");
    assert!(peak_kb / 1024 < LIMIT_MB, "peak memory {} MB", peak_kb / 1024);
}
