//! What the application tests share: the real store counted on its way through (`Counted`), an
//! admin's write, and command bodies from JSON.

#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nic_app::command::{Outcome, Write};
use nic_app::{AppError, Principal};
use nic_events::catalog::Role;
use nic_events::{ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use nic_store::{
    AppendOutcome, Backend, EventKey, EventStore, FieldKey, KeySubject, ReadAll, StoreError,
};
use tokio::sync::watch;
use uuid::Uuid;

/// The real store, counting what a request asks of it: stream reads (and the events they
/// return) and appends. `read_all` is the follower's and is not counted.
pub struct Counted {
    store: Arc<dyn EventStore>,
    pub events_read: AtomicU64,
    pub stream_reads: AtomicU64,
    pub appends: AtomicU64,
}

impl Counted {
    pub fn new(store: Arc<dyn EventStore>) -> Arc<Self> {
        Arc::new(Self {
            store,
            events_read: AtomicU64::new(0),
            stream_reads: AtomicU64::new(0),
            appends: AtomicU64::new(0),
        })
    }

    /// Stream reads and appends so far.
    pub fn request_calls(&self) -> (u64, u64) {
        (
            self.stream_reads.load(Ordering::SeqCst),
            self.appends.load(Ordering::SeqCst),
        )
    }
}

#[async_trait]
impl EventStore for Counted {
    fn backend(&self) -> Backend {
        self.store.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.store.migrate().await
    }
    async fn append_keyed(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        keys: Vec<EventKey>,
    ) -> Result<AppendOutcome, StoreError> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        self.store
            .append_keyed(stream, expected, events, keys)
            .await
    }
    async fn read_keys(&self, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
        self.store.read_keys(ids).await
    }
    async fn find_keys(&self, subject: &KeySubject) -> Result<Vec<FieldKey>, StoreError> {
        self.store.find_keys(subject).await
    }
    async fn destroy_keys(
        &self,
        ids: &[Uuid],
        replacements: &[(Uuid, String)],
    ) -> Result<u64, StoreError> {
        self.store.destroy_keys(ids, replacements).await
    }
    async fn put_keys(&self, keys: &[FieldKey]) -> Result<u64, StoreError> {
        self.store.put_keys(keys).await
    }
    async fn keys_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FieldKey>, StoreError> {
        self.store.keys_page(after, limit).await
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        self.stream_reads.fetch_add(1, Ordering::SeqCst);
        let events = self.store.read_stream(stream, from_version, limit).await?;
        self.events_read
            .fetch_add(events.len() as u64, Ordering::SeqCst);
        Ok(events)
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError> {
        self.stream_reads.fetch_add(1, Ordering::SeqCst);
        self.store.stream_version(stream).await
    }
    async fn read_all(&self, query: &ReadAll) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_all(query).await
    }
    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        self.store.read_positions(positions).await
    }
    async fn head_position(&self) -> Result<u64, StoreError> {
        self.store.head_position().await
    }
    async fn committed_head(&self) -> Result<u64, StoreError> {
        self.store.committed_head().await
    }
    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError> {
        self.store.position_at(time).await
    }
    fn read_held_back(&self) -> Duration {
        self.store.read_held_back()
    }
    fn wakeups(&self) -> watch::Receiver<u64> {
        self.store.wakeups()
    }
}

/// A plain write by the hub.
pub fn admin() -> Write {
    Write::by(
        Principal {
            token_id: uuid::Uuid::nil(),
            name: "hub".into(),
            role: Role::Admin,
            programs: Vec::new(),
        },
        "test",
    )
}

/// A command's body, from JSON.
pub fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid command")
}

/// The id a command created or addressed; the test fails on a refusal.
pub fn id(o: Result<Outcome, AppError>) -> Uuid {
    match o {
        Ok(o) => o.result.id,
        Err(e) => panic!("{e}"),
    }
}
