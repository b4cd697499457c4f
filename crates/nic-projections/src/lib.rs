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
//! - `control_chart`: the control-chart analysis of one series (limits, signals, MDC icons).
//! - `names` and `network_index`: the names of everything, and each network's events by position
//!   (so that an as-of read of one network folds only them).
//! - `limits`: every limit of the read models.
//!
//! Names and run charts are kept once: `RunCharts` (which folds the names of everything too) is
//! the base the other read models read through (`OnBase`), so the driver diagram, the timeline,
//! the boards and the portfolios keep only what is theirs. `ReadModels` folds all five over one
//! base, as the service keeps them; `WithBase<M>` is one read model with a base of its own, a
//! projection by itself (`DriverDiagram`, `Timeline`, `PdsaBoard` and `Portfolio` are such), as an
//! as-of read folds it.
//!
//! This crate does no I/O and reads no clock: every function is a function of its arguments.
//! Because projections are folds, a view "as of" a position or a time is the fold of the log up
//! to that point (`fold_as_of`, at a position or a time: `AsOf`); keeping projections live and checkpointed is
//! the runtime's job, not this crate's. Each projection remembers the last position it applied
//! and ignores an event at or before it, so a redelivered event changes nothing.

use chrono::{DateTime, NaiveDate, Utc};
use nic_events::{CatalogError, NicEvent, RecordedEvent};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::run_charts::RunCharts;

pub mod control_chart;
pub mod driver_diagram;
pub mod limits;
pub mod names;
pub mod network_index;
pub mod pdsa_board;
pub mod portfolio;
pub mod run_chart;
pub mod run_charts;
pub mod timeline;

/// How projection states are written to and read back from their checkpoints (JSON): what JSON
/// cannot say directly.
pub(crate) mod state_serde {
    use std::collections::BTreeMap;

    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// A map whose keys are not strings (tuples), as a list of `[key, value]` pairs.
    pub mod pairs {
        use super::*;

        pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(
            map: &BTreeMap<K, V>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(map.iter())
        }

        pub fn deserialize<'de, K, V, D>(d: D) -> Result<BTreeMap<K, V>, D::Error>
        where
            K: Deserialize<'de> + Ord,
            V: Deserialize<'de>,
            D: Deserializer<'de>,
        {
            Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
        }
    }

    /// An event type, read back as the catalog's own `&'static str`.
    pub fn event_type<'de, D: Deserializer<'de>>(d: D) -> Result<&'static str, D::Error> {
        let s = String::deserialize(d)?;
        nic_events::catalog::CATALOG
            .iter()
            .find(|e| e.event_type == s)
            .map(|e| e.event_type)
            .ok_or_else(|| D::Error::custom(format!("{s:?} is not an event type of the catalog")))
    }
}

/// One event of the log as the projections read it: its place in the log, when and by whom it was
/// recorded, and the catalog event.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub global_position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The day what the event records happened (`NicEvent::occurred_on`, else the metadata's
    /// `occurred_on`, else the day it was recorded); a plan is never dated after its recording.
    pub happened_on: NaiveDate,
    pub stream_id: String,
    pub actor: Option<String>,
    pub event: NicEvent,
    /// The id in `stream_id`, read once: every projection asks it of every event.
    entity: Uuid,
}

impl Recorded {
    /// An event as the projections read it; the entity id is read from `stream_id` here, once.
    /// Refused when the stream id does not end in an entity's id (`category-<uuid>`).
    pub fn new(
        global_position: u64,
        recorded_at: DateTime<Utc>,
        stream_id: String,
        actor: Option<String>,
        event: NicEvent,
    ) -> Result<Self, CatalogError> {
        let Some(entity) = stream_id
            .split_once('-')
            .and_then(|(_, id)| Uuid::parse_str(id).ok())
        else {
            return Err(CatalogError::NoEntity(stream_id));
        };
        let recorded_on = recorded_at.date_naive();
        let happened_on = match &event {
            NicEvent::PdsaCyclePlanned(e) => e.planned_start.min(recorded_on),
            e => e.occurred_on().unwrap_or(recorded_on),
        };
        Ok(Self {
            global_position,
            recorded_at,
            happened_on,
            stream_id,
            actor,
            event,
            entity,
        })
    }

