//! Given / when / then for `nic_domain::network`: the charter, the aim, ecosystems, the driver
//! diagram (drivers, change ideas and their lifecycle, links, rewording, retiring), standards,
//! root causes, chart settings and the retention of personal text.

mod common;

use common::*;
use nic_domain::network::*;
use nic_events::catalog::*;
use nic_events::NicEvent;

use ChangeIdeaStage::*;
use LinkStrength::*;

fn serves(node_id: uuid::Uuid, strength: LinkStrength) -> Serves {
    Serves { node_id, strength }
}

// ---------------------------------------------------------------------------------------------
// Charter
// ---------------------------------------------------------------------------------------------

#[test]
fn a_network_is_chartered_once() {
    let cmd = || CharterNetwork {
        name: title("STEM PUSH Network"),
        purpose: text("Pre-college STEM programs improving together."),
    };
    then_events(
        charter(&network_state(NETWORK, &[]), cmd()),
        vec![chartered(NETWORK)],
    );
    then_transition(charter(
        &network_state(NETWORK, &[chartered(NETWORK)]),
        cmd(),
    ));
}

#[test]
fn every_network_command_on_a_network_not_chartered_is_not_found() {
    let none = network_state(NETWORK, &[]);
    let nf = |d| then_not_found(d, "network", NETWORK);
    nf(state_aim(
        &none,
        StateAim {
            aim: aim(),
            reason: None,
        },
    ));
    nf(add_ecosystem(
        &none,
        ECO_PITTSBURGH,
        AddEcosystem {
            name: title("Pittsburgh"),
            region: title("PA"),
        },
    ));
    nf(add_driver(
        &none,
        NEW_NODE,
        AddDriver {
            kind: DriverKind::Primary,
            title: title("Identity"),
            definition: text(""),
            serves: vec![],
        },
    ));
    nf(propose_change_idea(
        &none,
        NEW_NODE,
        None,
        ProposeChangeIdea {
            title: title("Huddles"),
            definition: text(""),
            proposed_by_program: None,
            rationale: text(""),
            serves: vec![],
        },
    ));
    nf(accept_change_idea(
        &none,
        IDEA_PANEL,
        AcceptChangeIdea { note: text("") },
    ));
    nf(decline_change_idea(
        &none,
        IDEA_PANEL,
        DeclineChangeIdea { reason: text("no") },
    ));
    nf(change_stage(
        &none,
        IDEA_HUDDLES,
        ChangeStage {
            stage: Testing,
            reason: text("cycles"),
        },
    ));
    nf(reword_node(
        &none,
        IDEA_HUDDLES,
        RewordNode {
            title: title("x"),
            definition: text(""),
            reason: text(""),
        },
    ));
    nf(link_nodes(
        &none,
        LinkNodes {
            from: IDEA_HUDDLES,
            to: SECONDARY_MENTORING,
            strength: Strong,
        },
    ));
    nf(unlink_nodes(
        &none,
        UnlinkNodes {
            from: IDEA_HUDDLES,
            to: SECONDARY_MENTORING,
            reason: text(""),
        },
    ));
    nf(retire_node(
        &none,
        IDEA_HUDDLES,
        RetireNode {
            reason: text("done"),
        },
    ));
    nf(define_standard(
        &none,
        STANDARD_S1,
        DefineStandard {
            code: title("S1"),
            title: title("Practice"),
            description: text(""),
        },
    ));
    nf(record_root_cause(
        &none,
        ROOT_CAUSE,
        RecordRootCause {
            category: title("Recruitment"),
            cause: title("Flyers reach few families"),
            description: text(""),
        },
    ));
}

// ---------------------------------------------------------------------------------------------
// Aim
// ---------------------------------------------------------------------------------------------

#[test]
fn a_first_aim_is_stated() {
    let given = network_state(NETWORK, &[chartered(NETWORK)]);
    then_events(
        state_aim(
            &given,
            StateAim {
                aim: aim(),
                reason: None,
            },
        ),
        vec![NicEvent::AimStated(AimStated { aim: aim() })],
    );
    // A reason given with a first statement is not a revision.
    then_events(
        state_aim(
            &given,
            StateAim {
                aim: aim(),
                reason: Some(text("Agreed at the convening.")),
            },
        ),
        vec![NicEvent::AimStated(AimStated { aim: aim() })],
    );
}

