//! Each account's language: chosen by its owner on the security page or by an
//! administrator (console, API, import file, command line), and the language of every
//! mail and text message sent to the account, whatever the page that caused it. And the
//! administrators' alert when someone reports a push request as fraud: once per report,
//! each administrator in their own language, none to archived ones.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};
use sesame::accounts::{self, AccountInput};
use sesame::i18n::Locale;

use crate::admin_api::api;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::push::{Device, enrollment_link, push_page, send as send_push};
use crate::rp::{self, Browser, Page};
use crate::two_factor::{follow, mails, set_two_factor, submit, walk_enrollment};

on_every_backend!(
    mail_and_text_messages_follow_the_account_not_the_page,
    the_owner_chooses_the_language_on_the_security_page,
    administrators_set_the_language_and_wrong_values_are_refused,
    a_fraud_report_mails_each_active_administrator_once,
);

/// An administrator setting the account's language (the same domain call as the
/// console, the API, the import and the CLI).
async fn set_language(server: &TestServer, username: &str, language: Option<&str>) {
    let state = &server.state;
    let account = accounts::find_by_username(&state.db, username).await.unwrap().expect("account");
    let input = AccountInput { language: Some(language.map(str::to_string)), ..AccountInput::unchanged(&account) };
    accounts::upsert(&state.db, &state.passwords, input, server.clock_now()).await.unwrap();
}

async fn language_of(server: &TestServer, username: &str) -> Option<Locale> {
    accounts::find_by_username(&server.state.db, username).await.unwrap().expect("account").language
}

fn text_messages(server: &TestServer) -> Vec<Value> {
    std::fs::read_to_string(server.state.config.data_dir.join("sms-outbox.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The last mail of this purpose to this address.
fn last_mail(server: &TestServer, to: &str, purpose: &str) -> Value {
    mails(server)
        .into_iter()
        .rfind(|m| m["to"] == to && m["purpose"] == purpose)
        .unwrap_or_else(|| panic!("a {purpose} mail to {to}: {:?}", mails(server)))
}

/// Pauline enrolls an authenticator app through a login whose pages are in `page`.
async fn enroll_pauline(server: &TestServer, page: &str) {
    set_two_factor(server, "pauline", true).await;
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[("ui_locales", page)]);
    let browser = Browser::new();
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    walk_enrollment(&browser, server, &after_password, "pauline@etude.example").await;
}

/// A login of pauline whose pages are in `page`, up to sending a code by text message;
/// the text sent.
async fn text_message_of_a_login(server: &TestServer, page: &str) -> String {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[("ui_locales", page)]);
    let browser = Browser::new();
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let verify = follow(&browser, server, &after_password).await;
    let tx = verify.field("tx").expect("tx");
    let sms_page = browser.get(&server.url(&format!("/login/verify?tx={tx}&method=sms"))).await;
    let sent = submit(&browser, server, &sms_page, "/login/verify", &[("method", "sms"), ("action", "send")]).await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    text_messages(server).last().expect("a text message")["text"].as_str().unwrap().to_string()
}

async fn mail_and_text_messages_follow_the_account_not_the_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    // English account, French pages: English mail and text message.
    set_language(&server, "pauline", Some("en")).await;
    enroll_pauline(&server, "fr").await;
    let added = last_mail(&server, "pauline@etude.example", "factor_added");
    assert!(added["subject"].as_str().unwrap().contains("an authenticator app was added"), "{added}");
    let text = text_message_of_a_login(&server, "fr").await;
    assert!(text.contains("your sign-in code is"), "{text}");

    // French account, English pages: French text message, and French mail from an
    // action with no page at all.
    set_language(&server, "pauline", Some("fr")).await;
    server.clock.advance(61);
    let text = text_message_of_a_login(&server, "en").await;
    assert!(text.contains("votre code de connexion est"), "{text}");
    assert!(text.ends_with(&format!("#{}", text.rsplit('#').next().unwrap())), "origin-bound line kept: {text}");
    let pauline = accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let actor = accounts::actions::Actor::command_line();
    accounts::actions::reset_second_factors(&server.state, &actor, &pauline).await.unwrap();
    let reset = last_mail(&server, "pauline@etude.example", "factor_reset");
    assert!(reset["subject"].as_str().unwrap().contains("votre double authentification"), "{reset}");

    // Not chosen: the server's language (French), whatever the page.
    set_language(&server, "pauline", None).await;
    assert_eq!(language_of(&server, "pauline").await, None);
    enroll_pauline(&server, "en").await;
    let added = last_mail(&server, "pauline@etude.example", "factor_added");
    assert!(added["subject"].as_str().unwrap().contains("une application d'authentification"), "{added}");
}

