//! The read models of `nic-projections`, kept live and served: the driver diagram (with Mermaid
//! and DOT exports and diffs), the learning timeline, run charts (with CSV), PDSA boards and
//! portfolios, and the projections' progress through the log.
//!
//! `Projections` holds all five read models over one base (`nic_projections::ReadModels`, with the
//! network index) in one struct behind one lock, with the position of the last event they
//! consumed. One background task (`follow`, owned by `main`) follows the log with a
//! `nic_store::Subscription` from position 0 and applies each event to all of them at once, so
//! they are always at the same position. A read asks the live state, once the projections have
//! applied every event that was in the log when the read arrived (waiting at most
//! `LIVE_READ_WAIT_MS`; the view's `position` says how far it got), so a client reads its own
//! writes. A read with
//! `?as_of=POSITION` or `?as_of=RFC3339-TIME` folds the log from the store up to that point
//! instead (at most `AS_OF_FOLDS_MAX` such folds at a time), so history never depends on what
//! the live state happens to hold. A read about one network (its diagram, timeline, a measure's
//! chart, a program's board or portfolio) folds only that network's events, which the live
//! network index lists by position (`EventStore::read_positions`), once the live state has passed
//! the point asked for; its `position` is then the point asked for.
//!
//! Across processes (`runner`): the projections are checkpointed in the database (each one's state
//! and the position it reached, committed together). The one process holding the lease
//! `projections` applies the log and saves the checkpoints; every other process loads the latest
//! checkpoint at start and follows the log in memory without writing, and reloads when a rebuild
//! saves a new generation.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::CatalogError;
use nic_projections::driver_diagram::{self, Diagrams};
use nic_projections::network_index::{NetworkIndex, Scope};
use nic_projections::pdsa_board::Boards;
use nic_projections::portfolio::Portfolios;
use nic_projections::run_charts::{self, RunCharts, SeriesScope};
use nic_projections::timeline::{Entries, EntryKind, TimelineQuery, PAGE_ENTRIES_MAX};
use nic_projections::{OnBase, Projection, ReadModels, Recorded, WithBase};
use nic_store::admin::{Admin, Checkpoint};
use nic_store::{ReadAhead, ReadAll};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, RwLock, Semaphore};
use uuid::Uuid;

use crate::commands::App;
use crate::extract::Ids;
use crate::problem::Problem;

/// Reads folding the log from the store (`as_of`, diffs) that run at once; more wait their turn,
/// so history reads cannot crowd out the database.
pub const AS_OF_FOLDS_MAX: usize = 2;
/// How long a live read waits for the projections to reach the head of the log as the read
/// found it; after that it answers with what they hold (its `position` says as of when).
pub const LIVE_READ_WAIT_MS: u64 = 2_000;
/// Events the follower applies under one hold of the write lock: readers wait at most that long
/// while a large backlog (the catch-up at start) is applied.
pub const APPLY_CHUNK_EVENTS: usize = 100;
/// How long the follower waits before reading again after the store failed.
pub const FOLLOW_RETRY_MS: u64 = 1_000;

/// Each read model's state as JSON text, by checkpoint name. `paced`: after each model, the
/// calling thread pauses as long as it took, so that a background save of large states takes at
/// most about half of a core while it runs.
pub fn serialise(
    models: &ReadModels,
    paced: bool,
) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    fn one<T: serde::Serialize>(state: &T, paced: bool) -> Result<String, serde_json::Error> {
        let started = std::time::Instant::now();
        let text = serde_json::to_string(state)?;
        if paced {
            std::thread::sleep(started.elapsed());
        }
        Ok(text)
    }
    Ok(vec![
        (NAMES[0], one(&models.driver_diagram, paced)?),
        (NAMES[1], one(&models.timeline, paced)?),
        (NAMES[2], one(&models.run_charts, paced)?),
        (NAMES[3], one(&models.pdsa_board, paced)?),
        (NAMES[4], one(&models.portfolio, paced)?),
        (NAMES[5], one(&models.network_index, paced)?),
    ])
}

/// All five projections at one position of the log, over one base (names and run charts).
#[derive(Default)]
pub struct Live {
    pub models: ReadModels,
    /// The position of the last event consumed (applied, or skipped as unreadable).
    pub position: u64,
    /// Stored events that did not read as catalog events, skipped (logged as errors).
    pub unreadable_events: u64,
    /// The checkpoint generation this state belongs to: it changes only with a rebuild.
    pub generation: u64,
}

