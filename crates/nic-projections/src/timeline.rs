//! The learning timeline: the network's story in log order, one entry per meaningful event, each
//! with a sentence a person can read ("Program X adapted 'Peer mentoring huddles' after cycle 3:
//! …") and the references to filter on (network, program, ecosystem, drivers, change ideas,
//! cycle, measure).
//!
//! Names are resolved from the events before the one told, so an entry reads as it would have on
//! the day. Individual data points are not told (a network records hundreds a month); their
//! corrections and exclusions are, and so is each new run-chart signal of a measure's
//! network-wide series (found by re-analysing the series after each data event). Free text quoted
//! in a sentence is cut at `QUOTE_CHARS_MAX` characters; the event itself keeps all of it.
//!
//! Queries filter by program, ecosystem, driver, change idea, network, kind and recorded time, and
//! page with a cursor: the position after which the next page starts.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use nic_domain::network::NodeKind;
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::QUOTE_CHARS_MAX;
use crate::names::Names;
use crate::run_chart::{Rule, RuleSet};
use crate::run_charts::RunCharts;
use crate::{is_new, OnBase, ReadModels, Recorded, WithBase};

/// The page sizes of a query, for its readers.
pub use crate::limits::{PAGE_ENTRIES_DEFAULT, PAGE_ENTRIES_MAX};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// The network's charter and its ecosystems.
    Network,
    Aim,
    /// Drivers, change ideas, links, rewordings, retirements.
    Diagram,
    RootCause,
    /// Quality standards and programs' self-assessments.
    Standard,
    /// Enrolments and withdrawals.
    Program,
    /// Measure definitions and run-chart settings.
    Measure,
    /// Corrections and exclusions of data points.
    Data,
    /// A new signal on a measure's network-wide run chart.
    Signal,
    /// A PDSA cycle's plan, start, Do, Study, abandonment or correction.
    Cycle,
    /// A PDSA cycle's Act: adopt, adapt or abandon.
    Decision,
    Synthesis,
}

/// A catalog event type (spelled as an alias so that serde reads it back through
/// `state_serde::event_type` rather than borrowing it from the input).
pub type EventType = &'static str;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TimelineEntry {
    pub position: u64,
    pub recorded_at: DateTime<Utc>,
    /// The day what it tells happened (`Recorded::happened_on`).
    pub happened_on: NaiveDate,
    pub kind: EntryKind,
    #[serde(deserialize_with = "crate::state_serde::event_type")]
    pub event_type: EventType,
    pub sentence: String,
    /// Who appended the event, as recorded (`token:<id>`).
    pub actor: Option<String>,
    /// Who that is, as people read it: the token holder's name.
    #[serde(default)]
    pub actor_name: Option<String>,
    pub network_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub ecosystem_id: Option<Uuid>,
    pub driver_ids: Vec<Uuid>,
    pub change_idea_ids: Vec<Uuid>,
    pub cycle_id: Option<Uuid>,
    pub measure_id: Option<Uuid>,
}

/// The timeline's entries, folded from the log (names and run charts are read from the base).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Entries {
    position: u64,
    applied: bool,
    /// Per measure, the signals already told: (rule set, rule, first period of the signal).
    told_signals: BTreeMap<Uuid, BTreeSet<(RuleSet, Rule, Period)>>,
    /// In log order.
    entries: Vec<TimelineEntry>,
    /// Places in `entries`, in the order things happened: by day, then by position.
    by_happened: Vec<u32>,
    /// The entry of the event being applied, told before the base applied it.
    #[serde(skip)]
    pending: Option<TimelineEntry>,
}

/// The timeline with a base of its own: a projection by itself.
pub type Timeline = WithBase<Entries>;

impl Timeline {
    /// Every entry, in log order.
    pub fn entries(&self) -> &[TimelineEntry] {
        self.model.entries()
    }

    /// One page of the entries matching `q`, in log order.
    pub fn query(&self, q: &TimelineQuery) -> TimelinePage {
        self.model.query(q)
    }
}

/// Which entries to read. Every filter given must hold; `kinds` empty means every kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimelineQuery {
    pub network_id: Option<Uuid>,
    pub program_id: Option<Uuid>,
    pub ecosystem_id: Option<Uuid>,
    /// Entries naming this driver.
    pub driver_id: Option<Uuid>,
    /// Entries naming this change idea.
    pub change_idea_id: Option<Uuid>,
    pub kinds: Vec<EntryKind>,
    /// Recorded at or after.
    pub from: Option<DateTime<Utc>>,
    /// Recorded before.
    pub until: Option<DateTime<Utc>>,
    /// Happened on or after this day.
    pub happened_from: Option<NaiveDate>,
    /// Happened on or before this day.
    pub happened_until: Option<NaiveDate>,
    /// In the order things happened (the default), or in the order they were recorded.
    pub order: TimelineOrder,
    /// The cursor: entries after the entry at this position, in the query's order.
    pub after: Option<u64>,
    /// At most `PAGE_ENTRIES_MAX`; `PAGE_ENTRIES_DEFAULT` when not given.
    pub limit: Option<usize>,
}

/// The order of a timeline's entries.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimelineOrder {
    /// By the day each thing happened, then by position.
    #[default]
    Happened,
    /// By position: the order the ledger recorded them (the live feed's).
    Recorded,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct TimelinePage {
    pub entries: Vec<TimelineEntry>,
    /// The `after` of the next page, when there are more entries.
    pub next_after: Option<u64>,
    /// The log position the timeline is as of.
    pub position: u64,
}

