//! The write side of the API: every command a facilitator or the hub sends. Each handler loads the
//! streams its command needs (`Loader`), asks the domain to decide (`nic_domain`), and appends the
//! events to the target stream with the version it read (`run`). A decision that lost a race is
//! decided again on fresh state; a refused command appends nothing.
//!
//! `If-Match` makes the write conditional on the target stream's version; `Idempotency-Key` makes
//! the event ids (and a new entity's id) derived from the key, so a retry is recognised by the
//! store and answered with the first answer.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::future::BoxFuture;
use nic_domain::cycle::{self, CycleState, PlanContext};
use nic_domain::measure::{self, MeasureState};
use nic_domain::network::{self, NetworkState};
use nic_domain::program::{self, ProgramState};
use nic_domain::synthesis::{self, SynthesisState};
use nic_events::catalog::{Act, Do, EvidenceKind, Study};
use nic_events::limits::READ_PAGE_EVENTS_MAX;
use nic_events::{ExpectedVersion, Metadata, NicEvent, RecordedEvent, StreamId};
use nic_store::{EventStore, StoreError};
use serde::Serialize;
use uuid::Uuid;

use crate::extract::{Body, Ids, WriteHeaders};
use crate::problem::Problem;

/// How many times a command is decided again after losing a race for its stream.
const WRITE_ATTEMPTS_MAX: usize = 5;

pub type App = Arc<dyn EventStore>;

pub fn stream(category: &str, id: Uuid) -> StreamId {
    StreamId::for_entity(category, id)
}

/// Reads streams and folds them into states, once per stream per attempt.
pub struct Loader {
    store: App,
    cache: HashMap<StreamId, Vec<RecordedEvent>>,
}

impl Loader {
    pub fn new(store: App) -> Self {
        Self {
            store,
            cache: HashMap::new(),
        }
    }

    /// Every event of a stream, in order.
    pub async fn recorded(&mut self, id: &StreamId) -> Result<&[RecordedEvent], Problem> {
        if !self.cache.contains_key(id) {
            let mut all = Vec::new();
            loop {
                let page = self
                    .store
                    .read_stream(id, all.len() as u64, READ_PAGE_EVENTS_MAX)
                    .await?;
                let done = page.len() < READ_PAGE_EVENTS_MAX;
                all.extend(page);
                if done {
                    break;
                }
            }
            self.cache.insert(id.clone(), all);
        }
        Ok(&self.cache[id])
    }

    /// The version of a stream's last event, as read (None: no stream).
    pub async fn version(&mut self, id: &StreamId) -> Result<Option<u64>, Problem> {
        Ok(self.recorded(id).await?.last().map(|e| e.stream_version))
    }

    async fn fold<S>(
        &mut self,
        category: &str,
        id: Uuid,
        mut state: S,
        apply: fn(&mut S, &NicEvent),
    ) -> Result<S, Problem> {
        for e in self.recorded(&stream(category, id)).await? {
            apply(&mut state, &NicEvent::from_recorded(e)?);
        }
        Ok(state)
    }

    pub async fn network(&mut self, id: Uuid) -> Result<NetworkState, Problem> {
        self.fold("network", id, NetworkState::new(id), NetworkState::apply)
            .await
    }
    pub async fn program(&mut self, id: Uuid) -> Result<ProgramState, Problem> {
        self.fold("program", id, ProgramState::new(id), ProgramState::apply)
            .await
    }
    pub async fn measure(&mut self, id: Uuid) -> Result<MeasureState, Problem> {
        self.fold("measure", id, MeasureState::new(id), MeasureState::apply)
            .await
    }
    pub async fn cycle(&mut self, id: Uuid) -> Result<CycleState, Problem> {
        self.fold("pdsa", id, CycleState::new(id), CycleState::apply)
            .await
    }
    pub async fn synthesis(&mut self, id: Uuid) -> Result<SynthesisState, Problem> {
        self.fold(
            "synthesis",
            id,
            SynthesisState::new(id),
            SynthesisState::apply,
        )
        .await
    }

    /// Those of `ids` that are measures of `network`.
    async fn measures_of(
        &mut self,
        network: Uuid,
        ids: &[Uuid],
    ) -> Result<BTreeSet<Uuid>, Problem> {
        let mut known = BTreeSet::new();
        for id in ids {
            let m = self.measure(*id).await?;
            if m.definition.is_some_and(|d| d.network_id == network) {
                known.insert(*id);
            }
        }
        Ok(known)
    }