/// The projections' names, as their checkpoints are named.
pub const NAMES: [&str; 6] = [
    "driver_diagram",
    "timeline",
    "run_charts",
    "pdsa_board",
    "portfolio",
    "network_index",
];

impl Live {
    /// Each projection's state as JSON text, by name, as a checkpoint keeps it.
    pub fn states(&self) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
        serialise(&self.models, false)
    }

    /// The state a set of checkpoints holds: None when there are none; an error when they are not
    /// one consistent set (five, one generation, one position) or do not read back.
    pub fn from_checkpoints(checkpoints: &[Checkpoint]) -> Result<Option<Self>, String> {
        if checkpoints.is_empty() {
            return Ok(None);
        }
        let find = |name: &str| {
            checkpoints
                .iter()
                .find(|c| c.name == name)
                .ok_or_else(|| format!("no checkpoint of {name}"))
        };
        let first = find(NAMES[0])?;
        for name in NAMES {
            let c = find(name)?;
            if (c.generation, c.position) != (first.generation, first.position) {
                return Err(format!(
                    "checkpoints disagree: {} at generation {} position {}, {name} at generation {} position {}",
                    NAMES[0], first.generation, first.position, c.generation, c.position
                ));
            }
        }
        fn read<T: serde::de::DeserializeOwned>(c: &Checkpoint) -> Result<T, String> {
            serde_json::from_str(&c.state).map_err(|e| format!("checkpoint of {}: {e}", c.name))
        }
        Ok(Some(Self {
            models: ReadModels {
                driver_diagram: read(find(NAMES[0])?)?,
                timeline: read(find(NAMES[1])?)?,
                run_charts: read(find(NAMES[2])?)?,
                pdsa_board: read(find(NAMES[3])?)?,
                portfolio: read(find(NAMES[4])?)?,
                network_index: read(find(NAMES[5])?)?,
            },
            position: first.position,
            unreadable_events: 0,
            generation: first.generation,
        }))
    }

    /// Applies the event at `position` as it was read (`Recorded::from_recorded`), perhaps on
    /// another task.
    pub fn apply_read(&mut self, position: u64, read: &Result<Recorded, CatalogError>) {
        match read {
            Ok(r) => self.models.apply(r),
            Err(err) => {
                self.unreadable_events += 1;
                tracing::error!(position, error = %err, "projections skip an unreadable event");
            }
        }
        self.position = self.position.max(position);
    }
}

/// The live projections, shared by the follower (the one writer) and the reads.
pub struct Projections {
    pub(crate) live: RwLock<Live>,
    /// `Live::position`, announced after each batch the follower applies.
    pub(crate) applied: watch::Sender<u64>,
    folds: Semaphore,
    /// The checkpoints and the lease (None: in memory only, nothing persisted).
    pub(crate) admin: Option<Arc<Admin>>,
    /// This process, as the lease names its holder.
    pub identity: String,
    /// Whether this process holds the lease (and so saves the checkpoints).
    pub(crate) runner: AtomicBool,
    /// The rebuild this process runs or last ran, and its task.
    pub(crate) rebuild: Mutex<crate::runner::RebuildStatus>,
    pub(crate) rebuild_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Default for Projections {
    fn default() -> Self {
        Self::new()
    }
}

impl Projections {
    /// Projections kept in memory only.
    pub fn new() -> Self {
        Self::build(None, crate::runner::identity())
    }

    /// Projections checkpointed through `admin`, this process named `identity`.
    pub fn with_admin(admin: Arc<Admin>, identity: String) -> Self {
        Self::build(Some(admin), identity)
    }

    fn build(admin: Option<Arc<Admin>>, identity: String) -> Self {
        Self {
            live: RwLock::new(Live::default()),
            applied: watch::Sender::new(0),
            folds: Semaphore::new(AS_OF_FOLDS_MAX),
            admin,
            identity,
            runner: AtomicBool::new(false),
            rebuild: Mutex::new(crate::runner::RebuildStatus::default()),
            rebuild_task: Mutex::new(None),
        }
    }

    /// Whether this process runs the projections (holds the lease).
    pub fn is_runner(&self) -> bool {
        self.runner.load(Ordering::SeqCst)
    }

