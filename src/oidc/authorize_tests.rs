//! `validate`, the authorization request's checks, on the server's state without a
//! server: which refusals are shown on a page (the redirect URI cannot be trusted yet)
//! and which go back to the client with which OAuth error, and what an accepted request
//! holds.

use axum::http::StatusCode;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::json;

use super::*;
use crate::crypto::jws::{SigningAlg, SigningKey};
use crate::oidc::token::jwt::{self as tokens, AccessGrant, IdTokenFacts, SessionFacts};
use crate::testing::{ISSUER, NOW, TestState};
use crate::web::page_error::PageError;

/// RFC 7636 appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// actes-web with the first of its redirect URIs.
const WEB: &str = "client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback";
const WEB_CALLBACK: &str = "https://actes.example/callback";
/// The public desktop client with its redirect URI.
const DESKTOP: &str = "client_id=actes-desktop&redirect_uri=http%3A%2F%2F127.0.0.1%3A7777%2Fcallback";

fn params(query: &str) -> Params {
    Params::parse(query).expect("no repeated parameter")
}

/// The refusal shown on a page, as the page draws it; fails if the request went
/// anywhere else.
async fn shown(state: &AppState, query: &str) -> PageError {
    match validate(state, &params(query)).await {
        Err(Refusal::Page(page)) => PageError::from(page),
        Err(Refusal::Redirect(redirect)) => panic!("sent to the client, not shown: {redirect:?}"),
        Ok((_, request)) => panic!("accepted: {request:?}"),
    }
}

/// The refusal sent to the client; fails if the request went anywhere else.
async fn redirected(state: &AppState, query: &str) -> ErrorRedirect {
    match validate(state, &params(query)).await {
        Err(Refusal::Redirect(redirect)) => redirect,
        Err(Refusal::Page(page)) => panic!("shown on a page, not sent to the client: {page:?}"),
        Ok((_, request)) => panic!("accepted: {request:?}"),
    }
}

async fn accepted(state: &AppState, query: &str) -> (Client, AuthorizationRequest) {
    match validate(state, &params(query)).await {
        Ok(accepted) => accepted,
        Err(Refusal::Redirect(redirect)) => panic!("refused to the client: {redirect:?}"),
        Err(Refusal::Page(page)) => panic!("refused on a page: {page:?}"),
    }
}

/// The error and its description, checking that it goes to `redirect_uri` with `state`.
fn error_at<'a>(redirect: &'a ErrorRedirect, redirect_uri: &str, state: Option<&str>) -> (&'static str, &'a str) {
    assert_eq!(redirect.redirect_uri, redirect_uri, "the error goes to the request's redirect URI");
    assert_eq!(redirect.state.as_deref(), state, "the request's state comes back");
    (redirect.error, redirect.description.as_str())
}

#[tokio::test]
async fn a_missing_or_unknown_client_is_shown_on_a_page() {
    let t = TestState::open().await;
    let page = shown(&t, "redirect_uri=https%3A%2F%2Factes.example%2Fcallback&response_type=code").await;
    assert_eq!((page.status, page.title), (StatusCode::BAD_REQUEST, "error_bad_request_title"));
    assert_eq!(page.detail.as_deref(), Some("the request has no client_id"));

    // A redirect URI that some client registered, and an error the client would be told
    // of: still nobody to tell, since the client is unknown.
    let page =
        shown(&t, "client_id=nobody&redirect_uri=https%3A%2F%2Factes.example%2Fcallback&response_type=token").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert_eq!(page.detail.as_deref(), Some("no application is registered with client_id `nobody`"));
}

