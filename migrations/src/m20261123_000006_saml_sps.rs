//! SAML service providers, per tenant, and the AuthnRequests they send. The entity id is unique
//! within a tenant; everything else an SP is configured with (endpoints, certificates, NameID
//! format, attribute mapping, signing options) is one validated JSON document. A request is
//! remembered by (tenant, SP, request ID) until it expires, so a replay is refused, and waits
//! there, under a random handle, while the user signs in. Each SP a session signed in to is
//! remembered with the NameID it was given, for single logout; an IdP-initiated logout walks
//! the session's SPs one after the other under a random handle.

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

#[derive(DeriveIden, Clone, Copy)]
enum SamlRequests {
    Table,
    TenantId,
    SpEntityId,
    RequestId,
    HandleHash,
    AcsUrl,
    RelayState,
    ForceAuthn,
    IsPassive,
    ReceivedAt,
    ExpiresAt,
    AnsweredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SamlParticipants {
    Table,
    TenantId,
    SessionId,
    SpEntityId,
    NameId,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SamlLogouts {
    Table,
    HandleHash,
    TenantId,
    Remaining,
    ExpiresAt,
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
        m.create_table(
            Table::create()
                .table(SamlRequests::Table)
                .col(
                    ColumnDef::new(SamlRequests::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::SpEntityId)
                        .string_len(1024)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::RequestId)
                        .string_len(256)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::HandleHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(SamlRequests::AcsUrl)
                        .string_len(2048)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::RelayState)
                        .string_len(256)
                        .null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::ForceAuthn)
                        .boolean()
                        .not_null(),
                )
                .col(ColumnDef::new(SamlRequests::IsPassive).boolean().not_null())
                .col(
                    ColumnDef::new(SamlRequests::ReceivedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlRequests::AnsweredAt)
                        .big_integer()
                        .null(),
                )
                .primary_key(
                    Index::create()
                        .col(SamlRequests::TenantId)
                        .col(SamlRequests::SpEntityId)
                        .col(SamlRequests::RequestId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(SamlRequests::Table, SamlRequests::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SamlParticipants::Table)
                .col(
                    ColumnDef::new(SamlParticipants::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlParticipants::SessionId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlParticipants::SpEntityId)
                        .string_len(1024)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlParticipants::NameId)
                        .string_len(512)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SamlParticipants::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .primary_key(
                    Index::create()
                        .col(SamlParticipants::TenantId)
                        .col(SamlParticipants::SessionId)
                        .col(SamlParticipants::SpEntityId),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(SamlParticipants::Table, SamlParticipants::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SamlLogouts::Table)
                .col(
                    ColumnDef::new(SamlLogouts::HandleHash)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(SamlLogouts::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(SamlLogouts::Remaining).text().not_null())
                .col(
                    ColumnDef::new(SamlLogouts::ExpiresAt)
                        .big_integer()
                        .not_null(),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(SamlLogouts::Table, SamlLogouts::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SamlLogouts::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SamlParticipants::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SamlRequests::Table).to_owned())
            .await?;
        m.drop_table(Table::drop().table(SamlSps::Table).to_owned())
            .await?;
        Ok(())
    }
}
