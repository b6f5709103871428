//! The console's security events (`/admin/events`, `/admin/events.csv`): sentences with
//! names in French and English, the filters, bounded pages, the CSV export (RFC 4180
//! quoting, formulas defused), refused to anyone but an administrator; and in Chromium,
//! times rewritten to the browser's.

use sesame::audit::{self, AuditEvent};

use crate::console::sign_in;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{Browser, Page, unescape};

on_every_backend!(
    console_events_in_plain_words_and_filtered,
    console_events_pages_are_bounded,
    console_events_export_csv,
    console_events_refused_to_non_administrators,
);

/// 2031-03-04T10:00:00Z, and the next day: dated events far from the tests' own.
const MARCH_4: i64 = 1_930_384_800;
const MARCH_5: i64 = MARCH_4 + 86_400;

async fn record(server: &TestServer, at: i64, event: &str, account_id: Option<&str>, ip: Option<&str>) {
    let event = AuditEvent { event, account_id, ip, ..Default::default() };
    audit::record(&server.state.db, at, event).await;
}

async fn id_of(server: &TestServer, username: &str) -> String {
    sesame::accounts::find_by_username(&server.state.db, username).await.unwrap().unwrap().id
}

/// The page in English (the browser's `Accept-Language`).
async fn in_english(browser: &Browser, url: &str) -> Page {
    let response = browser.http.get(url).header("accept-language", "en").send().await.unwrap();
    Page { status: response.status(), location: None, body: response.text().await.unwrap() }
}

/// The ids of the events listed on a page (`data-id`), in order.
fn listed(page: &Page) -> Vec<i64> {
    page.body.split("data-id=\"").skip(1).map(|rest| rest[..rest.find('"').unwrap()].parse().unwrap()).collect()
}

