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
pub mod read_models;
pub mod reads;
pub mod transfer;

use std::sync::Arc;

use nic_store::admin::Admin;
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
    store: Arc<dyn EventStore>,
    read_models: Arc<read_models::Service>,
    registry: Registry,
    /// Commands of this process to one stream take turns (`command::Turns`).
    turns: command::Turns,
    states: Arc<command::States>,
    stop: watch::Sender<bool>,
}

impl App {
    /// The service over `store` with its read models checkpointed through `admin` (this process
    /// named `identity` in the lease).
    pub fn new(store: Arc<dyn EventStore>, admin: Arc<Admin>, identity: String) -> Self {
        let models = read_models::Service::checkpointed(store.clone(), admin, identity);
        Self::with_models(store, models)
    }

    /// The service over `store` with its read models in memory only.
    pub fn in_memory(store: Arc<dyn EventStore>) -> Self {
        let models = read_models::Service::in_memory(store.clone());
        Self::with_models(store, models)
    }

    fn with_models(store: Arc<dyn EventStore>, models: read_models::Service) -> Self {
        Self {
            inner: Arc::new(Inner {
                registry: Registry::new(store.clone()),
                store,
                read_models: Arc::new(models),
                turns: command::Turns::default(),
                states: Arc::default(),
                stop: watch::Sender::new(false),
            }),
        }
    }

    pub fn store(&self) -> &Arc<dyn EventStore> {
        &self.inner.store
    }

    pub fn read_models(&self) -> &Arc<read_models::Service> {
        &self.inner.read_models
    }

    pub fn tokens(&self) -> &Registry {
        &self.inner.registry
    }

    /// Starts following the log into the read models until `stop`; the caller owns the task.
    pub fn follow(&self) -> tokio::task::JoinHandle<()> {
        read_models::follow(self.inner.read_models.clone(), self.stopping())
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