    /// Those of `ids` that are cycles of `network`.
    async fn cycles_of(&mut self, network: Uuid, ids: &[Uuid]) -> Result<BTreeSet<Uuid>, Problem> {
        let mut known = BTreeSet::new();
        for id in ids {
            let c = self.cycle(*id).await?;
            if c.planned.is_some_and(|p| p.network_id == network) {
                known.insert(*id);
            }
        }
        Ok(known)
    }

    async fn syntheses_of(
        &mut self,
        network: Uuid,
        ids: &[Uuid],
    ) -> Result<BTreeSet<Uuid>, Problem> {
        let mut known = BTreeSet::new();
        for id in ids {
            let s = self.synthesis(*id).await?;
            if s.synthesis.is_some_and(|s| s.network_id == network) {
                known.insert(*id);
            }
        }
        Ok(known)
    }
}

/// What a successful command answers: the entity it addressed and the events it appended. A retry
/// with the same `Idempotency-Key` gets the same answer.
#[derive(Debug, Serialize)]
pub struct CommandResult {
    /// The entity the command created or addressed.
    pub id: Uuid,
    pub stream_id: StreamId,
    /// The stream's version after the append (also the `ETag`).
    pub stream_version: u64,
    pub events: Vec<AppendedEvent>,
}

#[derive(Debug, Serialize)]
pub struct AppendedEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub stream_version: u64,
    pub global_position: u64,
    pub data: serde_json::Value,
}

/// Where a command's answer points: the entity and, for a new resource, its address.
pub struct Target {
    pub stream: StreamId,
    pub id: Uuid,
    /// The new resource's path, for `201 Created` with `Location`; None answers `200 OK`.
    pub created_at: Option<String>,
}

impl Target {
    pub fn existing(category: &str, id: Uuid) -> Self {
        Self {
            stream: stream(category, id),
            id,
            created_at: None,
        }
    }

    pub fn new_resource(category: &str, id: Uuid, path: String) -> Self {
        Self {
            stream: stream(category, id),
            id,
            created_at: Some(path),
        }
    }

    /// A new part of an existing entity (a node of a network's diagram, a data point of a
    /// measure): `201 Created`, located at its entity.
    pub fn new_part(category: &str, entity: Uuid, part: Uuid, path: String) -> Self {
        Self {
            stream: stream(category, entity),
            id: part,
            created_at: Some(path),
        }
    }
}