#[tokio::test]
async fn a_redirect_uri_not_registered_exactly_is_shown_on_a_page_whatever_else_is_wrong() {
    let t = TestState::open().await;
    let page = shown(&t, "client_id=actes-web&response_type=code&scope=openid").await;
    assert_eq!(page.detail.as_deref(), Some("the request has no redirect_uri"));

    let unregistered = [
        "https://actes.example/callback/",
        "https://actes.example/callback?tenant=lyon",
        "https://actes.example/callback?tenant=paris&x=1",
        "https://actes.example/callback#frag",
        "http://actes.example/callback",
        "https://actes.example/callbackx",
        "https://actes.example.evil.example/callback",
        // Registered, but by another client.
        "https://compta.example/callback",
    ];
    for uri in unregistered {
        let encoded: String = url::form_urlencoded::byte_serialize(uri.as_bytes()).collect();
        // Every later check would fail too (response_type, scope, request object):
        // none of them may send the browser to this URI.
        let query = format!("client_id=actes-web&redirect_uri={encoded}&response_type=token&request=x&state=s");
        let page = shown(&t, &query).await;
        assert_eq!(
            (page.status, page.title, page.message),
            (StatusCode::BAD_REQUEST, "error_redirect_uri_title", "error_redirect_uri"),
            "{uri}"
        );
        let detail = format!("redirect_uri `{uri}` is not registered for client `actes-web`");
        assert_eq!(page.detail, Some(detail));
    }
    // Registered with its query: an exact match.
    let query = "client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback%3Ftenant%3Dparis\
                 &response_type=code&scope=openid";
    let (_, request) = accepted(&t, query).await;
    assert_eq!(request.redirect_uri, "https://actes.example/callback?tenant=paris");
}

#[tokio::test]
async fn an_unsupported_response_mode_is_reported_in_the_query() {
    let t = TestState::open().await;
    let redirect =
        redirected(&t, &format!("{WEB}&response_type=code&scope=openid&response_mode=fragment&state=s1")).await;
    assert_eq!(redirect.mode, ResponseMode::Query);
    assert_eq!(
        error_at(&redirect, WEB_CALLBACK, Some("s1")),
        ("invalid_request", "response_mode `fragment` is not supported; use query or form_post")
    );

    // form_post is kept, and later errors travel that way.
    let redirect = redirected(&t, &format!("{WEB}&response_type=token&response_mode=form_post&state=s2")).await;
    assert_eq!(redirect.mode, ResponseMode::FormPost);
    assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("s2")).0, "unsupported_response_type");
}

/// actes-web registered neither keys nor `none`: no request object of its can pass,
/// and a `request_uri` it names is not even fetched.
const NO_OBJECTS: &str =
    "this client registered no keys and no request_object_signing_alg: it cannot send request objects";

#[tokio::test]
async fn request_objects_of_a_client_without_keys_are_refused_unfetched() {
    let t = TestState::open().await;
    let redirect =
        redirected(&t, &format!("{WEB}&response_type=code&scope=openid&request=eyJhbGciOiJub25lIn0.e30.&state=s"))
            .await;
    assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("s")), ("request_not_supported", NO_OBJECTS));
    let query = format!("{WEB}&response_type=code&scope=openid&request_uri=https%3A%2F%2Fevil.example%2Fr&state=s");
    let redirect = redirected(&t, &query).await;
    assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("s")), ("request_uri_not_supported", NO_OBJECTS));
}

#[tokio::test]
async fn only_the_code_response_type_is_supported() {
    let t = TestState::open().await;
    let redirect = redirected(&t, &format!("{WEB}&scope=openid")).await;
    assert_eq!(
        error_at(&redirect, WEB_CALLBACK, None),
        ("invalid_request", "the request has no response_type; use response_type=code")
    );
    // The implicit and hybrid flows (and OAuth's `none`) are not implemented.
    for response_type in ["token", "id_token", "id_token token", "code id_token", "code token", "none", "CODE"] {
        let encoded: String = url::form_urlencoded::byte_serialize(response_type.as_bytes()).collect();
        let redirect = redirected(&t, &format!("{WEB}&response_type={encoded}&scope=openid&nonce=n&state=st")).await;
        let description = format!("response_type `{response_type}` is not supported; use code");
        assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("st")), ("unsupported_response_type", description.as_str()));
    }
}

#[tokio::test]
async fn a_client_without_the_code_grant_is_unauthorized() {
    let t = TestState::open().await;
    let query = "client_id=actes-api&redirect_uri=https%3A%2F%2Factes.example%2Funused&response_type=code\
                 &scope=openid&state=s";
    let redirect = redirected(&t, query).await;
    assert_eq!(
        error_at(&redirect, "https://actes.example/unused", Some("s")),
        ("unauthorized_client", "this client may not use the authorization code flow")
    );
}

