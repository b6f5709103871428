//! Push approval: one-time enrollment links for devices, the challenges a login sends to
//! the account's devices, and the lock an "It wasn't me" report puts on push.
//! Devices themselves are second factors (`second_factors.method = 'push'`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

fn account_key(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, "account_id").to("accounts", "id").on_delete(ForeignKeyAction::Cascade).to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("push_enrollments")
                    // SHA-256 of the one-time token in the enrollment link.
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .col(big_integer_null("used_at"))
                    .foreign_key(&mut account_key("push_enrollments"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("push_challenges")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    // The pending login (authorization request) that asked.
                    .col(string("login_id"))
                    .col(string("nonce"))
                    .col(integer("number"))
                    .col(string("application"))
                    .col(string_null("ip"))
                    .col(string_null("origin"))
                    // pending, approved, used, denied, wrong_number, fraud
                    .col(string("state"))
                    .col(string_null("device_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("expires_at"))
                    .col(big_integer_null("decided_at"))
                    .foreign_key(&mut account_key("push_challenges"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_push_challenges_account")
                    .table("push_challenges")
                    .col("account_id")
                    .col("created_at")
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("ix_push_challenges_login").table("push_challenges").col("login_id").to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("accounts").add_column(big_integer_null("push_locked_until")).to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("push_challenges").if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table("push_enrollments").if_exists().to_owned()).await?;
        manager.alter_table(Table::alter().table("accounts").drop_column("push_locked_until").to_owned()).await?;
        Ok(())
    }
}
