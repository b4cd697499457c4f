//! One runner for the projections across every process of the service, checkpoints, and rebuilds.
//!
//! - **Checkpoints.** Each projection's whole state and the position it reached are saved together
//!   for all six (`Admin::save_checkpoints`: each state cut into content-defined parts, the parts
//!   not stored yet written in short transactions, then one small transaction that points every
//!   checkpoint at its parts), so a checkpoint never holds a state that does not match its
//!   position, and a save writes about as much as changed since the last one. A process starts
//!   from the latest checkpoint and follows the log from its position.
//! - **One runner.** The process holding the lease `LEASE` (taken or renewed every
//!   `LEASE_TTL_MS / 3`, for `LEASE_TTL_MS`) saves the checkpoints: after an applied batch, at most
//!   every `CHECKPOINT_EVERY_MS` or every `CHECKPOINT_EVERY_EVENTS` events, whichever comes first
//!   (and once more when it stops), and never sooner than `CHECKPOINT_COST_FACTOR` times as long
//!   as the last save took after it: a save serialises every state whole, so its cost grows with
//!   the read models. The states are copied under the read lock (applying waits only for the
//!   copy), then serialised, cut and hashed on a blocking thread, not on the runtime's workers,
//!   pausing after each state as long as it took, and the new parts are written with a pause as
//!   long as each write: a save takes at most about half a core and half the database's time
//!   from the requests served meanwhile.
//!   A save is fenced in the database by the lease, the generation and the position, so a process
//!   that lost the lease writes nothing. The other processes follow
//!   the log in memory too (their reads stay fresh) but write nothing; when the lease expires one
//!   of them takes it and saves from then on.
//! - **Rebuild.** A fold of the whole log from position 0 into fresh projections, saved as a new
//!   generation (`Admin::replace_checkpoints`). From the command line (`nic-ledger rebuild`) or the
//!   API (`POST /api/v1/projections/rebuild`: a task of the server that folds beside the live state,
//!   then applies what arrived meanwhile and swaps under the write lock). Every process notices the
//!   new generation (the runner's next save is refused; the others poll it) and reloads it.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use nic_events::catalog::CatalogError;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_projections::Recorded;
use nic_store::admin::Admin;
use nic_store::{ReadAhead, ReadAll, StoreError, Subscription};
use serde::Serialize;
use tokio::sync::watch;

use crate::commands::App;
use crate::problem::Problem;
use crate::projections::{Live, Projections, APPLY_CHUNK_EVENTS, FOLLOW_RETRY_MS};

/// The lease naming the one process that runs (applies and checkpoints) the projections.
pub const LEASE: &str = "projections";
/// How long a lease lasts unless renewed: a stopped runner is replaced this long after its last
/// renewal. Renewed every third of it.
pub const LEASE_TTL_MS: u64 = 3_000;
/// The runner saves the checkpoints after an applied batch once this long has passed since the
/// last save…
pub const CHECKPOINT_EVERY_MS: u64 = 1_000;
/// …or once this many events have been applied since. Each save writes every state whole, so
/// while catching up on a long log saves are bounded by time, not by a small count (which would
/// make the catch-up quadratic in the log's length).
pub const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;
/// Whatever the states' size, saving them takes at most about 1/this of the runner's time: after a
/// save that took `d` (serialising and writing), the next waits at least `d` times this.
pub const CHECKPOINT_COST_FACTOR: u32 = 100;

/// This process, as leases name it: a new UUID per start, then host and pid for people.
pub fn identity() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    format!("{} {host}/{}", uuid::Uuid::new_v4(), std::process::id())
}

/// How far a rebuild has got.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RebuildStatus {
    pub running: bool,
    /// The position the fresh projections have reached, and the head when last looked at.
    pub position: u64,
    pub head: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The generation the finished rebuild saved.
    pub generation: Option<u64>,
    pub error: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Following the log