    /// Reads a stored event: its data as the current catalog shape (upgrading older versions), the
    /// actor from its metadata, and the entity from its stream id.
    pub fn from_recorded(e: &RecordedEvent) -> Result<Self, CatalogError> {
        let event = NicEvent::from_recorded(e)?;
        let metadata = e.metadata().map_err(|source| CatalogError::Shape {
            event_type: format!("{} metadata", e.event_type),
            version: e.schema_version,
            source,
        })?;
        Ok(Self::new(
            e.global_position,
            e.recorded_at,
            e.stream_id.as_str().to_string(),
            metadata.actor,
            event,
        )?
        .occurred(metadata.occurred_on))
    }

    /// Dated by a metadata's `occurred_on`, for an event whose data carry no date of their own
    /// (a plan: no later than that day).
    pub fn occurred(mut self, on: Option<NaiveDate>) -> Self {
        if let Some(on) = on {
            self.happened_on = match &self.event {
                NicEvent::PdsaCyclePlanned(e) => e.planned_start.min(on),
                e => e.occurred_on().unwrap_or(on),
            };
        }
        self
    }

    /// The id of the entity whose stream holds the event (`network-<uuid>` gives the network's
    /// id): network, measure and PDSA events do not all repeat it in their data.
    pub fn entity_id(&self) -> Uuid {
        self.entity
    }
}

/// A read model folded from the log.
pub trait Projection {
    /// Applies the next event of the log. An event at or before `position()` is ignored.
    fn apply(&mut self, e: &Recorded);
    /// The global position of the last event applied (0 before any).
    fn position(&self) -> u64;
}

/// A read model that reads names and run charts from the shared base (`RunCharts`) instead of
/// keeping copies of its own.
pub trait OnBase {
    /// Sees an event before the base applies it, with the names as the log held them before it.
    fn before(&mut self, _r: &Recorded, _base: &RunCharts) {}
    /// Applies an event after the base applied it. An event at or before `position()` is ignored.
    fn after(&mut self, r: &Recorded, base: &RunCharts);
    /// The global position of the last event applied (0 before any).
    fn position(&self) -> u64;
    /// Moves the model to `position` with no event to apply: the log between held nothing this
    /// model reads (a fold of one network's events, read as of a later point of the whole log).
    fn reach(&mut self, position: u64);
    /// This read model among all of them.
    fn of(models: &ReadModels) -> &Self;
}

/// The base alone: reads of the run charts (and names) need no other model.
impl OnBase for () {
    fn after(&mut self, _: &Recorded, _: &RunCharts) {}
    fn position(&self) -> u64 {
        0
    }
    fn reach(&mut self, _: u64) {}
    fn of(_: &ReadModels) -> &Self {
        &()
    }
}

/// One read model with a base of its own: a projection by itself.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WithBase<M> {
    pub base: RunCharts,
    pub model: M,
}

impl<M: Default> WithBase<M> {
    pub fn new() -> Self {
        Self::default()
    }
}

impl<M: OnBase> WithBase<M> {
    /// Moves base and model to `position` with no event to apply (see `OnBase::reach`).
    pub fn reach(&mut self, position: u64) {
        self.base.reach(position);
        self.model.reach(position);
    }
}

impl<M: OnBase> Projection for WithBase<M> {
    fn apply(&mut self, r: &Recorded) {
        if !self.base.accepts(r) {
            return;
        }
        self.model.before(r, &self.base);
        self.base.apply(r);
        self.model.after(r, &self.base);
    }

    fn position(&self) -> u64 {
        self.base.position()
    }
}

/// Every read model over one base, as the service keeps them: each event is read once, names and
/// run charts are folded once.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReadModels {
    pub run_charts: RunCharts,
    pub driver_diagram: driver_diagram::Diagrams,
    pub timeline: timeline::Entries,
    pub pdsa_board: pdsa_board::Boards,
    pub portfolio: portfolio::Portfolios,
    pub network_index: network_index::NetworkIndex,
}

