//! The tables beside the log, reached through their own connection to the same database: what
//! the service keeps about the log rather than in it (projection checkpoints, leases) and bulk
//! operations on it (import). `EventStore` stays the one way to append and read events.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;

use crate::limits::{
    ADMIN_CONNECTIONS_MAX, CHECKPOINT_PART_BYTES_MAX, CHECKPOINT_PART_BYTES_MIN,
    CHECKPOINT_PART_CUT_BITS, CHECKPOINT_WRITE_TRANSACTION_BYTES, PART_UNNAMED_KEEP_MS,
    PG_ACQUIRE_TIMEOUT_MS, SQLITE_BUSY_TIMEOUT_MS,
};
use crate::sealing::{new_key, open_text, seal_text, tokens};
use crate::{non_negative, now_micros, Backend, StoreError};
use nic_events::SEALED_PREFIX;

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

pub struct Admin {
    db: Db,
    /// `PART_UNNAMED_KEEP_MS`, unless set otherwise (`keep_unnamed_parts`).
    keep_unnamed_parts: chrono::Duration,
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
                    .acquire_timeout(Duration::from_millis(PG_ACQUIRE_TIMEOUT_MS))
                    .connect(url)
                    .await?,
            )
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)?
                .journal_mode(SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
                .pragma("secure_delete", "on");
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .connect_with(options)
                    .await?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_string()));
        };
        Ok(Self {
            db,
            keep_unnamed_parts: chrono::Duration::milliseconds(PART_UNNAMED_KEEP_MS as i64),
        })
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

    /// Every saved checkpoint, by name, with its state put together from its parts (one
    /// statement, so a save switching meanwhile is seen before or after, never half). A checkpoint
    /// whose parts are not all stored is left out, with a warning, so the projections refold it.
    pub async fn load_checkpoints(&self) -> Result<Vec<Checkpoint>, StoreError> {
        let mut rows: Vec<(Checkpoint, i64, Option<String>)> = Vec::new();
        match &self.db {
            Db::Postgres(p) => {
                let sql = "SELECT c.name, c.generation, c.position, c.saved_at, \
                     CAST(jsonb_array_length(c.parts::jsonb) AS BIGINT) AS parts, p.body \
                     FROM projection_checkpoints c \
                     CROSS JOIN LATERAL jsonb_array_elements_text(c.parts::jsonb) \
                         WITH ORDINALITY AS k(id, n) \
                     LEFT JOIN projection_checkpoint_parts p ON p.id = k.id \
                     ORDER BY c.name, k.n";
                for row in sqlx::query(sql).fetch_all(p).await? {
                    let saved_at = row.try_get("saved_at")?;
                    rows.push(part_row(&row, saved_at)?);
                }
            }
            Db::Sqlite(p) => {
                let sql = "SELECT c.name, c.generation, c.position, c.saved_at, \
                     json_array_length(c.parts) AS parts, p.body \
                     FROM projection_checkpoints c, json_each(c.parts) k \
                     LEFT JOIN projection_checkpoint_parts p ON p.id = k.value \
                     ORDER BY c.name, k.key";
                for row in sqlx::query(sql).fetch_all(p).await? {
                    let saved_at = from_micros(row.try_get("saved_at")?, "a checkpoint's time")?;
                    rows.push(part_row(&row, saved_at)?);
                }
            }
        }
        // Parts are sealed: opened with their keys (a part whose key is destroyed is missing).
        let wanted: Vec<uuid::Uuid> = rows
            .iter()
            .filter_map(|(_, _, body)| body.as_deref())
            .flat_map(|b| {
                tokens(&format!("\"{b}\""))
                    .map(|(_, id, _)| id)
                    .collect::<Vec<_>>()
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let keys = self.keys(&wanted).await?;
        for (_, _, body) in rows.iter_mut() {
            if let Some(b) = body.as_mut().filter(|b| b.starts_with(SEALED_PREFIX)) {
                *body = open_part(b, &keys);
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
                    let saved_at = from_micros(row.try_get("saved_at")?, "a checkpoint's time")?;
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
    /// Each state is cut into content-defined parts (`split_parts`). The parts not stored yet are
    /// written first, in short transactions (a long one would hold the SQLite write lock, or hold
    /// back every PostgreSQL reader's frontier, for as long); then one small transaction checks
    /// the fences and that every part is stored, and points every checkpoint at its parts, so the
    /// states and the position change together. Then parts no checkpoint names are pruned.
    pub async fn save_checkpoints(
        &self,
        lease: &str,
        holder: &str,
        generation: u64,
        position: u64,
        states: Vec<(&'static str, String)>,
    ) -> Result<bool, StoreError> {
        let generation = to_i64(generation)?;
        let position = to_i64(position)?;
        if !self.holds(lease, holder).await? {
            return Ok(false);
        }
        let cut = Cut::of(states, self.checkpoint_key().await?).await;
        self.write_parts(&cut).await?;
        let fence = Fence {
            lease,
            holder,
            generation,
            position,
        };
        let switched = match &self.db {
            Db::Postgres(p) => switch_pg(p, &fence, &cut).await?,
            Db::Sqlite(p) => switch_sqlite(p, &fence, &cut).await?,
        };
        self.prune_parts().await?;
        Ok(switched)
    }

    /// Replaces the checkpoints with these states at `position` as a new generation (one more
    /// than the newest saved), and returns it. The parts are written first, as `save_checkpoints`
    /// does; one transaction then replaces every checkpoint. Savers holding an older generation
    /// write nothing from then on.
    pub async fn replace_checkpoints(
        &self,
        position: u64,
        states: Vec<(&'static str, String)>,
    ) -> Result<u64, StoreError> {
        let position = to_i64(position)?;
        const NEWEST: &str =
            "SELECT COALESCE(MAX(generation), 0) + 1 AS g FROM projection_checkpoints";
        let cut = Cut::of(states, self.checkpoint_key().await?).await;
        // A part pruned between its writing and the switch (only if that took longer than
        // `PART_UNNAMED_KEEP_MS`) is written again.
        loop {
            self.write_parts(&cut).await?;
            let replaced = match &self.db {
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
                    if cut.stored_pg(&mut tx).await? {
                        sqlx::query("DELETE FROM projection_checkpoints")
                            .execute(&mut *tx)
                            .await?;
                        for (name, parts) in &cut.rows {
                            sqlx::query(
                                "INSERT INTO projection_checkpoints \
                                     (name, generation, position, parts, saved_at) \
                                 VALUES ($1, $2, $3, $4, now())",
                            )
                            .bind(name)
                            .bind(g)
                            .bind(position)
                            .bind(parts)
                            .execute(&mut *tx)
                            .await?;
                        }
                        tx.commit().await?;
                        Some(g)
                    } else {
                        None
                    }
                }
                Db::Sqlite(p) => {
                    let now = now_micros().timestamp_micros();
                    let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                    let g: i64 = sqlx::query(NEWEST)
                        .fetch_one(&mut *tx)
                        .await?
                        .try_get("g")?;
                    if cut.stored_sqlite(&mut tx).await? {
                        sqlx::query("DELETE FROM projection_checkpoints")
                            .execute(&mut *tx)
                            .await?;
                        for (name, parts) in &cut.rows {
                            sqlx::query(
                                "INSERT INTO projection_checkpoints \
                                     (name, generation, position, parts, saved_at) \
                                 VALUES (?, ?, ?, ?, ?)",
                            )
                            .bind(name)
                            .bind(g)
                            .bind(position)
                            .bind(parts)
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                        }
                        tx.commit().await?;
                        Some(g)
                    } else {
                        None
                    }
                }
            };
            if let Some(g) = replaced {
                self.prune_parts().await?;
                return non_negative(g, 0, "generation");
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

    /// Writes the parts of `cut` not stored yet, a transaction per
    /// `CHECKPOINT_WRITE_TRANSACTION_BYTES` or so,
    /// pausing after each as long as it took. No checkpoint names them yet.
    async fn write_parts(&self, cut: &Cut) -> Result<(), StoreError> {
        let ids = &cut.ids;
        let stored: Vec<String> = match &self.db {
            Db::Postgres(p) => {
                sqlx::query_scalar(
                    "SELECT id FROM projection_checkpoint_parts \
                     WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
                )
                .bind(ids)
                .fetch_all(p)
                .await?
            }
            Db::Sqlite(p) => {
                sqlx::query_scalar(
                    "SELECT id FROM projection_checkpoint_parts \
                     WHERE id IN (SELECT value FROM json_each(?))",
                )
                .bind(ids)
                .fetch_all(p)
                .await?
            }
        };
        let stored: std::collections::HashSet<String> = stored.into_iter().collect();
        let mut missing = cut.parts.iter().filter(|(id, _)| !stored.contains(*id));
        loop {
            // One transaction's worth: parts up to CHECKPOINT_WRITE_TRANSACTION_BYTES (at least
            // one).
            let mut batch = Vec::new();
            let mut bytes = 0;
            for (id, at) in missing.by_ref() {
                let body = seal_text(cut.key.0, &cut.key.1, cut.body(at));
                bytes += body.len();
                batch.push((id, body));
                if bytes >= CHECKPOINT_WRITE_TRANSACTION_BYTES {
                    break;
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let started = std::time::Instant::now();
            match &self.db {
                Db::Postgres(p) => {
                    let mut tx = p.begin().await?;
                    for (id, body) in batch {
                        sqlx::query(
                            "INSERT INTO projection_checkpoint_parts (id, body, written_at) \
                             VALUES ($1, $2, now()) \
                             ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
                        )
                        .bind(id)
                        .bind(body)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                }
                Db::Sqlite(p) => {
                    let now = now_micros().timestamp_micros();
                    let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                    for (id, body) in batch {
                        sqlx::query(
                            "INSERT INTO projection_checkpoint_parts (id, body, written_at) \
                             VALUES (?, ?, ?) \
                             ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at",
                        )
                        .bind(id)
                        .bind(body)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                }
            }
            // Paced: as long again between batches, so that appends and reads get the database
            // (and the disk) at least half the time while a large save is written.
            tokio::time::sleep(started.elapsed()).await;
        }
    }

    /// The key checkpoint parts are sealed under now: the newest kept, or a new one.
    async fn checkpoint_key(&self) -> Result<CheckpointKey, StoreError> {
        const NEWEST: &str = "SELECT key_id, key FROM personal_keys \
             WHERE class = 'checkpoint' AND key IS NOT NULL \
             ORDER BY created_at DESC, key_id DESC LIMIT 1";
        let found = match &self.db {
            Db::Postgres(p) => sqlx::query_as::<_, (uuid::Uuid, Vec<u8>)>(NEWEST)
                .fetch_optional(p)
                .await?
                .map(|(id, key)| (id.to_string(), key)),
            Db::Sqlite(p) => {
                sqlx::query_as::<_, (String, Vec<u8>)>(NEWEST)
                    .fetch_optional(p)
                    .await?
            }
        };
        match found {
            Some((id, key)) => Ok((
                uuid::Uuid::parse_str(&id).map_err(|e| {
                    StoreError::InvalidAppend(format!("a checkpoint key's id: {e}"))
                })?,
                key.try_into().map_err(|_| {
                    StoreError::InvalidAppend("a checkpoint key is not 32 bytes".into())
                })?,
            )),
            None => self.rotate_checkpoint_key().await,
        }
    }

    /// Seals checkpoint parts written from now on under a new key (after an erasure: the parts
    /// written before hold text it made unreadable, and their key goes with
    /// `destroy_older_checkpoint_keys`).
    pub async fn rotate_checkpoint_key(&self) -> Result<CheckpointKey, StoreError> {
        let key: CheckpointKey = (uuid::Uuid::new_v4(), new_key());
        let now = now_micros();
        match &self.db {
            Db::Postgres(p) => {
                sqlx::query(
                    "INSERT INTO personal_keys (key_id, key, event_id, stream_id, field, class, \
                     created_at) VALUES ($1, $2, $3, 'checkpoints', '/parts', 'checkpoint', $4)",
                )
                .bind(key.0)
                .bind(key.1.to_vec())
                .bind(uuid::Uuid::nil())
                .bind(now)
                .execute(p)
                .await?;
            }
            Db::Sqlite(p) => {
                sqlx::query(
                    "INSERT INTO personal_keys (key_id, key, event_id, stream_id, field, class, \
                     created_at) VALUES (?, ?, ?, 'checkpoints', '/parts', 'checkpoint', ?)",
                )
                .bind(key.0.to_string())
                .bind(key.1.to_vec())
                .bind(uuid::Uuid::nil().to_string())
                .bind(now.timestamp_micros())
                .execute(p)
                .await?;
            }
        }
        Ok(key)
    }

    /// Destroys every checkpoint key but the newest: the parts sealed under them (an older
    /// generation's, pruned by now, and any copy of them the database still holds in free space
    /// or its WAL) can no longer be opened.
    pub async fn destroy_older_checkpoint_keys(&self) -> Result<(), StoreError> {
        let newest = self.checkpoint_key().await?.0;
        match &self.db {
            Db::Postgres(p) => {
                let gone = sqlx::query(
                    "DELETE FROM personal_keys WHERE class = 'checkpoint' AND key_id <> $1",
                )
                .bind(newest)
                .execute(p)
                .await?
                .rows_affected();
                if gone > 0 {
                    crate::keys::pg_vacuum(p).await?;
                }
            }
            Db::Sqlite(p) => {
                sqlx::query("DELETE FROM personal_keys WHERE class = 'checkpoint' AND key_id <> ?")
                    .bind(newest.to_string())
                    .execute(p)
                    .await?;
            }
        }
        Ok(())
    }

    /// The checkpoint keys of these ids that are kept.
    async fn keys(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<std::collections::HashMap<uuid::Uuid, [u8; 32]>, StoreError> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            let key: Option<Vec<u8>> = match &self.db {
                Db::Postgres(p) => {
                    sqlx::query_scalar(
                        "SELECT key FROM personal_keys WHERE key_id = $1 AND key IS NOT NULL",
                    )
                    .bind(id)
                    .fetch_optional(p)
                    .await?
                }
                Db::Sqlite(p) => {
                    sqlx::query_scalar(
                        "SELECT key FROM personal_keys WHERE key_id = ? AND key IS NOT NULL",
                    )
                    .bind(id.to_string())
                    .fetch_optional(p)
                    .await?
                }
            };
            if let Some(key) = key.and_then(|k| <[u8; 32]>::try_from(k).ok()) {
                out.insert(*id, key);
            }
        }
        Ok(out)
    }

    /// Deletes the parts that no checkpoint names and that were written more than
    /// `PART_UNNAMED_KEEP_MS` ago (younger ones may belong to a save in progress). On PostgreSQL the
    /// checkpoint rows are locked first, so no switch can start naming a part while it goes (a
    /// switch checks its parts are stored after taking its row locks).
    async fn prune_parts(&self) -> Result<(), StoreError> {
        self.prune_parts_before(now_micros() - self.keep_unnamed_parts)
            .await
    }

    /// Deletes the parts that no checkpoint names and that were written before `before`: after a
    /// rebuild, every part written before it began (an older generation's, which may hold text an
    /// erasure made unreadable; a save of that generation in progress can no longer switch).
    pub async fn prune_parts_before(&self, before: DateTime<Utc>) -> Result<(), StoreError> {
        match &self.db {
            Db::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("LOCK TABLE projection_checkpoints IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "DELETE FROM projection_checkpoint_parts WHERE written_at < $1 \
                     AND id NOT IN (SELECT k FROM projection_checkpoints c, \
                                    jsonb_array_elements_text(c.parts::jsonb) k)",
                )
                .bind(before)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            Db::Sqlite(p) => {
                sqlx::query(
                    "DELETE FROM projection_checkpoint_parts WHERE written_at < ? \
                     AND id NOT IN (SELECT k.value FROM projection_checkpoints c, \
                                    json_each(c.parts) k)",
                )
                .bind(before.timestamp_micros())
                .execute(p)
                .await?;
            }
        }
        Ok(())
    }

    /// Keeps parts no checkpoint names for `keep` after they were written, instead of
    /// `PART_UNNAMED_KEEP_MS` (tests use a short time to see them pruned). A save that takes longer
    /// than this between writing its parts and switching to them is refused, never harmed.
    pub fn keep_unnamed_parts(mut self, keep: Duration) -> Self {
        self.keep_unnamed_parts = chrono::Duration::from_std(keep).unwrap_or(chrono::Duration::MAX);
        self
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
                            expires_at: from_micros(
                                row.try_get("expires_at")?,
                                "a lease's expiry",
                            )?,
                        })
                    })
                    .transpose()?
            }
        })
    }
}

/// What a save's switch is fenced by: the lease and its holder, the generation and the position.
struct Fence<'a> {
    lease: &'a str,
    holder: &'a str,
    generation: i64,
    position: i64,
}

/// The switch of a save on PostgreSQL, in one transaction: if `fence.holder` still holds the
/// lease, points every checkpoint of `cut` at its parts (none of a newer generation or a later
/// position), once every part is stored. True when it committed.
async fn switch_pg(p: &PgPool, fence: &Fence<'_>, cut: &Cut) -> Result<bool, StoreError> {
    let Fence {
        lease,
        holder,
        generation,
        position,
    } = *fence;
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
    // The row locks come first: a prune running now ends before the parts are counted.
    for (name, parts) in cut.rows.iter().filter(|_| held) {
        let done = sqlx::query(
            "INSERT INTO projection_checkpoints \
                 (name, generation, position, parts, saved_at) \
             VALUES ($1, $2, $3, $4, now()) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                 parts = excluded.parts, saved_at = excluded.saved_at \
             WHERE projection_checkpoints.generation = excluded.generation \
               AND projection_checkpoints.position <= excluded.position",
        )
        .bind(name)
        .bind(generation)
        .bind(position)
        .bind(parts)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            switched = false;
            break;
        }
    }
    if switched && cut.stored_pg(&mut tx).await? {
        tx.commit().await?;
        Ok(true)
    } else {
        Ok(false)
    }
}

/// `switch_pg` on SQLite.
async fn switch_sqlite(p: &SqlitePool, fence: &Fence<'_>, cut: &Cut) -> Result<bool, StoreError> {
    let Fence {
        lease,
        holder,
        generation,
        position,
    } = *fence;
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
    let mut switched = held > 0 && cut.stored_sqlite(&mut tx).await?;
    for (name, parts) in &cut.rows {
        if !switched {
            break;
        }
        let done = sqlx::query(
            "INSERT INTO projection_checkpoints \
                 (name, generation, position, parts, saved_at) \
             VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET position = excluded.position, \
                 parts = excluded.parts, saved_at = excluded.saved_at \
             WHERE projection_checkpoints.generation = excluded.generation \
               AND projection_checkpoints.position <= excluded.position",
        )
        .bind(name)
        .bind(generation)
        .bind(position)
        .bind(parts)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            switched = false;
        }
    }
    if switched {
        tx.commit().await?;
    }
    Ok(switched)
}

/// States cut into parts: each state's row (its name and its parts' ids in order, a JSON array)
/// and every distinct part by id, as a range of one of the states.
struct Cut {
    states: Vec<String>,
    rows: Vec<(String, String)>,
    parts: std::collections::BTreeMap<String, (usize, std::ops::Range<usize>)>,
    /// Every distinct part's id, a JSON array: what the statements that look parts up bind.
    ids: String,
    /// The key the parts are sealed under as they are written.
    key: CheckpointKey,
}

impl Cut {
    /// Cuts and hashes the states on a blocking thread: tens of megabytes take tens of
    /// milliseconds, which a runtime worker would not spend on the requests it serves. After each
    /// state the thread pauses as long as it took, so a save takes at most about half a core.
    async fn of(states: Vec<(&'static str, String)>, key: CheckpointKey) -> Self {
        tokio::task::spawn_blocking(move || Self::from_owned(states, key))
            .await
            .expect("cutting checkpoint states does not panic")
    }

    fn from_owned(states: Vec<(&'static str, String)>, key: CheckpointKey) -> Self {
        let mut parts = std::collections::BTreeMap::new();
        let mut rows = Vec::with_capacity(states.len());
        for (i, (name, state)) in states.iter().enumerate() {
            let started = std::time::Instant::now();
            let ids: Vec<String> = split_parts(state)
                .into_iter()
                .map(|part| {
                    // The key's id is hashed in: parts sealed under another key are other parts.
                    let mut hash = Sha256::new();
                    hash.update(key.0.as_bytes());
                    hash.update(part.as_bytes());
                    let id = hex::encode(hash.finalize());
                    let start = part.as_ptr() as usize - state.as_ptr() as usize;
                    parts.insert(id.clone(), (i, start..start + part.len()));
                    id
                })
                .collect();
            rows.push((
                name.to_string(),
                serde_json::to_string(&ids).expect("ids serialise"),
            ));
            std::thread::sleep(started.elapsed());
        }
        let ids = serde_json::to_string(&parts.keys().collect::<Vec<_>>()).expect("ids serialise");
        Self {
            states: states.into_iter().map(|(_, state)| state).collect(),
            rows,
            parts,
            ids,
            key,
        }
    }

    /// A part's text.
    fn body(&self, (state, range): &(usize, std::ops::Range<usize>)) -> &str {
        &self.states[*state][range.clone()]
    }

    /// Whether every part is stored, in the switching transaction.
    async fn stored_pg(&self, tx: &mut sqlx::PgConnection) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM projection_checkpoint_parts \
             WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb))",
        )
        .bind(&self.ids)
        .fetch_one(tx)
        .await?;
        Ok(n == self.parts.len() as i64)
    }

    async fn stored_sqlite(&self, tx: &mut sqlx::SqliteConnection) -> Result<bool, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM projection_checkpoint_parts \
             WHERE id IN (SELECT value FROM json_each(?))",
        )
        .bind(&self.ids)
        .fetch_one(tx)
        .await?;
        Ok(n == self.parts.len() as i64)
    }
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