/// Follows the log from the latest checkpoint and applies every event to the projections until
/// `stop` turns true; takes the lease when it is free and, while holding it, saves checkpoints.
/// The caller owns the task.
pub fn follow(
    store: App,
    projections: Arc<Projections>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut follower = Follower {
            store,
            p: projections,
            unsaved: 0,
            last_save: Instant::now(),
            last_save_took: Duration::ZERO,
        };
        let mut tick = tokio::time::interval(Duration::from_millis(LEASE_TTL_MS / 3));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // (Re)load the latest checkpoint, then follow the log from its position.
            let position = tokio::select! {
                _ = stop.wait_for(|s| *s) => return,
                p = follower.load() => p,
            };
            // The backlog (the whole log at the first start, what came after an old checkpoint)
            // is read ahead, as a rebuild reads it; the subscription follows from the head.
            let position = match follower.catch_up(position, &mut stop, &mut tick).await {
                CatchUp::Reached(position) => position,
                CatchUp::Reload => continue,
                CatchUp::Stop => {
                    follower.stop().await;
                    return;
                }
            };
            let mut subscription = Subscription::new(
                follower.store.clone(),
                ReadAll::after(position, READ_PAGE_EVENTS_MAX),
            );
            // Until a reload is due.
            loop {
                let step = tokio::select! {
                    _ = stop.wait_for(|s| *s) => Step::Stop,
                    _ = tick.tick() => Step::Tick,
                    batch = subscription.next_batch() => Step::Batch(batch),
                };
                match step {
                    Step::Stop => {
                        follower.stop().await;
                        return;
                    }
                    Step::Tick => {
                        if follower.lease_and_generation().await
                            || (follower.due(true) && follower.save().await)
                        {
                            break;
                        }
                    }
                    Step::Batch(Ok(events)) => {
                        follower.apply(&events).await;
                        if follower.due(false) && follower.save().await {
                            break;
                        }
                    }
                    Step::Batch(Err(e)) => {
                        tracing::warn!(error = %e, "projections could not read the log; retrying");
                        let stopped = tokio::select! {
                            _ = stop.wait_for(|s| *s) => true,
                            _ = tokio::time::sleep(Duration::from_millis(FOLLOW_RETRY_MS)) => false,
                        };
                        if stopped {
                            follower.stop().await;
                            return;
                        }
                    }
                }
            }
        }
    })
}

/// How a catch-up ended.
enum CatchUp {
    /// At the head as the reads found it (or at a failed read, which the subscription retries).
    Reached(u64),
    /// A newer generation of checkpoints, or a lost lease: the state is to be loaded again.
    Reload,
    Stop,
}

/// What woke the follower.
enum Step {
    Stop,
    Tick,
    Batch(Result<Vec<nic_events::RecordedEvent>, StoreError>),
}

struct Follower {
    store: App,
    p: Arc<Projections>,
    /// Events applied since the last save.
    unsaved: u64,
    last_save: Instant,
    /// How long the last save took, serialising and writing.
    last_save_took: Duration,
}

impl Follower {
    fn admin(&self) -> Option<&Admin> {
        self.p.admin.as_deref()
    }

    /// Replaces the live state with the latest checkpoint (or an empty state when there is none,
    /// or it does not read back); returns its position.
    async fn load(&mut self) -> u64 {
        let Some(admin) = self.admin() else {
            return self.p.live.read().await.position;
        };
        let checkpoints = loop {
            match admin.load_checkpoints().await {
                Ok(c) => break c,
                Err(e) => {
                    tracing::warn!(error = %e, "projections could not load their checkpoint; retrying");
                    tokio::time::sleep(Duration::from_millis(FOLLOW_RETRY_MS)).await;
                }
            }
        };
        let fresh = match Live::from_checkpoints(&checkpoints) {
            Ok(Some(live)) => {
                tracing::info!(
                    position = live.position,
                    generation = live.generation,
                    "projections resume from their checkpoint"
                );
                live
            }
            Ok(None) => {
                tracing::info!("projections start from position 0: no checkpoint yet");
                Live::default()
            }
            Err(e) => {
                // Keep the generation, so that saves replace it once past its position.
                let generation = checkpoints.iter().map(|c| c.generation).max().unwrap_or(0);
                tracing::warn!(error = %e, generation, "the checkpoint does not read back; projections start from position 0");
                Live {
                    generation,
                    ..Live::default()
                }
            }
        };
        let position = fresh.position;
        *self.p.live.write().await = fresh;
        self.p.applied.send_replace(position);
        self.unsaved = 0;
        self.last_save = Instant::now();
        position
    }