impl TimelineQuery {
    pub fn matches(&self, e: &TimelineEntry) -> bool {
        let is = |want: Option<Uuid>, have: Option<Uuid>| want.is_none_or(|w| have == Some(w));
        let names = |want: Option<Uuid>, have: &[Uuid]| want.is_none_or(|w| have.contains(&w));
        is(self.network_id, e.network_id)
            && is(self.program_id, e.program_id)
            && is(self.ecosystem_id, e.ecosystem_id)
            && names(self.driver_id, &e.driver_ids)
            && names(self.change_idea_id, &e.change_idea_ids)
            && (self.kinds.is_empty() || self.kinds.contains(&e.kind))
            && self.from.is_none_or(|f| e.recorded_at >= f)
            && self.until.is_none_or(|u| e.recorded_at < u)
            && self.happened_from.is_none_or(|f| e.happened_on >= f)
            && self.happened_until.is_none_or(|u| e.happened_on <= u)
    }

    /// The page size this query gets: its limit, within 1 and `PAGE_ENTRIES_MAX`.
    pub fn page_size(&self) -> usize {
        self.limit
            .unwrap_or(PAGE_ENTRIES_DEFAULT)
            .clamp(1, PAGE_ENTRIES_MAX)
    }
}

impl OnBase for Entries {
    fn before(&mut self, r: &Recorded, base: &RunCharts) {
        // Sentences name things as the log held them before this event.
        self.pending = is_new(self.position, self.applied, r.global_position)
            .then(|| Teller::new(base).tell(r))
            .flatten();
    }

    fn after(&mut self, r: &Recorded, base: &RunCharts) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        if let Some(entry) = self.pending.take() {
            self.push(entry);
        }
        if r.stream_id.starts_with("measure-") && !matches!(r.event, NicEvent::MeasureDefined(_)) {
            self.tell_new_signals(r, base, r.entity_id());
        }
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    fn of(models: &ReadModels) -> &Self {
        &models.timeline
    }
}

/// What an entry says and names, before the common fields are filled in.
struct Told {
    kind: EntryKind,
    sentence: String,
    network_id: Option<Uuid>,
    program_id: Option<Uuid>,
    ecosystem_id: Option<Uuid>,
    node_ids: Vec<Uuid>,
    cycle_id: Option<Uuid>,
    measure_id: Option<Uuid>,
}

impl Told {
    fn new(kind: EntryKind, sentence: String) -> Self {
        Self {
            kind,
            sentence,
            network_id: None,
            program_id: None,
            ecosystem_id: None,
            node_ids: Vec::new(),
            cycle_id: None,
            measure_id: None,
        }
    }
    fn network(mut self, id: Option<Uuid>) -> Self {
        self.network_id = id;
        self
    }
    fn program(mut self, id: Option<Uuid>) -> Self {
        self.program_id = id;
        self
    }
    fn nodes(mut self, ids: Vec<Uuid>) -> Self {
        self.node_ids = ids;
        self
    }
    fn cycle(mut self, id: Uuid) -> Self {
        self.cycle_id = Some(id);
        self
    }
    fn measure(mut self, id: Uuid) -> Self {
        self.measure_id = Some(id);
        self
    }
}

impl Entries {
    /// Every entry, in log order.
    pub fn entries(&self) -> &[TimelineEntry] {
        &self.entries
    }

    /// Adds an entry told after every entry before it in the log, in its place by day.
    fn push(&mut self, entry: TimelineEntry) {
        let key = (entry.happened_on, entry.position);
        let entries = &self.entries;
        let at = self.by_happened.partition_point(|&i| {
            let e = &entries[i as usize];
            (e.happened_on, e.position) <= key
        });
        self.by_happened.insert(at, self.entries.len() as u32);
        self.entries.push(entry);
    }

    /// One page of the entries matching `q`, in the query's order.
    pub fn query(&self, q: &TimelineQuery) -> TimelinePage {
        let size = q.page_size();
        // Entries are in position order: the cursor's entry is found by its position.
        let after_in_log = |a: u64| self.entries.partition_point(|e| e.position <= a);
        let matching: Box<dyn Iterator<Item = &TimelineEntry>> = match q.order {
            TimelineOrder::Recorded => {
                let start = q.after.map(after_in_log).unwrap_or(0);
                Box::new(self.entries[start..].iter())
            }
            TimelineOrder::Happened => {
                // After the cursor's entry in the order things happened: after its (day, position).
                let start = match q.after {
                    None => 0,
                    Some(a) => {
                        let at = after_in_log(a);
                        let key = match at.checked_sub(1).map(|i| &self.entries[i]) {
                            Some(e) if e.position == a => (e.happened_on, a),
                            _ => (NaiveDate::MIN, a),
                        };
                        self.by_happened.partition_point(|&i| {
                            let e = &self.entries[i as usize];
                            (e.happened_on, e.position) <= key
                        })
                    }
                };
                Box::new(
                    self.by_happened[start..]
                        .iter()
                        .map(|&i| &self.entries[i as usize]),
                )
            }
        };
        let mut matching = matching.filter(|e| q.matches(e)).peekable();
        let mut entries: Vec<TimelineEntry> = matching.by_ref().take(size).cloned().collect();
        // A page ends after every entry of its last position (a data point and the signal it
        // showed share one), since the cursor is a position.
        while let (Some(last), Some(next)) = (entries.last(), matching.peek()) {
            if next.position != last.position {
                break;
            }
            entries.push((*next).clone());
            matching.next();
        }
        let more = matching.peek().is_some();
        TimelinePage {
            next_after: if more {
                entries.last().map(|e| e.position)
            } else {
                None
            },
            entries,
            position: self.position,
        }
    }
}