    /// Each projection's position, the position the follower consumed, and how many stored events
    /// it could not read.
    pub async fn positions(&self) -> ([(&'static str, u64); 6], u64, u64) {
        let live = self.live.read().await;
        let m = &live.models;
        (
            [
                ("driver_diagram", m.driver_diagram.position()),
                ("timeline", m.timeline.position()),
                ("run_charts", m.run_charts.position()),
                ("pdsa_board", m.pdsa_board.position()),
                ("portfolio", m.portfolio.position()),
                ("network_index", m.network_index.position()),
            ],
            live.position,
            live.unreadable_events,
        )
    }

    /// Stops a rebuild this process runs (on shutdown): nothing of it is saved.
    pub fn abort_rebuild(&self) {
        if let Some(task) = self
            .rebuild_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }

    /// The rebuild this process runs or last ran.
    pub fn rebuild_status(&self) -> crate::runner::RebuildStatus {
        self.rebuild
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The live state, for reading.
    pub async fn read(&self) -> tokio::sync::RwLockReadGuard<'_, Live> {
        self.live.read().await
    }

    /// Waits (at most `LIVE_READ_WAIT_MS`) until the projections have applied every event the log
    /// held when called.
    async fn catch_up(&self, store: &App) -> Result<(), Problem> {
        let mut applied = self.applied.subscribe();
        let head = store.head_position().await?;
        let wait = Duration::from_millis(LIVE_READ_WAIT_MS);
        if tokio::time::timeout(wait, applied.wait_for(|p| *p >= head))
            .await
            .is_err()
        {
            tracing::warn!(head, "a live read answers before the projections caught up");
        }
        Ok(())
    }

    /// Folds the log from the store into `projection`, up to `as_of`.
    async fn fold<P: Projection>(
        &self,
        store: &App,
        mut projection: P,
        as_of: AsOf,
    ) -> Result<P, Problem> {
        let _turn = self
            .folds
            .acquire()
            .await
            .map_err(|_| Problem::new("internal", "the service is stopping"))?;
        let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
        match as_of {
            AsOf::Position(p) => read.up_to_position = Some(p),
            AsOf::Time(t) => read.up_to_time = Some(t),
        }
        let mut pages = ReadAhead::start(store.clone(), read, |e| Recorded::from_recorded(&e));
        while let Some(page) = pages.next_page().await? {
            for r in &page {
                projection.apply(r.as_ref().map_err(Problem::from)?);
            }
            pages.done(page);
        }
        Ok(projection)
    }

    /// Reads the read model `M` (with the base it reads through) live (`as_of` None), or folded
    /// from the log up to `as_of` with a base of its own. A read about one network (`scope`) folds
    /// only that network's events (`NetworkIndex`) when the live projections have passed `as_of`;
    /// other reads, and reads further ahead, fold the whole log.
    async fn with<M: OnBase + Default, T>(
        &self,
        store: &App,
        as_of: Option<AsOf>,
        scope: Scope,
        read: impl FnOnce(&RunCharts, &M) -> T,
    ) -> Result<T, Problem> {
        let Some(as_of) = as_of else {
            self.catch_up(store).await?;
            let live = self.live.read().await;
            return Ok(read(&live.models.run_charts, M::of(&live.models)));
        };
        let bound = match as_of {
            AsOf::Position(p) => p,
            AsOf::Time(t) => store.position_at(t).await?,
        };
        let positions = {
            let live = self.live.read().await;
            let m = &live.models;
            match NetworkIndex::network_of(&m.run_charts, scope) {
                Some(network) if live.position >= bound => {
                    Some(m.network_index.positions(network, bound).to_vec())
                }
                _ => None,
            }
        };
        let folded = match positions {
            Some(positions) => {
                self.fold_positions(store, WithBase::<M>::default(), &positions, as_of, bound)
                    .await?
            }
            None => self.fold(store, WithBase::<M>::default(), as_of).await?,
        };
        Ok(read(&folded.base, &folded.model))
    }

    /// Folds the events at `positions` (one network's, up to `bound`) into `projection`, those of
    /// them within `as_of`, then moves it to `bound`: the rest of the log up to there is other
    /// networks' and changes nothing this network's views show.
    async fn fold_positions<M: OnBase>(
        &self,
        store: &App,
        mut projection: WithBase<M>,
        positions: &[u64],
        as_of: AsOf,
        bound: u64,
    ) -> Result<WithBase<M>, Problem> {
        let _turn = self
            .folds
            .acquire()
            .await
            .map_err(|_| Problem::new("internal", "the service is stopping"))?;
        for chunk in positions.chunks(READ_PAGE_EVENTS_MAX) {
            for e in store.read_positions(chunk).await? {
                let within = match as_of {
                    AsOf::Position(p) => e.global_position <= p,
                    AsOf::Time(t) => e.recorded_at <= t,
                };
                if within {
                    projection.apply(&Recorded::from_recorded(&e)?);
                }
            }
        }
        projection.reach(bound);
        Ok(projection)
    }
}

// ---------------------------------------------------------------------------------------------
// Query values

/// A point of the log to read as of: a global position or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Position(u64),
    Time(DateTime<Utc>),
}

impl AsOf {
    /// A position (digits) or an RFC 3339 time.
    fn parse(field: &str, s: &str) -> Result<Self, Problem> {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            return s.parse().map(AsOf::Position).map_err(|_| {
                Problem::new("invalid-query", format!("{field}: {s} is not a position"))
            });
        }
        parse_time(field, s).map(AsOf::Time)
    }

