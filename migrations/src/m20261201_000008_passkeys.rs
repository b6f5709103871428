//! Passkeys (WebAuthn): a passkey is a second factor like an authenticator app (a
//! `second_factors` row of method `webauthn`, the credential sealed in `secret`, its
//! signature counter in `last_step`), found by its credential id when it signs in
//! without a password; and the ceremonies in progress, each usable once.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("second_factors").add_column(string_null("credential_id")).to_owned())
            .await?;
        // A credential belongs to one account: a second registration of it is refused.
        manager
            .create_index(
                Index::create()
                    .name("idx_second_factors_credential_id")
                    .table("second_factors")
                    .col("credential_id")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("passkey_ceremonies")
                    // The challenge (base64url): the browser's answer names it.
                    .col(string("id").primary_key())
                    // register | authenticate | discover
                    .col(string_len("purpose", 16))
                    // What the ceremony belongs to: a login in progress or an account.
                    .col(string("binding"))
                    .col(string_null("account_id"))
                    // The library's ceremony state (JSON); it holds no secret.
                    .col(text("state"))
                    .col(big_integer("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_passkey_ceremonies_expires_at")
                    .table("passkey_ceremonies")
                    .col("expires_at")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("passkey_ceremonies").if_exists().to_owned()).await?;
        manager
            .drop_index(Index::drop().name("idx_second_factors_credential_id").table("second_factors").to_owned())
            .await?;
        manager.alter_table(Table::alter().table("second_factors").drop_column("credential_id").to_owned()).await
    }
}
