//! The `sesame` binary as an operator runs it.

use std::process::Command;

fn sesame(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
    command
        .env_remove("SESAME_DATABASE_URL")
        .env("SESAME_DATA_DIR", dir)
        .env("SESAME_PASSWORD__ARGON2_MEMORY_KIB", "1024")
        .env("SESAME_PASSWORD__ARGON2_ITERATIONS", "1")
        .env("SESAME_LOG", "warn");
    command
}

fn output(command: &mut Command) -> (bool, String) {
    let out = command.output().expect("run sesame");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn import_then_administer_accounts_and_clients() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/office.toml");
    let (ok, text) = output(sesame(dir.path()).args(["import", fixture]));
    assert!(ok, "{text}");
    assert!(text.contains("accounts: 4 created"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["import", fixture]));
    assert!(ok && text.contains("accounts: 0 created, 0 updated, 4 unchanged"), "{text}");

    let (ok, text) = output(sesame(dir.path()).args(["user", "list"]));
    assert!(ok && text.contains("pauline") && text.contains("archived"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args([
        "user",
        "add",
        "nadia",
        "--password",
        "long secret phrase 1",
        "--email",
        "nadia@etude.example",
    ]));
    assert!(ok, "{text}");
    let (ok, text) = output(sesame(dir.path()).args([
        "user",
        "add",
        "other",
        "--password",
        "another phrase 22",
        "--email",
        "NADIA@etude.example",
    ]));
    assert!(!ok && text.contains("email") && text.contains("already used"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "nadia", "--archived", "true"]));
    assert!(ok && text.contains("updated"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "show", "NADIA"]));
    assert!(ok && text.contains("archived:      true"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "pauline", "--two-factor", "true"]));
    assert!(ok && text.contains("updated"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "reset-second-factors", "pauline"]));
    assert!(ok && text.contains("enrolls anew"), "{text}");
    let outbox = std::fs::read_to_string(dir.path().join("mail-outbox.jsonl")).unwrap_or_default();
    assert!(outbox.contains("factor_reset") && outbox.contains("pauline@etude.example"), "{outbox}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "pauline", "--sms-disabled", "true"]));
    assert!(ok && text.contains("updated"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "show", "pauline"]));
    assert!(ok && text.contains("sms disabled:  true"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "lock", "pauline"]));
    assert!(ok && text.contains("locked"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "show", "pauline"]));
    assert!(ok && text.contains("locked:        by an administrator"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "unlock", "pauline"]));
    assert!(ok && text.contains("unlocked"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "show", "pauline"]));
    assert!(ok && !text.contains("locked:"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "unlock", "nobody"]));
    assert!(!ok && text.contains("no account `nobody`"), "{text}");

    let (ok, text) =
        output(sesame(dir.path()).args(["client", "add", "new-app", "--redirect-uri", "https://new.example/cb"]));
    assert!(ok && text.contains("client secret (shown once"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["client", "add", "bad-app", "--redirect-uri", "not a uri"]));
    assert!(!ok && text.contains("redirect_uris"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["client", "list"]));
    assert!(ok && text.contains("new-app") && text.contains("actes-web"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["keys", "rotate"]));
    assert!(ok && text.contains("new current signing keys"), "{text}");
}

