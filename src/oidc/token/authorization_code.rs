//! The authorization code grant with PKCE. A code is redeemed once; a second attempt
//! fails and revokes what the first issued (RFC 6749 4.1.2).

use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, sea_query::Expr};
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

    let presented =
        Presented { client, code_hash: &code_hash, redirect_uri, verifier: params.get("code_verifier"), dpop_jkt };
    let row = match spend_as_presented(state, &presented, now).await? {
        Some(row) => row,
        None => spend_checked(state, ip, &presented, now).await?,
    };
    // After the spending, so that an expired code played again still counts as reuse.
    if row.expires_at <= now {
        return Err(invalid_code());
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
        return Err(invalid_code());
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

/// What a redemption presents for a code.
#[derive(Clone, Copy)]
struct Presented<'a> {
    client: &'a Client,
    code_hash: &'a str,
    redirect_uri: &'a str,
    verifier: Option<&'a str>,
    dpop_jkt: Option<&'a str>,
}

/// The usual case in one statement: the code is spent only if everything the request
/// presents matches it (client, redirect URI, PKCE verifier, DPoP key) and it was never
/// used, atomically as below; the row it spent. `None` when anything differs: the
/// checked path then says what, and detects a reuse.
async fn spend_as_presented(
    state: &AppState,
    presented: &Presented<'_>,
    now: i64,
) -> Result<Option<authorization_code::Model>, OAuthError> {
    let Presented { client, code_hash, redirect_uri, verifier, dpop_jkt } = *presented;
    // A text PostgreSQL cannot hold (NUL) matches no code: the checked path says so.
    if redirect_uri.contains('\0') {
        return Ok(None);
    }
    let challenge = match verifier {
        Some(verifier) if !well_formed_verifier(verifier) => return Ok(None),
        Some(verifier) => authorization_code::Column::CodeChallenge.eq(crypto::pkce_s256(verifier)),
        None => authorization_code::Column::CodeChallenge.is_null(),
    };
    let dpop = match dpop_jkt {
        Some(jkt) => Condition::any()
            .add(authorization_code::Column::DpopJkt.is_null())
            .add(authorization_code::Column::DpopJkt.eq(jkt)),
        None => Condition::all().add(authorization_code::Column::DpopJkt.is_null()),
    };
    let spent = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(code_hash))
        .filter(authorization_code::Column::UsedAt.is_null())
        .filter(authorization_code::Column::ClientId.eq(&client.client_id))
        .filter(authorization_code::Column::RedirectUri.eq(redirect_uri))
        .filter(challenge)
        .filter(dpop)
        .exec_with_returning(&state.db)
        .await
        .map_err(db_error)?;
    Ok(spent.into_iter().next())
}

/// The code read, checked field by field (each mismatch has its own words), then spent
/// atomically; a code already spent is a reuse, which revokes what it issued.
async fn spend_checked(
    state: &AppState,
    ip: &ClientIp,
    presented: &Presented<'_>,
    now: i64,
) -> Result<authorization_code::Model, OAuthError> {
    let Presented { client, code_hash, redirect_uri, verifier, dpop_jkt } = *presented;
    let row = authorization_code::Entity::find_by_id(code_hash.to_string()).one(&state.db).await.map_err(db_error)?;
    let row = row.filter(|row| row.client_id == client.client_id).ok_or_else(invalid_code)?;
    // Checked before the code is spent: someone who saw the code but holds neither the
    // PKCE verifier nor the DPoP key cannot burn it and spoil the rightful redemption.
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the one of the authorization request"));
    }
    check_pkce(row.code_challenge.as_deref(), verifier)?;
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
        .filter(authorization_code::Column::CodeHash.eq(code_hash))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(&state.db)
        .await
        .map_err(db_error)?;
    if consumed.rows_affected != 1 {
        // The code's hash is the grant id of everything it produced.
        refresh::revoke_family(state, code_hash, now).await?;
        crate::metrics::Metrics::count(&state.metrics.code_reuse);
        let event = AuditEvent {
            event: "token.code_reuse",
            account_id: Some(&row.account_id),
            client_id: Some(&client.client_id),
            ip: ip.0.as_deref(),
            ..Default::default()
        };
        audit::record(&state.db, now, event).await;
        return Err(invalid_code());
    }
    Ok(row)
}

/// RFC 7636 4.6: the verifier must hash to the challenge; a verifier without a
/// challenge, or the reverse, is refused.
fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<(), OAuthError> {
    match (challenge, verifier) {
        (Some(challenge), Some(verifier)) => {
            if !well_formed_verifier(verifier)
                || !crypto::constant_time_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes())
            {
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

/// RFC 7636 4.1: 43 to 128 unreserved characters.
fn well_formed_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len()) && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The one answer for a code that is unknown, another client's, expired or spent: which
/// of these it was is not told.
fn invalid_code() -> OAuthError {
    OAuthError::invalid_grant("the authorization code is invalid, expired or already used")
}

fn db_error(error: sea_orm::DbErr) -> OAuthError {
    OAuthError::from(crate::domain::DomainError::Storage(error))
}
