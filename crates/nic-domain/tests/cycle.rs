//! Given / when / then for `nic_domain::cycle`: planning (and ramps), the phases moving forward
//! only, abandoning, and corrections of closed cycles.

mod common;

use common::*;
use nic_domain::cycle::*;
use nic_domain::network::NetworkState;
use nic_domain::program::ProgramState;
use nic_domain::Decision;
use nic_events::catalog::*;
use nic_events::NicEvent;
use uuid::Uuid;

/// Plans `cycle` (not yet planned) for `program` in `network`, building on `previous`.
fn when_planned(
    cycle: Uuid,
    program: &ProgramState,
    network: &NetworkState,
    previous: Option<&CycleState>,
    cmd: PlanCycle,
) -> Decision {
    let known = known_measures();
    plan(
        &cycle_state(cycle, &[]),
        PlanContext {
            program,
            network,
            previous,
            adapted_from: None,
            known_measures: &known,
        },
        cmd,
    )
}

/// Plans `CYCLE` for `PROGRAM` in the fixture network, as the first of a ramp.
fn when_first_planned(cmd: PlanCycle) -> Decision {
    when_planned(CYCLE, &the_program(), &the_network(), None, cmd)
}

/// Plans `CYCLE_2` for `PROGRAM`, building on `previous` (`CYCLE`).
fn when_next_planned(previous: &CycleState, change_ideas: Vec<Uuid>) -> Decision {
    when_planned(
        CYCLE_2,
        &the_program(),
        &the_network(),
        Some(previous),
        PlanCycle {
            previous_cycle_id: Some(CYCLE),
            adapted_from_cycle_id: None,
            change_idea_ids: change_ideas,
            ..plan_cmd()
        },
    )
}

fn start_cmd() -> StartCycle {
    StartCycle {
        started_on: date(2025, 3, 3),
    }
}

fn abandon_cmd() -> AbandonCycle {
    AbandonCycle {
        reason: text("The program's summer session was cancelled."),
    }
}

fn correct_cmd(correction: Correction) -> CorrectCycle {
    CorrectCycle {
        correction,
        reason: text("Transcribed from the wrong sheet."),
    }
}

fn corrected(cycle: Uuid, correction: Correction) -> NicEvent {
    NicEvent::PdsaCycleCorrected(PdsaCycleCorrected {
        cycle_id: cycle,
        correction,
        reason: text("Transcribed from the wrong sheet."),
    })
}

// ---------------------------------------------------------------------------------------------
// The whole ramp
// ---------------------------------------------------------------------------------------------