impl Projection for ReadModels {
    fn apply(&mut self, r: &Recorded) {
        if !self.run_charts.accepts(r) {
            return;
        }
        self.timeline.before(r, &self.run_charts);
        self.run_charts.apply(r);
        let base = &self.run_charts;
        self.driver_diagram.after(r, base);
        self.timeline.after(r, base);
        self.pdsa_board.after(r, base);
        self.portfolio.after(r, base);
        self.network_index.after(r, base);
    }

    fn position(&self) -> u64 {
        self.run_charts.position()
    }
}

/// Whether a projection at `position` should apply an event at `event_position`: events arrive
/// in increasing positions, and a redelivered one is skipped.
pub(crate) fn is_new(position: u64, applied_any: bool, event_position: u64) -> bool {
    !applied_any || event_position > position
}

/// `OnBase::reach` for a model's (position, applied).
pub(crate) fn reach(position: &mut u64, applied: &mut bool, to: u64) {
    if is_new(*position, *applied, to) {
        *position = to;
        *applied = true;
    }
}

/// Folds every event of `events` (in log order) into `projection`.
pub fn fold<P: Projection>(mut projection: P, events: &[Recorded]) -> P {
    for e in events {
        projection.apply(e);
    }
    projection
}

/// A point of the log to read as of: a global position, or a time (the events recorded at or
/// before it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// As the ledger knew it after this position (the audit view).
    Position(u64),
    /// As the ledger knew it at this time: what had been recorded by then (the audit view).
    Time(DateTime<Utc>),
    /// As the network's work stood at the end of this day: what had happened by then, whenever
    /// it was recorded, including what was recorded later.
    Happened(NaiveDate),
}

impl AsOf {
    /// Whether the event is within this point of the log, or of the network's history.
    pub fn includes(self, e: &Recorded) -> bool {
        match self {
            AsOf::Position(p) => e.global_position <= p,
            AsOf::Time(t) => e.recorded_at <= t,
            AsOf::Happened(d) => e.happened_on <= d,
        }
    }
}

/// The projection as of a point of the log: the fold of those of `events` (in log order) within
/// it. Folding a log page by page gives the fold of the whole, so a reader may call it once per
/// page; every `?as_of=` read of the service goes through here.
pub fn fold_as_of<'a, P: Projection>(
    mut projection: P,
    events: impl IntoIterator<Item = &'a Recorded>,
    as_of: AsOf,
) -> P {
    for e in events {
        if as_of.includes(e) {
            projection.apply(e);
        }
    }
    projection
}

#[cfg(test)]
pub(crate) mod testlog;

#[cfg(test)]
mod tests {
    use super::*;
    use nic_events::{Metadata, StreamId};

