//! A PDSA cycle, a small test of change, in one `pdsa-…` stream: planned, then doing (Do), then
//! studying, then acted (adopt, adapt or abandon), or abandoned on the way. Phases only move
//! forward. A ramp links the cycles on one change idea in order: a cycle names the cycle it builds
//! on, and takes the next number in that ramp. A closed cycle changes only through a correction.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};
use crate::limits::CYCLE_DAYS_MAX;
use crate::network::{reason_given, NetworkState, NodeKind};
use crate::program::ProgramState;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CycleState {
    pub id: Uuid,
    pub planned: Option<PdsaCyclePlanned>,
    pub phase: Option<CyclePhase>,
    pub started_on: Option<NaiveDate>,
    #[serde(rename = "do")]
    pub done: Option<Do>,
    pub study: Option<Study>,
    pub act: Option<Act>,
    /// Why it was abandoned, and in which phase.
    pub abandoned: Option<PdsaCycleAbandoned>,
    pub corrections: Vec<PdsaCycleCorrected>,
}

impl CycleState {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, event: &NicEvent) {
        match event {
            NicEvent::PdsaCyclePlanned(e) => {
                self.planned = Some(e.clone());
                self.phase = Some(CyclePhase::Planned);
            }
            NicEvent::PdsaCycleStarted(e) => {
                self.started_on = Some(e.started_on);
                self.phase = Some(CyclePhase::Doing);
            }
            NicEvent::PdsaDoRecorded(e) => {
                self.done = Some(e.done.clone());
                self.phase = Some(CyclePhase::Studying);
            }
            NicEvent::PdsaStudyRecorded(e) => self.study = Some(e.study.clone()),
            NicEvent::PdsaActDecided(e) => {
                self.act = Some(e.act.clone());
                self.phase = Some(CyclePhase::Acted);
            }
            NicEvent::PdsaCycleAbandoned(e) => {
                self.abandoned = Some(e.clone());
                self.phase = Some(CyclePhase::Abandoned);
            }
            NicEvent::PdsaCycleCorrected(e) => {
                match &e.correction {
                    Correction::Plan(p) => {
                        if let Some(planned) = self.planned.as_mut() {
                            planned.plan = p.clone();
                        }
                    }
                    Correction::Do(d) => self.done = Some(d.clone()),
                    Correction::Study(s) => self.study = Some(s.clone()),
                    Correction::Act(a) => self.act = Some(a.clone()),
                }
                self.corrections.push(e.clone());
            }
            _ => {}
        }
    }

    /// The plan of the cycle addressed by a command's path, and its phase.
    pub fn require(&self) -> Result<(&PdsaCyclePlanned, CyclePhase), DomainError> {
        match (&self.planned, self.phase) {
            (Some(p), Some(phase)) => Ok((p, phase)),
            _ => Err(DomainError::NotFound {
                kind: "PDSA cycle",
                id: self.id,
            }),
        }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Some(CyclePhase::Acted | CyclePhase::Abandoned))
    }

    /// What a complete cycle has that this one lacks: a complete cycle is the easy path, an
    /// incomplete one is shown as such.
    pub fn gaps(&self) -> Vec<&'static str> {
        let mut gaps = Vec::new();
        let Some(p) = &self.planned else {
            return gaps;
        };
        if p.plan.questions.is_empty() {
            gaps.push("no questions");
        } else if p.plan.questions.iter().any(|q| q.prediction.is_blank()) {
            gaps.push("questions without a prediction");
        }
        let past_do = matches!(self.phase, Some(CyclePhase::Acted | CyclePhase::Studying));
        if past_do && self.done.is_none() {
            gaps.push("no do");
        }
        if self.phase == Some(CyclePhase::Acted) && self.study.is_none() {
            gaps.push("no study");
        }
        gaps
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanCycle {
    pub title: Title,
    /// The change ideas the cycle tests (at least one).
    pub change_idea_ids: Vec<Uuid>,
    /// The drivers it should move.
    #[serde(default)]
    pub driver_ids: Vec<Uuid>,
    /// The cycle this one builds on (same program, closed, testing a same change idea); omitted
    /// for the first cycle of a ramp.
    #[serde(default)]
    pub previous_cycle_id: Option<Uuid>,
    /// A cycle (usually another program's) whose plan this one starts from, cited as its origin.
    #[serde(default)]
    pub adapted_from_cycle_id: Option<Uuid>,
    pub purpose: CyclePurpose,
    /// e.g. "one mentor, one student, one day".
    pub scale: Title,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub plan: Plan,
}

