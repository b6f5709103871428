//! Pushed authorization requests (RFC 9126): one row per request a client pushed to
//! `/par`, from the push until the authorization endpoint takes it (the row is then
//! deleted: a `request_uri` is used once) or it expires (the janitor deletes it). The
//! `request_uri` is a bearer reference and is stored as the hash of its random part
//! only. The row holds the request as validated at the push, bound to its client.
//!
//! Clients gain `require_pushed_authorization_requests` (the registered metadata name):
//! such a client's authorization requests must come through `/par`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("pushed_authorization_requests")
                    // SHA-256 (base64url) of the random part of the request_uri.
                    .col(string("id").primary_key())
                    .col(string("client_id"))
                    // The validated authorization request, as JSON.
                    .col(text("request"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_pushed_authorization_requests_expires_at")
                    .table("pushed_authorization_requests")
                    .col("expires_at")
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("clients")
                    .add_column(boolean("require_pushed_authorization_requests").default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("clients").drop_column("require_pushed_authorization_requests").to_owned(),
            )
            .await?;
        manager.drop_table(Table::drop().table("pushed_authorization_requests").if_exists().to_owned()).await
    }
}