#[test]
fn the_whole_pdsa_ramp_plan_do_study_act_then_the_next_cycle() {
    // Plan.
    let mut given: Vec<NicEvent> = vec![];
    let events = when_first_planned(plan_cmd());
    then_events(events.clone(), vec![planned(CYCLE)]);
    given.extend(events.unwrap());
    assert_eq!(cycle_state(CYCLE, &given).phase, Some(CyclePhase::Planned));

    // Start the test.
    let events = start(&cycle_state(CYCLE, &given), start_cmd());
    then_events(events.clone(), vec![started(CYCLE)]);
    given.extend(events.unwrap());
    assert_eq!(cycle_state(CYCLE, &given).phase, Some(CyclePhase::Doing));

    // Do.
    let events = record_do(&cycle_state(CYCLE, &given), a_do());
    then_events(events.clone(), vec![do_recorded(CYCLE)]);
    given.extend(events.unwrap());
    assert_eq!(cycle_state(CYCLE, &given).phase, Some(CyclePhase::Studying));

    // Study.
    let events = record_study(&cycle_state(CYCLE, &given), a_study());
    then_events(events.clone(), vec![study_recorded(CYCLE)]);
    given.extend(events.unwrap());

    // Act: adapt. The cycle closes.
    let events = decide_act(&cycle_state(CYCLE, &given), an_act(ActDecision::Adapt));
    then_events(events.clone(), vec![act_decided(CYCLE)]);
    given.extend(events.unwrap());
    let first = cycle_state(CYCLE, &given);
    assert_eq!(first.phase, Some(CyclePhase::Acted));
    assert!(first.is_closed());
    assert!(first.gaps().is_empty(), "{:?}", first.gaps());
    assert_eq!(given, cycle_given(CYCLE, At::Acted));

    // The next cycle of the ramp: number 2, same ramp.
    then_events(
        when_next_planned(&first, vec![IDEA_HUDDLES]),
        vec![planned_by(CYCLE_2, PROGRAM, Some(CYCLE), CYCLE, 2)],
    );

    // And the third builds on the second: number 3, still the first cycle's ramp.
    let second = cycle_state(
        CYCLE_2,
        &[
            planned_by(CYCLE_2, PROGRAM, Some(CYCLE), CYCLE, 2),
            started(CYCLE_2),
            do_recorded(CYCLE_2),
            study_recorded(CYCLE_2),
            act_decided(CYCLE_2),
        ],
    );
    then_events(
        when_planned(
            CYCLE_3,
            &the_program(),
            &the_network(),
            Some(&second),
            PlanCycle {
                previous_cycle_id: Some(CYCLE_2),
                adapted_from_cycle_id: None,
                ..plan_cmd()
            },
        ),
        vec![planned_by(CYCLE_3, PROGRAM, Some(CYCLE_2), CYCLE, 3)],
    );
}

// ---------------------------------------------------------------------------------------------
// Planning
// ---------------------------------------------------------------------------------------------

/// A plan started from another cycle of the network cites it; a cycle it cannot see (unknown,
/// or of another network) is refused, naming the field.
#[test]
fn a_plan_adapted_from_another_cycle_cites_it() {
    let known = known_measures();
    let original = cycle_at(CYCLE, At::Acted);
    let (program, network) = (the_program(), the_network());
    let ctx = |adapted_from| PlanContext {
        program: &program,
        network: &network,
        previous: None,
        adapted_from,
        known_measures: &known,
    };
    let adapted = || PlanCycle {
        adapted_from_cycle_id: Some(CYCLE),
        ..plan_cmd()
    };
    let events = plan(&cycle_state(CYCLE_2, &[]), ctx(Some(&original)), adapted()).unwrap();
    match &events[0] {
        NicEvent::PdsaCyclePlanned(p) => assert_eq!(p.adapted_from_cycle_id, Some(CYCLE)),
        other => panic!("{other:?}"),
    }
    then_unknown(
        plan(&cycle_state(CYCLE_2, &[]), ctx(None), adapted()),
        "adapted_from_cycle_id",
        "PDSA cycle",
        CYCLE,
    );
}

#[test]
fn a_cycle_is_planned_once() {
    let known = known_measures();
    then_transition(plan(
        &cycle_at(CYCLE, At::Planned),
        PlanContext {
            program: &the_program(),
            network: &the_network(),
            previous: None,
            adapted_from: None,
            known_measures: &known,
        },
        plan_cmd(),
    ));
}

#[test]
fn only_an_active_enrolled_program_plans_a_cycle() {
    then_transition(when_planned(
        CYCLE,
        &program_withdrawn(),
        &the_network(),
        None,
        plan_cmd(),
    ));
    then_not_found(
        when_planned(CYCLE, &program_none(), &the_network(), None, plan_cmd()),
        "program",
        PROGRAM_NONE,
    );
}

#[test]
fn a_cycle_tests_at_least_one_change_idea() {
    then_invalid(
        when_first_planned(PlanCycle {
            change_idea_ids: vec![],
            ..plan_cmd()
        }),
        &["change_idea_ids"],
    );
}

