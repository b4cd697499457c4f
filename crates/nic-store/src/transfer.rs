//! Export and import of the whole log, written once over `EventStore`.
//!
//! - NDJSON: one recorded event per line, the envelope exactly as the store keeps it (ids,
//!   versions, positions, recorded time, data and metadata as appended, hash). An NDJSON export
//!   imports into an empty store as the same log: same ids, versions, positions, times and hash
//!   chains (`import_ndjson` checks every chain before anything is written).
//! - CloudEvents 1.0 (JSON event format), one event per line, for other tools: `id` is the event
//!   id, `source` the stream, `type` the event type, `time` the recorded time, `data` the event's
//!   data (the exact JSON text appended); the envelope's other fields travel as extension
//!   attributes (`nicposition`, `nicstreamversion`, `nicschemaversion`, `nichash`, `nicmetadata`),
//!   so the envelope can be rebuilt from each CloudEvent.

use std::collections::HashMap;

use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{EventData, RecordedEvent, StreamId, GENESIS_HASH};
use serde::Serialize;
use uuid::Uuid;

use crate::admin::Admin;
use crate::limits::{
    HEAD_SETTLE_MS, IMPORT_BATCH_EVENTS, IMPORT_VISIBLE_WAIT_MS, SQLITE_IMPORT_INSERT_ROWS_MAX,
    WHOLE_LOG_WAIT_MS,
};
use crate::{EventStore, ReadAll, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Ndjson,
    CloudEvents,
}

/// One event as a line of the format (without the newline).
pub fn line(format: Format, e: &RecordedEvent) -> String {
    match format {
        Format::Ndjson => serde_json::to_string(e),
        Format::CloudEvents => serde_json::to_string(&cloud_event(e)),
    }
    .expect("recorded events serialise")
}

/// An event in the CloudEvents 1.0 JSON format (structured mode). `data` is the event's data as
/// the exact JSON text appended, so the envelope, hash included, can be rebuilt from the event;
/// the metadata travels as a string (extension attributes are not objects).
#[derive(Debug, Serialize)]
pub struct CloudEvent<'a> {
    pub specversion: &'static str,
    pub id: Uuid,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: &'a str,
    pub subject: &'a str,
    pub time: String,
    pub datacontenttype: &'static str,
    pub dataschema: String,
    pub data: &'a EventData,
    pub nicposition: u64,
    pub nicstreamversion: u64,
    pub nicschemaversion: u32,
    pub nichash: &'a str,
    pub nicmetadata: &'a str,
}

/// An event in the CloudEvents 1.0 JSON format.
pub fn cloud_event(e: &RecordedEvent) -> CloudEvent<'_> {
    CloudEvent {
        specversion: "1.0",
        id: e.event_id,
        source: format!("/streams/{}", e.stream_id),
        event_type: &e.event_type,
        subject: e.stream_id.as_str(),
        time: e
            .recorded_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        datacontenttype: "application/json",
        dataschema: format!(
            "proto-events/schemas/{}.v{}.json",
            e.event_type, e.schema_version
        ),
        data: &e.data,
        nicposition: e.global_position,
        nicstreamversion: e.stream_version,
        nicschemaversion: e.schema_version,
        nichash: &e.hash,
        nicmetadata: e.metadata.get(),
    }
}

/// How far an export has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportProgress {
    /// Events written so far.
    pub events: u64,
    /// The position of the last event written.
    pub position: u64,
    /// The head of the log when the export started: the export ends there.
    pub head: u64,
}

/// The pages of the log an export writes: up to the head when the export starts, in order, page
/// by page (never the whole log at once).
pub struct ExportPages {
    read: ReadAll,
    head: u64,
}

impl ExportPages {
    /// Starts at the beginning of the log and ends at its head as of now: every event committed
    /// now, once readers see it (`whole_log_head`; it fails rather than export less). Only the
    /// events of
    /// `categories` are read (empty: all).
    pub async fn start(
        store: &dyn EventStore,
        categories: Vec<String>,
    ) -> Result<Self, StoreError> {
        let head = settled_head(store).await?;
        let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
        read.up_to_position = Some(head);
        read.categories = categories;
        Ok(Self { read, head })
    }

    /// The head of the log when the export started.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// The next page of events (empty at the end).
    pub async fn next(&mut self, store: &dyn EventStore) -> Result<Vec<RecordedEvent>, StoreError> {
        if self.read.after >= self.head {
            return Ok(Vec::new());
        }
        let page = store.read_all(&self.read).await?;
        self.read.after = page.last().map_or(self.head, |e| e.global_position);
        Ok(page)
    }
}

