//! Given / when / then for `nic_domain::program`: enrolment, withdrawal and self-assessments
//! against the network's quality standards.

mod common;

use std::collections::BTreeSet;

use common::*;
use nic_domain::program::*;
use nic_events::catalog::*;
use nic_events::NicEvent;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Enrolment
// ---------------------------------------------------------------------------------------------

fn enrol_in(ecosystem_id: Uuid) -> EnrollProgram {
    EnrollProgram {
        name: title("Robotics Saturdays"),
        ecosystem_id,
    }
}

#[test]
fn a_program_enrols_in_an_ecosystem_and_takes_its_region() {
    then_events(
        enroll(&the_network(), &program_none(), enrol_in(ECO_PHILADELPHIA)),
        vec![NicEvent::ProgramEnrolled(ProgramEnrolled {
            program_id: PROGRAM_NONE,
            network_id: NETWORK,
            name: title("Robotics Saturdays"),
            ecosystem_id: ECO_PHILADELPHIA,
            region: title("Southeastern Pennsylvania"),
        })],
    );
}

#[test]
fn a_program_enrols_once() {
    then_transition(enroll(
        &the_network(),
        &the_program(),
        enrol_in(ECO_PITTSBURGH),
    ));
    // Withdrawn is still enrolled once: it does not enrol again under the same id.
    then_transition(enroll(
        &the_network(),
        &program_withdrawn(),
        enrol_in(ECO_PITTSBURGH),
    ));
}

#[test]
fn a_program_enrols_in_a_known_ecosystem_of_a_chartered_network() {
    then_unknown(
        enroll(&the_network(), &program_none(), enrol_in(NOBODY)),
        "ecosystem_id",
        "ecosystem",
        NOBODY,
    );
    then_not_found(
        enroll(
            &network_state(NETWORK, &[]),
            &program_none(),
            enrol_in(ECO_PITTSBURGH),
        ),
        "network",
        NETWORK,
    );
}

// ---------------------------------------------------------------------------------------------
// Withdrawal
// ---------------------------------------------------------------------------------------------

#[test]
fn a_program_withdraws_saying_why() {
    then_events(
        withdraw(
            &the_program(),
            WithdrawProgram {
                reason: text("Lost its funding."),
            },
        ),
        vec![withdrawn(PROGRAM)],
    );
    then_invalid(
        withdraw(&the_program(), WithdrawProgram { reason: blank() }),
        &["reason"],
    );
}

#[test]
fn a_program_withdraws_once_and_only_when_enrolled() {
    let cmd = || WithdrawProgram {
        reason: text("Again."),
    };
    then_transition(withdraw(&program_withdrawn(), cmd()));
    then_not_found(withdraw(&program_none(), cmd()), "program", PROGRAM_NONE);
}

// ---------------------------------------------------------------------------------------------
// Self-assessments
// ---------------------------------------------------------------------------------------------

fn cited(kind: EvidenceKind, id: Uuid) -> Evidence {
    Evidence {
        kind,
        id: Some(id),
        reference: None,
        note: text(""),
    }
}

fn document(reference: &str) -> Evidence {
    Evidence {
        kind: EvidenceKind::Document,
        id: None,
        reference: Some(title(reference)),
        note: text("Signed by the director."),
    }
}

fn assess(rating: u8, evidence: Vec<Evidence>) -> SelfAssess {
    SelfAssess {
        standard_id: STANDARD_S1,
        rating,
        assessed_on: date(2025, 6, 30),
        evidence,
        note: text("Year one."),
    }
}

fn assessed(rating: u8, evidence: Vec<Evidence>) -> NicEvent {
    NicEvent::StandardSelfAssessed(StandardSelfAssessed {
        assessment_id: ASSESSMENT,
        program_id: PROGRAM,
        standard_id: STANDARD_S1,
        rating,
        assessed_on: date(2025, 6, 30),
        evidence,
        note: text("Year one."),
    })
}

fn known() -> BTreeSet<(EvidenceKind, Uuid)> {
    BTreeSet::from([
        (EvidenceKind::Cycle, CYCLE),
        (EvidenceKind::Measure, MEASURE),
        (EvidenceKind::Synthesis, SYNTHESIS),
    ])
}

