//! The foundation: applications, accounts and their access, OIDC clients, sessions,
//! pending authorization requests, authorization codes, issued tokens, consents,
//! signing keys and the audit trail.

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
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for name in TABLES.iter().rev() {
            manager.drop_table(Table::drop().table(*name).if_exists().to_owned()).await?;
        }
        Ok(())
    }
}

const TABLES: [&str; 14] = [
    "applications",
    "accounts",
    "account_access",
    "clients",
    "sessions",
    "authorization_requests",
    "authorization_codes",
    "revocations",
    "refresh_tokens",
    "session_clients",
    "used_assertions",
    "consents",
    "signing_keys",
    "audit_events",
];

fn tables() -> Vec<TableCreateStatement> {
    vec![
        Table::create()
            .table("applications")
            .col(string("id").primary_key())
            .col(string_uniq("code"))
            .col(string("name"))
            .col(text("rights"))
            .col(text("options"))
            .col(big_integer("created_at"))
            .col(big_integer("updated_at"))
            .to_owned(),
        Table::create()
            .table("accounts")
            .col(string("id").primary_key())
            .col(string("username"))
            .col(string_uniq("username_key"))
            .col(text("password_hash"))
            .col(string("first_name"))
            .col(string("last_name"))
            .col(string("initials"))
            .col(string_null("email"))
            .col(string_null("phone"))
            .col(text_null("address"))
            .col(boolean("archived"))
            .col(boolean("two_factor_required"))
            .col(boolean("account_admin"))
            .col(integer("failed_logins"))
            .col(big_integer_null("locked_until"))
            .col(big_integer("created_at"))
            .col(big_integer("updated_at"))
            .to_owned(),
        Table::create()
            .table("account_access")
            .col(string("account_id"))
            .col(string("application_id"))
            .col(boolean("allowed"))
            .col(string("initials"))
            .col(text("rights"))
            .col(text("options"))
            .primary_key(Index::create().col("account_id").col("application_id"))
            .foreign_key(
                ForeignKey::create()
                    .from("account_access", "account_id")
                    .to("accounts", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .foreign_key(
                ForeignKey::create()
                    .from("account_access", "application_id")
                    .to("applications", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
        Table::create()
            .table("clients")
            .col(string("client_id").primary_key())
            .col(string_null("application_id"))
            .col(string("name"))
            .col(text_null("secret_hash"))
            .col(text("redirect_uris"))
            .col(text("post_logout_redirect_uris"))
            .col(text("grant_types"))
            .col(text("scopes"))
            .col(string("token_endpoint_auth_method"))
            .col(boolean("first_party"))
            .col(string_null("id_token_signed_response_alg"))
            .col(string_null("access_token_signed_response_alg"))
            .col(text_null("backchannel_logout_uri"))
            .col(text_null("jwks"))
            .col(text_null("jwks_uri"))
            .col(big_integer("created_at"))
            .col(big_integer("updated_at"))
            .foreign_key(
                ForeignKey::create()
                    .from("clients", "application_id")
                    .to("applications", "id")
                    .on_delete(ForeignKeyAction::SetNull),
            )
            .to_owned(),
        Table::create()
            .table("sessions")
            .col(string("id").primary_key())
            .col(string_uniq("sid"))
            .col(string("account_id"))
            .col(big_integer("auth_time"))
            .col(text("amr"))
            .col(string("acr"))
            .col(big_integer("created_at"))
            .col(big_integer("last_seen_at"))
            .col(big_integer("expires_at"))
            .foreign_key(
                ForeignKey::create()
                    .from("sessions", "account_id")
                    .to("accounts", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
        Table::create()
            .table("authorization_requests")
            .col(string("id").primary_key())
            .col(string("client_id"))
            .col(string("browser_hash"))
            .col(text("request"))
            .col(big_integer("created_at"))
            .col(big_integer("expires_at"))
            .to_owned(),
        Table::create()
            .table("authorization_codes")
            .col(string("code_hash").primary_key())
            .col(string("client_id"))
            .col(string("account_id"))
            .col(string("session_id"))
            .col(text("redirect_uri"))
            .col(text("scope"))
            .col(text_null("nonce"))
            .col(string_null("code_challenge"))
            .col(big_integer("auth_time"))
            .col(string("acr"))
            .col(text("amr"))
            .col(string("sid"))
            .col(big_integer("created_at"))
            .col(big_integer("expires_at"))
            .col(big_integer_null("used_at"))
            .to_owned(),
        // Access tokens are not stored (signing one must not cost a write); what is
        // revoked before it expires is listed here by key: `jti:…`, `grant:…` (all tokens
        // of a code or refresh family), `sid:…` (of a session), `sub:…` (of an account).
        Table::create().table("revocations").col(string("key").primary_key()).col(big_integer("expires_at")).to_owned(),
        Table::create()
            .table("refresh_tokens")
            .col(string("id").primary_key())
            .col(string_uniq("token_hash"))
            .col(string("grant_id"))
            .col(string("client_id"))
            .col(string("account_id"))
            .col(string_null("session_id"))
            .col(boolean("offline"))
            .col(text("scope"))
            .col(big_integer("auth_time"))
            .col(string("acr"))
            .col(text("amr"))
            .col(string("sid"))
            .col(big_integer("created_at"))
            .col(big_integer("expires_at"))
            .col(big_integer("grant_expires_at"))
            .col(big_integer_null("rotated_at"))
            .col(boolean("revoked"))
            .to_owned(),
        // Which clients received tokens in a session: they are told when it ends.
        Table::create()
            .table("session_clients")
            .col(string("session_id"))
            .col(string("client_id"))
            .col(big_integer("created_at"))
            .primary_key(Index::create().col("session_id").col("client_id"))
            .to_owned(),
        // `jti` of client assertions (private_key_jwt), kept until they expire: single use.
        Table::create()
            .table("used_assertions")
            .col(string("key").primary_key())
            .col(big_integer("expires_at"))
            .to_owned(),
        Table::create()
            .table("consents")
            .col(string("account_id"))
            .col(string("client_id"))
            .col(text("scopes"))
            .col(big_integer("granted_at"))
            .primary_key(Index::create().col("account_id").col("client_id"))
            .foreign_key(
                ForeignKey::create()
                    .from("consents", "account_id")
                    .to("accounts", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .to_owned(),
        Table::create()
            .table("signing_keys")
            .col(string("kid").primary_key())
            .col(string("alg"))
            .col(text("private_key"))
            .col(text("public_jwk"))
            .col(string("status"))
            .col(big_integer("created_at"))
            .col(big_integer_null("retired_at"))
            .to_owned(),
        Table::create()
            .table("audit_events")
            .col(big_pk_auto("id"))
            .col(big_integer("at"))
            .col(string("event"))
            .col(string_null("account_id"))
            .col(string_null("client_id"))
            .col(string_null("ip"))
            .col(text("detail"))
            .to_owned(),
    ]
}

fn indexes() -> Vec<IndexCreateStatement> {
    vec![
        Index::create().name("ux_accounts_email").table("accounts").col("email").unique().to_owned(),
        Index::create().name("ux_accounts_phone").table("accounts").col("phone").unique().to_owned(),
        Index::create().name("ix_sessions_account").table("sessions").col("account_id").to_owned(),
        Index::create().name("ix_sessions_expires").table("sessions").col("expires_at").to_owned(),
        Index::create()
            .name("ix_authorization_requests_expires")
            .table("authorization_requests")
            .col("expires_at")
            .to_owned(),
        Index::create()
            .name("ix_authorization_codes_expires")
            .table("authorization_codes")
            .col("expires_at")
            .to_owned(),
        Index::create().name("ix_revocations_expires").table("revocations").col("expires_at").to_owned(),
        Index::create().name("ix_refresh_tokens_grant").table("refresh_tokens").col("grant_id").to_owned(),
        Index::create().name("ix_refresh_tokens_session").table("refresh_tokens").col("session_id").to_owned(),
        Index::create().name("ix_refresh_tokens_expires").table("refresh_tokens").col("expires_at").to_owned(),
        Index::create().name("ix_used_assertions_expires").table("used_assertions").col("expires_at").to_owned(),
        Index::create().name("ix_audit_events_at").table("audit_events").col("at").to_owned(),
    ]
}
