//! Every command of the service as a row of one table (`Command` implementations): the body
//! type, the ids it is addressed with, the stream it appends to (`target`) and how it decides
//! (`decide`: load the states it needs, check the principal's programs, call the domain).
//! `App::execute` runs any of them through the one runner (`command::run`); the HTTP edge has one
//! handler for all of them. A new command is a row here and a row in the route table.

use std::collections::BTreeSet;

use futures::future::BoxFuture;
use nic_domain::cycle::{self, AbandonCycle, CorrectCycle, CycleState, PlanCycle, StartCycle};
use nic_domain::measure::{
    self, ChooseControlChart, CorrectDataPoint, DefineMeasure, ExcludeDataPoint, FreezeBaseline,
    RecordDataPoint, StartPhase,
};
use nic_domain::network::{
    self, AcceptChangeIdea, AddDriver, AddEcosystem, ChangeStage, CharterNetwork,
    DeclineChangeIdea, DefineStandard, LinkNodes, ProposeChangeIdea, RecordRootCause, RetireNode,
    RewordNode, SetChartSettings, SetRetention, StateAim, UnlinkNodes,
};
use nic_domain::program::{self, EnrollProgram, SelfAssess, WithdrawProgram};
use nic_domain::synthesis::{self, SynthesizeLearning};
use nic_events::catalog::{Act, Correction, Do, EvidenceKind, Study};
use nic_events::NicEvent;
use uuid::Uuid;

use crate::access::Principal;
use crate::command::{Call, Command, Decided, Kind, Loader, Target};
use crate::AppError;

/// A row: `Body, Ids => target, |body, loader, call| decision`, the decision an expression that may
/// `.await` and `?`, giving the domain's `Decision`.
macro_rules! commands {
    ($($cmd:ty, $ids:ty => $target:expr, |$c:ident, $l:ident, $call:ident| $decide:expr;)*) => {$(
        impl Command for $cmd {
            type Ids = $ids;
            fn target($call: &Call<$ids>) -> Target {
                $target
            }
            fn decide<'a>(
                &'a self,
                $l: &'a mut Loader,
                $call: &'a Call<$ids>,
            ) -> BoxFuture<'a, Result<Vec<NicEvent>, AppError>> {
                let $c = self.clone();
                Box::pin(async move { Ok($decide?) })
            }
        }
    )*};
}

