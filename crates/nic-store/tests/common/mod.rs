//! What the store's test binaries share.
#![allow(dead_code)]

use std::time::Duration;

use nic_events::{Metadata, NewEvent, RecordedEvent, StreamId};
use std::sync::Arc;

use nic_store::{verify_chains, AppendOutcome, EventStore, ReadAll, StoreError, Subscription};
use tokio::task::JoinHandle;

/// A new empty database (no migration applied): PostgreSQL or SQLite (`nic_store::scratch`).
pub async fn fresh_database(postgres: bool) -> String {
    if postgres {
        nic_store::scratch::create_postgres("nic_test").await
    } else {
        nic_store::scratch::sqlite_url()
    }
}

pub fn stream(name: &str) -> StreamId {
    StreamId::parse(name).unwrap()
}

/// A test event numbered `n`, by the actor `test`.
pub fn event(n: u64) -> NewEvent {
    let meta = Metadata {
        actor: Some("test".into()),
        ..Metadata::default()
    };
    NewEvent::new("test_happened", 1, &serde_json::json!({ "n": n }), &meta).unwrap()
}

/// An append running in a task of its own.
pub type Pending = JoinHandle<Result<AppendOutcome, StoreError>>;

/// Every pending append's answer, in order; each must come within 30 s.
pub async fn settle(pending: Vec<Pending>) -> Vec<Result<AppendOutcome, StoreError>> {
    let mut out = Vec::new();
    for p in pending {
        out.push(
            tokio::time::timeout(Duration::from_secs(30), p)
                .await
                .expect("every append is answered")
                .unwrap(),
        );
    }
    out
}

/// The whole log, page by page.
pub async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut q = ReadAll::after(0, 1_000);
    loop {
        let page = store.read_all(&q).await.unwrap();
        let Some(last) = page.last() else { return all };
        q.after = last.global_position;
        all.extend(page);
    }
}

/// Checks every chain of the log; the events checked.
pub async fn chains_verify(store: &dyn EventStore) -> u64 {
    let report = verify_chains(store, |_| {}).await.unwrap();
    assert_eq!(report.first_break, None, "{report:?}");
    report.events_checked
}

/// A subscriber from the start of the log, in a task of its own, until it has seen `events`
/// events; what it saw, in order. Each batch must come within 30 s.
pub fn follow(store: Arc<dyn EventStore>, events: u64) -> JoinHandle<Vec<RecordedEvent>> {
    tokio::spawn(async move {
        let mut sub = Subscription::new(store, ReadAll::after(0, 0));
        let mut seen = Vec::new();
        while (seen.len() as u64) < events {
            let batch = tokio::time::timeout(Duration::from_secs(30), sub.next_batch())
                .await
                .expect("the follower stalled")
                .unwrap();
            seen.extend(batch);
        }
        seen
    })
}