/// The key checkpoint parts are sealed under: its id and the key.
pub type CheckpointKey = (uuid::Uuid, [u8; 32]);

/// A sealed part opened with its key; None (the part is missing) when the key is gone.
fn open_part(
    sealed: &str,
    keys: &std::collections::HashMap<uuid::Uuid, [u8; 32]>,
) -> Option<String> {
    let quoted = format!("\"{sealed}\"");
    let (_, id, payload) = tokens(&quoted).next()?;
    open_text(id, keys.get(&id)?, payload)
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

/// The gear table of the rolling hash: fixed pseudo-random values (SplitMix64), the same in every
/// process and version, so equal content is cut alike.
const GEAR: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut x: u64 = 0;
    let mut i = 0;
    while i < 256 {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
};

/// A state cut into parts where its content says (content-defined chunking with a gear rolling
/// hash over the last 64 bytes): a cut follows a byte where the hash's top
/// `CHECKPOINT_PART_CUT_BITS` bits are zero, no sooner than `CHECKPOINT_PART_BYTES_MIN` after the
/// last cut and no later than `CHECKPOINT_PART_BYTES_MAX`, always at a character boundary. An edit changes only the parts
/// around it, so a save of a state that grew or changed in a few places writes a few parts. An
/// empty state is one empty part.
pub fn split_parts(state: &str) -> Vec<&str> {
    let bytes = state.as_bytes();
    let mask = !(u64::MAX >> CHECKPOINT_PART_CUT_BITS);
    let mut parts = Vec::new();
    let (mut start, mut hash) = (0, 0u64);
    for (i, &b) in bytes.iter().enumerate() {
        hash = (hash << 1).wrapping_add(GEAR[b as usize]);
        let (end, len) = (i + 1, i + 1 - start);
        if len >= CHECKPOINT_PART_BYTES_MIN
            && (hash & mask == 0 || len >= CHECKPOINT_PART_BYTES_MAX)
            && state.is_char_boundary(end)
        {
            parts.push(&state[start..end]);
            (start, hash) = (end, 0);
        }
    }
    if start < bytes.len() || parts.is_empty() {
        parts.push(&state[start..]);
    }
    parts
}

fn to_i64(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::InvalidAppend(format!("{v} is out of range")))
}

/// A time SQLite keeps as microseconds since the epoch; one out of range is corrupt, not 1970.
fn from_micros(micros: i64, what: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros).ok_or_else(|| StoreError::Corrupt {
        position: 0,
        reason: format!("{what} ({micros} µs) is out of range"),
    })
}