commands! {
    // Networks and their driver diagrams.
    CharterNetwork, () => Target::new_entity(Kind::Network, call.new_id),
        |c, l, call| network::charter(&*l.network(call.new_id).await?, c);
    StateAim, Uuid => Target::existing(Kind::Network, call.ids),
        |c, l, call| network::state_aim(&*l.network(call.ids).await?, c);
    SetChartSettings, Uuid => Target::existing(Kind::Network, call.ids),
        |c, l, call| network::set_chart_settings(&*l.network(call.ids).await?, c);
    SetRetention, Uuid => Target::existing(Kind::Network, call.ids),
        |c, l, call| network::set_retention(&*l.network(call.ids).await?, c);
    AddEcosystem, Uuid => Target::new_part(Kind::Network, call.ids, call.new_id),
        |c, l, call| network::add_ecosystem(&*l.network(call.ids).await?, call.new_id, c);
    AddDriver, Uuid => Target::new_part(Kind::Network, call.ids, call.new_id),
        |c, l, call| network::add_driver(&*l.network(call.ids).await?, call.new_id, c);
    ProposeChangeIdea, Uuid => Target::new_part(Kind::Network, call.ids, call.new_id),
        |c, l, call| propose_change_idea(l, call, c).await;
    AcceptChangeIdea, (Uuid, Uuid) => Target::existing(Kind::Network, call.ids.0),
        |c, l, call| network::accept_change_idea(&*l.network(call.ids.0).await?, call.ids.1, c);
    DeclineChangeIdea, (Uuid, Uuid) => Target::existing(Kind::Network, call.ids.0),
        |c, l, call| network::decline_change_idea(&*l.network(call.ids.0).await?, call.ids.1, c);
    ChangeStage, (Uuid, Uuid) => Target::existing(Kind::Network, call.ids.0),
        |c, l, call| network::change_stage(&*l.network(call.ids.0).await?, call.ids.1, c);
    RewordNode, (Uuid, Uuid) => Target::existing(Kind::Network, call.ids.0),
        |c, l, call| network::reword_node(&*l.network(call.ids.0).await?, call.ids.1, c);
    RetireNode, (Uuid, Uuid) => Target::existing(Kind::Network, call.ids.0),
        |c, l, call| network::retire_node(&*l.network(call.ids.0).await?, call.ids.1, c);
    LinkNodes, Uuid => Target::existing(Kind::Network, call.ids),
        |c, l, call| network::link_nodes(&*l.network(call.ids).await?, c);
    UnlinkNodes, Uuid => Target::existing(Kind::Network, call.ids),
        |c, l, call| network::unlink_nodes(&*l.network(call.ids).await?, c);
    DefineStandard, Uuid => Target::new_part(Kind::Network, call.ids, call.new_id),
        |c, l, call| network::define_standard(&*l.network(call.ids).await?, call.new_id, c);
    RecordRootCause, Uuid => Target::new_part(Kind::Network, call.ids, call.new_id),
        |c, l, call| network::record_root_cause(&*l.network(call.ids).await?, call.new_id, c);
    // Programs.
    EnrollProgram, Uuid => Target::new_entity(Kind::Program, call.new_id),
        |c, l, call| {
            let net = l.network(call.ids).await?;
            program::enroll(&net, &*l.program(call.new_id).await?, c)
        };
    WithdrawProgram, Uuid => Target::existing(Kind::Program, call.ids),
        |c, l, call| program::withdraw(&*l.program(call.ids).await?, c);
    SelfAssess, Uuid => Target::new_part(Kind::Program, call.ids, call.new_id),
        |c, l, call| self_assess(l, call, c).await;
    // Measures.
    DefineMeasure, Uuid => Target::new_entity(Kind::Measure, call.new_id),
        |c, l, call| {
            let net = l.network(call.ids).await?;
            measure::define(&net, &*l.measure(call.new_id).await?, c)
        };
    RecordDataPoint, Uuid => Target::new_part(Kind::Measure, call.ids, call.new_id),
        |c, l, call| {
            call.principal.require_program(c.program_id)?;
            let m = l.measure(call.ids).await?;
            let p = l.program(c.program_id).await?;
            measure::record_point(&m, Some(&p), call.new_id, c)
        };
    CorrectDataPoint, (Uuid, Uuid) => Target::existing(Kind::Measure, call.ids.0),
        |c, l, call| {
            let m = l.measure(call.ids.0).await?;
            require_point_program(&call.principal, &m, call.ids.1)?;
            measure::correct_point(&m, call.ids.1, c)
        };
    ExcludeDataPoint, (Uuid, Uuid) => Target::existing(Kind::Measure, call.ids.0),
        |c, l, call| {
            let m = l.measure(call.ids.0).await?;
            require_point_program(&call.principal, &m, call.ids.1)?;
            measure::exclude_point(&m, call.ids.1, c)
        };
    FreezeBaseline, Uuid => Target::existing(Kind::Measure, call.ids),
        |c, l, call| measure::freeze_baseline(&*l.measure(call.ids).await?, c);
    StartPhase, Uuid => Target::existing(Kind::Measure, call.ids),
        |c, l, call| measure::start_phase(&*l.measure(call.ids).await?, c);
    ChooseControlChart, Uuid => Target::existing(Kind::Measure, call.ids),
        |c, l, call| measure::choose_control_chart(&*l.measure(call.ids).await?, c);
    // PDSA cycles.
    PlanCycle, Uuid => Target::new_entity(Kind::Cycle, call.new_id),
        |c, l, call| plan_cycle(l, call, c).await;
    StartCycle, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| cycle::start(&*own_cycle(l, call).await?, c);
    Do, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| cycle::record_do(&*own_cycle(l, call).await?, c);
    Study, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| cycle::record_study(&*own_cycle(l, call).await?, c);
    Act, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| cycle::decide_act(&*own_cycle(l, call).await?, c);
    AbandonCycle, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| cycle::abandon(&*own_cycle(l, call).await?, c);
    CorrectCycle, Uuid => Target::existing(Kind::Cycle, call.ids),
        |c, l, call| {
            let cycle = own_cycle(l, call).await?;
            let measures = match &c.correction {
                Correction::Plan(p) => p.measure_ids.clone(),
                _ => Vec::new(),
            };
            let network = cycle.planned.as_ref().map_or(Uuid::nil(), |p| p.network_id);
            let known = l.of_network(Kind::Measure, network, &measures).await?;
            cycle::correct(&cycle, &known, c)
        };
    // Syntheses.
    SynthesizeLearning, Uuid => Target::new_entity(Kind::Synthesis, call.new_id),
        |c, l, call| {
            let net = l.network(call.ids).await?;
            let cycles = l.of_network(Kind::Cycle, call.ids, &c.cycle_ids).await?;
            let measures = l.of_network(Kind::Measure, call.ids, &c.measure_ids).await?;
            let this = l.synthesis(call.new_id).await?;
            synthesis::synthesize(&net, &this, &cycles, &measures, c)
        };
}

