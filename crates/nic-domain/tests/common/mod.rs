//! Given / when / then for the domain's commands, with no store: a test states the events a
//! stream already holds (given), folds them into the entity's state exactly as the service does,
//! calls one command (when) and compares the whole decision (then): the exact events, or the exact
//! refusal. Fixtures are one small network told as events, with fixed ids and dates, no clock.
#![allow(dead_code)]

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use nic_domain::cycle::{CycleState, PlanCycle};
use nic_domain::measure::MeasureState;
use nic_domain::network::NetworkState;
use nic_domain::program::ProgramState;
use nic_domain::synthesis::SynthesisState;
use nic_domain::{fold, Decision, DomainError};
use nic_events::catalog::*;
use nic_events::limits::LIST_ITEMS_MAX;
use nic_events::{NicEvent, Text, Title};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Fixed ids
// ---------------------------------------------------------------------------------------------

pub const NETWORK: Uuid = Uuid::from_u128(1);
pub const OTHER_NETWORK: Uuid = Uuid::from_u128(2);
pub const ECO_PITTSBURGH: Uuid = Uuid::from_u128(10);
pub const ECO_PHILADELPHIA: Uuid = Uuid::from_u128(11);
/// Primary drivers.
pub const PRIMARY_IDENTITY: Uuid = Uuid::from_u128(100);
pub const PRIMARY_PATHWAYS: Uuid = Uuid::from_u128(101);
/// Secondary drivers: mentoring serves identity (strong); college knowledge serves pathways
/// (strong) and identity (weak).
pub const SECONDARY_MENTORING: Uuid = Uuid::from_u128(110);
pub const SECONDARY_COLLEGE: Uuid = Uuid::from_u128(111);
/// Change ideas: huddles (hub, accepted, serves mentoring), visits (hub, accepted, serves college
/// knowledge), alumni panel (proposed by `PROGRAM`, not yet accepted).
pub const IDEA_HUDDLES: Uuid = Uuid::from_u128(120);
pub const IDEA_VISITS: Uuid = Uuid::from_u128(121);
pub const IDEA_PANEL: Uuid = Uuid::from_u128(122);
/// A node id nothing holds.
pub const NEW_NODE: Uuid = Uuid::from_u128(199);
pub const STANDARD_S1: Uuid = Uuid::from_u128(200);
pub const STANDARD_S2: Uuid = Uuid::from_u128(201);
pub const ROOT_CAUSE: Uuid = Uuid::from_u128(210);
/// Enrolled in `NETWORK`, in Pittsburgh.
pub const PROGRAM: Uuid = Uuid::from_u128(300);
/// Also enrolled in `NETWORK`, in Philadelphia.
pub const PROGRAM_2: Uuid = Uuid::from_u128(301);
/// Enrolled in `NETWORK`, then withdrawn.
pub const PROGRAM_WITHDRAWN: Uuid = Uuid::from_u128(302);
/// Enrolled in `OTHER_NETWORK`.
pub const PROGRAM_OTHER: Uuid = Uuid::from_u128(303);
/// Never enrolled.
pub const PROGRAM_NONE: Uuid = Uuid::from_u128(304);
pub const ASSESSMENT: Uuid = Uuid::from_u128(350);
/// A ratio measure collected monthly.
pub const MEASURE: Uuid = Uuid::from_u128(400);
/// A value measure collected weekly.
pub const MEASURE_WEEKLY: Uuid = Uuid::from_u128(401);
/// A value measure collected per term.
pub const MEASURE_TERM: Uuid = Uuid::from_u128(402);
pub const POINT: Uuid = Uuid::from_u128(410);
pub const POINT_2: Uuid = Uuid::from_u128(411);
pub const CYCLE: Uuid = Uuid::from_u128(500);
pub const CYCLE_2: Uuid = Uuid::from_u128(501);
pub const CYCLE_3: Uuid = Uuid::from_u128(502);
pub const SYNTHESIS: Uuid = Uuid::from_u128(600);
/// An id of nothing at all.
pub const NOBODY: Uuid = Uuid::from_u128(999);

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

