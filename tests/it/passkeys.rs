//! Passkeys over real HTTP, driven by a software authenticator written from the
//! specification (`passkey_authenticator`): the forced enrollment's passkey path, a
//! passkey as second factor, a sign-in by passkey alone, and what an attacker tries — a
//! page of another origin, a replayed answer, a copied authenticator (its counter), an
//! authenticator that does not verify its user, twenty answers at once — plus the
//! administrator's view and removal. The browser journey is in `browser.rs`.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::passkey_authenticator::SoftAuthenticator;
use crate::rp::{self, Browser, Page};
use crate::two_factor::{audit_count, mailed_code, set_two_factor};

const TWO_FACTOR: &str = "urn:sesame:loa:2fa";

/// A server whose issuer is `http://localhost:…` (browsers refuse IP addresses as
/// relying-party ids); every request of the test goes to that name.
async fn server_at_localhost(backend: Backend, adjust: impl FnOnce(&mut sesame::config::Config)) -> TestServer {
    let mut server = TestServer::start_with(backend, |c| {
        c.issuer = c.issuer.replace("127.0.0.1", "localhost");
        adjust(c);
    })
    .await;
    server.issuer = server.issuer.replace("127.0.0.1", "localhost");
    server
}

async fn follow(browser: &Browser, server: &TestServer, page: &Page) -> Page {
    let location = page.location.as_deref().unwrap_or_else(|| panic!("a redirect: {} {}", page.status, page.body));
    assert!(location.starts_with('/'), "stays in Sésame: {location}");
    browser.get(&server.url(location)).await
}

async fn post_form(browser: &Browser, server: &TestServer, page: &Page, path: &str, extra: &[(&str, &str)]) -> Page {
    let csrf = page.field("csrf_token").expect("csrf_token");
    let tx = page.field("tx").expect("tx");
    let mut form = vec![("csrf_token", csrf.as_str()), ("tx", tx.as_str())];
    form.extend_from_slice(extra);
    browser.post(&server.url(path), &form).await
}

/// `POST /login/passkey/options` for the login of `page`, as the page's script does.
async fn options(browser: &Browser, server: &TestServer, page: &Page) -> (u16, Value) {
    let body = json!({"tx": page.field("tx"), "csrf_token": page.field("csrf_token")});
    let response = browser.http.post(server.url("/login/passkey/options")).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn client(server: &TestServer) -> rp::Client {
    rp::client_at(&server.issuer, "actes-web", Some("actes-web-secret-0123456789"), "https://actes.example/callback")
        .await
}

/// The ID token's claims of a redirect to the client.
async fn claims_of(server: &TestServer, to_client: &Page, request: rp::AuthRequest) -> Value {
    assert_eq!(to_client.status, 303, "{}", to_client.body);
    let location = to_client.location.as_deref().unwrap_or_default();
    assert!(location.starts_with("https://actes.example/callback"), "to the client: {location}");
    let code = to_client.location_param("code").expect("code");
    let tokens = rp::exchange(&client(server).await, &code, request.verifier).await.expect("tokens");
    use openidconnect::TokenResponse;
    rp::payload(&tokens.id_token().expect("id token").to_string())
}

fn amr(claims: &Value) -> Vec<String> {
    claims["amr"].as_array().unwrap().iter().filter_map(|v| v.as_str().map(str::to_string)).collect()
}

/// Pauline must use two-factor; her first login enrolls a passkey by the short path
/// (confirmed by the mailed code). Returns her authenticator.
async fn enroll_passkey(server: &TestServer) -> SoftAuthenticator {
    set_two_factor(server, "pauline", true).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client(server).await, &["openid"], &[]);
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let intro = follow(&browser, server, &after_password).await;
    assert!(intro.body.contains("id=\"enroll-passkey\""), "the intro offers a passkey: {}", intro.body);
    let chosen = post_form(&browser, server, &intro, "/login/enroll/intro", &[("action", "passkey")]).await;
    assert_eq!(chosen.location.as_deref().map(|l| l.starts_with("/login/enroll/passkey")), Some(true));
    let page = follow(&browser, server, &chosen).await;
    assert!(page.body.contains("data-passkey=\"register\""), "{}", page.body);
    let (status, creation) = options(&browser, server, &page).await;
    assert_eq!(status, 200, "{creation}");
    assert_eq!(creation["publicKey"]["rp"]["id"], "localhost");
    assert_eq!(creation["publicKey"]["authenticatorSelection"]["userVerification"], "required");
    let mut authenticator = SoftAuthenticator::new(&server.issuer);
    let answer = authenticator.register(&creation).to_string();
    let made = post_form(
        &browser,
        server,
        &page,
        "/login/enroll/passkey",
        &[("credential", &answer), ("name", "PC du bureau")],
    )
    .await;
    assert_eq!(made.location.as_deref().map(|l| l.starts_with("/login/enroll/email")), Some(true), "{}", made.body);
    let email_page = follow(&browser, server, &made).await;
    let code = mailed_code(server, "pauline@etude.example");
    let done = post_form(&browser, server, &email_page, "/login/enroll/email", &[("code", &code)]).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let to_client = post_form(&browser, server, &done, "/login/enroll/done", &[]).await;
    let claims = claims_of(server, &to_client, request).await;
    assert_eq!(claims["acr"], TWO_FACTOR);
    assert!(amr(&claims).contains(&"mfa".to_string()), "{claims}");
    assert_eq!(audit_count(server, "second_factor.enrolled").await, 1);
    let pauline = sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap();
    let factors = sesame::second_factor::factors_of(&server.state.db, &pauline.id).await.unwrap();
    assert_eq!(factors.len(), 1, "{factors:?}");
    authenticator
}

