//! The append-only event store of NIC Ledger.
//!
//! `EventStore` is the one interface; `postgres::PgStore` and `sqlite::SqliteStore` implement it over
//! sqlx, chosen by the URL (`open`). Subscriptions (`subscription`), reading ahead of a long fold
//! (`read_ahead`), chain verification (`verify`) and export and import (`transfer`) are written
//! once, on top of the trait, and so behave the same on both backends. `admin::Admin` reaches the
//! tables beside the log (checkpoints, leases) and writes imports. `scratch` makes throwaway
//! databases for tests and benchmarks. Every limit and timing of the store is in `limits`.

pub mod admin;
mod keys;
pub mod limits;
mod pg_group;
mod pg_warm;
pub mod postgres;
pub mod read_ahead;
pub mod scratch;
pub mod sealing;
pub mod sqlite;
pub mod subscription;
pub mod transfer;
pub mod turns;
pub mod verify;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nic_events::limits::{
    APPEND_EVENTS_MAX, EVENT_DATA_BYTES_MAX, EVENT_METADATA_BYTES_MAX, EVENT_TYPE_BYTES_MAX,
    READ_PAGE_EVENTS_MAX,
};
use nic_events::{ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use tokio::sync::watch;
use uuid::Uuid;

pub use keys::{EventKey, FieldKey, KeySubject};

pub use read_ahead::ReadAhead;
pub use subscription::Subscription;
pub use verify::{verify_chains, verify_event, ChainBreak, ChainReport, EventProof};

/// The head a read of the whole log (export, verify, import's check, rebuild) must reach: every
/// event committed when called, once readers can see it. Waits up to `wait` for that (the
/// PostgreSQL cluster may hold it back), then fails with `HeadNotReadable`: such a read never
/// succeeds on less than the log held.
pub async fn whole_log_head(
    store: &dyn EventStore,
    wait: std::time::Duration,
) -> Result<u64, StoreError> {
    let committed = store.committed_head().await?;
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(limits::HEAD_SETTLE_MS);
    loop {
        let readable = store.head_position().await?;
        if readable >= committed {
            return Ok(readable);
        }
        if started.elapsed() >= wait {
            return Err(StoreError::HeadNotReadable {
                readable,
                committed,
                waited_ms: started.elapsed().as_millis() as u64,
            });
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(limits::HEAD_SETTLE_MAX_MS));
    }
}

/// What a successful append did (or, for a recognised retry, what the original append did).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendOutcome {
    /// The stream's version after the append: the version of its last event.
    pub stream_version: u64,
    /// Global positions of the first and last event appended.
    pub first_position: u64,
    pub last_position: u64,
    /// True when these event ids were already appended to this stream: nothing was written.
    pub duplicate: bool,
}

/// A read of the global log: events after a position, in global order, one bounded page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadAll {
    /// Only events whose global position is greater than this (0: from the beginning).
    pub after: u64,
    /// At most this many events (capped at `READ_PAGE_EVENTS_MAX`).
    pub limit: usize,
    /// Only these stream categories (empty: all).
    pub categories: Vec<String>,
    /// Only these event types (empty: all).
    pub event_types: Vec<String>,
    /// Only events up to and including this position: the log as of that moment.
    pub up_to_position: Option<u64>,
    /// Only events recorded at or before this time: the log as of that time.
    pub up_to_time: Option<DateTime<Utc>>,
    /// The reader is woken when more of the log can be read (a `Subscription`): a store answers
    /// with what it can read at once, without trying a second time to prove more of the log, and
    /// may answer from its own appends as it saw them committed rather than read them back.
    pub woken: bool,
}

impl ReadAll {
    pub fn after(after: u64, limit: usize) -> Self {
        Self {
            after,
            limit,
            ..Self::default()
        }
    }

    /// The page size actually used.
    pub fn page_size(&self) -> usize {
        self.limit.clamp(1, READ_PAGE_EVENTS_MAX)
    }

