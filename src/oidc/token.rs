//! The token endpoint (RFC 6749 3.2, OIDC Core 3.1.3): the authorization code grant with
//! PKCE. A code is redeemed once; a second attempt fails and revokes what the first
//! issued (RFC 6749 4.1.2).

use axum::{
    Json,
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, header},
    response::{IntoResponse, Response},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};
use serde_json::json;

use super::client_auth;
use super::error::OAuthError;
use super::params::Params;
use super::tokens::{self, Grant};
use crate::accounts;
use crate::app::AppState;
use crate::audit::{self, AuditEvent};
use crate::clients::Client;
use crate::crypto;
use crate::domain::from_json_text;
use crate::storage::entities::{authorization_code, issued_token};
use crate::web::request::ClientIp;

pub async fn token(State(state): State<AppState>, ip: ClientIp, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &ip, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn handle(state: &AppState, ip: &ClientIp, headers: &HeaderMap, body: &[u8]) -> Result<Response, OAuthError> {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return Err(OAuthError::invalid_request("send the token request as application/x-www-form-urlencoded"));
    }
    let body = std::str::from_utf8(body).map_err(|_| OAuthError::invalid_request("the body is not UTF-8"))?;
    let params = Params::parse(body)
        .map_err(|name| OAuthError::invalid_request(format!("parameter `{name}` appears more than once")))?;
    let client = client_auth::authenticate(state, headers, &params).await.inspect_err(|_| {
        tracing::info!(target: "sesame::audit", event = "token.client_auth_failed", ip = ip.0.as_deref());
    })?;
    let grant_type = params.get("grant_type").ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    match grant_type {
        "authorization_code" if client.allows_grant(grant_type) => {
            authorization_code(state, ip, &client, &params).await
        }
        "authorization_code" => {
            Err(OAuthError::unauthorized_client("this client may not use the authorization_code grant"))
        }
        other => Err(OAuthError::unsupported_grant_type(format!("grant_type `{other}` is not supported"))),
    }
}

async fn authorization_code(
    state: &AppState,
    ip: &ClientIp,
    client: &Client,
    params: &Params,
) -> Result<Response, OAuthError> {
    let now = state.clock.now();
    let code = params.get("code").ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri =
        params.get("redirect_uri").ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let code_hash = crypto::token_hash(code);
    let invalid = || OAuthError::invalid_grant("the authorization code is invalid, expired or already used");

    let row = authorization_code::Entity::find_by_id(code_hash.clone())
        .one(&state.db)
        .await
        .map_err(db_error)?
        .ok_or_else(invalid)?;
    if row.client_id != client.client_id {
        return Err(invalid());
    }
    // Consume first, atomically: of two concurrent redemptions (on any nodes) one wins.
    let consumed = authorization_code::Entity::update_many()
        .col_expr(authorization_code::Column::UsedAt, Expr::value(now))
        .filter(authorization_code::Column::CodeHash.eq(&code_hash))
        .filter(authorization_code::Column::UsedAt.is_null())
        .exec(&state.db)
        .await
        .map_err(db_error)?;
    if consumed.rows_affected != 1 {
        revoke_tokens_of_code(state, &code_hash).await?;
        audit::record(
            &state.db,
            now,
            AuditEvent {
                event: "token.code_reuse",
                account_id: Some(&row.account_id),
                client_id: Some(&client.client_id),
                ip: ip.0.as_deref(),
                ..Default::default()
            },
        )
        .await;
        return Err(invalid());
    }
    if row.expires_at <= now {
        return Err(invalid());
    }
    if row.redirect_uri != redirect_uri {
        return Err(OAuthError::invalid_grant("redirect_uri differs from the one of the authorization request"));
    }
    match (&row.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            let well_formed = (43..=128).contains(&verifier.len())
                && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if !well_formed || !crypto::constant_time_eq(crypto::pkce_s256(verifier).as_bytes(), challenge.as_bytes()) {
                return Err(OAuthError::invalid_grant("code_verifier does not match the code_challenge"));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant("code_verifier is required: the request used PKCE"));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier given but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    let account = accounts::find_by_id(&state.db, &row.account_id)
        .await?
        .filter(|a| !a.archived)
        .ok_or_else(|| OAuthError::invalid_grant("the account is no longer active"))?;

    let scopes: Vec<String> = row.scope.split_whitespace().map(str::to_string).collect();
    let grant = Grant {
        account: &account,
        client,
        scopes: scopes.clone(),
        nonce: row.nonce.clone(),
        auth_time: row.auth_time,
        acr: row.acr.clone(),
        amr: from_json_text(&row.amr),
        sid: row.sid.clone(),
        code_hash: Some(code_hash),
    };
    let access = tokens::mint_access_token(state, &grant, now).await?;
    let mut body = json!({
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": access.expires_in,
        "scope": scopes.join(" "),
    });
    if scopes.iter().any(|s| s == "openid") {
        body["id_token"] = json!(tokens::mint_id_token(state, &grant, Some(&access.token), now).await?);
    }
    audit::record(
        &state.db,
        now,
        AuditEvent {
            event: "token.issued",
            account_id: Some(&account.id),
            client_id: Some(&client.client_id),
            ip: ip.0.as_deref(),
            detail: Some(json!({"grant_type": "authorization_code"})),
        },
    )
    .await;
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

async fn revoke_tokens_of_code(state: &AppState, code_hash: &str) -> Result<(), OAuthError> {
    issued_token::Entity::update_many()
        .col_expr(issued_token::Column::Revoked, Expr::value(true))
        .filter(issued_token::Column::CodeHash.eq(code_hash))
        .exec(&state.db)
        .await
        .map_err(db_error)?;
    Ok(())
}

fn db_error(error: sea_orm::DbErr) -> OAuthError {
    OAuthError::from(crate::domain::DomainError::Storage(error))
}