fn revised_aim() -> Aim {
    Aim {
        target: 55.0,
        by_when: date(2028, 9, 1),
        ..aim()
    }
}

#[test]
fn a_stated_aim_is_revised_with_a_reason() {
    then_events(
        state_aim(
            &the_network(),
            StateAim {
                aim: revised_aim(),
                reason: Some(text("The first cohort beat the target.")),
            },
        ),
        vec![NicEvent::AimRevised(AimRevised {
            aim: revised_aim(),
            reason: text("The first cohort beat the target."),
        })],
    );
}

#[test]
fn a_revision_without_a_reason_is_refused() {
    for reason in [None, Some(blank())] {
        then_invalid(
            state_aim(
                &the_network(),
                StateAim {
                    aim: revised_aim(),
                    reason,
                },
            ),
            &["reason"],
        );
    }
}

#[test]
fn an_aim_that_already_reads_so_is_refused() {
    then_transition(state_aim(
        &the_network(),
        StateAim {
            aim: aim(),
            reason: Some(text("Again.")),
        },
    ));
}

#[test]
fn an_aim_with_non_finite_numbers_or_a_blank_statement_is_refused_all_at_once() {
    let given = network_state(NETWORK, &[chartered(NETWORK)]);
    then_invalid(
        state_aim(
            &given,
            StateAim {
                aim: Aim {
                    target: f64::NAN,
                    baseline: Some(f64::INFINITY),
                    statement: blank(),
                    ..aim()
                },
                reason: None,
            },
        ),
        &["aim.target", "aim.baseline", "aim.statement"],
    );
}

// ---------------------------------------------------------------------------------------------
// Ecosystems
// ---------------------------------------------------------------------------------------------

#[test]
fn an_ecosystem_is_added_and_its_name_is_unique() {
    let new = uuid::Uuid::from_u128(12);
    then_events(
        add_ecosystem(
            &the_network(),
            new,
            AddEcosystem {
                name: title("Erie STEM Ecosystem"),
                region: title("Northwestern Pennsylvania"),
            },
        ),
        vec![ecosystem(
            new,
            "Erie STEM Ecosystem",
            "Northwestern Pennsylvania",
        )],
    );
    then_invalid(
        add_ecosystem(
            &the_network(),
            new,
            AddEcosystem {
                name: title("Pittsburgh STEM Ecosystem"),
                region: title("Elsewhere"),
            },
        ),
        &["name"],
    );
}

// ---------------------------------------------------------------------------------------------
// Drivers
// ---------------------------------------------------------------------------------------------

fn add(kind: DriverKind, serves: Vec<Serves>) -> AddDriver {
    AddDriver {
        kind,
        title: title("Family engagement"),
        definition: text("Families know the program and its pathways."),
        serves,
    }
}

#[test]
fn a_primary_driver_is_added() {
    then_events(
        add_driver(&the_network(), NEW_NODE, add(DriverKind::Primary, vec![])),
        vec![NicEvent::DriverAdded(DriverAdded {
            node_id: NEW_NODE,
            kind: DriverKind::Primary,
            title: title("Family engagement"),
            definition: text("Families know the program and its pathways."),
        })],
    );
}

#[test]
fn a_secondary_driver_is_added_with_the_primary_drivers_it_serves() {
    then_events(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                vec![
                    serves(PRIMARY_PATHWAYS, Strong),
                    serves(PRIMARY_IDENTITY, Weak),
                ],
            ),
        ),
        vec![
            NicEvent::DriverAdded(DriverAdded {
                node_id: NEW_NODE,
                kind: DriverKind::Secondary,
                title: title("Family engagement"),
                definition: text("Families know the program and its pathways."),
            }),
            linked(NEW_NODE, PRIMARY_PATHWAYS, Strong),
            linked(NEW_NODE, PRIMARY_IDENTITY, Weak),
        ],
    );
}