#[test]
fn a_cycle_runs_forward_and_for_at_most_a_year() {
    then_invalid(
        when_first_planned(PlanCycle {
            planned_end: date(2025, 3, 2),
            ..plan_cmd()
        }),
        &["planned_end"],
    );
    then_invalid(
        when_first_planned(PlanCycle {
            planned_end: date(2026, 3, 5),
            ..plan_cmd()
        }),
        &["planned_end"],
    );
    // One day, and exactly the longest allowed, are fine.
    for end in [date(2025, 3, 3), date(2026, 3, 4)] {
        let cmd = PlanCycle {
            planned_end: end,
            ..plan_cmd()
        };
        let Ok(events) = when_first_planned(cmd) else {
            panic!("a cycle ending {end} is refused");
        };
        let [NicEvent::PdsaCyclePlanned(p)] = events.as_slice() else {
            panic!("{events:?}");
        };
        assert_eq!(p.planned_end, end);
    }
}

#[test]
fn a_plan_states_its_objective_and_its_questions() {
    let mut plan = a_plan();
    plan.objective = blank();
    plan.questions[1].question = blank();
    then_invalid(
        when_first_planned(PlanCycle { plan, ..plan_cmd() }),
        &["plan.objective", "plan.questions[1].question"],
    );
}

#[test]
fn every_list_of_a_plan_is_bounded() {
    let plan = Plan {
        questions: too_many(a_plan().questions[0].clone()),
        tasks: too_many(title("Print cards")),
        measure_ids: too_many(MEASURE),
        ..a_plan()
    };
    then_invalid(
        when_first_planned(PlanCycle {
            change_idea_ids: too_many_ids(),
            driver_ids: too_many_ids(),
            plan,
            ..plan_cmd()
        }),
        &[
            "change_idea_ids",
            "driver_ids",
            "plan.questions",
            "plan.tasks",
            "plan.measure_ids",
        ],
    );
}

#[test]
fn a_cycle_tests_change_ideas_of_its_network() {
    then_unknown(
        when_first_planned(PlanCycle {
            change_idea_ids: vec![IDEA_HUDDLES, NOBODY],
            ..plan_cmd()
        }),
        "change_idea_ids[1]",
        "driver-diagram node",
        NOBODY,
    );
    then_invalid(
        when_first_planned(PlanCycle {
            change_idea_ids: vec![SECONDARY_MENTORING],
            ..plan_cmd()
        }),
        &["change_idea_ids[0]"],
    );
}

#[test]
fn a_retired_declined_or_abandoned_change_idea_is_not_tested() {
    for (idea, more) in [
        (IDEA_VISITS, retired(IDEA_VISITS)),
        (IDEA_PANEL, declined(IDEA_PANEL)),
        (
            IDEA_VISITS,
            stage_changed(
                IDEA_VISITS,
                ChangeIdeaStage::Accepted,
                ChangeIdeaStage::Abandoned,
            ),
        ),
    ] {
        then_invalid(
            when_planned(
                CYCLE,
                &the_program(),
                &the_network_and([more]),
                None,
                PlanCycle {
                    change_idea_ids: vec![idea],
                    ..plan_cmd()
                },
            ),
            &["change_idea_ids[0]"],
        );
    }
}

#[test]
fn a_proposed_or_spreading_change_idea_may_be_tested() {
    for (idea, network) in [
        (IDEA_PANEL, the_network()),
        (
            IDEA_VISITS,
            the_network_and([stage_changed(
                IDEA_VISITS,
                ChangeIdeaStage::Accepted,
                ChangeIdeaStage::Spreading,
            )]),
        ),
    ] {
        let decision = when_planned(
            CYCLE,
            &the_program(),
            &network,
            None,
            PlanCycle {
                change_idea_ids: vec![idea],
                ..plan_cmd()
            },
        );
        assert!(decision.is_ok(), "{decision:?}");
    }
}

