//! Pairwise subject identifiers (OIDC Core 8.1): one account, logged in once, is a
//! different `sub` at clients of different sectors and the same at clients of one
//! sector, the account id at a public client; every place a `sub` goes out (ID token,
//! access token, userinfo, introspection, refresh, back-channel logout token) says the
//! same value to one client, and a pairwise `id_token_hint` comes back in.

use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::Value;

use crate::harness::{Backend, SendJson, TestServer};
use crate::lifecycle::logout_receiver;
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    one_account_is_one_sub_per_sector,
    userinfo_introspection_and_refresh_agree_with_the_id_token,
    pairwise_id_token_hint_logs_in_silently_and_logs_out,
    backchannel_logout_token_carries_the_pairwise_sub,
    a_pairwise_client_needs_one_host_or_a_sector_identifier_uri,
    discovery_advertises_pairwise_subjects,
);

const SECRET: &str = "pairwise-secret-0123456789";

/// A first-party confidential client of INOTACTE with pairwise subjects.
async fn register(server: &TestServer, client_id: &str, redirect_uri: &str, sector: Option<&str>) {
    let input = sesame::clients::ClientInput {
        client_id: client_id.into(),
        application: Some("INOTACTE".into()),
        secret: Some(sesame::clients::SecretInput::Plain(SECRET.into())),
        redirect_uris: vec![redirect_uri.into()],
        post_logout_redirect_uris: vec![format!("{redirect_uri}/bye")],
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        first_party: true,
        subject_type: Some("pairwise".into()),
        sector_identifier_uri: sector.map(str::to_string),
        ..Default::default()
    };
    let state = &server.state;
    sesame::clients::upsert(&state.db, &state.client_secrets, input, server.clock_now()).await.unwrap();
}

/// The tokens of `client_id` for pauline, through the browser's session (logging in
/// if it has none).
async fn tokens_at(
    server: &TestServer,
    browser: &Browser,
    client_id: &str,
    secret: &str,
    redirect_uri: &str,
) -> (rp::Client, openidconnect::core::CoreTokenResponse) {
    let client = rp::client(server, client_id, Some(secret), redirect_uri).await;
    let request = rp::auth_request(&client, &[], &[]);
    let page = browser.authorize(server, &request.url, "pauline", "correct horse battery").await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("a code: {:?} {}", page.location, page.body));
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    rp::id_claims(&client, &tokens, &request.nonce);
    (client, tokens)
}

fn sub_of(tokens: &openidconnect::core::CoreTokenResponse) -> String {
    payload(&tokens.id_token().unwrap().to_string())["sub"].as_str().unwrap().to_string()
}

async fn pauline_id(server: &TestServer) -> String {
    sesame::accounts::find_by_username(&server.state.db, "pauline").await.unwrap().unwrap().id
}

async fn one_account_is_one_sub_per_sector(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(&server, "pw-a", "https://a.example/cb", None).await;
    register(&server, "pw-a-other", "https://a.example/elsewhere", None).await;
    register(&server, "pw-b", "https://b.example/cb", None).await;
    // Hosted at c.example, but declared of a.example's sector.
    register(&server, "pw-c-in-a", "https://c.example/cb", Some("https://a.example/sector.json")).await;
    let browser = Browser::new();
    let (_, public) =
        tokens_at(&server, &browser, "actes-web", "actes-web-secret-0123456789", "https://actes.example/callback")
            .await;
    let sub = |client_id: &'static str, redirect: &'static str| {
        let (server, browser) = (&server, &browser);
        async move { sub_of(&tokens_at(server, browser, client_id, SECRET, redirect).await.1) }
    };
    let a = sub("pw-a", "https://a.example/cb").await;
    let a_other = sub("pw-a-other", "https://a.example/elsewhere").await;
    let b = sub("pw-b", "https://b.example/cb").await;
    let c_in_a = sub("pw-c-in-a", "https://c.example/cb").await;

    let pauline = pauline_id(&server).await;
    assert_eq!(sub_of(&public), pauline, "a public client gets the account id");
    assert_ne!(a, pauline);
    assert_ne!(b, pauline);
    assert_ne!(a, b, "two sectors, two subjects");
    assert_eq!(a, a_other, "one host, one sector");
    assert_eq!(a, c_in_a, "the sector_identifier_uri's host is the sector");
    // Another login, later, gets the same value.
    let again = Browser::new();
    assert_eq!(sub_of(&tokens_at(&server, &again, "pw-a", SECRET, "https://a.example/cb").await.1), a);

    // Another node (or a restart) on the same database and master key derives the same.
    let second = TestServer::start_on(tempfile::tempdir().unwrap(), server.database_url.clone(), |_| {}, false).await;
    let (_, tokens) = tokens_at(&second, &Browser::new(), "pw-a", SECRET, "https://a.example/cb").await;
    assert_eq!(sub_of(&tokens), a, "stable across nodes");
    let client = sesame::clients::find(&second.state.db, "pw-b").await.unwrap().unwrap();
    assert_eq!(sesame::oidc::subject::for_client(&second.state.pairwise_key, &client, &pauline), b);
}

