//! Recovery codes: ten single-use codes shown once after enrollment, for the day the
//! phone is lost. Only their keyed hashes are stored; using one marks it used in the
//! same statement that checks it, so it works once even on two nodes at the same time.

use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait,
};

use crate::crypto;
use crate::domain::DomainError;
use crate::storage::{Db, entities::recovery_code};

/// Letters and digits that cannot be mistaken for one another when read from paper.
const ALPHABET: &[u8; 31] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// A code: ten characters of 31 (about 49.5 bits), shown as `xxxxx-xxxxx`.
fn generate_one() -> String {
    let bytes = crypto::random_bytes::<10>();
    // 31 symbols: reducing a byte modulo 31 biases 8 of them by 1/256, negligible
    // against 49.5 bits of guessing behind a lockout.
    let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % 31] as char).collect();
    format!("{}-{}", &chars[..5], &chars[5..])
}

/// What is compared: lower case, separators and spaces dropped.
fn normalize(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

fn hash(key: &[u8], account_id: &str, code: &str) -> String {
    crypto::keyed_hash(key, "recovery-code", format!("{account_id}:{}", normalize(code)).as_bytes())
}

/// Replaces the account's recovery codes with `count` new ones, returned once here.
pub async fn regenerate(
    db: &Db,
    key: &[u8],
    account_id: &str,
    count: usize,
    now: i64,
) -> Result<Vec<String>, DomainError> {
    let codes: Vec<String> = (0..count).map(|_| generate_one()).collect();
    let txn = db.begin().await?;
    recovery_code::Entity::delete_many().filter(recovery_code::Column::AccountId.eq(account_id)).exec(&txn).await?;
    for code in &codes {
        recovery_code::ActiveModel {
            id: Set(crypto::random_id()),
            account_id: Set(account_id.to_string()),
            code_hash: Set(hash(key, account_id, code)),
            created_at: Set(now),
            used_at: Set(None),
        }
        .insert(&txn)
        .await?;
    }
    txn.commit().await?;
    Ok(codes)
}

/// Uses a code: `true` if it was one of the account's and had not been used.
pub async fn redeem(db: &Db, key: &[u8], account_id: &str, code: &str, now: i64) -> Result<bool, DomainError> {
    if normalize(code).len() != 10 {
        return Ok(false);
    }
    let result = recovery_code::Entity::update_many()
        .col_expr(recovery_code::Column::UsedAt, Expr::value(now))
        .filter(recovery_code::Column::AccountId.eq(account_id))
        .filter(recovery_code::Column::CodeHash.eq(hash(key, account_id, code)))
        .filter(recovery_code::Column::UsedAt.is_null())
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// How many unused codes the account has left.
pub async fn remaining(db: &Db, account_id: &str) -> Result<u64, DomainError> {
    Ok(recovery_code::Entity::find()
        .filter(recovery_code::Column::AccountId.eq(account_id))
        .filter(recovery_code::Column::UsedAt.is_null())
        .count(db)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_distinct() {
        let codes: Vec<String> = (0..50).map(|_| generate_one()).collect();
        for code in &codes {
            assert_eq!(code.len(), 11, "{code}");
            assert_eq!(normalize(code).len(), 10);
            assert!(!code.contains(['0', 'o', '1', 'l', 'i']), "{code}");
        }
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
        assert_eq!(normalize(" ABCDE-fghjk "), "abcdefghjk");
    }
}
