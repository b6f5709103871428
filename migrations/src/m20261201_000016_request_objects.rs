//! Request objects (OIDC Core 6, RFC 9101) and signed userinfo (OIDC Core 5.3.2): a
//! client may register the algorithm of its request objects (`none` for unsigned ones),
//! be required to send signed ones, and ask for its userinfo responses signed.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        let clients = || Table::alter().table("clients").to_owned();
        manager.alter_table(clients().add_column(text_null("request_object_signing_alg")).to_owned()).await?;
        manager
            .alter_table(clients().add_column(boolean("require_signed_request_object").default(false)).to_owned())
            .await?;
        manager.alter_table(clients().add_column(text_null("userinfo_signed_response_alg")).to_owned()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["userinfo_signed_response_alg", "require_signed_request_object", "request_object_signing_alg"] {
            manager.alter_table(Table::alter().table("clients").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