async fn introspect(server: &TestServer, client_id: &str, secret: &str, token: &str) -> Value {
    reqwest::Client::new()
        .post(server.url("/introspect"))
        .basic_auth(client_id, Some(secret))
        .form(&[("token", token)])
        .send_json()
        .await
}

async fn userinfo_introspection_and_refresh_agree_with_the_id_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(&server, "pw-a", "https://a.example/cb", None).await;
    let (client, tokens) = tokens_at(&server, &Browser::new(), "pw-a", SECRET, "https://a.example/cb").await;
    let sub = sub_of(&tokens);
    let pauline = pauline_id(&server).await;
    assert_ne!(sub, pauline);
    let access = tokens.access_token().secret();
    assert_eq!(payload(access)["sub"], sub, "the JWT access token, readable by the client, says the same");
    assert!(!access.contains(&pauline), "and does not give the account id away");

    let info: Value = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(access).send_json().await;
    assert_eq!(info["sub"], sub, "{info}");

    let body = introspect(&server, "pw-a", SECRET, access).await;
    assert_eq!((body["active"].as_bool(), body["sub"].as_str()), (Some(true), Some(sub.as_str())), "{body}");
    assert_eq!(body["username"], "pauline", "the account was found behind the pairwise sub");
    let refresh = tokens.refresh_token().expect("a refresh token").secret();
    let body = introspect(&server, "pw-a", SECRET, refresh).await;
    assert_eq!((body["active"].as_bool(), body["sub"].as_str()), (Some(true), Some(sub.as_str())), "{body}");

    let refreshed = client
        .exchange_refresh_token(tokens.refresh_token().unwrap())
        .unwrap()
        .request_async(&rp::http_client)
        .await
        .expect("refresh");
    assert_eq!(sub_of(&refreshed), sub, "the refresh grant's ID token");
    assert_eq!(payload(refreshed.access_token().secret())["sub"], sub);
    let info: Value = reqwest::Client::new()
        .get(server.url("/userinfo"))
        .bearer_auth(refreshed.access_token().secret())
        .send_json()
        .await;
    assert_eq!(info["sub"], sub);

    // Revocations by account still reach the pairwise tokens (they are kept by account id).
    sesame::revocations::revoke(
        &server.state.db,
        sesame::revocations::Scope::Account(&pauline),
        server.clock_now() + 3600,
    )
    .await
    .unwrap();
    let body = introspect(&server, "pw-a", SECRET, refreshed.access_token().secret()).await;
    assert_eq!(body["active"], false, "{body}");
}

async fn pairwise_id_token_hint_logs_in_silently_and_logs_out(backend: Backend) {
    let server = TestServer::start(backend).await;
    register(&server, "pw-a", "https://a.example/cb", None).await;
    let browser = Browser::new();
    let (client, tokens) = tokens_at(&server, &browser, "pw-a", SECRET, "https://a.example/cb").await;
    let id_token = tokens.id_token().unwrap().to_string();

    let request = rp::auth_request(&client, &[], &[("prompt", "none"), ("id_token_hint", &id_token)]);
    let page = browser.get(&request.url).await;
    assert!(page.location_param("code").is_some(), "the hinted user is logged in: {:?}", page.location);

    // Logged in as someone else, the hint does not match.
    let other = Browser::new();
    let emilie = rp::auth_request(&client, &[], &[]);
    other.authorize(&server, &emilie.url, "emilie", "blue river stone").await;
    let request = rp::auth_request(&client, &[], &[("prompt", "none"), ("id_token_hint", &id_token)]);
    let page = other.get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("login_required"));

    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", &id_token)
        .append_pair("post_logout_redirect_uri", "https://a.example/cb/bye");
    let page = browser.get(url.as_str()).await;
    assert!(page.body.contains("logged-out") || page.location.is_some(), "{:?} {}", page.location, page.body);
    let request = rp::auth_request(&client, &[], &[("prompt", "none")]);
    let page = browser.get(&request.url).await;
    assert_eq!(page.location_param("error").as_deref(), Some("login_required"), "the session ended");
}