/// Tells events as sentences, naming things as the base names them.
struct Teller<'a> {
    names: &'a Names,
    charts: &'a RunCharts,
}

impl<'a> Teller<'a> {
    fn new(base: &'a RunCharts) -> Self {
        Self {
            names: base.names(),
            charts: base,
        }
    }

    fn entry(&self, r: &Recorded, t: Told) -> TimelineEntry {
        let program = t.program_id.and_then(|p| self.names.programs.get(&p));
        let (driver_ids, change_idea_ids) = self.split(&t.node_ids, &r.event);
        TimelineEntry {
            position: r.global_position,
            recorded_at: r.recorded_at,
            happened_on: r.happened_on,
            kind: t.kind,
            event_type: r.event.event_type(),
            sentence: t.sentence,
            actor: r.actor.clone(),
            actor_name: r.actor.as_deref().map(|a| self.names.actor(a)),
            network_id: t.network_id.or(program.map(|p| p.network_id)),
            program_id: t.program_id,
            ecosystem_id: t.ecosystem_id.or(program.map(|p| p.ecosystem_id)),
            driver_ids,
            change_idea_ids,
            cycle_id: t.cycle_id,
            measure_id: t.measure_id,
        }
    }

    /// Splits node ids into drivers and change ideas; a node the event itself introduces is
    /// classified by the event.
    fn split(&self, ids: &[Uuid], event: &NicEvent) -> (Vec<Uuid>, Vec<Uuid>) {
        let mut drivers = Vec::new();
        let mut ideas = Vec::new();
        for &id in ids {
            let kind = match event {
                NicEvent::ChangeIdeaProposed(e) if e.node_id == id => Some(NodeKind::ChangeIdea),
                NicEvent::DriverAdded(e) if e.node_id == id => Some(NodeKind::Primary),
                _ => self.names.node_kind(id),
            };
            if kind == Some(NodeKind::ChangeIdea) {
                ideas.push(id);
            } else {
                drivers.push(id);
            }
        }
        (drivers, ideas)
    }

    fn node_label(&self, id: Uuid) -> String {
        let kind = self
            .names
            .node_kind(id)
            .map(|k| k.label())
            .unwrap_or("node");
        format!("{} '{}'", capitalise(kind), self.names.node(id))
    }

    /// "Cycle 2 of 'Peer mentoring huddles'".
    fn cycle_phrase(&self, cycle_id: Uuid) -> (String, Option<Uuid>, Vec<Uuid>) {
        match self.names.cycles.get(&cycle_id) {
            Some(c) => {
                let mut nodes = c.change_idea_ids.clone();
                nodes.extend(&c.driver_ids);
                (
                    format!(
                        "cycle {} of {}",
                        c.cycle_number,
                        self.names.quoted_titles(&c.change_idea_ids)
                    ),
                    Some(c.program_id),
                    nodes,
                )
            }
            None => (format!("cycle {cycle_id}"), None, Vec::new()),
        }
    }

    fn point_phrase(&self, measure_id: Uuid, point_id: Uuid) -> (String, Option<Uuid>) {
        match self.charts.point(measure_id, point_id) {
            Some((program_id, period)) => (
                format!(
                    "{}'s {period} value of '{}'",
                    self.names.program(program_id),
                    self.names.measure(measure_id)
                ),
                Some(program_id),
            ),
            None => (format!("data point {point_id}"), None),
        }
    }

    fn measure_told(&self, measure: Uuid, kind: EntryKind, sentence: String) -> Told {
        let m = self.names.measures.get(&measure);
        Told::new(kind, sentence)
            .network(m.map(|m| m.network_id))
            .nodes(m.map(|m| m.tracks.clone()).unwrap_or_default())
            .measure(measure)
    }

    /// The entry of an event, if it is told: its sentence, by the event's family, and what it
    /// names.
    fn tell(&self, r: &Recorded) -> Option<TimelineEntry> {
        use NicEvent as E;
        let entity = r.entity_id();
        let event = &r.event;
        let told = match event {
            E::NetworkChartered(_)
            | E::AimStated(_)
            | E::AimRevised(_)
            | E::EcosystemAdded(_)
            | E::StandardDefined(_)
            | E::RootCauseRecorded(_)
            | E::ChartSettingsChanged(_) => self.tell_network(entity, event),
            E::DriverAdded(_)
            | E::ChangeIdeaProposed(_)
            | E::ChangeIdeaAccepted(_)
            | E::ChangeIdeaDeclined(_)
            | E::ChangeIdeaStageChanged(_)
            | E::NodeReworded(_)
            | E::NodesLinked(_)
            | E::NodesUnlinked(_)
            | E::NodeRetired(_) => self.tell_diagram(entity, event),
            E::ProgramEnrolled(_) | E::ProgramWithdrawn(_) | E::StandardSelfAssessed(_) => {
                self.tell_program(event)
            }
            E::MeasureDefined(_)
            | E::DataPointRecorded(_)
            | E::DataPointCorrected(_)
            | E::DataPointExcluded(_)
            | E::BaselineFrozen(_)
            | E::PhaseStarted(_)
            | E::ControlChartChosen(_) => self.tell_measure(entity, event)?,
            E::PdsaCyclePlanned(_)
            | E::PdsaCycleStarted(_)
            | E::PdsaDoRecorded(_)
            | E::PdsaStudyRecorded(_)
            | E::PdsaActDecided(_)
            | E::PdsaCycleAbandoned(_)
            | E::PdsaCycleCorrected(_) => self.tell_cycle(event),
            E::LearningSynthesized(e) => Told::new(
                EntryKind::Synthesis,
                format!(
                    "Network learning synthesized, '{}': {}",
                    e.title,
                    quote(e.statement.as_str())
                ),
            )
            .network(Some(e.network_id))
            .nodes(e.node_ids.clone()),
            // Access tokens are the service's business, not the network's learning.
            // Not the network's learning: access and the handling of personal data.
            E::TokenIssued(_)
            | E::TokenRevoked(_)
            | E::RetentionSet(_)
            | E::PersonalDataErased(_)
            | E::PersonalFieldRedacted(_)
            | E::PersonalKeysExported(_) => return None,
        };
        Some(self.entry(r, told))
    }

