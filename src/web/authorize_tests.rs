//! The authorization endpoint around `oidc::authorize::validate`: what reaches the
//! browser (the validation itself is tested in `oidc/authorize_tests.rs`).

use axum::http::{StatusCode, header};

use super::*;
use crate::testing::TestState;

/// RFC 7636 appendix B.
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
/// actes-web with the first of its redirect URIs.
const WEB: &str = "client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback";

async fn endpoint(t: &TestState, query: &str) -> Result<Response, PageError> {
    let params = EncodedParams(query.to_string());
    handle(State(t.state.clone()), CookieJar::new(), HeaderMap::new(), crate::client_ip::ClientIp(None), params).await
}

#[tokio::test]
async fn a_repeated_parameter_is_shown_on_a_page() {
    let t = TestState::open().await;
    for name in ["client_id", "redirect_uri", "state", "code_challenge"] {
        let query = format!("{WEB}&response_type=code&scope=openid&state=a&code_challenge={CHALLENGE}&{name}=again");
        let Err(page) = endpoint(&t, &query).await else { panic!("{name} given twice was not refused on a page") };
        assert_eq!(page.status, StatusCode::BAD_REQUEST);
        assert_eq!(page.detail, Some(format!("parameter `{name}` appears more than once")));
    }
}

#[tokio::test]
async fn a_refusal_for_the_client_reaches_its_redirect_uri_with_state_and_iss() {
    let t = TestState::open().await;
    let query = "client_id=actes-web&redirect_uri=https%3A%2F%2Factes.example%2Fcallback%3Ftenant%3Dparis\
                 &response_type=token&scope=openid&state=xyz";
    let Ok(response) = endpoint(&t, query).await else { panic!("refused on a page") };
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION].to_str().expect("text");
    assert_eq!(
        location,
        "https://actes.example/callback?tenant=paris&error=unsupported_response_type\
         &error_description=response_type+%60token%60+is+not+supported%3B+use+code&state=xyz\
         &iss=https%3A%2F%2Fsesame.test"
    );
    // An accepted request starts a login (no session in this browser).
    let Ok(response) = endpoint(&t, &format!("{WEB}&response_type=code&scope=openid")).await else {
        panic!("refused on a page")
    };
    let location = response.headers()[header::LOCATION].to_str().expect("text");
    assert!(location.starts_with("/login?tx="), "{location}");
}
