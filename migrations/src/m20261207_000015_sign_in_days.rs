//! Sign-ins per tenant and day, for the console's overview: how many password sign-ins
//! succeeded and how many attempts failed (a wrong password, an unknown or disabled account, a
//! wrong second-factor code). Counted in the transaction that audits the attempt, so the
//! figures match the audit log; read as at most 30 rows. No personal data: a tenant, a day and
//! two counts.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261207_000015_sign_in_days"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum SignInDays {
    Table,
    TenantId,
    /// Days since 1970-01-01 (UTC).
    Day,
    Succeeded,
    Failed,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SignInDays::Table)
                .col(
                    ColumnDef::new(SignInDays::TenantId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(SignInDays::Day).big_integer().not_null())
                .col(
                    ColumnDef::new(SignInDays::Succeeded)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(SignInDays::Failed)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .primary_key(
                    Index::create()
                        .col(SignInDays::TenantId)
                        .col(SignInDays::Day),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(SignInDays::Table, SignInDays::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SignInDays::Table).to_owned())
            .await
    }
}
