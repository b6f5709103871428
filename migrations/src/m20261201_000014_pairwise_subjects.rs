//! Pairwise subject identifiers (OIDC Core 8.1): a client's `subject_type` (`public`, the
//! account id, or `pairwise`, a value of its own sector) and `sector_identifier_uri`,
//! whose host is the sector when given.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(Table::alter().table("clients").add_column(text("subject_type").default("public")).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table("clients").add_column(text_null("sector_identifier_uri")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["sector_identifier_uri", "subject_type"] {
            manager.alter_table(Table::alter().table("clients").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