#[test]
fn a_cycle_names_live_drivers_of_its_network() {
    then_unknown(
        when_first_planned(PlanCycle {
            driver_ids: vec![NOBODY],
            ..plan_cmd()
        }),
        "driver_ids[0]",
        "driver-diagram node",
        NOBODY,
    );
    then_invalid(
        when_first_planned(PlanCycle {
            driver_ids: vec![PRIMARY_IDENTITY, IDEA_VISITS],
            ..plan_cmd()
        }),
        &["driver_ids[1]"],
    );
    then_invalid(
        when_planned(
            CYCLE,
            &the_program(),
            &the_network_and([retired(SECONDARY_MENTORING)]),
            None,
            plan_cmd(),
        ),
        &["driver_ids[0]"],
    );
}

#[test]
fn a_plan_names_measures_the_network_holds() {
    let plan = Plan {
        measure_ids: vec![MEASURE, NOBODY],
        ..a_plan()
    };
    then_unknown(
        when_first_planned(PlanCycle { plan, ..plan_cmd() }),
        "plan.measure_ids[1]",
        "measure",
        NOBODY,
    );
}

// ---------------------------------------------------------------------------------------------
// Ramps
// ---------------------------------------------------------------------------------------------

#[test]
fn a_cycle_builds_on_an_abandoned_cycle_too() {
    then_events(
        when_next_planned(&cycle_at(CYCLE, At::AbandonedStudying), vec![IDEA_HUDDLES]),
        vec![planned_by(CYCLE_2, PROGRAM, Some(CYCLE), CYCLE, 2)],
    );
}

#[test]
fn a_ramp_needs_one_shared_change_idea_not_all() {
    let events = when_next_planned(&cycle_at(CYCLE, At::Acted), vec![IDEA_VISITS, IDEA_HUDDLES])
        .expect("shares huddles");
    let [NicEvent::PdsaCyclePlanned(p)] = events.as_slice() else {
        panic!("{events:?}");
    };
    assert_eq!((p.ramp_id, p.cycle_number), (CYCLE, 2));
}

#[test]
fn a_ramp_refuses_an_unknown_previous_cycle() {
    then_unknown(
        when_planned(
            CYCLE_2,
            &the_program(),
            &the_network(),
            None,
            PlanCycle {
                previous_cycle_id: Some(CYCLE),
                adapted_from_cycle_id: None,
                ..plan_cmd()
            },
        ),
        "previous_cycle_id",
        "PDSA cycle",
        CYCLE,
    );
    // The caller found a stream, but it holds no plan.
    then_unknown(
        when_next_planned(&cycle_state(CYCLE, &[]), vec![IDEA_HUDDLES]),
        "previous_cycle_id",
        "PDSA cycle",
        CYCLE,
    );
}

#[test]
fn a_ramp_stays_within_one_program() {
    let other = cycle_state(
        CYCLE,
        &[
            planned_by(CYCLE, PROGRAM_2, None, CYCLE, 1),
            started(CYCLE),
            do_recorded(CYCLE),
            study_recorded(CYCLE),
            act_decided(CYCLE),
        ],
    );
    then_invalid(
        when_next_planned(&other, vec![IDEA_HUDDLES]),
        &["previous_cycle_id"],
    );
}

#[test]
fn a_ramp_builds_only_on_a_closed_cycle() {
    for at in At::OPEN {
        then_invalid(
            when_next_planned(&cycle_at(CYCLE, at), vec![IDEA_HUDDLES]),
            &["previous_cycle_id"],
        );
    }
}

#[test]
fn a_ramp_tests_a_same_change_idea() {
    then_invalid(
        when_next_planned(&cycle_at(CYCLE, At::Acted), vec![IDEA_VISITS]),
        &["previous_cycle_id"],
    );
}

// ---------------------------------------------------------------------------------------------
// Phases move forward only
// ---------------------------------------------------------------------------------------------

