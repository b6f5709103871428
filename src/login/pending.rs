//! Where a login in progress lives. While it waits for the password it is stored
//! nowhere: it travels sealed (XChaCha20-Poly1305 under the master key) in the `tx` of
//! the login page's URL, so that a flood of unauthenticated authorization requests
//! writes no database row. Once the password is right it is stored
//! (`authorization_requests`, keyed by the id sealed inside) and later stages read it
//! from there. Either way it is bound to the browser that started it and consumed once.
//!
//! Every function takes a connection (`impl ConnectionTrait`), so a caller may run
//! several steps in one transaction.

use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde::{Deserialize, Serialize};

use super::request::{AuthorizationRequest, ErrorRedirect};
use super::stage::{Pending, Stage};
use crate::crypto::{self, secretbox::SecretBox};
use crate::domain::{DomainError, to_json_text};
use crate::storage::entities::authorization_request;

/// A request waiting for the password, as sealed in the login page's `tx`.
#[derive(Serialize, Deserialize)]
struct SealedLogin {
    /// The id the request will be stored under once the password is right.
    id: String,
    request: AuthorizationRequest,
    browser_hash: String,
    expires_at: i64,
}

/// Associated data of sealed logins: a sealed value made for another purpose never opens.
const SEALED_LOGIN: &str = "pending-login";
/// Largest sealed request: it travels in URLs and forms.
const MAX_SEALED_REQUEST: usize = 6 * 1024;
/// What a consumed request's row holds until it expires, so that a replayed `tx` finds
/// it used.
const CONSUMED: &str = "consumed";

/// The `tx` of a new login: the request, sealed and bound to the browser.
pub fn seal(
    secrets: &SecretBox,
    browser_hash: &str,
    request: AuthorizationRequest,
    expires_at: i64,
) -> Result<String, ErrorRedirect> {
    let sealed =
        SealedLogin { id: crypto::random_token(), request, browser_hash: browser_hash.to_string(), expires_at };
    let text = to_json_text(&sealed);
    if text.len() > MAX_SEALED_REQUEST {
        return Err(sealed.request.error("invalid_request", "the authorization request is too large"));
    }
    Ok(secrets.seal(text.as_bytes(), SEALED_LOGIN))
}

/// Whether `request` is small enough to wait for its password sealed in a `tx`, as
/// [`seal`] will want: a pushed request (PAR) that is not is refused when pushed, rather
/// than stored for a login that could not start.
pub fn can_be_sealed(request: &AuthorizationRequest) -> bool {
    let probe = SealedLogin {
        id: crypto::random_token(),
        request: request.clone(),
        // A browser hash is a token hash: the same length whatever the browser.
        browser_hash: crypto::token_hash(""),
        expires_at: i64::MAX,
    };
    to_json_text(&probe).len() <= MAX_SEALED_REQUEST
}

/// Whether a `tx` is a sealed login rather than the id of a stored request.
fn is_sealed(tx: &str) -> bool {
    tx.starts_with("v1.")
}

fn open(secrets: &SecretBox, tx: &str) -> Option<SealedLogin> {
    let text = secrets.open(tx, SEALED_LOGIN).ok()?;
    serde_json::from_slice(&text).ok()
}

/// The pending request `tx`, if it exists, has not expired and belongs to the browser
/// whose id hashes to `browser_hash`.
pub async fn load(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    browser_hash: &str,
    tx: &str,
    now: i64,
) -> Result<Option<Pending>, DomainError> {
    let bound_here = |hash: &str| crypto::constant_time_eq(hash.as_bytes(), browser_hash.as_bytes());
    let (id, sealed) = if is_sealed(tx) {
        let Some(sealed) = open(secrets, tx) else { return Ok(None) };
        if sealed.expires_at <= now || !bound_here(&sealed.browser_hash) {
            return Ok(None);
        }
        (sealed.id.clone(), Some(sealed))
    } else {
        (tx.to_string(), None)
    };
    let row = authorization_request::Entity::find_by_id(id.clone()).one(db).await?;
    Ok(match (row, sealed) {
        // Past the password (or another page's stage): the stored request rules.
        (Some(row), _) => {
            if row.expires_at <= now || !bound_here(&row.browser_hash) {
                return Ok(None);
            }
            let Ok(mut pending) = serde_json::from_str::<Pending>(&row.request) else {
                return Ok(None);
            };
            pending.stored = row.request;
            pending.browser_hash = row.browser_hash;
            Some(pending)
        }
        (None, Some(sealed)) => Some(Pending {
            id,
            request: sealed.request,
            stage: Stage::Login,
            stored: String::new(),
            browser_hash: sealed.browser_hash,
            sealed: Some(tx.to_string()),
        }),
        (None, None) => None,
    })
}

