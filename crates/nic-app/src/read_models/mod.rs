//! The read models of `nic-projections` kept live, checkpointed and served: one `Service` owns
//! the live state (all six models over one base, `nic_projections::ReadModels`, at one position
//! of the log), the follower that applies the log to it (`follower`), the checkpoints and the
//! lease, rebuilds (`rebuild`), and the reads: live, or as of any point of the log.
//!
//! A live read waits until the models have applied every event the log held when the read
//! arrived (at most `LIVE_READ_WAIT_MS`; the view's `position` says how far they got), so a
//! client reads its own writes. A read as of a position or a time folds the log from the store up
//! to that point (`fold_as_of`, at most `AS_OF_FOLDS_MAX` at a time), so history never depends on
//! what the live state holds; a read about one network folds only that network's events, which
//! the live network index lists by position, once the live state has passed the point asked for.

mod follower;
mod packet;
mod rebuild;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::CatalogError;
use nic_projections::driver_diagram::{self, DiagramDiff, Diagrams, DriverDiagramView};
use nic_projections::network_index::{NetworkIndex, Scope};
use nic_projections::pdsa_board::{Boards, PdsaBoardView, Register, RegisterQuery};
use nic_projections::portfolio::{AdmissionsStatement, PortfolioView, Portfolios, StandardsMatrix};
use nic_projections::run_charts::{RunChartView, RunCharts, SeriesScope};
use nic_projections::timeline::{Entries, TimelinePage, TimelineQuery};
use nic_projections::WithBase;
use nic_projections::{fold_as_of as fold_within, AsOf, OnBase, Projection, ReadModels, Recorded};
use nic_store::admin::{Admin, Checkpoint};
use nic_store::{EventStore, ReadAhead, ReadAll};
use serde::Serialize;
use tokio::sync::{watch, RwLock, Semaphore};
use uuid::Uuid;

pub use follower::{follow, identity};
pub use packet::EvidencePacket;
pub use rebuild::{fold_to_head, rebuild, RebuildStatus};

use crate::limits::{AS_OF_FOLDS_MAX, LIVE_READ_WAIT_MS};
use crate::AppError;

/// The lease naming the one process that runs (applies and checkpoints) the read models.
pub const LEASE: &str = "projections";

/// The read models' names, as their checkpoints are named.
pub const NAMES: [&str; 6] = [
    "driver_diagram",
    "timeline",
    "run_charts",
    "pdsa_board",
    "portfolio",
    "network_index",
];

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

/// All the read models at one position of the log, over one base (names and run charts).
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

impl Live {
    /// Each model's state as JSON text, by name, as a checkpoint keeps it.
    pub fn states(&self) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
        serialise(&self.models, false)
    }

    /// The state a set of checkpoints holds: None when there are none; an error when they are not
    /// one consistent set (all six, one generation, one position) or do not read back.
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
        // Already folded (a fold again after an erasure went past what the follower delivers).
        if position <= self.position {
            return;
        }
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

