//! Desktop applications as clients (RFC 8252): a client's `application_type`, `web` (the
//! default, every existing client) or `native`, whose loopback redirect URIs match any
//! port.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table("clients")
                    .add_column(string_len("application_type", 16).default("web"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("clients").drop_column("application_type").to_owned()).await
    }
}