async fn console_events_in_plain_words_and_filtered(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    // Pauline mistypes her password, then signs in to an application.
    let client = crate::rp::actes_web(&server).await;
    let request = crate::rp::auth_request(&client, &["openid"], &[]);
    let refused = Browser::new().authorize(&server, &request.url, "pauline", "wrong horse battery").await;
    assert_eq!(refused.status, 401);
    crate::rp::code_for_pauline(&server, &client, &Browser::new(), &["openid"]).await;
    // Sonia archives Émilie's account from the console.
    let form = sonia.get(&server.url("/admin/accounts/emilie")).await;
    let csrf = form.field("csrf_token").unwrap();
    let archived =
        sonia.post(&server.url("/admin/accounts/emilie/archive"), &[("csrf_token", &csrf), ("confirm", "yes")]).await;
    assert_eq!(archived.status, 303);
    // An event of a later version, about an account that no longer exists; and dated ones.
    record(&server, server.clock_now(), "future.thing", Some("gone-0123456789"), None).await;
    let pauline = id_of(&server, "pauline").await;
    record(&server, MARCH_4, "login.success", Some(&pauline), Some("198.51.100.7")).await;
    record(&server, MARCH_5, "second_factor.locked", Some(&pauline), Some("203.0.113.20")).await;

    let page = sonia.get(&server.url("/admin/events")).await;
    assert_eq!(page.status, 200);
    let text = unescape(&page.body);
    for words in [
        "Connexion de Pauline Martin (mot de passe)",
        "Échec de connexion pour Pauline Martin",
        "Compte d'Émilie Durand archivé par Sonia Ait",
        "Connexion de Sonia Ait (mot de passe)",
        "future.thing — gone-0123456789",
        "Second facteur de Pauline Martin bloqué après trop d'échecs",
    ] {
        assert!(text.contains(words), "{words} in {text}");
    }
    assert!(text.contains("<time datetime=\"2031-03-04T10:00:00Z\" data-local>2031-03-04 10:00:00 UTC</time>"));
    assert!(text.contains("/static/local-time.js"));
    assert!(text.contains("href=\"/admin/events\""), "in the console's navigation");
    let newest_first = listed(&page);
    assert!(newest_first.windows(2).all(|w| w[0] > w[1]), "{newest_first:?}");

    let english = unescape(&in_english(&sonia, &server.url("/admin/events")).await.body);
    for words in [
        "Pauline Martin signed in with their password",
        "Failed sign-in for Pauline Martin",
        "Sonia Ait archived the account of Émilie Durand",
        "Security events",
    ] {
        assert!(english.contains(words), "{words} in {english}");
    }

    // Kind: failures and lockouts only.
    let failures = unescape(&sonia.get(&server.url("/admin/events?kind=failure")).await.body);
    assert!(failures.contains("Échec de connexion pour Pauline Martin"));
    assert!(!failures.contains("Connexion de Pauline Martin") && !failures.contains("archivé par"), "{failures}");
    // Account: part of the identifier, any case; or the id of a deleted account.
    let paul = unescape(&sonia.get(&server.url("/admin/events?account=PAUL")).await.body);
    assert!(paul.contains("Connexion de Pauline Martin") && paul.contains("Échec de connexion pour Pauline Martin"));
    assert!(!paul.contains("Sonia Ait") && !paul.contains("Émilie"), "{paul}");
    let gone = sonia.get(&server.url("/admin/events?account=gone-0123456789")).await;
    assert_eq!(listed(&gone).len(), 1);
    // Dates (UTC days, both included) and addresses.
    let march_4 = sonia.get(&server.url("/admin/events?from=2031-03-04&to=2031-03-04")).await;
    assert_eq!(listed(&march_4).len(), 1);
    assert!(unescape(&march_4.body).contains("198.51.100.7"));
    let both = sonia.get(&server.url("/admin/events?from=2031-03-04&to=2031-03-05")).await;
    assert_eq!(listed(&both).len(), 2);
    let after = sonia.get(&server.url("/admin/events?from=2031-03-05")).await;
    assert!(unescape(&after.body).contains("203.0.113.20") && listed(&after).len() == 1);
    let by_ip = sonia.get(&server.url("/admin/events?ip=198.51.100.")).await;
    assert_eq!(listed(&by_ip).len(), 1);
    let combined = sonia.get(&server.url("/admin/events?account=pauline&kind=sign_in&from=2031-03-01")).await;
    assert_eq!(listed(&combined).len(), 1, "filters add up");
    let nothing = sonia.get(&server.url("/admin/events?account=nobody-at-all")).await;
    assert!(listed(&nothing).is_empty() && nothing.body.contains("id=\"no-events\""));
    // The filter keeps what was typed; a malformed one is refused, never guessed.
    assert!(unescape(&combined.body).contains("value=\"pauline\""));
    for wrong in ["kind=everything", "from=04/03/2031", "to=2031-02-30", "before=abc"] {
        let page = sonia.get(&server.url(&format!("/admin/events?{wrong}"))).await;
        assert_eq!(page.status, 400, "{wrong}");
    }

    // The account page says the same things, with a link to all its events.
    let account = unescape(&sonia.get(&server.url("/admin/accounts/pauline")).await.body);
    assert!(account.contains("Échec de connexion pour Pauline Martin"), "{account}");
    assert!(account.contains("<time datetime=\"2031-03-05T10:00:00Z\" data-local>"));
    assert!(account.contains("/admin/events?account=pauline"));
    assert!(!account.contains("<code>login.failure</code>"), "no raw codes");
}

async fn console_events_pages_are_bounded(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let pauline = id_of(&server, "pauline").await;
    for i in 0..120 {
        record(&server, MARCH_4 + i, "token.issued", Some(&pauline), Some("192.0.2.1")).await;
    }
    let first = sonia.get(&server.url("/admin/events?account=pauline&kind=token")).await;
    let mut seen = listed(&first);
    assert_eq!(seen.len(), 50, "a page is 50 events");
    assert!(!first.body.contains("id=\"newest\""));
    let mut page = first;
    let mut pages = 1;
    while let Some(href) = older_link(&page) {
        assert!(href.contains("account=pauline") && href.contains("kind=token") && href.contains("before="), "{href}");
        page = sonia.get(&server.url(&href)).await;
        assert!(page.body.contains("id=\"newest\""), "a way back to the newest");
        let ids = listed(&page);
        assert!(ids.len() <= 50 && ids.first() < seen.last(), "older than the last shown: {ids:?}");
        seen.extend(ids);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 120, "every event once");
    assert!(seen.windows(2).all(|w| w[0] > w[1]));
}

