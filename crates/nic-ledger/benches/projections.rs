//! The projections benchmark (issue 4), each figure beside a baseline measured in the same run,
//! printed as a table with the ratio. Run with:
//!
//! ```sh
//! cargo bench -p nic-ledger --bench projections                 # 1,000,000 events, SQLite
//! cargo bench -p nic-ledger --bench projections -- --quick      # 100,000 events, shorter SSE run
//! NIC_BENCH_BACKENDS=sqlite,postgres cargo bench -p nic-ledger --bench projections
//! ```
//!
//! (`NIC_BENCH_EVENTS=N` sets the log's size; `NIC_BENCH_PARTS=log` runs only (a) and (b),
//! `NIC_BENCH_PARTS=live` only (c), `NIC_BENCH_PARTS=contention` only (d), `NIC_BENCH_PARTS=history`
//! only (e), `NIC_BENCH_PARTS=appends` only (f); PostgreSQL is reached at `NIC_TEST_POSTGRES_URL`,
//! default the local server as user postgres, in a fresh database dropped afterwards.)
//!
//! - **Log.** `nic-ledger demo` loads the sample network (its network, programs, measures, data
//!   points, PDSA ramps, self-assessments and syntheses) into a scratch database; its log is the
//!   template. The benchmark's log is that template repeated with every id remapped per copy (so
//!   each copy is another network of the same shape), positions 1..N, times 10 ms apart and hash
//!   chains computed afresh, written through the import path (`nic_store::transfer::
//!   import_events`, which checks every chain and writes in batches).
//! - **(a) Rebuild.** All five projections (driver diagram, timeline, run charts, PDSA board,
//!   portfolio) folded from the whole log read through `EventStore::read_all`, as events/s, beside
//!   a plain scan of the same rows: a raw sqlx SELECT of the same columns, page by page, decoded
//!   into plain Rust values (integers, strings, a UUID and a time). Goal: at least 0.5x the scan.
//! - **(b) As-of reads.** The driver diagram of the middle copy's network as of the end of that
//!   copy (mid-log), folded as `Projections` folds an `?as_of=POSITION` read of one network (that
//!   network's events up to the position, found in the live network index and read by position,
//!   into a fresh projection), beside the live read of the same view (the view of the projection
//!   kept at the head), p50; checked once against the fold of the whole log up to there. In
//!   process: the server's own catch-up of a log this size would dominate the run.
//! - **(c) Live delivery.** The real `nic-ledger serve` on a fresh database of each backend: a
//!   client follows `GET /api/v1/live/events` while PDSA cycles are planned over HTTP
//!   (`POST /api/v1/programs/{id}/pdsa-cycles`, one event each) on a steady schedule of 1,000 per
//!   second; the time from sending each append to receiving its event on the stream, p50 and p99,
//!   beside the latency of the append request itself. Goal: p99 under 25 ms. The schedule runs
//!   `SSE_WARM_UP_SECONDS` first on the freshly started server (its database connections opening
//!   and their caches filling); that warm-up's p99 is printed on a row of its own and left out of
//!   the steady figures. On PostgreSQL the run is made twice: the second time another
//!   application's transaction stays open (idle, with a transaction id) in another database of
//!   the cluster throughout, which must change nothing.
//!
//! - **(d) Writers into one measure.** The real server again: 32 writers, each on its own
//!   keep-alive connection, record data points (distinct months, no `If-Match`) into one measure,
//!   as points/s and the count of writes refused, beside the same 32 writers each recording into
//!   a measure of its own (32 streams, no contention). Goal: none refused.
//!
//! - **(e) Cost per write as history grows.** The real server: one weekly measure that programs
//!   report, filled through the API to 100, 1,000, 5,000 and 20,000 points (`--quick`: to 5,000);
//!   at each size `HISTORY_SAMPLES` more points are recorded one request at a time, p50 per write,
//!   beside the same p50 at 100 points measured first in the same run. Goal: at most 2x at
//!   20,000.
//!
//! - **(f) Appends through the API against raw INSERTs.** The real server: PDSA cycles planned
//!   (`POST /api/v1/programs/{id}/pdsa-cycles`, one new stream and one event each) by 1, 8 and 32
//!   writers on keep-alive connections, as appends/s, beside the same writers INSERTing the
//!   event row the server wrote into a copy of the events table (its columns, constraints and
//!   indexes) in the same database. The two take turns, `APPEND_ROUNDS` rounds of each, so that a
//!   drift in the shared machine's speed falls on both alike. On PostgreSQL also the database's transactions per append
//!   over the run: each statement the server sends outside a transaction is one, and the count
//!   holds all of the server's work (its readers, the read models, their checkpoints).
//!
//! `NIC_BENCH_BREAKDOWN=1` also prints, on standard error, where a rebuild's time goes: the
//! store's read, reading catalog events, and each projection's fold.

use std::collections::HashMap;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use nic_app::read_models::{self, Source};
use nic_app::AsOf;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{EventData, RecordedEvent, StreamId, GENESIS_HASH};
use nic_projections::driver_diagram::{Diagrams, DriverDiagram};
use nic_projections::pdsa_board::PdsaBoard;
use nic_projections::portfolio::Portfolio;
use nic_projections::run_charts::RunCharts;
use nic_projections::timeline::Timeline;
use nic_projections::{OnBase, Projection, ReadModels, Recorded, WithBase};
use nic_store::{EventStore, ReadAhead, ReadAll};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

const EVENTS_DEFAULT: usize = 1_000_000;
const EVENTS_QUICK: usize = 100_000;
/// Repetitions of the rebuild and of the scan, in alternating order; the best of each counts.
const REBUILD_REPEATS: usize = 3;
const AS_OF_SAMPLES: usize = 5;
const LIVE_SAMPLES: usize = 50;
/// The steady append rate of the live-delivery run, and for how long it runs: long enough that a
/// projection checkpoint save of the grown state (tens of megabytes) falls inside it.
const SSE_RATE: u64 = 1_000;
const SSE_SECONDS: u64 = 30;
const SSE_SECONDS_QUICK: u64 = 3;
/// Seconds of the same schedule run first, whose appends are not counted in the steady figures.
const SSE_WARM_UP_SECONDS: u64 = 2;
/// Connections the appends are spread over (an append waits for its commit).
const SSE_CONNECTIONS: usize = 32;
/// (d): writers at once, and the data points each records (fewer with --quick).
const WRITERS: usize = 32;
const POINTS_EACH: usize = 12;
const POINTS_EACH_QUICK: usize = 4;
/// Time between the generated events' recorded times.
const EVENT_SPACING_MS: i64 = 10;

fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_nic-ledger")
}

struct Row {
    backend: String,
    measure: String,
    figure: String,
    baseline_name: String,
    baseline: String,
    ratio: String,
}

// ---------------------------------------------------------------------------------------------
// The log

/// The demo's log, loaded into a scratch SQLite file, its personal fields opened.
async fn template() -> Vec<RecordedEvent> {
    let path = temp_path("template.db");
    let url = format!("sqlite://{}", path.display());
    let out = std::process::Command::new(binary())
        .args(["demo", "--database-url", &url])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run nic-ledger demo");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Opened: the copies reuse the template's text, not its keys (which stay in the template).
    let store = nic_store::sealing::Sealing::new(nic_store::open(&url).await.unwrap());
    let all = read_everything(store.as_ref()).await;
    remove_sqlite(&path);
    all
}

/// The whole log, read through the store page by page.
async fn read_everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
    loop {
        let page = store.read_all(&read).await.unwrap();
        let Some(last) = page.last() else { return all };
        read.after = last.global_position;
        all.extend(page);
    }
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!(
        "nic-bench-{}-{name}",
        uuid::Uuid::new_v4().simple()
    ))
}

fn remove_sqlite(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// Remaps every UUID in `text` for copy `copy`: the last 48 bits are XORed with a per-copy key,
/// which keeps ids distinct across copies and keeps each UUID's version and variant.
fn remap(text: &str, key: u64) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut copied = 0;
    while i + 36 <= b.len() {
        if is_uuid(&b[i..i + 36]) {
            out.push_str(&text[copied..i + 24]);
            let node = u64::from_str_radix(&text[i + 24..i + 36], 16).unwrap();
            out.push_str(&format!("{:012x}", node ^ key));
            i += 36;
            copied = i;
        } else {
            i += 1;
        }
    }
    out.push_str(&text[copied..]);
    out
}

fn is_uuid(s: &[u8]) -> bool {
    s.iter().enumerate().all(|(i, &c)| match i {
        8 | 13 | 18 | 23 => c == b'-',
        _ => c.is_ascii_digit() || (b'a'..=b'f').contains(&c),
    })
}

