//! One-use console forms. A form whose effect must not happen twice (registering an app,
//! rotating a secret, adding a user, resetting a password) carries a random token; the hash of
//! each token sent is kept here for as long as a console session can last, and a form sent
//! again with a used token is refused. No personal data: a tenant, a hash and a time.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000011_form_uses"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Tenants {
    Table,
    Id,
}

#[derive(DeriveIden, Clone, Copy)]
enum FormUses {
    Table,
    TenantId,
    TokenHash,
    UsedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(FormUses::Table)
                .col(ColumnDef::new(FormUses::TenantId).string_len(36).not_null())
                .col(
                    ColumnDef::new(FormUses::TokenHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(FormUses::UsedAt).big_integer().not_null())
                .primary_key(
                    Index::create()
                        .col(FormUses::TenantId)
                        .col(FormUses::TokenHash),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from(FormUses::Table, FormUses::TenantId)
                        .to(Tenants::Table, Tenants::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        // Expired uses are removed by age.
        m.create_index(
            Index::create()
                .name("ix_form_uses_used_at")
                .table(FormUses::Table)
                .col(FormUses::UsedAt)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(FormUses::Table).to_owned())
            .await?;
        Ok(())
    }
}
