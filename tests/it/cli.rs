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

    let (ok, text) = output(sesame(dir.path()).args(["migrate"]));
    assert!(ok, "{text}");
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