/// `n` events: the template repeated, ids remapped per copy, positions 1..=n, times
/// `EVENT_SPACING_MS` apart, hash chains computed.
fn generate(template: &[RecordedEvent], n: usize) -> Vec<RecordedEvent> {
    let start: DateTime<Utc> = "2025-01-01T00:00:00Z".parse().unwrap();
    let mut heads: HashMap<StreamId, String> = HashMap::new();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let copy = (i / template.len()) as u64;
        let t = &template[i % template.len()];
        if i % template.len() == 0 {
            // Streams of earlier copies are never touched again.
            heads.clear();
        }
        let key = (copy + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) & 0xFFFF_FFFF_FFFF;
        let mut e = RecordedEvent {
            event_id: remap(&t.event_id.to_string(), key).parse().unwrap(),
            stream_id: StreamId::parse(remap(t.stream_id.as_str(), key)).unwrap(),
            stream_version: t.stream_version,
            global_position: i as u64 + 1,
            event_type: t.event_type.clone(),
            schema_version: t.schema_version,
            data: EventData::parse(remap(t.data.get(), key)).unwrap(),
            metadata: EventData::parse(remap(t.metadata.get(), key)).unwrap(),
            recorded_at: start + chrono::Duration::milliseconds(i as i64 * EVENT_SPACING_MS),
            hash: String::new(),
        };
        let previous = heads.get(&e.stream_id).map_or(GENESIS_HASH, String::as_str);
        e.hash = e.expected_hash(previous);
        heads.insert(e.stream_id.clone(), e.hash.clone());
        out.push(e);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// (a) Rebuild beside a scan

/// Folds the whole log into all five projections, as the service's rebuild does (`runner::
/// fold_to_head`: the next pages read and parsed on other tasks while this one folds, and freed
/// there); returns the events folded.
async fn rebuild(store: &Arc<dyn EventStore>) -> (usize, ReadModels) {
    let mut all = ReadModels::default();
    let mut pages = ReadAhead::start(
        store.clone(),
        ReadAll::after(0, READ_PAGE_EVENTS_MAX),
        |e| Recorded::from_recorded(&e),
    );
    let mut n = 0;
    while let Some(page) = pages.next_page().await.unwrap() {
        n += page.len();
        for r in &page {
            all.apply(r.as_ref().unwrap());
        }
        pages.done(page);
        tokio::task::yield_now().await;
    }
    (n, all)
}

/// Where a rebuild's time goes (`NIC_BENCH_BREAKDOWN=1`, on standard error): reading the log
/// through the store, reading each event as a catalog event, and each projection's fold.
async fn breakdown(label: &str, store: &dyn EventStore) {
    let t = Instant::now();
    let events = read_everything(store).await;
    let n = events.len();
    eprintln!(
        "{label}: store read_all {:.0} events/s",
        per_second(n, t.elapsed())
    );
    let t = Instant::now();
    let recorded: Vec<Recorded> = events
        .iter()
        .map(|e| Recorded::from_recorded(e).unwrap())
        .collect();
    eprintln!(
        "{label}: Recorded::from_recorded {:.0} events/s",
        per_second(n, t.elapsed())
    );
    fn time<P: Projection + Default>(label: &str, name: &str, events: &[Recorded]) {
        let t = Instant::now();
        let p = nic_projections::fold(P::default(), events);
        assert_eq!(p.position(), events.len() as u64);
        eprintln!(
            "{label}: fold {name} {:.0} events/s",
            per_second(events.len(), t.elapsed())
        );
    }
    time::<ReadModels>(label, "all five over one base", &recorded);
    time::<DriverDiagram>(label, "driver diagram", &recorded);
    time::<Timeline>(label, "timeline", &recorded);
    time::<RunCharts>(label, "run charts", &recorded);
    time::<PdsaBoard>(label, "PDSA board", &recorded);
    time::<Portfolio>(label, "portfolio", &recorded);
}

/// The fold the service runs for an as-of read of one network (`?as_of=POSITION`, the live read
/// models past it): the network's events up to the position, found in the live network index and
/// read by position, folded into a fresh projection moved on to the position; or, with
/// `whole`, the whole log up to the position.
async fn fold_as_of<M: OnBase + Default>(
    store: &Arc<dyn EventStore>,
    live: &ReadModels,
    network: uuid::Uuid,
    position: u64,
    whole: bool,
) -> WithBase<M> {
    let positions = live.network_index.positions(network, position);
    let source = if whole {
        Source::Log
    } else {
        Source::Positions(positions)
    };
    read_models::fold_as_of::<M>(store, source, AsOf::Position(position), position)
        .await
        .unwrap()
}

type PgRow = (
    i64,
    uuid::Uuid,
    String,
    i64,
    String,
    i32,
    String,
    String,
    DateTime<Utc>,
    String,
);
type LiteRow = (
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

enum Raw {
    Pg(sqlx::PgPool),
    Lite(sqlx::SqlitePool),
}

impl Raw {
    async fn connect(url: &str) -> Self {
        if url.starts_with("postgres") {
            // As raw as a pool gets: a connection for each of the most writers, and no ping
            // before each use.
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(32)
                .test_before_acquire(false)
                .connect(url)
                .await
                .unwrap();
            Raw::Pg(pool)
        } else {
            Raw::Lite(sqlx::SqlitePool::connect(url).await.unwrap())
        }
    }

    /// Reads the events table in pages of the store's page size, decoding every column the store
    /// reads; returns the rows read.
    async fn scan(&self) -> usize {
        let (mut after, mut n) = (0i64, 0);
        let limit = READ_PAGE_EVENTS_MAX as i64;
        loop {
            let (len, last) = match self {
                Raw::Pg(pool) => {
                    let rows: Vec<PgRow> = sqlx::query_as(
                        "SELECT global_position, event_id, stream_id, stream_version, event_type, \
                         schema_version, data::text, metadata::text, recorded_at, hash \
                         FROM events WHERE global_position > $1 ORDER BY global_position LIMIT $2",
                    )
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    (rows.len(), rows.last().map(|r| r.0))
                }
                Raw::Lite(pool) => {
                    let rows: Vec<LiteRow> = sqlx::query_as(
                        "SELECT global_position, event_id, stream_id, stream_version, event_type, \
                         schema_version, data, metadata, recorded_at, hash \
                         FROM events WHERE global_position > ? ORDER BY global_position LIMIT ?",
                    )
                    .bind(after)
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .unwrap();
                    (rows.len(), rows.last().map(|r| r.0))
                }
            };
            let Some(last) = last else { return n };
            after = last;
            n += len;
        }
    }
}

/// A fresh database of a backend, as a URL.
async fn fresh(backend: &str) -> String {
    match backend {
        "postgres" => nic_store::scratch::create_postgres("nic_bench").await,
        _ => format!("sqlite://{}", temp_path("log.db").display()),
    }
}

async fn drop_database(url: &str) {
    match url.strip_prefix("sqlite://") {
        Some(path) => remove_sqlite(std::path::Path::new(path)),
        None => nic_store::scratch::drop_postgres(url).await,
    }
}

fn per_second(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

async fn bench_log(
    backend: &str,
    label: &str,
    events: &[RecordedEvent],
    template_len: usize,
    rows: &mut Vec<Row>,
) {
    let url = fresh(backend).await;
    let store = nic_store::open(&url).await.unwrap();
    store.migrate().await.unwrap();
    let admin = nic_store::admin::Admin::connect(&url).await.unwrap();
    let t = Instant::now();
    let imported = nic_store::transfer::import_events(store.as_ref(), &admin, events, |_, _| {})
        .await
        .unwrap();
    let import_time = t.elapsed();
    eprintln!(
        "{label}: imported {imported} events in {:.1} s ({:.0} events/s)",
        import_time.as_secs_f64(),
        per_second(imported as usize, import_time)
    );
    drop(admin);
    if let nic_store::Backend::Postgres = store.backend() {
        // Fresh statistics for the planner after the bulk load.
        let raw = sqlx::PgPool::connect(&url).await.unwrap();
        sqlx::query("VACUUM ANALYZE events")
            .execute(&raw)
            .await
            .unwrap();
    }

    let raw = Raw::connect(&url).await;
    if std::env::var_os("NIC_BENCH_BREAKDOWN").is_some() {
        breakdown(label, store.as_ref()).await;
    }
    let (mut best_rebuild, mut best_scan) = (0f64, 0f64);
    for rep in 0..REBUILD_REPEATS {
        for side in [rep % 2, 1 - rep % 2] {
            let t = Instant::now();
            if side == 0 {
                let (n, all) = rebuild(&store).await;
                let rate = per_second(n, t.elapsed());
                assert_eq!(n, events.len());
                assert_eq!(all.timeline.position(), events.len() as u64);
                assert_eq!(all.position(), events.len() as u64);
                eprintln!("{label}: rebuild {rate:.0} events/s");
                best_rebuild = best_rebuild.max(rate);
            } else {
                let n = raw.scan().await;
                let rate = per_second(n, t.elapsed());
                assert_eq!(n, events.len());
                eprintln!("{label}: scan {rate:.0} events/s");
                best_scan = best_scan.max(rate);
            }
        }
    }
    rows.push(Row {
        backend: label.into(),
        measure: format!("(a) rebuild all 5 projections, {} events", events.len()),
        figure: format!("{best_rebuild:.0} events/s"),
        baseline_name: "raw sqlx scan of the same rows".into(),
        baseline: format!("{best_scan:.0} events/s"),
        ratio: format!("{:.2}x", best_rebuild / best_scan),
    });

    // (b) As-of beside live: the fold `Projections` runs for `?as_of=POSITION` (the log read
    // from the store up to the position, page by page, into a fresh projection) beside a live
    // read (the view of the projection kept at the head).
    let copies = events.len() / template_len;
    let middle_copy = copies / 2;
    let network_id: uuid::Uuid = events[middle_copy * template_len..]
        .iter()
        .find(|e| e.event_type == "NetworkChartered")
        .and_then(|e| e.stream_id.as_str().strip_prefix("network-"))
        .unwrap()
        .parse()
        .unwrap();
    let mid = (middle_copy * template_len + template_len) as u64;
    let (_, live_state) = rebuild(&store).await;
    let mut as_of = Vec::new();
    for i in 0..AS_OF_SAMPLES {
        let t = Instant::now();
        let view = fold_as_of::<Diagrams>(&store, &live_state, network_id, mid, false)
            .await
            .view(network_id);
        as_of.push(t.elapsed());
        assert!(view.as_ref().is_some_and(|v| !v.nodes.is_empty()));
        if i == 0 {
            // The network's own events read as the whole log up to there does.
            let whole = fold_as_of::<Diagrams>(&store, &live_state, network_id, mid, true).await;
            let own = fold_as_of::<Diagrams>(&store, &live_state, network_id, mid, false).await;
            assert_eq!(own.view(network_id), whole.view(network_id));
        }
    }
    let mut live = Vec::new();
    for _ in 0..LIVE_SAMPLES {
        let t = Instant::now();
        let view = live_state
            .driver_diagram
            .view(&live_state.run_charts, network_id);
        live.push(t.elapsed());
        assert!(view.is_some_and(|v| !v.nodes.is_empty()));
    }
    let (a, l) = (percentile(&mut as_of, 0.5), percentile(&mut live, 0.5));
    rows.push(Row {
        backend: label.into(),
        measure: format!(
            "(b) driver diagram as of position {mid} (of {}), p50",
            events.len()
        ),
        figure: ms(a),
        baseline_name: "live read of the same view, p50".into(),
        baseline: ms(l),
        ratio: format!("{:.0}x", a.as_secs_f64() / l.as_secs_f64()),
    });
    drop(store);
    drop(raw);
    drop_database(&url).await;
}

fn percentile(samples: &mut [Duration], q: f64) -> Duration {
    samples.sort();
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    samples[i]
}

// ---------------------------------------------------------------------------------------------
// The real server over HTTP

struct Server {
    child: tokio::process::Child,
    addr: String,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

impl Server {
    async fn start(url: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = tokio::process::Command::new(binary())
            .args(["serve", "--listen", &addr, "--database-url", url])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start nic-ledger serve");
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut token = String::new();
        while let Some(line) = out.next_line().await.unwrap() {
            if let Some(t) = line.split_whitespace().find(|w| w.starts_with("nic_")) {
                token = t.trim_matches('\'').to_string();
            }
            if line.contains("serving on") {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
        Self { child, addr, token }
    }

    async fn connect(&self) -> Conn {
        Conn {
            stream: BufReader::new(TcpStream::connect(&self.addr).await.unwrap()),
            addr: self.addr.clone(),
            token: self.token.clone(),
        }
    }
}

/// One keep-alive HTTP/1.1 connection.
struct Conn {
    stream: BufReader<TcpStream>,
    addr: String,
    token: String,
}

impl Conn {
    async fn send(&mut self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            self.token,
            body.len()
        );
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .unwrap();
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line).await.unwrap();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("an HTTP status line: {status_line:?}"));
        let mut length = 0;
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap();
                }
            }
        }
        let mut buf = vec![0; length];
        self.stream.read_exact(&mut buf).await.unwrap();
        (status, String::from_utf8(buf).unwrap())
    }

    async fn get(&mut self, path: &str) -> (u16, String) {
        self.send("GET", path, None).await
    }

    async fn post(&mut self, path: &str, body: &Value) -> (u16, String) {
        self.send("POST", path, Some(&body.to_string())).await
    }

    /// POSTs a command that must succeed; the id it created.
    async fn ok(&mut self, path: &str, body: &Value) -> String {
        let (status, text) = self.post(path, body).await;
        assert!(
            status == 200 || status == 201,
            "POST {path}: {status} {text}"
        );
        let v: Value = serde_json::from_str(&text).unwrap();
        v["id"].as_str().unwrap().to_string()
    }
}

