//! Resource indicators (RFC 8707): a client may register the identifier of the API it
//! serves (`resource`, unique: one resource server per identifier); the authorization
//! code and each refresh token carry the resource the grant was asked for, so that the
//! access tokens of the grant keep it as their audience. Null: no resource.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        for table in ["clients", "authorization_codes", "refresh_tokens"] {
            manager.alter_table(Table::alter().table(table).add_column(text_null("resource")).to_owned()).await?;
        }
        // Both backends let several rows have no resource (NULLs are distinct).
        manager
            .create_index(
                Index::create().name("idx_clients_resource").table("clients").col("resource").unique().to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_index(Index::drop().name("idx_clients_resource").table("clients").to_owned()).await?;
        for table in ["refresh_tokens", "authorization_codes", "clients"] {
            manager.alter_table(Table::alter().table(table).drop_column("resource").to_owned()).await?;
        }
        Ok(())
    }
}
