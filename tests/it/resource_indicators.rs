//! Resource indicators (RFC 8707): actes-api registers its API as a resource; actes-web
//! names it in its authorization request and gets access tokens whose `aud` is that API,
//! which actes-api (and actes-web) may introspect and no other resource server; a
//! service names a resource at client_credentials; a refresh keeps the grant's resource
//! and never takes another; what is not a resource the client may ask for is
//! `invalid_target`; and without `resource` nothing changes.

use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::api;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};
use sesame::clients::{self, ClientInput};

on_every_backend!(
    code_flow_with_a_resource,
    client_credentials_with_a_resource,
    refresh_keeps_the_resource_and_takes_no_other,
    unknown_resources_are_invalid_target,
    without_a_resource_nothing_changes,
    resources_are_registered_checked,
);

const ACTES_SECRET: &str = "actes-web-secret-0123456789";
const API_SECRET: &str = "actes-api-secret-0123456789";
const ARCHIVE_SECRET: &str = "actes-archive-secret-0123456789";
const COMPTA_SECRET: &str = "compta-api-secret-0123456789";
/// actes-api's API.
const ACTES_API: &str = "https://api.actes.example/v1";
/// Another resource server of the same application (INOTACTE).
const ARCHIVE_API: &str = "https://archive.actes.example/";
/// A resource server of another application (INOTCOMPTABILITE).
const COMPTA_API: &str = "https://api.compta.example/";

/// actes-api serves ACTES_API; actes-archive (INOTACTE) serves ARCHIVE_API; compta-api
/// (INOTCOMPTABILITE) serves COMPTA_API. Registered before any request, so that no
/// node caches the clients as they were.
async fn register_resources(server: &TestServer) {
    let current = clients::find(&server.state.db, "actes-api").await.unwrap().unwrap();
    let input =
        ClientInput { resource: Some(ACTES_API.into()), ..ClientInput::from_client(&current, Some("INOTACTE".into())) };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
    let text = format!(
        "[[clients]]\nclient_id = \"actes-archive\"\napplication = \"INOTACTE\"\nsecret = \"{ARCHIVE_SECRET}\"\n\
         grant_types = [\"client_credentials\"]\nscopes = [\"archive.read\"]\nresource = \"{ARCHIVE_API}\"\n\n\
         [[clients]]\nclient_id = \"compta-api\"\napplication = \"INOTCOMPTABILITE\"\nsecret = \"{COMPTA_SECRET}\"\n\
         grant_types = [\"client_credentials\"]\nscopes = [\"compta.api\"]\nresource = \"{COMPTA_API}\"\n"
    );
    sesame::import::import_text(&server.state, "resources.toml", &text).await.expect("resource servers imported");
}