/// A new network with an ecosystem and one program: the network's path and the program's id.
async fn network_with_program(c: &mut Conn) -> (String, String) {
    let network = c
        .ok("/api/v1/networks", &json!({"name": "Bench network"}))
        .await;
    let n = format!("/api/v1/networks/{network}");
    let eco = c
        .ok(
            &format!("{n}/ecosystems"),
            &json!({"name": "Pittsburgh", "region": "PA"}),
        )
        .await;
    let program = c
        .ok(
            &format!("{n}/programs"),
            &json!({"name": "Lab Explorers", "ecosystem_id": eco}),
        )
        .await;
    (n, program)
}

/// A change idea, under a primary driver of the network at `n`, for cycles to test.
async fn change_idea(c: &mut Conn, n: &str) -> String {
    let primary = c
        .ok(
            &format!("{n}/drivers"),
            &json!({"kind": "primary", "title": "Identity"}),
        )
        .await;
    c.ok(
        &format!("{n}/change-ideas"),
        &json!({"title": "Huddles", "serves": [{"node_id": primary}]}),
    )
    .await
}

/// The body of the `i`th PDSA cycle planned to test `idea` (one event, one new stream).
fn cycle_body(idea: &str, i: usize) -> Value {
    json!({"title": format!("Huddles, try {i}"), "change_idea_ids": [idea],
        "purpose": "test", "scale": "one mentor", "planned_start": "2025-03-03",
        "planned_end": "2025-03-14", "plan": {"objective": "See",
        "questions": [{"question": "Q?", "prediction": "P"}]}})
}