#[test]
fn a_driver_serves_only_what_its_kind_may_serve() {
    // A secondary driver serves primary drivers only.
    then_invalid(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                vec![serves(SECONDARY_COLLEGE, Strong)],
            ),
        ),
        &["serves[0].node_id"],
    );
    then_invalid(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                vec![
                    serves(PRIMARY_IDENTITY, Strong),
                    serves(IDEA_HUDDLES, Strong),
                ],
            ),
        ),
        &["serves[1].node_id"],
    );
    // A primary driver serves nothing: it serves the aim.
    then_invalid(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(DriverKind::Primary, vec![serves(PRIMARY_IDENTITY, Strong)]),
        ),
        &["serves[0].node_id"],
    );
}

#[test]
fn a_driver_serving_an_unknown_retired_or_twice_named_node_is_refused() {
    then_unknown(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(DriverKind::Secondary, vec![serves(NOBODY, Strong)]),
        ),
        "serves[0].node_id",
        "driver-diagram node",
        NOBODY,
    );
    then_invalid(
        add_driver(
            &the_network_and([retired(PRIMARY_PATHWAYS)]),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                vec![serves(PRIMARY_PATHWAYS, Strong)],
            ),
        ),
        &["serves[0].node_id"],
    );
    then_invalid(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                vec![
                    serves(PRIMARY_PATHWAYS, Strong),
                    serves(PRIMARY_PATHWAYS, Weak),
                ],
            ),
        ),
        &["serves[1].node_id"],
    );
}

#[test]
fn a_driver_serving_more_than_the_list_limit_is_refused() {
    then_invalid(
        add_driver(
            &the_network(),
            NEW_NODE,
            add(
                DriverKind::Secondary,
                too_many(serves(PRIMARY_PATHWAYS, Strong)),
            ),
        ),
        &["serves"],
    );
}

// ---------------------------------------------------------------------------------------------
// Change ideas: proposal
// ---------------------------------------------------------------------------------------------

fn proposal(by: Option<uuid::Uuid>, serves: Vec<Serves>) -> ProposeChangeIdea {
    ProposeChangeIdea {
        title: title("Text-message nudges to families"),
        definition: text("A weekly text to families about what students did."),
        proposed_by_program: by,
        rationale: text("Families asked for it."),
        serves,
    }
}

fn proposed_event(by: Option<uuid::Uuid>) -> NicEvent {
    NicEvent::ChangeIdeaProposed(ChangeIdeaProposed {
        node_id: NEW_NODE,
        title: title("Text-message nudges to families"),
        definition: text("A weekly text to families about what students did."),
        proposed_by_program: by,
        rationale: text("Families asked for it."),
    })
}

#[test]
fn the_hub_proposes_a_change_idea_with_the_drivers_it_serves() {
    then_events(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            None,
            proposal(
                None,
                vec![
                    serves(SECONDARY_COLLEGE, Strong),
                    serves(PRIMARY_PATHWAYS, Weak),
                ],
            ),
        ),
        vec![
            proposed_event(None),
            linked(NEW_NODE, SECONDARY_COLLEGE, Strong),
            linked(NEW_NODE, PRIMARY_PATHWAYS, Weak),
        ],
    );
}

#[test]
fn an_enrolled_program_proposes_a_change_idea() {
    then_events(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            Some(&the_program()),
            proposal(Some(PROGRAM), vec![]),
        ),
        vec![proposed_event(Some(PROGRAM))],
    );
}

#[test]
fn a_withdrawn_program_does_not_propose() {
    then_invalid(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            Some(&program_withdrawn()),
            proposal(Some(PROGRAM_WITHDRAWN), vec![]),
        ),
        &["proposed_by_program"],
    );
}

#[test]
fn a_program_of_another_network_or_none_at_all_does_not_propose() {
    then_unknown(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            Some(&program_other()),
            proposal(Some(PROGRAM_OTHER), vec![]),
        ),
        "proposed_by_program",
        "program",
        PROGRAM_OTHER,
    );
    then_unknown(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            Some(&program_none()),
            proposal(Some(PROGRAM_NONE), vec![]),
        ),
        "proposed_by_program",
        "program",
        PROGRAM_NONE,
    );
    then_unknown(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            None,
            proposal(Some(PROGRAM_NONE), vec![]),
        ),
        "proposed_by_program",
        "program",
        PROGRAM_NONE,
    );
}

#[test]
fn a_change_idea_serves_drivers_not_change_ideas() {
    then_invalid(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            None,
            proposal(None, vec![serves(IDEA_HUDDLES, Strong)]),
        ),
        &["serves[0].node_id"],
    );
    then_invalid(
        propose_change_idea(
            &the_network(),
            NEW_NODE,
            None,
            proposal(None, too_many(serves(SECONDARY_COLLEGE, Weak))),
        ),
        &["serves"],
    );
}