#[tokio::test]
async fn the_scope_must_include_openid() {
    let t = TestState::open().await;
    for scope in ["", "&scope=profile+email", "&scope=OPENID", "&scope=openidx"] {
        let redirect = redirected(&t, &format!("{WEB}&response_type=code{scope}&state=s")).await;
        assert_eq!(
            error_at(&redirect, WEB_CALLBACK, Some("s")),
            ("invalid_scope", "the scope must include openid"),
            "{scope}"
        );
    }
    // openid is allowed to a client that registered a narrower list without it.
    let query = "client_id=admin-tool&redirect_uri=https%3A%2F%2Fadmin.example%2Fcallback&response_type=code";
    let redirect = redirected(&t, &format!("{query}&scope=profile+sesame%3Aadmin")).await;
    assert_eq!(redirect.error, "invalid_scope");
    let (_, request) = accepted(&t, &format!("{query}&scope=openid")).await;
    assert_eq!(request.scopes, ["openid"]);
}

#[tokio::test]
async fn scopes_are_narrowed_to_what_the_client_may_ask() {
    let t = TestState::open().await;
    // Every standard scope, nothing else, for a client that registered no list.
    let scope = "openid+profile+email+phone+address+offline_access+sesame%3Aadmin+actes.api+unknown";
    let (_, request) = accepted(&t, &format!("{WEB}&response_type=code&scope={scope}")).await;
    assert_eq!(request.scopes, ["openid", "profile", "email", "phone", "address", "offline_access"]);

    // A registered list: openid and the registered scopes only, in the request's order.
    let query = "client_id=admin-tool&redirect_uri=https%3A%2F%2Fadmin.example%2Fcallback&response_type=code";
    let (_, request) = accepted(&t, &format!("{query}&scope=sesame%3Aadmin+email+offline_access+openid+profile")).await;
    assert_eq!(request.scopes, ["sesame:admin", "openid", "profile"]);
}

#[tokio::test]
async fn a_public_client_must_use_pkce_and_a_confidential_one_may() {
    let t = TestState::open().await;
    let redirect = redirected(&t, &format!("{DESKTOP}&response_type=code&scope=openid&state=s")).await;
    assert_eq!(
        error_at(&redirect, "http://127.0.0.1:7777/callback", Some("s")),
        ("invalid_request", "a public client must use PKCE (code_challenge with S256)")
    );
    let query =
        format!("{DESKTOP}&response_type=code&scope=openid&code_challenge={CHALLENGE}&code_challenge_method=S256");
    let (client, request) = accepted(&t, &query).await;
    assert!(client.is_public());
    assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));

    let (client, request) = accepted(&t, &format!("{WEB}&response_type=code&scope=openid")).await;
    assert!(!client.is_public());
    assert_eq!(request.code_challenge, None);
}

#[tokio::test]
async fn pkce_takes_only_a_well_formed_s256_challenge() {
    let t = TestState::open().await;
    let base = format!("{WEB}&response_type=code&scope=openid&state=s");
    for method in ["plain", "s256", "S512"] {
        let query = format!("{base}&code_challenge={CHALLENGE}&code_challenge_method={method}");
        let redirect = redirected(&t, &query).await;
        let description = format!("code_challenge_method `{method}` is not supported; use S256");
        assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("s")), ("invalid_request", description.as_str()));
    }
    let malformed = [
        CHALLENGE[..42].to_string(),
        format!("{CHALLENGE}A"),
        // base64 rather than base64url, or padded
        CHALLENGE.replace('-', "%2B"),
        CHALLENGE.replace('-', "%2F"),
        format!("{}%3D", &CHALLENGE[..42]),
        // a plain verifier of 128 characters
        "a".repeat(128),
    ];
    for challenge in &malformed {
        let redirect = redirected(&t, &format!("{base}&code_challenge={challenge}&code_challenge_method=S256")).await;
        assert_eq!(
            error_at(&redirect, WEB_CALLBACK, Some("s")),
            ("invalid_request", "code_challenge must be the base64url SHA-256 of the verifier (43 characters)"),
            "{challenge}"
        );
    }
    let redirect = redirected(&t, &format!("{base}&code_challenge_method=S256")).await;
    assert_eq!(
        error_at(&redirect, WEB_CALLBACK, Some("s")),
        ("invalid_request", "code_challenge_method without code_challenge")
    );
    // Without a method the challenge is taken as S256 (RFC 7636 would read `plain`).
    let (_, request) = accepted(&t, &format!("{base}&code_challenge={CHALLENGE}")).await;
    assert_eq!(request.code_challenge.as_deref(), Some(CHALLENGE));
}

