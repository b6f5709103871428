//! DPoP (RFC 9449) and the FAPI 2.0 client profile.
//!
//! - `used_dpop_proofs`: one row per DPoP proof accepted, keyed by a hash of the proof's
//!   key thumbprint and `jti`: the insert that succeeds is the one use, on any node; the
//!   janitor deletes rows once the proof would be refused as stale anyway.
//! - Clients gain `dpop_bound_access_tokens` (RFC 9449 5.2, the registered name) and
//!   `security_profile` (`fapi2` or null: Sésame's own name, not a registered one).
//! - Authorization codes carry the `dpop_jkt` the request was bound to (RFC 9449 10);
//!   refresh tokens of public clients the thumbprint of the key they are bound to (5).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("used_dpop_proofs")
                    // SHA-256 (base64url) of the key's thumbprint and the proof's jti.
                    .col(string("key").primary_key())
                    .col(big_integer("expires_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_used_dpop_proofs_expires_at")
                    .table("used_dpop_proofs")
                    .col("expires_at")
                    .to_owned(),
            )
            .await?;
        // One column per statement: SQLite alters a table one column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table("clients")
                    .add_column(boolean("dpop_bound_access_tokens").default(false))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(Table::alter().table("clients").add_column(text_null("security_profile")).to_owned())
            .await?;
        for table in ["authorization_codes", "refresh_tokens"] {
            manager.alter_table(Table::alter().table(table).add_column(text_null("dpop_jkt")).to_owned()).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in ["refresh_tokens", "authorization_codes"] {
            manager.alter_table(Table::alter().table(table).drop_column("dpop_jkt").to_owned()).await?;
        }
        for column in ["security_profile", "dpop_bound_access_tokens"] {
            manager.alter_table(Table::alter().table("clients").drop_column(column).to_owned()).await?;
        }
        manager.drop_table(Table::drop().table("used_dpop_proofs").to_owned()).await
    }
}