/// `sesame user add|set --access APP --rights … --option K=V --app-initials …` and
/// `--remove-access APP`: access to an application from the command line, shown by
/// `user show`; mistakes named.
#[test]
fn access_to_applications_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/office.toml");
    let (ok, text) = output(sesame(dir.path()).args(["import", fixture]));
    assert!(ok, "{text}");
    let (ok, text) = output(sesame(dir.path()).args([
        "user",
        "add",
        "lucie",
        "--password",
        "long secret phrase 3",
        "--access",
        "INOTACTE",
        "--rights",
        "actes.lecture,actes.signature",
        "--option",
        "etude=Lyon",
        "--app-initials",
        "LB",
    ]));
    assert!(ok, "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "show", "lucie"]));
    assert!(ok, "{text}");
    assert!(
        text.contains("access:        INOTACTE allowed=true initials=LB rights=[actes.lecture, actes.signature] options={\"etude\":\"Lyon\"}"),
        "{text}"
    );
    // A second application; the first keeps what it had.
    let (ok, text) = output(sesame(dir.path()).args([
        "user",
        "set",
        "lucie",
        "--access",
        "INOTCOMPTABILITE",
        "--rights",
        "compta.lecture",
    ]));
    assert!(ok && text.contains("updated"), "{text}");
    // Rights replaced, the option back to the application's default.
    let (ok, text) = output(sesame(dir.path()).args([
        "user",
        "set",
        "lucie",
        "--access",
        "INOTACTE",
        "--rights",
        "actes.lecture",
        "--option",
        "etude=",
    ]));
    assert!(ok, "{text}");
    let (_, text) = output(sesame(dir.path()).args(["user", "show", "lucie"]));
    assert!(
        text.contains("INOTACTE allowed=true initials=LB rights=[actes.lecture] options={\"etude\":\"\"}"),
        "{text}"
    );
    assert!(text.contains("INOTCOMPTABILITE allowed=true initials= rights=[compta.lecture]"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "lucie", "--remove-access", "INOTCOMPTABILITE"]));
    assert!(ok && text.contains("updated"), "{text}");
    let (_, text) = output(sesame(dir.path()).args(["user", "show", "lucie"]));
    assert!(text.contains("INOTACTE") && !text.contains("INOTCOMPTABILITE"), "{text}");

    // Mistakes are named, and change nothing.
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "lucie", "--access", "NOPE"]));
    assert!(!ok && text.contains("NOPE"), "{text}");
    let (ok, text) =
        output(sesame(dir.path()).args(["user", "set", "lucie", "--access", "INOTACTE", "--rights", "actes.vol"]));
    assert!(!ok && text.contains("actes.vol"), "an unknown right: {text}");
    let (ok, text) =
        output(sesame(dir.path()).args(["user", "set", "lucie", "--access", "INOTACTE", "--option", "couleur=bleu"]));
    assert!(!ok && text.contains("couleur"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "lucie", "--rights", "actes.lecture"]));
    assert!(!ok && text.contains("--access"), "rights need an application: {text}");
    let (ok, text) = output(sesame(dir.path()).args(["user", "set", "lucie", "--remove-access", "INOTCOMPTABILITE"]));
    assert!(!ok && text.contains("no access"), "{text}");
    let (_, text) = output(sesame(dir.path()).args(["user", "show", "lucie"]));
    assert!(
        text.contains("INOTACTE allowed=true initials=LB rights=[actes.lecture] options={\"etude\":\"\"}"),
        "{text}"
    );
}

#[test]
fn mistakes_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sesame.toml");
    std::fs::write(&config, "listen = \"127.0.0.1:8080\"\nisuer = \"http://x\"\n").unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["--config", config.to_str().unwrap(), "migrate"]));
    assert!(!ok && text.contains("isuer"), "{text}");

    let (ok, text) = output(sesame(dir.path()).args(["migrate"]).env("SESAME_LISTEN", "nowhere"));
    assert!(!ok && text.contains("listen"), "{text}");

    let (ok, text) =
        output(sesame(dir.path()).args(["migrate"]).env("SESAME_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none"));
    assert!(!ok && text.contains("cannot open the database"), "{text}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[accounts]]\nusername = \"x\"\n\npassword = 12\n").unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["import", bad.to_str().unwrap()]));
    assert!(!ok && text.contains("line 4"), "{text}");

    // A TOML mistake names the file and the line; a value of the wrong type, the key and
    // the type in words.
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "listen = \"127.0.0.1:8080\n").unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["--config", broken.to_str().unwrap(), "migrate"]));
    assert!(!ok && text.contains("broken.toml") && text.contains("line 1") && !text.contains("key ``"), "{text}");
    let typed = dir.path().join("typed.toml");
    std::fs::write(&typed, "[tokens]\naccess_token_ttl = \"ten\"\n").unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["--config", typed.to_str().unwrap(), "migrate"]));
    assert!(!ok && text.contains("tokens.access_token_ttl") && text.contains("is not a whole number"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["migrate"]).env("SESAME_DEMO", "maybe"));
    assert!(!ok && text.contains("demo") && text.contains("true or false"), "{text}");

    // The database's own words, without its source line.
    if let Some(crate::harness::Backend::Postgres(admin)) = crate::harness::Backend::postgres() {
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path("/sesame_no_such_database");
        let (ok, text) = output(sesame(dir.path()).args(["migrate"]).env("SESAME_DATABASE_URL", url.as_str()));
        assert!(!ok && text.contains("does not exist") && !text.contains("at line"), "{text}");
    }

    let (ok, text) = output(sesame(dir.path()).args(["migrate"]));
    assert!(ok, "{text}");
}

