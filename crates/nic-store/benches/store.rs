//! The store benchmark: appends and reads through `EventStore`, each beside a raw-SQL baseline doing
//! the same writes and reads on the same database in the same run, printed as a table with the
//! ratio (store throughput / baseline throughput). Run with `cargo bench -p nic-store`.
//!
//! PostgreSQL is reached at `NIC_TEST_POSTGRES_URL` (default: the local server as user postgres); a
//! fresh database is created for the run and dropped after it. SQLite runs on a fresh temporary file.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_events::{ExpectedVersion, Metadata, NewEvent, StreamId};
use nic_store::postgres::PgStore;
use nic_store::sqlite::SqliteStore;
use nic_store::{EventStore, ReadAll};
use sqlx::Executor;

const SINGLE_APPENDS: usize = 1_500;
const CONCURRENT_WRITERS: usize = 32;
const BATCH_EVENTS: usize = 100;
const BATCHES: usize = 120;
const READ_PAGE: usize = 1_000;
const READ_REPEATS: usize = 7;
/// Repetitions of each append scenario, in alternating order (store first, then baseline first).
const APPEND_REPEATS: usize = 3;

const BASELINE_TABLE: &str = "CREATE TABLE baseline (
    global_position INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, stream_id TEXT NOT NULL,
    category TEXT NOT NULL, stream_version BIGINT NOT NULL, event_type TEXT NOT NULL,
    schema_version INTEGER NOT NULL, data TEXT NOT NULL, metadata TEXT NOT NULL,
    recorded_at BIGINT NOT NULL, hash TEXT NOT NULL, UNIQUE (stream_id, stream_version))";
const PG_BASELINE_TABLE: &str = "CREATE TABLE baseline (
    global_position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, event_id uuid NOT NULL UNIQUE,
    stream_id text NOT NULL, category text NOT NULL, stream_version bigint NOT NULL,
    event_type text NOT NULL, schema_version integer NOT NULL, data json NOT NULL,
    metadata json NOT NULL, recorded_at timestamptz NOT NULL, hash text NOT NULL,
    transaction_id xid8 NOT NULL DEFAULT pg_current_xact_id(), UNIQUE (stream_id, stream_version))";
/// The baseline table carries the same indexes as the events table, so the ratio shows what the
/// store adds (locks, version check, hash chain, reader frontier), not what an index costs.
const BASELINE_INDEXES: [&str; 3] = [
    "CREATE INDEX baseline_category ON baseline (category, global_position)",
    "CREATE INDEX baseline_type ON baseline (event_type, global_position)",
    "CREATE INDEX baseline_recorded_at ON baseline (recorded_at)",
];
const HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

fn event(n: usize) -> NewEvent {
    let data = serde_json::json!({
        "cycle_id": uuid::Uuid::now_v7(), "n": n,
        "note": "Mentors ran the huddle with six students; two asked for a second session."
    });
    let meta = Metadata {
        actor: Some("bench".into()),
        ..Metadata::default()
    };
    NewEvent::new("pdsa_cycle_planned", 1, &data, &meta).unwrap()
}

/// The columns the store reads, into the plainest Rust values each backend's driver gives: position,
/// event id, stream, version, type, schema version, data, metadata, recorded time, hash.
type PgBaselineRow = (
    i64,
    uuid::Uuid,
    String,
    i64,
    String,
    i32,
    String,
    String,
    chrono::DateTime<chrono::Utc>,
    String,
);
type LiteBaselineRow = (
    i64,
    String,
    String,
    i64,
    String,
    i64,
    String,
    String,
    i64,
    String,
);

