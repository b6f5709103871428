//! OpenID Connect Front-Channel Logout 1.0, after the conformance suite's
//! `oidcc-frontchannel-rp-initiated-logout`: a session signed in to three applications,
//! two of which registered a `frontchannel_logout_uri`, ends by RP-initiated logout; the
//! last page loads exactly those two in iframes, with `iss` and the session's `sid`,
//! its CSP lets it frame exactly their origins, and it goes on to the
//! `post_logout_redirect_uri` with its `state`.

use openidconnect::{AuthType, TokenResponse};
use reqwest::Method;
use serde_json::{Value, json};

use crate::admin_api::api;
use crate::harness::{Backend, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload, unescape};
use sesame::clients::{self, ClientInput};

on_every_backend!(
    oidcc_frontchannel_rp_initiated_logout,
    frontchannel_logout_after_the_user_confirms,
    frontchannel_metadata_is_advertised,
    invalid_frontchannel_logout_uris_are_refused,
);

const PASSWORD: &str = "correct horse battery";
const ACTES_FC: &str = "https://actes.example/frontchannel-logout";
const COMPTA_FC: &str = "https://compta.example:8443/fc?tenant=paris";

async fn set_frontchannel(server: &TestServer, client_id: &str, application: &str, uri: &str) {
    let current = clients::find(&server.state.db, client_id).await.unwrap().unwrap();
    let input = ClientInput {
        frontchannel_logout_uri: Some(uri.into()),
        frontchannel_logout_session_required: true,
        ..ClientInput::from_client(&current, Some(application.into()))
    };
    clients::upsert(&server.state.db, &server.state.client_secrets, input, 0).await.unwrap();
}

/// Pauline signed in, in one browser, to actes-web and compta-web (both with a
/// front-channel logout URI) and to actes-desktop (without one). Returns the browser
/// and the `sid` of each ID token, and actes-web's ID token (the logout's hint).
async fn one_session_three_applications(server: &TestServer) -> (Browser, Vec<Value>, String) {
    set_frontchannel(server, "actes-web", "INOTACTE", ACTES_FC).await;
    set_frontchannel(server, "compta-web", "INOTCOMPTABILITE", COMPTA_FC).await;
    let browser = Browser::new();
    let actes = rp::actes_web(server).await;
    let (code, request) = rp::code_for_pauline(server, &actes, &browser, &[]).await;
    let actes_tokens = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    let hint = actes_tokens.id_token().unwrap().to_string();
    let mut sids = vec![payload(&hint)["sid"].clone()];
    for (client_id, secret, redirect_uri) in [
        ("compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback"),
        ("actes-desktop", None, "http://127.0.0.1:7777/callback"),
    ] {
        // compta-web authenticates with client_secret_post.
        let client = rp::client(server, client_id, secret, redirect_uri).await.set_auth_type(AuthType::RequestBody);
        let request = rp::auth_request(&client, &[], &[]);
        let page = browser.authorize(server, &request.url, "pauline", PASSWORD).await;
        let code =
            page.location_param("code").unwrap_or_else(|| panic!("single sign-on to {client_id}: {}", page.body));
        let tokens = rp::exchange(&client, &code, request.verifier).await.unwrap();
        sids.push(payload(&tokens.id_token().unwrap().to_string())["sid"].clone());
    }
    (browser, sids, hint)
}

/// The `src` of every iframe of a page, unescaped.
fn iframes(body: &str) -> Vec<url::Url> {
    body.split("<iframe")
        .skip(1)
        .map(|tag| {
            let start = tag.find("src=\"").expect("an src") + 5;
            let end = start + tag[start..].find('"').unwrap();
            url::Url::parse(&unescape(&tag[start..end])).expect("an absolute URI")
        })
        .collect()
}

