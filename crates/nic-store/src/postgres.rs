//! The PostgreSQL backend: production and scale.
//!
//! An append is one call of the `nic_append` SQL function (see `migrations/postgres`), which locks
//! the stream, checks the expected version before spending a position, chains the hashes and
//! inserts. Readers of the global log see only events whose writing transaction is older than every
//! transaction still running, so none is ever skipped.
//!
//! Wake-ups: a local append ticks local subscribers at once and asks a background task to send one
//! small `NOTIFY nic_events` (several appends within `NOTIFY_COALESCE_MS` share one), so that
//! writers' commits do not queue on the notification lock. Another task LISTENs and ticks on every
//! notification. Notifications only wake readers, who then read the store.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nic_events::limits::NOTIFY_COALESCE_MS;
use nic_events::{ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Postgres, QueryBuilder, Row};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::{
    check_append, non_negative, now_micros, page_limit, AppendOutcome, Backend, EventStore,
    ReadAll, StoreError,
};

const CHANNEL: &str = "nic_events";
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, data::text AS data, metadata::text AS metadata, recorded_at, hash";
/// Only events whose transaction finished before every transaction still running.
const SAFE: &str = "transaction_id < pg_snapshot_xmin(pg_current_snapshot())";
/// Connections in the pool.
pub const POOL_CONNECTIONS_MAX: u32 = 40;

pub struct PgStore {
    pool: PgPool,
    wake: Arc<watch::Sender<u64>>,
    notify_request: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for PgStore {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        let wake = Arc::new(watch::Sender::new(0u64));
        let notify_request = Arc::new(Notify::new());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let tasks = vec![
            tokio::spawn(listen(listener, wake.clone())),
            tokio::spawn(announce(pool.clone(), notify_request.clone())),
        ];
        Ok(Self {
            pool,
            wake,
            notify_request,
            tasks,
        })
    }