    /// The network's charter, aim, ecosystems, quality standards and root causes.
    fn tell_network(&self, entity: Uuid, event: &NicEvent) -> Told {
        use EntryKind as K;
        match event {
            NicEvent::NetworkChartered(e) => {
                Told::new(K::Network, format!("Network '{}' chartered", e.name))
                    .network(Some(e.network_id))
            }
            NicEvent::AimStated(e) => Told::new(
                K::Aim,
                format!("Network aim stated: {}", quote(e.aim.statement.as_str())),
            )
            .network(Some(entity)),
            NicEvent::AimRevised(e) => Told::new(
                K::Aim,
                format!(
                    "Network aim revised: {} (why: {})",
                    quote(e.aim.statement.as_str()),
                    quote(e.reason.as_str())
                ),
            )
            .network(Some(entity)),
            NicEvent::EcosystemAdded(e) => {
                let mut t = Told::new(
                    K::Network,
                    format!("Ecosystem '{}' ({}) joined the network", e.name, e.region),
                )
                .network(Some(entity));
                t.ecosystem_id = Some(e.ecosystem_id);
                t
            }
            NicEvent::StandardDefined(e) => Told::new(
                K::Standard,
                format!("Quality standard {} '{}' defined", e.code, e.title),
            )
            .network(Some(entity)),
            NicEvent::RootCauseRecorded(e) => Told::new(
                K::RootCause,
                format!("Root cause recorded under {}: {}", e.category, e.cause),
            )
            .network(Some(entity)),
            NicEvent::ChartSettingsChanged(e) => Told::new(
                K::Network,
                format!(
                    "Charts read with a reporting deadline of {} days and the {} control-chart \
                     rules{}",
                    e.reporting_deadline_days,
                    match e.control_rules {
                        ControlRuleSet::HealthCareDataGuide => "Health Care Data Guide",
                        ControlRuleSet::MakingDataCount => "Making Data Count",
                        ControlRuleSet::Shewhart => "Shewhart",
                    },
                    if e.reason.is_blank() {
                        String::new()
                    } else {
                        format!(" (why: {})", quote(e.reason.as_str()))
                    }
                ),
            )
            .network(Some(entity)),
            other => unreachable!("{} is not told as a network event", other.event_type()),
        }
    }

    /// The driver diagram: drivers, change ideas, their links, rewordings and retirements.
    fn tell_diagram(&self, entity: Uuid, event: &NicEvent) -> Told {
        use EntryKind as K;
        let n = &self.names;
        match event {
            NicEvent::DriverAdded(e) => {
                let kind = match e.kind {
                    DriverKind::Primary => "Primary driver",
                    DriverKind::Secondary => "Secondary driver",
                };
                Told::new(K::Diagram, format!("{kind} '{}' added", e.title))
                    .network(Some(entity))
                    .nodes(vec![e.node_id])
            }
            NicEvent::ChangeIdeaProposed(e) => {
                let by = e
                    .proposed_by_program
                    .map(|p| n.program(p))
                    .unwrap_or_else(|| "the hub".into());
                Told::new(
                    K::Diagram,
                    format!("Change idea '{}' proposed by {by}", e.title),
                )
                .network(Some(entity))
                .program(e.proposed_by_program)
                .nodes(vec![e.node_id])
            }
            NicEvent::ChangeIdeaAccepted(e) => Told::new(
                K::Diagram,
                format!("{} accepted", self.node_label(e.node_id)),
            )
            .network(Some(entity))
            .nodes(vec![e.node_id]),
            NicEvent::ChangeIdeaDeclined(e) => Told::new(
                K::Diagram,
                format!(
                    "{} declined: {}",
                    self.node_label(e.node_id),
                    quote(e.reason.as_str())
                ),
            )
            .network(Some(entity))
            .nodes(vec![e.node_id]),
            NicEvent::ChangeIdeaStageChanged(e) => Told::new(
                K::Diagram,
                format!(
                    "{} moved from {} to {}: {}",
                    self.node_label(e.node_id),
                    stage(e.from),
                    stage(e.to),
                    quote(e.reason.as_str())
                ),
            )
            .network(Some(entity))
            .nodes(vec![e.node_id]),
            NicEvent::NodeReworded(e) => {
                let old = n.node(e.node_id);
                let sentence = if old == e.title.as_str() {
                    format!("{} redefined", self.node_label(e.node_id))
                } else {
                    format!("{} reworded as '{}'", self.node_label(e.node_id), e.title)
                };
                Told::new(K::Diagram, sentence)
                    .network(Some(entity))
                    .nodes(vec![e.node_id])
            }
            NicEvent::NodesLinked(e) => Told::new(
                K::Diagram,
                format!(
                    "'{}' now serves '{}' ({})",
                    n.node(e.from),
                    n.node(e.to),
                    match e.strength {
                        LinkStrength::Strong => "strong link",
                        LinkStrength::Weak => "weak link",
                    }
                ),
            )
            .network(Some(entity))
            .nodes(vec![e.from, e.to]),
            NicEvent::NodesUnlinked(e) => Told::new(
                K::Diagram,
                format!("'{}' no longer serves '{}'", n.node(e.from), n.node(e.to)),
            )
            .network(Some(entity))
            .nodes(vec![e.from, e.to]),
            NicEvent::NodeRetired(e) => Told::new(
                K::Diagram,
                format!(
                    "{} retired: {}",
                    self.node_label(e.node_id),
                    quote(e.reason.as_str())
                ),
            )
            .network(Some(entity))
            .nodes(vec![e.node_id]),
            other => unreachable!("{} is not told as a diagram event", other.event_type()),
        }
    }

