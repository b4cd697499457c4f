//! The application layer of NIC Ledger, knowing nothing of HTTP: the store handle and what the
//! service does with it. `App` runs commands (`execute`: the table in `commands`, through the
//! runner in `command`), serves reads (`reads`), owns the live read models (`read_models`), checks
//! tokens (`access`) and moves the log in and out (`transfer`). Every error is an `AppError`; the
//! HTTP edge (`nic-http`) and the command line (`nic-ledger`) are thin shells over this crate.

pub mod access;
pub mod command;
pub mod commands;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod privacy;
pub mod read_models;
pub mod reads;
pub mod transfer;

use std::sync::Arc;

use nic_store::admin::Admin;
use nic_store::sealing::Sealing;
use nic_store::EventStore;
use tokio::sync::watch;

pub use access::{Access, Principal, Registry};
pub use command::{Call, Command, CommandResult, Ids, Kind, Outcome, Write};
pub use error::AppError;
pub use nic_projections::AsOf;

/// The service: the store, the live read models and the token registry, shared by every request
/// and task; cheap to clone. `stop` ends the follower and tells every long-lived reader (live
/// streams) to finish.
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
}

struct Inner {
    /// The log with personal fields sealed on append and opened on read.
    store: Arc<dyn EventStore>,
    /// The same log as stored, sealed: what exports and chain proofs read.
    stored: Arc<dyn EventStore>,
    read_models: Arc<read_models::Service>,
    registry: Registry,
    /// Commands of this process to one stream take turns (`nic_store::turns::Turns`).
    turns: nic_store::turns::Turns,
    states: Arc<command::States>,
    stop: watch::Sender<bool>,
}

impl App {
    /// The service over `store` with its read models checkpointed through `admin` (this process
    /// named `identity` in the lease).
    pub fn new(store: Arc<dyn EventStore>, admin: Arc<Admin>, identity: String) -> Self {
        let stored = store;
        let store: Arc<dyn EventStore> = Sealing::new(stored.clone());
        let models = read_models::Service::checkpointed(store.clone(), admin, identity);
        Self::with_models(store, stored, models)
    }

    /// The service over `store` with its read models in memory only.
    pub fn in_memory(store: Arc<dyn EventStore>) -> Self {
        let stored = store;
        let store: Arc<dyn EventStore> = Sealing::new(stored.clone());
        let models = read_models::Service::in_memory(store.clone());
        Self::with_models(store, stored, models)
    }

    fn with_models(
        store: Arc<dyn EventStore>,
        stored: Arc<dyn EventStore>,
        models: read_models::Service,
    ) -> Self {
        let states = Arc::new(command::States::default());
        Self {
            inner: Arc::new(Inner {
                registry: Registry::new(store.clone(), states.clone()),
                store,
                stored,
                read_models: Arc::new(models),
                turns: nic_store::turns::Turns::default(),
                states,
                stop: watch::Sender::new(false),
            }),
        }
    }

    /// The log as people read it: personal fields sealed on append and opened on read
    /// (`nic_store::sealing`).
    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    /// The log as stored, personal fields sealed: exports and chain proofs read it.
    pub fn stored(&self) -> &Arc<dyn EventStore> {
        &self.inner.stored
    }

    pub fn read_models(&self) -> &Arc<read_models::Service> {
        &self.inner.read_models
    }

    pub fn tokens(&self) -> &Registry {
        &self.inner.registry
    }

    /// Starts following the log into the read models until `stop`; the caller owns the task.
    pub fn follow(&self) -> tokio::task::JoinHandle<()> {
        read_models::follow(
            self.inner.read_models.clone(),
            self.inner.states.clone(),
            self.stopping(),
        )
    }

    /// Whether commands decide on the kept states without reading them: the follower is in step
    /// with the log and hands every event it reads to them (`command::States`).
    pub fn states_in_step(&self) -> bool {
        self.inner.states.in_step()
    }

