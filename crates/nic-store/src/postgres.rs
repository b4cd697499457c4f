//! The PostgreSQL backend: production and scale.
//!
//! An append is one INSERT, under no lock; single-event appends that arrive while others are
//! being written go together in one (`pg_group`). Rust checks the expected version against the stream's
//! head (its last event's version and hash: remembered from this store's own appends and lookups,
//! else read) and chains the hashes (`nic_events::chain_hash`). The INSERT writes only if the stream
//! still has no event after that head (a probe of the `(stream_id, stream_version)` index), so a
//! failed check spends no position; two writers racing for the same version are settled by the
//! unique constraint, and the loser's positions stay unused. Event ids are looked up only when
//! something failed (a version that does not match, a head that moved, a unique violation), to tell
//! a retry (the original outcome, nothing written) from a conflict.
//!
//! Readers of the global log never skip an event. A writer takes its transaction id before its
//! positions (the INSERT evaluates `pg_current_xact_id()` before `nextval`). A reader observes the
//! last position handed out and then the next transaction id (`nic_read_frontier`); once a later
//! snapshot's horizon passes that transaction id, every transaction that took a position up to the
//! observed one has ended, so the log up to there is complete. The horizon is the snapshot's xmin;
//! while that lags behind what waits (another application's transaction holds it back, or appends
//! are in flight), the reader first asks which transactions may be this store's appenders
//! (`nic_appenders`, migration 0005), and the horizon is the least of those still running in the
//! snapshot: readers never wait for another database's transactions, nor for ones that did not
//! write here. Reads stop at the highest position proved so (`Frontier`, kept per store), never
//! past it. Every frontier statement proves what it can of the observations waiting (up to
//! `OBSERVATIONS_PENDING_MAX`, so that an event committed after one observation waits only for the
//! transactions running at the next, not for the proof of an older one first) and leaves its own
//! observation waiting. The store's own appends need no statement: once one has committed at the
//! position right after the proved one, nothing can lie between (`Frontier::committed`).
//! Subscriptions read those from memory, and at the head run no statement while nothing else can
//! lie beyond (`Frontier::trusted`: no other writer announced an append since the last statement).
//!
//! Wake-ups: a local append ticks local subscribers at once and asks a background task to send one
//! small `NOTIFY nic_events` (at once, then at most one per `NOTIFY_COALESCE_MS` for the appends
//! meanwhile), so that writers' commits do not queue on the notification lock. Another task LISTENs
//! and ticks on every notification but the store's own (its payload names the store). Notifications only wake readers, who then read the store. A
//! read that stops short of what it observed leaves an observation waiting; a third task (`prove`)
//! runs the frontier statement again a few milliseconds after the last one (`FRONTIER_RECHECK_MS`,
//! backing off to `FRONTIER_RECHECK_MAX_MS` while the frontier stays stuck) for as long as one
//! waits, and whenever the frontier moves the local subscribers are ticked: events held back only
//! for their proof are delivered as soon as it exists, not at the next append or poll.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use nic_events::limits::{NOTIFY_COALESCE_MS, READ_PAGE_EVENTS_MAX};
use nic_events::{
    chain_hash, EventData, ExpectedVersion, NewEvent, RecordedEvent, StreamId, GENESIS_HASH,
};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection, Postgres, QueryBuilder, Row};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::keys::{self, EventKey, FieldKey, KeySubject};
use crate::limits::{
    APPEND_ATTEMPTS_MAX, FRONTIER_RECHECK_MAX_MS, FRONTIER_RECHECK_MS, FRONTIER_TRUST_MS,
    HEADS_CACHED_STREAMS_MAX, OBSERVATIONS_PENDING_MAX, OWN_AHEAD_EVENTS_MAX, OWN_KEPT_BYTES_MAX,
    OWN_RECENT_EVENTS_MAX, PG_ACQUIRE_TIMEOUT_MS, PG_PING_IDLE_MS, PG_POOL_CONNECTIONS_MAX,
    RETRY_AFTER_ERROR_MS,
};
use crate::pg_group::{self, Entry, Grouped, Groups};
use crate::pg_warm::Warm;
use crate::turns::Turns;
use crate::{
    check_append, non_negative, now_micros, page_limit, AppendOutcome, Backend, EventStore,
    ReadAll, StoreError,
};

const CHANNEL: &str = "nic_events";
const COLUMNS: &str = "global_position, event_id, stream_id, stream_version, event_type, \
     schema_version, data::text AS data, metadata::text AS metadata, recorded_at, hash";

/// The columns every frontier statement starts with (`Reader::with_frontier`), how many, and
/// their values.
const FRONTIER_COLUMNS: &str = "f.last_position, f.next_xid, f.xmin, f.horizon, f.bound";
const FRONTIER_WIDTH: usize = 5;
type FrontierRow = (i64, i64, i64, i64, i64);

/// The append's statement: inserts only if the stream has no event after version `$3`, the head the
/// hashes were chained from. Only the `(stream_id, stream_version)` index is probed: a heap read of
/// the head would queue on the page every writer is inserting into. A new stream's first append
/// (`$3` = -1, `first`) is not probed at all: the unique `(stream_id, stream_version)` refuses a
/// second version 0, and the append then reads the head as after any lost race. The transaction id
/// (`w`) is taken before any position: the CASE evaluates it before `nextval`, whatever the plan,
/// and PostgreSQL evaluates the volatile `nextval` after the ORDER BY, so positions follow
/// versions. `one`: a single event, with plain parameters instead of arrays; `keyed`: with its
/// keys (`keys::pg_keyed_insert`). Built once for each of the eight kinds.
fn insert_sql(one: bool, first: bool, keyed: bool) -> &'static str {
    static ALL: LazyLock<Vec<String>> = LazyLock::new(|| {
        (0..8)
            .map(|i| {
                let (one, first, keyed) = (i & 4 != 0, i & 2 != 0, i & 1 != 0);
                let check = match first {
                    true => "",
                    false => " WHERE NOT EXISTS \
                         (SELECT FROM events e WHERE e.stream_id = $1 AND e.stream_version > $3)",
                };
                let insert = match one {
                    true => format!(
                        "INSERT INTO events ({INSERT_COLUMNS}) \
                         SELECT CASE WHEN w.xid IS NOT NULL \
                             THEN nextval('events_global_position_seq') END, \
                             $5, $1, $2, $3 + 1, $6, $7, $8::json, $9::json, $4, $10, w.xid \
                         FROM (SELECT pg_current_xact_id() AS xid{check}) w \
                         RETURNING global_position"
                    ),
                    false => format!(
                        "INSERT INTO events ({INSERT_COLUMNS}) \
                         SELECT CASE WHEN w.xid IS NOT NULL \
                             THEN nextval('events_global_position_seq') END, \
                             u.id, $1, $2, $3 + u.n, u.t, u.sv, u.d::json, u.m::json, $4, u.h, w.xid \
                         FROM (SELECT pg_current_xact_id() AS xid{check}) w, \
                              unnest($5::uuid[], $6::text[], $7::int4[], $8::text[], $9::text[], \
                                     $10::text[]) WITH ORDINALITY AS u(id, t, sv, d, m, h, n) \
                         ORDER BY u.n \
                         RETURNING global_position"
                    ),
                };
                match keyed {
                    true => keys::pg_keyed_insert(&insert),
                    false => insert,
                }
            })
            .collect()
    });
    &ALL[(one as usize) << 2 | (first as usize) << 1 | keyed as usize]
}
const INSERT_COLUMNS: &str = "global_position, event_id, stream_id, category, stream_version, \
     event_type, schema_version, data, metadata, recorded_at, hash, transaction_id";
