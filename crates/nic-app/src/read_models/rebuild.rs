//! Rebuilds: a fold of the whole log from position 0 into fresh read models, saved as a new
//! generation of checkpoints (`Admin::replace_checkpoints`). From the command line (`rebuild`:
//! a fold and a save) or from the service (`Service::start_rebuild`: a task that folds beside
//! the live state, which keeps being served, then applies what arrived meanwhile and swaps under
//! the write lock). Every process notices the new generation and reloads it.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use nic_events::catalog::CatalogError;
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_projections::Recorded;
use nic_store::admin::Admin;
use nic_store::{EventStore, ReadAhead, ReadAll, StoreError};
use serde::Serialize;

use super::{Live, Service};
use crate::AppError;

/// How far a rebuild has got.
#[derive(Clone, Debug, Default, Serialize, schemars::JsonSchema)]
pub struct RebuildStatus {
    pub running: bool,
    /// The position the fresh read models have reached, and the head when last looked at.
    pub position: u64,
    pub head: u64,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The generation the finished rebuild saved.
    pub generation: Option<u64>,
    pub error: Option<String>,
}

/// The log after `position`, read and parsed on other tasks ahead of the fold (`ReadAhead`): each
/// event's position and what it reads as, for `Live::apply_read`.
pub(super) fn read_ahead(
    store: &Arc<dyn EventStore>,
    position: u64,
) -> ReadAhead<(u64, Result<Recorded, CatalogError>)> {
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
    store: &Arc<dyn EventStore>,
    live: &mut Live,
    mut progress: impl FnMut(u64, u64),
) -> Result<(), StoreError> {
    // The whole log: every event committed now, once readers see it, or an error.
    let wait = std::time::Duration::from_millis(nic_store::limits::WHOLE_LOG_WAIT_MS);
    let mut head = nic_store::whole_log_head(store.as_ref(), wait).await?;
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

/// Folds the whole log into fresh read models (`progress` hears (position, head) after each
/// page) and saves them as a new generation of checkpoints; returns it and the position reached.
pub async fn rebuild(
    store: &Arc<dyn EventStore>,
    admin: &Admin,
    progress: impl FnMut(u64, u64),
) -> Result<(u64, u64), AppError> {
    let mut live = Live::default();
    fold_to_head(store, &mut live, progress).await?;
    let states = live
        .states()
        .map_err(|e| AppError::Internal(format!("the read models do not serialise: {e}")))?;
    let generation = admin.replace_checkpoints(live.position, states).await?;
    Ok((generation, live.position))
}

impl Service {
    /// The rebuild this process runs or last ran.
    pub fn rebuild_status(&self) -> RebuildStatus {
        self.rebuild
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts a rebuild in a task of this process; `Busy` while one runs, and when the read
    /// models are kept in memory only (there is nothing to rebuild into).
    pub fn start_rebuild(self: &Arc<Self>) -> Result<(), AppError> {
        if self.admin.is_none() {
            return Err(AppError::Busy(
                "these projections are kept in memory only: there is nothing to rebuild".into(),
            ));
        }
        {
            let mut status = self.rebuild.lock().unwrap_or_else(|e| e.into_inner());
            if status.running {
                return Err(AppError::Busy(format!(
                    "a rebuild is already running ({}/{}); watch GET /api/v1/projections",
                    status.position, status.head
                )));
            }
            *status = RebuildStatus {
                running: true,
                started_at: Some(Utc::now()),
                ..RebuildStatus::default()
            };
        }
        let task = tokio::spawn(run_rebuild(self.clone()));
        if let Some(old) = self
            .rebuild_task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace(task)
        {
            old.abort();
        }
        Ok(())
    }

    /// After an erasure or a redaction: the keys an erasure names are destroyed (again: the
    /// process that erased destroys them too, and one stopped in between is completed here), and
    /// the read models, which hold text opened before, are folded again from the log. The runner
    /// rebuilds (a new generation of checkpoints, which the other processes load); read models
    /// kept in memory only are folded again at once.
    pub(crate) async fn forget_opened(self: &Arc<Self>, erased: &[uuid::Uuid]) {
        if !erased.is_empty() {
            if let Err(e) = self.store.destroy_keys(erased, &[]).await {
                tracing::error!(error = %e, "the keys an erasure names could not be destroyed");
            }
        }
        if let Some(admin) = &self.admin {
            if self.is_runner() {
                // The parts saved from now on are sealed under a new key; the rebuild destroys
                // the older ones once its own state is saved.
                if let Err(e) = admin.rotate_checkpoint_key().await {
                    tracing::error!(error = %e, "the checkpoint key could not be rotated");
                }
                self.abort_rebuild();
                self.rebuild
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .running = false;
                if let Err(e) = self.start_rebuild() {
                    tracing::error!(error = %e, "no rebuild after an erasure");
                }
            }
            return;
        }
        let mut fresh = Live::default();
        if let Err(e) = fold_to_head(&self.store, &mut fresh, |_, _| {}).await {
            tracing::error!(error = %e, "the read models could not be folded again after an erasure");
            return;
        }
        let mut live = self.live.write().await;
        if let Err(e) = fold_to_head(&self.store, &mut fresh, |_, _| {}).await {
            tracing::error!(error = %e, "the read models could not be folded again after an erasure");
            return;
        }
        self.swap(&mut live, fresh);
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
}

/// The service's rebuild: folds beside the live state (reads keep being served from it), then,
/// under the write lock, applies the events that arrived meanwhile, saves the fresh state as a new
/// generation and swaps it in.
async fn run_rebuild(p: Arc<Service>) {
    let set = |f: &dyn Fn(&mut RebuildStatus)| {
        f(&mut p.rebuild.lock().unwrap_or_else(|e| e.into_inner()));
    };
    let store = &p.store;
    let started = Utc::now();
    let result: Result<u64, String> = async {
        let admin = p.admin.clone().expect("checked by start_rebuild");
        let mut fresh = Live::default();
        fold_to_head(store, &mut fresh, |position, head| {
            set(&|s| {
                s.position = position;
                s.head = head;
            })
        })
        .await
        .map_err(|e| e.to_string())?;
        let mut live = p.live.write().await;
        fold_to_head(store, &mut fresh, |_, _| {})
            .await
            .map_err(|e| e.to_string())?;
        // Never swap in a state behind the one served (the same store's reads only move forward,
        // so this is a safeguard, not a wait).
        while fresh.position < live.position {
            tokio::time::sleep(Duration::from_millis(10)).await;
            fold_to_head(store, &mut fresh, |_, _| {})
                .await
                .map_err(|e| e.to_string())?;
        }
        let states = fresh.states().map_err(|e| e.to_string())?;
        fresh.generation = admin
            .replace_checkpoints(fresh.position, states)
            .await
            .map_err(|e| e.to_string())?;
        let (generation, position) = (fresh.generation, fresh.position);
        p.swap(&mut live, fresh);
        drop(live);
        // The older generations' parts go now, not after `PART_UNNAMED_KEEP_MS`: after an
        // erasure they hold the text it made unreadable.
        admin
            .prune_parts_before(started)
            .await
            .map_err(|e| e.to_string())?;
        // After an erasure the key was rotated before this rebuild began: the older parts'
        // keys go, and with them whatever copy of those parts the database still holds.
        admin
            .destroy_older_checkpoint_keys()
            .await
            .map_err(|e| e.to_string())?;
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
            Err(e) => s.error = Some(e.clone()),
        }
    });
    if let Err(e) = result {
        tracing::error!(error = %e, "the rebuild failed");
    }
}
