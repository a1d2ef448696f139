//! The only module that runs queries or names sea-orm entities. Everything above it sees
//! [`Store`] (the pool), [`Tx`] (a write transaction) and plain records.
//!
//! SQLite is the embedded default (WAL, foreign keys on, busy timeout); PostgreSQL is selected by
//! URL. Nothing outside this module branches on the backend. Write transactions start with
//! `BEGIN IMMEDIATE` on SQLite so two writers queue instead of failing on lock upgrade.

pub mod app_access;
pub mod attributes;
pub mod audit;
pub mod clients;
pub mod consents;
pub mod credentials;
mod entities;
pub mod epoch;
pub mod form_uses;
pub mod grants;
pub mod groups;
mod migrate;
pub mod policies;
pub mod saml_requests;
pub mod saml_sps;
pub mod sessions;
pub mod settings;
pub mod sign_ins;
pub mod signing_keys;
pub mod tenants;
pub mod throttle;
pub mod users;

use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, QueryResult, SqlErr, SqliteTransactionMode, Statement, TransactionOptions,
    TransactionTrait, Value,
};

pub use migrate::{MigrateError, MigrationState};

use crate::config::DatabaseUrl;

/// A connection pool to the database.
#[derive(Clone, Debug)]
pub struct Store {
    db: DatabaseConnection,
    /// The SQLite file, checked by [`Store::ping`]: a deleted file keeps working through open
    /// handles while every write goes to a ghost, so readiness must notice.
    sqlite_path: Option<std::path::PathBuf>,
}

/// A write transaction: dropped without [`Tx::commit`] it rolls back.
pub struct Tx {
    tx: DatabaseTransaction,
}

/// Anything store functions can run on: the pool or a transaction.
pub trait Handle: Send + Sync {
    #[doc(hidden)]
    type Conn: ConnectionTrait;
    #[doc(hidden)]
    fn conn(&self) -> &Self::Conn;
}

impl Handle for Store {
    type Conn = DatabaseConnection;
    fn conn(&self) -> &DatabaseConnection {
        &self.db
    }
}

impl Handle for Tx {
    type Conn = DatabaseTransaction;
    fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint refused the write; the name says which (e.g. `users.username`).
    #[error("already exists: {0}")]
    Conflict(&'static str),
    #[error("not found")]
    NotFound,
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A write handed to a batching writer failed there (its error, as text) or was not taken.
    #[error("batched write failed: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// Maps a unique violation to `Conflict(what)`, anything else to `Db`.
    pub(crate) fn unique(err: DbErr, what: &'static str) -> StoreError {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => StoreError::Conflict(what),
            _ => StoreError::Db(err),
        }
    }
}

impl Store {
    /// Opens the pool. SQLite files (and their directory) are created when missing.
    pub async fn connect(url: &DatabaseUrl) -> Result<Store, StoreError> {
        let mut options = match url {
            DatabaseUrl::Postgres(url) => {
                let mut o = ConnectOptions::new(url.clone());
                o.max_connections(16).min_connections(1);
                o
            }
            DatabaseUrl::Sqlite(path) => {
                if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                    let mut builder = std::fs::DirBuilder::new();
                    builder.recursive(true);
                    #[cfg(unix)]
                    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
                    builder.create(dir).map_err(|e| {
                        StoreError::Db(DbErr::Custom(format!(
                            "cannot create database directory {}: {e}",
                            dir.display()
                        )))
                    })?;
                }
                let path = path.clone();
                let mut o = ConnectOptions::new("sqlite::memory:".to_owned());
                o.max_connections(4).min_connections(1);
                o.map_sqlx_sqlite_opts(move |_| {
                    SqliteConnectOptions::new()
                        .filename(&path)
                        .create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Normal)
                        .foreign_keys(true)
                        .busy_timeout(Duration::from_secs(5))
                });
                o
            }
        };
        options
            .acquire_timeout(Duration::from_secs(5))
            .connect_timeout(Duration::from_secs(5))
            .sqlx_logging(false);
        // Switching a new SQLite file to WAL needs an exclusive lock that the busy timeout does
        // not cover, so processes opening a fresh file together may see "database is locked":
        // retry briefly instead of failing start-up.
        let mut attempts = 0;
        let db = loop {
            match Database::connect(options.clone()).await {
                Ok(db) => break db,
                Err(e) if url.is_postgres() || attempts >= 40 => return Err(e.into()),
                Err(_) => {
                    attempts += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        };
        let sqlite_path = match url {
            DatabaseUrl::Sqlite(path) => Some(path.clone()),
            DatabaseUrl::Postgres(_) => None,
        };
        Ok(Store { db, sqlite_path })
    }

    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite).
    pub async fn begin(&self) -> Result<Tx, StoreError> {
        let tx = self
            .db
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await?;
        Ok(Tx { tx })
    }

    /// One round trip to the database (and, for SQLite, the file is still where we opened it).
    pub async fn ping(&self) -> Result<(), StoreError> {
        if let Some(path) = self.sqlite_path.as_ref().filter(|p| !p.exists()) {
            return Err(StoreError::Db(DbErr::Custom(format!(
                "database file {} is gone",
                path.display()
            ))));
        }
        self.db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT 1",
            ))
            .await?;
        Ok(())
    }

    pub async fn close(self) -> Result<(), StoreError> {
        Ok(self.db.close().await?)
    }

    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), StoreError> {
        Ok(self.tx.commit().await?)
    }
}

/// Backend-specific placeholder for raw statements: `$n` on PostgreSQL, `?` on SQLite.
fn param(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => "?".to_owned(),
    }
}

/// A raw statement written with `?` placeholders, numbered `$n` for PostgreSQL. Used for the
/// atomic conditional updates (counters, single-use consumption) that the query builder cannot
/// express on both backends.
fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => {
            let mut out = String::with_capacity(sql.len() + 8);
            let mut n = 0;
            for ch in sql.chars() {
                if ch == '?' {
                    n += 1;
                    out.push('$');
                    out.push_str(&n.to_string());
                } else {
                    out.push(ch);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

/// Runs a statement; returns the number of rows it changed.
async fn exec(h: &impl Handle, sql: &str, values: Vec<Value>) -> Result<u64, StoreError> {
    let c = h.conn();
    let result = c
        .execute_raw(statement(c.get_database_backend(), sql, values))
        .await?;
    Ok(result.rows_affected())
}

/// [`exec`] for a write that a unique constraint may refuse: that becomes `Conflict(what)`.
async fn exec_unique(
    h: &impl Handle,
    sql: &str,
    values: Vec<Value>,
    what: &'static str,
) -> Result<u64, StoreError> {
    exec(h, sql, values).await.map_err(|e| match e {
        StoreError::Db(db) => StoreError::unique(db, what),
        other => other,
    })
}

async fn query_one(
    h: &impl Handle,
    sql: &str,
    values: Vec<Value>,
) -> Result<Option<QueryResult>, StoreError> {
    let c = h.conn();
    Ok(
        c.query_one_raw(statement(c.get_database_backend(), sql, values))
            .await?,
    )
}

async fn query_all(
    h: &impl Handle,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, StoreError> {
    let c = h.conn();
    Ok(
        c.query_all_raw(statement(c.get_database_backend(), sql, values))
            .await?,
    )
}