/// The stream's head and what is known of these event ids, read fresh.
const LOOKUP: &str = "SELECT \
     (SELECT e.stream_version FROM events e WHERE e.stream_id = $1 \
      ORDER BY e.stream_version DESC LIMIT 1), \
     (SELECT e.hash FROM events e WHERE e.stream_id = $1 ORDER BY e.stream_version DESC LIMIT 1), \
     count(*), count(*) FILTER (WHERE stream_id <> $1), max(stream_version), \
     min(global_position), max(global_position) \
     FROM events WHERE event_id = ANY($2)";

/// A stream's last event: what the next append chains from.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Head {
    version: u64,
    hash: String,
}

/// What one reader statement observed: positions up to `last_position` were all taken by
/// transactions below `next_xid`.
#[derive(Clone, Copy, Debug)]
struct Observation {
    last_position: u64,
    next_xid: i64,
    /// When it was taken in, after the statement that made it returned: only a statement sent
    /// later may prove it (`Frontier::advance`).
    made: Instant,
    /// Since when the positions it covers have waited (an observation it replaced may be older).
    waiting_since: Instant,
}

impl Observation {
    fn new(last_position: u64, next_xid: i64) -> Self {
        let now = Instant::now();
        Self {
            last_position,
            next_xid,
            made: now,
            waiting_since: now,
        }
    }
}

/// How far this store's readers may read the global log.
#[derive(Debug, Default)]
struct Frontier {
    /// Every event at or below this position is committed or will never exist.
    safe: u64,
    /// Observations not proved yet, by increasing `next_xid` and `last_position`: an observation
    /// that another one dominates (proved no later, proving no less) is not kept. At most
    /// `OBSERVATIONS_PENDING_MAX`.
    pending: Vec<Observation>,
    /// When a frontier statement last took in what it saw.
    last_statement: Option<Instant>,
    /// Whether the last statement's snapshot xmin fell short of an observation it could have
    /// proved: while it does, statements first ask which transactions may be appenders
    /// (`Reader::with_frontier`), so that a transaction of another application holding the xmin
    /// back holds nothing back.
    lagging: bool,
    /// Other writers' announced appends counted when the last statement was sent
    /// (`Reader::announced`).
    announced_seen: u64,
    /// This store's own events seen committed above `safe`: once every position below one is
    /// settled, so is the log up to it, with no statement (`Frontier::committed`).
    own_ahead: BTreeMap<u64, RecordedEvent>,
    /// The log up to `safe` as this store's own commits settled it, in order and with no gap
    /// (its last event is at `safe`): readers at the head read it here.
    recent: VecDeque<RecordedEvent>,
    /// Bytes of data and metadata held in `own_ahead` and `recent`.
    kept_bytes: usize,
}

impl Frontier {
    /// The parameters of the next statement: the waiting observations' transaction ids and
    /// positions, the safe position, and whether the xmin lags behind what waits.
    fn params(&self) -> (Vec<i64>, Vec<i64>, i64, bool) {
        (
            self.pending.iter().map(|o| o.next_xid).collect(),
            self.pending
                .iter()
                .map(|o| o.last_position as i64)
                .collect(),
            self.safe as i64,
            self.lagging && !self.pending.is_empty(),
        )
    }

    /// Takes in what a statement sent at `sent` saw: its snapshot's xmin, its horizon (every
    /// appender below it had ended), the bound it read up to, its observation. True when the safe
    /// position moved.
    ///
    /// The horizon proves only observations made before the statement was sent: beyond its xmin
    /// it rests on which appenders held their lock when the statement (its `nic_appenders` call)
    /// looked, and one that took its lock after that may hold a position that a later observation
    /// covers. (The snapshot's xmin alone would prove any observation below it.)
    fn advance(
        &mut self,
        xmin: i64,
        horizon: i64,
        bound: u64,
        seen: Observation,
        sent: Instant,
    ) -> bool {
        self.lagging = self
            .pending
            .iter()
            .any(|o| o.made <= sent && o.next_xid > xmin);
        let before = self.safe;
        self.safe = self.safe.max(bound);
        let proved = |o: &Observation| o.made <= sent && o.next_xid <= horizon;
        for o in &self.pending {
            if proved(o) {
                self.safe = self.safe.max(o.last_position);
            }
        }
        self.pending.retain(|o| !proved(o));
        self.settle();
        self.wait_for(seen);
        self.last_statement = Some(Instant::now());
        self.safe > before
    }

    /// Takes in events this store appended and saw committed. True when the safe position moved:
    /// when the first of them follows it, nothing can lie between, so no statement is needed to
    /// prove it.
    fn committed(&mut self, events: Vec<RecordedEvent>) -> bool {
        let before = self.safe;
        for e in events {
            if e.global_position > self.safe && self.own_ahead.len() < OWN_AHEAD_EVENTS_MAX {
                self.kept_bytes += kept_bytes(&e);
                if let Some(old) = self.own_ahead.insert(e.global_position, e) {
                    self.kept_bytes -= kept_bytes(&old);
                }
            }
        }
        self.settle();
        self.safe > before
    }

    /// Moves `safe` over this store's own events that follow it (into `recent`), forgets what
    /// lies at or below it, and keeps within `OWN_RECENT_EVENTS_MAX` and `OWN_KEPT_BYTES_MAX`.
    fn settle(&mut self) {
        if self
            .recent
            .back()
            .is_some_and(|e| e.global_position != self.safe)
        {
            // A statement moved `safe` past what this store's commits settled.
            self.kept_bytes -= self.recent.drain(..).map(|e| kept_bytes(&e)).sum::<usize>();
        }
        while let Some(entry) = self.own_ahead.first_entry() {
            if *entry.key() > self.safe + 1 {
                break;
            }
            let e = entry.remove();
            if e.global_position == self.safe + 1 {
                self.safe = e.global_position;
                self.recent.push_back(e);
            } else {
                self.kept_bytes -= kept_bytes(&e);
            }
        }
        while self.recent.len() > OWN_RECENT_EVENTS_MAX
            || (self.kept_bytes > OWN_KEPT_BYTES_MAX && !self.recent.is_empty())
        {
            let e = self.recent.pop_front().expect("not empty");
            self.kept_bytes -= kept_bytes(&e);
        }
        if self.kept_bytes > OWN_KEPT_BYTES_MAX {
            self.own_ahead.clear();
            self.kept_bytes = 0;
        }
        let safe = self.safe;
        self.pending.retain(|o| o.last_position > safe);
    }

    /// The events after `after` that `query` admits, at most `limit`, when `recent` holds the
    /// whole log from `after` up to `safe`.
    fn recent_after(
        &self,
        query: &ReadAll,
        after: u64,
        limit: usize,
    ) -> Option<Vec<RecordedEvent>> {
        // Positions in `recent` follow each other: the first after `after` is found by counting.
        let first = self.recent.front()?.global_position;
        if first > after + 1 {
            return None;
        }
        Some(
            self.recent
                .iter()
                .skip((after + 1 - first) as usize)
                .filter(|e| query.admits(e))
                .take(limit)
                .cloned()
                .collect(),
        )
    }