/// The head of the whole log: every event committed now, once readers see it (`whole_log_head`).
async fn settled_head(store: &dyn EventStore) -> Result<u64, StoreError> {
    crate::whole_log_head(store, std::time::Duration::from_millis(WHOLE_LOG_WAIT_MS)).await
}

/// A page of events in the format, one line per event, each ending in a newline.
pub fn lines(format: Format, events: &[RecordedEvent]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&line(format, e));
        out.push('\n');
    }
    out
}

/// Writes the whole log (up to the head when the export starts), in order, one line per event;
/// `progress` is told after each page how far it got.
pub async fn export(
    store: &dyn EventStore,
    format: Format,
    out: &mut (dyn std::io::Write + Send),
    mut progress: impl FnMut(ExportProgress),
) -> Result<u64, ExportError> {
    let mut pages = ExportPages::start(store, Vec::new()).await?;
    let mut written = 0;
    loop {
        let page = pages.next(store).await?;
        let Some(last) = page.last() else {
            out.flush()?;
            return Ok(written);
        };
        out.write_all(lines(format, &page).as_bytes())?;
        written += page.len() as u64;
        progress(ExportProgress {
            events: written,
            position: last.global_position,
            head: pages.head,
        });
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("line {line}: not a recorded event: {reason}")]
    Parse { line: u64, reason: String },
    #[error("line {line}: {reason}")]
    Invalid { line: u64, reason: String },
    #[error("the store already holds events: import only into an empty store")]
    NotEmpty,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the import failed: {0}")]
    Io(#[from] std::io::Error),
    #[error(
        "the import was written, but readers do not see position {position} yet: a long \
         transaction elsewhere in the database holds the readers back"
    )]
    NotVisible { position: u64 },
}

/// Reads an NDJSON export and checks it whole (parse, global order, contiguous stream versions,
/// every hash chain), then writes it into an empty store in batches, keeping every field. Nothing
/// is written unless the whole file is sound. `progress` is told how many events are imported.
pub async fn import_ndjson(
    store: &dyn EventStore,
    admin: &Admin,
    input: impl std::io::BufRead,
    progress: impl FnMut(u64, u64),
) -> Result<u64, ImportError> {
    if settled_head(store).await? != 0 {
        return Err(ImportError::NotEmpty);
    }
    let mut check = ChainCheck::default();
    let mut events = Vec::new();
    for (i, text) in input.lines().enumerate() {
        let line = i as u64 + 1;
        let text = text?;
        if text.trim().is_empty() {
            continue;
        }
        let e: RecordedEvent = serde_json::from_str(&text).map_err(|err| ImportError::Parse {
            line,
            reason: err.to_string(),
        })?;
        check
            .next(&e)
            .map_err(|reason| ImportError::Invalid { line, reason })?;
        events.push(e);
    }
    write_all(store, admin, &events, progress).await
}

/// Imports recorded events (in global order) into an empty store, checked as `import_ndjson`
/// checks a file (an error names the event's 1-based index as its line): the import path for
/// events made elsewhere than in a file, such as generated benchmark logs.
pub async fn import_events(
    store: &dyn EventStore,
    admin: &Admin,
    events: &[RecordedEvent],
    progress: impl FnMut(u64, u64),
) -> Result<u64, ImportError> {
    if settled_head(store).await? != 0 {
        return Err(ImportError::NotEmpty);
    }
    let mut check = ChainCheck::default();
    for (i, e) in events.iter().enumerate() {
        check.next(e).map_err(|reason| ImportError::Invalid {
            line: i as u64 + 1,
            reason,
        })?;
    }
    write_all(store, admin, events, progress).await
}

/// The checks of an import, one event at a time in log order: increasing positions, contiguous
/// stream versions from 0, and every hash chained to the previous event of its stream.
#[derive(Default)]
pub struct ChainCheck {
    heads: HashMap<StreamId, (u64, String)>,
    last_position: u64,
}

impl ChainCheck {
    /// Checks the next event; the reason it does not fit, if it does not.
    pub fn next(&mut self, e: &RecordedEvent) -> Result<(), String> {
        if e.global_position <= self.last_position {
            return Err(format!(
                "position {} does not follow {}",
                e.global_position, self.last_position
            ));
        }
        let (expected_version, previous_hash) = match self.heads.get(&e.stream_id) {
            Some((v, h)) => (v + 1, h.as_str()),
            None => (0, GENESIS_HASH),
        };
        if e.stream_version != expected_version {
            return Err(format!(
                "{} version {} where {expected_version} was due",
                e.stream_id, e.stream_version
            ));
        }
        if e.expected_hash(previous_hash) != e.hash {
            return Err(format!(
                "the hash chain of {} breaks at version {}",
                e.stream_id, e.stream_version
            ));
        }
        self.last_position = e.global_position;
        self.heads
            .insert(e.stream_id.clone(), (e.stream_version, e.hash.clone()));
        Ok(())
    }
}