    /// Applies the log from `position` up to the head as the reads find it, the next pages read
    /// and parsed on other tasks meanwhile (`ReadAhead`), keeping the lease and saving as
    /// `follow` does.
    async fn catch_up(
        &mut self,
        mut position: u64,
        stop: &mut watch::Receiver<bool>,
        tick: &mut tokio::time::Interval,
    ) -> CatchUp {
        let (started, from) = (Instant::now(), position);
        let mut pages = read_ahead(&self.store, position);
        loop {
            // As in `follow`, what woke it is handled once the other futures are dropped.
            let page = tokio::select! {
                _ = stop.wait_for(|s| *s) => return CatchUp::Stop,
                _ = tick.tick() => None,
                page = pages.next_page() => Some(page),
            };
            let Some(page) = page else {
                if self.lease_and_generation().await || (self.due(true) && self.save().await) {
                    return CatchUp::Reload;
                }
                continue;
            };
            match page {
                Ok(Some(page)) => {
                    self.apply_read(&page).await;
                    position = page.last().map_or(position, |(p, _)| *p);
                    pages.done(page);
                    if self.due(false) && self.save().await {
                        return CatchUp::Reload;
                    }
                }
                Ok(None) => {
                    if position > from {
                        tracing::info!(
                            position,
                            seconds = started.elapsed().as_secs_f64(),
                            "projections caught up with the log"
                        );
                    }
                    return CatchUp::Reached(position);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "projections could not read the log ahead; following it from here");
                    return CatchUp::Reached(position);
                }
            }
        }
    }

    /// Applies events read from the log, parsed before the live state is locked.
    async fn apply(&mut self, events: &[nic_events::RecordedEvent]) {
        let read: Vec<_> = events
            .iter()
            .map(|e| (e.global_position, Recorded::from_recorded(e)))
            .collect();
        self.apply_read(&read).await;
    }

    /// Applies events as they were read (`Recorded::from_recorded`), a chunk at a time under the
    /// live state's lock, so that reads are served between chunks.
    async fn apply_read(&mut self, read: &[(u64, Result<Recorded, CatalogError>)]) {
        for chunk in read.chunks(APPLY_CHUNK_EVENTS) {
            let mut live = self.p.live.write().await;
            for (position, r) in chunk {
                live.apply_read(*position, r);
            }
            self.p.applied.send_replace(live.position);
        }
        self.unsaved += read.len() as u64;
    }

    /// Whether a save is due: only the runner saves, only what it has not saved yet, and at most
    /// every `CHECKPOINT_EVERY_MS` (or `CHECKPOINT_COST_FACTOR` times the last save's time, if
    /// longer) unless `CHECKPOINT_EVERY_EVENTS` have piled up.
    fn due(&self, timer: bool) -> bool {
        let spacing = Duration::from_millis(CHECKPOINT_EVERY_MS)
            .max(self.last_save_took * CHECKPOINT_COST_FACTOR);
        let elapsed = self.last_save.elapsed() >= spacing;
        self.p.is_runner()
            && self.unsaved > 0
            && (elapsed || (!timer && self.unsaved >= CHECKPOINT_EVERY_EVENTS))
    }

    /// Saves the checkpoints (state and position together). True when a newer generation exists
    /// and the state must be reloaded.
    async fn save(&mut self) -> bool {
        let Some(admin) = self.p.admin.clone() else {
            return false;
        };
        let started = Instant::now();
        // Serialising every state whole takes a while: on a blocking thread, not a runtime worker,
        // from a copy (the live state is held only while it is copied), paced.
        let p = self.p.clone();
        let serialised = tokio::task::spawn_blocking(move || {
            let (models, generation, position) = {
                let live = p.live.blocking_read();
                (live.models.clone(), live.generation, live.position)
            };
            crate::projections::serialise(&models, true)
                .map(|states| (generation, position, states))
        })
        .await;
        let (generation, position, states) = match serialised {
            Ok(Ok(serialised)) => serialised,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "projections could not serialise their state");
                return false;
            }
            Err(e) => {
                tracing::error!(error = %e, "projections' serialising task failed");
                return false;
            }
        };
        let bytes: usize = states.iter().map(|(_, state)| state.len()).sum();
        let saved = admin
            .save_checkpoints(LEASE, &self.p.identity, generation, position, states)
            .await;
        self.last_save_took = started.elapsed();
        match saved {
            Ok(true) => {
                self.unsaved = 0;
                self.last_save = Instant::now();
                tracing::debug!(
                    position,
                    generation,
                    took_ms = self.last_save_took.as_millis() as u64,
                    bytes,
                    "projections checkpointed"
                );
                false
            }
            Ok(false) => {
                self.last_save = Instant::now();
                match admin.checkpoint_generation().await {
                    Ok(Some(g)) if g > generation => {
                        tracing::info!(
                            generation = g,
                            "a rebuild saved a new generation; reloading"
                        );
                        true
                    }
                    _ => {
                        // Either the lease is gone (stop writing until it is ours again) or the
                        // checkpoint is further on than this state (save once past it).
                        let held = admin
                            .try_lease(LEASE, &self.p.identity, Duration::from_millis(LEASE_TTL_MS))
                            .await
                            .unwrap_or(false);
                        if !held && self.p.runner.swap(false, Ordering::SeqCst) {
                            tracing::warn!(
                                "projections' checkpoint refused: this process no longer runs them"
                            );
                        }
                        false
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "projections could not save their checkpoint");
                false
            }
        }
    }

    /// Takes or renews the lease; true when a newer generation than the state's was saved (a
    /// rebuild elsewhere) and the state must be reloaded.
    async fn lease_and_generation(&mut self) -> bool {
        let Some(admin) = self.p.admin.clone() else {
            return false;
        };
        let ttl = Duration::from_millis(LEASE_TTL_MS);
        let held = match admin.try_lease(LEASE, &self.p.identity, ttl).await {
            Ok(held) => held,
            Err(e) => {
                tracing::warn!(error = %e, "projections could not renew their lease");
                false
            }
        };
        let was = self.p.runner.swap(held, Ordering::SeqCst);
        match (was, held) {
            (false, true) => {
                tracing::info!(process = %self.p.identity, "this process runs the projections")
            }
            (true, false) => {
                tracing::warn!(process = %self.p.identity, "this process no longer runs the projections")
            }
            _ => {}
        }
        let generation = self.p.live.read().await.generation;
        match admin.checkpoint_generation().await {
            Ok(Some(g)) if g > generation => {
                tracing::info!(
                    generation = g,
                    "a rebuild saved a new generation; reloading"
                );
                true
            }
            _ => false,
        }
    }

    /// On shutdown: the runner saves what it has not saved yet and gives the lease up, so another
    /// process takes over at once.
    async fn stop(&mut self) {
        if !self.p.is_runner() {
            return;
        }
        if self.unsaved > 0 {
            self.last_save = Instant::now() - Duration::from_millis(CHECKPOINT_EVERY_MS);
            self.save().await;
        }
        if let Some(admin) = self.p.admin.clone() {
            if let Err(e) = admin.release_lease(LEASE, &self.p.identity).await {
                tracing::warn!(error = %e, "projections could not release their lease");
            }
        }
        self.p.runner.store(false, Ordering::SeqCst);
    }
}