pub fn title(s: &str) -> Title {
    Title::parse(s).expect("a valid title")
}

pub fn text(s: &str) -> Text {
    Text::parse(s).expect("a valid text")
}

pub fn blank() -> Text {
    text("   ")
}

pub fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid date")
}

pub fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    date(y, m, d)
        .and_hms_opt(h, 0, 0)
        .expect("a time")
        .and_utc()
}

/// `LIST_ITEMS_MAX + 1` copies of `item`: one more than any list may hold.
pub fn too_many<T: Clone>(item: T) -> Vec<T> {
    vec![item; LIST_ITEMS_MAX + 1]
}

/// `LIST_ITEMS_MAX + 1` distinct ids.
pub fn too_many_ids() -> Vec<Uuid> {
    (0..=LIST_ITEMS_MAX as u128)
        .map(|i| Uuid::from_u128(10_000 + i))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Given: folding a stream's events into its state, as the service does
// ---------------------------------------------------------------------------------------------

pub fn network_state(id: Uuid, given: &[NicEvent]) -> NetworkState {
    fold(NetworkState::new(id), given, NetworkState::apply)
}

pub fn program_state(id: Uuid, given: &[NicEvent]) -> ProgramState {
    fold(ProgramState::new(id), given, ProgramState::apply)
}

pub fn measure_state(id: Uuid, given: &[NicEvent]) -> MeasureState {
    fold(MeasureState::new(id), given, MeasureState::apply)
}

pub fn cycle_state(id: Uuid, given: &[NicEvent]) -> CycleState {
    fold(CycleState::new(id), given, CycleState::apply)
}

pub fn synthesis_state(id: Uuid, given: &[NicEvent]) -> SynthesisState {
    fold(SynthesisState::new(id), given, SynthesisState::apply)
}

/// `given` followed by `more`.
pub fn and(given: Vec<NicEvent>, more: impl IntoIterator<Item = NicEvent>) -> Vec<NicEvent> {
    given.into_iter().chain(more).collect()
}

// ---------------------------------------------------------------------------------------------
// Then
// ---------------------------------------------------------------------------------------------

#[track_caller]
pub fn then_events(decision: Decision, expected: Vec<NicEvent>) {
    assert_eq!(decision, Ok(expected));
}

/// The decision is `Invalid`, reporting exactly these fields, in order.
#[track_caller]
pub fn then_invalid(decision: Decision, fields: &[&str]) {
    match decision {
        Err(DomainError::Invalid(errors)) => {
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{errors:?}");
            assert!(
                errors.iter().all(|e| !e.message.is_empty()),
                "every field error says why: {errors:?}"
            );
        }
        other => panic!("expected Invalid({fields:?}), got {other:?}"),
    }
}

#[track_caller]
pub fn then_transition(decision: Decision) {
    match decision {
        Err(DomainError::InvalidTransition(message)) => assert!(!message.is_empty()),
        other => panic!("expected InvalidTransition, got {other:?}"),
    }
}

#[track_caller]
pub fn then_unknown(decision: Decision, field: &str, kind: &'static str, id: Uuid) {
    assert_eq!(
        decision,
        Err(DomainError::UnknownReference {
            field: field.into(),
            kind,
            id,
        })
    );
}

#[track_caller]
pub fn then_not_found(decision: Decision, kind: &'static str, id: Uuid) {
    assert_eq!(decision, Err(DomainError::NotFound { kind, id }));
}

// ---------------------------------------------------------------------------------------------
// The network
// ---------------------------------------------------------------------------------------------

pub fn aim() -> Aim {
    Aim {
        statement: text(
            "Increase the share of Black, Latina/o/e and Indigenous program alumni who enrol in \
             post-secondary STEM from 38% to 50% by fall 2027.",
        ),
        what: title("post-secondary STEM enrolment"),
        for_whom: title("Black, Latina/o/e and Indigenous program alumni"),
        baseline: Some(38.0),
        target: 50.0,
        unit: title("percent"),
        by_when: date(2027, 9, 1),
    }
}

pub fn chartered(id: Uuid) -> NicEvent {
    NicEvent::NetworkChartered(NetworkChartered {
        network_id: id,
        name: title("STEM PUSH Network"),
        purpose: text("Pre-college STEM programs improving together."),
    })
}

pub fn ecosystem(id: Uuid, name: &str, region: &str) -> NicEvent {
    NicEvent::EcosystemAdded(EcosystemAdded {
        ecosystem_id: id,
        name: title(name),
        region: title(region),
    })
}

pub fn driver(id: Uuid, kind: DriverKind, name: &str) -> NicEvent {
    NicEvent::DriverAdded(DriverAdded {
        node_id: id,
        kind,
        title: title(name),
        definition: text(""),
    })
}

pub fn proposed(id: Uuid, name: &str, by: Option<Uuid>) -> NicEvent {
    NicEvent::ChangeIdeaProposed(ChangeIdeaProposed {
        node_id: id,
        title: title(name),
        definition: text(""),
        proposed_by_program: by,
        rationale: text(""),
    })
}

pub fn accepted(id: Uuid) -> NicEvent {
    NicEvent::ChangeIdeaAccepted(ChangeIdeaAccepted {
        node_id: id,
        note: text(""),
    })
}

pub fn declined(id: Uuid) -> NicEvent {
    NicEvent::ChangeIdeaDeclined(ChangeIdeaDeclined {
        node_id: id,
        reason: text("Outside what programs can change."),
    })
}

pub fn stage_changed(id: Uuid, from: ChangeIdeaStage, to: ChangeIdeaStage) -> NicEvent {
    NicEvent::ChangeIdeaStageChanged(ChangeIdeaStageChanged {
        node_id: id,
        from,
        to,
        reason: text("What the cycles showed."),
    })
}

pub fn linked(from: Uuid, to: Uuid, strength: LinkStrength) -> NicEvent {
    NicEvent::NodesLinked(NodesLinked { from, to, strength })
}

pub fn retired(id: Uuid) -> NicEvent {
    NicEvent::NodeRetired(NodeRetired {
        node_id: id,
        reason: text("Folded into another node."),
    })
}

pub fn standard(id: Uuid, code: &str, name: &str) -> NicEvent {
    NicEvent::StandardDefined(StandardDefined {
        standard_id: id,
        code: title(code),
        title: title(name),
        description: text(""),
    })
}

/// A chartered network with an aim, two ecosystems, two primary and two secondary drivers, two
/// accepted change ideas, one proposed by `PROGRAM`, and two quality standards.
pub fn network_given() -> Vec<NicEvent> {
    use DriverKind::*;
    use LinkStrength::*;
    vec![
        chartered(NETWORK),
        NicEvent::AimStated(AimStated { aim: aim() }),
        ecosystem(
            ECO_PITTSBURGH,
            "Pittsburgh STEM Ecosystem",
            "Southwestern Pennsylvania",
        ),
        ecosystem(
            ECO_PHILADELPHIA,
            "Philadelphia STEM Ecosystem",
            "Southeastern Pennsylvania",
        ),
        driver(PRIMARY_IDENTITY, Primary, "STEM identity"),
        driver(PRIMARY_PATHWAYS, Primary, "Pathways to post-secondary STEM"),
        driver(SECONDARY_MENTORING, Secondary, "Near-peer mentoring"),
        linked(SECONDARY_MENTORING, PRIMARY_IDENTITY, Strong),
        driver(SECONDARY_COLLEGE, Secondary, "College knowledge"),
        linked(SECONDARY_COLLEGE, PRIMARY_PATHWAYS, Strong),
        linked(SECONDARY_COLLEGE, PRIMARY_IDENTITY, Weak),
        proposed(IDEA_HUDDLES, "Weekly mentor huddles", None),
        linked(IDEA_HUDDLES, SECONDARY_MENTORING, Strong),
        accepted(IDEA_HUDDLES),
        proposed(IDEA_VISITS, "Campus visits with alumni", None),
        linked(IDEA_VISITS, SECONDARY_COLLEGE, Strong),
        accepted(IDEA_VISITS),
        proposed(IDEA_PANEL, "Alumni panel each term", Some(PROGRAM)),
        standard(STANDARD_S1, "S1", "Culturally responsive practice"),
        standard(STANDARD_S2, "S2", "Pathway supports"),
    ]
}

pub fn the_network() -> NetworkState {
    network_state(NETWORK, &network_given())
}

/// The network with more events after `network_given`.
pub fn the_network_and(more: impl IntoIterator<Item = NicEvent>) -> NetworkState {
    network_state(NETWORK, &and(network_given(), more))
}

// ---------------------------------------------------------------------------------------------
// Programs
// ---------------------------------------------------------------------------------------------

pub fn enrolled(program: Uuid, network: Uuid, name: &str) -> NicEvent {
    NicEvent::ProgramEnrolled(ProgramEnrolled {
        program_id: program,
        network_id: network,
        name: title(name),
        ecosystem_id: ECO_PITTSBURGH,
        region: title("Southwestern Pennsylvania"),
    })
}

pub fn withdrawn(program: Uuid) -> NicEvent {
    NicEvent::ProgramWithdrawn(ProgramWithdrawn {
        program_id: program,
        reason: text("Lost its funding."),
    })
}

/// `PROGRAM`, enrolled in `NETWORK`.
pub fn the_program() -> ProgramState {
    program_state(
        PROGRAM,
        &[enrolled(PROGRAM, NETWORK, "Summer Science Academy")],
    )
}

pub fn program_2() -> ProgramState {
    program_state(
        PROGRAM_2,
        &[enrolled(PROGRAM_2, NETWORK, "Robotics Saturdays")],
    )
}

pub fn program_withdrawn() -> ProgramState {
    program_state(
        PROGRAM_WITHDRAWN,
        &[
            enrolled(PROGRAM_WITHDRAWN, NETWORK, "Coding Club"),
            withdrawn(PROGRAM_WITHDRAWN),
        ],
    )
}

pub fn program_other() -> ProgramState {
    program_state(
        PROGRAM_OTHER,
        &[enrolled(PROGRAM_OTHER, OTHER_NETWORK, "Elsewhere Lab")],
    )
}

pub fn program_none() -> ProgramState {
    program_state(PROGRAM_NONE, &[])
}

// ---------------------------------------------------------------------------------------------
// Measures
// ---------------------------------------------------------------------------------------------

/// The monthly ratio measure `MEASURE`, defined in `NETWORK`.
pub fn measure_defined() -> MeasureDefined {
    MeasureDefined {
        measure_id: MEASURE,
        network_id: NETWORK,
        name: title("Alumni enrolled in post-secondary STEM"),
        kind: MeasureKind::Outcome,
        description: text("Program alumni enrolled in a post-secondary STEM major."),
        scale: MeasureScale::Ratio,
        data_type: Some(DataType::Proportion),
        numerator: Some(text("Alumni enrolled in a STEM major")),
        denominator: Some(text("Alumni reached")),
        unit: title("percent"),
        period: PeriodKind::Month,
        direction: Direction::Up,
        target: Some(50.0),
        inclusions: text(""),
        exclusions: text(""),
        data_source: text("Alumni survey"),
        collected_by: text("Program staff"),
        tracks: vec![PRIMARY_PATHWAYS],
    }
}

/// A value measure of `kind` periods, with id `id`.
pub fn value_measure_defined(id: Uuid, period: PeriodKind) -> MeasureDefined {
    MeasureDefined {
        measure_id: id,
        scale: MeasureScale::Value,
        data_type: Some(DataType::Count),
        numerator: None,
        denominator: None,
        name: title("Mentor huddles held"),
        kind: MeasureKind::Process,
        description: text("Huddles held with at least one mentor and one student."),
        unit: title("huddles"),
        period,
        tracks: vec![],
        target: None,
        ..measure_defined()
    }
}

pub fn point_recorded(point: Uuid, program: Uuid, period: &str, n: f64, d: f64) -> NicEvent {
    NicEvent::DataPointRecorded(DataPointRecorded {
        point_id: point,
        program_id: program,
        period: period.parse().unwrap(),
        numerator: Some(n),
        denominator: Some(d),
        value: None,
        note: text(""),
    })
}

/// `MEASURE` with one point: `PROGRAM`, 2025-03, 12 of 40.
pub fn measure_given() -> Vec<NicEvent> {
    vec![
        NicEvent::MeasureDefined(measure_defined()),
        point_recorded(POINT, PROGRAM, "2025-03", 12.0, 40.0),
    ]
}

pub fn the_measure() -> MeasureState {
    measure_state(MEASURE, &measure_given())
}

pub fn the_measure_and(more: impl IntoIterator<Item = NicEvent>) -> MeasureState {
    measure_state(MEASURE, &and(measure_given(), more))
}

pub fn known_measures() -> BTreeSet<Uuid> {
    BTreeSet::from([MEASURE])
}

// ---------------------------------------------------------------------------------------------
// PDSA cycles
// ---------------------------------------------------------------------------------------------

/// A plan with two questions, each with a prediction.
pub fn a_plan() -> Plan {
    Plan {
        objective: text(
            "Learn whether a weekly 15-minute huddle keeps mentors and students meeting.",
        ),
        questions: vec![
            Question {
                question: text("Will mentors hold the huddle each week?"),
                prediction: text("Three of four weeks."),
                reason: text("Mentors are busy in exam weeks."),
            },
            Question {
                question: text("Will students come back the next week?"),
                prediction: text("Most will."),
                reason: text(""),
            },
        ],
        who_what_when_where: text("Two mentors, Tuesdays after the lab, room 204."),
        tasks: vec![title("Print huddle cards"), title("Brief the mentors")],
        measure_ids: vec![MEASURE],
        data_collection_plan: text("Mentors tick a sheet after each huddle."),
    }
}

/// Planning `CYCLE` by `PROGRAM`: testing huddles, to move mentoring, for two weeks.
pub fn plan_cmd() -> PlanCycle {
    PlanCycle {
        title: title("Mentor huddles, two weeks"),
        change_idea_ids: vec![IDEA_HUDDLES],
        driver_ids: vec![SECONDARY_MENTORING],
        previous_cycle_id: None,
        adapted_from_cycle_id: None,
        purpose: CyclePurpose::Test,
        scale: title("two mentors, two weeks"),
        planned_start: date(2025, 3, 3),
        planned_end: date(2025, 3, 14),
        plan: a_plan(),
    }
}

/// The event `plan_cmd` (with `previous`) produces for `cycle`, in `ramp` at `number`.
pub fn planned_by(
    cycle: Uuid,
    program: Uuid,
    previous: Option<Uuid>,
    ramp: Uuid,
    number: u32,
) -> NicEvent {
    let cmd = plan_cmd();
    NicEvent::PdsaCyclePlanned(PdsaCyclePlanned {
        cycle_id: cycle,
        network_id: NETWORK,
        program_id: program,
        change_idea_ids: cmd.change_idea_ids,
        driver_ids: cmd.driver_ids,
        previous_cycle_id: previous,
        adapted_from_cycle_id: None,
        ramp_id: ramp,
        cycle_number: number,
        title: cmd.title,
        purpose: cmd.purpose,
        scale: cmd.scale,
        planned_start: cmd.planned_start,
        planned_end: cmd.planned_end,
        plan: cmd.plan,
    })
}

pub fn planned(cycle: Uuid) -> NicEvent {
    planned_by(cycle, PROGRAM, None, cycle, 1)
}

pub fn started(cycle: Uuid) -> NicEvent {
    NicEvent::PdsaCycleStarted(PdsaCycleStarted {
        cycle_id: cycle,
        started_on: date(2025, 3, 3),
    })
}

pub fn a_do() -> Do {
    Do {
        carried_out_as_planned: false,
        what_happened: text("Huddles ran in week one; in week two one mentor was away."),
        problems_and_surprises: text("Students asked for the huddle to be longer."),
        observations: vec![Observation {
            at: at(2025, 3, 4, 16),
            note: text("Six students stayed after the huddle."),
        }],
        completed_on: date(2025, 3, 14),
    }
}

pub fn do_recorded(cycle: Uuid) -> NicEvent {
    NicEvent::PdsaDoRecorded(PdsaDoRecorded {
        cycle_id: cycle,
        done: a_do(),
    })
}

pub fn result(index: u32, result: &str) -> QuestionResult {
    QuestionResult {
        question_index: index,
        result: text(result),
        prediction_held: PredictionHeld::Partly,
        learned: text("Pair the mentors."),
    }
}

/// One result per question of `a_plan`.
pub fn a_study() -> Study {
    Study {
        results: vec![
            result(0, "One week of two."),
            result(1, "Five of six came back."),
        ],
        summary: text("Huddles help when a mentor is there; pair mentors."),
    }
}

pub fn study_recorded(cycle: Uuid) -> NicEvent {
    NicEvent::PdsaStudyRecorded(PdsaStudyRecorded {
        cycle_id: cycle,
        study: a_study(),
    })
}

pub fn an_act(decision: ActDecision) -> Act {
    Act {
        decision,
        reason: text("Huddles worked when both mentors came."),
        next_cycle: text("Pair mentors so one can cover the other."),
        decided_on: date(2025, 3, 17),
    }
}

pub fn act_decided(cycle: Uuid) -> NicEvent {
    NicEvent::PdsaActDecided(PdsaActDecided {
        cycle_id: cycle,
        act: an_act(ActDecision::Adapt),
    })
}

pub fn abandoned(cycle: Uuid, in_phase: CyclePhase) -> NicEvent {
    NicEvent::PdsaCycleAbandoned(PdsaCycleAbandoned {
        cycle_id: cycle,
        in_phase,
        reason: text("The program's summer session was cancelled."),
    })
}

/// Where a cycle of the fixtures stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// Planned, not started.
    Planned,
    /// Started (Do under way).
    Doing,
    /// The Do recorded: studying, no study yet.
    Done,
    /// The Study recorded, no Act yet.
    Studied,
    /// Acted on (adapt): closed.
    Acted,
    /// Abandoned while planned: closed with a plan only.
    AbandonedPlanned,
    /// Abandoned after the Do, before the study.
    AbandonedStudying,
}

