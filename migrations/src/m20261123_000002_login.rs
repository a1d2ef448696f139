//! Login and account security: lockout columns on users, per-tenant login policy, sessions,
//! password history, TOTP credentials, recovery codes, reset tokens and the per-IP throttle.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261123_000002_login"
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
    FailedLogins,
    LastFailedAt,
    LockedUntil,
    PasswordChangedAt,
    LastLoginAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TenantPolicies {
    Table,
    TenantId,
    Policy,
    UpdatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum Sessions {
    Table,
    Id,
    TokenHash,
    TenantId,
    UserId,
    Stage,
    Amr,
    ReturnTo,
    SourceIp,
    UserAgent,
    CreatedAt,
    AuthTime,
    LastSeenAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum PasswordHistory {
    Table,
    Id,
    TenantId,
    UserId,
    PasswordHash,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum TotpCredentials {
    Table,
    UserId,
    TenantId,
    SealedSeed,
    ConfirmedAt,
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum RecoveryCodes {
    Table,
    UserId,
    CodeHash,
    TenantId,
    CreatedAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum ResetTokens {
    Table,
    TokenHash,
    TenantId,
    UserId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden, Clone, Copy)]
enum LoginThrottle {
    Table,
    TenantId,
    IpKey,
    WindowStart,
    Failures,
}

fn fk_to(
    table: impl IntoIden + Clone,
    column: impl IntoIden + Clone,
    target: impl IntoIden + Clone,
    target_column: impl IntoIden + Clone,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(target, target_column)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

fn id36(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).string_len(36).not_null().to_owned()
}

fn hash64(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).string_len(64).not_null().to_owned()
}

fn millis(c: impl IntoIden) -> ColumnDef {
    ColumnDef::new(c).big_integer().not_null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite takes one column per ALTER TABLE.
        for column in [
            ColumnDef::new(Users::FailedLogins)
                .integer()
                .not_null()
                .default(0)
                .to_owned(),
            ColumnDef::new(Users::LastFailedAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::LockedUntil)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::PasswordChangedAt)
                .big_integer()
                .null()
                .to_owned(),
            ColumnDef::new(Users::LastLoginAt)
                .big_integer()
                .null()
                .to_owned(),
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .add_column(column)
                    .to_owned(),
            )
            .await?;
        }

        m.create_table(
            Table::create()
                .table(TenantPolicies::Table)
                .col(id36(TenantPolicies::TenantId).primary_key())
                .col(ColumnDef::new(TenantPolicies::Policy).text().not_null())
                .col(millis(TenantPolicies::UpdatedAt))
                .foreign_key(&mut fk_to(
                    TenantPolicies::Table,
                    TenantPolicies::TenantId,
                    Tenants::Table,
                    Tenants::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(id36(Sessions::Id).primary_key())
                .col(hash64(Sessions::TokenHash))
                .col(id36(Sessions::TenantId))
                .col(id36(Sessions::UserId))
                .col(ColumnDef::new(Sessions::Stage).string_len(16).not_null())
                .col(ColumnDef::new(Sessions::Amr).string_len(32).not_null())
                .col(ColumnDef::new(Sessions::ReturnTo).string_len(2048).null())
                .col(ColumnDef::new(Sessions::SourceIp).string_len(64).null())
                .col(ColumnDef::new(Sessions::UserAgent).string_len(512).null())
                .col(millis(Sessions::CreatedAt))
                .col(millis(Sessions::AuthTime))
                .col(millis(Sessions::LastSeenAt))
                .foreign_key(&mut fk_to(
                    Sessions::Table,
                    Sessions::TenantId,
                    Tenants::Table,
                    Tenants::Id,
                ))
                .foreign_key(&mut fk_to(
                    Sessions::Table,
                    Sessions::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_sessions_token_hash")
                .table(Sessions::Table)
                .col(Sessions::TokenHash)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sessions_tenant_user")
                .table(Sessions::Table)
                .col(Sessions::TenantId)
                .col(Sessions::UserId)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sessions_last_seen")
                .table(Sessions::Table)
                .col(Sessions::LastSeenAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PasswordHistory::Table)
                .col(id36(PasswordHistory::Id).primary_key())
                .col(id36(PasswordHistory::TenantId))
                .col(id36(PasswordHistory::UserId))
                .col(
                    ColumnDef::new(PasswordHistory::PasswordHash)
                        .string_len(256)
                        .not_null(),
                )
                .col(millis(PasswordHistory::CreatedAt))
                .foreign_key(&mut fk_to(
                    PasswordHistory::Table,
                    PasswordHistory::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_password_history_user")
                .table(PasswordHistory::Table)
                .col(PasswordHistory::UserId)
                .col(PasswordHistory::CreatedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TotpCredentials::Table)
                .col(id36(TotpCredentials::UserId).primary_key())
                .col(id36(TotpCredentials::TenantId))
                .col(
                    ColumnDef::new(TotpCredentials::SealedSeed)
                        .blob()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(TotpCredentials::ConfirmedAt)
                        .big_integer()
                        .null(),
                )
                .col(millis(TotpCredentials::LastStep).default(0))
                .col(millis(TotpCredentials::CreatedAt))
                .foreign_key(&mut fk_to(
                    TotpCredentials::Table,
                    TotpCredentials::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RecoveryCodes::Table)
                .col(id36(RecoveryCodes::UserId))
                .col(hash64(RecoveryCodes::CodeHash))
                .col(id36(RecoveryCodes::TenantId))
                .col(millis(RecoveryCodes::CreatedAt))
                .col(ColumnDef::new(RecoveryCodes::UsedAt).big_integer().null())
                .primary_key(
                    Index::create()
                        .col(RecoveryCodes::UserId)
                        .col(RecoveryCodes::CodeHash),
                )
                .foreign_key(&mut fk_to(
                    RecoveryCodes::Table,
                    RecoveryCodes::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ResetTokens::Table)
                .col(hash64(ResetTokens::TokenHash).primary_key())
                .col(id36(ResetTokens::TenantId))
                .col(id36(ResetTokens::UserId))
                .col(millis(ResetTokens::CreatedAt))
                .col(millis(ResetTokens::ExpiresAt))
                .col(ColumnDef::new(ResetTokens::UsedAt).big_integer().null())
                .foreign_key(&mut fk_to(
                    ResetTokens::Table,
                    ResetTokens::UserId,
                    Users::Table,
                    Users::Id,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_reset_tokens_user")
                .table(ResetTokens::Table)
                .col(ResetTokens::UserId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(LoginThrottle::Table)
                .col(id36(LoginThrottle::TenantId))
                .col(
                    ColumnDef::new(LoginThrottle::IpKey)
                        .string_len(64)
                        .not_null(),
                )
                .col(millis(LoginThrottle::WindowStart))
                .col(ColumnDef::new(LoginThrottle::Failures).integer().not_null())
                .primary_key(
                    Index::create()
                        .col(LoginThrottle::TenantId)
                        .col(LoginThrottle::IpKey),
                )
                .foreign_key(&mut fk_to(
                    LoginThrottle::Table,
                    LoginThrottle::TenantId,
                    Tenants::Table,
                    Tenants::Id,
                ))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginThrottle::Table.into_iden(),
            ResetTokens::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
            TotpCredentials::Table.into_iden(),
            PasswordHistory::Table.into_iden(),
            Sessions::Table.into_iden(),
            TenantPolicies::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        for column in [
            Users::LastLoginAt,
            Users::PasswordChangedAt,
            Users::LockedUntil,
            Users::LastFailedAt,
            Users::FailedLogins,
        ] {
            m.alter_table(
                Table::alter()
                    .table(Users::Table)
                    .drop_column(column)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