// ---------------------------------------------------------------------------------------------
// Change ideas: accept, decline, stages
// ---------------------------------------------------------------------------------------------

#[test]
fn the_hub_accepts_a_proposed_change_idea() {
    then_events(
        accept_change_idea(
            &the_network(),
            IDEA_PANEL,
            AcceptChangeIdea {
                note: text("Try it in two ecosystems."),
            },
        ),
        vec![NicEvent::ChangeIdeaAccepted(ChangeIdeaAccepted {
            node_id: IDEA_PANEL,
            note: text("Try it in two ecosystems."),
        })],
    );
}

#[test]
fn only_a_proposed_change_idea_is_accepted() {
    let accept = |state: &NetworkState, id| {
        accept_change_idea(state, id, AcceptChangeIdea { note: text("") })
    };
    then_transition(accept(&the_network(), IDEA_HUDDLES));
    then_transition(accept(&the_network_and([declined(IDEA_PANEL)]), IDEA_PANEL));
    then_transition(accept(
        &the_network_and([stage_changed(IDEA_HUDDLES, Accepted, Testing)]),
        IDEA_HUDDLES,
    ));
}

#[test]
fn the_hub_declines_a_proposed_change_idea_saying_why() {
    then_events(
        decline_change_idea(
            &the_network(),
            IDEA_PANEL,
            DeclineChangeIdea {
                reason: text("Outside what programs can change."),
            },
        ),
        vec![declined(IDEA_PANEL)],
    );
    then_invalid(
        decline_change_idea(
            &the_network(),
            IDEA_PANEL,
            DeclineChangeIdea { reason: blank() },
        ),
        &["reason"],
    );
}

#[test]
fn only_a_proposed_change_idea_is_declined() {
    let decline = |state: &NetworkState, id| {
        decline_change_idea(
            state,
            id,
            DeclineChangeIdea {
                reason: text("No."),
            },
        )
    };
    then_transition(decline(&the_network(), IDEA_HUDDLES));
    then_transition(decline(
        &the_network_and([declined(IDEA_PANEL)]),
        IDEA_PANEL,
    ));
}

fn to(stage: ChangeIdeaStage) -> ChangeStage {
    ChangeStage {
        stage,
        reason: text("What the cycles showed."),
    }
}

#[test]
fn an_accepted_change_idea_moves_through_its_stages() {
    let steps = [
        (Accepted, Testing),
        (Testing, Implementing),
        (Implementing, Spreading),
        (Spreading, Abandoned),
    ];
    let mut given = network_given();
    for (from, next) in steps {
        let state = network_state(NETWORK, &given);
        let events = change_stage(&state, IDEA_HUDDLES, to(next));
        then_events(
            events.clone(),
            vec![stage_changed(IDEA_HUDDLES, from, next)],
        );
        given.extend(events.unwrap());
    }
    assert_eq!(
        network_state(NETWORK, &given).nodes[&IDEA_HUDDLES].stage,
        Some(Abandoned)
    );
}

#[test]
fn an_accepted_change_idea_may_be_abandoned_and_a_spreading_one_go_back_to_testing() {
    then_events(
        change_stage(&the_network(), IDEA_HUDDLES, to(Abandoned)),
        vec![stage_changed(IDEA_HUDDLES, Accepted, Abandoned)],
    );
    then_events(
        change_stage(
            &the_network_and([stage_changed(IDEA_HUDDLES, Accepted, Spreading)]),
            IDEA_HUDDLES,
            to(Testing),
        ),
        vec![stage_changed(IDEA_HUDDLES, Spreading, Testing)],
    );
}

#[test]
fn a_change_idea_not_accepted_or_already_abandoned_does_not_change_stage() {
    then_transition(change_stage(&the_network(), IDEA_PANEL, to(Testing)));
    then_transition(change_stage(
        &the_network_and([declined(IDEA_PANEL)]),
        IDEA_PANEL,
        to(Testing),
    ));
    then_transition(change_stage(
        &the_network_and([stage_changed(IDEA_HUDDLES, Accepted, Abandoned)]),
        IDEA_HUDDLES,
        to(Testing),
    ));
}

