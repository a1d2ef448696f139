//! Revoked refresh-token families, as a flag of the family rather than of its rows. Marking
//! rows revoked misses a row a concurrent rotation inserts a moment later; a flag checked
//! whenever a refresh token is used, and whenever an access token minted from the family is
//! checked, does not. Kept until the family would have expired anyway.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261208_000017_revoked_families"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcRevokedFamilies {
    Table,
    TenantId,
    FamilyId,
    ExpiresAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OidcRevokedFamilies::Table)
                .col(
                    ColumnDef::new(OidcRevokedFamilies::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcRevokedFamilies::FamilyId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcRevokedFamilies::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(OidcRevokedFamilies::TenantId)
                        .col(OidcRevokedFamilies::FamilyId),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(OidcRevokedFamilies::Table).to_owned())
            .await
    }
}
