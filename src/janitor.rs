//! Housekeeping: deletes what has expired (sessions, pending logins, codes, refresh
//! tokens, revocations, used assertions, retired signing keys, old audit events, mailed
//! codes, authenticator secrets whose enrollment was abandoned, guessing budgets quiet
//! for a day, expired device authorizations, unfinished passkey ceremonies, pushed authorization requests nobody came for, the caches' change feed) so tables do not grow without bound.
//! Every statement is an idempotent delete by date, so several nodes may sweep at the
//! same time.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::domain::DomainError;
use crate::state::AppState;
use crate::storage::entities::{
    audit_event, authorization_code, authorization_request, one_time_code, push_challenge, push_enrollment,
    refresh_token, revocation, second_factor, session, session_client, signing_key, sms_send, used_assertion,
};

/// Codes are kept a little after they expire, so that a late replay is still
/// recognised as a replay in the audit trail rather than as an unknown code.
const CODE_RETENTION: i64 = 600;
/// Retired signing keys stay published this long after the last token they signed expired.
const KEY_MARGIN: i64 = 300;

/// Rows deleted by one sweep, by table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub sessions: u64,
    pub authorization_requests: u64,
    pub authorization_codes: u64,
    pub refresh_tokens: u64,
    pub revocations: u64,
    pub used_assertions: u64,
    pub session_clients: u64,
    pub signing_keys: u64,
    pub audit_events: u64,
    pub one_time_codes: u64,
    pub abandoned_enrollments: u64,
    pub sms_sends: u64,
    pub push_challenges: u64,
    pub push_enrollments: u64,
    pub throttles: u64,
    pub device_authorizations: u64,
    pub passkey_ceremonies: u64,
    pub pushed_authorization_requests: u64,
    pub cache_events: u64,
}

pub async fn sweep(state: &AppState, now: i64) -> Result<Swept, DomainError> {
    let db = &state.db;
    let config = &state.config;
    let token_lifetime = config.tokens.access_token_ttl.max(config.tokens.id_token_ttl);
    let swept = Swept {
        sessions: session::Entity::delete_many()
            .filter(session::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        authorization_requests: authorization_request::Entity::delete_many()
            .filter(authorization_request::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        authorization_codes: authorization_code::Entity::delete_many()
            .filter(authorization_code::Column::ExpiresAt.lte(now - CODE_RETENTION))
            .exec(db)
            .await?
            .rows_affected,
        refresh_tokens: refresh_token::Entity::delete_many()
            .filter(refresh_token::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        revocations: revocation::Entity::delete_many()
            .filter(revocation::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        used_assertions: used_assertion::Entity::delete_many()
            .filter(used_assertion::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        session_clients: session_client::Entity::delete_many()
            .filter(session_client::Column::CreatedAt.lte(now - config.session.max_lifetime))
            .exec(db)
            .await?
            .rows_affected,
        signing_keys: signing_key::Entity::delete_many()
            .filter(signing_key::Column::Status.eq("retired"))
            .filter(signing_key::Column::RetiredAt.lte(now - token_lifetime - KEY_MARGIN))
            .exec(db)
            .await?
            .rows_affected,
        audit_events: audit_event::Entity::delete_many()
            .filter(audit_event::Column::At.lte(now - config.janitor.audit_retention_days * 86_400))
            .exec(db)
            .await?
            .rows_affected,
        one_time_codes: one_time_code::Entity::delete_many()
            .filter(one_time_code::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        // An enrollment cannot outlive its login request; a day is well past that.
        abandoned_enrollments: second_factor::Entity::delete_many()
            .filter(second_factor::Column::ConfirmedAt.is_null())
            .filter(second_factor::Column::CreatedAt.lte(now - 86_400))
            .exec(db)
            .await?
            .rows_affected,
        // The longest SMS limit counts a day.
        sms_sends: sms_send::Entity::delete_many()
            .filter(sms_send::Column::SentAt.lte(now - 86_400))
            .exec(db)
            .await?
            .rows_affected,
        // Challenges count toward the hourly limit; after a day they serve nothing (the
        // audit trail keeps what happened).
        push_challenges: push_challenge::Entity::delete_many()
            .filter(push_challenge::Column::CreatedAt.lte(now - 86_400))
            .exec(db)
            .await?
            .rows_affected,
        push_enrollments: push_enrollment::Entity::delete_many()
            .filter(push_enrollment::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?
            .rows_affected,
        // Guessing budgets quiet for a day and not waiting are forgotten; those waiting
        // for an administrator stay.
        throttles: crate::lockout::throttle::sweep(db, now).await?,
        // Device authorizations, whatever became of them, once expired.
        device_authorizations: crate::device_authorization::sweep(db, now).await?,
        // Passkey ceremonies nobody finished.
        passkey_ceremonies: crate::second_factor::passkey::ceremony::purge_expired(db, now).await?,
        // Pushed authorization requests nobody came for.
        pushed_authorization_requests: crate::oidc::par::sweep(db, now).await?,
        // The caches' change feed, an hour after every node has read it.
        cache_events: crate::change_feed::sweep(db).await?,
    };
    if swept.signing_keys > 0
        && let Err(error) = state.keys.reload().await
    {
        tracing::error!(%error, "could not reload signing keys after the sweep");
    }
    Ok(swept)
}

/// Sweeps every `janitor.interval` seconds in the background; nothing when it is 0.
pub fn spawn(state: AppState) -> Option<tokio::task::JoinHandle<()>> {
    let interval = state.config.janitor.interval;
    if interval == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(std::time::Duration::from_secs(interval));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match sweep(&state, state.clock.now()).await {
                Ok(swept) => tracing::debug!(?swept, "janitor sweep"),
                Err(error) => tracing::warn!(%error, "janitor sweep failed; retrying at the next interval"),
            }
        }
    }))
}