    /// Whether a woken reader may take `safe` for the head without a statement: nothing waits
    /// for its proof, none of this store's own events waits above it, no other writer announced
    /// an append (`announced` counts them) since the last statement was sent, and that statement
    /// is less than `FRONTIER_TRUST_MS` old.
    fn trusted(&self, announced: u64) -> bool {
        self.pending.is_empty()
            && self.own_ahead.is_empty()
            && self.announced_seen == announced
            && self
                .last_statement
                .is_some_and(|t| t.elapsed() < Duration::from_millis(FRONTIER_TRUST_MS))
    }

    /// Keeps `seen` waiting for its proof, unless it would prove nothing new.
    fn wait_for(&mut self, mut seen: Observation) {
        if seen.last_position <= self.safe
            || self
                .pending
                .iter()
                .any(|o| o.next_xid <= seen.next_xid && o.last_position >= seen.last_position)
        {
            return;
        }
        // An observation replaced by one that proves as much waits on in it, since its own time.
        self.pending.retain(|o| {
            let keep = o.next_xid < seen.next_xid || o.last_position > seen.last_position;
            if !keep {
                seen.waiting_since = seen.waiting_since.min(o.waiting_since);
            }
            keep
        });
        let at = self.pending.partition_point(|o| o.next_xid < seen.next_xid);
        self.pending.insert(at, seen);
        if self.pending.len() > OBSERVATIONS_PENDING_MAX {
            // Keep the oldest (proved first) and the newest (proving the most).
            let dropped = self.pending.remove(self.pending.len() - 2);
            let newest = self.pending.last_mut().expect("more than one observation");
            newest.waiting_since = newest.waiting_since.min(dropped.waiting_since);
        }
    }

    /// How long the oldest observation still waiting for its proof has waited.
    fn held_back(&self) -> Duration {
        self.pending
            .iter()
            .map(|o| o.waiting_since.elapsed())
            .max()
            .unwrap_or_default()
    }

    /// Whether a statement run now could read further than `bound`.
    fn may_pass(&self, bound: u64) -> bool {
        self.pending.last().is_some_and(|o| o.last_position > bound)
    }
}

/// Bytes of an event's data and metadata, as `Frontier` counts what it keeps.
fn kept_bytes(e: &RecordedEvent) -> usize {
    e.data.get().len() + e.metadata.get().len()
}

/// What the reads of the global log share with the prover task: the pool, the frontier, the local
/// wake-ups (ticked whenever the frontier moves), the signal that an observation waits, how many
/// appends other writers announced (or may have, while the listener was down), and how many
/// frontier statements ran.
#[derive(Clone)]
struct Reader {
    warm: Arc<Warm>,
    frontier: Arc<Mutex<Frontier>>,
    wake: Arc<watch::Sender<u64>>,
    waiting: Arc<Notify>,
    announced: Arc<AtomicU64>,
    statements: Arc<AtomicU64>,
}

pub struct PgStore {
    pool: PgPool,
    wake: Arc<watch::Sender<u64>>,
    notify_request: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
    heads: Mutex<HashMap<String, Head>>,
    /// This process's appends to one stream go one at a time (`turns`): none loses a race to
    /// another of this process, so none can be starved by them.
    turns: Turns,
    groups: Arc<Groups>,
    reader: Reader,
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
            .max_connections(PG_POOL_CONNECTIONS_MAX)
            .acquire_timeout(Duration::from_millis(PG_ACQUIRE_TIMEOUT_MS))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > Duration::from_millis(PG_PING_IDLE_MS) {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        let wake = Arc::new(watch::Sender::new(0u64));
        let notify_request = Arc::new(Notify::new());
        let mut listener = PgListener::connect_with(&pool).await?;
        listener.listen(CHANNEL).await?;
        let warm = Arc::new(Warm::new(pool.clone()));
        let reader = Reader {
            warm: warm.clone(),
            frontier: Arc::new(Mutex::new(Frontier::default())),
            wake: wake.clone(),
            waiting: Arc::new(Notify::new()),
            announced: Arc::new(AtomicU64::new(0)),
            statements: Arc::new(AtomicU64::new(0)),
        };
        let groups = Groups::new(warm);
        let me = Uuid::new_v4().to_string();
        let tasks = vec![
            tokio::spawn(listen(
                listener,
                wake.clone(),
                reader.announced.clone(),
                me.clone(),
            )),
            tokio::spawn(announce(pool.clone(), notify_request.clone(), me)),
            tokio::spawn(prove(reader.clone())),
        ];
        Ok(Self {
            pool,
            wake,
            notify_request,
            tasks,
            heads: Mutex::new(HashMap::new()),
            turns: Turns::default(),
            groups,
            reader,
        })
    }

    /// How many statements this store has run to prove how far the global log may be read: what
    /// reading at the head costs beyond the reads themselves.
    pub fn frontier_statements(&self) -> u64 {
        self.reader.statements.load(Ordering::Relaxed)
    }

