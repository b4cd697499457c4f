//! Pure read models of the ledger: each projection is a fold of recorded events (`apply`, one
//! event at a time, in log order) and read functions that return serialisable views.
//!
//! - `driver_diagram`: the theory of improvement per network, with each change idea's evidence,
//!   exports to Mermaid and Graphviz DOT, and the difference between two views.
//! - `timeline`: the network's learning story, one readable sentence per meaningful event, with
//!   filters and cursor pages.
//! - `run_charts`: each measure's series per program and network-wide, analysed by `run_chart`,
//!   with the PDSA cycles that ran in each period and a CSV export.
//! - `pdsa_board`: a program's cycles by phase and by ramp, with what each cycle lacks.
//! - `portfolio`: a program's self-assessments against the quality standards over time.
//! - `run_chart`: the run-chart analysis of one series (median, runs, IHI and Anhøj signals).
//!
//! This crate does no I/O and reads no clock: every function is a function of its arguments.
//! Because projections are folds, a view "as of" a position or a time is the fold of the log up
//! to that point (`fold_as_of`, `fold_as_of_time`); keeping projections live and checkpointed is
//! the runtime's job, not this crate's. Each projection remembers the last position it applied
//! and ignores an event at or before it, so a redelivered event changes nothing.

use chrono::{DateTime, Utc};
use nic_events::{CatalogError, NicEvent, RecordedEvent};
use uuid::Uuid;

pub mod driver_diagram;
pub mod names;
pub mod pdsa_board;
pub mod portfolio;
pub mod run_chart;
pub mod run_charts;
pub mod timeline;

/// One event of the log as the projections read it: its place in the log, when and by whom it was
/// recorded, and the catalog event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    pub stream_id: String,
    pub actor: Option<String>,
    pub event: NicEvent,
}

impl Recorded {
    /// Reads a stored event: its data as the current catalog shape (upgrading older versions) and
    /// the actor from its metadata.
    pub fn from_recorded(e: &RecordedEvent) -> Result<Self, CatalogError> {
        let event = NicEvent::from_recorded(e)?;
        let metadata = e.metadata().map_err(|source| CatalogError::Shape {
            event_type: format!("{} metadata", e.event_type),
            version: e.schema_version,
            source,
        })?;
        Ok(Self {
            global_position: e.global_position,
            recorded_at: e.recorded_at,
            stream_id: e.stream_id.as_str().to_string(),
            actor: metadata.actor,
            event,
        })
    }

    /// The id of the entity whose stream holds the event (`network-<uuid>` gives the network's
    /// id): network, measure and PDSA events do not all repeat it in their data.
    pub fn entity_id(&self) -> Option<Uuid> {
        let (_, id) = self.stream_id.split_once('-')?;
        Uuid::parse_str(id).ok()
    }
}

/// A read model folded from the log.
pub trait Projection {
    /// Applies the next event of the log. An event at or before `position()` is ignored.
    fn apply(&mut self, e: &Recorded);
    /// The global position of the last event applied (0 before any).
    fn position(&self) -> u64;
}

/// Whether a projection at `position` should apply an event at `event_position`: events arrive
/// in increasing positions, and a redelivered one is skipped.
pub(crate) fn is_new(position: u64, applied_any: bool, event_position: u64) -> bool {
    !applied_any || event_position > position
}

/// Folds every event of `events` (in log order) into `projection`.
pub fn fold<P: Projection>(mut projection: P, events: &[Recorded]) -> P {
    for e in events {
        projection.apply(e);
    }
    projection
}

/// The projection as of a global position: the fold of the events at or before it.
pub fn fold_as_of<P: Projection>(mut projection: P, events: &[Recorded], position: u64) -> P {
    for e in events.iter().take_while(|e| e.global_position <= position) {
        projection.apply(e);
    }
    projection
}

/// The projection as of a time: the fold of the events recorded at or before it, in log order.
pub fn fold_as_of_time<P: Projection>(
    mut projection: P,
    events: &[Recorded],
    at: DateTime<Utc>,
) -> P {
    for e in events.iter().filter(|e| e.recorded_at <= at) {
        projection.apply(e);
    }
    projection
}

#[cfg(test)]
pub(crate) mod testlog;

#[cfg(test)]
mod tests {
    use super::*;
    use nic_events::{Metadata, StreamId};

    #[test]
    fn a_stored_event_is_read_with_its_actor_and_entity() {
        let network_id = Uuid::from_u128(7);
        let event = NicEvent::NodeRetired(nic_events::catalog::NodeRetired {
            node_id: Uuid::from_u128(9),
            reason: nic_events::Text::parse("merged").unwrap(),
        });
        let metadata = Metadata {
            actor: Some("token:hub".into()),
            ..Metadata::default()
        };
        let new = event.to_new_event(&metadata);
        let stored = RecordedEvent {
            event_id: new.event_id,
            stream_id: StreamId::for_entity("network", network_id),
            stream_version: 3,
            global_position: 42,
            event_type: new.event_type,
            schema_version: new.schema_version,
            data: new.data,
            metadata: new.metadata,
            recorded_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            hash: String::new(),
        };
        let r = Recorded::from_recorded(&stored).unwrap();
        assert_eq!(r.global_position, 42);
        assert_eq!(r.actor.as_deref(), Some("token:hub"));
        assert_eq!(r.entity_id(), Some(network_id));
        assert_eq!(r.event, event);
    }
}
