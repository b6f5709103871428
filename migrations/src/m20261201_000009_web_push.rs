//! Web Push (RFC 8030/8291/8292): the subscriptions that reach a push device's browser
//! even when its authenticator page is closed, and the application server's VAPID key
//! pair, one for every node (its private half sealed with the master key).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("web_push_keys")
                    // A constant id: two nodes creating the key at once collide on it,
                    // and the loser reads the winner's key.
                    .col(string("id").primary_key())
                    // PKCS#8, sealed with the master key.
                    .col(text("private_key"))
                    // The uncompressed P-256 point, base64url: the `applicationServerKey`.
                    .col(string("public_key"))
                    .col(big_integer("created_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("web_push_subscriptions")
                    .col(string("id").primary_key())
                    // The push device (`second_factors.method = 'push'`) it belongs to;
                    // revoking the device removes its subscriptions.
                    .col(string("device_id"))
                    .col(string("account_id"))
                    .col(text("endpoint"))
                    // The browser's p256dh and auth keys, sealed with the master key.
                    .col(text("keys"))
                    .col(big_integer("created_at"))
                    .foreign_key(
                        ForeignKey::create()
                            .from("web_push_subscriptions", "device_id")
                            .to("second_factors", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .from("web_push_subscriptions", "account_id")
                            .to("accounts", "id")
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_web_push_subscriptions_device_endpoint")
                    .table("web_push_subscriptions")
                    .col("device_id")
                    .col("endpoint")
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_web_push_subscriptions_account")
                    .table("web_push_subscriptions")
                    .col("account_id")
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("web_push_subscriptions").if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table("web_push_keys").if_exists().to_owned()).await
    }
}
