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

/// The most one part of a checkpoint's state holds, in bytes: each part is written in a
/// transaction of its own, short enough not to keep appends (SQLite) or live readers (PostgreSQL)
/// waiting for long.
pub const CHECKPOINT_PART_BYTES: usize = 1 << 20;

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

    /// Every saved checkpoint, by name, with its state put together from its parts. A checkpoint
    /// whose parts are not all there is left out (with a warning), so the projections refold it.
    pub async fn load_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        // One statement: a row and its parts as of one moment, whatever a save does meanwhile.
        const SQL: &str =
            "SELECT c.name, c.generation, c.position, CAST(c.parts AS BIGINT) AS parts, \
             c.saved_at, p.body \
             FROM projection_checkpoints c LEFT JOIN projection_checkpoint_parts p \
               ON p.save_id = c.save_id AND p.name = c.name AND p.part < c.parts \
             ORDER BY c.name, p.part";
        let mut rows: Vec<(Checkpoint, i64, Option<String>)> = Vec::new();
        match &self.db {
            Db::Postgres(p) => {
                for row in sqlx::query(SQL).fetch_all(p).await? {
                    let saved_at = row.try_get("saved_at")?;
                    rows.push(part_row(&row, saved_at)?);
                }
            }
            Db::Sqlite(p) => {
                for row in sqlx::query(SQL).fetch_all(p).await? {
                    let saved_at = from_micros(row.try_get("saved_at")?);
                    rows.push(part_row(&row, saved_at)?);
                }
            }
        }
        // Rows come by name, then part: each name's parts are put together in order.
        let mut out = Vec::new();
        let mut current: Option<(Checkpoint, i64, i64)> = None;
        for (head, wanted, body) in rows {
            if current.as_ref().is_none_or(|(c, _, _)| c.name != head.name) {
                out.extend(whole(current.take()));
                current = Some((head, wanted, 0));
            }
            if let (Some(body), Some((c, _, found))) = (body, current.as_mut()) {
                c.state.push_str(&body);
                *found += 1;
            }
        }
        out.extend(whole(current));
        Ok(out)
    }

    /// Every saved checkpoint, by name, without its state (`state` is empty): what status
    /// reports need, cheaply.
    pub async fn checkpoint_heads(&self) -> Result<Vec<Checkpoint>, StoreError> {
        const SQL: &str = "SELECT name, generation, position, saved_at \
             FROM projection_checkpoints ORDER BY name";
        let mut out = Vec::new();
        match &self.db {
            Db::Postgres(p) => {
                for row in sqlx::query(SQL).fetch_all(p).await? {
                    let saved_at = row.try_get("saved_at")?;
                    out.push(head(&row, saved_at)?);
                }
            }
            Db::Sqlite(p) => {
                for row in sqlx::query(SQL).fetch_all(p).await? {
                    let saved_at = from_micros(row.try_get("saved_at")?);
                    out.push(head(&row, saved_at)?);
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

    /// Saves the states of a set of projections at `position`, if `holder` holds the lease
    /// `lease` and no checkpoint of a newer `generation` (a rebuild) exists; a checkpoint never
    /// moves back to an earlier position. False (no checkpoint changed) when any of that does not
    /// hold.
    ///
    /// The states are written first, in parts of at most `CHECKPOINT_PART_BYTES`, each in a short
    /// transaction of its own (a long one would hold the SQLite write lock, or hold back every
    /// PostgreSQL reader's frontier, for as long); then one small transaction checks the fences and
    /// points every checkpoint at its new parts, so the states and the position change together.
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
        if !self.holds(lease, holder).await? {
            return Ok(false);
        }
        let save = self.write_parts(generation, position, states).await?;
        let switched = match &self.db {
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
                let mut switched = held;
                for (name, parts) in save.parts.iter().filter(|_| held) {
                    let done = sqlx::query(
                        "INSERT INTO projection_checkpoints \
                             (name, generation, position, save_id, parts, saved_at) \
                         VALUES ($1, $2, $3, $4, $5, now()) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                             save_id = excluded.save_id, parts = excluded.parts, \
                             saved_at = excluded.saved_at \
                         WHERE projection_checkpoints.generation = excluded.generation \
                           AND projection_checkpoints.position <= excluded.position",
                    )
                    .bind(name)
                    .bind(generation)
                    .bind(position)
                    .bind(&save.id)
                    .bind(parts)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        switched = false;
                        break;
                    }
                }
                if switched {
                    tx.commit().await?;
                }
                switched
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
                let mut switched = held > 0;
                for (name, parts) in save.parts.iter().filter(|_| held > 0) {
                    let done = sqlx::query(
                        "INSERT INTO projection_checkpoints \
                             (name, generation, position, save_id, parts, saved_at) \
                         VALUES (?, ?, ?, ?, ?, ?) \
                         ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                             save_id = excluded.save_id, parts = excluded.parts, \
                             saved_at = excluded.saved_at \
                         WHERE projection_checkpoints.generation = excluded.generation \
                           AND projection_checkpoints.position <= excluded.position",
                    )
                    .bind(name)
                    .bind(generation)
                    .bind(position)
                    .bind(&save.id)
                    .bind(parts)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        switched = false;
                        break;
                    }
                }
                if switched {
                    tx.commit().await?;
                }
                switched
            }
        };
        self.prune_parts().await?;
        Ok(switched)
    }

    /// Replaces the checkpoints with these states at `position` as a new generation (one more
    /// than the newest saved), and returns it. The states are written in parts first, as
    /// `save_checkpoints` does; one transaction then replaces every checkpoint. Savers holding an
    /// older generation write nothing from then on.
    pub async fn replace_checkpoints(
        &self,
        position: u64,
        states: &[(&str, String)],
    ) -> Result<u64, StoreError> {
        let position = to_i64(position)?;
        const NEWEST: &str =
            "SELECT COALESCE(MAX(generation), 0) + 1 AS g FROM projection_checkpoints";
        loop {
            let generation: i64 = match &self.db {
                Db::Postgres(p) => sqlx::query(NEWEST).fetch_one(p).await?.try_get("g")?,
                Db::Sqlite(p) => sqlx::query(NEWEST).fetch_one(p).await?.try_get("g")?,
            };
            let save = self.write_parts(generation, position, states).await?;
            // Another rebuild may have taken this generation meanwhile: then its parts are
            // older than the checkpoints (and pruned), and this one tries the next generation.
            let replaced = match &self.db {
                Db::Postgres(p) => {
                    let mut tx = p.begin().await?;
                    // Rebuilds queue up behind each other rather than pick the same generation.
                    sqlx::query("LOCK TABLE projection_checkpoints IN EXCLUSIVE MODE")
                        .execute(&mut *tx)
                        .await?;
                    let newest: i64 = sqlx::query(NEWEST)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("g")?;
                    if newest == generation {
                        sqlx::query("DELETE FROM projection_checkpoints")
                            .execute(&mut *tx)
                            .await?;
                        for (name, parts) in &save.parts {
                            sqlx::query(
                                "INSERT INTO projection_checkpoints \
                                     (name, generation, position, save_id, parts, saved_at) \
                                 VALUES ($1, $2, $3, $4, $5, now())",
                            )
                            .bind(name)
                            .bind(generation)
                            .bind(position)
                            .bind(&save.id)
                            .bind(parts)
                            .execute(&mut *tx)
                            .await?;
                        }
                        tx.commit().await?;
                    }
                    newest == generation
                }
                Db::Sqlite(p) => {
                    let now = now_micros().timestamp_micros();
                    let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                    let newest: i64 = sqlx::query(NEWEST)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("g")?;
                    if newest == generation {
                        sqlx::query("DELETE FROM projection_checkpoints")
                            .execute(&mut *tx)
                            .await?;
                        for (name, parts) in &save.parts {
                            sqlx::query(
                                "INSERT INTO projection_checkpoints \
                                     (name, generation, position, save_id, parts, saved_at) \
                                 VALUES (?, ?, ?, ?, ?, ?)",
                            )
                            .bind(name)
                            .bind(generation)
                            .bind(position)
                            .bind(&save.id)
                            .bind(parts)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        tx.commit().await?;
                    }
                    newest == generation
                }
            };
            self.prune_parts().await?;
            if replaced {
                return non_negative(generation, 0, "generation");
            }
        }
    }

    /// Whether `holder` holds the lease `lease` now: checked before a save writes its parts, and
    /// again in the transaction that switches to them.
    async fn holds(&self, lease: &str, holder: &str) -> Result<bool, StoreError> {
        Ok(match &self.db {
            Db::Postgres(p) => sqlx::query(
                "SELECT 1 AS one FROM projection_leases \
                 WHERE name = $1 AND holder = $2 AND expires_at > now()",
            )
            .bind(lease)
            .bind(holder)
            .fetch_optional(p)
            .await?
            .is_some(),
            Db::Sqlite(p) => sqlx::query(
                "SELECT 1 AS one FROM projection_leases \
                 WHERE name = ? AND holder = ? AND expires_at > ?",
            )
            .bind(lease)
            .bind(holder)
            .bind(now_micros().timestamp_micros())
            .fetch_optional(p)
            .await?
            .is_some(),
        })
    }

    /// Writes every state in parts under a new save id, each part in a transaction of its own.
    /// No checkpoint points at them yet.
    async fn write_parts(
        &self,
        generation: i64,
        position: i64,
        states: &[(&str, String)],
    ) -> Result<Save, StoreError> {
        let save = Save {
            id: uuid::Uuid::new_v4().to_string(),
            parts: states
                .iter()
                .map(|(name, state)| (name.to_string(), split_parts(state).len() as i32))
                .collect(),
        };
        for (name, state) in states {
            for (part, body) in split_parts(state).into_iter().enumerate() {
                let part = part as i32;
                match &self.db {
                    Db::Postgres(p) => {
                        sqlx::query(
                            "INSERT INTO projection_checkpoint_parts \
                                 (save_id, name, part, generation, position, body) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&save.id)
                        .bind(name)
                        .bind(part)
                        .bind(generation)
                        .bind(position)
                        .bind(body)
                        .execute(p)
                        .await?;
                    }
                    Db::Sqlite(p) => {
                        sqlx::query(
                            "INSERT INTO projection_checkpoint_parts \
                                 (save_id, name, part, generation, position, body) \
                             VALUES (?, ?, ?, ?, ?, ?)",
                        )
                        .bind(&save.id)
                        .bind(name)
                        .bind(part)
                        .bind(generation)
                        .bind(position)
                        .bind(body)
                        .execute(p)
                        .await?;
                    }
                }
            }
        }
        Ok(save)
    }

    /// Deletes the parts that no checkpoint can point at any more: those older, by generation then
    /// position, than their projection's checkpoint (a checkpoint never moves back, so no save
    /// that wrote them can switch to them). One part per transaction, so that no transaction is
    /// long.
    async fn prune_parts(&self) -> Result<(), StoreError> {
        const STALE: &str = "SELECT p.save_id, p.name, p.part FROM projection_checkpoint_parts p \
             JOIN projection_checkpoints c ON c.name = p.name \
             WHERE p.generation < c.generation \
                OR (p.generation = c.generation AND p.position < c.position)";
        match &self.db {
            Db::Postgres(p) => {
                for row in sqlx::query(STALE).fetch_all(p).await? {
                    sqlx::query(
                        "DELETE FROM projection_checkpoint_parts \
                         WHERE save_id = $1 AND name = $2 AND part = $3",
                    )
                    .bind(row.try_get::<String, _>("save_id")?)
                    .bind(row.try_get::<String, _>("name")?)
                    .bind(row.try_get::<i32, _>("part")?)
                    .execute(p)
                    .await?;
                }
            }
            Db::Sqlite(p) => {
                for row in sqlx::query(STALE).fetch_all(p).await? {
                    sqlx::query(
                        "DELETE FROM projection_checkpoint_parts \
                         WHERE save_id = ? AND name = ? AND part = ?",
                    )
                    .bind(row.try_get::<String, _>("save_id")?)
                    .bind(row.try_get::<String, _>("name")?)
                    .bind(row.try_get::<i32, _>("part")?)
                    .execute(p)
                    .await?;
                }
            }
        }
        Ok(())
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

/// The parts one save wrote: its id, and how many parts each state took.
struct Save {
    id: String,
    parts: Vec<(String, i32)>,
}

/// A checkpoint row of `load_checkpoints` (state empty), its number of parts, and one part's body
/// (None when the row has no part at all).
fn part_row<R: Row>(
    row: &R,
    saved_at: DateTime<Utc>,
) -> Result<(Checkpoint, i64, Option<String>), StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    let parts: i64 = row.try_get("parts")?;
    Ok((head(row, saved_at)?, parts, row.try_get("body")?))
}

/// A checkpoint put together from its parts, if they were all there.
fn whole(read: Option<(Checkpoint, i64, i64)>) -> Option<Checkpoint> {
    let (c, wanted, found) = read?;
    if found == wanted {
        return Some(c);
    }
    tracing::warn!(checkpoint = %c.name, found, wanted, "a checkpoint lacks parts of its state; leaving it out");
    None
}

/// A checkpoint row without its state.
fn head<R: Row>(row: &R, saved_at: DateTime<Utc>) -> Result<Checkpoint, StoreError>
where
    for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    for<'r> &'r str: sqlx::ColumnIndex<R>,
{
    Ok(Checkpoint {
        name: row.try_get("name")?,
        generation: non_negative(row.try_get("generation")?, 0, "generation")?,
        position: non_negative(row.try_get("position")?, 0, "position")?,
        state: String::new(),
        saved_at,
    })
}

/// A state cut into parts of at most `CHECKPOINT_PART_BYTES`, at character boundaries; an empty
/// state is one empty part.
fn split_parts(state: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut rest = state;
    loop {
        let mut cut = rest.len().min(CHECKPOINT_PART_BYTES);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (part, tail) = rest.split_at(cut);
        parts.push(part);
        rest = tail;
        if rest.is_empty() {
            return parts;
        }
    }
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidAppend(format!("{v} is out of range")))
}

fn from_micros(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}