    /// The connection pool, for tools that need plain SQL on the same database (the benchmark's
    /// baseline, projections that commit with their checkpoint).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

/// Ticks `wake` on every notification. `recv` reconnects by itself after a lost connection; the
/// notifications missed meanwhile are covered by the subscribers' poll.
async fn listen(mut listener: PgListener, wake: Arc<watch::Sender<u64>>) {
    loop {
        match listener.recv().await {
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "event notification listener failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Sends one NOTIFY for all the appends requested since the last one.
async fn announce(pool: PgPool, requests: Arc<Notify>) {
    loop {
        requests.notified().await;
        tokio::time::sleep(Duration::from_millis(NOTIFY_COALESCE_MS)).await;
        if let Err(e) = sqlx::query("SELECT pg_notify($1, '')")
            .bind(CHANNEL)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce appended events");
        }
    }
}

fn decode(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let position = non_negative(row.try_get("global_position")?, 0, "position")?;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let stream: String = row.try_get("stream_id")?;
    Ok(RecordedEvent {
        event_id: row.try_get::<Uuid, _>("event_id")?,
        stream_id: StreamId::parse(stream).map_err(|e| corrupt(e.to_string()))?,
        stream_version: non_negative(row.try_get("stream_version")?, position, "version")?,
        global_position: position,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(row.try_get::<i32, _>("schema_version")?)
            .map_err(|e| corrupt(e.to_string()))?,
        data: serde_json::value::RawValue::from_string(row.try_get("data")?)
            .map_err(|e| corrupt(e.to_string()))?,
        metadata: serde_json::value::RawValue::from_string(row.try_get("metadata")?)
            .map_err(|e| corrupt(e.to_string()))?,
        recorded_at: row.try_get::<DateTime<Utc>, _>("recorded_at")?,
        hash: row.try_get("hash")?,
    })
}

fn expected_parts(expected: ExpectedVersion) -> (&'static str, Option<i64>) {
    match expected {
        ExpectedVersion::Any => ("any", None),
        ExpectedVersion::NoStream => ("no_stream", None),
        ExpectedVersion::StreamExists => ("stream_exists", None),
        ExpectedVersion::Exact(v) => ("exact", Some(v as i64)),
    }
}

#[async_trait]
impl EventStore for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }

    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(&events)?;
        let (kind, version) = expected_parts(expected);
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
        let schema_versions: Vec<i32> = events.iter().map(|e| e.schema_version as i32).collect();
        let data: Vec<&str> = events.iter().map(|e| e.data.get()).collect();
        let metadata: Vec<&str> = events.iter().map(|e| e.metadata.get()).collect();
        let mut conn = self.pool.acquire().await?;
        let result = sqlx::query(
            "SELECT outcome, current_version, first_position, last_position \
             FROM nic_append($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(stream.as_str())
        .bind(stream.category())
        .bind(kind)
        .bind(version)
        .bind(&ids)
        .bind(&types)
        .bind(&schema_versions)
        .bind(&data)
        .bind(&metadata)
        .bind(now_micros().timestamp_micros())
        .fetch_one(&mut *conn)
        .await;
        let row = match result {
            Ok(row) => row,
            Err(e) => {
                // The failed call may have left nic_append's session lock held: closing the
                // connection is what releases it.
                drop(conn.detach());
                return Err(e.into());
            }
        };
        drop(conn);
        let outcome: String = row.try_get("outcome")?;
        let current: Option<i64> = row.try_get("current_version")?;
        let current = current.map(|v| non_negative(v, 0, "version")).transpose()?;
        match outcome.as_str() {
            "appended" | "duplicate" => {
                if outcome == "appended" {
                    self.wake.send_modify(|n| *n = n.wrapping_add(1));
                    self.notify_request.notify_one();
                }
                Ok(AppendOutcome {
                    stream_version: current.unwrap_or_default(),
                    first_position: non_negative(row.try_get("first_position")?, 0, "position")?,
                    last_position: non_negative(row.try_get("last_position")?, 0, "position")?,
                    duplicate: outcome == "duplicate",
                })
            }
            "wrong_version" => Err(StoreError::WrongExpectedVersion {
                stream: stream.clone(),
                expected,
                actual: current,
            }),
            _ => Err(StoreError::EventIdConflict {
                stream: stream.clone(),
            }),
        }
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = $1 AND stream_version >= $2 \
             ORDER BY stream_version LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(stream.as_str())
            .bind(from_version as i64)
            .bind(page_limit(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT max(stream_version) FROM events WHERE stream_id = $1")
                .bind(stream.as_str())
                .fetch_one(&self.pool)
                .await?;
        v.map(|v| non_negative(v, 0, "version")).transpose()
    }

    async fn read_all(&self, query: &ReadAll) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM events WHERE {SAFE} AND global_position > "
        ));
        q.push_bind(query.after as i64);
        if !query.categories.is_empty() {
            q.push(" AND category = ANY(")
                .push_bind(&query.categories)
                .push(")");
        }
        if !query.event_types.is_empty() {
            q.push(" AND event_type = ANY(")
                .push_bind(&query.event_types)
                .push(")");
        }
        if let Some(p) = query.up_to_position {
            q.push(" AND global_position <= ").push_bind(p as i64);
        }
        if let Some(t) = query.up_to_time {
            q.push(" AND recorded_at <= ").push_bind(t);
        }
        q.push(" ORDER BY global_position LIMIT ")
            .push_bind(query.page_size() as i64);
        let rows = q.build().fetch_all(&self.pool).await?;
        rows.iter().map(decode).collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let sql = format!("SELECT coalesce(max(global_position), 0) FROM events WHERE {SAFE}");
        let v: i64 = sqlx::query_scalar(&sql).fetch_one(&self.pool).await?;
        non_negative(v, 0, "position")
    }

    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError> {
        let sql = format!(
            "SELECT coalesce(max(global_position), 0) FROM events WHERE {SAFE} AND recorded_at <= $1"
        );
        let v: i64 = sqlx::query_scalar(&sql)
            .bind(time)
            .fetch_one(&self.pool)
            .await?;
        non_negative(v, 0, "position")
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }
}
