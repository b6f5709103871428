//! Second factors: the authenticators an account has enrolled (TOTP today; push devices
//! and passkeys later), its recovery codes, the one-time codes sent by mail (and later
//! SMS), and on the account its preferred method, its enrollment window and the
//! second-factor failure counter.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in tables() {
            manager.create_table(table).await?;
        }
        for index in indexes() {
            manager.create_index(index).await?;
        }
        // SQLite adds one column per ALTER TABLE.
        for column in [
            integer("factor_failures").default(0).to_owned(),
            big_integer_null("factor_locked_until"),
            string_null("preferred_method"),
            big_integer_null("enrollment_opened_at"),
        ] {
            manager.alter_table(Table::alter().table("accounts").add_column(column).to_owned()).await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table("clients")
                    .add_column(boolean("require_two_factor").default(false).to_owned())
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(*name).if_exists().to_owned()).await?;
        }
        for column in ["factor_failures", "factor_locked_until", "preferred_method", "enrollment_opened_at"] {
            manager.alter_table(Table::alter().table("accounts").drop_column(column).to_owned()).await?;
        }
        manager.alter_table(Table::alter().table("clients").drop_column("require_two_factor").to_owned()).await?;
        Ok(())
    }
}

const TABLES: [&str; 3] = ["second_factors", "recovery_codes", "one_time_codes"];

fn account_key(table: &'static str) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(table, "account_id").to("accounts", "id").on_delete(ForeignKeyAction::Cascade).to_owned()
}

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("second_factors")
            .col(string("id").primary_key())
            .col(string("account_id"))
            // totp (push, webauthn later)
            .col(string("method"))
            .col(string("label"))
            // Sealed with the master key (XChaCha20-Poly1305, AAD = id + purpose).
            .col(text("secret"))
            // The last TOTP time step accepted: a code is never accepted twice.
            .col(big_integer_null("last_step"))
            // Null until the user proved the enrollment with a correct code.
            .col(big_integer_null("confirmed_at"))
            .col(big_integer("created_at"))
            .col(big_integer_null("last_used_at"))
            .foreign_key(&mut account_key("second_factors"))
            .to_owned(),
        Table::create()
            .table("recovery_codes")
            .col(string("id").primary_key())
            .col(string("account_id"))
            .col(string("code_hash"))
            .col(big_integer("created_at"))
            .col(big_integer_null("used_at"))
            .foreign_key(&mut account_key("recovery_codes"))
            .to_owned(),
        Table::create()
            .table("one_time_codes")
            .col(string("id").primary_key())
            .col(string("account_id"))
            // What the code proves: `enrollment_email`, later `sms_login`.
            .col(string("purpose"))
            .col(string("code_hash"))
            .col(integer("attempts"))
            .col(big_integer("created_at"))
            .col(big_integer("expires_at"))
            .col(big_integer_null("used_at"))
            .foreign_key(&mut account_key("one_time_codes"))
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create().name("ix_second_factors_account").table("second_factors").col("account_id").to_owned(),
        Index::create().name("ux_recovery_codes_hash").table("recovery_codes").col("code_hash").unique().to_owned(),
        Index::create().name("ix_recovery_codes_account").table("recovery_codes").col("account_id").to_owned(),
        Index::create()
            .name("ix_one_time_codes_account")
            .table("one_time_codes")
            .col("account_id")
            .col("purpose")
            .to_owned(),
    ]
}
