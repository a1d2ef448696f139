//! Schema migrations: run at start and by `latchkey migrate`, serialised so that two nodes
//! starting together cannot race (PostgreSQL advisory lock; a lock file beside a SQLite file),
//! and refused when the database was migrated by a newer binary.

use std::collections::HashSet;

use latchkey_migrations::Migrator;
use latchkey_migrations::sea_orm_migration::MigratorTrait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use super::{Store, StoreError};
use crate::config::DatabaseUrl;

/// Arbitrary constant shared by every Latchkey node: the advisory lock that serialises migrations.
const PG_MIGRATION_LOCK: i64 = 0x4c61_7463_686b_6579; // "Latchkey"

#[derive(Debug, PartialEq, Eq)]
pub enum MigrationState {
    Current,
    /// Migrations this binary knows that the database lacks.
    Pending(Vec<String>),
    /// Migrations the database has that this binary does not know: a newer binary ran here.
    Newer(Vec<String>),
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(
        "the database was migrated by a newer Latchkey (unknown migrations: {}); \
         run that version or newer, this one refuses to touch it",
        .0.join(", ")
    )]
    NewerDatabase(Vec<String>),
    #[error("cannot take the migration lock: {0}")]
    Lock(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn known() -> Vec<String> {
    Migrator::migrations()
        .iter()
        .map(|m| m.name().to_owned())
        .collect()
}

async fn applied(db: &DatabaseConnection) -> Result<Vec<String>, StoreError> {
    let backend = db.get_database_backend();
    let exists_sql = match backend {
        DbBackend::Postgres => {
            "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'seaql_migrations'"
        }
        _ => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'seaql_migrations'",
    };
    if db
        .query_one_raw(Statement::from_string(backend, exists_sql))
        .await?
        .is_none()
    {
        return Ok(Vec::new());
    }
    let rows = db
        .query_all_raw(Statement::from_string(
            backend,
            "SELECT version FROM seaql_migrations ORDER BY version",
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<String>("", "version").map_err(StoreError::from))
        .collect()
}

impl Store {
    pub async fn migration_state(&self) -> Result<MigrationState, StoreError> {
        let applied = applied(&self.db).await?;
        let known = known();
        let known_set: HashSet<&String> = known.iter().collect();
        let newer: Vec<String> = applied
            .iter()
            .filter(|a| !known_set.contains(a))
            .cloned()
            .collect();
        if !newer.is_empty() {
            return Ok(MigrationState::Newer(newer));
        }
        let applied: HashSet<&String> = applied.iter().collect();
        let pending: Vec<String> = known
            .iter()
            .filter(|k| !applied.contains(k))
            .cloned()
            .collect();
        Ok(if pending.is_empty() {
            MigrationState::Current
        } else {
            MigrationState::Pending(pending)
        })
    }

    /// Applies pending migrations under the cross-process lock; returns the names applied.
    pub async fn migrate(&self, url: &DatabaseUrl) -> Result<Vec<String>, MigrateError> {
        match url {
            DatabaseUrl::Postgres(_) => {
                // Session-level advisory locks belong to one connection: use a pool of one.
                let single = Store::connect_single(url).await?;
                let backend = single.db.get_database_backend();
                single
                    .db
                    .execute_raw(Statement::from_string(
                        backend,
                        format!("SELECT pg_advisory_lock({PG_MIGRATION_LOCK})"),
                    ))
                    .await
                    .map_err(|e| MigrateError::Lock(e.to_string()))?;
                let result = single.migrate_locked().await;
                let _ = single
                    .db
                    .execute_raw(Statement::from_string(
                        backend,
                        format!("SELECT pg_advisory_unlock({PG_MIGRATION_LOCK})"),
                    ))
                    .await;
                let _ = single.close().await;
                result
            }
            DatabaseUrl::Sqlite(path) => {
                let lock_path = path.with_extension("migrate-lock");
                let lock = std::fs::OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&lock_path)
                    .map_err(|e| MigrateError::Lock(format!("{}: {e}", lock_path.display())))?;
                let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
                    .await
                    .map_err(|e| MigrateError::Lock(e.to_string()))?
                    .map_err(|e| MigrateError::Lock(format!("{}: {e}", lock_path.display())))?;
                let result = self.migrate_locked().await;
                drop(lock);
                result
            }
        }
    }

    async fn migrate_locked(&self) -> Result<Vec<String>, MigrateError> {
        match self.migration_state().await? {
            MigrationState::Newer(names) => Err(MigrateError::NewerDatabase(names)),
            MigrationState::Current => Ok(Vec::new()),
            MigrationState::Pending(names) => {
                Migrator::up(&self.db, None)
                    .await
                    .map_err(StoreError::from)?;
                Ok(names)
            }
        }
    }

    async fn connect_single(url: &DatabaseUrl) -> Result<Store, StoreError> {
        let DatabaseUrl::Postgres(raw) = url else {
            return Store::connect(url).await;
        };
        let mut o = sea_orm::ConnectOptions::new(raw.clone());
        o.max_connections(1)
            .min_connections(1)
            .sqlx_logging(false)
            .acquire_timeout(std::time::Duration::from_secs(30));
        Ok(Store {
            db: sea_orm::Database::connect(o).await?,
            sqlite_path: None,
        })
    }
}