/// A new login of pauline (`prompt=login`: the browser may hold a session) up to the
/// verification page, which offers her passkey first.
async fn to_verification(server: &TestServer, browser: &Browser, extra: &[(&str, &str)]) -> (Page, rp::AuthRequest) {
    let mut extra = extra.to_vec();
    extra.push(("prompt", "login"));
    let request = rp::auth_request(&client(server).await, &["openid"], &extra);
    let after_password = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let at = after_password.location.as_deref();
    assert!(at.is_some_and(|l| l.starts_with("/login/verify")), "{at:?} {}", after_password.body);
    let page = follow(browser, server, &after_password).await;
    assert!(page.body.contains("data-passkey=\"authenticate\""), "the passkey comes first: {}", page.body);
    (page, request)
}

async fn verify_with(browser: &Browser, server: &TestServer, page: &Page, answer: &Value) -> Page {
    let answer = answer.to_string();
    post_form(browser, server, page, "/login/verify", &[("method", "webauthn"), ("credential", &answer)]).await
}

async fn passkey_enrolled_then_second_factor(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    let mut authenticator = enroll_passkey(&server).await;
    let browser = Browser::new();
    let (page, request) = to_verification(&server, &browser, &[("acr_values", "urn:sesame:loa:2fa-strong")]).await;
    let (status, request_options) = options(&browser, &server, &page).await;
    assert_eq!(status, 200, "{request_options}");
    assert_eq!(request_options["publicKey"]["allowCredentials"].as_array().map(Vec::len), Some(1));
    let answer = authenticator.authenticate(&request_options);
    let to_client = verify_with(&browser, &server, &page, &answer).await;
    let claims = claims_of(&server, &to_client, request).await;
    assert_eq!(amr(&claims), ["pwd", "hwk", "mfa"], "{claims}");
    assert_eq!(claims["acr"], "urn:sesame:loa:2fa-strong", "a passkey is strong: {claims}");
    assert_eq!(audit_count(&server, "second_factor.passkey_used").await, 1);

    // The same answer again, in a new login: its ceremony is gone.
    let (page, _) = to_verification(&server, &browser, &[]).await;
    let (status, _) = options(&browser, &server, &page).await;
    assert_eq!(status, 200);
    let replayed = verify_with(&browser, &server, &page, &answer).await;
    assert_eq!(replayed.status, 401, "a replayed answer is refused: {}", replayed.body);
    assert!(replayed.body.contains("id=\"verify-error\""));

    // A page of another origin (a phishing site relaying the challenge).
    let (status, request_options) = options(&browser, &server, &page).await;
    assert_eq!(status, 200);
    let mut phished = authenticator.clone();
    phished.origin = "https://sesame.attacker.example".into();
    let refused = verify_with(&browser, &server, &page, &phished.authenticate(&request_options)).await;
    assert_eq!(refused.status, 401, "another origin is refused: {}", refused.body);

    // An authenticator that signs without checking its user.
    let (_, request_options) = options(&browser, &server, &page).await;
    let mut careless = authenticator.clone();
    careless.verifies_user = false;
    let refused = verify_with(&browser, &server, &page, &careless.authenticate(&request_options)).await;
    assert_eq!(refused.status, 401, "user verification is required: {}", refused.body);
    assert!(audit_count(&server, "second_factor.failure").await >= 3);

    // The rightful authenticator still works after all that.
    let (_, request_options) = options(&browser, &server, &page).await;
    let to_client = verify_with(&browser, &server, &page, &authenticator.authenticate(&request_options)).await;
    assert_eq!(to_client.status, 303, "{}", to_client.body);
}

