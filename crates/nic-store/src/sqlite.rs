//! The SQLite backend: the embedded default that needs no server.
//!
//! WAL mode with `synchronous=FULL`: an acknowledged append is on disk. A pool of reader connections
//! serves reads; one writer connection takes the writes, so positions follow commits and readers
//! cannot skip an event. Wake-ups are in-process: every commit that wrote ticks the local
//! subscribers.
//!
//! Group commit. Every commit costs an fsync, so appends committed one by one would cap the store at
//! one append per fsync. Instead `append` hands its events to one committer task (over a channel)
//! and waits for its answer. The committer takes every append waiting (up to `BATCH_APPENDS_MAX`
//! appends and `BATCH_EVENTS_MAX` events), and runs them, in the order they arrived, in one
//! `BEGIN IMMEDIATE` transaction, each inside its own `SAVEPOINT`: an append is checked and written
//! exactly as if it were alone (retries recognised by their event ids, the expected version checked
//! against the stream's head, the hashes chained from it), and it sees the appends before it in the
//! same transaction, so a later append to the same stream chains onto an earlier one and an
//! identical append is answered as a retry of it (`duplicate: true`). An append that is refused
//! (wrong expected version, event-id conflict) or fails is rolled back to its savepoint and answered
//! with its error; the others go on. Then one `COMMIT` (one fsync for the whole batch), one wake-up
//! tick, and each append gets its answer. Nobody is answered before the commit; if the transaction
//! fails as a whole (`BEGIN`, a savepoint, `COMMIT`), nothing of the batch is written and every
//! append in it gets `StoreError::CommitFailed`. The committer ends once the store is dropped and the
//! appends already handed to it are answered.
//!
//! WAL checkpoints stay off the append path: SQLite would copy the WAL back into the database file
//! inside a `COMMIT` every 1,000 pages (with two fsyncs), and every append of that batch would wait
//! for it. The writer connection does no automatic checkpoint; a checkpointer task on its own
//! connection runs a `PASSIVE` checkpoint (which neither waits for nor blocks the writer or readers)
//! at most every `WAL_CHECKPOINT_EVERY_MS` while appends are committed.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{EventData, ExpectedVersion, NewEvent, RecordedEvent, StreamId, GENESIS_HASH};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteRow, SqliteSynchronous,
};
use sqlx::{ConnectOptions, QueryBuilder, Row, Sqlite};
use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::keys::{self, EventKey, FieldKey, KeySubject};
use crate::limits::{
    BATCH_APPENDS_MAX, BATCH_EVENTS_MAX, QUEUED_APPENDS_MAX, SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_READER_CONNECTIONS_MAX, WAL_CHECKPOINT_EVERY_MS,
};
use crate::{
    check_append, non_negative, now_micros, page_limit, AppendOutcome, Backend, EventStore,
    ReadAll, StoreError,
};

const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, data, metadata, recorded_at, hash";

/// One append handed to the committer, with where its answer goes.
struct Append {
    stream: StreamId,
    expected: ExpectedVersion,
    events: Vec<NewEvent>,
    keys: Vec<EventKey>,
    answer: oneshot::Sender<Result<AppendOutcome, StoreError>>,
}

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    wake: Arc<watch::Sender<u64>>,
    appends: mpsc::Sender<Append>,
    checkpointer: JoinHandle<()>,
}

impl Drop for SqliteStore {
    fn drop(&mut self) {
        self.checkpointer.abort();
    }
}

impl SqliteStore {
    /// Opens (and creates, if missing) the database file of a `sqlite://PATH` URL, and starts the
    /// committer and the WAL checkpointer (on the current Tokio runtime).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_millis(SQLITE_BUSY_TIMEOUT_MS))
            // Deleted rows (destroyed keys, replaced checkpoints) are overwritten, not left in
            // free pages.
            .pragma("secure_delete", "on")
            // Statement journals (a multi-row INSERT inside the group commit's savepoints
            // needs one) in memory, not in a temporary file per append.
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone().pragma("wal_autocheckpoint", "0"))
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(SQLITE_READER_CONNECTIONS_MAX)
            .connect_with(options.clone().read_only(true))
            .await?;
        let wake = Arc::new(watch::Sender::new(0));
        let (appends, queue) = mpsc::channel(QUEUED_APPENDS_MAX);
        let committed = Arc::new(Notify::new());
        // The task ends when `appends` is dropped with the store (after answering what it holds).
        tokio::spawn(commit_appends(
            writer.clone(),
            wake.clone(),
            committed.clone(),
            queue,
        ));
        let checkpointer = tokio::spawn(checkpoint_wal(options, committed));
        Ok(Self {
            writer,
            readers,
            wake,
            appends,
            checkpointer,
        })
    }

    /// The writer pool, for tools that need plain SQL on the same database (the benchmark's
    /// baseline, projections that commit with their checkpoint). Its one connection is shared with
    /// the committer, which holds it only while it commits a batch, and does no automatic WAL
    /// checkpoint (the checkpointer runs after appends are committed).
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }
}