#[test]
fn the_do_is_recorded_while_doing_on_or_after_the_start() {
    let doing = cycle_at(CYCLE, At::Doing);
    then_invalid(
        record_do(
            &doing,
            Do {
                completed_on: date(2025, 3, 2),
                what_happened: blank(),
                observations: too_many(a_do().observations[0].clone()),
                ..a_do()
            },
        ),
        &["observations", "what_happened", "completed_on"],
    );
    // The day it started is fine.
    then_events(
        record_do(
            &doing,
            Do {
                completed_on: date(2025, 3, 3),
                ..a_do()
            },
        ),
        vec![NicEvent::PdsaDoRecorded(PdsaDoRecorded {
            cycle_id: CYCLE,
            done: Do {
                completed_on: date(2025, 3, 3),
                ..a_do()
            },
        })],
    );
}

#[test]
fn a_study_has_one_result_per_question() {
    let done = cycle_at(CYCLE, At::Done);
    // A question without a result.
    then_invalid(
        record_study(
            &done,
            Study {
                results: vec![result(1, "Five of six came back.")],
                ..a_study()
            },
        ),
        &["results"],
    );
    // A question answered twice, and so another left without.
    then_invalid(
        record_study(
            &done,
            Study {
                results: vec![result(0, "One."), result(0, "Two.")],
                ..a_study()
            },
        ),
        &["results[1].question_index", "results"],
    );
    // A question the plan does not have.
    then_invalid(
        record_study(
            &done,
            Study {
                results: vec![result(0, "One."), result(1, "Two."), result(2, "Three.")],
                ..a_study()
            },
        ),
        &["results[2].question_index"],
    );
    // No summary, a blank result.
    then_invalid(
        record_study(
            &done,
            Study {
                results: vec![result(0, " "), result(1, "Two.")],
                summary: blank(),
            },
        ),
        &["summary", "results[0].result"],
    );
}

#[test]
fn a_study_of_a_plan_without_questions_has_no_results() {
    let plan = Plan {
        questions: vec![],
        ..a_plan()
    };
    let cmd = PlanCycle { plan, ..plan_cmd() };
    let planned = when_first_planned(cmd).unwrap();
    let given = and(planned, [started(CYCLE), do_recorded(CYCLE)]);
    let done = cycle_state(CYCLE, &given);
    assert_eq!(done.gaps(), ["no questions"]);
    let study = Study {
        results: vec![],
        summary: text("Learned how long huddles take."),
    };
    then_events(
        record_study(&done, study.clone()),
        vec![NicEvent::PdsaStudyRecorded(PdsaStudyRecorded {
            cycle_id: CYCLE,
            study,
        })],
    );
    then_invalid(
        record_study(&done, a_study()),
        &["results[0].question_index", "results[1].question_index"],
    );
}

#[test]
fn a_study_lists_at_most_the_list_limit_of_results() {
    let results = too_many(result(0, "Again."));
    let mut fields = vec!["results".to_string()];
    fields.extend((1..results.len()).map(|i| format!("results[{i}].question_index")));
    fields.push("results".into());
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    then_invalid(
        record_study(
            &cycle_at(CYCLE, At::Done),
            Study {
                results,
                ..a_study()
            },
        ),
        &fields,
    );
}

#[test]
fn the_act_needs_a_study_and_a_reason() {
    then_transition(decide_act(
        &cycle_at(CYCLE, At::Done),
        an_act(ActDecision::Adopt),
    ));
    then_invalid(
        decide_act(
            &cycle_at(CYCLE, At::Studied),
            Act {
                reason: blank(),
                ..an_act(ActDecision::Abandon)
            },
        ),
        &["reason"],
    );
    for decision in [ActDecision::Adopt, ActDecision::Adapt, ActDecision::Abandon] {
        then_events(
            decide_act(&cycle_at(CYCLE, At::Studied), an_act(decision)),
            vec![NicEvent::PdsaActDecided(PdsaActDecided {
                cycle_id: CYCLE,
                act: an_act(decision),
            })],
        );
    }
}