// ---------------------------------------------------------------------------------------------
// (d) Writers into one measure

/// `WRITERS` writers, each on its own connection, record `each` data points (distinct months)
/// without `If-Match`, writer `w` into `measures[w]`: how long it took and the answers that were
/// not 201.
async fn record_points(
    server: &Server,
    measures: &[String],
    program: &str,
    each: usize,
) -> (Duration, Vec<String>) {
    let started = Instant::now();
    let writers = measures.iter().enumerate().map(|(w, measure)| {
        let path = format!("/api/v1/measures/{measure}/data-points");
        let program = program.to_string();
        async move {
            let mut c = server.connect().await;
            let mut refused = Vec::new();
            for i in 0..each {
                let month = w * each + i;
                let period = format!("{}-{:02}", 2000 + month / 12, month % 12 + 1);
                let body = json!({"program_id": program, "period": period, "value": month});
                let (status, text) = c.post(&path, &body).await;
                if status != 201 {
                    refused.push(format!("{status} {text}"));
                }
            }
            refused
        }
    });
    let refused = futures::future::join_all(writers).await.concat();
    (started.elapsed(), refused)
}

// ---------------------------------------------------------------------------------------------
// (f) Appends through the API against raw INSERTs

/// Appends each writer level makes, in all, and the rounds they are made in (each round the
/// API's share, then the raw INSERTs').
const APPENDS_PER_LEVEL: usize = 2_000;
const APPEND_ROUNDS: usize = 5;

impl Raw {
    /// A copy of the events table, `baseline`: the same columns, constraints and indexes.
    async fn copy_events_table(&self) {
        match self {
            Raw::Pg(pool) => {
                sqlx::query("CREATE TABLE baseline (LIKE events INCLUDING ALL)")
                    .execute(pool)
                    .await
                    .unwrap();
            }
            Raw::Lite(pool) => {
                let ddl: Vec<String> = sqlx::query_scalar(
                    "SELECT sql FROM sqlite_master WHERE tbl_name = 'events' \
                     AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC",
                )
                .fetch_all(pool)
                .await
                .unwrap();
                for sql in ddl {
                    let sql = sql
                        .replace("events_", "baseline_")
                        .replace(" events ", " baseline ")
                        .replace(" events(", " baseline(");
                    sqlx::query(&sql).execute(pool).await.unwrap();
                }
            }
        }
    }

    /// INSERTs one copy of `event` (the row the server wrote) into `baseline`, under the
    /// stream `stream`.
    async fn insert_copy(&self, event: &Value, stream: &str) {
        let id = uuid::Uuid::now_v7();
        let (data, metadata) = (event["data"].to_string(), event["metadata"].to_string());
        let (event_type, hash) = (
            event["event_type"].as_str().unwrap(),
            event["hash"].as_str().unwrap_or(GENESIS_HASH),
        );
        match self {
            Raw::Pg(pool) => {
                sqlx::query(
                    "INSERT INTO baseline (event_id, stream_id, category, stream_version, \
                     event_type, schema_version, data, metadata, recorded_at, hash) \
                     VALUES ($1, $2, 'pdsa', 0, $3, 1, $4::json, $5::json, now(), $6)",
                )
                .bind(id)
                .bind(stream)
                .bind(event_type)
                .bind(data)
                .bind(metadata)
                .bind(hash)
                .execute(pool)
                .await
                .unwrap();
            }
            Raw::Lite(pool) => {
                sqlx::query(
                    "INSERT INTO baseline (event_id, stream_id, category, stream_version, \
                     event_type, schema_version, data, metadata, recorded_at, hash) \
                     VALUES (?, ?, 'pdsa', 0, ?, 1, ?, ?, ?, ?)",
                )
                .bind(id.to_string())
                .bind(stream)
                .bind(event_type)
                .bind(data)
                .bind(metadata)
                .bind(Utc::now().timestamp_micros())
                .bind(hash)
                .execute(pool)
                .await
                .unwrap();
            }
        }
    }

    /// The database's committed and rolled-back transactions so far (PostgreSQL).
    async fn transactions(&self) -> Option<i64> {
        match self {
            Raw::Pg(pool) => Some(
                sqlx::query_scalar(
                    "SELECT (xact_commit + xact_rollback)::int8 FROM pg_stat_database \
                     WHERE datname = current_database()",
                )
                .fetch_one(pool)
                .await
                .unwrap(),
            ),
            Raw::Lite(_) => None,
        }
    }
}

/// Runs `writers` tasks that together call `each` `total` times; how long it took.
async fn in_parallel<F, Fut>(writers: usize, total: usize, each: F) -> Duration
where
    F: Fn(usize, usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    let per = total / writers;
    futures::future::join_all((0..writers).map(|w| {
        let each = &each;
        async move {
            for i in 0..per {
                each(w, i).await;
            }
        }
    }))
    .await;
    started.elapsed()
}

