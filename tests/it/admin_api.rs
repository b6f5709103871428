//! The administration API as a program uses it: authorisation, every operation, and
//! the errors (code and field) for what it must refuse.

use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser};

on_every_backend!(
    only_account_administrators_get_in,
    accounts_are_created_searched_changed_and_archived,
    account_errors_name_their_field,
    passwords_are_reset,
    applications_and_clients,
    changes_are_audited_without_secrets,
    the_openapi_document_covers_every_route,
);

/// An access token of `username` through `client_id` (a real code flow).
pub async fn token_of(
    server: &TestServer,
    client_id: &str,
    secret: &str,
    redirect: &str,
    username: &str,
    password: &str,
    scopes: &[&str],
) -> String {
    let client = rp::client(server, client_id, Some(secret), redirect).await;
    let browser = Browser::new();
    let request = rp::auth_request(&client, scopes, &[]);
    let page = browser.authorize(server, &request.url, username, password).await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("no code: {} {}", page.status, page.body));
    let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
    openidconnect::OAuth2TokenResponse::access_token(&tokens).secret().clone()
}

pub async fn admin_token(server: &TestServer) -> String {
    token_of(
        server,
        "admin-tool",
        "admin-tool-secret-0123456789",
        "https://admin.example/callback",
        "sonia",
        "orange tulip garden",
        &["sesame:admin"],
    )
    .await
}

pub struct Api<'a> {
    pub server: &'a TestServer,
    pub token: String,
}

impl Api<'_> {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = reqwest::Client::new()
            .request(method, self.server.url(&format!("/admin/api/v1{path}")))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
    }
}

pub async fn api(server: &TestServer) -> Api<'_> {
    Api { server, token: admin_token(server).await }
}

async fn only_account_administrators_get_in(backend: Backend) {
    let server = TestServer::start(backend).await;
    let anonymous = reqwest::Client::new().get(server.url("/admin/api/v1/accounts")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(anonymous.headers().contains_key("www-authenticate"));
    assert_eq!(anonymous.json::<Value>().await.unwrap()["error"]["code"], "unauthorized");

    let not_admin = token_of(
        &server,
        "admin-tool",
        "admin-tool-secret-0123456789",
        "https://admin.example/callback",
        "pauline",
        "correct horse battery",
        &["sesame:admin"],
    )
    .await;
    let (status, body) = Api { server: &server, token: not_admin }.call(Method::GET, "/accounts", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("forbidden")), "pauline is no administrator");

    let wrong_client = token_of(
        &server,
        "actes-web",
        "actes-web-secret-0123456789",
        "https://actes.example/callback",
        "sonia",
        "orange tulip garden",
        &["sesame:admin"],
    )
    .await;
    let (status, _) = Api { server: &server, token: wrong_client }.call(Method::GET, "/accounts", None).await;
    assert_eq!(status, 403, "a token of an office application does not open the admin API");

    let (status, body) = api(&server).await.call(Method::GET, "/accounts", None).await;
    assert_eq!(status, 200, "{body}");
}

