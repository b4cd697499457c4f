//! The follower: applies the log to the live read models, from the latest checkpoint, and, in the
//! one process holding the lease `LEASE`, saves checkpoints.
//!
//! - **Checkpoints.** Each model's whole state and the position it reached are saved together for
//!   all six (`Admin::save_checkpoints`: each state cut into content-defined parts, the parts not
//!   stored yet written in short transactions, then one small transaction that points every
//!   checkpoint at its parts), so a checkpoint never holds a state that does not match its
//!   position, and a save writes about as much as changed since the last one. A process starts
//!   from the latest checkpoint and follows the log from its position; the backlog (the whole log
//!   at a first start) is read ahead, as a rebuild reads it.
//! - **One runner.** The process holding the lease (taken or renewed every `LEASE_TTL_MS / 3`, for
//!   `LEASE_TTL_MS`) saves the checkpoints: after an applied batch, at most every
//!   `CHECKPOINT_EVERY_MS` or every `CHECKPOINT_EVERY_EVENTS` events, whichever comes first (and
//!   once more when it stops), and never sooner than `CHECKPOINT_COST_FACTOR` times as long as the
//!   last save took after it. The states are copied under the read lock (applying waits only for
//!   the copy), then serialised, cut and hashed on a blocking thread, pausing after each state as
//!   long as it took: a save takes at most about half a core from the requests served meanwhile.
//!   A save is fenced in the database by the lease, the generation and the position, so a process
//!   that lost the lease writes nothing. The other processes follow the log in memory too (their
//!   reads stay fresh) but write nothing; when the lease expires one of them takes it.
//! - A rebuild elsewhere saves a new generation: every process notices it (the runner's next save
//!   is refused; the others poll it) and reloads.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nic_events::catalog::{CatalogError, NicEvent};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_projections::Recorded;
use nic_store::admin::Admin;
use nic_store::{ReadAll, StoreError, Subscription};
use tokio::sync::watch;

use super::rebuild::read_ahead;
use super::{Live, Service, LEASE};
use crate::command::States;
use crate::limits::{
    APPLY_CHUNK_EVENTS, CHECKPOINT_COST_FACTOR, CHECKPOINT_EVERY_EVENTS, CHECKPOINT_EVERY_MS,
    FOLLOW_RETRY_MS, LEASE_TTL_MS,
};

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

// ---------------------------------------------------------------------------------------------
// Following the log

/// Follows the log from the latest checkpoint and applies every event to the projections until
/// `stop` turns true; takes the lease when it is free and, while holding it, saves checkpoints.
/// Every event the subscription reads also goes to `states`, the decided states kept in step.
/// The caller owns the task.
pub fn follow(
    service: Arc<Service>,
    states: Arc<States>,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut follower = Follower {
            p: service,
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
                follower.p.store.clone(),
                ReadAll::after(position, READ_PAGE_EVENTS_MAX),
            );
            states.following();
            // Until a reload is due.
            loop {
                let step = tokio::select! {
                    _ = stop.wait_for(|s| *s) => Step::Stop,
                    _ = tick.tick() => Step::Tick,
                    batch = subscription.next_batch() => Step::Batch(batch),
                };
                match step {
                    Step::Stop => {
                        states.not_following();
                        follower.stop().await;
                        return;
                    }
                    Step::Tick => {
                        if follower.lease_and_generation().await
                            || (follower.due(true) && follower.save().await)
                        {
                            states.not_following();
                            break;
                        }
                    }
                    Step::Batch(Ok(events)) => {
                        states.follow(&events);
                        follower.apply(&events).await;
                        if follower.due(false) && follower.save().await {
                            states.not_following();
                            break;
                        }
                    }
                    Step::Batch(Err(e)) => {
                        states.not_following();
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
    p: Arc<Service>,
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
        self.p.swap(&mut *self.p.live.write().await, fresh);
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
        let mut pages = read_ahead(&self.p.store, position);
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
        let mut erased = Vec::new();
        let mut privacy = false;
        for (_, r) in read {
            match r.as_ref().map(|r| &r.event) {
                Ok(NicEvent::PersonalDataErased(e)) => {
                    privacy = true;
                    erased.extend_from_slice(&e.keys);
                }
                Ok(NicEvent::PersonalFieldRedacted(_)) => privacy = true,
                _ => {}
            }
        }
        if privacy {
            self.p.forget_opened(&erased).await;
        }
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
            super::serialise(&models, true).map(|states| (generation, position, states))
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
