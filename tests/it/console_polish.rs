//! The console's forms say every mistake at once and in words that agree with their
//! field; French phone numbers read as an office writes them; what cannot be taken back
//! (archiving, resetting second factors, a client's new secret) is confirmed first, by a
//! second post carrying `confirm=yes` — a post without it does nothing (issue 18, points
//! 6 and 7). Over HTTP on every backend, then in Chromium.

use reqwest::Method;

use crate::browser::Browser as Chromium;
use crate::console::{follow, sign_in};
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{Browser, Page, unescape};

on_every_backend!(
    a_form_reports_every_mistake_in_agreeing_words,
    french_phones_are_shown_nationally_and_stored_in_e164,
    archiving_and_resetting_second_factors_wait_for_confirmation,
    a_new_client_secret_waits_for_confirmation,
    secrets_are_shown_once_by_get_after_a_browsers_post,
    every_software_section_says_all_its_mistakes,
);

async fn a_form_reports_every_mistake_in_agreeing_words(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let form = sonia.get(&server.url("/admin/accounts/new")).await;
    let csrf = form.field("csrf_token").unwrap();
    // Three mistakes: the confirmation, and Pauline's email and phone (typed otherwise
    // than stored).
    let page = sonia
        .post(
            &server.url("/admin/accounts/new"),
            &[
                ("csrf_token", &csrf),
                ("username", "zoe"),
                ("password", "quiet library lamp"),
                ("password_confirm", "quiet library lump"),
                ("email", "PAULINE@etude.example"),
                ("phone", "+33 6 12 34 56 78"),
                ("access.INOTACTE.allowed", "on"),
                ("access.INOTACTE.rights", "actes.lecture"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    let text = unescape(&page.body);
    for words in [
        "Le formulaire contient plusieurs erreurs",
        "les deux mots de passe sont différents.",
        "cette adresse e-mail est déjà utilisée par un autre compte.",
        "ce numéro est déjà utilisé par un autre compte.",
    ] {
        assert!(text.contains(words), "{words} in {text}");
    }
    // Each beside its field, as a sentence.
    for (id, words) in [
        ("error-password_confirm", "Les deux mots de passe sont différents."),
        ("error-email", "Cette adresse e-mail est déjà utilisée par un autre compte."),
        ("error-phone", "Ce numéro est déjà utilisé par un autre compte."),
    ] {
        assert!(text.contains(&format!("id=\"{id}\">{words}</p>")), "{id}: {text}");
    }
    assert!(text.contains("aria-describedby=\"error-email\""));
    assert!(text.contains("value=\"zoe\"") && text.contains("value=\"+33 6 12 34 56 78\""), "what was typed is kept");
    assert!(sesame::accounts::find_by_username(&server.state.db, "zoe").await.unwrap().is_none(), "nothing written");

    // The domain's own refusals, all at once too: a malformed email and phone, and a
    // name too long, when nothing the console checks itself is wrong.
    let long = "L".repeat(101);
    let page = sonia
        .post(
            &server.url("/admin/accounts/pauline"),
            &[("csrf_token", &csrf), ("last_name", &long), ("email", "pauline"), ("phone", "12345")],
        )
        .await;
    assert_eq!(page.status, 422);
    let text = unescape(&page.body);
    for id in ["error-last_name", "error-email", "error-phone"] {
        assert!(text.contains(&format!("id=\"{id}\"")), "{id}: {text}");
    }
    assert!(text.contains("Ce n'est pas une adresse e-mail."), "{text}");
    // In English, the words agree too.
    let form = [
        ("csrf_token", csrf.as_str()),
        ("username", "Pauline"),
        ("password", "quiet library lamp"),
        ("password_confirm", "quiet library lamp"),
    ];
    let response = sonia
        .http
        .post(server.url("/admin/accounts/new"))
        .header("accept-language", "en")
        .form(&form)
        .send()
        .await
        .unwrap();
    let page = Page { status: response.status(), location: None, body: response.text().await.unwrap() };
    assert_eq!(page.status, 409, "only taken values: a conflict");
    assert!(unescape(&page.body).contains("This username is already used by another account."), "{}", page.body);
}

async fn french_phones_are_shown_nationally_and_stored_in_e164(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let form = sonia.get(&server.url("/admin/accounts/emilie")).await;
    let csrf = form.field("csrf_token").unwrap();
    // Typed in E.164, kept in E.164, shown nationally.
    let fields = |phone| {
        [
            ("csrf_token", csrf.clone()),
            ("first_name", "Émilie".to_string()),
            ("last_name", "Durand".to_string()),
            ("email", "emilie@etude.example".to_string()),
            ("phone", phone),
        ]
    };
    let post = |phone: &str| {
        let owned = fields(phone.to_string());
        let url = server.url("/admin/accounts/emilie");
        let sonia = &sonia;
        async move {
            let form: Vec<(&str, &str)> = owned.iter().map(|(name, value)| (*name, value.as_str())).collect();
            sonia.post(&url, &form).await
        }
    };
    let saved = post("+33655443322").await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let emilie = sesame::accounts::find_by_username(&server.state.db, "emilie").await.unwrap().unwrap();
    assert_eq!(emilie.phone.as_deref(), Some("+33655443322"));
    let page = follow(&server, &sonia, saved).await;
    assert!(page.body.contains("value=\"06 55 44 33 22\""), "{}", page.body);
    let list = sonia.get(&server.url("/admin/accounts?q=emilie")).await;
    assert!(list.body.contains("06 55 44 33 22") && !list.body.contains("+33655443322"), "{}", list.body);
    // The form sent back as shown changes nothing.
    let again = post("06 55 44 33 22").await;
    assert_eq!(again.status, 303);
    let emilie = sesame::accounts::find_by_username(&server.state.db, "emilie").await.unwrap().unwrap();
    assert_eq!(emilie.phone.as_deref(), Some("+33655443322"));
    // Programs read E.164.
    let api = crate::admin_api::api(&server).await;
    let (status, account) = api.call(Method::GET, "/accounts/emilie", None).await;
    assert_eq!(status, 200);
    assert_eq!(account["phone"], "+33655443322");
    // A number of another country stays international.
    let foreign = post("+1 415 555 0100").await;
    assert_eq!(foreign.status, 303);
    let list = sonia.get(&server.url("/admin/accounts?q=emilie")).await;
    assert!(list.body.contains("+14155550100"), "{}", list.body);
}

async fn archiving_and_resetting_second_factors_wait_for_confirmation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let form = sonia.get(&server.url("/admin/accounts/pauline")).await;
    let csrf = form.field("csrf_token").unwrap();
    assert!(form.body.contains("id=\"archive\""));

    // A post without `confirm` asks, and does nothing.
    let asked = sonia.post(&server.url("/admin/accounts/pauline/archive"), &[("csrf_token", &csrf)]).await;
    assert_eq!(asked.status, 200);
    let text = unescape(&asked.body);
    assert!(text.contains("Archiver le compte de Pauline Martin (pauline) ?"), "{text}");
    assert!(text.contains("déconnectée de toutes les applications"), "{text}");
    assert!(text.contains("name=\"confirm\" value=\"yes\""));
    assert!(text.contains("action=\"/admin/accounts/pauline/archive\""));
    assert!(text.contains("href=\"/admin/accounts/pauline\" id=\"cancel\""));
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(!pauline.archived, "nothing done without confirmation");
    for wrong in ["no", "", "1"] {
        let asked = sonia
            .post(&server.url("/admin/accounts/pauline/archive"), &[("csrf_token", &csrf), ("confirm", wrong)])
            .await;
        assert_eq!(asked.status, 200, "confirm={wrong}");
    }
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(!pauline.archived);
    // The confirmation page's own form does it, then comes back to the account.
    let confirm_csrf = asked.field("csrf_token").unwrap();
    let done = sonia
        .post(&server.url("/admin/accounts/pauline/archive"), &[("csrf_token", &confirm_csrf), ("confirm", "yes")])
        .await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/admin/accounts/pauline?saved=1"));
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    assert!(pauline.archived);
    // Restoring is not asked.
    let restored = sonia.post(&server.url("/admin/accounts/pauline/restore"), &[("csrf_token", &csrf)]).await;
    assert_eq!(restored.status, 303);

    // An administrator's own account is refused at once, with no question asked.
    let own = sonia.post(&server.url("/admin/accounts/sonia/archive"), &[("csrf_token", &csrf)]).await;
    assert_eq!(own.status, 422);
    assert!(unescape(&own.body).contains("vous ne pouvez pas archiver votre propre compte"));

    // Resetting second factors: Pauline enrolls an app first.
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let state = &server.state;
    let id =
        sesame::second_factor::totp::begin(&state.db, &state.secrets, &pauline.id, "app", None, server.clock_now())
            .await
            .unwrap();
    sesame::second_factor::totp::activate(&state.db, &pauline.id, &id, server.clock_now()).await.unwrap();
    let factors = || async { sesame::second_factor::factors_of(&server.state.db, &pauline.id).await.unwrap().len() };
    let before = factors().await;
    assert_eq!(before, 1);
    let asked = sonia.post(&server.url("/admin/accounts/pauline/second-factors/reset"), &[("csrf_token", &csrf)]).await;
    assert_eq!(asked.status, 200);
    let text = unescape(&asked.body);
    assert!(text.contains("Réinitialiser la double authentification de Pauline Martin (pauline) ?"), "{text}");
    assert!(text.contains("codes de secours seront supprimés"), "{text}");
    assert_eq!(factors().await, before, "nothing done without confirmation");
    let done = sonia
        .post(&server.url("/admin/accounts/pauline/second-factors/reset"), &[("csrf_token", &csrf), ("confirm", "yes")])
        .await;
    assert_eq!(done.location.as_deref(), Some("/admin/accounts/pauline?saved=second_factors"));
    assert_eq!(factors().await, 0);
}

async fn a_new_client_secret_waits_for_confirmation(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let page = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    assert!(page.body.contains("id=\"new-secret-actes-web\""));
    let csrf = page.field("csrf_token").unwrap();
    let hash = || async { sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash };
    let before = hash().await;
    let url = server.url("/admin/applications/INOTACTE/clients/actes-web/secret");
    let asked = sonia.post(&url, &[("csrf_token", &csrf)]).await;
    assert_eq!(asked.status, 200);
    let text = unescape(&asked.body);
    assert!(text.contains("Donner un nouveau secret au client actes-web ?"), "{text}");
    assert!(text.contains("Le secret actuel cessera aussitôt de fonctionner"), "{text}");
    assert!(!text.contains("id=\"client-secret\""), "no secret yet");
    assert_eq!(hash().await, before, "nothing done without confirmation");
    let done = sonia.post(&url, &[("csrf_token", &csrf), ("confirm", "yes")]).await;
    assert_eq!(done.status, 200);
    assert!(done.body.contains("id=\"client-secret\""), "the new secret, once");
    assert_ne!(hash().await, before);
}

/// A browser's post that makes a secret (a client's new secret, a new client's, a
/// temporary password) is answered by a redirect to a page that shows it once: reading
/// the page again shows it no more and makes no new secret (no "Confirm form
/// resubmission" that would rotate it again). A refused new client keeps what was typed.
async fn secrets_are_shown_once_by_get_after_a_browsers_post(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::navigating();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let page = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    let csrf = page.field("csrf_token").unwrap();
    let hash = || async { sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash };

    // A client's new secret.
    let before = hash().await;
    let url = server.url("/admin/applications/INOTACTE/clients/actes-web/secret");
    let done = sonia.post(&url, &[("csrf_token", &csrf), ("confirm", "yes")]).await;
    assert_eq!(done.status, 303);
    assert_eq!(done.location.as_deref(), Some("/admin/applications/INOTACTE"));
    assert!(!done.body.contains("id=\"client-secret\""), "not in the answer to the post");
    let rotated = hash().await;
    assert_ne!(rotated, before);
    let shown = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("id=\"client-secret\""), "shown once");
    let again = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    assert!(!again.body.contains("id=\"client-secret\""), "and only once");
    assert_eq!(hash().await, rotated, "reading the page again rotates nothing");

    // A new client: refused (a redirect URI that is no URL) with what was typed kept,
    // then registered with its secret shown once.
    let clients = server.url("/admin/applications/INOTACTE/clients");
    let typed = [("csrf_token", csrf.as_str()), ("client_id", "actes-mobile"), ("name", "Actes mobile")];
    let refused = sonia.post(&clients, &[typed.as_slice(), &[("redirect_uris", "not-a-url")]].concat()).await;
    assert_eq!(refused.status, 303);
    let page = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    let text = unescape(&page.body);
    assert!(text.contains("id=\"error-message\""), "{text}");
    assert!(text.contains("value=\"actes-mobile\"") && text.contains("value=\"Actes mobile\""), "{text}");
    assert!(sesame::clients::find(&server.state.db, "actes-mobile").await.unwrap().is_none());
    let redirect = ("redirect_uris", "https://mobile.example/callback");
    let created = sonia.post(&clients, &[typed.as_slice(), &[redirect]].concat()).await;
    assert_eq!(created.status, 303);
    let page = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    assert!(page.body.contains("id=\"client-secret\"") && page.body.contains("actes-mobile"));
    assert!(!page.body.contains("id=\"error-message\""));
    let again = sonia.get(&server.url("/admin/applications/INOTACTE")).await;
    assert!(!again.body.contains("id=\"client-secret\""));

    // A temporary password.
    let account = sonia.get(&server.url("/admin/accounts/pauline")).await;
    let csrf = account.field("csrf_token").unwrap();
    let password_hash = || async {
        sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap().password_hash
    };
    let before = password_hash().await;
    let reset = sonia.post(&server.url("/admin/accounts/pauline/password"), &[("csrf_token", &csrf)]).await;
    assert_eq!(reset.status, 303);
    assert_eq!(reset.location.as_deref(), Some("/admin/accounts/pauline/password"));
    let given = password_hash().await;
    assert_ne!(given, before);
    let shown = sonia.get(&server.url("/admin/accounts/pauline/password")).await;
    assert_eq!(shown.status, 200);
    assert!(shown.body.contains("id=\"temporary-password\""));
    let again = sonia.get(&server.url("/admin/accounts/pauline/password")).await;
    assert_eq!(again.location.as_deref(), Some("/admin/accounts/pauline"), "read again: the account's page");
    assert_eq!(password_hash().await, given, "no second password");
    // Another console session never sees it.
    let other = Browser::navigating();
    sign_in(&server, &other, "sonia", "orange tulip garden").await;
    let reset = sonia.post(&server.url("/admin/accounts/pauline/password"), &[("csrf_token", &csrf)]).await;
    assert_eq!(reset.status, 303);
    let elsewhere = other.get(&server.url("/admin/accounts/pauline/password")).await;
    assert_eq!(elsewhere.location.as_deref(), Some("/admin/accounts/pauline"));
}

/// Rights a stale page still offers, in two applications at once: each software section
/// says its own mistake, and the list above the form names both.
async fn every_software_section_says_all_its_mistakes(backend: Backend) {
    let server = TestServer::start(backend).await;
    let sonia = Browser::new();
    sign_in(&server, &sonia, "sonia", "orange tulip garden").await;
    let form = sonia.get(&server.url("/admin/accounts/pauline")).await;
    let csrf = form.field("csrf_token").unwrap();
    let page = sonia
        .post(
            &server.url("/admin/accounts/pauline"),
            &[
                ("csrf_token", &csrf),
                ("last_name", "Martin"),
                ("email", "sonia@etude.example"),
                ("access.INOTACTE.allowed", "on"),
                ("access.INOTACTE.rights", "actes.archivage"),
                ("access.INOTCOMPTABILITE.allowed", "on"),
                ("access.INOTCOMPTABILITE.rights", "compta.cloture"),
            ],
        )
        .await;
    assert_eq!(page.status, 422);
    let text = unescape(&page.body);
    for id in ["error-email", "error-access-INOTACTE", "error-access-INOTCOMPTABILITE"] {
        assert!(text.contains(&format!("id=\"{id}\"")), "{id}: {text}");
    }
    assert!(text.contains("Ce droit n'existe pas dans ce logiciel."), "{text}");
    let summary = &text[text.find("id=\"error-message\"").unwrap()..];
    let summary = &summary[..summary.find("</div>").unwrap()];
    assert!(summary.contains("INOTACTE") && summary.contains("INOTCOMPTABILITE"), "{summary}");
}

/// The same in Chromium: both mistakes on the page at once, a French phone as written in
/// France, and each confirmation page, with its screenshots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_polish_in_chromium() {
    let Some(browser) = Chromium::start().await else { return };
    let server = TestServer::start(Backend::Sqlite).await;
    browser.goto(&server.url("/admin")).await;
    browser.log_in("sonia", "orange tulip garden").await;
    browser.wait_url("/admin/accounts").await;
    // Pauline's phone, stored +33612345678, as an office writes it.
    let pauline_row = browser.text("#accounts").await;
    assert!(pauline_row.contains("06 12 34 56 78") && !pauline_row.contains("+33612345678"), "{pauline_row}");

    // Two mistakes at once.
    browser.click("#new-account").await;
    browser.wait_url("/admin/accounts/new").await;
    for (field, value) in [
        ("#username", "copycat"),
        ("#password", "quiet library lamp"),
        ("#password_confirm", "quiet library lamp"),
        ("#email", "pauline@etude.example"),
        ("#phone", "+33612345678"),
    ] {
        browser.type_into(field, value).await;
    }
    browser.click("#save").await;
    browser.wait_element("#error-message").await;
    let summary = browser.text("#error-message").await;
    assert!(summary.contains("Adresse e-mail") && summary.contains("Téléphone"), "{summary}");
    assert_eq!(browser.text("#error-email").await, "Cette adresse e-mail est déjà utilisée par un autre compte.");
    assert_eq!(browser.text("#error-phone").await, "Ce numéro est déjà utilisé par un autre compte.");
    browser.screenshot("console-form-mistakes").await;
    assert!(sesame::accounts::find_by_username(&server.state.db, "copycat").await.unwrap().is_none());

    // Archiving: asked, cancelled, asked again, confirmed.
    browser.goto(&server.url("/admin/accounts/pauline")).await;
    let phone = browser.element("#phone").await;
    let shown = browser.command(Method::GET, &format!("/element/{phone}/property/value"), None).await;
    assert_eq!(shown, "06 12 34 56 78");
    browser.click("#archive").await;
    browser.wait_element("#confirmation").await;
    let question = browser.text("#confirm-question").await;
    assert_eq!(question, "Archiver le compte de Pauline Martin (pauline) ?");
    assert!(browser.text("#confirm-consequence").await.contains("ne pourra plus se connecter"));
    browser.screenshot("console-confirm-archive").await;
    let pauline = || async { sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap() };
    assert!(!pauline().await.archived, "asking does nothing");
    browser.click("#cancel").await;
    browser.wait_element("#archive").await;
    assert!(!pauline().await.archived, "cancelled");
    browser.click("#archive").await;
    browser.wait_element("#confirm").await;
    browser.click("#confirm").await;
    browser.wait_url("/admin/accounts/pauline?saved=1").await;
    assert!(pauline().await.archived);

    // Resetting second factors.
    browser.click("#reset-second-factors").await;
    browser.wait_element("#confirmation").await;
    assert!(browser.text("#confirm-question").await.contains("Réinitialiser la double authentification"));
    browser.click("#confirm").await;
    browser.wait_url("/admin/accounts/pauline?saved=second_factors").await;

    // A client's new secret.
    browser.goto(&server.url("/admin/applications/INOTACTE")).await;
    let before = sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash;
    browser.click("#new-secret-actes-web").await;
    browser.wait_element("#confirmation").await;
    assert!(browser.text("#confirm-consequence").await.contains("cessera aussitôt de fonctionner"));
    let unchanged = sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash;
    assert_eq!(unchanged, before, "asking does nothing");
    browser.click("#confirm").await;
    browser.wait_element("#client-secret").await;
    assert!(browser.url().await.ends_with("/admin/applications/INOTACTE"), "read by GET");
    let after = sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash;
    assert_ne!(after, before);
    // Reloading shows the application, without the secret, and makes no other.
    browser.refresh().await;
    browser.wait_element("#new-secret-actes-web").await;
    assert!(!browser.has("#client-secret").await, "shown once");
    let reloaded = sesame::clients::find(&server.state.db, "actes-web").await.unwrap().unwrap().secret_hash;
    assert_eq!(reloaded, after);
    browser.quit().await;
}