/// Pauline signed in to her account page (password only: she has no second factor).
async fn security_page(server: &TestServer, browser: &Browser) -> Page {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, &["openid"], &[]);
    browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let page = browser.get(&server.url("/account/security")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    page
}

fn checked(page: &Page, language: &str) -> bool {
    page.body.contains(&format!("name=\"language\" value=\"{language}\" checked"))
}

async fn the_owner_chooses_the_language_on_the_security_page(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let page = security_page(&server, &browser).await;
    assert!(page.body.contains("id=\"language-form\""), "{}", page.body);
    assert!(checked(&page, "fr") && page.body.contains("id=\"language-default\""), "the server's, not chosen");
    let csrf = page.field("csrf_token").unwrap();

    let saved = browser.post(&server.url("/account/language"), &[("csrf_token", &csrf), ("language", "en")]).await;
    assert_eq!(saved.status, 200, "{}", saved.body);
    assert!(saved.body.contains("id=\"account-notice\""), "{}", saved.body);
    assert!(checked(&saved, "en") && !saved.body.contains("id=\"language-default\""));
    assert_eq!(language_of(&server, "pauline").await, Some(Locale::En));
    assert_eq!(crate::two_factor::audit_count(&server, "account.language_changed").await, 1);
    let again = browser.get(&server.url("/account/security")).await;
    assert!(checked(&again, "en"), "kept");

    // A language Sésame does not speak: said on the page, nothing changes.
    let wrong = browser.post(&server.url("/account/language"), &[("csrf_token", &csrf), ("language", "de")]).await;
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("id=\"account-error\"") && wrong.body.contains("fr (français)"), "{}", wrong.body);
    assert_eq!(language_of(&server, "pauline").await, Some(Locale::En));
    // A forged form (another site's) is refused before anything changes.
    let forged = browser.post(&server.url("/account/language"), &[("csrf_token", "forged"), ("language", "fr")]).await;
    assert_eq!(forged.status, 403);
    let anonymous =
        Browser::new().post(&server.url("/account/language"), &[("csrf_token", &csrf), ("language", "fr")]).await;
    assert_ne!(anonymous.status, 200);
    assert_eq!(language_of(&server, "pauline").await, Some(Locale::En));
    let back = browser.post(&server.url("/account/language"), &[("csrf_token", &csrf), ("language", "fr")]).await;
    assert_eq!(back.status, 200);
    assert_eq!(language_of(&server, "pauline").await, Some(Locale::Fr));
}

fn assert_language_refused(status: u16, body: &Value) {
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid", "{body}");
    assert_eq!(body["error"]["field"], "language", "{body}");
    assert_eq!(body["error"]["reason"], "language_unknown", "{body}");
}