#[test]
fn a_stage_change_to_the_same_stage_is_refused() {
    then_transition(change_stage(
        &the_network_and([stage_changed(IDEA_HUDDLES, Accepted, Testing)]),
        IDEA_HUDDLES,
        to(Testing),
    ));
}

#[test]
fn a_stage_change_to_a_proposal_stage_is_refused() {
    for stage in [Proposed, Accepted, Declined] {
        then_invalid(
            change_stage(
                &the_network_and([stage_changed(IDEA_HUDDLES, Accepted, Testing)]),
                IDEA_HUDDLES,
                to(stage),
            ),
            &["stage"],
        );
    }
}

#[test]
fn a_stage_change_says_why() {
    then_invalid(
        change_stage(
            &the_network(),
            IDEA_HUDDLES,
            ChangeStage {
                stage: Testing,
                reason: blank(),
            },
        ),
        &["reason"],
    );
}

#[test]
fn a_retired_change_idea_is_not_accepted_declined_nor_moved() {
    let given = the_network_and([retired(IDEA_PANEL), retired(IDEA_HUDDLES)]);
    then_transition(accept_change_idea(
        &given,
        IDEA_PANEL,
        AcceptChangeIdea { note: text("") },
    ));
    then_transition(decline_change_idea(
        &given,
        IDEA_PANEL,
        DeclineChangeIdea {
            reason: text("No."),
        },
    ));
    then_transition(change_stage(&given, IDEA_HUDDLES, to(Testing)));
}

#[test]
fn change_idea_commands_addressed_to_a_driver_or_nothing_are_not_found() {
    let net = the_network();
    then_not_found(
        accept_change_idea(
            &net,
            SECONDARY_MENTORING,
            AcceptChangeIdea { note: text("") },
        ),
        "change idea",
        SECONDARY_MENTORING,
    );
    then_not_found(
        decline_change_idea(
            &net,
            PRIMARY_IDENTITY,
            DeclineChangeIdea {
                reason: text("No."),
            },
        ),
        "change idea",
        PRIMARY_IDENTITY,
    );
    then_not_found(
        change_stage(&net, PRIMARY_IDENTITY, to(Testing)),
        "change idea",
        PRIMARY_IDENTITY,
    );
    then_not_found(
        accept_change_idea(&net, NOBODY, AcceptChangeIdea { note: text("") }),
        "driver-diagram node",
        NOBODY,
    );
    then_not_found(
        decline_change_idea(
            &net,
            NOBODY,
            DeclineChangeIdea {
                reason: text("No."),
            },
        ),
        "driver-diagram node",
        NOBODY,
    );
    then_not_found(
        change_stage(&net, NOBODY, to(Testing)),
        "driver-diagram node",
        NOBODY,
    );
}

// ---------------------------------------------------------------------------------------------
// Reword, retire
// ---------------------------------------------------------------------------------------------

fn reword(name: &str, definition: &str) -> RewordNode {
    RewordNode {
        title: title(name),
        definition: text(definition),
        reason: text("Clearer for new programs."),
    }
}

#[test]
fn a_node_is_reworded() {
    then_events(
        reword_node(
            &the_network(),
            SECONDARY_MENTORING,
            reword("Near-peer mentoring", "Mentors two to five years older."),
        ),
        vec![NicEvent::NodeReworded(NodeReworded {
            node_id: SECONDARY_MENTORING,
            title: title("Near-peer mentoring"),
            definition: text("Mentors two to five years older."),
            reason: text("Clearer for new programs."),
        })],
    );
    then_events(
        reword_node(
            &the_network(),
            IDEA_HUDDLES,
            reword("Twice-weekly mentor huddles", ""),
        ),
        vec![NicEvent::NodeReworded(NodeReworded {
            node_id: IDEA_HUDDLES,
            title: title("Twice-weekly mentor huddles"),
            definition: text(""),
            reason: text("Clearer for new programs."),
        })],
    );
}

#[test]
fn a_rewording_that_changes_nothing_is_refused() {
    then_transition(reword_node(
        &the_network(),
        SECONDARY_MENTORING,
        reword("Near-peer mentoring", ""),
    ));
}