/// A change idea is proposed by a member program (its facilitator) or by the hub.
async fn propose_change_idea(
    l: &mut Loader,
    call: &Call<Uuid>,
    c: ProposeChangeIdea,
) -> Result<Vec<NicEvent>, AppError> {
    let net = l.network(call.ids).await?;
    let proposer = match c.proposed_by_program {
        Some(p) => {
            call.principal.require_program(p)?;
            Some(l.program(p).await?)
        }
        None => {
            call.principal.require_admin()?;
            None
        }
    };
    Ok(network::propose_change_idea(
        &net,
        call.new_id,
        proposer.as_deref(),
        c,
    )?)
}

/// A self-assessment's evidence must be the network's own cycles, measures and syntheses.
async fn self_assess(
    l: &mut Loader,
    call: &Call<Uuid>,
    c: SelfAssess,
) -> Result<Vec<NicEvent>, AppError> {
    call.principal.require_program(call.ids)?;
    let prog = l.program(call.ids).await?;
    prog.require_active()?;
    let net = l.network(prog.network_id).await?;
    let mut known = BTreeSet::new();
    for kind in [
        EvidenceKind::Cycle,
        EvidenceKind::Measure,
        EvidenceKind::Synthesis,
    ] {
        let ids: Vec<Uuid> = c
            .evidence
            .iter()
            .filter(|e| e.kind == kind)
            .filter_map(|e| e.id)
            .collect();
        let found = match kind {
            EvidenceKind::Cycle => l.of_network(Kind::Cycle, net.id, &ids).await?,
            EvidenceKind::Measure => l.of_network(Kind::Measure, net.id, &ids).await?,
            _ => l.of_network(Kind::Synthesis, net.id, &ids).await?,
        };
        known.extend(found.into_iter().map(|id| (kind, id)));
    }
    Ok(program::self_assess(&prog, &net, call.new_id, &known, c)?)
}

async fn plan_cycle(
    l: &mut Loader,
    call: &Call<Uuid>,
    c: PlanCycle,
) -> Result<Vec<NicEvent>, AppError> {
    call.principal.require_program(call.ids)?;
    let prog = l.program(call.ids).await?;
    prog.require_active()?;
    let net = l.network(prog.network_id).await?;
    let previous = match c.previous_cycle_id {
        Some(p) => Some(l.cycle(p).await?),
        None => None,
    };
    let adapted_from = match c.adapted_from_cycle_id {
        Some(a) => Some(l.cycle(a).await?),
        None => None,
    };
    let known = l
        .of_network(Kind::Measure, net.id, &c.plan.measure_ids)
        .await?;
    let this = l.cycle(call.new_id).await?;
    let ctx = cycle::PlanContext {
        program: &prog,
        network: &net,
        previous: previous.as_deref(),
        adapted_from: adapted_from.as_deref(),
        known_measures: &known,
    };
    Ok(cycle::plan(&this, ctx, c)?)
}

/// The cycle addressed, once the principal may write for its program: a cycle's commands are its
/// program's to give.
async fn own_cycle(l: &mut Loader, call: &Call<Uuid>) -> Result<Decided<CycleState>, AppError> {
    let c = l.cycle(call.ids).await?;
    if let Some(p) = &c.planned {
        call.principal.require_program(p.program_id)?;
    }
    Ok(c)
}

/// A data point's corrections are its program's to give.
fn require_point_program(
    principal: &Principal,
    m: &nic_domain::measure::MeasureState,
    point: Uuid,
) -> Result<(), AppError> {
    match m.points.get(&point) {
        Some(p) => principal.require_program(p.program_id),
        None => Ok(()),
    }
}