/// The committer: takes every append waiting, commits them in one transaction, answers each.
async fn commit_appends(
    writer: SqlitePool,
    wake: Arc<watch::Sender<u64>>,
    committed: Arc<Notify>,
    mut queue: mpsc::Receiver<Append>,
) {
    // An append taken from the queue that did not fit in the batch before: it starts the next.
    let mut carried: Option<Append> = None;
    loop {
        let first = match carried.take() {
            Some(a) => a,
            None => match queue.recv().await {
                Some(a) => a,
                None => return,
            },
        };
        let mut events = first.events.len();
        let mut batch = vec![first];
        while batch.len() < BATCH_APPENDS_MAX && events < BATCH_EVENTS_MAX {
            let Ok(next) = queue.try_recv() else { break };
            if events + next.events.len() > BATCH_EVENTS_MAX {
                carried = Some(next);
                break;
            }
            events += next.events.len();
            batch.push(next);
        }
        match commit_batch(&writer, &batch).await {
            Ok(outcomes) => {
                if outcomes
                    .iter()
                    .any(|o| o.as_ref().is_ok_and(|o| !o.duplicate))
                {
                    wake.send_modify(|n| *n = n.wrapping_add(1));
                    committed.notify_one();
                }
                for (append, outcome) in batch.into_iter().zip(outcomes) {
                    // A caller that went away meanwhile has nobody to answer.
                    let _ = append.answer.send(outcome);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, appends = batch.len(), "a group commit failed");
                let e = Arc::new(e);
                for append in batch {
                    let _ = append.answer.send(Err(StoreError::CommitFailed(e.clone())));
                }
            }
        }
    }
}

/// The checkpointer: after a commit, at most every `WAL_CHECKPOINT_EVERY_MS`, a `PASSIVE` checkpoint
/// on its own connection (opened when first needed, again after an error).
async fn checkpoint_wal(options: SqliteConnectOptions, committed: Arc<Notify>) {
    let mut conn: Option<SqliteConnection> = None;
    loop {
        committed.notified().await;
        tokio::time::sleep(Duration::from_millis(WAL_CHECKPOINT_EVERY_MS)).await;
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match options.connect().await {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the WAL checkpointer could not connect");
                    continue;
                }
            },
        };
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut *c)
            .await
        {
            tracing::warn!(error = %e, "a WAL checkpoint failed");
            conn = None;
        }
    }
}