async fn bench_appends(backend: &str, label: &str, rows: &mut Vec<Row>) {
    let url = fresh(backend).await;
    let server = Server::start(&url).await;
    let mut c = server.connect().await;
    let (n, program) = network_with_program(&mut c).await;
    let idea = change_idea(&mut c, &n).await;
    let path = format!("/api/v1/programs/{program}/pdsa-cycles");
    let cycle = |i: usize| cycle_body(&idea, i);
    // The row the server writes for one append, to INSERT copies of.
    c.ok(&path, &cycle(0)).await;
    let (_, page) = c.get("/api/v1/events?after=0&limit=10000").await;
    let page: Value = serde_json::from_str(&page).unwrap();
    let event = page["events"].as_array().unwrap().last().unwrap().clone();
    drop(c);
    let raw = Raw::connect(&url).await;
    raw.copy_events_table().await;
    for writers in [1, 8, 32] {
        let mut conns = Vec::new();
        for _ in 0..writers {
            conns.push(tokio::sync::Mutex::new(server.connect().await));
        }
        // The API and the raw INSERTs take turns, a round at a time, so that both see the
        // machine alike however its speed drifts.
        let per_round = APPENDS_PER_LEVEL / APPEND_ROUNDS / writers * writers;
        let done = per_round * APPEND_ROUNDS;
        let before = raw.transactions().await;
        let (mut api, mut insert) = (Duration::ZERO, Duration::ZERO);
        for round in 0..APPEND_ROUNDS {
            api += in_parallel(writers, per_round, |w, i| {
                let n = (round * writers + w) * per_round + i + 1;
                let (conns, path, body) = (&conns, &path, cycle(n));
                async move {
                    let (status, text) = conns[w].lock().await.post(path, &body).await;
                    assert_eq!(status, 201, "{text}");
                }
            })
            .await;
            insert += in_parallel(writers, per_round, |w, i| {
                let (raw, event) = (&raw, &event);
                async move {
                    raw.insert_copy(event, &format!("pdsa-w{writers}-r{round}-{w}-{i}"))
                        .await;
                }
            })
            .await;
        }
        // Idle backends report their counts within PostgreSQL's idle stats interval (10 s).
        if before.is_some() {
            tokio::time::sleep(Duration::from_millis(11_000)).await;
        }
        // Each raw INSERT is one transaction of its own; the rest are the server's.
        let after = raw.transactions().await.map(|a| a - done as i64);
        let (rate, base) = (per_second(done, api), per_second(done, insert));
        let transactions = match (before, after) {
            (Some(b), Some(a)) => format!(
                ", {:.1} database transactions per append (all of the server's work)",
                (a - b) as f64 / done as f64
            ),
            _ => String::new(),
        };
        rows.push(Row {
            backend: label.into(),
            measure: format!(
                "(f) PDSA cycles planned through the API, {writers} writer(s): appends/s{transactions}"
            ),
            figure: format!("{rate:.0}/s"),
            baseline_name: format!(
                "raw INSERTs of the same row into a copy of events, {writers} at a time"
            ),
            baseline: format!("{base:.0}/s"),
            ratio: format!("{:.2}x", rate / base),
        });
    }
    drop(server);
    drop_database(&url).await;
}

// ---------------------------------------------------------------------------------------------
// (e) Cost per write as a measure's history grows

/// Programs that report the history measure: point `n` is program `n % HISTORY_PROGRAMS`'s, for
/// week `n / HISTORY_PROGRAMS`.
const HISTORY_PROGRAMS: usize = 50;
/// Writes timed at each size.
const HISTORY_SAMPLES: usize = 60;
/// Writers that fill the measure between sizes.
const HISTORY_FILLERS: usize = 8;

fn history_point(program: &str, n: usize) -> Value {
    let week = n / HISTORY_PROGRAMS;
    json!({"program_id": program, "period": format!("{}-W{:02}", 1990 + week / 52, week % 52 + 1),
           "value": 20})
}

async fn bench_history(backend: &str, label: &str, sizes: &[usize], rows: &mut Vec<Row>) {
    let url = fresh(backend).await;
    let server = Server::start(&url).await;
    let mut c = server.connect().await;
    let (n, first) = network_with_program(&mut c).await;
    let eco = c
        .ok(
            &format!("{n}/ecosystems"),
            &json!({"name": "Chicago", "region": "IL"}),
        )
        .await;
    let mut programs = vec![first];
    while programs.len() < HISTORY_PROGRAMS {
        let name = format!("Program {}", programs.len());
        programs.push(
            c.ok(
                &format!("{n}/programs"),
                &json!({"name": name, "ecosystem_id": eco}),
            )
            .await,
        );
    }
    let body = json!({"name": "Weekly attendance", "kind": "outcome",
        "description": "Students at sessions", "scale": "value", "data_type": "count",
        "unit": "students", "period": "week", "direction": "up"});
    let measure = c.ok(&format!("{n}/measures"), &body).await;
    let path = format!("/api/v1/measures/{measure}/data-points");
    let programs = Arc::new(programs);
    let mut held = 0;
    let mut curve: Vec<(usize, Duration)> = Vec::new();
    for &size in sizes {
        // Fill to `size` with several writers, points of distinct (program, week).
        let fill: Vec<usize> = (held..size.max(held)).collect();
        let chunks: Vec<Vec<usize>> = fill
            .chunks(fill.len().div_ceil(HISTORY_FILLERS).max(1))
            .map(<[usize]>::to_vec)
            .collect();
        let fillers = chunks.into_iter().map(|chunk| {
            let (path, programs) = (path.clone(), programs.clone());
            let server = &server;
            async move {
                let mut c = server.connect().await;
                for i in chunk {
                    let (status, text) = c
                        .post(&path, &history_point(&programs[i % HISTORY_PROGRAMS], i))
                        .await;
                    assert_eq!(status, 201, "{text}");
                }
            }
        });
        futures::future::join_all(fillers).await;
        held = size.max(held);
        // A fresh connection: the server closes one left idle while the fillers ran.
        let mut c = server.connect().await;
        let mut samples = Vec::with_capacity(HISTORY_SAMPLES);
        for _ in 0..HISTORY_SAMPLES {
            let point = history_point(&programs[held % HISTORY_PROGRAMS], held);
            let t = Instant::now();
            let (status, text) = c.post(&path, &point).await;
            samples.push(t.elapsed());
            assert_eq!(status, 201, "{text}");
            held += 1;
        }
        curve.push((size, percentile(&mut samples, 0.5)));
    }
    drop(c);
    let (base_size, base) = curve[0];
    for &(size, p50) in &curve[1..] {
        rows.push(Row {
            backend: label.into(),
            measure: format!(
                "(e) one data point recorded into a weekly measure holding {size} points, p50 \
                 (goal: at most 2x)"
            ),
            figure: ms(p50),
            baseline_name: format!("the same write at {base_size} points, p50"),
            baseline: ms(base),
            ratio: format!("{:.2}x", p50.as_secs_f64() / base.as_secs_f64()),
        });
    }
    drop(server);
    drop_database(&url).await;
}

