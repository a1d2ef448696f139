//! Foundation: instance settings, tenants, signing keys, users and the audit chain.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000001_foundation"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Settings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
    Slug,
    Name,
    Status,
    WrappedDek,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum SigningKeys {
    Table,
    Id,
    TenantId,
    Kid,
    Algorithm,
    State,
    PublicKeyPem,
    CertificatePem,
    PrivateKeySealed,
    NotAfter,
    CreatedAt,
    ActivatedAt,
    RetiredAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    Id,
    TenantId,
    Username,
    UsernameKey,
    Email,
    EmailKey,
    DisplayName,
    Status,
    PasswordHash,
    MustChangePassword,
    AdminRole,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditHeads {
    Table,
    TenantId,
    Seq,
    Mac,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    TenantId,
    Seq,
    At,
    Actor,
    Subject,
    Operation,
    Outcome,
    SourceIp,
    UserAgent,
    Route,
    Detail,
    PrevMac,
    Mac,
}

fn tenant_fk(
    table: impl IntoIden + Clone,
    column: impl IntoIden + Clone,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Settings::Table)
                .col(
                    ColumnDef::new(Settings::Key)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Settings::Value).blob().not_null())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tenants::Table)
                .col(
                    ColumnDef::new(Tenants::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(Tenants::Slug)
                        .string_len(63)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Tenants::Name).string_len(200).not_null())
                .col(ColumnDef::new(Tenants::Status).string_len(16).not_null())
                .col(ColumnDef::new(Tenants::WrappedDek).blob().not_null())
                .col(ColumnDef::new(Tenants::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Tenants::UpdatedAt).big_integer().not_null())
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SigningKeys::Table)
                .col(
                    ColumnDef::new(SigningKeys::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(SigningKeys::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(SigningKeys::Kid).string_len(64).not_null())
                .col(
                    ColumnDef::new(SigningKeys::Algorithm)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(SigningKeys::State).string_len(16).not_null())
                .col(ColumnDef::new(SigningKeys::PublicKeyPem).text().not_null())
                .col(
                    ColumnDef::new(SigningKeys::CertificatePem)
                        .text()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SigningKeys::PrivateKeySealed)
                        .blob()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SigningKeys::NotAfter)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SigningKeys::CreatedAt)
                        .big_integer()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SigningKeys::ActivatedAt)
                        .big_integer()
                        .null(),
                )
                .col(ColumnDef::new(SigningKeys::RetiredAt).big_integer().null())
                .foreign_key(&mut tenant_fk(SigningKeys::Table, SigningKeys::TenantId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_signing_keys_tenant_kid")
                .table(SigningKeys::Table)
                .col(SigningKeys::TenantId)
                .col(SigningKeys::Kid)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(
                    ColumnDef::new(Users::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Users::TenantId).string_len(36).not_null())
                .col(ColumnDef::new(Users::Username).string_len(256).not_null())
                .col(
                    ColumnDef::new(Users::UsernameKey)
                        .string_len(256)
                        .not_null(),
                )
                .col(ColumnDef::new(Users::Email).string_len(320).not_null())
                .col(ColumnDef::new(Users::EmailKey).string_len(320).not_null())
                .col(
                    ColumnDef::new(Users::DisplayName)
                        .string_len(256)
                        .not_null(),
                )
                .col(ColumnDef::new(Users::Status).string_len(16).not_null())
                .col(ColumnDef::new(Users::PasswordHash).string_len(256).null())
                .col(
                    ColumnDef::new(Users::MustChangePassword)
                        .boolean()
                        .not_null(),
                )
                .col(ColumnDef::new(Users::AdminRole).string_len(16).null())
                .col(ColumnDef::new(Users::CreatedAt).big_integer().not_null())
                .col(ColumnDef::new(Users::UpdatedAt).big_integer().not_null())
                .foreign_key(&mut tenant_fk(Users::Table, Users::TenantId))
                .to_owned(),
        )
        .await?;
        for (name, column) in [
            ("ux_users_tenant_username", Users::UsernameKey),
            ("ux_users_tenant_email", Users::EmailKey),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(column)
                    .unique()
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(AuditHeads::Table)
                .col(
                    ColumnDef::new(AuditHeads::TenantId)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(AuditHeads::Seq).big_integer().not_null())
                .col(ColumnDef::new(AuditHeads::Mac).string_len(64).not_null())
                .foreign_key(&mut tenant_fk(AuditHeads::Table, AuditHeads::TenantId))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(ColumnDef::new(AuditLog::TenantId).string_len(36).not_null())
                .col(ColumnDef::new(AuditLog::Seq).big_integer().not_null())
                .col(ColumnDef::new(AuditLog::At).big_integer().not_null())
                .col(ColumnDef::new(AuditLog::Actor).string_len(64).not_null())
                .col(ColumnDef::new(AuditLog::Subject).string_len(128).null())
                .col(
                    ColumnDef::new(AuditLog::Operation)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditLog::Outcome).string_len(16).not_null())
                .col(ColumnDef::new(AuditLog::SourceIp).string_len(64).null())
                .col(ColumnDef::new(AuditLog::UserAgent).string_len(512).null())
                .col(ColumnDef::new(AuditLog::Route).string_len(256).null())
                .col(ColumnDef::new(AuditLog::Detail).text().null())
                .col(ColumnDef::new(AuditLog::PrevMac).string_len(64).not_null())
                .col(ColumnDef::new(AuditLog::Mac).string_len(64).not_null())
                .primary_key(Index::create().col(AuditLog::TenantId).col(AuditLog::Seq))
                .foreign_key(&mut tenant_fk(AuditLog::Table, AuditLog::TenantId))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_log_tenant_at")
                .table(AuditLog::Table)
                .col(AuditLog::TenantId)
                .col(AuditLog::At)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditLog::Table.into_iden(),
            AuditHeads::Table.into_iden(),
            Users::Table.into_iden(),
            SigningKeys::Table.into_iden(),
            Tenants::Table.into_iden(),
            Settings::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