/// Runs `batch` in one transaction, each append inside its own savepoint, and commits. The inner
/// results are each append's own answer; an error of the whole transaction writes nothing at all.
async fn commit_batch(
    writer: &SqlitePool,
    batch: &[Append],
) -> Result<Vec<Result<AppendOutcome, StoreError>>, sqlx::Error> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for append in batch {
        sqlx::query("SAVEPOINT append").execute(&mut *tx).await?;
        let outcome = append_in(&mut tx, append).await;
        if outcome.is_err() {
            // Undo whatever this append wrote before it failed. If the failure ended the whole
            // transaction, the savepoint is gone too and this fails the batch.
            sqlx::query("ROLLBACK TO append").execute(&mut *tx).await?;
        }
        sqlx::query("RELEASE append").execute(&mut *tx).await?;
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// One append, inside the committer's transaction: as if alone, but seeing the batch's earlier
/// appends.
async fn append_in(
    conn: &mut SqliteConnection,
    append: &Append,
) -> Result<AppendOutcome, StoreError> {
    let Append {
        stream,
        expected,
        events,
        keys,
        ..
    } = append;
    if let Some(original) = earlier_append(conn, stream, events).await? {
        return Ok(original);
    }
    let head = stream_head(conn, stream).await?;
    let current = head.as_ref().map(|(version, _)| *version);
    if !expected.is_met_by(current) {
        return Err(StoreError::WrongExpectedVersion {
            stream: stream.clone(),
            expected: *expected,
            actual: current,
        });
    }
    let recorded_at = now_micros();
    let outcome = insert_after(conn, stream, head, events, recorded_at).await?;
    keys::sqlite_insert(conn, recorded_at.timestamp_micros(), keys).await?;
    Ok(outcome)
}

/// The outcome of an earlier append of these same events (the same ids, all in this stream), a
/// retry's answer; an error when some of the ids were appended otherwise; None for new events.
async fn earlier_append(
    conn: &mut SqliteConnection,
    stream: &StreamId,
    events: &[NewEvent],
) -> Result<Option<AppendOutcome>, StoreError> {
    let mut known: QueryBuilder<Sqlite> = QueryBuilder::new(
        "SELECT stream_id, stream_version, global_position FROM events WHERE event_id IN (",
    );
    let mut ids = known.separated(", ");
    for e in events {
        ids.push_bind(e.event_id.to_string());
    }
    known.push(")");
    let known = known.build().fetch_all(&mut *conn).await?;
    if known.is_empty() {
        return Ok(None);
    }
    let streams = known
        .iter()
        .map(|r| r.try_get::<String, _>("stream_id"))
        .collect::<Result<Vec<_>, _>>()?;
    let same_stream = streams.iter().all(|s| s == stream.as_str());
    if known.len() != events.len() || !same_stream {
        return Err(StoreError::EventIdConflict {
            stream: stream.clone(),
        });
    }
    let get = |col: &str| -> Result<Vec<i64>, StoreError> {
        known
            .iter()
            .map(|r| r.try_get::<i64, _>(col).map_err(Into::into))
            .collect()
    };
    let (versions, positions) = (get("stream_version")?, get("global_position")?);
    Ok(Some(AppendOutcome {
        stream_version: non_negative(versions.into_iter().max().unwrap_or(0), 0, "version")?,
        first_position: non_negative(positions.iter().copied().min().unwrap_or(0), 0, "position")?,
        last_position: non_negative(positions.into_iter().max().unwrap_or(0), 0, "position")?,
        duplicate: true,
    }))
}

/// The stream's last event, as (version, hash); None for a stream without events.
async fn stream_head(
    conn: &mut SqliteConnection,
    stream: &StreamId,
) -> Result<Option<(u64, String)>, StoreError> {
    let last: Option<(i64, String)> = sqlx::query_as(
        "SELECT stream_version, hash FROM events WHERE stream_id = ? \
         ORDER BY stream_version DESC LIMIT 1",
    )
    .bind(stream.as_str())
    .fetch_optional(&mut *conn)
    .await?;
    last.map(|(v, hash)| Ok((non_negative(v, 0, "version")?, hash)))
        .transpose()
}

/// Writes `events` after the stream's `head`, their hashes chained from it, in one INSERT.
async fn insert_after(
    conn: &mut SqliteConnection,
    stream: &StreamId,
    head: Option<(u64, String)>,
    events: &[NewEvent],
    recorded_at: DateTime<Utc>,
) -> Result<AppendOutcome, StoreError> {
    let first_version = head.as_ref().map_or(0, |(v, _)| v + 1);
    let mut previous = head.map_or_else(|| GENESIS_HASH.to_string(), |(_, hash)| hash);
    let mut rows = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        let version = first_version + i as u64;
        let hash = nic_events::chain_hash(
            &previous,
            e.event_id,
            stream.as_str(),
            version,
            &e.event_type,
            e.schema_version,
            recorded_at.timestamp_micros(),
            e.data.get(),
            e.metadata.get(),
        );
        previous = hash.clone();
        rows.push((e, version, hash));
    }
    let mut insert: QueryBuilder<Sqlite> = QueryBuilder::new(
        "INSERT INTO events (event_id, stream_id, category, stream_version, event_type, \
         schema_version, data, metadata, recorded_at, hash) ",
    );
    insert.push_values(&rows, |mut b, (e, version, hash)| {
        b.push_bind(e.event_id.to_string())
            .push_bind(stream.as_str())
            .push_bind(stream.category())
            .push_bind(*version as i64)
            .push_bind(e.event_type.as_str())
            .push_bind(e.schema_version as i64)
            .push_bind(e.data.get())
            .push_bind(e.metadata.get())
            .push_bind(recorded_at.timestamp_micros())
            .push_bind(hash.as_str());
    });
    insert.push(" RETURNING global_position");
    let positions: Vec<i64> = insert.build_query_scalar().fetch_all(&mut *conn).await?;
    let first_position = non_negative(positions.iter().copied().min().unwrap_or(0), 0, "position")?;
    let last_position = non_negative(positions.into_iter().max().unwrap_or(0), 0, "position")?;
    Ok(AppendOutcome {
        stream_version: first_version + events.len() as u64 - 1,
        first_position,
        last_position,
        duplicate: false,
    })
}