    /// Programs' enrolments, withdrawals and self-assessments.
    fn tell_program(&self, event: &NicEvent) -> Told {
        use EntryKind as K;
        let n = &self.names;
        match event {
            NicEvent::ProgramEnrolled(e) => {
                let eco = n
                    .ecosystems
                    .get(&e.ecosystem_id)
                    .cloned()
                    .unwrap_or_else(|| e.region.to_string());
                // "the Pittsburgh ecosystem", but not "the … Learning Ecosystem ecosystem".
                let eco = match eco.to_lowercase().ends_with("ecosystem") {
                    true => eco,
                    false => format!("{eco} ecosystem"),
                };
                let mut t = Told::new(K::Program, format!("{} enrolled, in the {eco}", e.name))
                    .network(Some(e.network_id))
                    .program(Some(e.program_id));
                t.ecosystem_id = Some(e.ecosystem_id);
                t
            }
            NicEvent::ProgramWithdrawn(e) => Told::new(
                K::Program,
                format!(
                    "{} withdrew: {}",
                    n.program(e.program_id),
                    quote(e.reason.as_str())
                ),
            )
            .program(Some(e.program_id)),
            NicEvent::StandardSelfAssessed(e) => {
                let standard = n
                    .standards
                    .get(&e.standard_id)
                    .map(|s| format!("{} '{}'", s.code, s.title))
                    .unwrap_or_else(|| format!("standard {}", e.standard_id));
                Told::new(
                    K::Standard,
                    format!(
                        "{} rated itself {} of {} on {standard}",
                        n.program(e.program_id),
                        e.rating,
                        nic_domain::program::RATING_MAX
                    ),
                )
                .program(Some(e.program_id))
            }
            other => unreachable!("{} is not told as a program event", other.event_type()),
        }
    }

    /// Measures: their definitions, their data points' corrections and exclusions (points
    /// themselves are not told: None), and their run-chart settings.
    fn tell_measure(&self, measure: Uuid, event: &NicEvent) -> Option<Told> {
        use EntryKind as K;
        let n = &self.names;
        Some(match event {
            NicEvent::MeasureDefined(e) => {
                Told::new(K::Measure, format!("Measure '{}' defined", e.name))
                    .network(Some(e.network_id))
                    .nodes(e.tracks.clone())
                    .measure(e.measure_id)
            }
            NicEvent::DataPointRecorded(_) => return None,
            NicEvent::DataPointCorrected(e) => {
                let (what, program) = self.point_phrase(measure, e.point_id);
                let mut t = self.measure_told(
                    measure,
                    K::Data,
                    format!("{what} corrected: {}", quote(e.reason.as_str())),
                );
                t.program_id = program;
                t
            }
            NicEvent::DataPointExcluded(e) => {
                let (what, program) = self.point_phrase(measure, e.point_id);
                let mut t = self.measure_told(
                    measure,
                    K::Data,
                    format!(
                        "{what} excluded from run charts: {}",
                        quote(e.reason.as_str())
                    ),
                );
                t.program_id = program;
                t
            }
            NicEvent::BaselineFrozen(e) => self.measure_told(
                measure,
                K::Measure,
                format!(
                    "Baseline of '{}' frozen on the first {} points",
                    n.measure(measure),
                    e.points
                ),
            ),
            NicEvent::PhaseStarted(e) => self.measure_told(
                measure,
                K::Measure,
                format!(
                    "New phase '{}' of '{}' from {}",
                    e.label,
                    n.measure(measure),
                    e.from_period
                ),
            ),
            NicEvent::ControlChartChosen(e) => self.measure_told(
                measure,
                K::Measure,
                format!(
                    "Control chart of '{}' drawn as {}{}",
                    n.measure(measure),
                    match e.chart {
                        ControlChartKind::P => "a P chart",
                        ControlChartKind::PPrime => "a P′ chart (Laney)",
                        ControlChartKind::U => "a U chart",
                        ControlChartKind::UPrime => "a U′ chart (Laney)",
                        ControlChartKind::C => "a C chart",
                        ControlChartKind::I => "an I chart",
                    },
                    if e.reason.is_blank() {
                        String::new()
                    } else {
                        format!(" (why: {})", quote(e.reason.as_str()))
                    }
                ),
            ),
            other => unreachable!("{} is not told as a measure event", other.event_type()),
        })
    }

