//! The tables beside the log, reached through their own connection to the same database: what
//! the service keeps about the log rather than in it (projection checkpoints, leases) and bulk
//! operations on it (import). `EventStore` stays the one way to append and read events.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::{non_negative, now_micros, Backend, StoreError};

/// One projection's saved state: the whole state as JSON text and the global position it has
/// applied up to, written together.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    pub name: String,
    /// Changes only when the projections are rebuilt from position 0 (`replace_checkpoints`).
    pub generation: u64,
    pub position: u64,
    pub state: String,
    pub saved_at: DateTime<Utc>,
}

/// A lease as stored: who holds it until when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub name: String,
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

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

    /// Every saved checkpoint, by name.
    pub async fn load_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.checkpoints(true).await
    }

    /// Every saved checkpoint, by name, without its state (`state` is empty): what status
    /// reports need, cheaply.
    pub async fn checkpoint_heads(&self) -> Result<Vec<Checkpoint>, StoreError> {
        self.checkpoints(false).await
    }

    async fn checkpoints(&self, with_state: bool) -> Result<Vec<Checkpoint>, StoreError> {
        let sql = format!(
            "SELECT name, generation, position, {} AS state, saved_at \
             FROM projection_checkpoints ORDER BY name",
            if with_state { "state" } else { "''" }
        );
        let mut out = Vec::new();
        match &self.db {
            Db::Postgres(p) => {
                for row in sqlx::query(&sql).fetch_all(p).await? {
                    out.push(Checkpoint {
                        name: row.try_get("name")?,
                        generation: non_negative(row.try_get("generation")?, 0, "generation")?,
                        position: non_negative(row.try_get("position")?, 0, "position")?,
                        state: row.try_get("state")?,
                        saved_at: row.try_get("saved_at")?,
                    });
                }
            }
            Db::Sqlite(p) => {
                for row in sqlx::query(&sql).fetch_all(p).await? {
                    out.push(Checkpoint {
                        name: row.try_get("name")?,
                        generation: non_negative(row.try_get("generation")?, 0, "generation")?,
                        position: non_negative(row.try_get("position")?, 0, "position")?,
                        state: row.try_get("state")?,
                        saved_at: from_micros(row.try_get("saved_at")?),
                    });
                }
            }
        }
        Ok(out)
    }

    /// One projection's checkpoint, if saved.
    pub async fn load_checkpoint(&self, name: &str) -> Result<Option<Checkpoint>, StoreError> {
        Ok(self
            .load_checkpoints()
            .await?
            .into_iter()
            .find(|c| c.name == name))
    }

    /// The newest generation saved (None before any checkpoint): cheap enough to poll.
    pub async fn checkpoint_generation(&self) -> Result<Option<u64>, StoreError> {
        const SQL: &str = "SELECT MAX(generation) AS g FROM projection_checkpoints";
        let g: Option<i64> = match &self.db {
            Db::Postgres(p) => sqlx::query(SQL).fetch_one(p).await?.try_get("g")?,
            Db::Sqlite(p) => sqlx::query(SQL).fetch_one(p).await?.try_get("g")?,
        };
        g.map(|g| non_negative(g, 0, "generation")).transpose()
    }

    /// Saves the states of a set of projections at `position`, all in one transaction, if
    /// `holder` holds the lease `lease` and no checkpoint of a newer `generation` (a rebuild)
    /// exists; a checkpoint never moves back to an earlier position. False (nothing written) when
    /// any of that does not hold.
    pub async fn save_checkpoints(
        &self,
        lease: &str,
        holder: &str,
        generation: u64,
        position: u64,
        states: &[(&str, String)],
    ) -> Result<bool, StoreError> {
        let generation = to_i64(generation)?;
        let position = to_i64(position)?;
        match &self.db {
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                let held: bool = sqlx::query(
                    "SELECT EXISTS (SELECT 1 FROM projection_leases \
                     WHERE name = $1 AND holder = $2 AND expires_at > now()) AS held",
                )
                .bind(lease)
                .bind(holder)
                .fetch_one(&mut *tx)
                .await?
                .try_get("held")?;
                if !held {
                    return Ok(false);
                }
                for (name, state) in states {
                    let done = sqlx::query(
                        "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) \
                         VALUES ($1, $2, $3, $4, now()) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                             state = excluded.state, saved_at = excluded.saved_at \
                         WHERE projection_checkpoints.generation = excluded.generation \
                           AND projection_checkpoints.position <= excluded.position",
                    )
                    .bind(name)
                    .bind(generation)
                    .bind(position)
                    .bind(state)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                }
                tx.commit().await?;
            }
            Db::Sqlite(p) => {
                let now = now_micros().timestamp_micros();
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let held: i64 = sqlx::query(
                    "SELECT COUNT(*) AS held FROM projection_leases \
                     WHERE name = ? AND holder = ? AND expires_at > ?",
                )
                .bind(lease)
                .bind(holder)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
                .try_get("held")?;
                if held == 0 {
                    return Ok(false);
                }
                for (name, state) in states {
                    let done = sqlx::query(
                        "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) \
                         VALUES (?, ?, ?, ?, ?) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                             state = excluded.state, saved_at = excluded.saved_at \
                         WHERE projection_checkpoints.generation = excluded.generation \
                           AND projection_checkpoints.position <= excluded.position",
                    )
                    .bind(name)
                    .bind(generation)
                    .bind(position)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        return Ok(false);
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(true)
    }

    /// Replaces the checkpoints with these states at `position` as a new generation (one more
    /// than the newest saved), in one transaction; returns the new generation. Savers holding an
    /// older generation write nothing from then on.
    pub async fn replace_checkpoints(
        &self,
        position: u64,
        states: &[(&str, String)],
    ) -> Result<u64, StoreError> {
        let position = to_i64(position)?;
        const NEWEST: &str =
            "SELECT COALESCE(MAX(generation), 0) + 1 AS g FROM projection_checkpoints";
        let generation: i64 = match &self.db {
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                // Rebuilds queue up behind each other rather than pick the same generation.
                sqlx::query("LOCK TABLE projection_checkpoints IN EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                let g: i64 = sqlx::query(NEWEST)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("g")?;
                sqlx::query("DELETE FROM projection_checkpoints")
                    .execute(&mut *tx)
                    .await?;
                for (name, state) in states {
                    sqlx::query(
                        "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) \
                         VALUES ($1, $2, $3, $4, now())",
                    )
                    .bind(name)
                    .bind(g)
                    .bind(position)
                    .bind(state)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                g
            }
            Db::Sqlite(p) => {
                let now = now_micros().timestamp_micros();
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let g: i64 = sqlx::query(NEWEST)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get("g")?;
                sqlx::query("DELETE FROM projection_checkpoints")
                    .execute(&mut *tx)
                    .await?;
                for (name, state) in states {
                    sqlx::query(
                        "INSERT INTO projection_checkpoints (name, generation, position, state, saved_at) \
                         VALUES (?, ?, ?, ?, ?)",
                    )
                    .bind(name)
                    .bind(g)
                    .bind(position)
                    .bind(state)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                g
            }
        };
        non_negative(generation, 0, "generation")
    }

    /// Takes the lease `name` for `holder` until `ttl` from now, or renews it: one atomic upsert
    /// that succeeds when the lease is free, expired or already `holder`'s. True when `holder`
    /// holds it now.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let ttl_micros = i64::try_from(ttl.as_micros()).unwrap_or(i64::MAX);
        let done = match &self.db {
            Db::Postgres(p) => sqlx::query(
                "INSERT INTO projection_leases (name, holder, expires_at) \
                     VALUES ($1, $2, clock_timestamp() + make_interval(secs => $3::float8 / 1e6)) \
                     ON CONFLICT (name) DO UPDATE \
                         SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE projection_leases.holder = excluded.holder \
                        OR projection_leases.expires_at <= clock_timestamp()",
            )
            .bind(name)
            .bind(holder)
            .bind(ttl_micros)
            .execute(p)
            .await?
            .rows_affected(),
            Db::Sqlite(p) => {
                let now = now_micros().timestamp_micros();
                sqlx::query(
                    "INSERT INTO projection_leases (name, holder, expires_at) VALUES (?, ?, ?) \
                     ON CONFLICT (name) DO UPDATE \
                         SET holder = excluded.holder, expires_at = excluded.expires_at \
                     WHERE projection_leases.holder = excluded.holder \
                        OR projection_leases.expires_at <= ?",
                )
                .bind(name)
                .bind(holder)
                .bind(now.saturating_add(ttl_micros))
                .bind(now)
                .execute(p)
                .await?
                .rows_affected()
            }
        };
        Ok(done == 1)
    }

    /// Gives the lease up, if `holder` holds it, so another process may take it at once.
    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<(), StoreError> {
        match &self.db {
            Db::Postgres(p) => {
                sqlx::query("DELETE FROM projection_leases WHERE name = $1 AND holder = $2")
                    .bind(name)
                    .bind(holder)
                    .execute(p)
                    .await?;
            }
            Db::Sqlite(p) => {
                sqlx::query("DELETE FROM projection_leases WHERE name = ? AND holder = ?")
                    .bind(name)
                    .bind(holder)
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// The lease `name` as stored (it may have expired), if any.
    pub async fn lease(&self, name: &str) -> Result<Option<Lease>, StoreError> {
        Ok(match &self.db {
            Db::Postgres(p) => sqlx::query(
                "SELECT name, holder, expires_at FROM projection_leases WHERE name = $1",
            )
            .bind(name)
            .fetch_optional(p)
            .await?
            .map(|row| -> Result<Lease, StoreError> {
                Ok(Lease {
                    name: row.try_get("name")?,
                    holder: row.try_get("holder")?,
                    expires_at: row.try_get("expires_at")?,
                })
            })
            .transpose()?,
            Db::Sqlite(p) => {
                sqlx::query("SELECT name, holder, expires_at FROM projection_leases WHERE name = ?")
                    .bind(name)
                    .fetch_optional(p)
                    .await?
                    .map(|row| -> Result<Lease, StoreError> {
                        Ok(Lease {
                            name: row.try_get("name")?,
                            holder: row.try_get("holder")?,
                            expires_at: from_micros(row.try_get("expires_at")?),
                        })
                    })
                    .transpose()?
            }
        })
    }
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidAppend(format!("{v} is out of range")))
}

fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