/// Decides a command against fresh state and appends its events to `target.stream`.
pub async fn run<F>(
    store: &App,
    w: &WriteHeaders,
    target: Target,
    decide: F,
) -> Result<Response, Problem>
where
    F: for<'a> Fn(&'a mut Loader) -> BoxFuture<'a, Result<Vec<NicEvent>, Problem>>,
{
    for attempt in 1.. {
        let mut loader = Loader::new(store.clone());
        let recorded = loader.recorded(&target.stream).await?;
        let version = recorded.last().map(|e| e.stream_version);
        if w.idempotency_key.is_some() {
            let ids: Vec<Uuid> = (0..).map(|i| w.event_id(i)).take(64).collect();
            if let Some(first) = recorded.iter().position(|e| e.event_id == ids[0]) {
                let replay: Vec<&RecordedEvent> = recorded[first..]
                    .iter()
                    .zip(&ids)
                    .take_while(|(e, id)| e.event_id == **id)
                    .map(|(e, _)| e)
                    .collect();
                return Ok(answer(&target, listed(replay), true));
            }
        }
        if let Some(expected) = w.if_match {
            if version != Some(expected) {
                return Err(Problem::version_conflict(
                    format!(
                        "If-Match asked for version {expected} of {}, which is at {}",
                        target.stream,
                        version.map_or("no version (it does not exist)".into(), |v| v.to_string())
                    ),
                    version,
                ));
            }
        }
        let events = decide(&mut loader).await?;
        let metadata = Metadata {
            actor: w.actor(),
            correlation_id: Some(w.correlation_id),
            causation_id: None,
        };
        let new: Vec<_> = events
            .iter()
            .enumerate()
            .map(|(i, e)| e.to_new_event(&metadata).with_id(w.event_id(i)))
            .collect();
        let count = new.len() as u64;
        // One new event's answer is known without reading it back: all but its position and
        // version, which the append returns.
        let single = match new.as_slice() {
            [e] => Some((e.event_id, e.event_type.clone(), e.data.clone())),
            _ => None,
        };
        let expected = version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let started = std::time::Instant::now();
        let appended = store.append(&target.stream, expected, new).await;
        crate::metrics::record_append(&appended, &events, started.elapsed());
        match appended {
            Ok(outcome) => {
                if let (Some((event_id, event_type, data)), false) = (single, outcome.duplicate) {
                    let event = AppendedEvent {
                        event_id,
                        event_type,
                        stream_version: outcome.stream_version,
                        global_position: outcome.first_position,
                        data: serde_json::from_str(data.get()).unwrap_or_default(),
                    };
                    return Ok(answer(&target, vec![event], false));
                }
                // Several events, or a retry answered with the original append: as stored.
                let first = outcome.stream_version + 1 - count;
                let appended = store
                    .read_stream(&target.stream, first, count as usize)
                    .await?;
                return Ok(answer(
                    &target,
                    listed(appended.iter().collect()),
                    outcome.duplicate,
                ));
            }
            Err(StoreError::WrongExpectedVersion { .. })
                if w.if_match.is_none() && attempt < WRITE_ATTEMPTS_MAX =>
            {
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    unreachable!("the loop returns")
}

/// Stored events as a command's answer lists them.
fn listed(events: Vec<&RecordedEvent>) -> Vec<AppendedEvent> {
    events
        .into_iter()
        .map(|e| AppendedEvent {
            event_id: e.event_id,
            event_type: e.event_type.clone(),
            stream_version: e.stream_version,
            global_position: e.global_position,
            data: serde_json::from_str(e.data.get()).unwrap_or_default(),
        })
        .collect()
}

fn answer(target: &Target, events: Vec<AppendedEvent>, replayed: bool) -> Response {
    let stream_version = events.last().map_or(0, |e| e.stream_version);
    let body = CommandResult {
        id: target.id,
        stream_id: target.stream.clone(),
        stream_version,
        events,
    };
    let status = if target.created_at.is_some() {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut res = (status, Json(body)).into_response();
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{stream_version}\"")) {
        h.insert(header::ETAG, v);
    }
    if let Some(loc) = target
        .created_at
        .as_deref()
        .and_then(|l| HeaderValue::from_str(l).ok())
    {
        h.insert(header::LOCATION, loc);
    }
    if replayed {
        h.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

// ---------------------------------------------------------------------------------------------
// Networks and their driver diagrams
// ---------------------------------------------------------------------------------------------

pub async fn charter_network(
    State(store): State<App>,
    w: WriteHeaders,
    Body(cmd): Body<network::CharterNetwork>,
) -> Result<Response, Problem> {
    let id = w.new_id();
    let target = Target::new_resource("network", id, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::charter(&l.network(id).await?, cmd)?) })
    })
    .await
}

pub async fn state_aim(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::StateAim>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("network", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::state_aim(&l.network(id).await?, cmd)?) })
    })
    .await
}

pub async fn add_ecosystem(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::AddEcosystem>,
) -> Result<Response, Problem> {
    let eco = w.new_id();
    let target = Target::new_part("network", id, eco, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::add_ecosystem(&l.network(id).await?, eco, cmd)?) })
    })
    .await
}

pub async fn add_driver(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::AddDriver>,
) -> Result<Response, Problem> {
    let node = w.new_id();
    let target = Target::new_part("network", id, node, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::add_driver(&l.network(id).await?, node, cmd)?) })
    })
    .await
}

pub async fn propose_change_idea(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::ProposeChangeIdea>,
) -> Result<Response, Problem> {
    let node = w.new_id();
    let target = Target::new_part("network", id, node, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        let w = w.clone();
        Box::pin(async move {
            let net = l.network(id).await?;
            let proposer = match cmd.proposed_by_program {
                Some(p) => {
                    w.require_program(p)?;
                    Some(l.program(p).await?)
                }
                None => {
                    w.require_admin()?;
                    None
                }
            };
            Ok(network::propose_change_idea(
                &net,
                node,
                proposer.as_ref(),
                cmd,
            )?)
        })
    })
    .await
}

/// The commands addressed to one node of a network's diagram.
macro_rules! node_command {
    ($name:ident, $cmd:ty, $decide:path) => {
        pub async fn $name(
            State(store): State<App>,
            w: WriteHeaders,
            Ids((id, node)): Ids<(Uuid, Uuid)>,
            Body(cmd): Body<$cmd>,
        ) -> Result<Response, Problem> {
            run(&store, &w, Target::existing("network", id), |l| {
                let cmd = cmd.clone();
                Box::pin(async move { Ok($decide(&l.network(id).await?, node, cmd)?) })
            })
            .await
        }
    };
}

node_command!(
    accept_change_idea,
    network::AcceptChangeIdea,
    network::accept_change_idea
);
node_command!(
    decline_change_idea,
    network::DeclineChangeIdea,
    network::decline_change_idea
);
node_command!(change_stage, network::ChangeStage, network::change_stage);
node_command!(reword_node, network::RewordNode, network::reword_node);
node_command!(retire_node, network::RetireNode, network::retire_node);