fn query(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn frame_src(csp: &str) -> Vec<&str> {
    let directive = csp.split(';').map(str::trim).find(|d| d.starts_with("frame-src ")).expect("a frame-src directive");
    directive.split_whitespace().skip(1).collect()
}

/// Both frames are there, with `iss` and the session's `sid`, and nothing else is.
fn assert_frames(server: &TestServer, body: &str, sid: &Value) {
    let frames = iframes(body);
    let bases: Vec<String> = frames
        .iter()
        .map(|f| {
            let mut base = f.clone();
            let kept: Vec<(String, String)> =
                f.query_pairs().filter(|(k, _)| k != "iss" && k != "sid").map(|(k, v)| (k.into(), v.into())).collect();
            base.set_query(None);
            if !kept.is_empty() {
                base.query_pairs_mut().extend_pairs(kept);
            }
            base.to_string()
        })
        .collect();
    assert_eq!(bases, [ACTES_FC, COMPTA_FC], "exactly the two applications with a front-channel URI");
    for frame in &frames {
        assert_eq!(query(frame, "iss").as_deref(), Some(server.issuer.as_str()), "{frame}");
        assert_eq!(query(frame, "sid").as_ref(), sid.as_str().map(str::to_string).as_ref(), "{frame}");
    }
}

async fn oidcc_frontchannel_rp_initiated_logout(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (browser, sids, hint) = one_session_three_applications(&server).await;
    assert!(sids[0].is_string(), "ID tokens carry sid");
    assert!(sids.iter().all(|sid| sid == &sids[0]), "one session, one sid: {sids:?}");

    let logout = format!(
        "/logout?id_token_hint={hint}&post_logout_redirect_uri={}&state=st-1",
        url::form_urlencoded::byte_serialize(b"https://actes.example/bye").collect::<String>()
    );
    let response = browser.http.get(server.url(&logout)).send().await.unwrap();
    assert_eq!(response.status(), 200, "a page loads the frames before the redirect");
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    let body = response.text().await.unwrap();
    assert_frames(&server, &body, &sids[0]);
    assert_eq!(frame_src(&csp), ["https://actes.example", "https://compta.example:8443"], "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "the rest stays: {csp}");

    let target = "https://actes.example/bye?state=st-1";
    let link = body.split("id=\"logout-continue\" href=\"").nth(1).and_then(|rest| rest.split('"').next());
    assert_eq!(link.map(unescape).as_deref(), Some(target), "a visible link without scripts");
    assert!(unescape(&body).contains(&format!("<meta http-equiv=\"refresh\" content=\"5;url={target}\">")), "{body}");
    assert!(body.contains("<script src=\"/static/frontchannel_logout.js\"></script>"), "with scripts, after the loads");
    let script = browser.get(&server.url("/static/frontchannel_logout.js")).await;
    assert_eq!(script.status, 200);

    // The session ended: no single sign-on any more, and a second logout frames nothing.
    let actes = rp::actes_web(&server).await;
    let request = rp::auth_request(&actes, &[], &[("prompt", "none")]);
    assert_eq!(browser.get(&request.url).await.location_param("error").as_deref(), Some("login_required"));
    let again = browser.get(&server.url("/logout?client_id=actes-web")).await;
    assert!(iframes(&again.body).is_empty(), "{}", again.body);
}

async fn frontchannel_logout_after_the_user_confirms(backend: Backend) {
    let server = TestServer::start(backend).await;
    let (browser, sids, _) = one_session_three_applications(&server).await;
    let page = browser.get(&server.url("/logout")).await;
    assert_eq!(page.status, 200);
    let csrf = page.field("csrf_token").unwrap();
    let response =
        browser.http.post(server.url("/logout/confirm")).form(&[("csrf_token", csrf.as_str())]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
    let body = response.text().await.unwrap();
    assert_frames(&server, &body, &sids[0]);
    assert_eq!(frame_src(&csp).len(), 2, "{csp}");
    assert!(body.contains("id=\"logged-out\"") && !body.contains("logout-continue"), "nowhere to go on: {body}");
    assert!(!body.contains("http-equiv=\"refresh\""));
}

async fn frontchannel_metadata_is_advertised(backend: Backend) {
    let server = TestServer::start(backend).await;
    let metadata: Value =
        reqwest::get(server.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(metadata["frontchannel_logout_supported"], true);
    assert_eq!(metadata["frontchannel_logout_session_supported"], true);
    assert!(metadata["claims_supported"].as_array().unwrap().contains(&json!("sid")));
}

async fn invalid_frontchannel_logout_uris_are_refused(backend: Backend) {
    let server = TestServer::start(backend).await;
    for uri in ["http://actes.example/fc", "https://actes.example/fc#top", "not a uri", "fr.etude.inotacte:/fc"] {
        let text = format!(
            "[[clients]]\nclient_id = \"fc-bad\"\nsecret = \"fc-bad-secret-0123456789\"\n\
             redirect_uris = [\"https://fc.example/cb\"]\nfrontchannel_logout_uri = \"{uri}\"\n"
        );
        let error = sesame::import::import_text(&server.state, "fc.toml", &text).await.unwrap_err().to_string();
        assert!(error.contains("frontchannel_logout_uri") && error.contains("line 2"), "{uri}: {error}");
    }
    let api = api(&server).await;
    let body = |uri: &str| {
        json!({"client_id": "fc-api", "redirect_uris": ["https://fc.example/cb"], "frontchannel_logout_uri": uri,
            "frontchannel_logout_session_required": true})
    };
    let (status, answer) = api.call(Method::POST, "/clients", Some(body("http://fc.example/logout"))).await;
    assert_eq!((status, answer["error"]["field"].as_str()), (422, Some("frontchannel_logout_uri")), "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("https"), "says what to use: {answer}");
    let (status, created) = api.call(Method::POST, "/clients", Some(body("https://fc.example/logout"))).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["frontchannel_logout_uri"], "https://fc.example/logout");
    assert_eq!(created["frontchannel_logout_session_required"], true);
    let text = "[[clients]]\nclient_id = \"fc-ok\"\nsecret = \"fc-ok-secret-0123456789\"\n\
                redirect_uris = [\"https://fc.example/cb\"]\nfrontchannel_logout_uri = \"http://127.0.0.1:9000/fc\"\n\
                frontchannel_logout_session_required = true\n";
    sesame::import::import_text(&server.state, "fc.toml", text).await.expect("loopback http for development");
    let imported = clients::find(&server.state.db, "fc-ok").await.unwrap().unwrap();
    assert_eq!(imported.frontchannel_logout_uri.as_deref(), Some("http://127.0.0.1:9000/fc"));
    assert!(imported.frontchannel_logout_session_required);
}