async fn a_copied_authenticator_is_caught_by_its_counter(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    let mut original = enroll_passkey(&server).await;
    let mut copy = original.clone();
    let browser = Browser::new();
    let (page, _) = to_verification(&server, &browser, &[]).await;
    let (_, request_options) = options(&browser, &server, &page).await;
    assert_eq!(verify_with(&browser, &server, &page, &original.authenticate(&request_options)).await.status, 303);
    // The copy signs with the counter the original already used.
    let (page, _) = to_verification(&server, &browser, &[]).await;
    let (_, request_options) = options(&browser, &server, &page).await;
    let refused = verify_with(&browser, &server, &page, &copy.authenticate(&request_options)).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert_eq!(audit_count(&server, "second_factor.passkey_counter_went_back").await, 1);

    // Two copies answering at once, for two logins, with the same counter: one wins.
    let mut logins = Vec::new();
    for _ in 0..2 {
        let browser = Browser::new();
        let (page, _) = to_verification(&server, &browser, &[]).await;
        let (_, request_options) = options(&browser, &server, &page).await;
        logins.push((browser, page, request_options));
    }
    original.counter += 5;
    let mut twin = original.clone();
    let first = original.authenticate(&logins[0].2);
    let second = twin.authenticate(&logins[1].2);
    let (a, b) = tokio::join!(
        verify_with(&logins[0].0, &server, &logins[0].1, &first),
        verify_with(&logins[1].0, &server, &logins[1].1, &second)
    );
    let wins = [a.status, b.status].iter().filter(|s| s.as_u16() == 303).count();
    assert_eq!(wins, 1, "one signature per counter value: {} {}", a.status, b.status);
}

async fn a_passkey_alone_signs_in(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    let mut authenticator = enroll_passkey(&server).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[("acr_values", TWO_FACTOR)]);
    let to_login = browser.get(&request.url).await;
    let login = follow(&browser, &server, &to_login).await;
    assert!(login.body.contains("autocomplete=\"username webauthn\""), "autofill offers passkeys: {}", login.body);
    assert!(login.body.contains("data-passkey=\"discover\""));
    // Another site's page cannot start a ceremony for this browser: the token is its own.
    let forged = json!({"tx": login.field("tx"), "csrf_token": "forged"});
    let response = browser.http.post(server.url("/login/passkey/options")).json(&forged).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_csrf_token");
    let (status, discovery) = options(&browser, &server, &login).await;
    assert_eq!(status, 200, "{discovery}");
    assert_eq!(discovery["publicKey"]["allowCredentials"].as_array().map(Vec::len).unwrap_or(0), 0, "names nobody");
    let answer = authenticator.authenticate(&discovery).to_string();
    let to_client =
        post_form(&browser, &server, &login, "/login", &[("method", "webauthn"), ("credential", &answer)]).await;
    let claims = claims_of(&server, &to_client, request).await;
    assert_eq!(amr(&claims), ["hwk", "user", "mfa"], "{claims}");
    assert_eq!(claims["acr"], TWO_FACTOR);

    // Twenty copies of one answer at once, on one login: one ceremony, one sign-in.
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[]);
    let login = follow(&browser, &server, &browser.get(&request.url).await).await;
    let (_, discovery) = options(&browser, &server, &login).await;
    let answer = authenticator.authenticate(&discovery).to_string();
    let (csrf, tx) = (login.field("csrf_token").unwrap(), login.field("tx").unwrap());
    let attempts: Vec<_> = (0..20)
        .map(|_| {
            let (browser, url) = (browser.clone(), server.url("/login"));
            let form = [
                ("csrf_token", csrf.clone()),
                ("tx", tx.clone()),
                ("method", "webauthn".into()),
                ("credential", answer.clone()),
            ];
            tokio::spawn(async move {
                let response = browser.http.post(url).form(&form).send().await.unwrap();
                let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
                (response.status(), location)
            })
        })
        .collect();
    let mut pages = Vec::new();
    for attempt in attempts {
        pages.push(attempt.await.unwrap());
    }
    let codes = pages.iter().filter(|(_, location)| location.as_deref().is_some_and(|l| l.contains("code="))).count();
    assert_eq!(codes, 1, "one sign-in: {pages:?}");
    assert!(pages.iter().all(|(status, _)| status.as_u16() < 500), "no server error: {pages:?}");

    // A passkey nobody registered.
    let browser = Browser::new();
    let login = follow(&browser, &server, &browser.get(&request.url).await).await;
    let (_, discovery) = options(&browser, &server, &login).await;
    let mut stranger = SoftAuthenticator::new(&server.issuer);
    stranger.user_handle = Some("AAAAAAAAAAAAAAAAAAAAAA".into());
    let answer = stranger.authenticate(&discovery).to_string();
    let refused =
        post_form(&browser, &server, &login, "/login", &[("method", "webauthn"), ("credential", &answer)]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    // Garbage in the field: a readable refusal, not a server error.
    let refused = post_form(&browser, &server, &login, "/login", &[("method", "webauthn"), ("credential", "{]")]).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
}

