//! The device authorization grant (RFC 8628): one row per authorization a device asked
//! for, from its request at `/device_authorization` until it expires. The device code is
//! a bearer secret and is stored as its hash only; the user code is short, typed by a
//! person, and stored normalised (unique, so that a code names one authorization).
//!
//! Once a person approves on the verification page the row holds what the tokens are
//! made of: the account and the session facts (`auth_time`, `amr`, `acr`, `sid`) of the
//! login that approved. The janitor deletes rows once they expire.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("device_authorizations")
                    // A random id: what the verification page's cookie and the audit
                    // trail name (never the device code or its hash).
                    .col(string("id").primary_key())
                    .col(string_uniq("device_code_hash"))
                    // Normalised: eight letters, no dash.
                    .col(string_uniq("user_code"))
                    .col(string("client_id"))
                    .col(text("scope"))
                    // pending, approved, denied or used; changed only by conditional
                    // UPDATEs (compare-and-swap), so two nodes never both move a row.
                    .col(string("status"))
                    .col(string_null("account_id"))
                    // The approving session's row id (refresh tokens end with it).
                    .col(string_null("session_id"))
                    .col(big_integer_null("auth_time"))
                    .col(text_null("amr"))
                    .col(string_null("acr"))
                    .col(string_null("sid"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    // Seconds the device must wait between two polls; raised by 5 at
                    // every `slow_down`.
                    .col(integer("poll_interval"))
                    .col(big_integer_null("last_polled_at"))
                    .col(big_integer_null("decided_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_device_authorizations_expires_at")
                    .table("device_authorizations")
                    .col("expires_at")
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("device_authorizations").if_exists().to_owned()).await?;
        Ok(())
    }
}
