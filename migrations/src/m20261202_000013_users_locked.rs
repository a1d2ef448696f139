//! Locked users by their own index, so the console's "locked" filter reads the few locked
//! accounts instead of walking the directory.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000013_users_locked"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    TenantId,
    LockedUntil,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_users_tenant_locked_until")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::LockedUntil)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_users_tenant_locked_until")
                .table(Users::Table)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