#[tokio::test]
async fn prompt_takes_known_values_and_none_alone() {
    let t = TestState::open().await;
    let base = format!("{WEB}&response_type=code&scope=openid&state=s");
    for prompt in ["none+login", "consent+none", "none+none"] {
        let redirect = redirected(&t, &format!("{base}&prompt={prompt}")).await;
        assert_eq!(
            error_at(&redirect, WEB_CALLBACK, Some("s")),
            ("invalid_request", "prompt=none cannot be combined with other values"),
            "{prompt}"
        );
    }
    let redirect = redirected(&t, &format!("{base}&prompt=login+create")).await;
    assert_eq!(
        error_at(&redirect, WEB_CALLBACK, Some("s")),
        ("invalid_request", "prompt value `create` is not supported")
    );
    let (_, request) = accepted(&t, &format!("{base}&prompt=none")).await;
    assert_eq!(request.prompt, ["none"]);
    let (_, request) = accepted(&t, &format!("{base}&prompt=select_account+login+consent")).await;
    assert_eq!(request.prompt, ["select_account", "login", "consent"]);
}

#[tokio::test]
async fn max_age_is_a_number_of_seconds() {
    let t = TestState::open().await;
    let base = format!("{WEB}&response_type=code&scope=openid&state=s");
    for max_age in ["-1", "abc", "1.5", "1e3", "99999999999999999999", "%2010"] {
        let redirect = redirected(&t, &format!("{base}&max_age={max_age}")).await;
        let (error, description) = error_at(&redirect, WEB_CALLBACK, Some("s"));
        assert_eq!(error, "invalid_request", "{max_age}");
        assert!(description.starts_with("max_age `") && description.ends_with("` is not a number of seconds"));
    }
    for (max_age, expected) in [("0", Some(0)), ("3600", Some(3600)), ("", None)] {
        let (_, request) = accepted(&t, &format!("{base}&max_age={max_age}")).await;
        assert_eq!(request.max_age, expected, "{max_age}");
    }
}

#[tokio::test]
async fn the_claims_parameter_is_a_json_object() {
    let t = TestState::open().await;
    let base = format!("{WEB}&response_type=code&scope=openid&state=s");
    for claims in ["%5B%5D", "null", "%7B", "%22userinfo%22"] {
        let redirect = redirected(&t, &format!("{base}&claims={claims}")).await;
        assert_eq!(
            error_at(&redirect, WEB_CALLBACK, Some("s")),
            ("invalid_request", "the claims parameter is not a JSON object"),
            "{claims}"
        );
    }
    accepted(&t, &format!("{base}&claims=%7B%22userinfo%22%3A%7B%22email%22%3Anull%7D%7D")).await;
}

/// An ID token this provider signed for `client_id` about pauline, at `now`.
async fn id_token_for(t: &TestState, client_id: &str, now: i64) -> (String, String) {
    let account = t.account("pauline").await;
    let client = t.client(client_id).await;
    let session = SessionFacts { auth_time: now, acr: "pwd".into(), amr: vec!["pwd".into()], sid: "sid-1".into() };
    let facts = IdTokenFacts {
        account: &account,
        client: &client,
        scopes: &["openid".into()],
        session: &session,
        nonce: None,
        access_token: None,
        authorization: &Default::default(),
        requested_claims: &[],
    };
    (tokens::mint_id_token(t, &facts, now).await.expect("an ID token"), account.id)
}

