//! The tables beside the log, reached through their own connection to the same database: what
//! the service keeps about the log rather than in it (projection checkpoints, leases) and bulk
//! operations on it (import). `EventStore` stays the one way to append and read events.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::{Backend, StoreError};

/// Connections an `Admin` keeps.
const ADMIN_CONNECTIONS_MAX: u32 = 4;
/// How long a SQLite connection waits for another connection's write lock.
const BUSY_TIMEOUT_MS: u64 = 5_000;

pub struct Admin {
    db: Db,
}

enum Db {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl Admin {
    /// Connects to the database a store URL names (`postgres://…` or `sqlite://PATH`). The store's
    /// migrations must have been applied (`EventStore::migrate`).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let db = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(ADMIN_CONNECTIONS_MAX)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await?,
            )
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Self { db })
    }

    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Postgres(_) => Backend::Postgres,
            Db::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// The PostgreSQL pool, on PostgreSQL.
    pub fn postgres(&self) -> Option<&PgPool> {
        match &self.db {
            Db::Postgres(p) => Some(p),
            Db::Sqlite(_) => None,
        }
    }

    /// The SQLite pool (one writer connection), on SQLite.
    pub fn sqlite(&self) -> Option<&SqlitePool> {
        match &self.db {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }
}