/// The plain SQL the baseline runs, per backend.
#[derive(Clone)]
enum Raw {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Raw {
    async fn insert_rows(&self, stream: &str, first_version: usize, events: &[NewEvent]) {
        let now = chrono::Utc::now();
        match self {
            Raw::Pg(pool) => {
                let mut q = sqlx::QueryBuilder::<sqlx::Postgres>::new(
                    "INSERT INTO baseline (event_id, stream_id, category, stream_version, event_type, \
                     schema_version, data, metadata, recorded_at, hash) ",
                );
                q.push_values(events.iter().enumerate(), |mut b, (i, e)| {
                    b.push_bind(e.event_id)
                        .push_bind(stream)
                        .push_bind("pdsa")
                        .push_bind((first_version + i) as i64)
                        .push_bind(&e.event_type)
                        .push_bind(e.schema_version as i32)
                        .push_bind(e.data.get())
                        .push_unseparated("::json")
                        .push_bind(e.metadata.get())
                        .push_unseparated("::json")
                        .push_bind(now)
                        .push_bind(HASH);
                });
                q.build().execute(pool).await.unwrap();
            }
            Raw::Lite(pool) => {
                let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                    "INSERT INTO baseline (event_id, stream_id, category, stream_version, event_type, \
                     schema_version, data, metadata, recorded_at, hash) ",
                );
                q.push_values(events.iter().enumerate(), |mut b, (i, e)| {
                    b.push_bind(e.event_id.to_string())
                        .push_bind(stream)
                        .push_bind("pdsa")
                        .push_bind((first_version + i) as i64)
                        .push_bind(&e.event_type)
                        .push_bind(e.schema_version as i64)
                        .push_bind(e.data.get())
                        .push_bind(e.metadata.get())
                        .push_bind(now.timestamp_micros())
                        .push_bind(HASH);
                });
                q.build().execute(pool).await.unwrap();
            }
        }
    }

    /// Reads the baseline table in pages, decoding the same columns the store decodes.
    async fn read_all(&self) -> usize {
        let mut after = 0i64;
        let mut count = 0;
        loop {
            let (rows, last) = match self {
                Raw::Pg(pool) => {
                    let rows: Vec<PgBaselineRow> = sqlx::query_as(
                        "SELECT global_position, event_id, stream_id, stream_version, event_type, \
                         schema_version, data::text, metadata::text, recorded_at, hash \
                         FROM baseline WHERE global_position > $1 ORDER BY global_position LIMIT $2",
                    )
                    .bind(after)
                    .bind(READ_PAGE as i64)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    (rows.len(), rows.last().map(|r| r.0))
                }
                Raw::Lite(pool) => {
                    let rows: Vec<LiteBaselineRow> = sqlx::query_as(
                        "SELECT global_position, event_id, stream_id, stream_version, event_type, \
                         schema_version, data, metadata, recorded_at, hash \
                         FROM baseline WHERE global_position > ? ORDER BY global_position LIMIT ?",
                    )
                    .bind(after)
                    .bind(READ_PAGE as i64)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    (rows.len(), rows.last().map(|r| r.0))
                }
            };
            let Some(last) = last else {
                return count;
            };
            after = last;
            count += rows;
        }
    }
}

async fn read_store(store: &dyn EventStore) -> usize {
    let mut q = ReadAll::after(0, READ_PAGE);
    let mut count = 0;
    loop {
        let page = store.read_all(&q).await.unwrap();
        let Some(last) = page.last() else {
            return count;
        };
        q.after = last.global_position;
        count += page.len();
    }
}

