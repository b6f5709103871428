//! The change feed that keeps each node's caches true (see `src/change_feed.rs`): one
//! row per revocation or change of an account or application, read by every node in
//! `id` order and deleted by the janitor once every node has long seen it.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("cache_events")
                    .if_not_exists()
                    .col(pk_auto("id"))
                    // `revocation`, `account` or `application`.
                    .col(string("topic"))
                    // The revocation key, the account id or the application id.
                    .col(text("subject"))
                    // A revocation's end (seconds); 0 otherwise.
                    .col(big_integer("until"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create().name("idx_cache_events_created_at").table("cache_events").col("created_at").to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("cache_events").to_owned()).await
    }
}