/// What planning a cycle needs to know beyond the command: the program planning it, its network,
/// the previous cycle of the ramp (when named) and which of the plan's measures exist in the
/// network.
pub struct PlanContext<'a> {
    pub program: &'a ProgramState,
    pub network: &'a NetworkState,
    pub previous: Option<&'a CycleState>,
    /// The cycle `adapted_from_cycle_id` names, as read.
    pub adapted_from: Option<&'a CycleState>,
    pub known_measures: &'a BTreeSet<Uuid>,
}

fn check_plan(c: &mut Checks, plan: &Plan, field: &str) {
    c.list(&plan.questions, &format!("{field}.questions"));
    c.list(&plan.tasks, &format!("{field}.tasks"));
    c.list(&plan.measure_ids, &format!("{field}.measure_ids"));
    c.check(
        !plan.objective.is_blank(),
        format!("{field}.objective"),
        "a plan states its objective",
    );
    for (i, q) in plan.questions.iter().enumerate() {
        c.check(
            !q.question.is_blank(),
            format!("{field}.questions[{i}].question"),
            "must not be blank",
        );
    }
}

pub fn plan(cycle: &CycleState, ctx: PlanContext<'_>, cmd: PlanCycle) -> Decision {
    ctx.program.require_active()?;
    if cycle.planned.is_some() {
        return Err(DomainError::transition("this cycle is already planned"));
    }
    check_plan_cycle(&cmd)?;
    check_plan_references(&ctx, &cmd)?;
    let (ramp_id, cycle_number) = ramp_place(cycle, &ctx, &cmd)?;
    Ok(vec![NicEvent::PdsaCyclePlanned(PdsaCyclePlanned {
        cycle_id: cycle.id,
        network_id: ctx.network.id,
        program_id: ctx.program.id,
        change_idea_ids: cmd.change_idea_ids,
        driver_ids: cmd.driver_ids,
        previous_cycle_id: cmd.previous_cycle_id,
        adapted_from_cycle_id: cmd.adapted_from_cycle_id,
        ramp_id,
        cycle_number,
        title: cmd.title,
        purpose: cmd.purpose,
        scale: cmd.scale,
        planned_start: cmd.planned_start,
        planned_end: cmd.planned_end,
        plan: cmd.plan,
    })])
}

/// The fields of a plan command on their own: lists, dates, the plan.
fn check_plan_cycle(cmd: &PlanCycle) -> Result<(), DomainError> {
    let mut c = Checks::new();
    c.check(
        !cmd.change_idea_ids.is_empty(),
        "change_idea_ids",
        "a cycle tests at least one change idea",
    );
    c.list(&cmd.change_idea_ids, "change_idea_ids");
    c.list(&cmd.driver_ids, "driver_ids");
    c.check(
        cmd.planned_end >= cmd.planned_start,
        "planned_end",
        "comes on or after planned_start",
    );
    c.check(
        (cmd.planned_end - cmd.planned_start).num_days() <= CYCLE_DAYS_MAX,
        "planned_end",
        format!("a cycle runs at most {CYCLE_DAYS_MAX} days: test small, test fast"),
    );
    check_plan(&mut c, &cmd.plan, "plan");
    c.done()
}

/// What a plan command names: change ideas that can be tested, live drivers, and measures of the
/// network.
fn check_plan_references(ctx: &PlanContext<'_>, cmd: &PlanCycle) -> Result<(), DomainError> {
    let network = ctx.network;
    for (i, id) in cmd.change_idea_ids.iter().enumerate() {
        let field = format!("change_idea_ids[{i}]");
        let node = network.node(&field, *id)?;
        if node.kind != NodeKind::ChangeIdea {
            return Err(DomainError::invalid(
                field,
                "is a driver, not a change idea",
            ));
        }
        if !node.is_testable_change_idea() {
            return Err(DomainError::invalid(
                field,
                format!(
                    "change idea '{}' is retired, declined or abandoned",
                    node.title
                ),
            ));
        }
    }
    for (i, id) in cmd.driver_ids.iter().enumerate() {
        let field = format!("driver_ids[{i}]");
        let node = network.live_node(&field, *id)?;
        if node.kind == NodeKind::ChangeIdea {
            return Err(DomainError::invalid(
                field,
                "is a change idea, not a driver",
            ));
        }
    }
    for (i, id) in cmd.plan.measure_ids.iter().enumerate() {
        if !ctx.known_measures.contains(id) {
            return Err(DomainError::UnknownReference {
                field: format!("plan.measure_ids[{i}]"),
                kind: "measure",
                id: *id,
            });
        }
    }
    if let Some(id) = cmd.adapted_from_cycle_id {
        // A cycle of this network, planned: the one whose plan this one starts from.
        let of_network = ctx
            .adapted_from
            .and_then(|c| c.planned.as_ref())
            .is_some_and(|p| p.network_id == network.id);
        if !of_network {
            return Err(DomainError::UnknownReference {
                field: "adapted_from_cycle_id".into(),
                kind: "PDSA cycle",
                id,
            });
        }
    }
    Ok(())
}