async fn bench_contention(backend: &str, label: &str, each: usize, rows: &mut Vec<Row>) {
    let url = fresh(backend).await;
    let server = Server::start(&url).await;
    let mut c = server.connect().await;
    let (n, program) = network_with_program(&mut c).await;
    let mut measures = Vec::new();
    for i in 0..=WRITERS {
        let body = json!({"name": format!("Attendance {i}"), "kind": "outcome",
            "description": "Students at sessions", "scale": "value", "unit": "students",
            "period": "month", "direction": "up"});
        measures.push(c.ok(&format!("{n}/measures"), &body).await);
    }
    let (own, shared) = measures.split_at(WRITERS);
    // The baseline first: each writer alone on its stream.
    let (apart, refused_apart) = record_points(&server, own, &program, each).await;
    let one = vec![shared[0].clone(); WRITERS];
    let (together, refused) = record_points(&server, &one, &program, each).await;
    let points = WRITERS * each;
    let (rate, base) = (per_second(points, together), per_second(points, apart));
    rows.push(Row {
        backend: label.into(),
        measure: format!(
            "(d) {WRITERS} writers × {each} data points into one measure, no If-Match: points/s ({} refused)",
            refused.len()
        ),
        figure: format!("{rate:.0}/s"),
        baseline_name: format!(
            "{WRITERS} writers into {WRITERS} measures ({} refused)",
            refused_apart.len()
        ),
        baseline: format!("{base:.0}/s"),
        ratio: format!("{:.2}x", rate / base),
    });
    if let Some(first) = refused.first().or(refused_apart.first()) {
        eprintln!("(d) a refused write: {first}");
    }
    drop(c);
    drop(server);
    drop_database(&url).await;
}

// ---------------------------------------------------------------------------------------------
// (c) Append-to-SSE delivery

/// Reads a server-sent event stream (chunked) and records when each event id arrived.
async fn follow_live(
    server_addr: String,
    token: String,
    after: u64,
    arrived: Arc<Mutex<HashMap<uuid::Uuid, Instant>>>,
    ready: tokio::sync::oneshot::Sender<()>,
) {
    let mut s = BufReader::new(TcpStream::connect(&server_addr).await.unwrap());
    let req = format!(
        "GET /api/v1/live/events?after={after} HTTP/1.1\r\nHost: {server_addr}\r\n\
         Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    );
    s.get_mut().write_all(req.as_bytes()).await.unwrap();
    loop {
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        if line.trim_end().is_empty() {
            break;
        }
    }
    let _ = ready.send(());
    let mut text = String::new();
    loop {
        let mut size = String::new();
        if s.read_line(&mut size).await.unwrap_or(0) == 0 {
            return;
        }
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 {
            return;
        }
        let mut chunk = vec![0; size + 2];
        s.read_exact(&mut chunk).await.unwrap();
        let now = Instant::now();
        text.push_str(std::str::from_utf8(&chunk[..size]).unwrap());
        while let Some(end) = text.find("\n\n") {
            let event: String = text.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(data) = line.strip_prefix("data:") {
                    let v: Value = serde_json::from_str(data.trim()).unwrap();
                    if let Some(id) = v["event_id"].as_str() {
                        arrived.lock().unwrap().insert(id.parse().unwrap(), now);
                    }
                }
            }
        }
    }
}

/// One append of the live run: its schedule index, its event's id, when it was sent and how long
/// its request took.
type Sent = (usize, uuid::Uuid, Instant, Duration);