/// The page's "older" link, if it has one.
fn older_link(page: &Page) -> Option<String> {
    let at = page.body.find("id=\"older\"")?;
    let start = page.body[..at].rfind("href=\"")? + "href=\"".len();
    let end = start + page.body[start..].find('"')?;
    Some(unescape(&page.body[start..end]))
}

/// A CSV document's rows (RFC 4180), the test's own reading.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "rows end in CRLF");
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    assert!(field.is_empty() && row.is_empty(), "the last row ends in CRLF");
    rows
}

async fn console_events_export_csv(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    // An account whose name is a formula, created from the console.
    let form = sonia.get(&server.url("/admin/accounts/new")).await;
    let csrf = form.field("csrf_token").unwrap();
    let formula = "=HYPERLINK(\"http://evil.example\",\"x\")";
    let created = sonia
        .post(
            &server.url("/admin/accounts/new"),
            &[
                ("csrf_token", &csrf),
                ("username", "formula"),
                ("password", "quiet library lamp"),
                ("password_confirm", "quiet library lamp"),
                ("first_name", formula),
                ("last_name", "Dupont, \"Jr\""),
            ],
        )
        .await;
    assert_eq!(created.status, 303, "{}", created.body);
    let id = id_of(&server, "formula").await;
    let detail = serde_json::json!({"reason": "wrong, \"really\"", "method": "totp"});
    let event = AuditEvent {
        event: "second_factor.failure",
        account_id: Some(&id),
        ip: Some("+1 2"),
        detail: Some(detail),
        ..Default::default()
    };
    audit::record(&server.state.db, MARCH_4, event).await;

    let response = sonia.http.get(server.url("/admin/events.csv?account=formula")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert!(header("content-disposition").starts_with("attachment;"), "{}", header("content-disposition"));
    assert!(response.headers().get("x-sesame-older-than").is_none(), "everything fit");
    let text = response.text().await.unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a UTF-8 byte-order mark for spreadsheets");
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"x\"\") Dupont, \"\"Jr\"\"\""),
        "defused, then quoted: {text}"
    );
    let rows = parse_csv(text);
    assert_eq!(
        rows[0],
        [
            "time_utc",
            "event",
            "kind",
            "description",
            "account",
            "account_name",
            "actor",
            "ip",
            "client",
            "detail",
            "id"
        ]
    );
    assert_eq!(rows.len(), 3, "the header, then the account's two events: {rows:?}");
    let name = format!("'{formula} Dupont, \"Jr\"");
    let failure = &rows[1];
    assert_eq!(failure[0], "2031-03-04T10:00:00Z");
    assert_eq!(failure[1], "second_factor.failure");
    assert_eq!(failure[2], "failure");
    assert_eq!(
        failure[3],
        format!("Code de second facteur erroné pour {formula} Dupont, \"Jr\" (application d'authentification)")
    );
    assert_eq!((failure[4].as_str(), failure[5].as_str()), ("formula", name.as_str()));
    assert_eq!(failure[7], "'+1 2", "an address that looks like a formula is defused too");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&failure[9]).unwrap()["reason"], "wrong, \"really\"");
    let created = &rows[2];
    assert_eq!((created[1].as_str(), created[2].as_str()), ("admin.account.created", "admin"));
    assert_eq!(created[5], name);
    assert_eq!(created[6], "Sonia Ait", "the administrator who acted");
    assert!(created[0] < failure[0] && created[10].parse::<i64>().unwrap() < failure[10].parse::<i64>().unwrap());
    for row in &rows {
        for cell in row {
            assert!(!cell.starts_with(['=', '+', '-', '@', '\t', '\r']), "{cell} would be a formula");
        }
    }

    // The same filters as the page, and the reader's language.
    let english = sonia
        .http
        .get(server.url("/admin/events.csv?account=formula&kind=admin"))
        .header("accept-language", "en")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let rows = parse_csv(english.trim_start_matches('\u{feff}'));
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[1][3], format!("Sonia Ait created the account of {formula} Dupont, \"Jr\""));
    // The page's export link carries its filters.
    let page = sonia.get(&server.url("/admin/events?account=formula&kind=admin")).await;
    assert!(page.body.contains("/admin/events.csv?account=formula&amp;kind=admin\""), "{}", page.body);
}

