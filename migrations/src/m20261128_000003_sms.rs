//! SMS verification: every text message sent (to count them per account, per number and
//! per client address across nodes), and the operator's per-account switch.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sms_sends")
                    .col(string("id").primary_key())
                    .col(string("account_id"))
                    .col(string("phone"))
                    .col(string_null("ip"))
                    .col(big_integer("sent_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("sms_sends", "account_id")
                            .to("accounts", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in
            [("ix_sms_sends_account", "account_id"), ("ix_sms_sends_phone", "phone"), ("ix_sms_sends_ip", "ip")]
        {
            manager
                .create_index(Index::create().name(name).table("sms_sends").col(column).col("sent_at").to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("accounts")
                    .add_column(boolean("sms_disabled").default(false).to_owned())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("sms_sends").if_exists().to_owned()).await?;
        manager.alter_table(Table::alter().table("accounts").drop_column("sms_disabled").to_owned()).await?;
        Ok(())
    }
}