    fn parse_opt(field: &str, s: Option<&str>) -> Result<Option<Self>, Problem> {
        s.map(|s| Self::parse(field, s)).transpose()
    }
}

fn parse_time(field: &str, s: &str) -> Result<DateTime<Utc>, Problem> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Problem::new(
                "invalid-query",
                format!(
                    "{field} is a global position or an RFC 3339 time such as \
                     2025-03-01T00:00:00Z (a '+' in an offset is written %2B); {s:?}: {e}"
                ),
            )
        })
}

fn invalid_query(e: QueryRejection) -> Problem {
    Problem::new("invalid-query", e.body_text())
}

fn text(content_type: &'static str, body: String) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn not_found(what: &str, id: Uuid, as_of: Option<AsOf>) -> Problem {
    let when = match as_of {
        None => String::new(),
        Some(AsOf::Position(p)) => format!(" as of position {p}"),
        Some(AsOf::Time(t)) => format!(" as of {}", t.to_rfc3339()),
    };
    Problem::new("not-found", format!("no {what} {id}{when}"))
}

// ---------------------------------------------------------------------------------------------
// Driver diagram

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiagramParams {
    /// json (default), mermaid or dot.
    format: Option<String>,
    as_of: Option<String>,
}

pub async fn driver_diagram(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    Ids(network_id): Ids<Uuid>,
    query: Result<Query<DiagramParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let as_of = AsOf::parse_opt("as_of", q.as_of.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "mermaid" | "dot") {
        return Err(Problem::new(
            "invalid-query",
            format!("format is json, mermaid or dot; got {format:?}"),
        ));
    }
    let view = p
        .with(
            &store,
            as_of,
            Scope::Network(network_id),
            |base, d: &Diagrams| d.view(base, network_id),
        )
        .await?
        .ok_or_else(|| not_found("network", network_id, as_of))?;
    Ok(match format {
        "mermaid" => text(
            "text/plain; charset=utf-8",
            driver_diagram::to_mermaid(&view),
        ),
        "dot" => text("text/plain; charset=utf-8", driver_diagram::to_dot(&view)),
        _ => Json(view).into_response(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffParams {
    from: Option<String>,
    /// The live diagram when omitted.
    to: Option<String>,
}

pub async fn driver_diagram_diff(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    Ids(network_id): Ids<Uuid>,
    query: Result<Query<DiffParams>, QueryRejection>,
) -> Result<Json<driver_diagram::DiagramDiff>, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let Some(from) = q.from.as_deref() else {
        return Err(Problem::new(
            "invalid-query",
            "from is required: a global position or an RFC 3339 time",
        ));
    };
    let from = AsOf::parse("from", from)?;
    let to = AsOf::parse_opt("to", q.to.as_deref())?;
    let view_at = |as_of: Option<AsOf>| {
        let store = &store;
        let p = &p;
        async move {
            p.with(
                store,
                as_of,
                Scope::Network(network_id),
                |base, d: &Diagrams| d.view(base, network_id),
            )
            .await
        }
    };
    let after = view_at(to)
        .await?
        .ok_or_else(|| not_found("network", network_id, to))?;
    // A network chartered after `from` is diffed from an empty diagram.
    let before = view_at(Some(from))
        .await?
        .unwrap_or_else(|| driver_diagram::DriverDiagramView {
            network_id,
            network_name: None,
            position: match from {
                AsOf::Position(p) => p,
                AsOf::Time(_) => 0,
            },
            aim: None,
            nodes: Vec::new(),
            links: Vec::new(),
        });
    Ok(Json(driver_diagram::diff(&before, &after)))
}

// ---------------------------------------------------------------------------------------------
// Timeline

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineParams {
    network_id: Option<Uuid>,
    program_id: Option<Uuid>,
    ecosystem_id: Option<Uuid>,
    driver_id: Option<Uuid>,
    change_idea_id: Option<Uuid>,
    /// Comma-separated entry kinds.
    kind: Option<String>,
    /// Recorded at or after (RFC 3339).
    from: Option<String>,
    /// Recorded before (RFC 3339).
    until: Option<String>,
    /// The cursor: `next_after` of the previous page.
    after: Option<u64>,
    limit: Option<usize>,
    as_of: Option<String>,
}

fn entry_kinds(s: Option<&str>) -> Result<Vec<EntryKind>, Problem> {
    let Some(s) = s else {
        return Ok(Vec::new());
    };
    s.split(',')
        .filter(|k| !k.is_empty())
        .map(|k| {
            serde_json::from_value(serde_json::Value::String(k.to_string())).map_err(|_| {
                Problem::new(
                    "invalid-query",
                    format!(
                        "kind {k:?} is not one of network, aim, diagram, root_cause, standard, \
                         program, measure, data, signal, cycle, decision, synthesis"
                    ),
                )
            })
        })
        .collect()
}

pub async fn timeline(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    query: Result<Query<TimelineParams>, QueryRejection>,
) -> Result<Json<nic_projections::timeline::TimelinePage>, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let as_of = AsOf::parse_opt("as_of", q.as_of.as_deref())?;
    if let Some(n) = q.limit {
        if !(1..=PAGE_ENTRIES_MAX).contains(&n) {
            return Err(Problem::new(
                "invalid-limit",
                format!("limit is {n}; it must be 1 to {PAGE_ENTRIES_MAX}"),
            ));
        }
    }
    let query = TimelineQuery {
        network_id: q.network_id,
        program_id: q.program_id,
        ecosystem_id: q.ecosystem_id,
        driver_id: q.driver_id,
        change_idea_id: q.change_idea_id,
        kinds: entry_kinds(q.kind.as_deref())?,
        from: q
            .from
            .as_deref()
            .map(|t| parse_time("from", t))
            .transpose()?,
        until: q
            .until
            .as_deref()
            .map(|t| parse_time("until", t))
            .transpose()?,
        after: q.after,
        limit: q.limit,
    };
    let scope = match (query.network_id, query.program_id) {
        (Some(network), _) => Scope::Network(network),
        (None, Some(program)) => Scope::Program(program),
        (None, None) => Scope::Whole,
    };
    let page = p
        .with(&store, as_of, scope, |_, t: &Entries| t.query(&query))
        .await?;
    Ok(Json(page))
}

// ---------------------------------------------------------------------------------------------
// Run charts

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunChartParams {
    /// One program's series; the network-wide series when omitted.
    program_id: Option<Uuid>,
    /// json (default) or csv.
    format: Option<String>,
    as_of: Option<String>,
}

pub async fn run_chart(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    Ids(measure_id): Ids<Uuid>,
    query: Result<Query<RunChartParams>, QueryRejection>,
) -> Result<Response, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let as_of = AsOf::parse_opt("as_of", q.as_of.as_deref())?;
    let format = q.format.as_deref().unwrap_or("json");
    if !matches!(format, "json" | "csv") {
        return Err(Problem::new(
            "invalid-query",
            format!("format is json or csv; got {format:?}"),
        ));
    }
    let scope = q
        .program_id
        .map_or(SeriesScope::Network, SeriesScope::Program);
    let (chart, program_known) = p
        .with(&store, as_of, Scope::Measure(measure_id), |c, _: &()| {
            let chart = c.chart(measure_id, scope);
            // A program with a point on the chart is known without looking further.
            let known = match scope {
                SeriesScope::Network => true,
                SeriesScope::Program(p) => chart.as_ref().is_some_and(|chart| {
                    chart
                        .points
                        .iter()
                        .any(|pt| pt.contributions.iter().any(|c| c.program_id == p))
                }),
            };
            (chart, known)
        })
        .await?;
    let chart = chart.ok_or_else(|| not_found("measure", measure_id, as_of))?;
    if let (SeriesScope::Program(program), false) = (scope, program_known) {
        // A program with no point of its own yet has an empty chart, if the program exists.
        let exists = p
            .with(
                &store,
                as_of,
                Scope::Program(program),
                |base, pf: &Portfolios| pf.view(base, program).is_some(),
            )
            .await?;
        if !exists {
            return Err(not_found("program", program, as_of));
        }
    }
    Ok(match format {
        "csv" => text("text/csv; charset=utf-8", run_charts::to_csv(&chart)),
        _ => Json(chart).into_response(),
    })
}

// ---------------------------------------------------------------------------------------------
// PDSA board and portfolio

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    as_of: Option<String>,
}