#[test]
fn a_program_self_assesses_citing_what_the_ledger_holds_and_documents() {
    let evidence = vec![
        cited(EvidenceKind::Cycle, CYCLE),
        cited(EvidenceKind::Measure, MEASURE),
        cited(EvidenceKind::Synthesis, SYNTHESIS),
        document("Staff training log 2024-25"),
    ];
    then_events(
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(3, evidence.clone()),
        ),
        vec![assessed(3, evidence)],
    );
}

#[test]
fn ratings_run_from_one_to_four() {
    for rating in [RATING_MIN, RATING_MAX] {
        then_events(
            self_assess(
                &the_program(),
                &the_network(),
                ASSESSMENT,
                &known(),
                assess(rating, vec![]),
            ),
            vec![assessed(rating, vec![])],
        );
    }
    for rating in [0, RATING_MAX + 1, u8::MAX] {
        then_invalid(
            self_assess(
                &the_program(),
                &the_network(),
                ASSESSMENT,
                &known(),
                assess(rating, vec![]),
            ),
            &["rating"],
        );
    }
}

#[test]
fn a_self_assessment_against_an_unknown_standard_is_refused() {
    then_unknown(
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            SelfAssess {
                standard_id: NOBODY,
                ..assess(2, vec![])
            },
        ),
        "standard_id",
        "quality standard",
        NOBODY,
    );
}

#[test]
fn evidence_by_an_id_the_ledger_does_not_hold_is_refused() {
    let when = |evidence| {
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(2, evidence),
        )
    };
    then_unknown(
        when(vec![document("Log"), cited(EvidenceKind::Cycle, NOBODY)]),
        "evidence[1].id",
        "PDSA cycle",
        NOBODY,
    );
    // An id known as a cycle is not a measure.
    then_unknown(
        when(vec![cited(EvidenceKind::Measure, CYCLE)]),
        "evidence[0].id",
        "measure",
        CYCLE,
    );
    then_unknown(
        when(vec![cited(EvidenceKind::Synthesis, MEASURE)]),
        "evidence[0].id",
        "synthesis",
        MEASURE,
    );
}

#[test]
fn evidence_is_cited_by_id_or_by_reference_as_its_kind_says() {
    let when = |evidence| {
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(2, evidence),
        )
    };
    then_invalid(
        when(vec![Evidence {
            id: None,
            ..cited(EvidenceKind::Cycle, CYCLE)
        }]),
        &["evidence[0].id"],
    );
    then_invalid(
        when(vec![Evidence {
            id: Some(CYCLE),
            ..document("Log")
        }]),
        &["evidence[0]"],
    );
    then_invalid(
        when(vec![Evidence {
            reference: None,
            ..document("Log")
        }]),
        &["evidence[0]"],
    );
}

#[test]
fn everything_wrong_with_a_self_assessment_is_reported_at_once() {
    then_invalid(
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(
                7,
                vec![
                    Evidence {
                        id: None,
                        ..cited(EvidenceKind::Measure, MEASURE)
                    },
                    Evidence {
                        reference: None,
                        ..document("Log")
                    },
                ],
            ),
        ),
        &["rating", "evidence[0].id", "evidence[1]"],
    );
}

#[test]
fn a_self_assessment_cites_at_most_the_list_limit() {
    then_invalid(
        self_assess(
            &the_program(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(2, too_many(document("Log"))),
        ),
        &["evidence"],
    );
}

#[test]
fn only_an_enrolled_active_program_self_assesses() {
    then_transition(self_assess(
        &program_withdrawn(),
        &the_network(),
        ASSESSMENT,
        &known(),
        assess(2, vec![]),
    ));
    then_not_found(
        self_assess(
            &program_none(),
            &the_network(),
            ASSESSMENT,
            &known(),
            assess(2, vec![]),
        ),
        "program",
        PROGRAM_NONE,
    );
}

#[test]
fn self_assessments_fold_into_the_portfolio_in_order() {
    let state = program_state(
        PROGRAM,
        &[
            enrolled(PROGRAM, NETWORK, "Summer Science Academy"),
            assessed(2, vec![]),
            assessed(3, vec![document("Log")]),
        ],
    );
    let ratings: Vec<u8> = state.self_assessments.iter().map(|a| a.rating).collect();
    assert_eq!(ratings, [2, 3]);
}