    /// Turns true when the service stops.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.inner.stop.subscribe()
    }

    /// Stops the follower and every live reader; a rebuild in progress is abandoned.
    pub fn stop(&self) {
        self.inner.stop.send_replace(true);
        self.inner.read_models.abort_rebuild();
    }

    /// Runs a command addressed to `ids` for the write `w`: decided on fresh state, appended
    /// atomically to one stream.
    pub async fn execute<C: Command>(
        &self,
        cmd: C,
        ids: C::Ids,
        w: &Write,
    ) -> Result<Outcome, AppError> {
        let call = Call {
            ids,
            new_id: w.new_id(),
            principal: w.principal.clone(),
        };
        let target = C::target(&call);
        let _turn = self.inner.turns.take(&target.stream).await;
        command::run(self.store(), &self.inner.states, w, &cmd, &call, target).await
    }

    /// Sets the lag gauges: the read models' (from their positions and the log's head) and the
    /// store's readers' (`EventStore::read_held_back`).
    pub async fn observe_lag(&self) -> Result<(), AppError> {
        let (positions, consumed, _) = self.read_models().positions().await;
        let head = self.store().head_position().await?.max(consumed);
        metrics::metrics()
            .read_held_back
            .set(self.store().read_held_back().as_secs_f64());
        for (name, position) in positions {
            metrics::metrics()
                .projection_lag
                .with_label_values(&[name])
                .set(head.saturating_sub(position.max(consumed)) as i64);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Kept states that another process has moved past (the follower has not delivered its events
    //! yet): the target stream's expected version catches them, and a refusal made on them is
    //! checked again on fresh state. Over a real SQLite store.

    use super::*;
    use nic_domain::cycle::{AbandonCycle, PlanCycle};
    use nic_domain::network::{AddDriver, AddEcosystem, CharterNetwork, ProposeChangeIdea};
    use nic_domain::program::EnrollProgram;
    use nic_events::catalog::{CyclePhase, Do, PdsaCycleAbandoned, PdsaCycleStarted, Role};
    use nic_events::{ExpectedVersion, Metadata, NicEvent};
    use serde_json::json;
    use uuid::Uuid;

    fn body<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
        serde_json::from_value(v).expect("a valid command")
    }

    fn id(o: Result<Outcome, AppError>) -> Uuid {
        match o {
            Ok(o) => o.result.id,
            Err(e) => panic!("{e}"),
        }
    }

    #[tokio::test]
    async fn a_kept_state_another_process_moved_past_is_decided_again_on_fresh_state() {
        let store = nic_store::open(&nic_store::scratch::sqlite_url())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        let app = App::in_memory(store.clone());
        // In step, but with no follower: nothing another process appends reaches the kept states.
        app.inner.states.following();
        let w = Write::by(
            Principal {
                token_id: uuid::Uuid::nil(),
                name: "hub".into(),
                role: Role::Admin,
                programs: Vec::new(),
            },
            "test",
        );
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
                body::<EnrollProgram>(json!({"name": "A", "ecosystem_id": ecosystem})),
                network,
                &w,
            )
            .await);
        let primary = id(app
            .execute(
                body::<AddDriver>(json!({"kind": "primary", "title": "Identity"})),
                network,
                &w,
            )
            .await);
        let idea = id(app
            .execute(
                body::<ProposeChangeIdea>(
                    json!({"title": "Huddles", "serves": [{"node_id": primary}]}),
                ),
                network,
                &w,
            )
            .await);
        let cycle = id(app
            .execute(
                body::<PlanCycle>(json!({"title": "Huddles", "change_idea_ids": [idea],
                    "purpose": "test", "scale": "one mentor", "planned_start": "2025-03-03",
                    "planned_end": "2025-03-14", "plan": {"objective": "See",
                    "questions": [{"question": "Q?", "prediction": "P"}]}})),
                program,
                &w,
            )
            .await);
        assert!(app.states_in_step());

        // Another process starts the cycle; this one still keeps it as planned.
        let stream = Kind::Cycle.stream(cycle);
        let started = NicEvent::PdsaCycleStarted(PdsaCycleStarted {
            cycle_id: cycle,
            started_on: "2025-03-03".parse().unwrap(),
        });
        store
            .append(
                &stream,
                ExpectedVersion::Exact(0),
                vec![started.to_new_event(&Metadata::default())],
            )
            .await
            .unwrap();

        // The Do, refused on the kept state (planned), is recorded on the fresh one (started).
        let done = app
            .execute(
                Do {
                    carried_out_as_planned: true,
                    what_happened: nic_events::Text::parse("Ran two huddles").unwrap(),
                    problems_and_surprises: Default::default(),
                    observations: Vec::new(),
                    completed_on: "2025-03-10".parse().unwrap(),
                },
                cycle,
                &w,
            )
            .await;
        assert_eq!(done.expect("the Do is recorded").result.stream_version, 2);

        // Another process abandons it; abandoning it here too is allowed on the kept state, loses
        // its append, and is refused on the fresh state.
        let abandoned = NicEvent::PdsaCycleAbandoned(PdsaCycleAbandoned {
            cycle_id: cycle,
            in_phase: CyclePhase::Studying,
            reason: nic_events::Text::parse("The mentor left").unwrap(),
        });
        store
            .append(
                &stream,
                ExpectedVersion::Exact(2),
                vec![abandoned.to_new_event(&Metadata::default())],
            )
            .await
            .unwrap();
        let again = app
            .execute(
                body::<AbandonCycle>(json!({"reason": "No time"})),
                cycle,
                &w,
            )
            .await;
        assert!(
            matches!(again, Err(AppError::Domain(_))),
            "a closed cycle is not abandoned twice: {again:?}"
        );
        let types: Vec<String> = store
            .read_stream(&stream, 0, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.event_type)
            .collect();
        assert_eq!(
            types,
            [
                "PdsaCyclePlanned",
                "PdsaCycleStarted",
                "PdsaDoRecorded",
                "PdsaCycleAbandoned"
            ]
        );
    }
}