#[test]
fn every_phase_command_out_of_order_is_refused() {
    type Command = fn(&CycleState) -> Decision;
    let commands: [(&str, At, Command); 4] = [
        ("start", At::Planned, |c| start(c, start_cmd())),
        ("record_do", At::Doing, |c| record_do(c, a_do())),
        ("record_study", At::Done, |c| record_study(c, a_study())),
        ("decide_act", At::Studied, |c| {
            decide_act(c, an_act(ActDecision::Adapt))
        }),
    ];
    for (name, allowed, command) in commands {
        for at in At::ALL {
            let decision = command(&cycle_at(CYCLE, at));
            if at == allowed {
                assert!(decision.is_ok(), "{name} at {at:?}: {decision:?}");
            } else {
                match decision {
                    Err(nic_domain::DomainError::InvalidTransition(_)) => {}
                    other => panic!("{name} at {at:?}: {other:?}"),
                }
            }
        }
    }
}

#[test]
fn a_cycle_is_abandoned_from_each_open_phase() {
    for (at, in_phase) in [
        (At::Planned, CyclePhase::Planned),
        (At::Doing, CyclePhase::Doing),
        (At::Done, CyclePhase::Studying),
        (At::Studied, CyclePhase::Studying),
    ] {
        then_events(
            abandon(&cycle_at(CYCLE, at), abandon_cmd()),
            vec![abandoned(CYCLE, in_phase)],
        );
    }
}

#[test]
fn a_closed_cycle_is_not_abandoned() {
    for at in At::CLOSED {
        then_transition(abandon(&cycle_at(CYCLE, at), abandon_cmd()));
    }
}

#[test]
fn abandoning_says_why() {
    then_invalid(
        abandon(
            &cycle_at(CYCLE, At::Doing),
            AbandonCycle { reason: blank() },
        ),
        &["reason"],
    );
}

#[test]
fn every_command_on_a_cycle_not_planned_is_not_found() {
    let none = cycle_state(CYCLE, &[]);
    let nf = |d| then_not_found(d, "PDSA cycle", CYCLE);
    nf(start(&none, start_cmd()));
    nf(record_do(&none, a_do()));
    nf(record_study(&none, a_study()));
    nf(decide_act(&none, an_act(ActDecision::Adopt)));
    nf(abandon(&none, abandon_cmd()));
    nf(correct(
        &none,
        &known_measures(),
        correct_cmd(Correction::Plan(a_plan())),
    ));
}

// ---------------------------------------------------------------------------------------------
// Corrections
// ---------------------------------------------------------------------------------------------

fn other_plan() -> Plan {
    Plan {
        objective: text("Learn whether a weekly huddle keeps pairs meeting."),
        ..a_plan()
    }
}

fn other_do() -> Do {
    Do {
        carried_out_as_planned: true,
        ..a_do()
    }
}

fn other_study() -> Study {
    Study {
        summary: text("Huddles help; pairs help more."),
        ..a_study()
    }
}

fn other_act() -> Act {
    an_act(ActDecision::Adopt)
}

#[test]
fn every_section_of_an_acted_cycle_is_corrected() {
    for correction in [
        Correction::Plan(other_plan()),
        Correction::Do(other_do()),
        Correction::Study(other_study()),
        Correction::Act(other_act()),
    ] {
        then_events(
            correct(
                &cycle_at(CYCLE, At::Acted),
                &known_measures(),
                correct_cmd(correction.clone()),
            ),
            vec![corrected(CYCLE, correction)],
        );
    }
}

#[test]
fn an_open_cycle_is_not_corrected() {
    for at in At::OPEN {
        then_transition(correct(
            &cycle_at(CYCLE, at),
            &known_measures(),
            correct_cmd(Correction::Plan(other_plan())),
        ));
    }
}