    /// Whether an event passes this read's filters (all but `after` and `limit`).
    pub fn admits(&self, e: &RecordedEvent) -> bool {
        (self.categories.is_empty() || self.categories.iter().any(|c| c == e.stream_id.category()))
            && (self.event_types.is_empty() || self.event_types.contains(&e.event_type))
            && self.up_to_position.is_none_or(|p| e.global_position <= p)
            && self.up_to_time.is_none_or(|t| e.recorded_at <= t)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("stream {stream} expected {expected:?} but its version is {actual:?}")]
    WrongExpectedVersion {
        stream: StreamId,
        expected: ExpectedVersion,
        /// The stream's actual version (None: the stream does not exist).
        actual: Option<u64>,
    },
    #[error(
        "some of these event ids were already appended, but not as this same append to {stream}"
    )]
    EventIdConflict { stream: StreamId },
    #[error("invalid append: {0}")]
    InvalidAppend(String),
    #[error("unsupported database URL {0:?}: use postgres://… or sqlite://…")]
    UnsupportedUrl(String),
    #[error("stored event at position {position} is unreadable: {reason}")]
    Corrupt { position: u64, reason: String },
    #[error(
        "events up to position {committed} are committed but readers can see only up to \
         {readable} after waiting {waited_ms} ms: a transaction open elsewhere in the PostgreSQL \
         cluster holds them back; nothing was read short, retry once it ends"
    )]
    HeadNotReadable {
        readable: u64,
        committed: u64,
        waited_ms: u64,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The transaction that held this append with others (SQLite's group commit) failed as a
    /// whole: none of them was written. Every append of it gets the same error.
    #[error("the group commit holding this append failed, nothing of it was written: {0}")]
    CommitFailed(Arc<sqlx::Error>),
}

/// Which database a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

/// The append-only log. Implementations are cheap to share behind an `Arc`.
#[async_trait]
pub trait EventStore: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// Applies this backend's migrations (idempotent).
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Appends events to one stream atomically, if the stream meets `expected`. A failed expectation
    /// writes nothing; the same event ids appended again return the original outcome.
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        self.append_keyed(stream, expected, events, Vec::new())
            .await
    }

    /// `append`, writing `keys` (of the events' sealed fields) beside the log in the same
    /// transaction: only if the events are written, never for a refused append or a retry.
    async fn append_keyed(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        keys: Vec<EventKey>,
    ) -> Result<AppendOutcome, StoreError>;

    /// The kept keys (or replacements) of these key ids; a destroyed key is left out.
    async fn read_keys(&self, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError>;

    /// The kept keys an erasure of `subject` reaches.
    async fn find_keys(&self, subject: &KeySubject) -> Result<Vec<FieldKey>, StoreError>;

    /// Destroys keys for good (an erasure); returns how many were kept. A key named in
    /// `replacements` keeps its row, without its key, pointing at the sealed text that reads in
    /// its place (a redaction).
    async fn destroy_keys(
        &self,
        ids: &[Uuid],
        replacements: &[(Uuid, String)],
    ) -> Result<u64, StoreError>;

    /// Writes keys read from a key file, leaving alone ids already kept (in a row of their own
    /// or derived from their event's); returns how many it wrote.
    async fn put_keys(&self, keys: &[FieldKey]) -> Result<u64, StoreError>;

    /// The kept keys after `after` in key id order, at most `limit` (an export of the key file).
    async fn keys_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FieldKey>, StoreError>;

    /// A stream's events from `from_version` on, at most `limit` (capped at `READ_PAGE_EVENTS_MAX`).
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The version of a stream's last event, or None when it has none.
    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError>;

    /// One page of the global log in global order. Never skips an event: an event that is not yet
    /// safe to read (an earlier position may still commit) is held back until it is.
    async fn read_all(&self, query: &ReadAll) -> Result<Vec<RecordedEvent>, StoreError>;

    /// `read_all` for a reader woken by `wakeups()` (a `Subscription`), with the wake-up value this
    /// read ticked itself, if it did (PostgreSQL: its statement proved more of the log, which other
    /// readers are woken for). A reader that saw no other tick since it began need not read again.
    async fn read_all_woken(
        &self,
        query: &ReadAll,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
        Ok((self.read_all(query).await?, None))
    }

    /// The events at `positions`, in global order; a position with no event is left out. At most
    /// `READ_PAGE_EVENTS_MAX` positions a call. For positions a reader has already seen (an index
    /// of the log kept by a projection): no frontier holds them back.
    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The position of the last event readers can see (0 when the log is empty).
    async fn head_position(&self) -> Result<u64, StoreError>;

    /// The position of the last event committed, whether or not readers can see it yet: on
    /// PostgreSQL it passes `head_position` while one of this store's appends that took an
    /// earlier position is still in flight (see `postgres`). What a read of the whole log must
    /// reach (`whole_log_head`).
    async fn committed_head(&self) -> Result<u64, StoreError>;

    /// The global position of the last event recorded at or before `time` (0 when none).
    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError>;

    /// How long committed events have been held back from readers, waiting for an earlier append
    /// still in flight (PostgreSQL; zero when nothing waits, and always on SQLite). A few
    /// milliseconds is normal; more means an append of this store is slow to end.
    fn read_held_back(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Ticks whenever new events may be readable: after a local append, or (PostgreSQL) when another
    /// process announces one. Subscriptions wait on it, and poll anyway as a fallback.
    fn wakeups(&self) -> watch::Receiver<u64>;
}

/// Opens the store a URL names: `postgres://…` (or `postgresql://…`) or `sqlite://PATH`.
pub async fn open(url: &str) -> Result<Arc<dyn EventStore>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::connect(url).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::connect(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_string()))
    }
}