// ---------------------------------------------------------------------------------------------
// Rebuild

/// The log after `position`, read and parsed on other tasks ahead of the fold (`ReadAhead`): each
/// event's position and what it reads as, for `Live::apply_read`.
fn read_ahead(store: &App, position: u64) -> ReadAhead<(u64, Result<Recorded, CatalogError>)> {
    ReadAhead::start(
        store.clone(),
        ReadAll::after(position, READ_PAGE_EVENTS_MAX),
        |e| (e.global_position, Recorded::from_recorded(&e)),
    )
}

/// Folds the log from `live`'s position (0 when fresh) up to the head as the reads find it;
/// `progress` hears (position, head) after each page. The next pages are read and parsed on
/// other tasks while this one folds, and freed there (`ReadAhead`).
pub async fn fold_to_head(
    store: &App,
    live: &mut Live,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), StoreError> {
    let mut head = store.head_position().await?;
    let mut pages = read_ahead(store, live.position);
    while let Some(page) = pages.next_page().await? {
        for (position, read) in &page {
            live.apply_read(*position, read);
        }
        pages.done(page);
        head = head.max(live.position);
        progress(live.position, head);
        tokio::task::yield_now().await;
    }
    Ok(())
}

/// `nic-ledger rebuild`: folds the whole log into fresh projections with a progress bar on
/// standard error, then saves them as a new generation of checkpoints. Returns it and the
/// position reached.
pub async fn command(database_url: &str) -> anyhow::Result<(u64, u64)> {
    let store = nic_store::open(database_url).await?;
    store.migrate().await?;
    let admin = Admin::connect(database_url).await?;
    let mut live = Live::default();
    let mut last_drawn = Instant::now() - Duration::from_secs(1);
    fold_to_head(&store, &mut live, |position, head| {
        if last_drawn.elapsed() >= Duration::from_millis(100) {
            last_drawn = Instant::now();
            eprint!("\r{}", progress_bar(position, head));
        }
    })
    .await?;
    let head = live.position;
    eprintln!("\r{}", progress_bar(head, head));
    let generation = admin
        .replace_checkpoints(live.position, live.states()?)
        .await?;
    Ok((generation, live.position))
}