async fn password_less_can_be_turned_off(backend: Backend) {
    let server = server_at_localhost(backend, |c| c.passkeys.passwordless = false).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[]);
    let login = follow(&browser, &server, &browser.get(&request.url).await).await;
    assert!(!login.body.contains("webauthn"), "no passkey on the login page: {}", login.body);
    let (status, body) = options(&browser, &server, &login).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"], "passkeys_unavailable");
    // On an IP-address issuer, passkeys are off altogether (browsers refuse them there).
    let on_ip = TestServer::start(Backend::Sqlite).await;
    assert!(!on_ip.state.passkeys.available());
}

async fn administrators_see_and_remove_passkeys(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    enroll_passkey(&server).await;
    let api = crate::admin_api::api(&server).await;
    let (status, account) = api.call(Method::GET, "/accounts/pauline", None).await;
    assert_eq!(status, 200, "{account}");
    let factors = account["second_factors"].as_array().expect("second_factors").clone();
    let passkey = factors.iter().find(|f| f["method"] == "webauthn").expect("the passkey is listed");
    assert_eq!(passkey["label"], "PC du bureau");
    assert!(passkey["created_at"].is_i64());
    let id = passkey["id"].as_str().unwrap().to_string();
    let (status, body) = api.call(Method::DELETE, "/accounts/pauline/second-factors/unknown", None).await;
    assert_eq!(status, 404, "{body}");
    let (status, body) = api.call(Method::DELETE, &format!("/accounts/pauline/second-factors/{id}"), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["second_factors"].as_array().map(Vec::len), Some(0));
    assert_eq!(audit_count(&server, "admin.account.second_factor_removed").await, 1);
    // Her last one: two-factor is required, so her next login enrolls anew.
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(after_password.location.as_deref().map(|l| l.starts_with("/login/enroll/intro")), Some(true));
}

/// Without a mailed confirmation (no address), the enrollment offers no passkey: one
/// made by a password thief would sign in without the password, even after the owner
/// changed it. A synchronised passkey says `swk`; options asked twice keep one ceremony.
async fn the_passkey_path_needs_the_mailed_confirmation(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    let state = &server.state;
    let account = sesame::accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    let input = sesame::accounts::AccountInput {
        email: None,
        two_factor_required: true,
        ..sesame::accounts::AccountInput::unchanged(&account)
    };
    sesame::accounts::upsert(&state.db, &state.passwords, input, server.clock_now()).await.unwrap();
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let intro = follow(&browser, &server, &after_password).await;
    assert_eq!(intro.status, 200, "{}", intro.body);
    assert!(!intro.body.contains("id=\"enroll-passkey\""), "no passkey path: {}", intro.body);
    let forced = post_form(&browser, &server, &intro, "/login/enroll/intro", &[("action", "passkey")]).await;
    assert_eq!(forced.location.as_deref().map(|l| l.starts_with("/login/enroll/install")), Some(true));
}