#[test]
fn a_retired_or_unknown_node_is_not_reworded() {
    then_transition(reword_node(
        &the_network_and([retired(SECONDARY_MENTORING)]),
        SECONDARY_MENTORING,
        reword("Mentoring", "New words."),
    ));
    then_not_found(
        reword_node(&the_network(), NOBODY, reword("Mentoring", "")),
        "driver-diagram node",
        NOBODY,
    );
}

#[test]
fn a_node_is_retired_once_saying_why() {
    let retire = |state: &NetworkState, id, reason| retire_node(state, id, RetireNode { reason });
    then_events(
        retire(
            &the_network(),
            IDEA_VISITS,
            text("Folded into another node."),
        ),
        vec![retired(IDEA_VISITS)],
    );
    then_invalid(retire(&the_network(), IDEA_VISITS, blank()), &["reason"]);
    then_transition(retire(
        &the_network_and([retired(IDEA_VISITS)]),
        IDEA_VISITS,
        text("Again."),
    ));
    then_not_found(
        retire(&the_network(), NOBODY, text("Gone.")),
        "driver-diagram node",
        NOBODY,
    );
}

// ---------------------------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------------------------

fn link(from: uuid::Uuid, to: uuid::Uuid, strength: LinkStrength) -> LinkNodes {
    LinkNodes { from, to, strength }
}

#[test]
fn nodes_are_linked_by_the_kind_rules() {
    // A change idea serves a secondary or a primary driver; a secondary driver a primary one.
    for (from, to) in [
        (IDEA_HUDDLES, SECONDARY_COLLEGE),
        (IDEA_HUDDLES, PRIMARY_PATHWAYS),
        (SECONDARY_MENTORING, PRIMARY_PATHWAYS),
        (IDEA_PANEL, SECONDARY_MENTORING),
    ] {
        then_events(
            link_nodes(&the_network(), link(from, to, Weak)),
            vec![linked(from, to, Weak)],
        );
    }
}

#[test]
fn links_against_the_kind_rules_are_refused() {
    for (from, to) in [
        (SECONDARY_MENTORING, SECONDARY_COLLEGE),
        (PRIMARY_IDENTITY, SECONDARY_MENTORING),
        (PRIMARY_IDENTITY, PRIMARY_PATHWAYS),
        (IDEA_HUDDLES, IDEA_VISITS),
        (SECONDARY_MENTORING, IDEA_HUDDLES),
        (PRIMARY_IDENTITY, PRIMARY_IDENTITY),
        (IDEA_HUDDLES, IDEA_HUDDLES),
    ] {
        then_invalid(link_nodes(&the_network(), link(from, to, Strong)), &["to"]);
    }
}

#[test]
fn linking_an_already_linked_pair_with_the_same_strength_is_refused() {
    then_transition(link_nodes(
        &the_network(),
        link(IDEA_HUDDLES, SECONDARY_MENTORING, Strong),
    ));
}

#[test]
fn linking_an_already_linked_pair_with_another_strength_changes_it() {
    let decision = link_nodes(
        &the_network(),
        link(IDEA_HUDDLES, SECONDARY_MENTORING, Weak),
    );
    then_events(
        decision.clone(),
        vec![linked(IDEA_HUDDLES, SECONDARY_MENTORING, Weak)],
    );
    let after = the_network_and(decision.unwrap());
    let links: Vec<_> = after
        .links
        .iter()
        .filter(|l| l.from == IDEA_HUDDLES && l.to == SECONDARY_MENTORING)
        .collect();
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].strength, Weak);
}

#[test]
fn links_to_or_from_unknown_or_retired_nodes_are_refused() {
    then_unknown(
        link_nodes(&the_network(), link(NOBODY, SECONDARY_MENTORING, Strong)),
        "from",
        "driver-diagram node",
        NOBODY,
    );
    then_unknown(
        link_nodes(&the_network(), link(IDEA_HUDDLES, NOBODY, Strong)),
        "to",
        "driver-diagram node",
        NOBODY,
    );
    then_invalid(
        link_nodes(
            &the_network_and([retired(IDEA_VISITS)]),
            link(IDEA_VISITS, SECONDARY_MENTORING, Strong),
        ),
        &["from"],
    );
    then_invalid(
        link_nodes(
            &the_network_and([retired(SECONDARY_COLLEGE)]),
            link(IDEA_HUDDLES, SECONDARY_COLLEGE, Strong),
        ),
        &["to"],
    );
}