/// (c) With `stranger`, another application's transaction stays open in another database of the
/// cluster throughout (PostgreSQL): readers must not wait for it.
async fn bench_live(backend: &str, label: &str, seconds: u64, stranger: bool, rows: &mut Vec<Row>) {
    let _stranger = if stranger {
        Some(nic_store::scratch::stranger(&nic_store::scratch::postgres_admin_url()).await)
    } else {
        None
    };
    let url = fresh(backend).await;
    let server = Server::start(&url).await;
    let mut c = server.connect().await;
    let (n, program) = network_with_program(&mut c).await;
    let idea = change_idea(&mut c, &n).await;
    let (_, events) = c.get("/api/v1/events?after=0&limit=10000").await;
    let head = serde_json::from_str::<Value>(&events).unwrap()["next_after"]
        .as_u64()
        .unwrap();

    let arrived = Arc::new(Mutex::new(HashMap::new()));
    let (ready_tx, ready) = tokio::sync::oneshot::channel();
    let reader = tokio::spawn(follow_live(
        server.addr.clone(),
        server.token.clone(),
        head,
        arrived.clone(),
        ready_tx,
    ));
    ready.await.unwrap();

    // A steady schedule: one append every 1/SSE_RATE s, taken by whichever connection is free.
    let warm_up = (SSE_RATE * SSE_WARM_UP_SECONDS) as usize;
    let total = warm_up + (SSE_RATE * seconds) as usize;
    let (tx, rx) = tokio::sync::mpsc::channel::<usize>(total);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let sent: Arc<Mutex<Vec<Sent>>> = Arc::default();
    let path = format!("/api/v1/programs/{program}/pdsa-cycles");
    let mut workers = Vec::new();
    for _ in 0..SSE_CONNECTIONS {
        let rx = rx.clone();
        let sent = sent.clone();
        let path = path.clone();
        let idea = idea.clone();
        let mut conn = server.connect().await;
        workers.push(tokio::spawn(async move {
            loop {
                let Some(i) = rx.lock().await.recv().await else {
                    return;
                };
                let body = cycle_body(&idea, i);
                let t = Instant::now();
                let (status, text) = conn.post(&path, &body).await;
                let took = t.elapsed();
                assert_eq!(status, 201, "{text}");
                let v: Value = serde_json::from_str(&text).unwrap();
                for e in v["events"].as_array().unwrap() {
                    let id = e["event_id"].as_str().unwrap().parse().unwrap();
                    sent.lock().unwrap().push((i, id, t, took));
                }
            }
        }));
    }
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / SSE_RATE));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut steady_start = Instant::now();
    for i in 0..total {
        tick.tick().await;
        if i == warm_up {
            steady_start = Instant::now();
        }
        tx.send(i).await.unwrap();
    }
    drop(tx);
    for w in workers {
        w.await.unwrap();
    }
    let rate = per_second(total - warm_up, steady_start.elapsed());
    // Let the last events arrive. The stream may also carry some of the setup's events (on
    // PostgreSQL the log read for `head` may trail the last of them), so count only these.
    let deadline = Instant::now() + Duration::from_secs(10);
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    let all_arrived = |arrived: &HashMap<uuid::Uuid, Instant>| {
        sent.iter().all(|(_, id, _, _)| arrived.contains_key(id))
    };
    while !all_arrived(&arrived.lock().unwrap()) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    reader.abort();
    let arrived = std::mem::take(&mut *arrived.lock().unwrap());
    // Delivery and append latencies, of the warm-up and of the steady run.
    let missing: Vec<usize> = sent
        .iter()
        .filter(|(_, id, _, _)| !arrived.contains_key(id))
        .map(|(i, _, _, _)| *i)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} events never arrived on the live stream (stranger: {stranger}; schedule \
         indexes {:?}…; {} arrived after the first missing one was sent)",
        missing.len(),
        sent.len(),
        &missing[..missing.len().min(10)],
        sent.iter()
            .filter(|(i, id, _, _)| *i > missing[0] && arrived.contains_key(id))
            .count()
    );
    let mut latencies: [(Vec<Duration>, Vec<Duration>); 2] = Default::default();
    for (i, id, t, took) in &sent {
        let at = arrived
            .get(id)
            .unwrap_or_else(|| panic!("event {id} never arrived on the live stream"));
        let (delivery, append) = &mut latencies[usize::from(*i >= warm_up)];
        delivery.push(at.saturating_duration_since(*t));
        append.push(*took);
    }
    let [(mut warm_delivery, mut warm_append), (mut delivery, mut append)] = latencies;
    let (d50, d99) = (
        percentile(&mut delivery, 0.5),
        percentile(&mut delivery, 0.99),
    );
    let (a50, a99) = (percentile(&mut append, 0.5), percentile(&mut append, 0.99));
    let what = format!(
        "(c) append → SSE delivery at {rate:.0} events/s for {seconds} s ({} events){}",
        delivery.len(),
        if stranger {
            ", another application's transaction open in the cluster"
        } else {
            ""
        }
    );
    rows.push(Row {
        backend: label.into(),
        measure: format!("{what}, p50"),
        figure: ms(d50),
        baseline_name: "the append request's own latency, p50".into(),
        baseline: ms(a50),
        ratio: format!("{:.2}x", d50.as_secs_f64() / a50.as_secs_f64()),
    });
    rows.push(Row {
        backend: label.into(),
        measure: format!("{what}, p99 (goal < 25 ms)"),
        figure: ms(d99),
        baseline_name: "the append request's own latency, p99".into(),
        baseline: ms(a99),
        ratio: format!("{:.2}x", d99.as_secs_f64() / a99.as_secs_f64()),
    });
    let (w99, wa99) = (
        percentile(&mut warm_delivery, 0.99),
        percentile(&mut warm_append, 0.99),
    );
    rows.push(Row {
        backend: label.into(),
        measure: format!(
            "(c) the same in the {SSE_WARM_UP_SECONDS} s warm-up after start (not counted above), p99"
        ),
        figure: ms(w99),
        baseline_name: "the append request's own latency, p99".into(),
        baseline: ms(wa99),
        ratio: format!("{:.2}x", w99.as_secs_f64() / wa99.as_secs_f64()),
    });
    drop(c);
    drop(server);
    drop_database(&url).await;
}

/// The allocator the service runs with (`main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let events: usize = std::env::var("NIC_BENCH_EVENTS")
        .ok()
        .map(|n| n.parse().expect("NIC_BENCH_EVENTS is a number"))
        .unwrap_or(if quick { EVENTS_QUICK } else { EVENTS_DEFAULT });
    let backends = std::env::var("NIC_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite".into());
    let parts = std::env::var("NIC_BENCH_PARTS")
        .unwrap_or_else(|_| "log,live,contention,history,appends".into());
    let part = |name: &str| parts.split(',').any(|p| p.trim() == name);
    let template = template().await;
    let t = Instant::now();
    let log = generate(&template, events);
    eprintln!(
        "generated {} events ({} copies of the demo's {} events) in {:.1} s",
        log.len(),
        log.len().div_ceil(template.len()),
        template.len(),
        t.elapsed().as_secs_f64()
    );
    let mut rows = Vec::new();
    let backends: Vec<(&str, &str)> = backends
        .split(',')
        .map(str::trim)
        .map(|b| match b {
            "sqlite" => (b, "SQLite"),
            "postgres" => (b, "PostgreSQL"),
            other => panic!("NIC_BENCH_BACKENDS names sqlite and postgres, not {other:?}"),
        })
        .collect();
    for (backend, label) in backends.iter().filter(|_| part("log")) {
        bench_log(backend, label, &log, template.len(), &mut rows).await;
    }
    drop(log);
    for (backend, label) in backends.iter().filter(|_| part("live")) {
        let seconds = if quick {
            SSE_SECONDS_QUICK
        } else {
            SSE_SECONDS
        };
        bench_live(backend, label, seconds, false, &mut rows).await;
        if *backend == "postgres" {
            bench_live(backend, label, seconds, true, &mut rows).await;
        }
    }
    for (backend, label) in backends.iter().filter(|_| part("contention")) {
        let each = if quick {
            POINTS_EACH_QUICK
        } else {
            POINTS_EACH
        };
        bench_contention(backend, label, each, &mut rows).await;
    }
    for (backend, label) in backends.iter().filter(|_| part("history")) {
        let sizes: &[usize] = if quick {
            &[100, 1_000, 5_000]
        } else {
            &[100, 1_000, 5_000, 20_000]
        };
        bench_history(backend, label, sizes, &mut rows).await;
    }
    for (backend, label) in backends.iter().filter(|_| part("appends")) {
        bench_appends(backend, label, &mut rows).await;
    }

    println!("| backend | measure | nic-ledger | baseline | baseline value | ratio |");
    println!("|---|---|---:|---|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            r.backend, r.measure, r.figure, r.baseline_name, r.baseline, r.ratio
        );
    }
}
