//! The browser an authenticator app's secret was shown to while it is not confirmed:
//! a login restarted in that browser shows the same secret again (the app does not
//! collect stale entries), and no other browser ever sees it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(Table::alter().table("second_factors").add_column(string_null("pending_browser")).to_owned())
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("second_factors").drop_column("pending_browser").to_owned()).await
    }
}