/// The live read models, shared by the follower (the one writer) and the reads.
pub struct Service {
    store: Arc<dyn EventStore>,
    live: RwLock<Live>,
    /// `Live::position`, announced after each batch the follower applies.
    applied: watch::Sender<u64>,
    /// Counts the times the live state was replaced whole (a checkpoint loaded, a rebuild, a
    /// fold again after an erasure): what a reader holds from before may be stale or erased.
    replaced: watch::Sender<u64>,
    folds: Semaphore,
    /// The checkpoints and the lease (None: in memory only, nothing persisted).
    admin: Option<Arc<Admin>>,
    /// This process, as the lease names its holder.
    identity: String,
    /// Whether this process holds the lease (and so saves the checkpoints).
    runner: AtomicBool,
    /// The rebuild this process runs or last ran, and its task.
    rebuild: Mutex<RebuildStatus>,
    rebuild_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// Where the read models stand: each one's position and lag, the checkpoints, the lease and the
/// rebuild.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Status {
    /// The position of the last event readers of the log can see.
    pub head: u64,
    pub projections: Vec<ProjectionStatus>,
    /// Stored events the projections could not read and skipped (since this process started).
    pub unreadable_events: u64,
    /// The checkpoint generation this process's state belongs to (a rebuild makes a new one).
    pub generation: u64,
    /// This process, as the lease names it.
    pub process: String,
    /// Whether this process runs the projections: holds the lease, applies and checkpoints.
    pub runner: bool,
    /// The lease as stored (its holder may have stopped; it is free once expired).
    pub lease: Option<LeaseStatus>,
    /// The rebuild this process runs or last ran.
    pub rebuild: RebuildStatus,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct LeaseStatus {
    pub holder: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ProjectionStatus {
    pub name: &'static str,
    /// The position of the last event the projection consumed.
    pub position: u64,
    /// head − position: events not yet reflected.
    pub lag: u64,
    /// The generation of the state served.
    pub generation: u64,
    /// The checkpoint saved in the database: its generation, position and when.
    pub checkpoint: Option<CheckpointStatus>,
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct CheckpointStatus {
    pub generation: u64,
    pub position: u64,
    pub saved_at: DateTime<Utc>,
}

/// Where an as-of read finds its events.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The whole log.
    Log,
    /// The events at these positions (one network's, from the network index), in order.
    Positions(&'a [u64]),
}

/// Folds `M` (with a base of its own) as of `as_of` from the events of `source`, then moves it
/// to `bound` (the position `as_of` stands for): the one way every as-of read is computed, page
/// by page through `nic_projections::fold_as_of`.
pub async fn fold_as_of<M: OnBase + Default>(
    store: &Arc<dyn EventStore>,
    source: Source<'_>,
    as_of: AsOf,
    bound: u64,
) -> Result<WithBase<M>, AppError> {
    let mut folded = WithBase::<M>::default();
    match source {
        Source::Positions(positions) => {
            for chunk in positions.chunks(READ_PAGE_EVENTS_MAX) {
                for e in store.read_positions(chunk).await? {
                    folded = fold_within(folded, [&Recorded::from_recorded(&e)?], as_of);
                }
            }
            folded.reach(bound);
        }
        Source::Log => {
            let mut read = ReadAll::after(0, READ_PAGE_EVENTS_MAX);
            match as_of {
                AsOf::Position(p) => read.up_to_position = Some(p),
                AsOf::Time(t) => read.up_to_time = Some(t),
                // What had happened by a day: whenever it was recorded, up to the bound.
                AsOf::Happened(_) => read.up_to_position = Some(bound),
            }
            let mut pages = ReadAhead::start(store.clone(), read, |e| Recorded::from_recorded(&e));
            while let Some(page) = pages.next_page().await? {
                if let Some(Err(e)) = page.iter().find(|r| r.is_err()) {
                    return Err(e.into());
                }
                folded = fold_within(folded, page.iter().flatten(), as_of);
                pages.done(page);
            }
        }
    }
    Ok(folded)
}

impl Service {
    /// Read models kept in memory only.
    pub fn in_memory(store: Arc<dyn EventStore>) -> Self {
        Self::build(store, None, identity())
    }

    /// Read models checkpointed through `admin`, this process named `identity`.
    pub fn checkpointed(store: Arc<dyn EventStore>, admin: Arc<Admin>, identity: String) -> Self {
        Self::build(store, Some(admin), identity)
    }

    fn build(store: Arc<dyn EventStore>, admin: Option<Arc<Admin>>, identity: String) -> Self {
        Self {
            store,
            live: RwLock::new(Live::default()),
            applied: watch::Sender::new(0),
            replaced: watch::Sender::new(0),
            folds: Semaphore::new(AS_OF_FOLDS_MAX),
            admin,
            identity,
            runner: AtomicBool::new(false),
            rebuild: Mutex::new(RebuildStatus::default()),
            rebuild_task: Mutex::new(None),
        }
    }

    /// This process, as the lease names it.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Whether this process runs the read models (holds the lease).
    pub fn is_runner(&self) -> bool {
        self.runner.load(Ordering::SeqCst)
    }

    /// The position of the last event the live state consumed.
    pub async fn position(&self) -> u64 {
        self.live.read().await.position
    }

    /// Each model's position, the position the follower consumed, and how many stored events it
    /// could not read.
    pub async fn positions(&self) -> ([(&'static str, u64); 6], u64, u64) {
        let live = self.live.read().await;
        let m = &live.models;
        (
            [
                (NAMES[0], m.driver_diagram.position()),
                (NAMES[1], m.timeline.position()),
                (NAMES[2], m.run_charts.position()),
                (NAMES[3], m.pdsa_board.position()),
                (NAMES[4], m.portfolio.position()),
                (NAMES[5], m.network_index.position()),
            ],
            live.position,
            live.unreadable_events,
        )
    }

    /// The position the live models have applied, announced after each batch.
    pub fn applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Ticks whenever the live state is replaced whole (`replaced`): live readers tell their
    /// clients to drop what they hold and read again.
    pub fn replaced(&self) -> watch::Receiver<u64> {
        self.replaced.subscribe()
    }

    /// Replaces the live state with `fresh` (held write-locked by the caller) and tells both
    /// watchers.
    fn swap(&self, live: &mut Live, fresh: Live) {
        let position = fresh.position;
        *live = fresh;
        self.applied.send_replace(position);
        self.replaced.send_modify(|n| *n += 1);
    }

    /// A page of the live timeline as the models hold it now, without waiting for the log's
    /// head: what the live timeline streams after each batch `applied` announces.
    pub async fn timeline_now(&self, query: &TimelineQuery) -> TimelinePage {
        self.live.read().await.models.timeline.query(query)
    }

    /// Where the read models stand.
    pub async fn status(&self) -> Result<Status, AppError> {
        // The live position first: the head read after it is never behind it.
        let (positions, consumed, unreadable_events) = self.positions().await;
        let generation = self.live.read().await.generation;
        let head = self.store.head_position().await?.max(consumed);
        let (checkpoints, lease) = match &self.admin {
            Some(admin) => (
                admin.checkpoint_heads().await?,
                admin.lease(LEASE).await?.map(|l| LeaseStatus {
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
                    checkpoint: checkpoints.iter().find(|c| c.name == name).map(|c| {
                        CheckpointStatus {
                            generation: c.generation,
                            position: c.position,
                            saved_at: c.saved_at,
                        }
                    }),
                }
            })
            .collect();
        Ok(Status {
            head,
            projections,
            unreadable_events,
            generation,
            process: self.identity.clone(),
            runner: self.is_runner(),
            lease,
            rebuild: self.rebuild_status(),
        })
    }

    /// Waits (at most `LIVE_READ_WAIT_MS`) until the models have applied every event the log held
    /// when called.
    async fn catch_up(&self) -> Result<(), AppError> {
        let mut applied = self.applied.subscribe();
        let head = self.store.head_position().await?;
        let wait = Duration::from_millis(LIVE_READ_WAIT_MS);
        if tokio::time::timeout(wait, applied.wait_for(|p| *p >= head))
            .await
            .is_err()
        {
            tracing::warn!(head, "a live read answers before the projections caught up");
        }
        Ok(())
    }

    /// Reads the read model `M` (with the base it reads through) live (`as_of` None), or folded
    /// from the log up to `as_of` with a base of its own. A read about one network (`scope`) folds
    /// only that network's events when the live models have passed `as_of`; other reads, and
    /// reads further ahead, fold the whole log.
    async fn with<M: OnBase + Default, T>(
        &self,
        as_of: Option<AsOf>,
        scope: Scope,
        read: impl FnOnce(&RunCharts, &M) -> T,
    ) -> Result<T, AppError> {
        let Some(as_of) = as_of else {
            self.catch_up().await?;
            let live = self.live.read().await;
            return Ok(read(&live.models.run_charts, M::of(&live.models)));
        };
        let _turn = self.folds.acquire().await.map_err(|_| AppError::Stopping)?;
        let bound = match as_of {
            AsOf::Position(p) => p,
            AsOf::Time(t) => self.store.position_at(t).await?,
            AsOf::Happened(_) => {
                self.catch_up().await?;
                self.live.read().await.position
            }
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
        let source = match &positions {
            Some(positions) => Source::Positions(positions),
            None => Source::Log,
        };
        let folded = fold_as_of::<M>(&self.store, source, as_of, bound).await?;
        Ok(read(&folded.base, &folded.model))
    }

    /// A network's driver diagram with each change idea's evidence.
    pub async fn driver_diagram(
        &self,
        network: Uuid,
        as_of: Option<AsOf>,
    ) -> Result<DriverDiagramView, AppError> {
        self.with(as_of, Scope::Network(network), |base, d: &Diagrams| {
            d.view(base, network)
        })
        .await?
        .ok_or_else(|| not_found("network", network, as_of))
    }

    /// What changed in a network's driver diagram between `from` and `to` (None: now).
    pub async fn driver_diagram_diff(
        &self,
        network: Uuid,
        from: AsOf,
        to: Option<AsOf>,
    ) -> Result<DiagramDiff, AppError> {
        let after = self.driver_diagram(network, to).await?;
        // A network chartered after `from` is diffed from an empty diagram.
        let before = self
            .with(Some(from), Scope::Network(network), |base, d: &Diagrams| {
                d.view(base, network)
            })
            .await?
            .unwrap_or_else(|| DriverDiagramView {
                network_id: network,
                network_name: None,
                position: match from {
                    AsOf::Position(p) => p,
                    AsOf::Time(_) | AsOf::Happened(_) => 0,
                },
                aim: None,
                nodes: Vec::new(),
                links: Vec::new(),
            });
        Ok(driver_diagram::diff(&before, &after))
    }

    /// A page of the learning timeline.
    pub async fn timeline(
        &self,
        query: &TimelineQuery,
        as_of: Option<AsOf>,
    ) -> Result<TimelinePage, AppError> {
        let scope = match (query.network_id, query.program_id) {
            (Some(network), _) => Scope::Network(network),
            (None, Some(program)) => Scope::Program(program),
            (None, None) => Scope::Whole,
        };
        self.with(as_of, scope, |_, t: &Entries| t.query(query))
            .await
    }

    /// A measure's run chart: network-wide, or one program's.
    pub async fn run_chart(
        &self,
        measure: Uuid,
        program: Option<Uuid>,
        as_of: Option<AsOf>,
    ) -> Result<RunChartView, AppError> {
        let scope = program.map_or(SeriesScope::Network, SeriesScope::Program);
        let (chart, program_known) = self
            .with(as_of, Scope::Measure(measure), |c, _: &()| {
                // Reporting deadlines are judged on the day the chart is read for.
                let now = match as_of {
                    None => Some(Utc::now()),
                    Some(AsOf::Time(t)) => Some(t),
                    Some(AsOf::Happened(d)) => {
                        d.succ_opt().map(|d| d.and_time(NaiveTime::MIN).and_utc())
                    }
                    Some(AsOf::Position(_)) => None,
                };
                let chart = c.chart(measure, scope, now);
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
        let chart = chart.ok_or_else(|| not_found("measure", measure, as_of))?;
        if let (SeriesScope::Program(program), false) = (scope, program_known) {
            // A program with no point of its own yet has an empty chart, if the program exists.
            let exists = self
                .with(as_of, Scope::Program(program), |base, pf: &Portfolios| {
                    pf.view(base, program).is_some()
                })
                .await?;
            if !exists {
                return Err(not_found("program", program, as_of));
            }
        }
        Ok(chart)
    }

    /// A program's PDSA cycles by phase and by ramp.
    pub async fn pdsa_board(
        &self,
        program: Uuid,
        as_of: Option<AsOf>,
    ) -> Result<PdsaBoardView, AppError> {
        self.with(as_of, Scope::Program(program), |base, b: &Boards| {
            b.view(base, program)
        })
        .await?
        .ok_or_else(|| not_found("program", program, as_of))
    }

    /// The register of a network's PDSA cycles as `query` asks; "overdue" is judged on the day
    /// of `as_of` when it is a time, else on today.
    pub async fn pdsa_register(
        &self,
        network: Uuid,
        query: &RegisterQuery,
        as_of: Option<AsOf>,
    ) -> Result<Register, AppError> {
        let today = day_of(as_of);
        self.with(as_of, Scope::Network(network), |base, b: &Boards| {
            base.names()
                .networks
                .contains_key(&network)
                .then(|| b.register(base, network, query, today))
        })
        .await?
        .ok_or_else(|| not_found("network", network, as_of))
    }

    /// Each of a network's programs against each of its quality standards: the latest
    /// self-rating, its change and its age, counted to the day of `as_of` when it is a time, else
    /// to today.
    pub async fn standards_matrix(
        &self,
        network: Uuid,
        as_of: Option<AsOf>,
    ) -> Result<StandardsMatrix, AppError> {
        let today = day_of(as_of);
        self.with(as_of, Scope::Network(network), |base, p: &Portfolios| {
            base.names()
                .networks
                .contains_key(&network)
                .then(|| p.matrix(base, network, today))
        })
        .await?
        .ok_or_else(|| not_found("network", network, as_of))
    }

    /// A program's admissions statement: which standards it meets, and since when.
    pub async fn admissions(
        &self,
        program: Uuid,
        as_of: Option<AsOf>,
    ) -> Result<AdmissionsStatement, AppError> {
        self.with(as_of, Scope::Program(program), |base, p: &Portfolios| {
            p.admissions(base, program)
        })
        .await?
        .ok_or_else(|| not_found("program", program, as_of))
    }

    /// A program's self-ratings against each quality standard over time.
    pub async fn portfolio(
        &self,
        program: Uuid,
        as_of: Option<AsOf>,
    ) -> Result<PortfolioView, AppError> {
        self.with(as_of, Scope::Program(program), |base, v: &Portfolios| {
            v.view(base, program)
        })
        .await?
        .ok_or_else(|| not_found("program", program, as_of))
    }
}

/// The day an as-of read judges ages and deadlines on: the day of its time or date, else today.
fn day_of(as_of: Option<AsOf>) -> NaiveDate {
    match as_of {
        Some(AsOf::Time(t)) => t.date_naive(),
        Some(AsOf::Happened(d)) => d,
        _ => Utc::now().date_naive(),
    }
}

fn not_found(what: &str, id: Uuid, as_of: Option<AsOf>) -> AppError {
    let when = match as_of {
        None => String::new(),
        Some(AsOf::Position(p)) => format!(" as of position {p}"),
        Some(AsOf::Time(t)) => format!(" as the ledger knew it at {}", t.to_rfc3339()),
        Some(AsOf::Happened(d)) => format!(" as the network's work stood on {d}"),
    };
    AppError::NotFound(format!("no {what} {id}{when}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_events::RecordedEvent;

    fn same(a: &Live, b: &Live) {
        assert_eq!(a.position, b.position);
        let (a, b, at) = (&a.models, &b.models, a.position);
        assert!(
            a.driver_diagram == b.driver_diagram,
            "driver diagram at {at}"
        );
        assert!(a.timeline == b.timeline, "timeline at {at}");
        assert!(a.run_charts == b.run_charts, "run charts at {at}");
        assert!(a.pdsa_board == b.pdsa_board, "PDSA board at {at}");
        assert!(a.portfolio == b.portfolio, "portfolio at {at}");
    }

    /// Over the demo's log (two years of a network): the projections written as checkpoints and
    /// read back equal themselves wherever the log is cut, and folding on from the ones read back
    /// ends where the fold from scratch ends.
    #[tokio::test]
    async fn a_checkpoint_of_the_demo_reads_back_equal_wherever_the_log_is_cut() {
        let path = std::env::temp_dir().join(format!(
            "nic-ledger-checkpoint-{}.db",
            uuid::Uuid::new_v4().simple()
        ));
        let store = nic_store::open(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        nic_demo::load(store.as_ref(), nic_demo::DEFAULT_SEED)
            .await
            .unwrap();
        let mut events = Vec::new();
        loop {
            let after = events
                .last()
                .map_or(0, |e: &RecordedEvent| e.global_position);
            let page = store
                .read_all(&ReadAll::after(after, READ_PAGE_EVENTS_MAX))
                .await
                .unwrap();
            if page.is_empty() {
                break;
            }
            events.extend(page);
        }
        assert!(events.len() > 1_000, "a demo-sized log: {}", events.len());
        let mut whole = Live::default();
        let apply = |live: &mut Live, e: &RecordedEvent| {
            live.apply_read(e.global_position, &Recorded::from_recorded(e))
        };
        for e in &events {
            apply(&mut whole, e);
        }
        let mut live = Live::default();
        for (i, e) in events.iter().enumerate() {
            apply(&mut live, e);
            if i % 101 != 0 && i + 1 != events.len() {
                continue;
            }
            let states = live.states().unwrap();
            let saved: Vec<Checkpoint> = states
                .iter()
                .map(|(name, state)| Checkpoint {
                    name: name.to_string(),
                    generation: 7,
                    position: live.position,
                    state: state.clone(),
                    saved_at: Utc::now(),
                })
                .collect();
            let mut back = Live::from_checkpoints(&saved).unwrap().unwrap();
            assert_eq!(back.generation, 7);
            same(&back, &live);
            assert_eq!(back.states().unwrap(), states);
            if i % 505 == 0 {
                for e in &events[i + 1..] {
                    apply(&mut back, e);
                }
                same(&back, &whole);
            }
        }
        drop(store);
        let _ = std::fs::remove_file(&path);
    }
}