    /// When each event happened: its data's date, else its metadata's `occurred_on`, else the
    /// day it was recorded; a plan no later than it was recorded. A replay to a day includes
    /// exactly what had happened by its end.
    #[test]
    fn an_event_happened_on_its_data_s_day_else_its_metadata_s_else_when_recorded() {
        let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        let recorded_at = DateTime::from_timestamp(1_765_000_000, 0).unwrap(); // 2025-12-06
        let stored = |event: &NicEvent, occurred_on: Option<NaiveDate>, stream: &str| {
            let new = event.to_new_event(&Metadata {
                occurred_on,
                ..Metadata::default()
            });
            let r = RecordedEvent {
                event_id: new.event_id,
                stream_id: StreamId::for_entity(stream, Uuid::from_u128(1)),
                stream_version: 0,
                global_position: 1,
                event_type: new.event_type,
                schema_version: new.schema_version,
                data: new.data,
                metadata: new.metadata,
                recorded_at,
                hash: String::new(),
            };
            Recorded::from_recorded(&r).unwrap()
        };
        let started = NicEvent::PdsaCycleStarted(nic_events::catalog::PdsaCycleStarted {
            cycle_id: Uuid::from_u128(1),
            started_on: day("2025-03-04"),
        });
        let retired = NicEvent::NodeRetired(nic_events::catalog::NodeRetired {
            node_id: Uuid::from_u128(9),
            reason: nic_events::Text::parse("merged").unwrap(),
        });
        // The data's own date wins over the metadata's.
        assert_eq!(
            stored(&started, Some(day("2025-01-01")), "pdsa").happened_on,
            day("2025-03-04")
        );
        assert_eq!(
            stored(&retired, Some(day("2025-02-02")), "network").happened_on,
            day("2025-02-02")
        );
        assert_eq!(
            stored(&retired, None, "network").happened_on,
            day("2025-12-06")
        );
        let r = stored(&retired, Some(day("2025-02-02")), "network");
        assert!(AsOf::Happened(day("2025-02-02")).includes(&r));
        assert!(!AsOf::Happened(day("2025-02-01")).includes(&r));
        // Recorded in December: the ledger's clock knew nothing of it in February.
        assert!(!AsOf::Time(DateTime::from_timestamp(1_740_000_000, 0).unwrap()).includes(&r));
    }

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
        assert_eq!(r.entity_id(), network_id);
        assert_eq!(r.event, event);
        // A stream id without the entity's id is an error, not an entity of its own.
        let elsewhere = RecordedEvent {
            stream_id: StreamId::parse("network-hub").unwrap(),
            ..stored
        };
        assert!(matches!(
            Recorded::from_recorded(&elsewhere),
            Err(CatalogError::NoEntity(s)) if s == "network-hub"
        ));
    }

    /// A log with something of every kind the projections keep: the scenario's network, data
    /// points with odd ratios (floats that must read back exactly), cycles through Act.
    fn rich_log() -> Vec<Recorded> {
        use crate::testlog::*;
        use nic_events::catalog::ActDecision;
        let mut log = scenario();
        for (i, (n, d)) in [(3.0, 7.0), (5.0, 9.0), (1.0, 3.0), (7.0, 11.0), (2.0, 13.0)]
            .into_iter()
            .enumerate()
        {
            for (program, base) in [(PROG_A, 100), (PROG_B, 200)] {
                point(
                    &mut log,
                    MEASURE,
                    id(base + i as u128),
                    program,
                    &format!("2025-0{}", i + 1),
                    n,
                    d,
                );
            }
        }
        let (c1, c2) = (id(301), id(302));
        for (cycle, previous, number) in [(c1, None, 1), (c2, Some(c1), 2)] {
            plan(
                &mut log,
                CyclePlan {
                    cycle_id: cycle,
                    program_id: PROG_A,
                    ideas: vec![IDEA],
                    previous,
                    ramp_id: id(300),
                    number,
                    title: "Huddles",
                    start: day(2025, number, 3),
                    end: day(2025, number, 20),
                    measures: vec![MEASURE],
                    predictions: true,
                },
            );
            run_through(
                &mut log,
                cycle,
                day(2025, number, 3),
                day(2025, number, 20),
                true,
                Some((ActDecision::Adapt, "Shorter huddles")),
            );
        }
        log.events
    }

    /// A projection written to JSON (as a checkpoint keeps it) and read back equals itself, at
    /// every position of the log; and the one read back, folded on, ends where the fold from
    /// scratch ends.
    fn round_trips<P>(make: fn() -> P)
    where
        P: Projection
            + serde::Serialize
            + serde::de::DeserializeOwned
            + PartialEq
            + std::fmt::Debug,
    {
        let events = rich_log();
        let whole = fold(make(), &events);
        for k in 0..=events.len() {
            let at = fold(make(), &events[..k]);
            let json = serde_json::to_string(&at).unwrap();
            let back: P = serde_json::from_str(&json).unwrap();
            assert_eq!(back, at, "read back at {k}");
            assert_eq!(serde_json::to_string(&back).unwrap(), json);
            assert_eq!(fold(back, &events[k..]), whole, "resumed at {k}");
        }
    }

    #[test]
    fn every_projection_reads_back_equal_from_its_checkpoint() {
        round_trips(driver_diagram::DriverDiagram::default);
        round_trips(timeline::Timeline::default);
        round_trips(run_charts::RunCharts::default);
        round_trips(pdsa_board::PdsaBoard::default);
        round_trips(portfolio::Portfolio::default);
    }
}
