//! Redactable origins in the audit log. From now on an entry's MAC covers a keyed MAC of its
//! source IP and user agent (`origin_mac`) instead of the two values, so erasure can remove a
//! person's addresses and browsers from the entries of their own actions while the chain still
//! verifies: the values can be removed, never changed. Entries written before keep their
//! first-version MAC (`origin_mac` NULL) and cannot be redacted.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000014_audit_origin"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    OriginMac,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuditLog::Table)
                .add_column(ColumnDef::new(AuditLog::OriginMac).string_len(64).null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(AuditLog::Table)
                .drop_column(AuditLog::OriginMac)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}