fn unlink(from: uuid::Uuid, to: uuid::Uuid) -> UnlinkNodes {
    UnlinkNodes {
        from,
        to,
        reason: text("The cycles showed no effect there."),
    }
}

#[test]
fn a_link_is_removed() {
    then_events(
        unlink_nodes(&the_network(), unlink(SECONDARY_COLLEGE, PRIMARY_IDENTITY)),
        vec![NicEvent::NodesUnlinked(NodesUnlinked {
            from: SECONDARY_COLLEGE,
            to: PRIMARY_IDENTITY,
            reason: text("The cycles showed no effect there."),
        })],
    );
    // A retired node's links may still be removed.
    then_events(
        unlink_nodes(
            &the_network_and([retired(IDEA_VISITS)]),
            unlink(IDEA_VISITS, SECONDARY_COLLEGE),
        ),
        vec![NicEvent::NodesUnlinked(NodesUnlinked {
            from: IDEA_VISITS,
            to: SECONDARY_COLLEGE,
            reason: text("The cycles showed no effect there."),
        })],
    );
}

#[test]
fn unlinking_a_link_that_does_not_exist_is_refused() {
    // Not linked at all; linked the other way round; linked, then unlinked.
    then_transition(unlink_nodes(
        &the_network(),
        unlink(IDEA_HUDDLES, SECONDARY_COLLEGE),
    ));
    then_transition(unlink_nodes(
        &the_network(),
        unlink(SECONDARY_MENTORING, IDEA_HUDDLES),
    ));
    let unlinked = NicEvent::NodesUnlinked(NodesUnlinked {
        from: IDEA_HUDDLES,
        to: SECONDARY_MENTORING,
        reason: text(""),
    });
    then_transition(unlink_nodes(
        &the_network_and([unlinked]),
        unlink(IDEA_HUDDLES, SECONDARY_MENTORING),
    ));
}

#[test]
fn unlinking_unknown_nodes_is_refused() {
    then_unknown(
        unlink_nodes(&the_network(), unlink(NOBODY, SECONDARY_MENTORING)),
        "from",
        "driver-diagram node",
        NOBODY,
    );
    then_unknown(
        unlink_nodes(&the_network(), unlink(IDEA_HUDDLES, NOBODY)),
        "to",
        "driver-diagram node",
        NOBODY,
    );
}

// ---------------------------------------------------------------------------------------------
// Standards, root causes
// ---------------------------------------------------------------------------------------------

#[test]
fn a_standard_is_defined_and_its_code_is_unique() {
    let new = uuid::Uuid::from_u128(202);
    then_events(
        define_standard(
            &the_network(),
            new,
            DefineStandard {
                code: title("S3"),
                title: title("Family partnership"),
                description: text(""),
            },
        ),
        vec![standard(new, "S3", "Family partnership")],
    );
    then_invalid(
        define_standard(
            &the_network(),
            new,
            DefineStandard {
                code: title("S1"),
                title: title("Another"),
                description: text(""),
            },
        ),
        &["code"],
    );
}

#[test]
fn a_root_cause_is_recorded() {
    then_events(
        record_root_cause(
            &the_network(),
            ROOT_CAUSE,
            RecordRootCause {
                category: title("Recruitment"),
                cause: title("Flyers reach few families"),
                description: text("Most families hear of programs from other families."),
            },
        ),
        vec![NicEvent::RootCauseRecorded(RootCauseRecorded {
            cause_id: ROOT_CAUSE,
            category: title("Recruitment"),
            cause: title("Flyers reach few families"),
            description: text("Most families hear of programs from other families."),
        })],
    );
}

// ---------------------------------------------------------------------------------------------
// New ids are new
// ---------------------------------------------------------------------------------------------