pub async fn link_nodes(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::LinkNodes>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("network", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::link_nodes(&l.network(id).await?, cmd)?) })
    })
    .await
}

pub async fn unlink_nodes(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::UnlinkNodes>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("network", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(network::unlink_nodes(&l.network(id).await?, cmd)?) })
    })
    .await
}

pub async fn define_standard(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::DefineStandard>,
) -> Result<Response, Problem> {
    let standard = w.new_id();
    let target = Target::new_part("network", id, standard, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move {
            Ok(network::define_standard(
                &l.network(id).await?,
                standard,
                cmd,
            )?)
        })
    })
    .await
}

pub async fn record_root_cause(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<network::RecordRootCause>,
) -> Result<Response, Problem> {
    let cause = w.new_id();
    let target = Target::new_part("network", id, cause, format!("/api/v1/networks/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move {
            Ok(network::record_root_cause(
                &l.network(id).await?,
                cause,
                cmd,
            )?)
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

pub async fn enroll_program(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(network_id): Ids<Uuid>,
    Body(cmd): Body<program::EnrollProgram>,
) -> Result<Response, Problem> {
    let id = w.new_id();
    let target = Target::new_resource("program", id, format!("/api/v1/programs/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let net = l.network(network_id).await?;
            Ok(program::enroll(&net, &l.program(id).await?, cmd)?)
        })
    })
    .await
}

pub async fn withdraw_program(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<program::WithdrawProgram>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("program", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(program::withdraw(&l.program(id).await?, cmd)?) })
    })
    .await
}

pub async fn self_assess(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<program::SelfAssess>,
) -> Result<Response, Problem> {
    let assessment = w.new_id();
    let target = Target::new_part("program", id, assessment, format!("/api/v1/programs/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        let w = w.clone();
        Box::pin(async move {
            w.require_program(id)?;
            let prog = l.program(id).await?;
            prog.require_active()?;
            let net = l.network(prog.network_id).await?;
            let mut known = BTreeSet::new();
            for kind in [
                EvidenceKind::Cycle,
                EvidenceKind::Measure,
                EvidenceKind::Synthesis,
            ] {
                let ids: Vec<Uuid> = cmd
                    .evidence
                    .iter()
                    .filter(|e| e.kind == kind)
                    .filter_map(|e| e.id)
                    .collect();
                let found = match kind {
                    EvidenceKind::Cycle => l.cycles_of(net.id, &ids).await?,
                    EvidenceKind::Measure => l.measures_of(net.id, &ids).await?,
                    _ => l.syntheses_of(net.id, &ids).await?,
                };
                known.extend(found.into_iter().map(|id| (kind, id)));
            }
            Ok(program::self_assess(&prog, &net, assessment, &known, cmd)?)
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------------------------

pub async fn define_measure(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(network_id): Ids<Uuid>,
    Body(cmd): Body<measure::DefineMeasure>,
) -> Result<Response, Problem> {
    let id = w.new_id();
    let target = Target::new_resource("measure", id, format!("/api/v1/measures/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let net = l.network(network_id).await?;
            Ok(measure::define(&net, &l.measure(id).await?, cmd)?)
        })
    })
    .await
}

pub async fn record_data_point(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<measure::RecordDataPoint>,
) -> Result<Response, Problem> {
    let point = w.new_id();
    let target = Target::new_part("measure", id, point, format!("/api/v1/measures/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        let w = w.clone();
        Box::pin(async move {
            w.require_program(cmd.program_id)?;
            let m = l.measure(id).await?;
            let p = l.program(cmd.program_id).await?;
            Ok(measure::record_point(&m, Some(&p), point, cmd)?)
        })
    })
    .await
}

/// The commands addressed to one data point of a measure.
macro_rules! point_command {
    ($name:ident, $cmd:ty, $decide:path) => {
        pub async fn $name(
            State(store): State<App>,
            w: WriteHeaders,
            Ids((id, point)): Ids<(Uuid, Uuid)>,
            Body(cmd): Body<$cmd>,
        ) -> Result<Response, Problem> {
            run(&store, &w, Target::existing("measure", id), |l| {
                let cmd = cmd.clone();
                let w = w.clone();
                Box::pin(async move {
                    let m = l.measure(id).await?;
                    if let Some(p) = m.points.get(&point) {
                        w.require_program(p.program_id)?;
                    }
                    Ok($decide(&m, point, cmd)?)
                })
            })
            .await
        }
    };
}

point_command!(
    correct_data_point,
    measure::CorrectDataPoint,
    measure::correct_point
);
point_command!(
    exclude_data_point,
    measure::ExcludeDataPoint,
    measure::exclude_point
);

pub async fn freeze_baseline(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<measure::FreezeBaseline>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("measure", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(measure::freeze_baseline(&l.measure(id).await?, cmd)?) })
    })
    .await
}