pub async fn pdsa_board(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    Ids(program_id): Ids<Uuid>,
    query: Result<Query<AsOfParams>, QueryRejection>,
) -> Result<Json<nic_projections::pdsa_board::PdsaBoardView>, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let as_of = AsOf::parse_opt("as_of", q.as_of.as_deref())?;
    p.with(
        &store,
        as_of,
        Scope::Program(program_id),
        |base, b: &Boards| b.view(base, program_id),
    )
    .await?
    .map(Json)
    .ok_or_else(|| not_found("program", program_id, as_of))
}

pub async fn portfolio(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    Ids(program_id): Ids<Uuid>,
    query: Result<Query<AsOfParams>, QueryRejection>,
) -> Result<Json<nic_projections::portfolio::PortfolioView>, Problem> {
    let Query(q) = query.map_err(invalid_query)?;
    let as_of = AsOf::parse_opt("as_of", q.as_of.as_deref())?;
    p.with(
        &store,
        as_of,
        Scope::Program(program_id),
        |base, v: &Portfolios| v.view(base, program_id),
    )
    .await?
    .map(Json)
    .ok_or_else(|| not_found("program", program_id, as_of))
}

// ---------------------------------------------------------------------------------------------
// Progress

#[derive(Serialize)]
pub struct Status {
    /// The position of the last event readers of the log can see.
    head: u64,
    projections: Vec<ProjectionStatus>,
    /// Stored events the projections could not read and skipped (since this process started).
    unreadable_events: u64,
    /// The checkpoint generation this process's state belongs to (a rebuild makes a new one).
    generation: u64,
    /// This process, as the lease names it.
    process: String,
    /// Whether this process runs the projections: holds the lease, applies and checkpoints.
    runner: bool,
    /// The lease as stored (its holder may have stopped; it is free once expired).
    lease: Option<LeaseStatus>,
    /// The rebuild this process runs or last ran.
    rebuild: crate::runner::RebuildStatus,
}