/// A database that holds data is never given a new master key by a command run without
/// its key: the command stops, naming the missing file, and creates nothing; both
/// `master_key` and `master_key_file` set is warned about.
#[test]
fn a_missing_master_key_is_never_replaced_by_a_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["migrate"]));
    assert!(ok, "{text}");
    let key = dir.path().join("master.key");
    let kept = std::fs::read_to_string(&key).unwrap();
    std::fs::remove_file(&key).unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["user", "list"]));
    assert!(!ok && text.contains("is missing") && text.contains("master.key"), "{text}");
    assert!(!key.exists(), "no new key was made");
    std::fs::write(&key, &kept).unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["user", "list"]));
    assert!(ok, "{text}");

    let mounted = dir.path().join("mounted");
    std::fs::write(&mounted, &kept).unwrap();
    let (_, text) = output(
        sesame(dir.path())
            .env("SESAME_MASTER_KEY", kept.trim())
            .env("SESAME_MASTER_KEY_FILE", &mounted)
            .args(["check"]),
    );
    assert!(text.contains("both `master_key` and `master_key_file` are set"), "{text}");
}

/// A port already in use stops the start once, in words, before anything is written:
/// no database, no master key, no demo data.
#[test]
fn a_port_in_use_is_said_once_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let (ok, text) = output(
        sesame(dir.path())
            .args(["serve", "--demo"])
            .env("SESAME_LISTEN", &address)
            .env("SESAME_ISSUER", format!("http://{address}")),
    );
    assert!(!ok, "{text}");
    assert_eq!(text.matches("already in use").count(), 1, "said once: {text}");
    assert!(text.contains(&address) && text.contains("`listen`"), "{text}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|entry| entry.unwrap().file_name()).collect();
    assert!(left.is_empty() && !text.contains("import.applied"), "nothing written: {left:?} {text}");
}

/// `sesame registration …`: an initial access token made, listed (never shown again),
/// revoked; an unknown application refused.
#[test]
fn initial_access_tokens_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/office.toml");
    assert!(output(sesame(dir.path()).args(["import", fixture])).0);
    let (ok, text) = output(sesame(dir.path()).args(["registration", "create-token", "--application", "NOPE"]));
    assert!(!ok && text.contains("NOPE"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args([
        "registration",
        "create-token",
        "--application",
        "INOTACTE",
        "--uses",
        "3",
        "--description",
        "cabinet",
    ]));
    assert!(ok && text.contains("token (shown once): "), "{text}");
    let line =
        |prefix: &str| text.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_string()).expect(prefix);
    let (id, token) = (line("id:"), line("token (shown once):"));
    let (ok, listed) = output(sesame(dir.path()).args(["registration", "list-tokens"]));
    assert!(ok && listed.contains(&id) && listed.contains("usable") && !listed.contains(&token), "{listed}");
    let (ok, text) = output(sesame(dir.path()).args(["registration", "revoke-token", &id]));
    assert!(ok, "{text}");
    let (ok, listed) = output(sesame(dir.path()).args(["registration", "list-tokens"]));
    assert!(ok && listed.contains("revoked"), "{listed}");
    let (ok, _) = output(sesame(dir.path()).args(["registration", "revoke-token", &id]));
    assert!(!ok, "revoked already");
}

