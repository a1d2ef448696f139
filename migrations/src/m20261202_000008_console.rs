//! What the admin console's user search and audit views need: a folded display-name key on
//! users (filled in for existing users), and indexes for prefix search by name, the status
//! filter in username order, and one subject's audit entries newest first.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, Value};
use unicode_normalization::UnicodeNormalization;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m20261202_000008_console"
    }
}

#[derive(DeriveIden, Clone, Copy)]
enum Users {
    Table,
    TenantId,
    NameKey,
    Status,
    UsernameKey,
}

#[derive(DeriveIden, Clone, Copy)]
enum AuditLog {
    Table,
    TenantId,
    Subject,
    Seq,
}

/// The same fold as `directory::username_key`: NFKC, lowercase, NFKC again.
fn fold(text: &str) -> String {
    let lowered: String = text.nfkc().collect::<String>().to_lowercase();
    lowered.nfkc().collect()
}

const BACKFILL_BATCH: u64 = 1000;

/// PostgreSQL's bytewise search indexes: name and column.
const SEARCH_INDEXES: [(&str, &str); 3] = [
    ("ix_users_search_username_key", "username_key"),
    ("ix_users_search_email_key", "email_key"),
    ("ix_users_search_name_key", "name_key"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .add_column(
                    ColumnDef::new(Users::NameKey)
                        .string_len(256)
                        .not_null()
                        .default(""),
                )
                .to_owned(),
        )
        .await?;

        // Existing users get their key in batches, in id order.
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let mut after = String::new();
        loop {
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    backend,
                    backend_sql(
                        backend,
                        "SELECT id, display_name FROM users WHERE id > ? ORDER BY id LIMIT ?",
                    ),
                    [Value::from(after.clone()), Value::from(BACKFILL_BATCH)],
                ))
                .await?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("", "id")?;
            for row in &rows {
                let id: String = row.try_get("", "id")?;
                let name: String = row.try_get("", "display_name")?;
                db.execute_raw(Statement::from_sql_and_values(
                    backend,
                    backend_sql(backend, "UPDATE users SET name_key = ? WHERE id = ?"),
                    [Value::from(fold(&name)), Value::from(id)],
                ))
                .await?;
            }
            if (rows.len() as u64) < BACKFILL_BATCH {
                break;
            }
        }

        // Prefix search compares keys bytewise. PostgreSQL's comparisons follow the
        // database's collation, so there the search indexes are built `COLLATE "C"` (the
        // queries say the same); SQLite compares bytewise already and has the username and
        // e-mail indexes from the foundation.
        if backend == sea_orm_migration::sea_orm::DbBackend::Postgres {
            for (name, column) in SEARCH_INDEXES {
                db.execute_unprepared(&format!(
                    "CREATE INDEX {name} ON users (tenant_id, {column} COLLATE \"C\")"
                ))
                .await?;
            }
        } else {
            m.create_index(
                Index::create()
                    .name("ix_users_search_name_key")
                    .table(Users::Table)
                    .col(Users::TenantId)
                    .col(Users::NameKey)
                    .to_owned(),
            )
            .await?;
        }
        m.create_index(
            Index::create()
                .name("ix_users_tenant_status_username")
                .table(Users::Table)
                .col(Users::TenantId)
                .col(Users::Status)
                .col(Users::UsernameKey)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_audit_log_tenant_subject_seq")
                .table(AuditLog::Table)
                .col(AuditLog::TenantId)
                .col(AuditLog::Subject)
                .col(AuditLog::Seq)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let postgres = m.get_connection().get_database_backend()
            == sea_orm_migration::sea_orm::DbBackend::Postgres;
        let mut indexes = vec![
            ("ix_audit_log_tenant_subject_seq", "audit_log"),
            ("ix_users_tenant_status_username", "users"),
        ];
        if postgres {
            indexes.extend(SEARCH_INDEXES.iter().map(|(name, _)| (*name, "users")));
        } else {
            indexes.push(("ix_users_search_name_key", "users"));
        }
        for (name, table) in indexes {
            m.drop_index(Index::drop().name(name).table(Alias::new(table)).to_owned())
                .await?;
        }
        m.alter_table(
            Table::alter()
                .table(Users::Table)
                .drop_column(Users::NameKey)
                .to_owned(),
        )
        .await?;
        Ok(())
    }
}

/// `?` placeholders as the backend wants them (`$1`, `$2`, … on PostgreSQL).
fn backend_sql(backend: sea_orm_migration::sea_orm::DbBackend, sql: &str) -> String {
    if backend != sea_orm_migration::sea_orm::DbBackend::Postgres {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}