    /// PDSA cycles, from plan to act, and their corrections.
    fn tell_cycle(&self, event: &NicEvent) -> Told {
        use EntryKind as K;
        let n = &self.names;
        match event {
            NicEvent::PdsaCyclePlanned(e) => {
                let mut nodes = e.change_idea_ids.clone();
                nodes.extend(&e.driver_ids);
                Told::new(
                    K::Cycle,
                    format!(
                        "Cycle {} of {} planned by {}: {}",
                        e.cycle_number,
                        n.quoted_titles(&e.change_idea_ids),
                        n.program(e.program_id),
                        e.title
                    ),
                )
                .network(Some(e.network_id))
                .program(Some(e.program_id))
                .nodes(nodes)
                .cycle(e.cycle_id)
            }
            NicEvent::PdsaCycleStarted(e) => self.cycle_told(e.cycle_id, K::Cycle, |p, c| {
                format!("{p} started {c} on {}", e.started_on)
            }),
            NicEvent::PdsaDoRecorded(e) => self.cycle_told(e.cycle_id, K::Cycle, |p, c| {
                let how = if e.done.carried_out_as_planned {
                    "as planned"
                } else {
                    "not as planned"
                };
                format!(
                    "{p} carried out {c} {how}: {}",
                    quote(e.done.what_happened.as_str())
                )
            }),
            NicEvent::PdsaStudyRecorded(e) => self.cycle_told(e.cycle_id, K::Cycle, |p, c| {
                format!("{p} studied {c}: {}", quote(e.study.summary.as_str()))
            }),
            NicEvent::PdsaActDecided(e) => {
                let (phrase, program, nodes) = self.cycle_phrase(e.cycle_id);
                let c = n.cycles.get(&e.cycle_id);
                let ideas = c
                    .map(|c| n.quoted_titles(&c.change_idea_ids))
                    .unwrap_or_else(|| "the change".into());
                let verb = match e.act.decision {
                    ActDecision::Adopt => "adopted",
                    ActDecision::Adapt => "adapted",
                    ActDecision::Abandon => "abandoned",
                };
                let after = c
                    .map(|c| format!("cycle {}", c.cycle_number))
                    .unwrap_or(phrase);
                Told::new(
                    K::Decision,
                    format!(
                        "{} {verb} {ideas} after {after}: {}",
                        program
                            .map(|p| n.program(p))
                            .unwrap_or_else(|| "A program".into()),
                        quote(e.act.reason.as_str())
                    ),
                )
                .program(program)
                .nodes(nodes)
                .cycle(e.cycle_id)
            }
            NicEvent::PdsaCycleAbandoned(e) => self.cycle_told(e.cycle_id, K::Cycle, |p, c| {
                format!(
                    "{p} abandoned {c} while {}: {}",
                    nic_domain::cycle::phase_name(e.in_phase),
                    quote(e.reason.as_str())
                )
            }),
            NicEvent::PdsaCycleCorrected(e) => self.cycle_told(e.cycle_id, K::Cycle, |p, c| {
                let section = match e.correction {
                    Correction::Plan(_) => "Plan",
                    Correction::Do(_) => "Do",
                    Correction::Study(_) => "Study",
                    Correction::Act(_) => "Act",
                };
                format!(
                    "{p} corrected the {section} of {c}: {}",
                    quote(e.reason.as_str())
                )
            }),
            other => unreachable!("{} is not told as a cycle event", other.event_type()),
        }
    }

    fn cycle_told(
        &self,
        cycle_id: Uuid,
        kind: EntryKind,
        say: impl FnOnce(&str, &str) -> String,
    ) -> Told {
        let (phrase, program, nodes) = self.cycle_phrase(cycle_id);
        let who = program
            .map(|p| self.names.program(p))
            .unwrap_or_else(|| "A program".into());
        let network = self.names.cycles.get(&cycle_id).map(|c| c.network_id);
        Told::new(kind, say(&who, &phrase))
            .network(network)
            .program(program)
            .nodes(nodes)
            .cycle(cycle_id)
    }
}

impl Entries {
    /// Tells the signals of a measure's network-wide chart that were not there before.
    fn tell_new_signals(&mut self, r: &Recorded, base: &RunCharts, measure: Uuid) {
        // Which signals there are, first, without their sentences; the sentences only when one
        // is new. Building the whole chart after every data point made the fold of a measure
        // quadratic, and writing every signal's sentence after every point was most of the rest.
        let told = self.told_signals.get(&measure);
        let mut any_new = false;
        base.network_signal_starts(measure, |rule_set, rule, first| {
            any_new = any_new || told.is_none_or(|t| !t.contains(&(rule_set, rule, first)));
        });
        if !any_new {
            return;
        }
        let Some(chart) = base.network_signals(measure) else {
            return;
        };
        let told = self.told_signals.entry(measure).or_default();
        let mut new = Vec::new();
        for s in chart.signals {
            let Some(first) = s.first_period else {
                continue;
            };
            if told.insert((s.rule_set, s.rule, first)) {
                new.push((s.rule_set, s.message));
            }
        }
        for (rule_set, message) in new {
            let set = match rule_set {
                RuleSet::Ihi => "IHI",
                RuleSet::Anhoej => "Anhøj",
            };
            let sentence = format!(
                "Signal on '{}' (network-wide, {set} rules): {message}",
                chart.measure_name
            );
            let teller = Teller::new(base);
            let t = teller.measure_told(measure, EntryKind::Signal, sentence);
            self.push(teller.entry(r, t));
        }
    }
}

