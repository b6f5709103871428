//! Each account's language (`fr` or `en`), in which every mail, text message and
//! notification to it is written; null: the owner chose none, the server's language.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("accounts").add_column(string_len_null("language", 8)).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("accounts").drop_column("language").to_owned()).await
    }
}