async fn administrators_set_the_language_and_wrong_values_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    // The admin API.
    let api = api(&server).await;
    let (status, body) = api.call(Method::GET, "/accounts/pauline", None).await;
    assert_eq!((status, &body["language"]), (200, &Value::Null), "not chosen: {body}");
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"language": "en"}))).await;
    assert_eq!((status, body["language"].as_str()), (200, Some("en")), "{body}");
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"language": "de"}))).await;
    assert_language_refused(status, &body);
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"language": ""}))).await;
    assert_language_refused(status, &body);
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"language": 7}))).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("bad_request")), "{body}");
    assert_eq!(language_of(&server, "pauline").await, Some(Locale::En), "refusals change nothing");
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"first_name": "Pauline"}))).await;
    assert_eq!((status, body["language"].as_str()), (200, Some("en")), "left out: kept");
    let (status, body) = api.call(Method::PATCH, "/accounts/pauline", Some(json!({"language": null}))).await;
    assert_eq!((status, &body["language"]), (200, &Value::Null), "null: the server's again");
    let nadia = json!({"username": "nadia", "password": "quiet library lamp", "language": "en"});
    let (status, body) = api.call(Method::POST, "/accounts", Some(nadia)).await;
    assert_eq!((status, body["language"].as_str()), (201, Some("en")), "{body}");
    let zoe = json!({"username": "zoe", "password": "quiet library lamp", "language": "english"});
    let (status, body) = api.call(Method::POST, "/accounts", Some(zoe)).await;
    assert_language_refused(status, &body);
    assert!(accounts::find_by_username(&server.state.db, "zoe").await.unwrap().is_none());

    // The import file: `language`, kept when left out.
    let file = "[[accounts]]\nusername = \"emilie\"\nfirst_name = \"Émilie\"\nlast_name = \"Durand\"\n\
                email = \"emilie@etude.example\"\nlanguage = \"en\"\n";
    sesame::import::import_text(&server.state, "lang.toml", file).await.unwrap();
    assert_eq!(language_of(&server, "emilie").await, Some(Locale::En));
    let report = sesame::import::import_text(&server.state, "again.toml", file).await.unwrap();
    assert!(!report.changed(), "a second run changes nothing");
    sesame::import::import_text(&server.state, "office.toml", crate::harness::FIXTURE).await.unwrap();
    assert_eq!(language_of(&server, "emilie").await, Some(Locale::En), "a file without the key keeps it");
    let error = sesame::import::import_text(&server.state, "bad.toml", &file.replace("\"en\"", "\"de\""))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("line 2") && error.contains("language") && error.contains("fr (French)"), "{error}");
    assert_eq!(language_of(&server, "emilie").await, Some(Locale::En));

    // The console's account form.
    let admin = Browser::new();
    crate::console::sign_in(&server, &admin, "sonia", "orange tulip garden").await;
    let form = admin.get(&server.url("/admin/accounts/emilie")).await;
    let csrf = form.field("csrf_token").expect("csrf_token");
    assert!(form.body.contains("<option value=\"en\" lang=\"en\" selected>"), "{}", form.body);
    let new = |language: &'static str| {
        vec![
            ("csrf_token", csrf.clone()),
            ("username", "yanis".to_string()),
            ("password", "quiet library lamp".to_string()),
            ("password_confirm", "quiet library lamp".to_string()),
            ("language", language.to_string()),
        ]
    };
    let form_of = |fields: &[(&'static str, String)]| fields.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>();
    let refused = admin.http.post(server.url("/admin/accounts/new")).form(&form_of(&new("es"))).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let body = refused.text().await.unwrap();
    assert!(body.contains("choisissez fr (français) ou en (anglais)"), "{body}");
    assert!(accounts::find_by_username(&server.state.db, "yanis").await.unwrap().is_none());
    let created = admin.http.post(server.url("/admin/accounts/new")).form(&form_of(&new("en"))).send().await.unwrap();
    assert_eq!(created.status(), 303);
    assert_eq!(language_of(&server, "yanis").await, Some(Locale::En));
}

/// The fraud alerts in the outbox, once `expected` arrived (they are sent apart from
/// the device's answer) and a moment passed in which no other may come.
async fn fraud_alerts(server: &TestServer, expected: usize) -> Vec<Value> {
    let alerts = || mails(server).into_iter().filter(|m| m["purpose"] == "push_fraud_reported").collect::<Vec<_>>();
    for _ in 0..100 {
        if alerts().len() >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    alerts()
}

async fn a_fraud_report_mails_each_active_administrator_once(backend: Backend) {
    let server = TestServer::start(backend).await;
    // Sonia (fixture): an administrator, language not chosen. Marc: one in English.
    // Olga: archived. Noé: no address. Only Sonia and Marc are told.
    let admins = r#"
[[accounts]]
username = "marc"
password = "violet canoe harbour"
first_name = "Marc"
email = "marc@etude.example"
account_admin = true
language = "en"

[[accounts]]
username = "olga"
password = "silent meadow lantern"
email = "olga@etude.example"
account_admin = true
archived = true

[[accounts]]
username = "noe"
password = "copper kettle morning"
account_admin = true
"#;
    sesame::import::import_text(&server.state, "admins.toml", admins).await.unwrap();
    let link = enrollment_link(&server).await;
    let device = Device::enroll(&server, &link).await;
    let browser = Browser::new();
    let (page, _) = push_page(&server, &browser).await;
    let waiting = send_push(&browser, &server, &page).await;
    assert_eq!(waiting.status, 200, "{}", waiting.body);
    let challenge = device.pending(&server).await.remove(0);

    // The phone reports twice at once (a retry racing the first request): one report.
    let (first, second) = tokio::join!(
        device.answer(&server, &challenge, "fraud", None),
        device.answer(&server, &challenge, "fraud", None)
    );
    let mut statuses = [first.0, second.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{first:?} {second:?}");
    let (status, _) = device.answer(&server, &challenge, "fraud", None).await;
    assert_eq!(status, 409, "answered already");

    let alerts = fraud_alerts(&server, 2).await;
    let to: Vec<&str> = alerts.iter().map(|m| m["to"].as_str().unwrap()).collect();
    assert_eq!(alerts.len(), 2, "one per administrator: {to:?}");
    assert!(to.contains(&"sonia@etude.example") && to.contains(&"marc@etude.example"), "{to:?}");
    let french = alerts.iter().find(|m| m["to"] == "sonia@etude.example").unwrap();
    let english = alerts.iter().find(|m| m["to"] == "marc@etude.example").unwrap();
    assert!(french["subject"].as_str().unwrap().contains("signale une connexion"), "{french}");
    assert!(english["subject"].as_str().unwrap().contains("reported a sign-in"), "{english}");
    for (mail, words) in [(french, ["Ce n'était pas moi", "Réinitialisez"]), (english, ["It wasn't me", "Reset"])] {
        let text = mail["text"].as_str().unwrap();
        for fact in ["Pauline Martin (pauline)", "iNot Actes", "127.0.0.1", "127.0.0.0/24", "UTC", words[0], words[1]] {
            assert!(text.contains(fact), "{fact} in {text}");
        }
        assert!(text.contains(&server.url("/admin/accounts/pauline")), "the audit trail's page: {text}");
    }
    assert_eq!(crate::two_factor::audit_count(&server, "push.fraud_alerted").await, 1);
}

/// The command line: `--language fr|en` on `user add` and `user set`, anything else
/// refused by name.
#[test]
fn the_command_line_sets_the_language() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let sesame = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_sesame"));
        command
            .env_remove("SESAME_DATABASE_URL")
            .env("SESAME_DATA_DIR", dir.path())
            .env("SESAME_PASSWORD__ARGON2_MEMORY_KIB", "1024")
            .env("SESAME_PASSWORD__ARGON2_ITERATIONS", "1")
            .env("SESAME_LOG", "warn");
        command
    };
    let run = |args: &[&str]| {
        let out = sesame().args(args).output().expect("run sesame");
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let (ok, text) = run(&["user", "add", "nadia", "--password", "long secret phrase 1", "--language", "en"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["user", "show", "nadia"]);
    assert!(ok && text.contains("language:      en\n"), "{text}");
    let (ok, text) = run(&["user", "add", "zoe", "--password", "long secret phrase 2"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["user", "show", "zoe"]);
    assert!(ok && text.contains("language:      fr (not chosen"), "{text}");
    let (ok, text) = run(&["user", "set", "nadia", "--language", "de"]);
    assert!(!ok && text.contains("--language") && text.contains("fr, en"), "{text}");
    let (ok, text) = run(&["user", "set", "nadia", "--first-name", "Nadia"]);
    assert!(ok, "{text}");
    let (ok, text) = run(&["user", "show", "nadia"]);
    assert!(ok && text.contains("language:      en\n"), "left out: kept: {text}");
    let (ok, text) = run(&["user", "set", "nadia", "--language", "fr"]);
    assert!(ok && text.contains("updated"), "{text}");
    let (ok, text) = run(&["user", "show", "nadia"]);
    assert!(ok && text.contains("language:      fr\n"), "{text}");
}