    /// The connection pool, for tools that need plain SQL on the same database (the benchmark's
    /// baseline, projections that commit with their checkpoint).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    fn cached_head(&self, stream: &StreamId) -> Option<Head> {
        self.heads
            .lock()
            .expect("head cache")
            .get(stream.as_str())
            .cloned()
    }

    fn remember_head(&self, stream: &StreamId, head: Option<Head>) {
        let mut heads = self.heads.lock().expect("head cache");
        match head {
            Some(head) => {
                if heads.len() >= HEADS_CACHED_STREAMS_MAX {
                    heads.clear();
                }
                match heads.get_mut(stream.as_str()) {
                    Some(known) if known.version >= head.version => {}
                    Some(known) => *known = head,
                    None => {
                        heads.insert(stream.as_str().to_string(), head);
                    }
                }
            }
            None => {
                heads.remove(stream.as_str());
            }
        }
    }

    /// `EventStore::read_all`, and the wake-up value its own frontier move ticked, if it moved
    /// the frontier (`EventStore::read_all_woken`).
    async fn read_all_ticking(
        &self,
        query: &ReadAll,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
        let limit = query.page_size();
        // A woken reader follows the live log: what this store saw committed is what it holds.
        // Every other read (a check of the chains, an export, a page asked for) reads the database.
        let (safe, recent) = {
            let f = self.reader.frontier.lock().expect("frontier");
            let recent = (query.woken && f.safe > query.after)
                .then(|| f.recent_after(query, query.after, limit));
            (f.safe, recent.flatten())
        };
        let mut events = Vec::new();
        let mut after = query.after;
        if safe > after {
            // Below the proved frontier the log is complete: what this store's own commits
            // settled, in memory, else a plain range read.
            events = match recent {
                Some(recent) => recent,
                None => self.read_range(query, after, safe, limit).await?,
            };
            if events.len() == limit || query.up_to_position.is_some_and(|p| p <= safe) {
                return Ok((events, None));
            }
            // Every event up to `safe` that the query admits is in `events`.
            after = safe;
        }
        let announced = self.reader.announced.load(Ordering::SeqCst);
        if query.woken
            && self
                .reader
                .frontier
                .lock()
                .expect("frontier")
                .trusted(announced)
        {
            // Nothing but this store's own appends, which settle the frontier themselves, can
            // have followed the last statement: no statement to look further.
            return Ok((events, None));
        }
        let remaining = limit - events.len();
        let (rest, ticked) = self
            .reader
            .with_frontier(
                |q| {
                    q.push(format!(
                        "SELECT {FRONTIER_COLUMNS}, e.* FROM frontier f \
                         LEFT JOIN LATERAL (SELECT {COLUMNS} FROM events WHERE"
                    ));
                    push_filters(q, query, after, u64::MAX, remaining);
                    q.push(") e ON true");
                },
                // The one row of an empty page carries only the frontier.
                |row| match row.try_get::<Option<i64>, _>(FRONTIER_WIDTH)? {
                    Some(_) => decode(row, FRONTIER_WIDTH).map(Some),
                    None => Ok(None),
                },
                |rows| !query.woken && rows.iter().flatten().count() < remaining,
            )
            .await?;
        let first_new = events.len();
        events.extend(rest.into_iter().flatten());
        if !events[first_new..]
            .windows(2)
            .all(|w| w[0].global_position < w[1].global_position)
        {
            events[first_new..].sort_unstable_by_key(|e| e.global_position);
        }
        Ok((events, ticked))
    }

    /// The events after `after` and up to `bound` that `query` admits, at most `limit`: a plain
    /// range read, for a range the frontier has proved complete.
    async fn read_range(
        &self,
        query: &ReadAll,
        after: u64,
        bound: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM events WHERE"));
        push_filters(&mut q, query, after, bound, limit);
        // A page sized once: growing it row by row moved every event read several times.
        let mut events = Vec::with_capacity(limit);
        let mut conn = self.reader.warm.take().await?;
        let mut rows = q
            .build()
            .try_map(|row: PgRow| decode(&row, 0).map_err(wrap_decode))
            .fetch(&mut *conn);
        while let Some(e) = rows.try_next().await.map_err(unwrap_decode)? {
            events.push(e);
        }
        drop(rows);
        self.reader.warm.give(conn);
        Ok(events)
    }

    /// Reads the stream's head and what is known of `ids`, fresh. Ends the append when the ids were
    /// appended before: all of them to this stream (the original outcome) or otherwise (a conflict).
    async fn lookup(
        &self,
        stream: &StreamId,
        ids: &[Uuid],
    ) -> Result<Result<Option<Head>, AppendOutcome>, StoreError> {
        let mut conn = self.reader.warm.take().await?;
        let row = sqlx::query(LOOKUP)
            .bind(stream.as_str())
            .bind(ids)
            .fetch_one(&mut *conn)
            .await?;
        self.reader.warm.give(conn);
        let known: i64 = row.try_get(2)?;
        if known > 0 {
            let elsewhere: i64 = row.try_get(3)?;
            if known as usize != ids.len() || elsewhere > 0 {
                return Err(StoreError::EventIdConflict {
                    stream: stream.clone(),
                });
            }
            return Ok(Err(AppendOutcome {
                stream_version: non_negative(row.try_get(4)?, 0, "version")?,
                first_position: non_negative(row.try_get(5)?, 0, "position")?,
                last_position: non_negative(row.try_get(6)?, 0, "position")?,
                duplicate: true,
            }));
        }
        let version: Option<i64> = row.try_get(0)?;
        let head = match version {
            Some(v) => Some(Head {
                version: non_negative(v, 0, "version")?,
                hash: row.try_get(1)?,
            }),
            None => None,
        };
        self.remember_head(stream, head.clone());
        Ok(Ok(head))
    }

    /// One INSERT of `events` after `head`; a single event's may be one row of a group's INSERT
    /// (`pg_group`) when `may_group`. The events as committed, or None when the stream had moved
    /// past `head` (or a unique constraint refused a row): nothing was written.
    async fn insert(
        &self,
        stream: &StreamId,
        head: Option<&Head>,
        events: &[NewEvent],
        keys: &[EventKey],
        recorded_at: DateTime<Utc>,
        may_group: bool,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let first_version = head.map_or(0, |h| h.version + 1);
        let hashes = chain(stream, head, events, recorded_at);
        if let ([event], true) = (events, may_group) {
            let entry = self.groups.enter(|| pg_group::Row {
                stream: stream.as_str().to_string(),
                category: stream.category().to_string(),
                after: first_version as i64 - 1,
                event_id: event.event_id,
                event_type: event.event_type.clone(),
                schema_version: event.schema_version as i32,
                data: event.data.get().to_string(),
                metadata: event.metadata.get().to_string(),
                recorded_at,
                hash: hashes[0].clone(),
                keys: keys.to_vec(),
            });
            let answer = match entry {
                Entry::Queued(answer) => answer,
                Entry::Alone(slot) => {
                    // The slot is held until the statement ends (or the append is dropped).
                    let alone = self
                        .insert_alone(stream, first_version, events, keys, recorded_at, hashes)
                        .await;
                    drop(slot);
                    return alone;
                }
            };
            let position = match answer.await.unwrap_or(Grouped::Alone) {
                Grouped::Written(position) => position,
                Grouped::Refused => return Ok(None),
                Grouped::Alone => {
                    return self
                        .insert_alone(stream, first_version, events, keys, recorded_at, hashes)
                        .await
                }
            };
            return recorded(
                stream,
                first_version,
                events,
                &[position],
                recorded_at,
                hashes,
            )
            .map(Some);
        }
        self.insert_alone(stream, first_version, events, keys, recorded_at, hashes)
            .await
    }

    /// `insert` in a statement of its own, with the hashes chained.
    async fn insert_alone(
        &self,
        stream: &StreamId,
        first_version: u64,
        events: &[NewEvent],
        keys: &[EventKey],
        recorded_at: DateTime<Utc>,
        hashes: Vec<String>,
    ) -> Result<Option<Vec<RecordedEvent>>, StoreError> {
        let sql = insert_sql(events.len() == 1, first_version == 0, !keys.is_empty());
        let query = sqlx::query_as::<_, (i64,)>(sql)
            .bind(stream.as_str())
            .bind(stream.category())
            .bind(first_version as i64 - 1)
            .bind(recorded_at);
        let query = match events {
            // One event: plain parameters.
            [e] => query
                .bind(e.event_id)
                .bind(e.event_type.as_str())
                .bind(e.schema_version as i32)
                .bind(e.data.get())
                .bind(e.metadata.get())
                .bind(&hashes[0]),
            _ => query
                .bind(events.iter().map(|e| e.event_id).collect::<Vec<_>>())
                .bind(
                    events
                        .iter()
                        .map(|e| e.event_type.as_str())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    events
                        .iter()
                        .map(|e| e.schema_version as i32)
                        .collect::<Vec<_>>(),
                )
                .bind(events.iter().map(|e| e.data.get()).collect::<Vec<_>>())
                .bind(events.iter().map(|e| e.metadata.get()).collect::<Vec<_>>())
                .bind(&hashes),
        };
        // The keys' arrays only for the statement with their CTE.
        let query = match keys {
            [] => query,
            _ => keys::pg_bind_keys(query, keys),
        };
        let mut conn = self.reader.warm.take().await?;
        let result = query
            .fetch_all(&mut *conn)
            .await
            .map(|rows| rows.into_iter().map(|(p,)| p).collect::<Vec<i64>>());
        if result.is_ok() {
            self.reader.warm.give(conn);
        }
        let positions = match result {
            Ok(positions) => positions,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if positions.len() != events.len() {
            return Ok(None);
        }
        recorded(
            stream,
            first_version,
            events,
            &positions,
            recorded_at,
            hashes,
        )
        .map(Some)
    }
}

