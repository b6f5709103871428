//! The email address its owner proved by typing a code mailed to it (the enrollment
//! confirmation): `email_verified` is true in tokens while it is still the account's.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("accounts").add_column(string_null("email_verified")).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("accounts").drop_column("email_verified").to_owned()).await
    }
}