async fn backchannel_logout_token_carries_the_pairwise_sub(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (uri, received) = logout_receiver().await;
    register(&server, "pw-a", "https://a.example/cb", None).await;
    let current = sesame::clients::find(&server.state.db, "pw-a").await.unwrap().unwrap();
    let input = sesame::clients::ClientInput {
        backchannel_logout_uri: Some(uri),
        ..sesame::clients::ClientInput::from_client(&current, Some("INOTACTE".into()))
    };
    sesame::clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
    let browser = Browser::new();
    let (_, tokens) = tokens_at(&server, &browser, "pw-a", SECRET, "https://a.example/cb").await;
    let sub = sub_of(&tokens);

    let mut url = url::Url::parse(&server.url("/logout")).unwrap();
    url.query_pairs_mut().append_pair("id_token_hint", &tokens.id_token().unwrap().to_string());
    let page = browser.get(url.as_str()).await;
    assert!(page.body.contains("logged-out"), "{}", page.body);

    let told = received.lock().unwrap().clone();
    assert_eq!(told.len(), 1, "the client is told over the back channel");
    let claims = payload(&told[0]);
    assert_eq!(claims["sub"], sub.as_str(), "{claims}");
    assert_eq!(claims["sid"], payload(&tokens.id_token().unwrap().to_string())["sid"]);
    // The audit keeps the account id.
    let pauline = pauline_id(&server).await;
    let events = sesame::audit::recent_for_account(&server.state.db, &pauline, 50).await.unwrap();
    assert!(events.iter().any(|e| e["event"] == "logout"), "recorded by account id: {events:?}");
}

async fn a_pairwise_client_needs_one_host_or_a_sector_identifier_uri(backend: Backend) {
    let server = TestServer::start(backend).await;
    let state = &server.state;
    let input = |redirects: &[&str], subject_type: &str, sector: Option<&str>| sesame::clients::ClientInput {
        client_id: "pw-x".into(),
        secret: Some(sesame::clients::SecretInput::Plain(SECRET.into())),
        redirect_uris: redirects.iter().map(|r| r.to_string()).collect(),
        subject_type: Some(subject_type.into()),
        sector_identifier_uri: sector.map(str::to_string),
        ..Default::default()
    };
    let refused = |input| async move {
        match sesame::clients::upsert(&state.db, &state.client_secrets, input, 0).await {
            Err(sesame::domain::DomainError::Invalid { field, message, .. }) => format!("{field}: {message}"),
            other => panic!("refused expected: {other:?}"),
        }
    };
    let two_hosts = ["https://a.example/cb", "https://b.example/cb"];
    let why = refused(input(&two_hosts, "pairwise", None)).await;
    assert!(why.starts_with("sector_identifier_uri:") && why.contains("one host"), "{why}");
    let why = refused(input(&two_hosts, "pairwise", Some("http://a.example/sector.json"))).await;
    assert!(why.starts_with("sector_identifier_uri:") && why.contains("https"), "{why}");
    let why = refused(input(&two_hosts, "secret", None)).await;
    assert!(why.starts_with("subject_type:"), "{why}");

    let (client, _) = sesame::clients::upsert(
        &state.db,
        &state.client_secrets,
        input(&two_hosts, "pairwise", Some("https://s.example/x")),
        0,
    )
    .await
    .unwrap();
    assert_eq!(client.sector().as_deref(), Some("s.example"));
    let (client, _) =
        sesame::clients::upsert(&state.db, &state.client_secrets, input(&two_hosts, "public", None), 0).await.unwrap();
    assert_eq!(client.sector(), None, "a public client may have many hosts");

    // The import file names them alike.
    let text = "[[clients]]\nclient_id = \"pw-imported\"\nsecret = \"pairwise-secret-0123456789\"\n\
                redirect_uris = [\"https://i.example/cb\"]\nsubject_type = \"pairwise\"\n\
                sector_identifier_uri = \"https://sector.example/uris.json\"\n";
    sesame::import::import_text(state, "pairwise.toml", text).await.unwrap();
    let imported = sesame::clients::find(&state.db, "pw-imported").await.unwrap().unwrap();
    assert_eq!(imported.subject_type, sesame::clients::SubjectType::Pairwise);
    assert_eq!(imported.sector_identifier_uri.as_deref(), Some("https://sector.example/uris.json"));
}

async fn discovery_advertises_pairwise_subjects(backend: Backend) {
    let server = TestServer::start(backend).await;
    let metadata: Value = reqwest::Client::new().get(server.url("/.well-known/openid-configuration")).send_json().await;
    assert_eq!(metadata["subject_types_supported"], serde_json::json!(["public", "pairwise"]));
}