/// Checks an append's events against the limits, before any database work.
pub(crate) fn check_append(events: &[NewEvent]) -> Result<(), StoreError> {
    let invalid = |m: String| Err(StoreError::InvalidAppend(m));
    if events.is_empty() {
        return invalid("an append carries at least one event".into());
    }
    if events.len() > APPEND_EVENTS_MAX {
        return invalid(format!(
            "an append carries at most {APPEND_EVENTS_MAX} events"
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for e in events {
        if !ids.insert(e.event_id) {
            return invalid(format!(
                "event id {} appears twice in one append",
                e.event_id
            ));
        }
        if e.event_type.is_empty() || e.event_type.len() > EVENT_TYPE_BYTES_MAX {
            return invalid(format!(
                "an event type is 1 to {EVENT_TYPE_BYTES_MAX} bytes"
            ));
        }
        if e.schema_version == 0 {
            return invalid("schema versions start at 1".into());
        }
        if e.data.get().len() > EVENT_DATA_BYTES_MAX {
            return invalid(format!(
                "event data is at most {EVENT_DATA_BYTES_MAX} bytes"
            ));
        }
        if e.metadata.get().len() > EVENT_METADATA_BYTES_MAX {
            return invalid(format!(
                "event metadata is at most {EVENT_METADATA_BYTES_MAX} bytes"
            ));
        }
    }
    Ok(())
}

/// The time an append records: now, to the microsecond the databases keep.
pub(crate) fn now_micros() -> DateTime<Utc> {
    let micros = Utc::now().timestamp_micros();
    DateTime::from_timestamp_micros(micros).expect("now is representable")
}

/// Converts a database integer that the schema keeps non-negative.
pub(crate) fn non_negative(v: i64, position: u64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt {
        position,
        reason: format!("negative {what}"),
    })
}

pub(crate) fn page_limit(limit: usize) -> i64 {
    limit.clamp(1, READ_PAGE_EVENTS_MAX) as i64
}
