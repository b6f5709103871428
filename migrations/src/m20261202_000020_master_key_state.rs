//! Which master key seals new secrets, and the derivation root (see
//! `src/master_key.rs`): one row, id 1, written at the first start of this version and
//! by `sesame master-key rotate`.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("master_key_state")
                    .col(integer("id").primary_key())
                    // The id of the master key new secrets are sealed with.
                    .col(string("sealing_key"))
                    // The root every purpose key derives from, sealed with the master key.
                    .col(text("root"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("master_key_state").to_owned()).await
    }
}