/// Events per second of `writers` tasks, each doing `calls` calls of `batch` events.
async fn run_writers<F, Fut>(writers: usize, calls: usize, batch: usize, f: F) -> f64
where
    F: Fn(usize, usize, Vec<NewEvent>) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let f = f.clone();
            tokio::spawn(async move {
                for c in 0..calls {
                    f(w, c, (0..batch).map(|i| event(c * batch + i)).collect()).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    (writers * calls * batch) as f64 / start.elapsed().as_secs_f64()
}

struct Row {
    backend: &'static str,
    scenario: String,
    store: f64,
    baseline: f64,
}

async fn bench(backend: &'static str, store: Arc<dyn EventStore>, raw: Raw, rows: &mut Vec<Row>) {
    let scenarios = [
        ("append 1 event, 1 writer", 1, SINGLE_APPENDS, 1),
        (
            "append 1 event, 32 writers",
            CONCURRENT_WRITERS,
            SINGLE_APPENDS * 2 / CONCURRENT_WRITERS,
            1,
        ),
        ("append 100 events per call", 1, BATCHES, BATCH_EVENTS),
    ];
    for (scenario, (name, writers, calls, batch)) in scenarios.into_iter().enumerate() {
        // Repetitions in alternating order (store first, then baseline first); the best of each
        // counts, so neither side is favoured by running on a warmer or emptier table.
        let (mut best_store, mut best_baseline) = (0f64, 0f64);
        for rep in 0..APPEND_REPEATS {
            let round = scenario * APPEND_REPEATS + rep;
            for side in [rep % 2, 1 - rep % 2] {
                if side == 0 {
                    let s = store.clone();
                    let rate = run_writers(writers, calls, batch, move |w, c, events| {
                        let s = s.clone();
                        async move {
                            let stream = StreamId::parse(format!("pdsa-r{round}w{w}")).unwrap();
                            let expected = if c == 0 {
                                ExpectedVersion::NoStream
                            } else {
                                ExpectedVersion::Exact((c * events.len() - 1) as u64)
                            };
                            s.append(&stream, expected, events).await.unwrap();
                        }
                    })
                    .await;
                    best_store = best_store.max(rate);
                } else {
                    let r = raw.clone();
                    let rate = run_writers(writers, calls, batch, move |w, c, events| {
                        let r = r.clone();
                        async move {
                            r.insert_rows(&format!("pdsa-r{round}w{w}"), c * events.len(), &events)
                                .await;
                        }
                    })
                    .await;
                    best_baseline = best_baseline.max(rate);
                }
            }
        }
        rows.push(Row {
            backend,
            scenario: name.into(),
            store: best_store,
            baseline: best_baseline,
        });
    }
    // Let the PostgreSQL reader frontier pass the last append before reading.
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Repetitions in alternating order; the best of each side counts.
    let (mut best_store, mut best_raw) = (0f64, 0f64);
    for rep in 0..READ_REPEATS {
        let (mut n, mut m) = (0, 0);
        for side in [rep % 2, 1 - rep % 2] {
            let t = Instant::now();
            if side == 0 {
                n = read_store(store.as_ref()).await;
                best_store = best_store.max(n as f64 / t.elapsed().as_secs_f64());
            } else {
                m = raw.read_all().await;
                best_raw = best_raw.max(m as f64 / t.elapsed().as_secs_f64());
            }
        }
        assert_eq!(n, m, "the store and the baseline hold the same rows");
    }
    rows.push(Row {
        backend,
        scenario: "read the whole log in order".into(),
        store: best_store,
        baseline: best_raw,
    });
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();

    let url = nic_store::scratch::create_postgres("nic_bench").await;
    {
        let pg = PgStore::connect(&url).await.unwrap();
        pg.migrate().await.unwrap();
        pg.pool().execute(PG_BASELINE_TABLE).await.unwrap();
        for sql in BASELINE_INDEXES {
            pg.pool().execute(sql).await.unwrap();
        }
        let raw = Raw::Pg(pg.pool().clone());
        bench("PostgreSQL", Arc::new(pg), raw, &mut rows).await;
    }
    nic_store::scratch::drop_postgres(&url).await;

    let path = std::env::temp_dir().join(format!("nic-bench-{}.db", uuid::Uuid::new_v4().simple()));
    {
        let lite = SqliteStore::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        lite.migrate().await.unwrap();
        lite.writer().execute(BASELINE_TABLE).await.unwrap();
        for sql in BASELINE_INDEXES {
            lite.writer().execute(sql).await.unwrap();
        }
        let raw = Raw::Lite(lite.writer().clone());
        bench("SQLite", Arc::new(lite), raw, &mut rows).await;
    }
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }

    println!("| backend | scenario | nic-ledger events/s | raw SQL events/s | ratio |");
    println!("|---|---|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.0} | {:.0} | {:.2}x |",
            r.backend,
            r.scenario,
            r.store,
            r.baseline,
            r.store / r.baseline
        );
    }
}
