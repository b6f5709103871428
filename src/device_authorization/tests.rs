//! The rows of device authorizations on a real SQLite file with a fixed clock: the
//! polls and their answers, the decisions, single use, and what typing a code spends.

use super::*;
use crate::auth::{acr, session};
use crate::config::DeviceAuthorizationConfig;
use crate::lockout::user_code::counts;
use crate::testing::{NOW, TestState};

const IP: Option<&str> = Some("192.0.2.7");

async fn pauline_session(t: &TestState) -> Session {
    let account = t.account("pauline").await;
    let amr = ["pwd", "otp", "mfa"];
    let (_, session) = session::create(&t.db, &account.id, &amr, acr::MULTI_FACTOR, NOW - 30, &t.config.session)
        .await
        .expect("a session");
    session
}

#[tokio::test]
async fn device_polls_pending_slow_down_then_tokens_once() {
    let t = TestState::open().await;
    let config = DeviceAuthorizationConfig::default();
    let scopes = vec!["openid".to_string(), "profile".to_string()];
    let issued = create(&t.db, "actes-desktop", &scopes, &config, NOW).await.unwrap();
    assert_eq!((issued.expires_in, issued.interval), (600, 5));
    let code = &issued.device_code;

    assert!(matches!(poll(&t.db, code, "actes-desktop", NOW).await.unwrap(), Poll::Pending));
    assert!(matches!(poll(&t.db, code, "actes-desktop", NOW + 4).await.unwrap(), Poll::SlowDown { interval: 10 }));
    // The slow poll counts as the last one: 10 s from it, not from the first.
    assert!(matches!(poll(&t.db, code, "actes-desktop", NOW + 13).await.unwrap(), Poll::SlowDown { interval: 15 }));
    assert!(matches!(poll(&t.db, code, "actes-desktop", NOW + 28).await.unwrap(), Poll::Pending));
    assert!(matches!(poll(&t.db, code, "compta-web", NOW + 60).await.unwrap(), Poll::Invalid), "another client's");
    assert!(matches!(poll(&t.db, "unknown", "actes-desktop", NOW + 60).await.unwrap(), Poll::Invalid));

    let session = pauline_session(&t).await;
    let id = match check_user_code(&t.db, &config, IP, &issued.user_code.to_lowercase(), NOW + 30).await.unwrap() {
        UserCodeCheck::Found(found) => found.id,
        other => panic!("the live code is found: {other:?}"),
    };
    assert!(approve(&t.db, &id, &session, NOW + 31).await.unwrap());
    assert!(!approve(&t.db, &id, &session, NOW + 31).await.unwrap(), "decided once");
    assert!(!deny(&t.db, &id, None, NOW + 31).await.unwrap(), "decided once");
    let Poll::Approved(approved) = poll(&t.db, code, "actes-desktop", NOW + 40).await.unwrap() else {
        panic!("approved");
    };
    assert_eq!(approved.account_id, session.account_id);
    assert_eq!(approved.session_id.as_deref(), Some(session.id.as_str()));
    assert_eq!((approved.acr.as_str(), approved.sid.as_str()), (acr::MULTI_FACTOR, session.sid.as_str()));
    assert_eq!(approved.amr, ["pwd", "otp", "mfa"]);
    assert_eq!(approved.scopes, scopes);
    assert_eq!(approved.auth_time, NOW - 30);
    assert_eq!(approved.grant_id, crypto::token_hash(code));
    assert!(matches!(poll(&t.db, code, "actes-desktop", NOW + 50).await.unwrap(), Poll::Invalid), "used");
}

#[tokio::test]
async fn device_decisions_and_expiry() {
    let t = TestState::open().await;
    let config = DeviceAuthorizationConfig::default();
    let scopes = vec!["openid".to_string()];
    let denied = create(&t.db, "actes-desktop", &scopes, &config, NOW).await.unwrap();
    let UserCodeCheck::Found(found) = check_user_code(&t.db, &config, IP, &denied.user_code, NOW).await.unwrap() else {
        panic!("found");
    };
    assert!(deny(&t.db, &found.id, None, NOW + 1).await.unwrap());
    assert!(matches!(poll(&t.db, &denied.device_code, "actes-desktop", NOW + 5).await.unwrap(), Poll::Denied));
    assert!(matches!(
        check_user_code(&t.db, &config, IP, &denied.user_code, NOW + 5).await.unwrap(),
        UserCodeCheck::NotValid
    ));
    assert!(find_pending(&t.db, &found.id, NOW + 5).await.unwrap().is_none());

    let expiring = create(&t.db, "actes-desktop", &scopes, &config, NOW).await.unwrap();
    let UserCodeCheck::Found(found) = check_user_code(&t.db, &config, IP, &expiring.user_code, NOW).await.unwrap()
    else {
        panic!("found");
    };
    assert!(!approve(&t.db, &found.id, &pauline_session(&t).await, NOW + 600).await.unwrap(), "too late");
    assert!(matches!(poll(&t.db, &expiring.device_code, "actes-desktop", NOW + 600).await.unwrap(), Poll::Expired));
    assert_eq!(sweep(&t.db, NOW + 599).await.unwrap(), 0);
    assert_eq!(sweep(&t.db, NOW + 600).await.unwrap(), 2);
}

#[tokio::test]
async fn device_user_codes_spend_guesses_and_right_ones_give_them_back() {
    let t = TestState::open().await;
    let config = DeviceAuthorizationConfig { max_failures_per_source: 3, ..Default::default() };
    let issued = create(&t.db, "actes-desktop", &["openid".to_string()], &config, NOW).await.unwrap();
    let wrong = if issued.user_code == "BBBBBBBB" { "CCCCCCCC" } else { "BBBBBBBB" };
    for _ in 0..2 {
        assert!(matches!(check_user_code(&t.db, &config, IP, wrong, NOW).await.unwrap(), UserCodeCheck::NotValid));
    }
    // A right code between wrong ones changes nothing: it is not a way to buy guesses.
    let right = check_user_code(&t.db, &config, IP, &issued.user_code, NOW).await.unwrap();
    assert!(matches!(right, UserCodeCheck::Found(_)));
    assert_eq!(counts(&t.db, IP, NOW).await.unwrap(), ((3, 2), (3, 2)));
    assert!(matches!(check_user_code(&t.db, &config, IP, wrong, NOW).await.unwrap(), UserCodeCheck::NotValid));
    let waiting = check_user_code(&t.db, &config, IP, &issued.user_code, NOW).await.unwrap();
    assert!(matches!(waiting, UserCodeCheck::Wait { until } if until == NOW + 60), "{waiting:?}");
    // Malformed: nothing to look up, nothing spent.
    assert!(matches!(check_user_code(&t.db, &config, IP, "AEIO", NOW).await.unwrap(), UserCodeCheck::NotValid));
    assert_eq!(counts(&t.db, IP, NOW).await.unwrap(), ((5, 3), (4, 3)));
    // Another address has its own budget.
    let elsewhere = check_user_code(&t.db, &config, Some("198.51.100.1"), &issued.user_code, NOW).await.unwrap();
    assert!(matches!(elsewhere, UserCodeCheck::Found(_)));
}
