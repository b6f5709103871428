//! Dynamic client registration (OIDC Dynamic Client Registration 1.0, RFC 7591/7592).
//!
//! `initial_access_tokens`: the bearer tokens an administrator hands out to let a
//! program register clients, each bound to one application, with an expiry and a
//! number of uses left (decremented by one conditional UPDATE per registration), stored
//! as a keyed hash only, revocable.
//!
//! `client_registrations`: one row per client registered through the endpoint (the
//! client itself is an ordinary row of `clients`): the keyed hash of its
//! `registration_access_token` (RFC 7592), the metadata as registered (the JSON answered
//! on read, which also holds what has no column of `clients`: `logo_uri`, `contacts`…),
//! and the initial access token it used, if any. The number of these rows is capped.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("initial_access_tokens")
                    .col(string("id").primary_key())
                    // Keyed hash (as client secrets) of the token.
                    .col(string("token_hash").unique_key())
                    .col(string("application_id"))
                    .col(text("description"))
                    .col(integer("uses_left"))
                    .col(big_integer("expires_at"))
                    .col(big_integer("created_at"))
                    .col(big_integer_null("revoked_at"))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table("client_registrations")
                    .col(string("client_id").primary_key())
                    .col(string("access_token_hash"))
                    // The registered metadata, as JSON.
                    .col(text("metadata"))
                    .col(string_null("initial_access_token_id"))
                    .col(big_integer("created_at"))
                    .col(big_integer("updated_at"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table("client_registrations").if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table("initial_access_tokens").if_exists().to_owned()).await
    }
}