#[tokio::test]
async fn an_id_token_hint_must_be_an_id_token_of_this_provider_for_this_client() {
    let t = TestState::open().await;
    let base = format!("{WEB}&response_type=code&scope=openid&state=s");
    let refusal = ("invalid_request", "id_token_hint is not an ID token issued by this provider to this client");

    let (for_web, pauline) = id_token_for(&t, "actes-web", NOW).await;
    let (_, request) = accepted(&t, &format!("{base}&id_token_hint={for_web}")).await;
    assert_eq!(request.hinted_subject.as_deref(), Some(pauline.as_str()));
    // Expired long ago: still a hint (OIDC Core 3.1.2.1).
    let (old, _) = id_token_for(&t, "actes-web", NOW - 400 * 86_400).await;
    let (_, request) = accepted(&t, &format!("{base}&id_token_hint={old}")).await;
    assert_eq!(request.hinted_subject.as_deref(), Some(pauline.as_str()));

    // Another client's ID token.
    let (for_compta, _) = id_token_for(&t, "compta-web", NOW).await;
    // An access token of this client, signed by the same keys.
    let client = t.client("actes-web").await;
    let scopes = ["openid".to_string()];
    let grant = AccessGrant {
        subject: &pauline,
        client: &client,
        scopes: &scopes,
        session: None,
        grant_id: None,
        authorization: None,
        userinfo_claims: &[],
        resource: None,
    };
    let access = tokens::mint_access_token(&t, &grant, NOW).await.expect("an access token").token;
    // Good claims signed by a key that is not this provider's, under a key id of its.
    let ours = t.keys.current(SigningAlg::Rs256).await.expect("a current key");
    let (stranger, _) = SigningKey::generate(ours.kid.clone(), SigningAlg::Rs256).expect("a key");
    let claims = json!({"iss": ISSUER, "sub": pauline, "aud": "actes-web", "exp": NOW + 60, "iat": NOW});
    let forged = stranger.sign("JWT", &claims).expect("signed");
    // The same claims unsigned (`alg` none) under the key id of this provider's key.
    let encode = |value: serde_json::Value| URL_SAFE_NO_PAD.encode(value.to_string());
    let unsigned = format!("{}.{}.", encode(json!({"alg": "none", "kid": ours.kid})), encode(claims.clone()));
    // Signed by this provider's key, but naming another issuer, or no subject.
    let other_issuer = json!({"iss": "https://other.example", "sub": pauline, "aud": "actes-web", "exp": NOW + 60});
    let other_issuer = ours.sign("JWT", &other_issuer).expect("signed");
    let no_subject = ours.sign("JWT", &json!({"iss": ISSUER, "aud": "actes-web", "exp": NOW + 60})).expect("signed");
    let hints: [&str; 7] = [&for_compta, &access, &forged, &unsigned, &other_issuer, &no_subject, "not-a-jwt"];
    for hint in hints {
        let redirect = redirected(&t, &format!("{base}&id_token_hint={hint}")).await;
        assert_eq!(error_at(&redirect, WEB_CALLBACK, Some("s")), refusal, "{hint}");
    }
}

#[tokio::test]
async fn an_accepted_request_holds_what_was_asked() {
    let t = TestState::open().await;
    let query = format!(
        "client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback%3Ftenant%3Dparis\
         &response_type=code&scope=openid+profile&state=af0ifjsldkj&nonce=n-0S6_WzA2Mj\
         &code_challenge={CHALLENGE}&code_challenge_method=S256&prompt=login&max_age=300\
         &login_hint=pauline&ui_locales=fr-FR+en&acr_values=sesame%3A2fa+pwd&response_mode=form_post\
         &display=page&unknown=kept-out"
    );
    let (client, request) = accepted(&t, &query).await;
    assert_eq!(client.client_id, "actes-web");
    let held = serde_json::to_value(&request).expect("serialisable");
    assert_eq!(
        held,
        json!({
            "client_id": "actes-web",
            "redirect_uri": "https://actes.example/callback?tenant=paris",
            "response_mode": "form_post",
            "scopes": ["openid", "profile"],
            "state": "af0ifjsldkj",
            "nonce": "n-0S6_WzA2Mj",
            "code_challenge": CHALLENGE,
            "prompt": ["login"],
            "max_age": 300,
            "login_hint": "pauline",
            "hinted_subject": null,
            "ui_locales": "fr-FR en",
            "acr_values": ["sesame:2fa", "pwd"],
        })
    );
    // The least a client may send: no state, no nonce (the code flow needs none).
    let (_, request) = accepted(&t, &format!("{WEB}&response_type=code&scope=openid")).await;
    assert_eq!(serde_json::to_value(&request).expect("serialisable")["response_mode"], "query");
    assert_eq!((request.state, request.nonce, request.max_age), (None, None, None));
}