fn stage(s: ChangeIdeaStage) -> &'static str {
    match s {
        ChangeIdeaStage::Proposed => "proposed",
        ChangeIdeaStage::Accepted => "accepted",
        ChangeIdeaStage::Declined => "declined",
        ChangeIdeaStage::Testing => "testing",
        ChangeIdeaStage::Implementing => "implementing",
        ChangeIdeaStage::Spreading => "spreading",
        ChangeIdeaStage::Abandoned => "abandoned",
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Free text for a sentence: on one line, cut at `QUOTE_CHARS_MAX` characters.
fn quote(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > QUOTE_CHARS_MAX {
        let cut: String = one_line.chars().take(QUOTE_CHARS_MAX).collect();
        format!("{}…", cut.trim_end())
    } else {
        one_line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold;
    use crate::testlog::*;

    /// The scenario, then: Program A plans and adapts cycle 1 and plans cycle 2; Program B plans
    /// a cycle on a second change idea; the aim is revised; a point is recorded and corrected.
    fn story() -> Log {
        let mut log = scenario();
        log.net(NicEvent::ChangeIdeaProposed(ChangeIdeaProposed {
            node_id: id(24),
            title: t("Family STEM nights"),
            definition: x(""),
            proposed_by_program: None,
            rationale: x(""),
        }));
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(100),
                program_id: PROG_A,
                ideas: vec![IDEA],
                previous: None,
                ramp_id: id(100),
                number: 1,
                title: "Huddle pilot",
                start: day(2025, 3, 1),
                end: day(2025, 3, 20),
                measures: vec![MEASURE],
                predictions: true,
            },
        );
        run_through(
            &mut log,
            id(100),
            day(2025, 3, 1),
            day(2025, 3, 20),
            true,
            Some((ActDecision::Adapt, "Mentors asked for shorter huddles")),
        );
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(101),
                program_id: PROG_A,
                ideas: vec![IDEA],
                previous: Some(id(100)),
                ramp_id: id(100),
                number: 2,
                title: "Short huddles",
                start: day(2025, 4, 1),
                end: day(2025, 4, 20),
                measures: vec![MEASURE],
                predictions: true,
            },
        );
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(102),
                program_id: PROG_B,
                ideas: vec![id(24)],
                previous: None,
                ramp_id: id(102),
                number: 1,
                title: "First family night",
                start: day(2025, 4, 1),
                end: day(2025, 4, 2),
                measures: vec![],
                predictions: true,
            },
        );
        log.net(NicEvent::AimRevised(AimRevised {
            aim: aim("Increase alumni STEM enrolment from 38% to 55%", 55.0),
            reason: x("Ahead of plan"),
        }));
        point(&mut log, MEASURE, id(900), PROG_B, "2025-03", 4.0, 10.0);
        log.push(
            "measure",
            MEASURE,
            NicEvent::DataPointCorrected(DataPointCorrected {
                point_id: id(900),
                numerator: Some(5.0),
                denominator: Some(10.0),
                value: None,
                reason: x("Miscounted"),
            }),
        );
        log
    }

    fn sentences(page: &TimelinePage) -> Vec<&str> {
        page.entries.iter().map(|e| e.sentence.as_str()).collect()
    }

    #[test]
    fn entries_read_as_sentences_with_names_resolved() {
        let log = story();
        let tl = fold(Timeline::new(), &log.events);
        let all: Vec<&str> = tl.entries().iter().map(|e| e.sentence.as_str()).collect();
        for expected in [
            "Network 'STEM PUSH' chartered",
            "Network aim stated: Increase alumni STEM enrolment from 38% to 50%",
            "Program A enrolled, in the Pittsburgh ecosystem",
            "Change idea 'Peer mentoring huddles' proposed by Program A",
            "'Peer mentoring huddles' now serves 'Near-peer mentoring' (weak link)",
            "Change idea 'Peer mentoring huddles' accepted",
            "Measure 'Alumni STEM enrolment' defined",
            "Cycle 1 of 'Peer mentoring huddles' planned by Program A: Huddle pilot",
            "Program A started cycle 1 of 'Peer mentoring huddles' on 2025-03-01",
            "Program A adapted 'Peer mentoring huddles' after cycle 1: Mentors asked for shorter huddles",
            "Cycle 2 of 'Peer mentoring huddles' planned by Program A: Short huddles",
            "Cycle 1 of 'Family STEM nights' planned by Program B: First family night",
            "Network aim revised: Increase alumni STEM enrolment from 38% to 55% (why: Ahead of plan)",
            "Program B's 2025-03 value of 'Alumni STEM enrolment' corrected: Miscounted",
        ] {
            assert!(all.contains(&expected), "missing {expected:?} in {all:#?}");
        }
        // The recording of a data point is not told; everything else is, in log order.
        assert_eq!(tl.entries().len(), log.events.len() - 1);
        assert!(tl
            .entries()
            .windows(2)
            .all(|w| w[0].position < w[1].position));
        let decision = tl
            .entries()
            .iter()
            .find(|e| e.kind == EntryKind::Decision)
            .unwrap();
        assert_eq!(decision.program_id, Some(PROG_A));
        assert_eq!(decision.ecosystem_id, Some(ECO));
        assert_eq!(decision.network_id, Some(NET));
        assert_eq!(decision.change_idea_ids, vec![IDEA]);
        assert_eq!(decision.driver_ids, vec![SECONDARY]);
        assert_eq!(decision.cycle_id, Some(id(100)));
        assert_eq!(decision.actor.as_deref(), Some("token:test"));
    }

    #[test]
    fn queries_filter_by_program_ecosystem_node_kind_and_time() {
        let log = story();
        let tl = fold(Timeline::new(), &log.events);
        let q = |q: TimelineQuery| tl.query(&q);
        let b = q(TimelineQuery {
            program_id: Some(PROG_B),
            ..Default::default()
        });
        assert_eq!(
            sentences(&b),
            vec![
                "Program B enrolled, in the Chicago STEM Learning Ecosystem",
                "Cycle 1 of 'Family STEM nights' planned by Program B: First family night",
                "Program B's 2025-03 value of 'Alumni STEM enrolment' corrected: Miscounted",
            ]
        );
        let by_eco = q(TimelineQuery {
            ecosystem_id: Some(ECO_B),
            ..Default::default()
        });
        assert_eq!(by_eco.entries.len(), 4, "{:#?}", sentences(&by_eco));
        let decisions = q(TimelineQuery {
            kinds: vec![EntryKind::Decision, EntryKind::Aim],
            ..Default::default()
        });
        assert_eq!(decisions.entries.len(), 3);
        let idea = q(TimelineQuery {
            change_idea_id: Some(id(24)),
            ..Default::default()
        });
        assert_eq!(
            sentences(&idea),
            vec![
                "Change idea 'Family STEM nights' proposed by the hub",
                "Cycle 1 of 'Family STEM nights' planned by Program B: First family night",
            ]
        );
        let driver = q(TimelineQuery {
            driver_id: Some(PRIMARY),
            ..Default::default()
        });
        assert_eq!(
            sentences(&driver),
            vec![
                "Primary driver 'Students see themselves in STEM' added",
                "'Near-peer mentoring' now serves 'Students see themselves in STEM' (strong link)",
            ]
        );
        // Recorded times are a minute apart from position 1: [5, 8) holds positions 5, 6 and 7.
        let window = q(TimelineQuery {
            from: Some(Log::time_of(5)),
            until: Some(Log::time_of(8)),
            ..Default::default()
        });
        let positions: Vec<u64> = window.entries.iter().map(|e| e.position).collect();
        assert_eq!(positions, vec![5, 6, 7]);
    }

    #[test]
    fn cursor_pages_walk_every_match_once() {
        let log = story();
        let tl = fold(Timeline::new(), &log.events);
        let filter = TimelineQuery {
            network_id: Some(NET),
            limit: Some(4),
            ..Default::default()
        };
        let everything = tl.query(&TimelineQuery {
            limit: Some(PAGE_ENTRIES_MAX),
            ..filter.clone()
        });
        assert_eq!(everything.next_after, None);
        let mut walked = Vec::new();
        let mut after = None;
        let mut pages = 0;
        loop {
            let page = tl.query(&TimelineQuery {
                after,
                ..filter.clone()
            });
            assert!(page.entries.len() <= 4);
            walked.extend(page.entries.iter().map(|e| e.position));
            pages += 1;
            match page.next_after {
                Some(next) => {
                    assert_eq!(Some(next), page.entries.last().map(|e| e.position));
                    after = Some(next);
                }
                None => break,
            }
        }
        let all: Vec<u64> = everything.entries.iter().map(|e| e.position).collect();
        assert_eq!(walked, all);
        assert_eq!(pages, all.len().div_ceil(4));
        // The page size is bounded whatever the query asks.
        let huge = TimelineQuery {
            limit: Some(1_000_000),
            ..Default::default()
        };
        assert_eq!(huge.page_size(), PAGE_ENTRIES_MAX);
        let zero = TimelineQuery {
            limit: Some(0),
            ..Default::default()
        };
        assert_eq!(tl.query(&zero).entries.len(), 1);
    }

    #[test]
    fn long_free_text_is_cut_in_the_sentence() {
        let long = "word ".repeat(200);
        let s = quote(&long);
        assert_eq!(s.chars().count(), QUOTE_CHARS_MAX);
        assert!(s.ends_with('…'));
        assert_eq!(quote("two\nlines"), "two lines");
    }

    #[test]
    fn a_new_signal_on_a_measure_is_told_once() {
        let mut log = scenario();
        for m in 1..=12u32 {
            let n = if m <= 6 { 3.0 } else { 8.0 };
            let p = format!("2025-{m:02}");
            point(
                &mut log,
                MEASURE,
                id(1000 + u128::from(m)),
                PROG_A,
                &p,
                n,
                10.0,
            );
        }
        let tl = fold(Timeline::new(), &log.events);
        let signals: Vec<&TimelineEntry> = tl
            .entries()
            .iter()
            .filter(|e| e.kind == EntryKind::Signal)
            .collect();
        assert!(!signals.is_empty());
        assert!(signals.iter().all(|e| e
            .sentence
            .starts_with("Signal on 'Alumni STEM enrolment' (network-wide")));
        assert!(signals.iter().all(|e| e.change_idea_ids == vec![IDEA]));
        let mut keys: Vec<&str> = signals.iter().map(|e| e.sentence.as_str()).collect();
        keys.dedup();
        assert_eq!(keys.len(), signals.len());
    }
}