#[derive(Serialize)]
struct LeaseStatus {
    holder: String,
    expires_at: DateTime<Utc>,
}

#[derive(Serialize)]
struct ProjectionStatus {
    name: &'static str,
    /// The position of the last event the projection consumed.
    position: u64,
    /// head − position: events not yet reflected.
    lag: u64,
    /// The generation of the state served.
    generation: u64,
    /// The checkpoint saved in the database: its generation, position and when.
    checkpoint: Option<CheckpointStatus>,
}

#[derive(Serialize)]
struct CheckpointStatus {
    generation: u64,
    position: u64,
    saved_at: DateTime<Utc>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

pub async fn status(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
    query: Result<Query<NoParams>, QueryRejection>,
) -> Result<Json<Status>, Problem> {
    query.map_err(invalid_query)?;
    // The live position first: the head read after it is never behind it.
    let (positions, consumed, unreadable_events) = p.positions().await;
    let generation = p.live.read().await.generation;
    let head = store.head_position().await?.max(consumed);
    let (checkpoints, lease) = match &p.admin {
        Some(admin) => (
            admin.checkpoint_heads().await?,
            admin
                .lease(crate::runner::LEASE)
                .await?
                .map(|l| LeaseStatus {
                    holder: l.holder,
                    expires_at: l.expires_at,
                }),
        ),
        None => (Vec::new(), None),
    };
    let projections = positions
        .into_iter()
        .map(|(name, position)| {
            // A skipped (unreadable) event is consumed all the same.
            let position = position.max(consumed);
            ProjectionStatus {
                name,
                position,
                lag: head - position,
                generation,
                checkpoint: checkpoints
                    .iter()
                    .find(|c| c.name == name)
                    .map(|c| CheckpointStatus {
                        generation: c.generation,
                        position: c.position,
                        saved_at: c.saved_at,
                    }),
            }
        })
        .collect();
    Ok(Json(Status {
        head,
        projections,
        unreadable_events,
        generation,
        process: p.identity.clone(),
        runner: p.is_runner(),
        lease,
        rebuild: p.rebuild_status(),
    }))
}
