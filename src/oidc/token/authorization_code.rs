//! The authorization code grant with PKCE. A code is redeemed once; a second attempt
//! fails and revokes what the first issued (RFC 6749 4.1.2).

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::{Value, json};

use super::{UserGrant, user_tokens};
use super::{jwt::SessionFacts, refresh_store as refresh};
use crate::accounts;
use crate::audit::{self, AuditEvent};
use crate::client_ip::ClientIp;
use crate::clients::Client;
use crate::crypto;
use crate::domain::from_json_text;
use crate::oidc::{error::OAuthError, params::Params, resource};
use crate::revocations::{self, Scope};
use crate::state::AppState;
use crate::storage::entities::authorization_code;

pub async fn exchange(
    state: &AppState,
    ip: &ClientIp,
    client: &Client,
    params: &Params,
    dpop_jkt: Option<&str>,
    now: i64,
) -> Result<Value, OAuthError> {
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri =
        params.get("redirect_uri").ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let code_hash = crypto::token_hash(code);
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid, expired or already used");

    let row = authorization_code::Entity::find_by_id(code_hash.clone()).one(&state.db).await.map_err(db_error)?;
    let row = row.filter(|row| row.client_id == client.client_id).ok_or_else(invalid)?;
    // Checked before the code is spent: someone who saw the code but holds neither the
    // PKCE verifier nor the DPoP key cannot burn it and spoil the rightful redemption.
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the one of the authorization request"));
    }
    check_pkce(row.code_challenge.as_deref(), params.get("code_verifier"))?;
    // RFC 9449 10: a code asked for with `dpop_jkt` is redeemed with a proof of that key.
    if let Some(bound) = row.dpop_jkt.as_deref()
        && dpop_jkt != Some(bound)
    {
        return Err(OAuthError::invalid_grant(
            "the authorization code is bound to a DPoP key (dpop_jkt): send a proof signed with that key",
        ));
    }
    // Then consumed, atomically: of two concurrent redemptions (on any nodes) one wins.
    let consumed = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(&code_hash))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(&state.db)
        .await
        .map_err(db_error)?;
    if consumed.rows_affected != 1 {
        // The code's hash is the grant id of everything it produced.
        refresh::revoke_family(state, &code_hash, now).await?;
        crate::metrics::Metrics::count(&state.metrics.code_reuse);
        let event = AuditEvent {
            event: "token.code_reuse",
            account_id: Some(&row.account_id),
            client_id: Some(&client.client_id),
            ip: ip.0.as_deref(),
            ..Default::default()
        };
        audit::record(&state.db, now, event).await;
        return Err(invalid());
    }
    // After the spending, so that an expired code played again still counts as reuse.
    if row.expires_at <= now {
        return Err(invalid());
    }
    let account = accounts::find_by_id(&state.db, &row.account_id)
        .await?
        .filter(|a| a.may_get_tokens())
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;

    let resource = resource::of_grant(&state.db, client, row.resource.as_deref(), params).await?;
    let scopes: Vec<String> = row.scope.split_whitespace().map(str::to_string).collect();
    let facts = SessionFacts {
        auth_time: row.auth_time,
        acr: row.acr.clone(),
        amr: from_json_text(&row.amr),
        sid: row.sid.clone(),
    };
    let grant = UserGrant {
        account: &account,
        client,
        scopes: &scopes,
        refresh_scopes: &scopes,
        facts: &facts,
        nonce: row.nonce.as_deref(),
        grant_id: &code_hash,
        session_id: Some(&row.session_id),
        grant_expires_at: None,
        claims: row.claims.as_deref(),
        resource: resource.as_deref(),
        dpop_jkt,
    };
    let body = user_tokens(state, &grant, now).await?;
    // A second redemption racing this one (on any node) revokes the grant's family; if
    // it did so before the refresh token above was stored, that revocation missed it.
    // The grant's entry in the revocation list tells: revoke the family again, refuse.
    if body.get("refresh_token").is_some()
        && revocations::any_revoked(&state.db, &[Scope::Grant(&code_hash)]).await.map_err(db_error)?
    {
        refresh::revoke_family(state, &code_hash, now).await?;
        return Err(invalid());
    }
    let event = AuditEvent {
        event: "token.issued",
        account_id: Some(&account.id),
        client_id: Some(&client.client_id),
        ip: ip.0.as_deref(),
        detail: Some(json!({"grant_type": "authorization_code", "refresh_token": body.get("refresh_token").is_some()})),
    };
    audit::record(&state.db, now, event).await;
    Ok(body)
}

/// RFC 7636 4.6: the verifier must hash to the challenge; a verifier without a
/// challenge, or the reverse, is refused.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || !crypto::constant_time_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
            Ok(())
        }
        (Some(_), None) => Err(OAuthError::invalid_grant("code_verifier is required: the request used PKCE")),
        (None, Some(_)) => {
            Err(OAuthError::invalid_grant("code_verifier given but the authorization request had no code_challenge"))
        }
        (None, None) => Ok(()),
    }
}

fn db_error(error: sea_orm::DbErr) -> OAuthError {
    OAuthError::from(crate::domain::DomainError::Storage(error))
}