/// The ramp a planned cycle belongs to and its number in it: a ramp of its own (number 1), or
/// the next of the previous cycle's ramp, which must be of the same program, closed, and test a
/// same change idea.
fn ramp_place(
    cycle: &CycleState,
    ctx: &PlanContext<'_>,
    cmd: &PlanCycle,
) -> Result<(Uuid, u32), DomainError> {
    let Some(prev_id) = cmd.previous_cycle_id else {
        return Ok((cycle.id, 1));
    };
    let unknown = DomainError::UnknownReference {
        field: "previous_cycle_id".into(),
        kind: "PDSA cycle",
        id: prev_id,
    };
    let Some(prev) = ctx.previous else {
        return Err(unknown);
    };
    let Some(p) = &prev.planned else {
        return Err(unknown);
    };
    if p.program_id != ctx.program.id {
        return Err(DomainError::invalid(
            "previous_cycle_id",
            "a ramp stays within one program",
        ));
    }
    if !prev.is_closed() {
        return Err(DomainError::invalid(
            "previous_cycle_id",
            "the previous cycle is not closed yet: act on it first",
        ));
    }
    if !p
        .change_idea_ids
        .iter()
        .any(|id| cmd.change_idea_ids.contains(id))
    {
        return Err(DomainError::invalid(
            "previous_cycle_id",
            "a ramp's cycles test a same change idea",
        ));
    }
    Ok((p.ramp_id, p.cycle_number + 1))
}

/// Refuses a command unless the cycle is in `phase`.
fn in_phase(cycle: &CycleState, phase: CyclePhase, doing: &str) -> Result<(), DomainError> {
    let (_, current) = cycle.require()?;
    if current == phase {
        Ok(())
    } else {
        Err(DomainError::transition(format!(
            "the cycle is {}: {doing} needs it {}",
            phase_name(current),
            phase_name(phase)
        )))
    }
}

