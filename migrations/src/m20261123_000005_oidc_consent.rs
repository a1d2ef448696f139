//! Remembered consent (per user and client), the per-client PKCE switch for confidential
//! clients, and at most one active and one next signing key per tenant and algorithm (now that
//! a tenant may hold keys of two algorithms).

use sea_orm_migration::prelude::*;

pub struct Migration;

/// Partial unique indexes (same syntax on SQLite and PostgreSQL).
const KEY_STATE_INDEXES: [(&str, &str); 2] = [
    ("ux_signing_keys_one_active", "active"),
    ("ux_signing_keys_one_next", "next"),
];

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000005_oidc_consent"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcClients {
    Table,
    RequirePkce,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcConsents {
    Table,
    TenantId,
    UserId,
    ClientId,
    Scope,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OidcConsents::Table)
                .col(
                    ColumnDef::new(OidcConsents::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcConsents::UserId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcConsents::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcConsents::Scope)
                        .string_len(512)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcConsents::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcConsents::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(OidcConsents::TenantId)
                        .col(OidcConsents::UserId)
                        .col(OidcConsents::ClientId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(OidcConsents::Table, OidcConsents::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(OidcConsents::Table, OidcConsents::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        for (name, state) in KEY_STATE_INDEXES {
            m.get_connection()
                .execute_unprepared(&format!(
                    "CREATE UNIQUE INDEX {name} ON signing_keys (tenant_id, algorithm) \
                     WHERE state = '{state}'"
                ))
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .add_column(
                    ColumnDef::new(OidcClients::RequirePkce)
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in KEY_STATE_INDEXES {
            m.get_connection()
                .execute_unprepared(&format!("DROP INDEX {name}"))
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(OidcClients::Table)
                .drop_column(OidcClients::RequirePkce)
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(OidcConsents::Table).to_owned())
            .await?;
        Ok(())
    }
}