/// Writes checked events in batches, then moves PostgreSQL's position sequence past them.
async fn write_all(
    store: &dyn EventStore,
    admin: &Admin,
    events: &[RecordedEvent],
    mut progress: impl FnMut(u64, u64),
) -> Result<u64, ImportError> {
    // Checked again just before writing: the check above may have taken a while.
    if settled_head(store).await? != 0 {
        return Err(ImportError::NotEmpty);
    }
    let total = events.len() as u64;
    let mut done = 0;
    for batch in events.chunks(IMPORT_BATCH_EVENTS) {
        write_batch(admin, batch).await?;
        done += batch.len() as u64;
        progress(done, total);
    }
    if let (Some(pool), Some(last)) = (admin.postgres(), events.last()) {
        // Positions handed out from now on follow the imported ones.
        sqlx::query("SELECT setval(pg_get_serial_sequence('events', 'global_position'), $1)")
            .bind(last.global_position as i64)
            .execute(pool)
            .await
            .map_err(StoreError::from)?;
    }
    // Done when readers see it all: on PostgreSQL the store proves the imported positions
    // readable once every transaction that was running when they were written has ended.
    if let Some(last) = events.last() {
        let mut waited = 0;
        while store.head_position().await? < last.global_position {
            if waited >= IMPORT_VISIBLE_WAIT_MS {
                return Err(ImportError::NotVisible {
                    position: last.global_position,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(HEAD_SETTLE_MS)).await;
            waited += HEAD_SETTLE_MS;
        }
    }
    Ok(total)
}

/// Writes recorded events as they are, every field kept, in one transaction.
async fn write_batch(admin: &Admin, batch: &[RecordedEvent]) -> Result<(), StoreError> {
    let i64s =
        |f: fn(&RecordedEvent) -> u64| -> Vec<i64> { batch.iter().map(|e| f(e) as i64).collect() };
    let strings =
        |f: fn(&RecordedEvent) -> String| -> Vec<String> { batch.iter().map(f).collect() };
    if let Some(pool) = admin.postgres() {
        sqlx::query(
            "INSERT INTO events (global_position, event_id, stream_id, category, stream_version, \
                 event_type, schema_version, data, metadata, recorded_at, hash) \
             SELECT p, id, s, c, v, t, sv, d::json, m::json, r, h \
             FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::text[], $5::bigint[], \
                 $6::text[], $7::int[], $8::text[], $9::text[], $10::timestamptz[], $11::text[]) \
                 AS u(p, id, s, c, v, t, sv, d, m, r, h)",
        )
        .bind(i64s(|e| e.global_position))
        .bind(batch.iter().map(|e| e.event_id).collect::<Vec<_>>())
        .bind(strings(|e| e.stream_id.to_string()))
        .bind(strings(|e| e.stream_id.category().to_string()))
        .bind(i64s(|e| e.stream_version))
        .bind(strings(|e| e.event_type.clone()))
        .bind(
            batch
                .iter()
                .map(|e| e.schema_version as i32)
                .collect::<Vec<_>>(),
        )
        .bind(strings(|e| e.data.get().to_string()))
        .bind(strings(|e| e.metadata.get().to_string()))
        .bind(batch.iter().map(|e| e.recorded_at).collect::<Vec<_>>())
        .bind(strings(|e| e.hash.clone()))
        .execute(pool)
        .await?;
    } else if let Some(pool) = admin.sqlite() {
        let mut tx = pool.begin().await?;
        // Many rows per statement (11 parameters each, within SQLite's limit).
        for rows in batch.chunks(SQLITE_IMPORT_INSERT_ROWS_MAX) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO events (global_position, event_id, stream_id, category, \
                 stream_version, event_type, schema_version, data, metadata, recorded_at, hash) ",
            );
            q.push_values(rows, |mut b, e| {
                b.push_bind(e.global_position as i64)
                    .push_bind(e.event_id.to_string())
                    .push_bind(e.stream_id.as_str())
                    .push_bind(e.stream_id.category())
                    .push_bind(e.stream_version as i64)
                    .push_bind(&e.event_type)
                    .push_bind(e.schema_version as i64)
                    .push_bind(e.data.get())
                    .push_bind(e.metadata.get())
                    .push_bind(e.recorded_at.timestamp_micros())
                    .push_bind(&e.hash);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
    }
    Ok(())
}
