//! OpenID Connect Back-Channel Logout 1.0: when a session ends, every client that
//! received tokens in it and registered a `backchannel_logout_uri` is sent a signed
//! logout token, so that logging out of one office application logs out of all.

use serde_json::json;

use crate::audit::{self, AuditEvent};
use crate::clients::Client;
use crate::crypto;
use crate::state::AppState;

const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// Sends the logout tokens concurrently and waits for the answers (each under the
/// `[fetch]` policy, as every call to a URL a client gave); failures are logged and audited, never fatal to the logout.
pub async fn notify(state: &AppState, clients: Vec<Client>, account_id: &str, sid: &str, now: i64) {
    let mut deliveries = tokio::task::JoinSet::new();
    for client in clients.into_iter().filter(|c| c.backchannel_logout_uri.is_some()) {
        let (state, account_id, sid) = (state.clone(), account_id.to_string(), sid.to_string());
        deliveries.spawn(async move {
            let outcome = deliver(&state, &client, &account_id, &sid, now).await;
            (client.client_id, outcome)
        });
    }
    while let Some(joined) = deliveries.join_next().await {
        let Ok((client_id, Err(reason))) = joined else { continue };
        tracing::warn!(client_id, reason, "back-channel logout failed");
        crate::metrics::Metrics::count(&state.metrics.backchannel_failures);
        let event = AuditEvent {
            event: "logout.backchannel_failed",
            account_id: Some(account_id),
            client_id: Some(&client_id),
            detail: Some(json!({"reason": reason})),
            ..Default::default()
        };
        audit::record(&state.db, now, event).await;
    }
}

async fn deliver(state: &AppState, client: &Client, account_id: &str, sid: &str, now: i64) -> Result<(), String> {
    let uri = client.backchannel_logout_uri.as_deref().ok_or("no back-channel logout URI")?;
    let key = state.keys.current(client.id_token_alg).await.map_err(|e| e.to_string())?;
    let claims = json!({
        "iss": state.config.issuer(),
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": crypto::random_id(),
        "sub": super::subject::for_client(&state.pairwise_key, client, account_id),
        "sid": sid,
        "events": { EVENT: {} },
    });
    let token = key.sign("logout+jwt", &claims).map_err(|e| e.to_string())?;
    state.fetcher.post_form(uri, &[("logout_token", &token)]).await.map_err(|e| e.to_string())
}