/// What someone holding the OpenID Foundation's suite runs: one command starts Sésame
/// with the conformance configuration and its clients (README, "Conformance").
#[tokio::test]
async fn conformance_environment_starts_with_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let issuer = format!("http://127.0.0.1:{port}");
    let mut child = sesame(dir.path())
        .args([
            "--config",
            &format!("{root}/config/conformance.toml"),
            "serve",
            "--import",
            &format!("{root}/config/conformance-import.toml"),
        ])
        .env("SESAME_LISTEN", format!("127.0.0.1:{port}"))
        .env("SESAME_ISSUER", &issuer)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let mut discovery = None;
    for _ in 0..300 {
        if let Ok(response) = http.get(format!("{issuer}/.well-known/openid-configuration")).send().await {
            discovery = Some(response.json::<serde_json::Value>().await.unwrap());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let discovery = discovery.expect("the conformance server answers");
    assert_eq!(discovery["frontchannel_logout_supported"], true);
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert!(discovery["pushed_authorization_request_endpoint"].is_string());
    // The Dynamic OP plan registers its clients; FAPI 2.0 needs DPoP; the Basic and
    // Config plans send request objects.
    assert!(discovery["registration_endpoint"].is_string(), "{discovery}");
    assert!(discovery["dpop_signing_alg_values_supported"].is_array());
    assert_eq!(discovery["request_uri_parameter_supported"], true);
    // The imported clients exist: the first one pushes an authorization request.
    let pushed = http
        .post(format!("{issuer}/par"))
        .basic_auth("conformance-1", Some("conformance-secret-one-0123456789"))
        .form(&[
            ("response_type", "code"),
            ("client_id", "conformance-1"),
            ("scope", "openid"),
            ("redirect_uri", "https://www.certification.openid.net/test/a/sesame/callback"),
            ("code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    let status = pushed.status();
    let body = pushed.text().await.unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(status, 201, "{body}");

    // A file that does not import stops the start, naming the problem.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[[clients]]\nclient_id = \"x\"\nredirect_uris = 3\n").unwrap();
    let (ok, text) = output(
        sesame(dir.path()).args(["serve", "--import", bad.to_str().unwrap()]).env("SESAME_LISTEN", "127.0.0.1:0"),
    );
    assert!(!ok && text.contains("redirect_uris"), "{text}");
}

/// `sesame check` on a fresh place, a served one, one with an exposed master key, the
/// wrong master key, and a database written by a newer version (which `migrate`, as
/// every start, then refuses to touch).
#[test]
fn check_names_what_would_hurt_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["check"]));
    assert!(ok && text.contains("no database yet") && text.contains("no master key yet"), "{text}");
    assert!(!dir.path().join("sesame.db").exists() && !dir.path().join("master.key").exists(), "check writes nothing");
    let (ok, text) = output(sesame(dir.path()).args(["check", "--strict"]));
    assert!(ok && text.contains("0 fatal, 0 warnings, 2 notes"), "a fresh place passes --strict: {text}");

    let (ok, text) = output(sesame(dir.path()).args(["migrate"]));
    assert!(ok, "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["check", "--strict"]));
    assert!(ok && text.contains("0 fatal, 0 warnings"), "{text}");

    let (ok, text) = output(sesame(dir.path()).env("SESAME_ISSUER", "https://sso.office.example").args(["check"]));
    assert!(ok && text.contains("`mail.transport` is \"outbox\"") && text.contains("what to do:"), "{text}");
    let (ok, text) =
        output(sesame(dir.path()).env("SESAME_ISSUER", "https://sso.office.example").args(["check", "--strict"]));
    assert!(!ok && text.contains("the check failed"), "--strict fails on warnings: {text}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let key = dir.path().join("master.key");
        assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (ok, text) = output(sesame(dir.path()).args(["check"]));
        assert!(ok && text.contains("can be read by other users") && text.contains("chmod 600"), "{text}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    }

    let mounted = dir.path().join("mounted-secret");
    std::fs::copy(dir.path().join("master.key"), &mounted).unwrap();
    let (ok, text) = output(sesame(dir.path()).env("SESAME_MASTER_KEY_FILE", &mounted).args(["check", "--strict"]));
    assert!(ok, "the master key read from a mounted file: {text}");
    let missing = dir.path().join("not-mounted");
    let (ok, text) = output(sesame(dir.path()).env("SESAME_MASTER_KEY_FILE", &missing).args(["check"]));
    assert!(!ok && text.contains("cannot be read"), "{text}");
    let (ok, text) = output(sesame(dir.path()).env("SESAME_MASTER_KEY_FILE", &missing).args(["migrate"]));
    assert!(!ok && !missing.exists(), "a named key file is never created: {text}");

    let other_key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let (ok, text) = output(sesame(dir.path()).env("SESAME_MASTER_KEY", other_key).args(["check"]));
    assert!(!ok && text.contains("fatal: the master key does not open the stored signing keys"), "{text}");

    let url = format!("sqlite://{}", dir.path().join("sesame.db").display());
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sesame::storage::connect(&url).await.unwrap();
        db.execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_future', 0)",
        )
        .await
        .unwrap();
    });
    let (ok, text) = output(sesame(dir.path()).args(["check"]));
    assert!(!ok && text.contains("written by a newer Sésame") && text.contains("m20991231_000001_future"), "{text}");
    let (ok, text) = output(sesame(dir.path()).args(["migrate"]));
    assert!(!ok && text.contains("written by a newer Sésame") && text.contains("nothing was changed"), "{text}");
}

mod schema {
    use crate::harness::{Backend, TestServer};
    use crate::on_every_backend;

    on_every_backend!(a_started_database_is_current_and_a_newer_one_is_refused);

    async fn a_started_database_is_current_and_a_newer_one_is_refused(backend: Backend) {
        use sea_orm::ConnectionTrait;
        let server = TestServer::start(backend).await;
        let db = &server.state.db;
        assert_eq!(sesame::storage::schema(db).await.unwrap(), sesame::storage::Schema::default());
        db.execute_unprepared(
            "INSERT INTO seaql_migrations (version, applied_at) VALUES ('m20991231_000001_future', 0)",
        )
        .await
        .unwrap();
        let schema = sesame::storage::schema(db).await.unwrap();
        assert_eq!(schema.unknown, vec!["m20991231_000001_future".to_string()]);
        let refused = sesame::storage::migrate(db).await.unwrap_err().to_string();
        assert!(refused.contains("written by a newer Sésame"), "{refused}");
    }
}

/// `SESAME_LOG_FORMAT=json`: every log line is one JSON object a collector can read.
#[test]
fn logs_can_be_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let out = sesame(dir.path()).env("SESAME_LOG_FORMAT", "json").args(["migrate"]).output().unwrap();
    assert!(out.status.success());
    let logs = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = logs.lines().filter(|line| !line.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the start warns that passkeys are off on 127.0.0.1");
    for line in lines {
        let event: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(event["level"].is_string() && event["timestamp"].is_string() && event["message"].is_string(), "{line}");
    }
}

/// `sesame check` tries what a first mail would need (the SMTP server), the theme a
/// start loads, and finds secrets in a configuration file every user can read.
#[test]
fn check_tries_the_mail_server_and_the_theme_and_reads_the_file_modes() {
    let dir = tempfile::tempdir().unwrap();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let file = dir.path().join("sesame.toml");
    std::fs::write(
        &file,
        format!(
            "[mail]\ntransport = \"smtp\"\nsmtp_host = \"127.0.0.1\"\nsmtp_port = {closed}\nsmtp_tls = \"none\"\n\
             smtp_timeout = 2\nsmtp_username = \"sesame\"\nsmtp_password = \"hunter2\"\n"
        ),
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let config = file.to_str().unwrap();
    let (ok, text) = output(sesame(dir.path()).args(["--config", config, "check"]));
    assert!(ok, "warnings only: {text}");
    assert!(text.contains(&format!("the mail server 127.0.0.1:{closed} cannot be used")), "{text}");
    #[cfg(unix)]
    assert!(text.contains("`mail.smtp_password`") && text.contains("every user of this machine can read it"), "{text}");
    assert!(!text.contains("hunter2"), "the secret itself is never printed: {text}");

    let (ok, text) = output(sesame(dir.path()).env("SESAME_THEME__NAME", "office").args(["check"]));
    assert!(!ok && text.contains("fatal:") && text.contains("theme"), "a missing theme stops a start: {text}");
}