async fn a_synchronised_passkey_says_so(backend: Backend) {
    let server = server_at_localhost(backend, |_| {}).await;
    set_two_factor(&server, "pauline", true).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client(&server).await, &["openid"], &[]);
    let after_password = browser.authorize(&server, &request.url, "pauline", "correct horse battery").await;
    let intro = follow(&browser, &server, &after_password).await;
    let page = follow(
        &browser,
        &server,
        &post_form(&browser, &server, &intro, "/login/enroll/intro", &[("action", "passkey")]).await,
    )
    .await;
    // Options asked twice: the second ceremony replaces the first.
    let (_, first) = options(&browser, &server, &page).await;
    let (_, creation) = options(&browser, &server, &page).await;
    use sea_orm::{EntityTrait, PaginatorTrait};
    let rows = sesame::storage::entities::passkey_ceremony::Entity::find().count(&server.state.db).await.unwrap();
    assert_eq!(rows, 1, "one ceremony per login");
    let mut stale = SoftAuthenticator::new(&server.issuer);
    let refused = post_form(
        &browser,
        &server,
        &page,
        "/login/enroll/passkey",
        &[("credential", &stale.register(&first).to_string())],
    )
    .await;
    assert_eq!(refused.status, 400, "the replaced ceremony is gone: {}", refused.body);
    let mut synced = SoftAuthenticator::new(&server.issuer);
    synced.backup_eligible = true;
    synced.counts = false;
    let made = post_form(
        &browser,
        &server,
        &page,
        "/login/enroll/passkey",
        &[("credential", &synced.register(&creation).to_string())],
    )
    .await;
    let email_page = follow(&browser, &server, &made).await;
    let code = mailed_code(&server, "pauline@etude.example");
    let done = post_form(&browser, &server, &email_page, "/login/enroll/email", &[("code", &code)]).await;
    let to_client = post_form(&browser, &server, &done, "/login/enroll/done", &[]).await;
    let claims = claims_of(&server, &to_client, request).await;
    assert_eq!(amr(&claims), ["pwd", "swk", "mfa"], "{claims}");
    // A passkey that does not count (always 0) signs again and again.
    for _ in 0..2 {
        let (page, _) = to_verification(&server, &browser, &[]).await;
        let (_, request_options) = options(&browser, &server, &page).await;
        let to_client = verify_with(&browser, &server, &page, &synced.authenticate(&request_options)).await;
        assert_eq!(to_client.status, 303, "{}", to_client.body);
    }
}

/// The owner removes one of two passkeys while an administrator removes the other, at
/// the same moment, twenty times over: never an account that requires two-factor left
/// with none and its enrollment closed.
async fn two_removals_at_once_keep_the_rule(backend: Backend) {
    use sesame::second_factor::{self, Removal, Remover};
    let server = server_at_localhost(backend, |_| {}).await;
    enroll_passkey(&server).await;
    let state = server.state.clone();
    let pauline = sesame::accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
    for round in 0..20 {
        // Two confirmed factors: what is left, topped up with authenticator apps.
        let factors = second_factor::factors_of(&state.db, &pauline.id).await.unwrap();
        let mut ids: Vec<String> = factors.iter().map(|f| f.id.clone()).collect();
        while ids.len() < 2 {
            let id = sesame::second_factor::totp::begin(
                &state.db,
                &state.secrets,
                &pauline.id,
                "app",
                None,
                server.clock_now(),
            )
            .await
            .unwrap();
            sesame::second_factor::totp::activate(&state.db, &pauline.id, &id, server.clock_now()).await.unwrap();
            ids.push(id);
        }
        // One time for both removals and the check (the clock may turn a second meanwhile).
        let now = server.clock_now();
        let (owner, admin) = tokio::join!(
            second_factor::remove(&state.db, &pauline, &ids[0], Remover::Owner, now),
            second_factor::remove(&state.db, &pauline, &ids[1], Remover::Administrator, now),
        );
        let (owner, admin) = (owner.unwrap(), admin.unwrap());
        let left = second_factor::factors_of(&state.db, &pauline.id).await.unwrap().len();
        let account = sesame::accounts::find_by_username(&state.db, "pauline").await.unwrap().unwrap();
        match (owner, admin) {
            // The administrator went first: the owner's became the last, and stays.
            (Removal::LastKept, Removal::Removed(_)) => assert_eq!(left, 1, "round {round}"),
            // The owner went first; then the administrator removed the last one and
            // reopened the enrollment.
            (Removal::Removed(_), Removal::Removed(_)) => {
                assert_eq!(left, 0, "round {round}");
                assert_eq!(account.enrollment_opened_at, Some(now), "round {round}");
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

on_every_backend!(
    two_removals_at_once_keep_the_rule,
    the_passkey_path_needs_the_mailed_confirmation,
    a_synchronised_passkey_says_so,
    passkey_enrolled_then_second_factor,
    a_copied_authenticator_is_caught_by_its_counter,
    a_passkey_alone_signs_in,
    password_less_can_be_turned_off,
    administrators_see_and_remove_passkeys,
);