fn decode(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let position = non_negative(row.try_get("global_position")?, 0, "position")?;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let id: String = row.try_get("event_id")?;
    let stream: String = row.try_get("stream_id")?;
    let micros: i64 = row.try_get("recorded_at")?;
    Ok(RecordedEvent {
        event_id: Uuid::parse_str(&id).map_err(|e| corrupt(e.to_string()))?,
        stream_id: StreamId::parse(stream).map_err(|e| corrupt(e.to_string()))?,
        stream_version: non_negative(row.try_get("stream_version")?, position, "version")?,
        global_position: position,
        event_type: row.try_get("event_type")?,
        schema_version: u32::try_from(row.try_get::<i64, _>("schema_version")?)
            .map_err(|e| corrupt(e.to_string()))?,
        data: EventData::stored(row.try_get("data")?),
        metadata: EventData::stored(row.try_get("metadata")?),
        recorded_at: DateTime::from_timestamp_micros(micros)
            .ok_or_else(|| corrupt("recorded time out of range".into()))?,
        hash: row.try_get("hash")?,
    })
}

#[async_trait]
impl EventStore for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("../../migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }

    async fn append_keyed(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        keys: Vec<EventKey>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(&events)?;
        let (answer, answered) = oneshot::channel();
        let append = Append {
            stream: stream.clone(),
            expected,
            events,
            keys,
            answer,
        };
        // Either fails only if the committer is gone (it panicked): whether this append was
        // written is unknown, as after a lost connection.
        let gone = || StoreError::Database(sqlx::Error::WorkerCrashed);
        self.appends.send(append).await.map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE stream_id = ? AND stream_version >= ? \
             ORDER BY stream_version LIMIT ?"
        );
        let rows = sqlx::query(&sql)
            .bind(stream.as_str())
            .bind(from_version as i64)
            .bind(page_limit(limit))
            .fetch_all(&self.readers)
            .await?;
        rows.iter().map(decode).collect()
    }

    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> =
            sqlx::query_scalar("SELECT max(stream_version) FROM events WHERE stream_id = ?")
                .bind(stream.as_str())
                .fetch_one(&self.readers)
                .await?;
        v.map(|v| non_negative(v, 0, "version")).transpose()
    }

    async fn read_all(&self, query: &ReadAll) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM events WHERE global_position > "
        ));
        q.push_bind(query.after as i64);
        for (column, values) in [
            ("category", &query.categories),
            ("event_type", &query.event_types),
        ] {
            if !values.is_empty() {
                q.push(format!(" AND {column} IN ("));
                let mut list = q.separated(", ");
                for v in values {
                    list.push_bind(v.clone());
                }
                q.push(")");
            }
        }
        if let Some(p) = query.up_to_position {
            q.push(" AND global_position <= ").push_bind(p as i64);
        }
        if let Some(t) = query.up_to_time {
            q.push(" AND recorded_at <= ")
                .push_bind(t.timestamp_micros());
        }
        q.push(" ORDER BY global_position LIMIT ")
            .push_bind(query.page_size() as i64);
        let rows = q.build().fetch_all(&self.readers).await?;
        rows.iter().map(decode).collect()
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        if positions.is_empty() {
            return Ok(Vec::new());
        }
        let mut q: QueryBuilder<Sqlite> = QueryBuilder::new(format!(
            "SELECT {COLUMNS} FROM events WHERE global_position IN ("
        ));
        let mut list = q.separated(", ");
        for &p in positions.iter().take(READ_PAGE_EVENTS_MAX) {
            list.push_bind(p as i64);
        }
        q.push(") ORDER BY global_position");
        let rows = q.build().fetch_all(&self.readers).await?;
        rows.iter().map(decode).collect()
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.readers)
            .await?;
        non_negative(v, 0, "position")
    }

    /// One writer commits in position order: what is committed is what readers see.
    async fn committed_head(&self) -> Result<u64, StoreError> {
        self.head_position().await
    }

    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar(
            "SELECT coalesce(max(global_position), 0) FROM events WHERE recorded_at <= ?",
        )
        .bind(time.timestamp_micros())
        .fetch_one(&self.readers)
        .await?;
        non_negative(v, 0, "position")
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    async fn read_keys(&self, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
        keys::sqlite_read(&mut *self.readers.acquire().await?, ids).await
    }

    async fn find_keys(&self, subject: &KeySubject) -> Result<Vec<FieldKey>, StoreError> {
        keys::sqlite_find(&mut *self.readers.acquire().await?, subject).await
    }

    async fn destroy_keys(
        &self,
        ids: &[Uuid],
        replacements: &[(Uuid, String)],
    ) -> Result<u64, StoreError> {
        keys::sqlite_destroy(&mut *self.writer.acquire().await?, ids, replacements).await
    }

    async fn put_keys(&self, keys: &[FieldKey]) -> Result<u64, StoreError> {
        keys::sqlite_put(&mut *self.writer.acquire().await?, keys).await
    }

    async fn keys_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FieldKey>, StoreError> {
        keys::sqlite_page(&mut *self.readers.acquire().await?, after, limit).await
    }
}