/// `events` as the INSERT wrote them, at `positions` from `first_version`, with their hashes: as a
/// read of the log gives them back (the JSON columns keep their text as it was sent).
fn recorded(
    stream: &StreamId,
    first_version: u64,
    events: &[NewEvent],
    positions: &[i64],
    recorded_at: DateTime<Utc>,
    hashes: Vec<String>,
) -> Result<Vec<RecordedEvent>, StoreError> {
    events
        .iter()
        .zip(positions)
        .zip(hashes)
        .enumerate()
        .map(|(i, ((e, &position), hash))| {
            Ok(RecordedEvent {
                event_id: e.event_id,
                stream_id: stream.clone(),
                stream_version: first_version + i as u64,
                global_position: non_negative(position, 0, "position")?,
                event_type: e.event_type.clone(),
                schema_version: e.schema_version,
                data: e.data.clone(),
                metadata: e.metadata.clone(),
                recorded_at,
                hash,
            })
        })
        .collect()
}

/// The hashes of `events` chained after `head`.
fn chain(
    stream: &StreamId,
    head: Option<&Head>,
    events: &[NewEvent],
    recorded_at: DateTime<Utc>,
) -> Vec<String> {
    let micros = recorded_at.timestamp_micros();
    let first_version = head.map_or(0, |h| h.version + 1);
    let mut previous = head.map_or(GENESIS_HASH, |h| h.hash.as_str()).to_string();
    let mut hashes = Vec::with_capacity(events.len());
    for (i, e) in events.iter().enumerate() {
        previous = chain_hash(
            &previous,
            e.event_id,
            stream.as_str(),
            first_version + i as u64,
            &e.event_type,
            e.schema_version,
            micros,
            e.data.get(),
            e.metadata.get(),
        );
        hashes.push(previous.clone());
    }
    hashes
}

impl Reader {
    /// Runs a statement that starts with the frontier CTE (`frontier`: `last_position`, `next_xid`,
    /// `horizon`, `bound`, the first four columns of every row; `decode` reads each row's other
    /// columns), once more when the first run could not prove the log up to what it observed and
    /// `again` says the caller wants more. Also the wake-up value its own frontier move ticked,
    /// if it moved the frontier.
    async fn with_frontier<T: Send + Unpin>(
        &self,
        build: impl Fn(&mut QueryBuilder<'_, Postgres>),
        decode: impl Fn(&PgRow) -> Result<T, StoreError> + Send + Sync,
        again: impl Fn(&[T]) -> bool,
    ) -> Result<(Vec<T>, Option<u64>), StoreError> {
        let mut attempt = 0;
        let mut ticked = None;
        // Whether the first run's xmin fell short of its own observation: the second run then
        // asks for the appenders, rather than wait for another statement to find the xmin stuck.
        let mut short = false;
        loop {
            let (pending_xids, pending_positions, safe, lagging) =
                self.frontier.lock().expect("frontier").params();
            let lagging = lagging || short;
            let announced = self.announced.load(Ordering::SeqCst);
            let sent = Instant::now();
            let needed = pending_xids.iter().copied().max().unwrap_or(0);
            // While the snapshots' xmin lags behind what waits, ask first which transactions may
            // be this store's appenders (migration 0005): the statement then waits only for them.
            let mut conn = self.warm.take().await?;
            let appenders: Option<Vec<i64>> = if lagging {
                Some(
                    sqlx::query_scalar("SELECT nic_appenders()")
                        .fetch_one(&mut *conn)
                        .await?,
                )
            } else {
                None
            };
            // The horizon: the snapshot's xmin when that proves every waiting observation (or no
            // appenders were asked for), else the least of those appenders still running in the
            // snapshot (the greatest id when none is). The bound: the safe position, or further, to the
            // last position of each waiting observation that the horizon proves.
            let mut q: QueryBuilder<Postgres> = QueryBuilder::new(
                "WITH observed AS MATERIALIZED (SELECT last_position, next_xid FROM nic_read_frontier()), \
                 snap AS MATERIALIZED (SELECT pg_snapshot_xmin(c)::text::bigint AS xmin, \
                     pg_snapshot_xmax(c)::text::bigint AS xmax, \
                     ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(c) AS x) AS running \
                     FROM pg_current_snapshot() AS c), \
                 horizon AS MATERIALIZED (SELECT s.xmin, CASE WHEN ",
            );
            q.push_bind(needed)
                .push("::int8 <= s.xmin OR ")
                .push_bind(appenders.clone())
                .push("::int8[] IS NULL THEN s.xmin ELSE coalesce((SELECT min(a.xid) FROM unnest(")
                .push_bind(appenders)
                .push(
                    "::int8[]) AS a(xid) WHERE a.xid = ANY (s.running) OR a.xid >= s.xmax), \
                     9223372036854775807) END \
                     AS horizon FROM snap s), \
                     frontier AS MATERIALIZED (SELECT o.last_position, o.next_xid, h.xmin, \
                     h.horizon, greatest(",
                );
            q.push_bind(safe)
                .push(", (SELECT max(p.last_position) FROM unnest(")
                .push_bind(pending_xids)
                .push("::int8[], ")
                .push_bind(pending_positions)
                .push(
                    "::int8[]) AS p(next_xid, last_position) WHERE p.next_xid <= h.horizon)) \
                     AS bound FROM observed o, horizon h) ",
                );
            build(&mut q);
            self.statements.fetch_add(1, Ordering::Relaxed);
            let rows: Vec<(FrontierRow, T)> = q
                .build()
                .try_map(|row: PgRow| {
                    let frontier = (
                        row.try_get(0)?,
                        row.try_get(1)?,
                        row.try_get(2)?,
                        row.try_get(3)?,
                        row.try_get(4)?,
                    );
                    Ok((frontier, decode(&row).map_err(wrap_decode)?))
                })
                .fetch_all(&mut *conn)
                .await
                .map_err(unwrap_decode)?;
            self.warm.give(conn);
            let &((last_position, next_xid, xmin, horizon, bound), _) = rows
                .first()
                .ok_or(StoreError::Database(sqlx::Error::RowNotFound))?;
            let seen = Observation::new(non_negative(last_position, 0, "position")?, next_xid);
            let bound = non_negative(bound, 0, "position")?;
            let (more, moved, waiting) = {
                let mut frontier = self.frontier.lock().expect("frontier");
                frontier.announced_seen = frontier.announced_seen.max(announced);
                let moved = frontier.advance(xmin, horizon, bound, seen, sent);
                (
                    frontier.may_pass(bound),
                    moved,
                    !frontier.pending.is_empty(),
                )
            };
            if moved {
                // Other readers may now read further.
                self.wake.send_modify(|n| {
                    *n = n.wrapping_add(1);
                    ticked = Some(*n);
                });
            }
            if waiting {
                self.waiting.notify_one();
            }
            let result: Vec<T> = rows.into_iter().map(|(_, t)| t).collect();
            short = xmin < next_xid;
            attempt += 1;
            if attempt >= 2 || !more || !again(&result) {
                return Ok((result, ticked));
            }
        }
    }
}

/// While an observation waits for its proof, runs the frontier statement again once
/// `FRONTIER_RECHECK_MS` has passed without one, so that readers need not wait for the next append
/// or poll to read what was held back only for its proof (the frontier moving ticks the local
/// subscribers). While the frontier stays stuck, the delay grows to an eighth of how long it has
/// been stuck, at most `FRONTIER_RECHECK_MAX_MS`.
async fn prove(reader: Reader) {
    let first = Duration::from_millis(FRONTIER_RECHECK_MS);
    let most = Duration::from_millis(FRONTIER_RECHECK_MAX_MS);
    loop {
        reader.waiting.notified().await;
        let mut stuck = (
            Instant::now(),
            reader.frontier.lock().expect("frontier").safe,
        );
        loop {
            let (waiting, last, safe) = {
                let f = reader.frontier.lock().expect("frontier");
                (!f.pending.is_empty(), f.last_statement, f.safe)
            };
            if !waiting {
                break;
            }
            if safe > stuck.1 {
                stuck = (Instant::now(), safe);
            }
            let delay = (stuck.0.elapsed() / 8).clamp(first, most);
            // Any statement (a reader's too) counts: run one `delay` after the last.
            if let Some(due) = last.map(|t| t + delay).filter(|due| *due > Instant::now()) {
                tokio::time::sleep_until(due.into()).await;
                continue;
            }
            if let Err(e) = reader
                .with_frontier(
                    |q| {
                        q.push(format!("SELECT {FRONTIER_COLUMNS} FROM frontier f"));
                    },
                    |_| Ok(()),
                    |_| false,
                )
                .await
            {
                tracing::warn!(error = %e, "could not prove the read frontier; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_AFTER_ERROR_MS)).await;
            }
        }
    }
}

/// Counts in `announced` and ticks `wake` on every notification but this store's own (`me`: its
/// appends tick `wake` themselves), and on every failure, since one may have been missed. `recv`
/// reconnects by itself after a lost connection; the notifications missed meanwhile are covered by
/// the subscribers' poll.
async fn listen(
    mut listener: PgListener,
    wake: Arc<watch::Sender<u64>>,
    announced: Arc<AtomicU64>,
    me: String,
) {
    loop {
        match listener.recv().await {
            Ok(n) if n.payload() == me => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "event notification listener failed; retrying");
                tokio::time::sleep(Duration::from_millis(RETRY_AFTER_ERROR_MS)).await;
            }
        }
        announced.fetch_add(1, Ordering::SeqCst);
        wake.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Announces appends: the first at once, then at most one NOTIFY per `NOTIFY_COALESCE_MS` for all
/// the appends requested meanwhile. The payload names the store (`me`), whose listener skips it.
async fn announce(pool: PgPool, requests: Arc<Notify>, me: String) {
    loop {
        requests.notified().await;
        if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&me)
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "could not announce appended events");
        }
        tokio::time::sleep(Duration::from_millis(NOTIFY_COALESCE_MS)).await;
    }
}

