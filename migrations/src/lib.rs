//! Database migrations, one per file, never edited once landed. The same migrations serve
//! SQLite and PostgreSQL. Times are BIGINT unix milliseconds; ids are UUID text.

pub use sea_orm_migration;
use sea_orm_migration::prelude::*;

mod m20261123_000001_foundation;
mod m20261123_000002_login;
mod m20261123_000003_oidc_clients;
mod m20261123_000004_oidc_grants;
mod m20261123_000005_oidc_consent;
mod m20261123_000006_saml_sps;
mod m20261202_000007_groups;
mod m20261202_000008_console;
mod m20261202_000009_app_access;
mod m20261202_000010_attributes;
mod m20261202_000011_form_uses;
mod m20261202_000012_oidc_claims;
mod m20261202_000013_users_locked;
mod m20261202_000014_audit_origin;
mod m20261207_000015_sign_in_days;
mod m20261208_000016_grant_generations;
mod m20261208_000017_revoked_families;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_foundation::Migration),
            Box::new(m20261123_000002_login::Migration),
            Box::new(m20261123_000003_oidc_clients::Migration),
            Box::new(m20261123_000004_oidc_grants::Migration),
            Box::new(m20261123_000005_oidc_consent::Migration),
            Box::new(m20261123_000006_saml_sps::Migration),
            Box::new(m20261202_000007_groups::Migration),
            Box::new(m20261202_000008_console::Migration),
            Box::new(m20261202_000009_app_access::Migration),
            Box::new(m20261202_000010_attributes::Migration),
            Box::new(m20261202_000011_form_uses::Migration),
            Box::new(m20261202_000012_oidc_claims::Migration),
            Box::new(m20261202_000013_users_locked::Migration),
            Box::new(m20261202_000014_audit_origin::Migration),
            Box::new(m20261207_000015_sign_in_days::Migration),
            Box::new(m20261208_000016_grant_generations::Migration),
            Box::new(m20261208_000017_revoked_families::Migration),
        ]
    }
}