async fn post(server: &TestServer, path: &str, client_id: &str, secret: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(server.url(path))
        .basic_auth(client_id, Some(secret))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn introspect(server: &TestServer, client_id: &str, secret: &str, token: &str) -> Value {
    let (status, body) = post(server, "/introspect", client_id, secret, &[("token", token)]).await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Pauline's authorization at actes-web, with these extra parameters (`scope` is
/// `openid` and these scopes): the redirect.
async fn authorize(server: &TestServer, scopes: &[&str], extra: &[(&str, &str)]) -> (rp::Page, rp::AuthRequest) {
    let client = rp::actes_web(server).await;
    let request = rp::auth_request(&client, scopes, extra);
    let page = Browser::new().authorize(server, &request.url, "pauline", "correct horse battery").await;
    assert_eq!(page.status, 303, "a redirect to the client: {}", page.body);
    (page, request)
}

/// The code of Pauline's authorization at actes-web, redeemed with these extra
/// parameters of the token request.
async fn code_flow(server: &TestServer, authorization: &[(&str, &str)], token: &[(&str, &str)]) -> (u16, Value) {
    code_flow_with_scopes(server, &[], authorization, token).await
}

async fn code_flow_with_scopes(
    server: &TestServer,
    scopes: &[&str],
    authorization: &[(&str, &str)],
    token: &[(&str, &str)],
) -> (u16, Value) {
    let (page, request) = authorize(server, scopes, authorization).await;
    let code = page.location_param("code").unwrap_or_else(|| panic!("a code: {:?}", page.location));
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", "https://actes.example/callback"),
        ("code_verifier", request.verifier.secret().as_str()),
    ];
    form.extend_from_slice(token);
    post(server, "/token", "actes-web", ACTES_SECRET, &form).await
}

async fn code_flow_with_a_resource(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    let (status, tokens) = code_flow(&server, &[("resource", ACTES_API)], &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!(claims["aud"], ACTES_API, "the access token is for the API");
    assert_eq!(claims["client_id"], "actes-web", "and names the client that asked for it");
    assert_eq!(payload(tokens["id_token"].as_str().unwrap())["aud"], "actes-web", "the ID token is the client's");

    let seen = introspect(&server, "actes-api", API_SECRET, access).await;
    assert_eq!((seen["active"].as_bool(), seen["aud"].as_str()), (Some(true), Some(ACTES_API)), "{seen}");
    assert_eq!((seen["client_id"].as_str(), seen["username"].as_str()), (Some("actes-web"), Some("pauline")));
    let own = introspect(&server, "actes-web", ACTES_SECRET, access).await;
    assert_eq!(own["active"], true, "the client the token was issued to: {own}");
    for (other, secret) in [("actes-archive", ARCHIVE_SECRET), ("compta-api", COMPTA_SECRET)] {
        let body = introspect(&server, other, secret, access).await;
        assert_eq!(body, json!({"active": false}), "{other} serves another resource");
    }
    // Userinfo, the client's own, is unchanged.
    let userinfo = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(access).send().await.unwrap();
    assert_eq!(userinfo.status(), 200);

    // Repeating the resource at the token endpoint is the same grant.
    let (status, tokens) = code_flow(&server, &[("resource", ACTES_API)], &[("resource", ACTES_API)]).await;
    assert_eq!((status, payload(tokens["access_token"].as_str().unwrap())["aud"].as_str()), (200, Some(ACTES_API)));
}

async fn client_credentials_with_a_resource(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    let grant = |resource: &'static str| [("grant_type", "client_credentials"), ("resource", resource)];
    let (status, body) = post(&server, "/token", "actes-api", API_SECRET, &grant(ARCHIVE_API)).await;
    assert_eq!(status, 200, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let claims = payload(access);
    assert_eq!((claims["aud"].as_str(), claims["sub"].as_str()), (Some(ARCHIVE_API), Some("actes-api")));
    let seen = introspect(&server, "actes-archive", ARCHIVE_SECRET, access).await;
    assert_eq!((seen["active"].as_bool(), seen["aud"].as_str()), (Some(true), Some(ARCHIVE_API)), "{seen}");
    assert_eq!(introspect(&server, "compta-api", COMPTA_SECRET, access).await, json!({"active": false}));

    let (status, body) = post(&server, "/token", "actes-api", API_SECRET, &grant(COMPTA_API)).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "another application's API");
    let (status, body) = post(&server, "/token", "actes-api", API_SECRET, &grant("https://unknown.example/")).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let several = [("grant_type", "client_credentials"), ("resource", ACTES_API), ("resource", ARCHIVE_API)];
    let (status, body) = post(&server, "/token", "actes-api", API_SECRET, &several).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "one resource per request");
    let (status, body) = post(&server, "/token", "actes-api", API_SECRET, &grant(ACTES_API)).await;
    assert_eq!((status, payload(body["access_token"].as_str().unwrap())["aud"].as_str()), (200, Some(ACTES_API)));
}

async fn refresh(server: &TestServer, token: &str, extra: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
    form.extend_from_slice(extra);
    post(server, "/token", "actes-web", ACTES_SECRET, &form).await
}

async fn refresh_keeps_the_resource_and_takes_no_other(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    let (status, tokens) = code_flow_with_scopes(&server, &["profile"], &[("resource", ACTES_API)], &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let mut token = tokens["refresh_token"].as_str().expect("actes-web is first-party").to_string();
    // Left out or repeated, the grant's resource is kept; with fewer scopes too.
    for extra in [vec![], vec![("resource", ACTES_API)], vec![("resource", ACTES_API), ("scope", "openid")]] {
        let (status, body) = refresh(&server, &token, &extra).await;
        assert_eq!(status, 200, "{extra:?}: {body}");
        assert_eq!(payload(body["access_token"].as_str().unwrap())["aud"], ACTES_API, "{extra:?}");
        token = body["refresh_token"].as_str().unwrap().to_string();
    }
    // Another resource, even of the same application, widens the grant: refused, and
    // the refresh token is not spent (a retry without it is no theft).
    for other in [ARCHIVE_API, COMPTA_API, "https://unknown.example/"] {
        let (status, body) = refresh(&server, &token, &[("resource", other)]).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{other}: {body}");
    }
    let (status, body) = refresh(&server, &token, &[]).await;
    assert_eq!((status, payload(body["access_token"].as_str().unwrap())["aud"].as_str()), (200, Some(ACTES_API)));

    // A grant without a resource gets none at refresh.
    let (_, tokens) = code_flow(&server, &[], &[]).await;
    let token = tokens["refresh_token"].as_str().unwrap();
    let (status, body) = refresh(&server, token, &[("resource", ACTES_API)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let (status, body) = refresh(&server, token, &[]).await;
    assert_eq!((status, payload(body["access_token"].as_str().unwrap())["aud"].as_str()), (200, Some("actes-web")));
}

async fn unknown_resources_are_invalid_target(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    for resource in ["https://unknown.example/", COMPTA_API, "not a uri", "actes-api"] {
        let (page, request) = authorize(&server, &[], &[("resource", resource)]).await;
        assert_eq!(page.location_param("error").as_deref(), Some("invalid_target"), "{resource}: {:?}", page.location);
        assert_eq!(page.location_param("state").as_deref(), Some(request.state.secret().as_str()));
        assert!(page.location_param("code").is_none());
    }
    // A code for one resource is not redeemed for another.
    let (status, body) = code_flow(&server, &[("resource", ACTES_API)], &[("resource", ARCHIVE_API)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "{body}");
    let (status, body) = code_flow(&server, &[], &[("resource", ACTES_API)]).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_target")), "the code had none: {body}");
}

async fn without_a_resource_nothing_changes(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    let (status, tokens) = code_flow(&server, &[], &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(payload(access)["aud"], "actes-web");
    // The clients of the token's application see it, as before; others do not.
    for (client_id, secret) in
        [("actes-web", ACTES_SECRET), ("actes-api", API_SECRET), ("actes-archive", ARCHIVE_SECRET)]
    {
        assert_eq!(introspect(&server, client_id, secret, access).await["active"], true, "{client_id}");
    }
    assert_eq!(introspect(&server, "compta-api", COMPTA_SECRET, access).await, json!({"active": false}));
    let (status, body) =
        post(&server, "/token", "actes-api", API_SECRET, &[("grant_type", "client_credentials")]).await;
    assert_eq!((status, payload(body["access_token"].as_str().unwrap())["aud"].as_str()), (200, Some("actes-api")));
    let metadata: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert!(metadata.as_object().unwrap().keys().all(|key| !key.contains("resource")), "nothing standard to advertise");
}

async fn resources_are_registered_checked(backend: Backend) {
    let server = TestServer::start(backend).await;
    register_resources(&server).await;
    for (resource, extra) in [
        ("http://api.example/", ""),
        ("https://api.example/#v1", ""),
        ("https://api.example/?tenant=paris", ""),
        ("urn:example:api", ""),
        // Already actes-api's.
        (ACTES_API, ""),
        // A public client cannot introspect.
        ("https://public.example/", "token_endpoint_auth_method = \"none\"\n"),
    ] {
        let secret = if extra.is_empty() { "secret = \"bad-api-secret-0123456789\"\n" } else { "" };
        let text = format!(
            "[[clients]]\nclient_id = \"bad-api\"\n{secret}{extra}redirect_uris = [\"https://bad.example/cb\"]\n\
             resource = \"{resource}\"\n"
        );
        let error = sesame::import::import_text(&server.state, "bad.toml", &text).await.unwrap_err().to_string();
        assert!(error.contains("resource"), "{resource}: {error}");
    }
    let api = api(&server).await;
    let body = |resource: &str| {
        json!({"client_id": "orders-api", "redirect_uris": [], "grant_types": ["client_credentials"],
            "scopes": ["orders"], "resource": resource})
    };
    let (status, answer) = api.call(Method::POST, "/clients", Some(body(ARCHIVE_API))).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("resource")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("actes-archive"), "names the holder: {answer}");
    let (status, created) = api.call(Method::POST, "/clients", Some(body("https://orders.example/api"))).await;
    assert_eq!((status, created["resource"].as_str()), (201, Some("https://orders.example/api")), "{created}");
    let (status, listed) = api.call(Method::GET, "/clients/orders-api", None).await;
    assert_eq!((status, listed["resource"].as_str()), (200, Some("https://orders.example/api")), "{listed}");
}
