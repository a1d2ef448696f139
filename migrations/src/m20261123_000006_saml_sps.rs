//! SAML service providers, per tenant. The entity id is unique within a tenant; everything
//! else an SP is configured with (endpoints, certificates, NameID format, attribute mapping,
//! signing options) is one validated JSON document.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000006_saml_sps"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SamlSps {
    Table,
    Id,
    TenantId,
    EntityId,
    Name,
    Config,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SamlSps::Table)
                .col(
                    ColumnDef::new(SamlSps::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(SamlSps::TenantId).string_len(36).not_null())
                .col(
                    ColumnDef::new(SamlSps::EntityId)
                        .string_len(1024)
                        .not_null(),
                )
                .col(ColumnDef::new(SamlSps::Name).string_len(200).not_null())
                .col(ColumnDef::new(SamlSps::Config).text().not_null())
                .col(ColumnDef::new(SamlSps::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(SamlSps::UpdatedAt).big_integer().not_null())
                .foreign_key(
                    ForeignKey::create()
                        .from(SamlSps::Table, SamlSps::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_saml_sps_tenant_entity")
                .table(SamlSps::Table)
                .col(SamlSps::TenantId)
                .col(SamlSps::EntityId)
                .unique()
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SamlSps::Table).to_owned())
            .await?;
        Ok(())
    }
}