#[test]
fn a_new_node_ecosystem_or_standard_under_an_id_already_held_is_refused() {
    // Else a driver would silently replace an accepted change idea, or a second proposal reset
    // it to proposed.
    then_transition(add_driver(
        &the_network(),
        IDEA_HUDDLES,
        add(DriverKind::Primary, vec![]),
    ));
    then_transition(propose_change_idea(
        &the_network(),
        IDEA_HUDDLES,
        None,
        proposal(None, vec![]),
    ));
    then_transition(propose_change_idea(
        &the_network_and([retired(IDEA_VISITS)]),
        IDEA_VISITS,
        None,
        proposal(None, vec![]),
    ));
    then_transition(add_ecosystem(
        &the_network(),
        ECO_PITTSBURGH,
        AddEcosystem {
            name: title("Erie STEM Ecosystem"),
            region: title("Northwestern Pennsylvania"),
        },
    ));
    then_transition(define_standard(
        &the_network(),
        STANDARD_S1,
        DefineStandard {
            code: title("S9"),
            title: title("Another"),
            description: text(""),
        },
    ));
}

#[test]
fn chart_settings_are_set_within_their_bounds_and_changed_only_to_something_else() {
    use nic_domain::limits::{REPORTING_DEADLINE_DAYS_MAX, REPORTING_DEADLINE_DAYS_MIN};
    let cmd = |days, rules| SetChartSettings {
        reporting_deadline_days: days,
        control_rules: rules,
        reason: text("Exports are due by the 20th."),
    };
    let event = |days, rules| {
        NicEvent::ChartSettingsChanged(ChartSettingsChanged {
            reporting_deadline_days: days,
            control_rules: rules,
            reason: text("Exports are due by the 20th."),
        })
    };
    for days in [REPORTING_DEADLINE_DAYS_MIN, 20, REPORTING_DEADLINE_DAYS_MAX] {
        then_events(
            set_chart_settings(&the_network(), cmd(days, ControlRuleSet::MakingDataCount)),
            vec![event(days, ControlRuleSet::MakingDataCount)],
        );
    }
    for days in [0, REPORTING_DEADLINE_DAYS_MAX + 1] {
        then_invalid(
            set_chart_settings(&the_network(), cmd(days, ControlRuleSet::Shewhart)),
            &["reporting_deadline_days"],
        );
    }
    let set = the_network_and([event(20, ControlRuleSet::Shewhart)]);
    then_transition(set_chart_settings(&set, cmd(20, ControlRuleSet::Shewhart)));
    then_events(
        set_chart_settings(&set, cmd(30, ControlRuleSet::Shewhart)),
        vec![event(30, ControlRuleSet::Shewhart)],
    );
    then_not_found(
        set_chart_settings(
            &network_state(NETWORK, &[]),
            cmd(20, ControlRuleSet::Shewhart),
        ),
        "network",
        NETWORK,
    );
}

// ---------------------------------------------------------------------------------------------
// Retention of personal text
// ---------------------------------------------------------------------------------------------

#[test]
fn retention_is_set_within_its_bounds_or_lifted_and_changed_only_to_something_else() {
    use nic_domain::limits::{RETENTION_DAYS_MAX, RETENTION_DAYS_MIN};
    let cmd = |days| SetRetention {
        withdrawn_program_text_days: days,
    };
    let event = |days| {
        NicEvent::RetentionSet(RetentionSet {
            network_id: NETWORK,
            withdrawn_program_text_days: days,
        })
    };
    for days in [RETENTION_DAYS_MIN, 3 * 365, RETENTION_DAYS_MAX] {
        then_events(
            set_retention(&the_network(), cmd(Some(days))),
            vec![event(Some(days))],
        );
    }
    for days in [0, RETENTION_DAYS_MAX + 1, u32::MAX] {
        then_invalid(
            set_retention(&the_network(), cmd(Some(days))),
            &["withdrawn_program_text_days"],
        );
    }
    // Until set, text is kept until erased by hand: saying so again changes nothing.
    then_transition(set_retention(&the_network(), cmd(None)));
    let set = the_network_and([event(Some(1095))]);
    assert_eq!(set.retention_days, Some(1095));
    then_transition(set_retention(&set, cmd(Some(1095))));
    then_events(set_retention(&set, cmd(Some(730))), vec![event(Some(730))]);
    then_events(set_retention(&set, cmd(None)), vec![event(None)]);
    assert_eq!(
        network_state(
            NETWORK,
            &and(network_given(), [event(Some(1095)), event(None)])
        )
        .retention_days,
        None
    );
    then_not_found(
        set_retention(&network_state(NETWORK, &[]), cmd(Some(1095))),
        "network",
        NETWORK,
    );
}
