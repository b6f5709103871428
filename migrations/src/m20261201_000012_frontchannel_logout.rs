//! Front-Channel Logout 1.0: a client's `frontchannel_logout_uri`, which the logout page
//! loads in an iframe when a session the client took part in ends, and whether it wants
//! `iss` and `sid` with it (`frontchannel_logout_session_required`; Sésame always sends
//! them, the flag is kept as registered).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(Table::alter().table("clients").add_column(text_null("frontchannel_logout_uri")).to_owned())
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table("clients")
                    .add_column(boolean("frontchannel_logout_session_required").default(false))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in ["frontchannel_logout_session_required", "frontchannel_logout_uri"] {
            manager.alter_table(Table::alter().table("clients").drop_column(column).to_owned()).await?;
        }
        Ok(())
    }
}