/// Decodes the `COLUMNS` of an event, starting at column `at`.
fn decode(row: &PgRow, at: usize) -> Result<RecordedEvent, StoreError> {
    let position = non_negative(row.try_get(at)?, 0, "position")?;
    let corrupt = |reason: String| StoreError::Corrupt { position, reason };
    let stream: String = row.try_get(at + 2)?;
    Ok(RecordedEvent {
        event_id: row.try_get::<Uuid, _>(at + 1)?,
        stream_id: StreamId::parse(stream).map_err(|e| corrupt(e.to_string()))?,
        stream_version: non_negative(row.try_get(at + 3)?, position, "version")?,
        global_position: position,
        event_type: row.try_get(at + 4)?,
        schema_version: u32::try_from(row.try_get::<i32, _>(at + 5)?)
            .map_err(|e| corrupt(e.to_string()))?,
        data: EventData::stored(row.try_get(at + 6)?),
        metadata: EventData::stored(row.try_get(at + 7)?),
        recorded_at: row.try_get::<DateTime<Utc>, _>(at + 8)?,
        hash: row.try_get(at + 9)?,
    })
}

fn satisfies(expected: ExpectedVersion, head: Option<&Head>) -> bool {
    match expected {
        ExpectedVersion::Any => true,
        ExpectedVersion::NoStream => head.is_none(),
        ExpectedVersion::StreamExists => head.is_some(),
        ExpectedVersion::Exact(v) => head.is_some_and(|h| h.version == v),
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

    async fn append_keyed(
        &self,
        stream: &StreamId,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
        keys: Vec<EventKey>,
    ) -> Result<AppendOutcome, StoreError> {
        check_append(&events)?;
        let _turn = self.turns.take(stream).await;
        let recorded_at = now_micros();
        let ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
        // The head the chain continues from, and whether it was read fresh for this append. A
        // remembered head may be stale; the INSERT then writes nothing and the head is read.
        let (mut head, mut fresh) = match self.cached_head(stream) {
            Some(head) => (Some(head), false),
            None if expected == ExpectedVersion::NoStream => (None, false),
            None => match self.lookup(stream, &ids).await? {
                Ok(head) => (head, true),
                Err(original) => return Ok(original),
            },
        };
        for attempt in 0..APPEND_ATTEMPTS_MAX {
            if !satisfies(expected, head.as_ref()) {
                if fresh {
                    // The version is checked before any position is spent.
                    return Err(StoreError::WrongExpectedVersion {
                        stream: stream.clone(),
                        expected,
                        actual: head.map(|h| h.version),
                    });
                }
            } else if let Some(written) = self
                .insert(
                    stream,
                    head.as_ref(),
                    &events,
                    &keys,
                    recorded_at,
                    attempt == 0,
                )
                .await?
            {
                let (first, last) = (&written[0], &written[written.len() - 1]);
                let outcome = AppendOutcome {
                    stream_version: last.stream_version,
                    first_position: first.global_position,
                    last_position: last.global_position,
                    duplicate: false,
                };
                self.remember_head(
                    stream,
                    Some(Head {
                        version: last.stream_version,
                        hash: last.hash.clone(),
                    }),
                );
                self.reader
                    .frontier
                    .lock()
                    .expect("frontier")
                    .committed(written);
                self.wake.send_modify(|n| *n = n.wrapping_add(1));
                self.notify_request.notify_one();
                return Ok(outcome);
            }
            // The head was not the one expected (or a unique constraint refused a row): a retry of
            // an earlier append, a conflict, or a head that moved.
            match self.lookup(stream, &ids).await? {
                Ok(h) => (head, fresh) = (h, true),
                Err(original) => return Ok(original),
            }
        }
        Err(StoreError::WrongExpectedVersion {
            stream: stream.clone(),
            expected,
            actual: head.map(|h| h.version),
        })
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
        sqlx::query(&sql)
            .bind(stream.as_str())
            .bind(from_version as i64)
            .bind(page_limit(limit))
            .try_map(|row: PgRow| decode(&row, 0).map_err(wrap_decode))
            .fetch_all(&self.pool)
            .await
            .map_err(unwrap_decode)
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
        Ok(self.read_all_ticking(query).await?.0)
    }

    async fn read_all_woken(
        &self,
        query: &ReadAll,
    ) -> Result<(Vec<RecordedEvent>, Option<u64>), StoreError> {
        self.read_all_ticking(query).await
    }

    async fn read_positions(&self, positions: &[u64]) -> Result<Vec<RecordedEvent>, StoreError> {
        let positions: Vec<i64> = positions
            .iter()
            .take(READ_PAGE_EVENTS_MAX)
            .map(|&p| p as i64)
            .collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM events WHERE global_position = ANY($1) \
             ORDER BY global_position"
        );
        sqlx::query(&sql)
            .bind(positions)
            .try_map(|row: PgRow| decode(&row, 0).map_err(wrap_decode))
            .fetch_all(&self.pool)
            .await
            .map_err(unwrap_decode)
    }

    async fn head_position(&self) -> Result<u64, StoreError> {
        self.reader
            .with_frontier(
                |q| {
                    q.push(format!(
                        "SELECT {FRONTIER_COLUMNS}, \
                         (SELECT coalesce(max(global_position), 0) FROM events \
                          WHERE global_position <= f.bound) FROM frontier f"
                    ));
                },
                |row| non_negative(row.try_get(FRONTIER_WIDTH)?, 0, "position"),
                |_| true,
            )
            .await
            .map(|(heads, _)| heads.into_iter().max().unwrap_or_default())
    }

    async fn committed_head(&self) -> Result<u64, StoreError> {
        let v: i64 = sqlx::query_scalar("SELECT coalesce(max(global_position), 0) FROM events")
            .fetch_one(&self.pool)
            .await?;
        non_negative(v, 0, "position")
    }

    async fn position_at(&self, time: DateTime<Utc>) -> Result<u64, StoreError> {
        self.reader
            .with_frontier(
                |q| {
                    q.push(format!(
                        "SELECT {FRONTIER_COLUMNS}, \
                         (SELECT coalesce(max(global_position), 0) FROM events \
                          WHERE global_position <= f.bound AND recorded_at <= "
                    ))
                    .push_bind(time)
                    .push(") FROM frontier f");
                },
                |row| non_negative(row.try_get(FRONTIER_WIDTH)?, 0, "position"),
                |_| true,
            )
            .await
            .map(|(heads, _)| heads.into_iter().max().unwrap_or_default())
    }

    fn read_held_back(&self) -> Duration {
        self.reader.frontier.lock().expect("frontier").held_back()
    }

    fn wakeups(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    async fn read_keys(&self, ids: &[Uuid]) -> Result<Vec<FieldKey>, StoreError> {
        keys::pg_read(&self.pool, ids).await
    }

    async fn find_keys(&self, subject: &KeySubject) -> Result<Vec<FieldKey>, StoreError> {
        keys::pg_find(&self.pool, subject).await
    }

    async fn destroy_keys(
        &self,
        ids: &[Uuid],
        replacements: &[(Uuid, String)],
    ) -> Result<u64, StoreError> {
        keys::pg_destroy(&self.pool, ids, replacements).await
    }

    async fn put_keys(&self, keys: &[FieldKey]) -> Result<u64, StoreError> {
        keys::pg_put(&self.pool, keys).await
    }

    async fn keys_page(
        &self,
        after: Option<Uuid>,
        limit: usize,
    ) -> Result<Vec<FieldKey>, StoreError> {
        keys::pg_page(&self.pool, after, limit).await
    }
}

/// The WHERE conditions, ORDER BY and LIMIT of a read of the global log after `after`, up to `bound`
/// (`f.bound`, the frontier, when `bound` is `u64::MAX`).
fn push_filters(
    q: &mut QueryBuilder<'_, Postgres>,
    query: &ReadAll,
    after: u64,
    bound: u64,
    limit: usize,
) {
    // `global_position + 0`: the upper bound is a filter, not a second index bound, whose default
    // estimate (a narrow range) would make the planner sort the whole range rather than walk the
    // primary key in order.
    q.push(" global_position > ").push_bind(after as i64);
    if bound == u64::MAX {
        q.push(" AND global_position + 0 <= f.bound");
    } else {
        q.push(" AND global_position + 0 <= ")
            .push_bind(bound as i64);
    }
    if !query.categories.is_empty() {
        q.push(" AND category = ANY(")
            .push_bind(query.categories.clone())
            .push(")");
    }
    if !query.event_types.is_empty() {
        q.push(" AND event_type = ANY(")
            .push_bind(query.event_types.clone())
            .push(")");
    }
    if let Some(p) = query.up_to_position {
        q.push(" AND global_position + 0 <= ").push_bind(p as i64);
    }
    if let Some(t) = query.up_to_time {
        q.push(" AND recorded_at <= ").push_bind(t);
    }
    q.push(" ORDER BY global_position LIMIT ")
        .push_bind(limit as i64);
}

/// Wraps a `StoreError` raised while decoding a row, for sqlx's row mapping.
fn wrap_decode(e: StoreError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// Gives back a `StoreError` that a row decoder had to wrap as a `sqlx::Error`.
fn unwrap_decode(e: sqlx::Error) -> StoreError {
    match e {
        sqlx::Error::Decode(inner) => match inner.downcast::<StoreError>() {
            Ok(store) => *store,
            Err(other) => StoreError::Database(sqlx::Error::Decode(other)),
        },
        other => StoreError::Database(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(last_position: u64, next_xid: i64) -> Observation {
        Observation::new(last_position, next_xid)
    }

    /// When a statement is sent that may prove every observation made so far.
    fn now() -> Instant {
        Instant::now()
    }

    #[test]
    fn each_waiting_observation_is_proved_by_its_own_transactions_ending() {
        let mut f = Frontier::default();
        // Nothing proved yet: observations wait, oldest first.
        assert!(!f.advance(90, 90, 0, seen(10, 100), now()));
        assert!(!f.advance(95, 95, 0, seen(20, 110), now()));
        assert!(!f.advance(99, 99, 0, seen(30, 120), now()));
        assert_eq!(f.pending.len(), 3);
        assert!(f.may_pass(0));
        assert!(
            f.params().3,
            "xmin 99 fell short of what waits: ask for the appenders"
        );
        // A snapshot whose xmin passes the second observation's transaction id proves the first
        // two, not the third: each proof waits only for the transactions before its own.
        assert!(f.advance(110, 110, 0, seen(30, 125), now()));
        assert_eq!(f.safe, 20);
        assert_eq!(
            f.pending
                .iter()
                .map(|o| (o.last_position, o.next_xid))
                .collect::<Vec<_>>(),
            vec![(30, 120)],
            "the later observation of the same position is dominated by the earlier one"
        );
        // The bound a statement proved itself counts as well.
        assert!(f.advance(111, 111, 30, seen(30, 126), now()));
        assert_eq!(f.safe, 30);
        assert!(f.pending.is_empty());
        assert!(!f.may_pass(30));
        assert!(!f.params().3, "nothing waits: the xmin serves");
    }

    #[test]
    fn a_horizon_proves_only_what_was_observed_before_its_statement_was_sent() {
        let mut f = Frontier::default();
        let sent = now();
        std::thread::sleep(std::time::Duration::from_millis(2));
        // A statement sent later returned first and left its observation waiting.
        f.advance(0, 0, 0, seen(20, 110), now());
        assert_eq!(f.pending.len(), 1);
        // The earlier statement's horizon passes that transaction id but may not prove it: an
        // appender that took its lock after the statement looked may have taken a position since.
        assert!(!f.advance(0, 120, 0, seen(20, 121), sent));
        assert_eq!(f.safe, 0);
        assert_eq!(f.pending.len(), 1);
        // A statement sent after the observation was made proves it.
        assert!(f.advance(0, 120, 0, seen(20, 122), now()));
        assert_eq!(f.safe, 20);
    }

    #[test]
    fn the_waiting_observations_are_bounded_and_keep_the_oldest_and_newest() {
        let mut f = Frontier::default();
        for i in 0..(OBSERVATIONS_PENDING_MAX as u64 + 10) {
            f.advance(0, 0, 0, seen(10 + i, 100 + i as i64), now());
        }
        assert_eq!(f.pending.len(), OBSERVATIONS_PENDING_MAX);
        assert_eq!(f.pending[0].last_position, 10);
        assert_eq!(
            f.pending.last().unwrap().last_position,
            10 + OBSERVATIONS_PENDING_MAX as u64 + 9
        );
        assert!(f
            .pending
            .windows(2)
            .all(|w| w[0].next_xid < w[1].next_xid && w[0].last_position < w[1].last_position));
        // Observations from statements that ran side by side may arrive out of order.
        let mut f = Frontier::default();
        f.advance(0, 0, 0, seen(20, 110), now());
        f.advance(0, 0, 0, seen(15, 105), now());
        f.advance(0, 0, 0, seen(25, 105), now());
        assert_eq!(
            f.pending
                .iter()
                .map(|o| (o.last_position, o.next_xid))
                .collect::<Vec<_>>(),
            vec![(25, 105)]
        );
        // An observation at or below the safe position waits for nothing.
        let mut f = Frontier {
            safe: 40,
            ..Frontier::default()
        };
        f.advance(0, 0, 0, seen(40, 200), now());
        assert!(f.pending.is_empty());
    }

    /// This store's own event at `position`, as committed.
    fn own(position: u64) -> RecordedEvent {
        RecordedEvent {
            event_id: Uuid::now_v7(),
            stream_id: StreamId::parse(format!("pdsa-{position}")).unwrap(),
            stream_version: 0,
            global_position: position,
            event_type: "test_happened".into(),
            schema_version: 1,
            data: EventData::stored(format!("{{\"n\":{position}}}")),
            metadata: EventData::stored("{}".into()),
            recorded_at: now_micros(),
            hash: String::new(),
        }
    }

    fn positions(events: &[RecordedEvent]) -> Vec<u64> {
        events.iter().map(|e| e.global_position).collect()
    }

    #[test]
    fn the_store_s_own_commits_settle_the_log_only_where_nothing_can_lie_between() {
        let mut f = Frontier {
            safe: 10,
            ..Frontier::default()
        };
        let all = ReadAll::after(0, 100);
        // Right after the safe position: settled at once, and readable from memory.
        assert!(f.committed(vec![own(11), own(12)]));
        assert_eq!(f.safe, 12);
        assert_eq!(positions(&f.recent_after(&all, 10, 100).unwrap()), [11, 12]);
        assert_eq!(positions(&f.recent_after(&all, 11, 100).unwrap()), [12]);
        assert!(f.recent_after(&all, 12, 100).unwrap().is_empty());
        assert!(
            f.recent_after(&all, 9, 100).is_none(),
            "position 10 is not in memory"
        );
        // A gap (another writer's position, or one a failed append spent): nothing moves, and
        // the event waits, so that a woken reader asks the database.
        assert!(!f.committed(vec![own(14)]));
        assert_eq!(f.safe, 12);
        assert!(!f.trusted(0));
        // Another store's committed appends at 13 are proved by a statement: the own event
        // right after it then settles too.
        f.announced_seen = 1;
        assert!(f.advance(0, 0, 13, seen(14, 100), now()));
        assert_eq!(f.safe, 14);
        assert!(f.own_ahead.is_empty() && f.pending.is_empty());
        assert!(
            f.recent_after(&all, 12, 100).is_none(),
            "13 is not in memory: read from the database"
        );
        assert_eq!(positions(&f.recent_after(&all, 13, 100).unwrap()), [14]);
        // Trusted only while no other writer announced an append since the last statement.
        assert!(f.trusted(1));
        assert!(!f.trusted(2));
        // Own events at or below the safe position change nothing.
        assert!(!f.committed(vec![own(14)]));
        assert_eq!(f.recent.len(), 1);
        // A read's filters and limit apply in memory as in the database.
        f.committed((15..40).map(own).collect());
        assert_eq!(f.safe, 39);
        assert_eq!(
            positions(&f.recent_after(&all, 20, 3).unwrap()),
            [21, 22, 23]
        );
        let up_to = ReadAll {
            up_to_position: Some(16),
            ..all.clone()
        };
        assert_eq!(
            positions(&f.recent_after(&up_to, 13, 100).unwrap()),
            [14, 15, 16]
        );
        let other = ReadAll {
            categories: vec!["measure".into()],
            ..all.clone()
        };
        assert!(f.recent_after(&other, 13, 100).unwrap().is_empty());
    }

    #[test]
    fn the_own_events_kept_in_memory_are_bounded() {
        let mut f = Frontier::default();
        let n = OWN_RECENT_EVENTS_MAX as u64 + 50;
        f.committed((1..=n).map(own).collect());
        assert_eq!(f.safe, n);
        assert_eq!(f.recent.len(), OWN_RECENT_EVENTS_MAX);
        assert_eq!(f.recent.back().unwrap().global_position, n);
        let all = ReadAll::after(0, 100);
        assert!(f.recent_after(&all, 10, 100).is_none());
        // Events waiting above a gap are bounded too.
        f.committed(
            (n + 2..n + 2 + OWN_AHEAD_EVENTS_MAX as u64 + 10)
                .map(own)
                .collect(),
        );
        assert_eq!(f.own_ahead.len(), OWN_AHEAD_EVENTS_MAX);
        // And so are the bytes.
        let mut f = Frontier::default();
        let big = |position| RecordedEvent {
            data: EventData::stored(format!(
                "{{\"text\":\"{}\"}}",
                "x".repeat(OWN_KEPT_BYTES_MAX / 10)
            )),
            ..own(position)
        };
        f.committed((1..=20).map(big).collect());
        assert_eq!(f.safe, 20);
        assert!(f.kept_bytes <= OWN_KEPT_BYTES_MAX);
        assert_eq!(f.recent.len(), 9);
        // Above a gap, then moved past by a statement: the count of bytes follows.
        f.committed((22..=25).map(big).collect());
        assert!(f.advance(0, 0, 23, seen(23, 100), now()));
        assert_eq!(f.safe, 25);
        assert_eq!(
            f.recent.len(),
            2,
            "24 and 25, settled after the statement's 23"
        );
        let counted: usize = f.own_ahead.values().chain(&f.recent).map(kept_bytes).sum();
        assert_eq!(f.kept_bytes, counted);
    }
}