/// The client that started the login `tx` and, while the login is not used up, the
/// redirect URI it asked for — whatever became of the login (expired, another
/// browser's, completed): what an "expired" page needs to lead the person back to the
/// application. `None` once the janitor removed it.
pub async fn started_by(
    db: &impl ConnectionTrait,
    secrets: &SecretBox,
    tx: &str,
) -> Result<Option<(String, Option<String>)>, DomainError> {
    if is_sealed(tx) {
        return Ok(open(secrets, tx).map(|sealed| (sealed.request.client_id, Some(sealed.request.redirect_uri))));
    }
    let row = authorization_request::Entity::find_by_id(tx.to_string()).one(db).await?;
    Ok(row.map(|row| {
        let asked = serde_json::from_str::<Pending>(&row.request).ok().map(|pending| pending.request.redirect_uri);
        (row.client_id, asked)
    }))
}

/// Stores a new pending request at `stage` (a step-up or consent of an existing
/// session, which skips the password); returns it as stored.
pub async fn save(
    db: &impl ConnectionTrait,
    browser_hash: &str,
    request: &AuthorizationRequest,
    stage: Stage,
    expires_at: i64,
    now: i64,
) -> Result<Pending, DomainError> {
    let pending = Pending {
        id: crypto::random_token(),
        request: request.clone(),
        stage,
        stored: String::new(),
        browser_hash: browser_hash.to_string(),
        sealed: None,
    };
    let text = to_json_text(&pending);
    authorization_request::ActiveModel {
        id: Set(pending.id.clone()),
        client_id: Set(request.client_id.clone()),
        browser_hash: Set(browser_hash.to_string()),
        request: Set(text.clone()),
        created_at: Set(now),
        expires_at: Set(expires_at),
    }
    .insert(db)
    .await?;
    Ok(Pending { stored: text, ..pending })
}

/// Consumes a pending request: it can be completed once (a second tab, a replayed form
/// or a replayed sealed `tx` finds it used).
pub async fn take(
    db: &impl ConnectionTrait,
    pending: &Pending,
    expires_at: i64,
    now: i64,
) -> Result<bool, DomainError> {
    store_stage(db, pending, CONSUMED.to_string(), expires_at, now).await
}

/// Moves a pending request to its next stage, if no other tab or replayed form moved it
/// first; `Ok(None)` when it had moved (the caller sends the browser to where it is now).
/// Each move gives the user the full request lifetime again (`expires_at`): enrollment
/// takes a while.
pub async fn advance(
    db: &impl ConnectionTrait,
    pending: &Pending,
    stage: Stage,
    expires_at: i64,
    now: i64,
) -> Result<Option<Pending>, DomainError> {
    let next = pending.at(stage);
    let text = to_json_text(&next);
    Ok(store_stage(db, pending, text.clone(), expires_at, now).await?.then_some(Pending { stored: text, ..next }))
}

/// Writes the request's next stored text by compare-and-swap: an insert for a request
/// that was only sealed so far (the id's uniqueness is the swap), else an update of the
/// exact text it was read from.
async fn store_stage(
    db: &impl ConnectionTrait,
    pending: &Pending,
    text: String,
    expires_at: i64,
    now: i64,
) -> Result<bool, DomainError> {
    if pending.stored.is_empty() {
        let row = authorization_request::ActiveModel {
            id: Set(pending.id.clone()),
            client_id: Set(pending.request.client_id.clone()),
            browser_hash: Set(pending.browser_hash.clone()),
            request: Set(text),
            created_at: Set(now),
            expires_at: Set(expires_at),
        };
        return match row.insert(db).await {
            Ok(_) => Ok(true),
            Err(error) if crate::storage::is_unique_violation(&error) => Ok(false),
            Err(error) => Err(error.into()),
        };
    }
    let result = authorization_request::Entity::update_many()
        .col_expr(authorization_request::Column::Request, sea_orm::sea_query::Expr::value(text))
        .col_expr(authorization_request::Column::ExpiresAt, sea_orm::sea_query::Expr::value(expires_at))
        .filter(authorization_request::Column::Id.eq(pending.id.clone()))
        .filter(authorization_request::Column::Request.eq(pending.stored.clone()))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}
