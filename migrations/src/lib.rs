//! Sésame's database schema, one migration per file, written once for SQLite and PostgreSQL.
//!
//! Times are stored as Unix seconds (`BIGINT`) so that both backends compare them the same
//! way; JSON documents (rights, options, lists of URIs) are stored as `TEXT`.

pub use sea_orm_migration::prelude::*;

mod m20261128_000001_initial;
mod m20261128_000002_second_factors;
mod m20261128_000003_sms;
mod m20261128_000004_push;
mod m20261130_000005_throttles;
mod m20261201_000006_device_authorizations;
mod m20261201_000007_native_clients;
mod m20261201_000008_passkeys;
mod m20261201_000009_web_push;
mod m20261201_000010_account_language;
mod m20261201_000011_pushed_requests;
mod m20261201_000012_frontchannel_logout;
mod m20261201_000013_claims_parameter;
mod m20261201_000014_pairwise_subjects;
mod m20261201_000015_resource_indicators;
mod m20261201_000016_request_objects;
mod m20261201_000017_dpop;
mod m20261201_000018_dynamic_registration;
mod m20261201_000019_cache_events;
mod m20261202_000020_master_key_state;
mod m20261202_000021_email_verified;
mod m20261202_000022_pending_browser;
mod m20261202_000023_audit_events_by_account;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261128_000001_initial::Migration),
            Box::new(m20261128_000002_second_factors::Migration),
            Box::new(m20261128_000003_sms::Migration),
            Box::new(m20261128_000004_push::Migration),
            Box::new(m20261130_000005_throttles::Migration),
            Box::new(m20261201_000006_device_authorizations::Migration),
            Box::new(m20261201_000007_native_clients::Migration),
            Box::new(m20261201_000008_passkeys::Migration),
            Box::new(m20261201_000009_web_push::Migration),
            Box::new(m20261201_000010_account_language::Migration),
            Box::new(m20261201_000011_pushed_requests::Migration),
            Box::new(m20261201_000012_frontchannel_logout::Migration),
            Box::new(m20261201_000013_claims_parameter::Migration),
            Box::new(m20261201_000014_pairwise_subjects::Migration),
            Box::new(m20261201_000015_resource_indicators::Migration),
            Box::new(m20261201_000016_request_objects::Migration),
            Box::new(m20261201_000017_dpop::Migration),
            Box::new(m20261201_000018_dynamic_registration::Migration),
            Box::new(m20261201_000019_cache_events::Migration),
            Box::new(m20261202_000020_master_key_state::Migration),
            Box::new(m20261202_000021_email_verified::Migration),
            Box::new(m20261202_000022_pending_browser::Migration),
            Box::new(m20261202_000023_audit_events_by_account::Migration),
        ]
    }
}