async fn console_events_refused_to_non_administrators(backend: Backend) {
    let server = TestServer::start(backend).await;
    let pauline = Browser::new();
    assert_eq!(sign_in(&server, &pauline, "pauline", "correct horse battery").await.status, 403);
    for path in ["/admin/events", "/admin/events.csv"] {
        let page = pauline.get(&server.url(path)).await;
        assert!(page.location.as_deref().is_some_and(|l| l.contains("/admin/login")), "{path}: sent to sign in");
        assert!(!page.body.contains("time_utc"));
    }
    // An administrator who no longer is one is refused at once.
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    assert_eq!(sonia.get(&server.url("/admin/events")).await.status, 200);
    let account = sesame::accounts::find_by_username(&server.state.db, "sonia").await.unwrap().unwrap();
    let input =
        sesame::accounts::AccountInput { account_admin: false, ..sesame::accounts::AccountInput::unchanged(&account) };
    sesame::accounts::upsert(&server.state.db, &server.state.passwords, input, server.clock_now()).await.unwrap();
    for path in ["/admin/events", "/admin/events.csv?kind=failure"] {
        let response = sonia.http.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 403, "{path}");
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"), "{path}");
        assert!(!response.text().await.unwrap().contains("time_utc"));
    }
    // Nobody signed in is sent to sign in.
    let anonymous = Browser::new().get(&server.url("/admin/events.csv")).await;
    assert!(anonymous.location.is_some_and(|l| l.contains("/admin/login")));
}

/// In Chromium: the page from the navigation, times in the browser's time zone and
/// language (the UTC text kept as the tooltip), the filter form; the screenshot for the
/// README.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_events_in_chromium() {
    let Some(browser) = crate::browser::Browser::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    let pauline = id_of(&server, "pauline").await;
    let emilie = id_of(&server, "emilie").await;
    let client = crate::rp::actes_web(&server).await;
    let request = crate::rp::auth_request(&client, &["openid"], &[]);
    Browser::new().authorize(&server, &request.url, "emilie", "wrong").await;
    crate::rp::code_for_pauline(&server, &client, &Browser::new(), &["openid"]).await;
    record(&server, MARCH_4, "push.fraud_reported", Some(&emilie), Some("203.0.113.20")).await;
    record(&server, MARCH_4 - 60, "push.sent", Some(&emilie), Some("203.0.113.20")).await;
    record(&server, MARCH_4 - 3600, "login.success", Some(&pauline), Some("198.51.100.7")).await;

    browser.goto(&server.url("/admin")).await;
    browser.log_in("sonia", "orange tulip garden").await;
    browser.wait_url("/admin/accounts").await;
    browser.click("nav a[href='/admin/events']").await;
    browser.wait_url("/admin/events").await;
    browser.wait_element("time[data-localized]").await;
    let shown = browser.text("#events tbody tr:first-child time").await;
    let id = browser.element("#events tbody tr:first-child time").await;
    let title = browser.command(reqwest::Method::GET, &format!("/element/{id}/attribute/title"), None).await;
    let title = title.as_str().unwrap_or_default().to_string();
    assert!(title.ends_with(" UTC") && !shown.is_empty() && shown != title, "{shown} / {title}");
    assert!(browser.text("#events").await.contains("Connexion de Pauline Martin (mot de passe)"));
    browser.screenshot("console-events").await;

    browser.type_into("#account", "emilie").await;
    browser.click("#events-filter button").await;
    browser.wait_url("account=emilie").await;
    let listed = browser.text("#events").await;
    assert!(listed.contains("Émilie Durand") && !listed.contains("Pauline Martin"), "{listed}");
    browser.quit().await;
}