impl At {
    pub const ALL: [At; 7] = [
        At::Planned,
        At::Doing,
        At::Done,
        At::Studied,
        At::Acted,
        At::AbandonedPlanned,
        At::AbandonedStudying,
    ];
    pub const OPEN: [At; 4] = [At::Planned, At::Doing, At::Done, At::Studied];
    pub const CLOSED: [At; 3] = [At::Acted, At::AbandonedPlanned, At::AbandonedStudying];
}

/// The events of `cycle` (planned by `PROGRAM`, a ramp's first) up to `at`.
pub fn cycle_given(cycle: Uuid, at: At) -> Vec<NicEvent> {
    let mut events = vec![planned(cycle)];
    let steps: &[fn(Uuid) -> NicEvent] = match at {
        At::Planned => &[],
        At::Doing => &[started],
        At::Done => &[started, do_recorded],
        At::Studied => &[started, do_recorded, study_recorded],
        At::Acted => &[started, do_recorded, study_recorded, act_decided],
        At::AbandonedPlanned => &[|c| abandoned(c, CyclePhase::Planned)],
        At::AbandonedStudying => &[started, do_recorded, |c| abandoned(c, CyclePhase::Studying)],
    };
    events.extend(steps.iter().map(|step| step(cycle)));
    events
}

pub fn cycle_at(cycle: Uuid, at: At) -> CycleState {
    cycle_state(cycle, &cycle_given(cycle, at))
}
