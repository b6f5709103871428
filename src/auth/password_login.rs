//! Identifier and password check, with lockout after repeated failures. The outcome is
//! the same for an unknown identifier and a wrong password, in words and in time.

use std::sync::Arc;

use crate::accounts::{self, Account};
use crate::config::LoginConfig;
use crate::crypto::password::PasswordHasherService;
use crate::domain::DomainError;
use crate::storage::Db;

#[derive(Debug)]
pub enum LoginOutcome {
    Success(Box<Account>),
    /// Unknown identifier or wrong password: the user is not told which.
    WrongCredentials {
        account_id: Option<String>,
    },
    /// Too many failures; the account may try again after this many seconds.
    Locked {
        account_id: String,
        retry_after: i64,
    },
    /// The password was right but the account is archived.
    Archived {
        account_id: String,
    },
}

pub async fn verify_password(
    db: &Db,
    hasher: &Arc<PasswordHasherService>,
    policy: &LoginConfig,
    username: &str,
    password: &str,
    now: i64,
) -> Result<LoginOutcome, DomainError> {
    let account = accounts::find_by_username(db, username).await?;
    let Some(account) = account else {
        let hasher = hasher.clone();
        let password = password.to_string();
        let _ = tokio::task::spawn_blocking(move || hasher.verify_dummy(&password)).await;
        return Ok(LoginOutcome::WrongCredentials { account_id: None });
    };
    if let Some(retry_after) = account.locked_for(now) {
        return Ok(LoginOutcome::Locked { account_id: account.id, retry_after });
    }
    let matches = {
        let hasher = hasher.clone();
        let password = password.to_string();
        let hash = account.password_hash.clone();
        tokio::task::spawn_blocking(move || hasher.verify(&password, &hash)).await.unwrap_or(false)
    };
    if !matches {
        return Ok(match accounts::record_login_failure(db, &account, now, policy).await? {
            Some(until) => LoginOutcome::Locked { account_id: account.id, retry_after: until - now },
            None => LoginOutcome::WrongCredentials { account_id: Some(account.id) },
        });
    }
    if account.archived {
        return Ok(LoginOutcome::Archived { account_id: account.id });
    }
    accounts::reset_login_failures(db, &account).await?;
    Ok(LoginOutcome::Success(Box::new(account)))
}
