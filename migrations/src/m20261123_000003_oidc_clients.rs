//! OpenID Connect clients of a tenant, and the change epoch that tells every node to drop its
//! in-memory caches (tenants, keys, discovery documents) when something they hold has changed.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000003_oidc_clients"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcClients {
    Table,
    Id,
    TenantId,
    ClientId,
    Name,
    Kind,
    SecretHash,
    PreviousSecretHash,
    PreviousSecretUntil,
    RedirectUris,
    PostLogoutRedirectUris,
    GrantTypes,
    Scopes,
    AccessTokenSeconds,
    RefreshTokenSeconds,
    RequireConsent,
    IdTokenAlg,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ChangeEpoch {
    Table,
    Id,
    Epoch,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OidcClients::Table)
                .col(
                    ColumnDef::new(OidcClients::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(OidcClients::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::ClientId)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(OidcClients::Name).string_len(200).not_null())
                .col(ColumnDef::new(OidcClients::Kind).string_len(16).not_null())
                .col(
                    ColumnDef::new(OidcClients::SecretHash)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(OidcClients::PreviousSecretHash)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(OidcClients::PreviousSecretUntil)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(OidcClients::RedirectUris).text().not_null())
                .col(
                    ColumnDef::new(OidcClients::PostLogoutRedirectUris)
                        .text()
                        .not_null(),
                )
                .col(ColumnDef::new(OidcClients::GrantTypes).text().not_null())
                .col(ColumnDef::new(OidcClients::Scopes).text().not_null())
                .col(
                    ColumnDef::new(OidcClients::AccessTokenSeconds)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::RefreshTokenSeconds)
                        .integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::RequireConsent)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::IdTokenAlg)
                        .string_len(8)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(OidcClients::UpdatedAt)
                        .big_integer()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(OidcClients::Table, OidcClients::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_oidc_clients_tenant_client_id")
                .table(OidcClients::Table)
                .col(OidcClients::TenantId)
                .col(OidcClients::ClientId)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ChangeEpoch::Table)
                .col(
                    ColumnDef::new(ChangeEpoch::Id)
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(ChangeEpoch::Epoch).big_integer().not_null())
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(ChangeEpoch::Table)
                .columns([ChangeEpoch::Id, ChangeEpoch::Epoch])
                .values_panic([1.into(), 0.into()])
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(ChangeEpoch::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(OidcClients::Table).to_owned())
            .await?;
        Ok(())
    }
}