async fn accounts_are_created_searched_changed_and_archived(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let created = json!({
        "username": "Nadia", "password": "quiet library lamp", "first_name": "Nadia", "last_name": "Belkacem",
        "initials": "NB", "email": "nadia@etude.example", "phone": "06 11 22 33 44",
        "access": [{"application": "INOTACTE", "initials": "NB", "rights": ["actes.lecture", "actes.signature"], "options": {"etude": "Lyon"}}]
    });
    let (status, body) = api.call(Method::POST, "/accounts", Some(created)).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["phone"], "+33611223344");
    assert_eq!(body["access"][0]["rights"], json!(["actes.lecture", "actes.signature"]));
    assert!(body.get("password_hash").is_none() && body.get("password").is_none());

    // She logs in to INOTACTE and her token carries the rights just given.
    let token = token_of(
        &server,
        "actes-web",
        "actes-web-secret-0123456789",
        "https://actes.example/callback",
        "nadia",
        "quiet library lamp",
        &[],
    )
    .await;
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["rights"], json!(["actes.lecture", "actes.signature"]));

    let (_, page) = api.call(Method::GET, "/accounts?q=BELK", None).await;
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["username"], "Nadia");
    let (_, page) = api.call(Method::GET, "/accounts?state=all&per_page=2&page=2", None).await;
    assert_eq!((page["total"].as_u64(), page["items"].as_array().unwrap().len()), (Some(5), 2), "{page}");
    let (_, archived) = api.call(Method::GET, "/accounts?state=archived", None).await;
    assert_eq!(archived["items"][0]["username"], "archived");
    let (_, percent) = api.call(Method::GET, "/accounts?q=%25", None).await;
    assert_eq!(percent["total"], 0, "% is searched for, not a wildcard");

    let update =
        json!({"first_name": "Nadia", "last_name": "Belkacem-Roux", "initials": "NBR", "email": "nadia@etude.example"});
    let (status, body) = api.call(Method::PUT, "/accounts/NADIA", Some(update)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["last_name"], "Belkacem-Roux");
    assert_eq!(body["phone"], "+33611223344", "only the fields named change: the phone stays");
    assert_eq!(body["access"][0]["application"], "INOTACTE", "access left out stays");

    let (status, body) = api.call(Method::POST, "/accounts/nadia/archive", None).await;
    assert_eq!((status, body["archived"].as_bool()), (200, Some(true)));
    let refused = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(refused.status(), 401, "archiving ends her tokens");
    let (status, body) = api.call(Method::POST, "/accounts/nadia/restore", None).await;
    assert_eq!((status, body["archived"].as_bool()), (200, Some(false)));
    let (status, body) = api.call(Method::POST, "/accounts/sonia/archive", None).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("archived")), "not oneself");
}

async fn account_errors_name_their_field(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let base = || json!({"username": "newcomer", "password": "quiet library lamp"});
    let with = |key: &str, value: Value| {
        let mut body = base();
        body[key] = value;
        body
    };
    for (body, status, code, field) in [
        (with("email", json!("PAULINE@etude.example")), 409, "conflict", "email"),
        (with("phone", json!("+33 6 12 34 56 78")), 409, "conflict", "phone"),
        (with("username", json!("PAULINE")), 409, "conflict", "username"),
        (with("email", json!("not-an-email")), 422, "invalid", "email"),
        (with("phone", json!("12")), 422, "invalid", "phone"),
        (with("username", json!("has space")), 422, "invalid", "username"),
        (with("password", json!("short")), 422, "invalid", "password"),
        (
            with("access", json!([{"application": "INOTACTE", "rights": ["compta.lecture"]}])),
            422,
            "invalid",
            "access.INOTACTE.rights",
        ),
        (with("access", json!([{"application": "NOPE"}])), 422, "invalid", "access.NOPE"),
        (
            with("access", json!([{"application": "INOTACTE"}, {"application": "INOTACTE", "allowed": false}])),
            422,
            "invalid",
            "access.INOTACTE",
        ),
        (
            with("access", json!([{"application": "INOTACTE", "options": {"etude": true}}])),
            422,
            "invalid",
            "access.INOTACTE.options.etude",
        ),
    ] {
        let (got, answer) = api.call(Method::POST, "/accounts", Some(body.clone())).await;
        assert_eq!(got, status, "{body} → {answer}");
        assert_eq!(answer["error"]["code"], code, "{answer}");
        assert_eq!(answer["error"]["field"], field, "{answer}");
    }
    let (_, answer) = api.call(Method::POST, "/accounts", Some(with("email", json!("nope")))).await;
    assert_eq!(answer["error"]["reason"], "email_format", "a stable code of the broken rule");
    let (status, answer) = api.call(Method::POST, "/accounts", Some(json!({"username": "x", "pasword": "y"}))).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (400, Some("bad_request")), "unknown field");
    assert!(answer["error"]["message"].as_str().unwrap().contains("pasword"));
    let (status, _) = api.call(Method::POST, "/accounts", Some(json!({"password": "quiet library lamp"}))).await;
    assert_eq!(status, 422, "no username");
    let raw = reqwest::Client::new()
        .post(server.url("/admin/api/v1/accounts"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let (status, answer) = api.call(Method::GET, "/accounts/nobody", None).await;
    assert_eq!((status, answer["error"]["code"].as_str()), (404, Some("not_found")));
    let (status, answer) = api.call(Method::PUT, "/accounts/pauline", Some(json!({"username": "paula"}))).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("username")));
    let (_, page) = api.call(Method::GET, "/accounts?q=newcomer&state=all", None).await;
    assert_eq!(page["total"], 0, "nothing refused was written");
}

