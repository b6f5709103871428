//! The `claims` request parameter (OIDC Core 5.5): what the client asked for, as JSON,
//! carried by the authorization code to the token endpoint and by each refresh token to
//! the next access token (whose userinfo answer depends on it). Null: not asked.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["authorization_codes", "refresh_tokens"] {
            manager.alter_table(Table::alter().table(table).add_column(text_null("claims")).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["authorization_codes", "refresh_tokens"] {
            manager.alter_table(Table::alter().table(table).drop_column("claims").to_owned()).await?;
        }
        Ok(())
    }
}
