//! Authorization codes, refresh-token families and revoked access-token ids.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000004_oidc_grants"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcCodes {
    Table,
    CodeHash,
    TenantId,
    ClientId,
    UserId,
    SessionId,
    RedirectUri,
    Scope,
    Nonce,
    CodeChallenge,
    AuthTime,
    Amr,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    FamilyId,
    AccessJti,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcRefreshTokens {
    Table,
    TokenHash,
    FamilyId,
    TenantId,
    ClientId,
    UserId,
    Scope,
    AuthTime,
    Amr,
    CreatedAt,
    ExpiresAt,
    UsedAt,
    RevokedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum OidcRevokedJtis {
    Table,
    Jti,
    TenantId,
    ExpiresAt,
}

fn tenant_fk(
    table: impl IntoIden + Clone,
    col: impl IntoIden + Clone,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Tenants::Table, Tenants::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn s(c: impl IntoIden, n: u32) -> ColumnDef {
    ColumnDef::new(c).string_len(n).not_null().to_owned()
}

fn ms(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OidcCodes::Table)
                .col(s(OidcCodes::CodeHash, 64).primary_key())
                .col(s(OidcCodes::TenantId, 36))
                .col(s(OidcCodes::ClientId, 64))
                .col(s(OidcCodes::UserId, 36))
                .col(s(OidcCodes::SessionId, 36))
                .col(s(OidcCodes::RedirectUri, 2048))
                .col(s(OidcCodes::Scope, 512))
                .col(ColumnDef::new(OidcCodes::Nonce).string_len(512).null())
                .col(s(OidcCodes::CodeChallenge, 128))
                .col(ms(OidcCodes::AuthTime))
                .col(s(OidcCodes::Amr, 32))
                .col(ms(OidcCodes::CreatedAt))
                .col(ms(OidcCodes::ExpiresAt))
                .col(ColumnDef::new(OidcCodes::UsedAt).big_integer().null())
                .col(ColumnDef::new(OidcCodes::FamilyId).string_len(36).null())
                .col(ColumnDef::new(OidcCodes::AccessJti).string_len(36).null())
                .foreign_key(&mut tenant_fk(OidcCodes::Table, OidcCodes::TenantId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OidcRefreshTokens::Table)
                .col(s(OidcRefreshTokens::TokenHash, 64).primary_key())
                .col(s(OidcRefreshTokens::FamilyId, 36))
                .col(s(OidcRefreshTokens::TenantId, 36))
                .col(s(OidcRefreshTokens::ClientId, 64))
                .col(s(OidcRefreshTokens::UserId, 36))
                .col(s(OidcRefreshTokens::Scope, 512))
                .col(ms(OidcRefreshTokens::AuthTime))
                .col(s(OidcRefreshTokens::Amr, 32))
                .col(ms(OidcRefreshTokens::CreatedAt))
                .col(ms(OidcRefreshTokens::ExpiresAt))
                .col(
                    ColumnDef::new(OidcRefreshTokens::UsedAt)
                        .big_integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(OidcRefreshTokens::RevokedAt)
                        .big_integer()
                        .null(),
                )
                .foreign_key(&mut tenant_fk(
                    OidcRefreshTokens::Table,
                    OidcRefreshTokens::TenantId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_oidc_refresh_tokens_family")
                .table(OidcRefreshTokens::Table)
                .col(OidcRefreshTokens::FamilyId)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(OidcRevokedJtis::Table)
                .col(s(OidcRevokedJtis::Jti, 36).primary_key())
                .col(s(OidcRevokedJtis::TenantId, 36))
                .col(ms(OidcRevokedJtis::ExpiresAt))
                .foreign_key(&mut tenant_fk(
                    OidcRevokedJtis::Table,
                    OidcRevokedJtis::TenantId,
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            OidcRevokedJtis::Table.into_iden(),
            OidcRefreshTokens::Table.into_iden(),
            OidcCodes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
