//! Guessing budgets that hold across nodes: one row per throttled key (an identifier and
//! the source trying it, an account's second factor, a client and the source presenting
//! its secret…), updated only by atomic SQL statements. And the administrator's manual
//! lock of an account, which replaces the per-account password lockout.
//!
//! The columns `failed_logins`, `locked_until`, `factor_failures` and
//! `factor_locked_until` of `accounts` are no longer read or written; they stay, with
//! defaults, for nodes of the previous release during a rolling upgrade.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("throttles")
                    // What is limited, e.g. `password:source:<identifier hash>:<address>`.
                    .col(string("key").primary_key())
                    // Whose budget it is (`user:<identifier hash>`, `account:<id>`,
                    // `client:<id>`): an administrator's unlock clears them together.
                    .col(string("subject"))
                    // Every attempt, refused ones included.
                    .col(big_integer("attempts").default(0))
                    // Attempts let through and not (yet) followed by a success: they
                    // drive the waits and the hard limit.
                    .col(integer("failures").default(0))
                    // No attempt is let through before this time.
                    .col(big_integer_null("blocked_until"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(Index::create().name("ix_throttles_subject").table("throttles").col("subject").to_owned())
            .await?;
        manager
            .create_index(
                Index::create().name("ix_throttles_updated_at").table("throttles").col("updated_at").to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("accounts").add_column(big_integer_null("admin_locked_at")).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("throttles").if_exists().to_owned()).await?;
        manager.alter_table(Table::alter().table("accounts").drop_column("admin_locked_at").to_owned()).await?;
        Ok(())
    }
}
