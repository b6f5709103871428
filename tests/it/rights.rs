//! An account's rights in each application, as office applications read them from their
//! tokens; archiving; the password policy.

use crate::harness::SendJson;
use openidconnect::{OAuth2TokenResponse, TokenResponse};
use serde_json::{Value, json};

use crate::harness::{Backend, FIXTURE, TestServer};
use crate::on_every_backend;
use crate::rp::{self, Browser, payload};

on_every_backend!(
    tokens_carry_the_rights_of_their_application,
    a_change_of_rights_shows_at_the_next_token,
    archiving_ends_sessions_and_refresh_tokens,
    new_passwords_follow_the_policy,
    access_is_checked_against_the_catalogue,
);

async fn userinfo(server: &TestServer, token: &str) -> (u16, Value) {
    let response = reqwest::Client::new().get(server.url("/userinfo")).bearer_auth(token).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap_or(Value::Null))
}

async fn tokens_carry_the_rights_of_their_application(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let actes = rp::actes_web(&server).await;
    let (code, request) = rp::code_for_pauline(&server, &actes, &browser, &[]).await;
    let tokens = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    for claims in [payload(&tokens.id_token().unwrap().to_string()), payload(tokens.access_token().secret())] {
        assert_eq!(claims["application"], "INOTACTE");
        assert_eq!(claims["rights"], json!(["actes.lecture"]));
        assert_eq!(claims["options"], json!({"etude": "Paris"}));
        assert_eq!(claims["initials"], "PM");
        assert_eq!(claims["applications"], json!(["INOTACTE", "INOTCOMPTABILITE"]));
        assert!(claims.get("account_admin").is_none());
    }
    let (_, info) = userinfo(&server, tokens.access_token().secret()).await;
    assert_eq!(info["rights"], json!(["actes.lecture"]));

    let compta =
        rp::client(&server, "compta-web", Some("compta-web-secret-0123456789"), "https://compta.example/callback")
            .await
            .set_auth_type(openidconnect::AuthType::RequestBody);
    let request = rp::auth_request(&compta, &[], &[]);
    let page = browser.get(&request.url).await;
    let tokens = rp::exchange(&compta, &page.location_param("code").unwrap(), request.verifier).await.unwrap();
    let claims = payload(&tokens.id_token().unwrap().to_string());
    assert_eq!(claims["application"], "INOTCOMPTABILITE");
    assert_eq!(claims["rights"], json!(["compta.lecture"]), "the rights of this application only");
    assert_eq!(claims["options"], json!({}));
}

async fn a_change_of_rights_shows_at_the_next_token(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let actes = rp::actes_web(&server).await;
    let (code, request) = rp::code_for_pauline(&server, &actes, &browser, &[]).await;
    let tokens = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    let promoted = FIXTURE.replace(
        r#"rights = ["actes.lecture"], options = { etude = "Paris" }"#,
        r#"rights = ["actes.lecture", "actes.signature"], options = { etude = "Lyon" }"#,
    );
    assert_ne!(promoted, FIXTURE);
    sesame::import::import_text(&server.state, "office.toml", &promoted).await.unwrap();
    let (_, info) = userinfo(&server, tokens.access_token().secret()).await;
    assert_eq!(info["rights"], json!(["actes.lecture", "actes.signature"]), "userinfo reads them anew");
    let refreshed: Value = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens.refresh_token().unwrap().secret())])
        .send_json()
        .await;
    let claims = payload(refreshed["access_token"].as_str().unwrap());
    assert_eq!(claims["rights"], json!(["actes.lecture", "actes.signature"]), "at the next token, without a new login");
    assert_eq!(claims["options"]["etude"], "Lyon");
}

async fn archiving_ends_sessions_and_refresh_tokens(backend: Backend) {
    let server = TestServer::start(backend).await;
    let browser = Browser::new();
    let actes = rp::actes_web(&server).await;
    let (code, request) = rp::code_for_pauline(&server, &actes, &browser, &[]).await;
    let tokens = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    let archive = |on: bool| {
        FIXTURE.replace(
            "username = \"pauline\"\npassword = \"correct horse battery\"",
            &format!("username = \"pauline\"\npassword = \"correct horse battery\"\narchived = {on}"),
        )
    };
    sesame::import::import_text(&server.state, "office.toml", &archive(true)).await.unwrap();
    assert_eq!(userinfo(&server, tokens.access_token().secret()).await.0, 401);
    let prompt_none = rp::auth_request(&actes, &[], &[("prompt", "none")]);
    assert_eq!(browser.get(&prompt_none.url).await.location_param("error").as_deref(), Some("login_required"));

    sesame::import::import_text(&server.state, "office.toml", &archive(false)).await.unwrap();
    assert_eq!(userinfo(&server, tokens.access_token().secret()).await.0, 401, "old tokens stay revoked");
    let refreshed = reqwest::Client::new()
        .post(server.url("/token"))
        .basic_auth("actes-web", Some("actes-web-secret-0123456789"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", tokens.refresh_token().unwrap().secret())])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 400, "and so do refresh tokens");
    let (code, request) = rp::code_for_pauline(&server, &actes, &browser, &[]).await;
    let fresh = rp::exchange(&actes, &code, request.verifier).await.unwrap();
    assert_eq!(userinfo(&server, fresh.access_token().secret()).await.0, 200, "un-archived: login works again");
}

async fn new_passwords_follow_the_policy(backend: Backend) {
    let server = TestServer::start(backend).await;
    for (password, expected) in
        [("short1", "at least 8"), ("nouvelle-nadia-2026", "identifier"), ("azerty123456", "common")]
    {
        let text = format!("[[accounts]]\nusername = \"nadia\"\npassword = \"{password}\"\n");
        let error = sesame::import::import_text(&server.state, "new.toml", &text).await.unwrap_err().to_string();
        assert!(error.contains("password") && error.contains(expected), "{password}: {error}");
    }
    let text = "[[accounts]]\nusername = \"nadia\"\npassword = \"quiet library lamp\"\n";
    sesame::import::import_text(&server.state, "new.toml", text).await.unwrap();
}

async fn access_is_checked_against_the_catalogue(backend: Backend) {
    let server = TestServer::start(backend).await;
    let entry = |access: &str| {
        format!("[[accounts]]\nusername = \"nadia\"\npassword = \"quiet library lamp\"\naccess = [{access}]\n")
    };
    for (access, expected) in [
        (r#"{ application = "INOTPAIE" }"#, "no application has the code `INOTPAIE`"),
        (r#"{ application = "INOTACTE", rights = ["compta.lecture"] }"#, "`compta.lecture` is not a right of INOTACTE"),
        (r#"{ application = "INOTACTE", options = { etude = 12 } }"#, "access.INOTACTE.options.etude"),
        (r#"{ application = "INOTACTE", options = { bureau = "x" } }"#, "`bureau` is not an option of INOTACTE"),
    ] {
        let error =
            sesame::import::import_text(&server.state, "new.toml", &entry(access)).await.unwrap_err().to_string();
        assert!(error.contains(expected), "{access}: {error}");
    }
}
