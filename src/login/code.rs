//! The end of a login: the single-use authorization code, and the record that the
//! client took part in the session (to tell it when the session ends).

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::request::AuthorizationRequest;
use crate::auth::{acr, session::Session};
use crate::crypto;
use crate::domain::{DomainError, to_json_text};
use crate::storage::entities::{authorization_code, session_client};

/// Stores a new code for this request and session; returns the code (only its hash is
/// stored).
pub async fn issue(
    db: &impl ConnectionTrait,
    request: &AuthorizationRequest,
    session: &Session,
    expires_at: i64,
    now: i64,
) -> Result<String, DomainError> {
    let code = crypto::random_token();
    authorization_code::ActiveModel {
        code_hash: Set(crypto::token_hash(&code)),
        client_id: Set(request.client_id.clone()),
        account_id: Set(session.account_id.clone()),
        session_id: Set(session.id.clone()),
        redirect_uri: Set(request.redirect_uri.clone()),
        scope: Set(request.scopes.join(" ")),
        nonce: Set(request.nonce.clone()),
        code_challenge: Set(request.code_challenge.clone()),
        auth_time: Set(session.auth_time),
        acr: Set(acr_of(request, session)),
        amr: Set(to_json_text(&session.amr)),
        sid: Set(session.sid.clone()),
        claims: Set(request.claims.as_ref().and_then(|claims| serde_json::to_string(claims).ok())),
        resource: Set(request.resource.clone()),
        dpop_jkt: Set(request.dpop_jkt.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
        used_at: Set(None),
    }
    .insert(db)
    .await?;
    record_participant(db, &session.id, &request.client_id, now).await?;
    Ok(code)
}

/// The `acr` the tokens will carry: a client that asked for more than SMS and got it is
/// told so.
fn acr_of(request: &AuthorizationRequest, session: &Session) -> String {
    if acr::wants_strong(&request.acr_values) && acr::satisfies(&session.acr, &session.amr, &request.acr_values) {
        acr::STRONG.to_string()
    } else {
        session.acr.clone()
    }
}

/// Remembers that the client took part in the session, to tell it when the session ends.
pub async fn record_participant(
    db: &impl ConnectionTrait,
    session_id: &str,
    client_id: &str,
    now: i64,
) -> Result<(), DomainError> {
    let row = session_client::ActiveModel {
        session_id: Set(session_id.to_string()),
        client_id: Set(client_id.to_string()),
        created_at: Set(now),
    };
    session_client::Entity::insert(row)
        .on_conflict(
            sea_orm::sea_query::OnConflict::columns([
                session_client::Column::SessionId,
                session_client::Column::ClientId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
    Ok(())
}