pub fn phase_name(phase: CyclePhase) -> &'static str {
    match phase {
        CyclePhase::Planned => "planned",
        CyclePhase::Doing => "doing",
        CyclePhase::Studying => "studying",
        CyclePhase::Acted => "acted (closed)",
        CyclePhase::Abandoned => "abandoned (closed)",
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartCycle {
    pub started_on: NaiveDate,
}

pub fn start(cycle: &CycleState, cmd: StartCycle) -> Decision {
    in_phase(cycle, CyclePhase::Planned, "starting the test")?;
    Ok(vec![NicEvent::PdsaCycleStarted(PdsaCycleStarted {
        cycle_id: cycle.id,
        started_on: cmd.started_on,
    })])
}

/// A field's path under `prefix`: the section of a correction's body (`correction.corrected`),
/// or the body itself (no prefix) when the command's body is the section.
fn at(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

fn check_do(c: &mut Checks, d: &Do, started_on: Option<NaiveDate>, field: &str) {
    c.list(&d.observations, &at(field, "observations"));
    c.check(
        !d.what_happened.is_blank(),
        at(field, "what_happened"),
        "say what happened",
    );
    c.check(
        started_on.is_none_or(|s| d.completed_on >= s),
        at(field, "completed_on"),
        "comes on or after the day the test started",
    );
}

pub fn record_do(cycle: &CycleState, cmd: Do) -> Decision {
    in_phase(cycle, CyclePhase::Doing, "recording the Do")?;
    let mut c = Checks::new();
    check_do(&mut c, &cmd, cycle.started_on, "");
    c.done()?;
    Ok(vec![NicEvent::PdsaDoRecorded(PdsaDoRecorded {
        cycle_id: cycle.id,
        done: cmd,
    })])
}

fn check_study(c: &mut Checks, s: &Study, questions: usize, field: &str) {
    c.list(&s.results, &at(field, "results"));
    c.check(
        !s.summary.is_blank(),
        at(field, "summary"),
        "summarise what was learned",
    );
    let mut seen = BTreeSet::new();
    for (i, r) in s.results.iter().enumerate() {
        let f = at(field, &format!("results[{i}].question_index"));
        let q = r.question_index as usize;
        c.check(
            q < questions,
            f.clone(),
            format!("the plan has {questions} questions (0-based)"),
        );
        c.check(seen.insert(q), f, "answered twice");
        c.check(
            !r.result.is_blank(),
            at(field, &format!("results[{i}].result")),
            "say what the result was",
        );
    }
    for q in 0..questions {
        c.check(
            seen.contains(&q),
            at(field, "results"),
            format!("question {q} of the plan has no result"),
        );
    }
}

pub fn record_study(cycle: &CycleState, cmd: Study) -> Decision {
    in_phase(cycle, CyclePhase::Studying, "recording the Study")?;
    if cycle.study.is_some() {
        return Err(DomainError::transition(
            "the study is recorded: decide the Act next",
        ));
    }
    let (planned, _) = cycle.require()?;
    let mut c = Checks::new();
    check_study(&mut c, &cmd, planned.plan.questions.len(), "");
    c.done()?;
    Ok(vec![NicEvent::PdsaStudyRecorded(PdsaStudyRecorded {
        cycle_id: cycle.id,
        study: cmd,
    })])
}

fn check_act(c: &mut Checks, a: &Act, field: &str) {
    c.check(!a.reason.is_blank(), at(field, "reason"), "say why");
}

pub fn decide_act(cycle: &CycleState, cmd: Act) -> Decision {
    in_phase(cycle, CyclePhase::Studying, "deciding the Act")?;
    if cycle.study.is_none() {
        return Err(DomainError::transition(
            "study the results against the predictions before deciding",
        ));
    }
    let mut c = Checks::new();
    check_act(&mut c, &cmd, "");
    c.done()?;
    Ok(vec![NicEvent::PdsaActDecided(PdsaActDecided {
        cycle_id: cycle.id,
        act: cmd,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AbandonCycle {
    pub reason: Text,
}

pub fn abandon(cycle: &CycleState, cmd: AbandonCycle) -> Decision {
    let (_, phase) = cycle.require()?;
    if cycle.is_closed() {
        return Err(DomainError::transition(format!(
            "the cycle is {}",
            phase_name(phase)
        )));
    }
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::PdsaCycleAbandoned(PdsaCycleAbandoned {
        cycle_id: cycle.id,
        in_phase: phase,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectCycle {
    pub correction: Correction,
    /// What was wrong.
    pub reason: Text,
}

pub fn correct(cycle: &CycleState, known_measures: &BTreeSet<Uuid>, cmd: CorrectCycle) -> Decision {
    let (planned, phase) = cycle.require()?;
    if !cycle.is_closed() {
        return Err(DomainError::transition(format!(
            "the cycle is {}: an open cycle is completed, not corrected",
            phase_name(phase)
        )));
    }
    let mut c = Checks::new();
    c.check(!cmd.reason.is_blank(), "reason", "say what was wrong");
    match &cmd.correction {
        Correction::Plan(p) => check_plan(&mut c, p, "correction.corrected"),
        Correction::Do(d) => check_do(&mut c, d, cycle.started_on, "correction.corrected"),
        Correction::Study(s) => {
            let questions = planned.plan.questions.len();
            check_study(&mut c, s, questions, "correction.corrected")
        }
        Correction::Act(a) => check_act(&mut c, a, "correction.corrected"),
    }
    c.done()?;
    let (section_was, section_held) = match &cmd.correction {
        Correction::Plan(p) => (Some(&planned.plan) == Some(p), true),
        Correction::Do(d) => (cycle.done.as_ref() == Some(d), cycle.done.is_some()),
        Correction::Study(s) => (cycle.study.as_ref() == Some(s), cycle.study.is_some()),
        Correction::Act(a) => (cycle.act.as_ref() == Some(a), cycle.act.is_some()),
    };
    if !section_held {
        return Err(DomainError::transition(
            "the cycle closed without that section: there is nothing to correct",
        ));
    }
    if section_was {
        return Err(DomainError::transition("the section already reads so"));
    }
    if let Correction::Plan(p) = &cmd.correction {
        for (i, id) in p.measure_ids.iter().enumerate() {
            if !known_measures.contains(id) {
                return Err(DomainError::UnknownReference {
                    field: format!("correction.corrected.measure_ids[{i}]"),
                    kind: "measure",
                    id: *id,
                });
            }
        }
    }
    Ok(vec![NicEvent::PdsaCycleCorrected(PdsaCycleCorrected {
        cycle_id: cycle.id,
        correction: cmd.correction,
        reason: cmd.reason,
    })])
}