async fn passwords_are_reset(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let (status, body) = api.call(Method::POST, "/accounts/emilie/password", None).await;
    assert_eq!(status, 200);
    let temporary = body["temporary_password"].as_str().unwrap().to_string();
    assert_eq!(temporary.len(), 19);
    token_of(
        &server,
        "actes-web",
        "actes-web-secret-0123456789",
        "https://actes.example/callback",
        "emilie",
        &temporary,
        &[],
    )
    .await;
    let (status, body) =
        api.call(Method::POST, "/accounts/emilie/password", Some(json!({"password": "azerty123456"}))).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("password")));
    let (status, _) =
        api.call(Method::POST, "/accounts/emilie/password", Some(json!({"password": "new garden path 9"}))).await;
    assert_eq!(status, 200);
}

async fn applications_and_clients(backend: Backend) {
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let (_, apps) = api.call(Method::GET, "/applications", None).await;
    let actes = apps["items"].as_array().unwrap().iter().find(|a| a["code"] == "INOTACTE").unwrap().clone();
    assert!(actes["clients"].as_array().unwrap().iter().any(|c| c["client_id"] == "actes-web"));
    assert!(actes.to_string().contains("actes.lecture"));
    assert!(!actes.to_string().contains("hmac-sha256"), "no secret hash in answers");

    let catalogue = json!({"name": "iNot Paie", "rights": [{"code": "paie.lecture", "label": "Consulter la paie"}],
        "options": [{"key": "plafond", "type": "integer", "label": "Plafond", "default": 0}]});
    let (status, body) = api.call(Method::PUT, "/applications/INOTPAIE", Some(catalogue)).await;
    assert_eq!((status, body["code"].as_str()), (200, Some("INOTPAIE")), "{body}");
    let bad = json!({"name": "x", "options": [{"key": "plafond", "type": "integer", "label": "P", "default": "zero"}]});
    let (status, body) = api.call(Method::PUT, "/applications/INOTPAIE", Some(bad)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("options")));

    let client = json!({"client_id": "paie-batch", "application": "INOTPAIE", "redirect_uris": ["https://paie.example/cb"],
        "grant_types": ["client_credentials"], "scopes": ["paie.api"]});
    let (status, created) = api.call(Method::POST, "/clients", Some(client.clone())).await;
    assert_eq!(status, 201, "{created}");
    let secret = created["client_secret"].as_str().expect("the secret, once").to_string();
    let (_, shown) = api.call(Method::GET, "/clients/paie-batch", None).await;
    assert!(shown.get("client_secret").is_none() && shown["has_secret"] == true);
    let (status, body) = api.call(Method::POST, "/clients", Some(client)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (409, Some("client_id")));
    let bad = json!({"client_id": "broken", "redirect_uris": ["not a uri"]});
    let (status, body) = api.call(Method::POST, "/clients", Some(bad)).await;
    assert_eq!((status, body["error"]["field"].as_str()), (422, Some("redirect_uris")));

    let cc = |secret: String| {
        let server = &server;
        async move {
            reqwest::Client::new()
                .post(server.url("/token"))
                .basic_auth("paie-batch", Some(secret))
                .form(&[("grant_type", "client_credentials")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(cc(secret.clone()).await, 200, "the generated secret works");
    let (status, rotated) = api.call(Method::POST, "/clients/paie-batch/secret", None).await;
    assert_eq!(status, 200);
    assert_eq!(cc(secret).await, 401, "the old secret stops at once on this node");
    assert_eq!(cc(rotated["client_secret"].as_str().unwrap().to_string()).await, 200);

    let update = json!({"application": "INOTPAIE", "name": "Paie batch", "redirect_uris": ["https://paie.example/cb2"],
        "grant_types": ["client_credentials"], "scopes": ["paie.api"]});
    let (status, body) = api.call(Method::PUT, "/clients/paie-batch", Some(update)).await;
    assert_eq!((status, body["redirect_uris"][0].as_str()), (200, Some("https://paie.example/cb2")), "{body}");
}

async fn changes_are_audited_without_secrets(backend: Backend) {
    use sea_orm::{EntityTrait, QueryOrder};
    use sesame::storage::entities::audit_event;
    let server = TestServer::start(backend).await;
    let api = api(&server).await;
    let (status, _) = api
        .call(
            Method::POST,
            "/accounts",
            Some(json!({"username": "audited", "password": "quiet library lamp", "email": "a@etude.example"})),
        )
        .await;
    assert_eq!(status, 201);
    api.call(Method::PUT, "/accounts/audited", Some(json!({"first_name": "Au", "email": "a@etude.example"}))).await;
    let events = audit_event::Entity::find().order_by_asc(audit_event::Column::Id).all(&server.state.db).await.unwrap();
    let created = events.iter().find(|e| e.event == "admin.account.created").expect("creation audited");
    let detail: Value = serde_json::from_str(&created.detail).unwrap();
    let sonia = sesame::accounts::find_by_username(&server.state.db, "sonia").await.unwrap().unwrap();
    assert_eq!(detail["by"], sonia.id.as_str(), "who");
    assert_eq!(detail["after"]["username"], "audited", "what");
    assert!(created.at > 0, "when");
    let updated = events.iter().find(|e| e.event == "admin.account.updated").expect("change audited");
    let detail: Value = serde_json::from_str(&updated.detail).unwrap();
    assert_eq!(
        (detail["before"]["first_name"].as_str(), detail["after"]["first_name"].as_str()),
        (Some(""), Some("Au"))
    );
    for event in &events {
        assert!(!event.detail.contains("argon2") && !event.detail.contains("quiet library lamp"), "{}", event.detail);
    }
}

async fn the_openapi_document_covers_every_route(backend: Backend) {
    let server = TestServer::start(backend).await;
    let document: Value = reqwest::get(server.url("/admin/api/v1/openapi.json")).await.unwrap().json().await.unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/accounts", &["get", "post"][..]),
        ("/accounts/{username}", &["get", "put", "patch"]),
        ("/accounts/{username}/lock", &["post"]),
        ("/accounts/{username}/unlock", &["post"]),
        ("/accounts/{username}/archive", &["post"]),
        ("/accounts/{username}/restore", &["post"]),
        ("/accounts/{username}/password", &["post"]),
        ("/applications", &["get"]),
        ("/applications/{code}", &["get", "put"]),
        ("/clients", &["get", "post"]),
        ("/clients/{client_id}", &["get", "put"]),
        ("/clients/{client_id}/secret", &["post"]),
        ("/initial-access-tokens", &["get", "post"]),
        ("/initial-access-tokens/{id}", &["delete"]),
    ] {
        for method in methods {
            assert!(paths[path].get(*method).is_some(), "{method} {path} is documented");
        }
    }
}
