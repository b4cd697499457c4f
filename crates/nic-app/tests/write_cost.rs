//! A command reads only what its streams gained since the process last folded them: the events
//! a write reads from the store do not grow with the history of the measure it writes to. The
//! store is the real SQLite store, counted on its way through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use nic_app::command::Write;
use nic_app::{App, Principal};
use nic_domain::measure::{DefineMeasure, RecordDataPoint};
use nic_domain::network::{AddEcosystem, CharterNetwork};
use nic_domain::program::EnrollProgram;
use nic_events::catalog::Role;
use nic_events::{ExpectedVersion, NewEvent, RecordedEvent, StreamId};
use nic_store::{AppendOutcome, Backend, EventStore, ReadAll, StoreError};
use serde_json::json;
use tokio::sync::watch;

/// The real store, counting the events its stream reads return.
struct Counted {
    store: Arc<dyn EventStore>,
    read: AtomicU64,
}

#[async_trait]
impl EventStore for Counted {
    fn backend(&self) -> Backend {
        self.store.backend()
    }
    async fn migrate(&self) -> Result<(), StoreError> {
        self.store.migrate().await
    }
    async fn append(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Result<AppendOutcome, StoreError> {
        self.store.append(stream, expected, events).await
    }
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let events = self.store.read_stream(stream, from_version, limit).await?;
        self.read.fetch_add(events.len() as u64, Ordering::Relaxed);
        Ok(events)
    }
    async fn stream_version(&self, stream: &StreamId) -> Result<Option<u64>, StoreError> {
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
    fn wakeups(&self) -> watch::Receiver<u64> {
        self.store.wakeups()
    }
}

fn admin() -> Write {
    Write::by(
        Principal {
            name: "hub".into(),
            role: Role::Admin,
            programs: Vec::new(),
        },
        "test",
    )
}

fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).expect("a valid command")
}

/// The `n`th week from 1990 on, 52 a year.
fn week(n: usize) -> String {
    format!("{}-W{:02}", 1990 + n / 52, n % 52 + 1)
}

#[tokio::test]
async fn a_write_reads_what_its_streams_gained_not_their_history() {
    let store = nic_store::open(&nic_store::scratch::sqlite_url())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let counted = Arc::new(Counted {
        store,
        read: AtomicU64::new(0),
    });
    let app = App::in_memory(counted.clone());
    let w = admin();
    let id = |o: Result<nic_app::command::Outcome, nic_app::AppError>| match o {
        Ok(o) => o.result.id,
        Err(e) => panic!("{e}"),
    };
    let network = id(app
        .execute(body::<CharterNetwork>(json!({"name": "Net"})), (), &w)
        .await);
    let ecosystem = id(app
        .execute(
            body::<AddEcosystem>(json!({"name": "Pittsburgh", "region": "PA"})),
            network,
            &w,
        )
        .await);
    let program = id(app
        .execute(
            body::<EnrollProgram>(json!({"name": "Program A", "ecosystem_id": ecosystem})),
            network,
            &w,
        )
        .await);
    let measure = id(app
        .execute(
            body::<DefineMeasure>(json!({"name": "Attendance", "kind": "outcome",
                "description": "Students at sessions", "scale": "value", "data_type": "count",
                "unit": "students", "period": "week", "direction": "up"})),
            network,
            &w,
        )
        .await);
    let record = |n: usize| {
        let (app, w) = (app.clone(), w.clone());
        async move {
            let cmd = body::<RecordDataPoint>(
                json!({"program_id": program, "period": week(n), "value": 20}),
            );
            if let Err(e) = app.execute(cmd, measure, &w).await {
                panic!("record week {n}: {e}");
            }
        }
    };
    // What one write reads from the store, after `held` points.
    let mut cost_at = Vec::new();
    let mut n = 0;
    for held in [100, 2_000] {
        while n < held {
            record(n).await;
            n += 1;
        }
        let before = counted.read.load(Ordering::Relaxed);
        record(n).await;
        n += 1;
        cost_at.push(counted.read.load(Ordering::Relaxed) - before);
    }
    assert_eq!(
        cost_at[0], cost_at[1],
        "events read by one write at 100 and at 2,000 points"
    );
    assert!(
        cost_at[1] <= 2,
        "a write reads what its streams gained since the last one (its own event), not the \
         measure's 2,000 points: {}",
        cost_at[1]
    );
}