/// `[=====>    ] 45% 12345/27000 events`: positions, which may have gaps, stand for events.
pub fn progress_bar(position: u64, head: u64) -> String {
    const WIDTH: u64 = 30;
    let head = head.max(position);
    // An empty log is all done.
    let percent = (position * 100).checked_div(head).unwrap_or(100);
    let filled = (position * WIDTH).checked_div(head).unwrap_or(WIDTH);
    let mut bar = "=".repeat(filled as usize);
    if filled < WIDTH {
        bar.push('>');
        bar.push_str(&" ".repeat((WIDTH - filled - 1) as usize));
    }
    format!("[{bar}] {percent:>3}% {position}/{head} events")
}

/// `POST /api/v1/projections/rebuild`: starts a rebuild in a task of the server and answers 202
/// with where to watch it; 409 while one runs.
pub async fn rebuild(
    State(store): State<App>,
    Extension(p): Extension<Arc<Projections>>,
) -> Result<Response, Problem> {
    if p.admin.is_none() {
        return Err(Problem::new(
            "invalid-transition",
            "these projections are kept in memory only: there is nothing to rebuild",
        ));
    }
    {
        let mut status = p.rebuild.lock().unwrap_or_else(|e| e.into_inner());
        if status.running {
            return Err(Problem::new(
                "invalid-transition",
                format!(
                    "a rebuild is already running ({}/{}); watch GET /api/v1/projections",
                    status.position, status.head
                ),
            ));
        }
        *status = RebuildStatus {
            running: true,
            started_at: Some(Utc::now()),
            ..RebuildStatus::default()
        };
    }
    let task = tokio::spawn(run_rebuild(store, p.clone()));
    if let Some(old) = p
        .rebuild_task
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(task)
    {
        old.abort();
    }
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, "/api/v1/projections")],
        Json(serde_json::json!({
            "status": "rebuilding",
            "progress": "/api/v1/projections",
        })),
    )
        .into_response())
}

/// The server's rebuild: folds beside the live state (reads keep being served from it), then,
/// under the write lock, applies the events that arrived meanwhile, saves the fresh state as a new
/// generation and swaps it in.
async fn run_rebuild(store: App, p: Arc<Projections>) {
    let set = |f: &dyn Fn(&mut RebuildStatus)| {
        f(&mut p.rebuild.lock().unwrap_or_else(|e| e.into_inner()));
    };
    let result: anyhow::Result<u64> = async {
        let admin = p.admin.clone().expect("checked by the handler");
        let mut fresh = Live::default();
        fold_to_head(&store, &mut fresh, |position, head| {
            set(&|s| {
                s.position = position;
                s.head = head;
            })
        })
        .await?;
        let mut live = p.live.write().await;
        fold_to_head(&store, &mut fresh, |_, _| {}).await?;
        // Never swap in a state behind the one served (the same store's reads only move forward,
        // so this is a safeguard, not a wait).
        while fresh.position < live.position {
            tokio::time::sleep(Duration::from_millis(10)).await;
            fold_to_head(&store, &mut fresh, |_, _| {}).await?;
        }
        fresh.generation = admin
            .replace_checkpoints(fresh.position, fresh.states()?)
            .await?;
        let (generation, position) = (fresh.generation, fresh.position);
        *live = fresh;
        p.applied.send_replace(position);
        drop(live);
        set(&|s| {
            s.position = position;
            s.head = s.head.max(position);
        });
        tracing::info!(generation, position, "projections rebuilt");
        Ok(generation)
    }
    .await;
    set(&|s| {
        s.running = false;
        s.finished_at = Some(Utc::now());
        match &result {
            Ok(g) => s.generation = Some(*g),
            Err(e) => s.error = Some(format!("{e:#}")),
        }
    });
    if let Err(e) = result {
        tracing::error!(error = %format!("{e:#}"), "the rebuild failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nic_store::admin::Checkpoint;

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
        crate::demo::load(store.as_ref(), crate::demo::DEFAULT_SEED)
            .await
            .unwrap();
        let mut events = Vec::new();
        loop {
            let after = events
                .last()
                .map_or(0, |e: &nic_events::RecordedEvent| e.global_position);
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
        let apply = |live: &mut Live, e: &nic_events::RecordedEvent| {
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

    #[test]
    fn the_progress_bar_fills_with_the_log() {
        assert_eq!(
            progress_bar(0, 200),
            "[>                             ]   0% 0/200 events"
        );
        assert_eq!(
            progress_bar(90, 200),
            "[=============>                ]  45% 90/200 events"
        );
        assert_eq!(
            progress_bar(200, 200),
            "[==============================] 100% 200/200 events"
        );
        assert_eq!(
            progress_bar(0, 0),
            "[==============================] 100% 0/0 events"
        );
    }
}