#[test]
fn an_abandoned_cycle_is_corrected_only_in_the_sections_it_holds() {
    let early = cycle_at(CYCLE, At::AbandonedPlanned);
    then_events(
        correct(
            &early,
            &known_measures(),
            correct_cmd(Correction::Plan(other_plan())),
        ),
        vec![corrected(CYCLE, Correction::Plan(other_plan()))],
    );
    for correction in [
        Correction::Do(other_do()),
        Correction::Study(other_study()),
        Correction::Act(other_act()),
    ] {
        then_transition(correct(&early, &known_measures(), correct_cmd(correction)));
    }

    let late = cycle_at(CYCLE, At::AbandonedStudying);
    then_events(
        correct(
            &late,
            &known_measures(),
            correct_cmd(Correction::Do(other_do())),
        ),
        vec![corrected(CYCLE, Correction::Do(other_do()))],
    );
    for correction in [
        Correction::Study(other_study()),
        Correction::Act(other_act()),
    ] {
        then_transition(correct(&late, &known_measures(), correct_cmd(correction)));
    }
}

#[test]
fn a_correction_that_changes_nothing_is_refused() {
    let acted = cycle_at(CYCLE, At::Acted);
    for correction in [
        Correction::Plan(a_plan()),
        Correction::Do(a_do()),
        Correction::Study(a_study()),
        Correction::Act(an_act(ActDecision::Adapt)),
    ] {
        then_transition(correct(&acted, &known_measures(), correct_cmd(correction)));
    }
}

#[test]
fn a_correction_says_what_was_wrong_and_is_checked_like_the_section() {
    let acted = cycle_at(CYCLE, At::Acted);
    let when = |correction, reason| {
        correct(
            &acted,
            &known_measures(),
            CorrectCycle { correction, reason },
        )
    };
    then_invalid(when(Correction::Plan(other_plan()), blank()), &["reason"]);
    then_invalid(
        when(
            Correction::Plan(Plan {
                objective: blank(),
                tasks: too_many(title("Print cards")),
                ..a_plan()
            }),
            text("Wrong."),
        ),
        &[
            "correction.corrected.tasks",
            "correction.corrected.objective",
        ],
    );
    then_invalid(
        when(
            Correction::Do(Do {
                completed_on: date(2025, 2, 1),
                ..a_do()
            }),
            text("Wrong."),
        ),
        &["correction.corrected.completed_on"],
    );
    then_invalid(
        when(
            Correction::Study(Study {
                results: vec![result(0, "One.")],
                ..a_study()
            }),
            text("Wrong."),
        ),
        &["correction.corrected.results"],
    );
    then_invalid(
        when(
            Correction::Act(Act {
                reason: blank(),
                ..other_act()
            }),
            text("Wrong."),
        ),
        &["correction.corrected.reason"],
    );
}

#[test]
fn a_corrected_plan_names_measures_the_network_holds() {
    let plan = Plan {
        measure_ids: vec![NOBODY],
        ..a_plan()
    };
    then_unknown(
        correct(
            &cycle_at(CYCLE, At::Acted),
            &known_measures(),
            correct_cmd(Correction::Plan(plan)),
        ),
        "correction.corrected.measure_ids[0]",
        "measure",
        NOBODY,
    );
}

#[test]
fn a_correction_folds_into_the_cycle_and_the_record_keeps_it() {
    let given = and(
        cycle_given(CYCLE, At::Acted),
        [corrected(CYCLE, Correction::Act(other_act()))],
    );
    let state = cycle_state(CYCLE, &given);
    assert_eq!(state.act, Some(other_act()));
    assert_eq!(state.phase, Some(CyclePhase::Acted));
    assert_eq!(state.corrections.len(), 1);
    // Correcting it back to what it first read is a new correction.
    then_events(
        correct(
            &state,
            &known_measures(),
            correct_cmd(Correction::Act(an_act(ActDecision::Adapt))),
        ),
        vec![corrected(
            CYCLE,
            Correction::Act(an_act(ActDecision::Adapt)),
        )],
    );
}