pub async fn start_phase(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<measure::StartPhase>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("measure", id), |l| {
        let cmd = cmd.clone();
        Box::pin(async move { Ok(measure::start_phase(&l.measure(id).await?, cmd)?) })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// PDSA cycles
// ---------------------------------------------------------------------------------------------

pub async fn plan_cycle(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(program_id): Ids<Uuid>,
    Body(cmd): Body<cycle::PlanCycle>,
) -> Result<Response, Problem> {
    let id = w.new_id();
    let target = Target::new_resource("pdsa", id, format!("/api/v1/pdsa-cycles/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        let w = w.clone();
        Box::pin(async move {
            w.require_program(program_id)?;
            let prog = l.program(program_id).await?;
            prog.require_active()?;
            let net = l.network(prog.network_id).await?;
            let previous = match cmd.previous_cycle_id {
                Some(p) => Some(l.cycle(p).await?),
                None => None,
            };
            let known = l.measures_of(net.id, &cmd.plan.measure_ids).await?;
            let this = l.cycle(id).await?;
            let ctx = PlanContext {
                program: &prog,
                network: &net,
                previous: previous.as_ref(),
                known_measures: &known,
            };
            Ok(cycle::plan(&this, ctx, cmd)?)
        })
    })
    .await
}

/// A cycle's commands are its program's to give.
fn require_cycle_program(w: &WriteHeaders, c: &CycleState) -> Result<(), Problem> {
    match &c.planned {
        Some(p) => w.require_program(p.program_id),
        None => Ok(()),
    }
}

/// The commands addressed to one PDSA cycle that need nothing but the cycle.
macro_rules! cycle_command {
    ($name:ident, $cmd:ty, $decide:path) => {
        pub async fn $name(
            State(store): State<App>,
            w: WriteHeaders,
            Ids(id): Ids<Uuid>,
            Body(cmd): Body<$cmd>,
        ) -> Result<Response, Problem> {
            run(&store, &w, Target::existing("pdsa", id), |l| {
                let cmd = cmd.clone();
                let w = w.clone();
                Box::pin(async move {
                    let c = l.cycle(id).await?;
                    require_cycle_program(&w, &c)?;
                    Ok($decide(&c, cmd)?)
                })
            })
            .await
        }
    };
}

cycle_command!(start_cycle, cycle::StartCycle, cycle::start);
cycle_command!(record_do, Do, cycle::record_do);
cycle_command!(record_study, Study, cycle::record_study);
cycle_command!(decide_act, Act, cycle::decide_act);
cycle_command!(abandon_cycle, cycle::AbandonCycle, cycle::abandon);

pub async fn correct_cycle(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(id): Ids<Uuid>,
    Body(cmd): Body<cycle::CorrectCycle>,
) -> Result<Response, Problem> {
    run(&store, &w, Target::existing("pdsa", id), |l| {
        let cmd = cmd.clone();
        let w = w.clone();
        Box::pin(async move {
            let c = l.cycle(id).await?;
            require_cycle_program(&w, &c)?;
            let measures = match &cmd.correction {
                nic_events::catalog::Correction::Plan(p) => p.measure_ids.clone(),
                _ => Vec::new(),
            };
            let network = c.planned.as_ref().map_or(Uuid::nil(), |p| p.network_id);
            let known = l.measures_of(network, &measures).await?;
            Ok(cycle::correct(&c, &known, cmd)?)
        })
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Syntheses
// ---------------------------------------------------------------------------------------------

pub async fn synthesize(
    State(store): State<App>,
    w: WriteHeaders,
    Ids(network_id): Ids<Uuid>,
    Body(cmd): Body<synthesis::SynthesizeLearning>,
) -> Result<Response, Problem> {
    let id = w.new_id();
    let target = Target::new_resource("synthesis", id, format!("/api/v1/syntheses/{id}"));
    run(&store, &w, target, |l| {
        let cmd = cmd.clone();
        Box::pin(async move {
            let net = l.network(network_id).await?;
            let cycles = l.cycles_of(network_id, &cmd.cycle_ids).await?;
            let measures = l.measures_of(network_id, &cmd.measure_ids).await?;
            let this = l.synthesis(id).await?;
            Ok(synthesis::synthesize(&net, &this, &cycles, &measures, cmd)?)
        })
    })
    .await
}
