//! Given / when / then for `nic_domain::synthesis`: publishing what the network has learned,
//! citing the cycles, measures and driver-diagram nodes it rests on.

mod common;

use std::collections::BTreeSet;

use common::*;
use nic_domain::network::NetworkState;
use nic_domain::synthesis::*;
use nic_domain::Decision;
use nic_events::catalog::*;
use nic_events::NicEvent;

fn learning() -> SynthesizeLearning {
    SynthesizeLearning {
        title: title("Mentor huddles across programs"),
        statement: text("Huddles keep pairs meeting when a second mentor can cover."),
        recommendation: text("Pair mentors before starting huddles."),
        cycle_ids: vec![CYCLE, CYCLE_2],
        measure_ids: vec![MEASURE],
        node_ids: vec![IDEA_HUDDLES, SECONDARY_MENTORING],
    }
}

fn synthesized(cmd: SynthesizeLearning) -> NicEvent {
    NicEvent::LearningSynthesized(LearningSynthesized {
        synthesis_id: SYNTHESIS,
        network_id: NETWORK,
        title: cmd.title,
        statement: cmd.statement,
        recommendation: cmd.recommendation,
        cycle_ids: cmd.cycle_ids,
        measure_ids: cmd.measure_ids,
        node_ids: cmd.node_ids,
    })
}

fn when_in(network: &NetworkState, cmd: SynthesizeLearning) -> Decision {
    synthesize(
        network,
        &synthesis_state(SYNTHESIS, &[]),
        &BTreeSet::from([CYCLE, CYCLE_2]),
        &known_measures(),
        cmd,
    )
}

fn when(cmd: SynthesizeLearning) -> Decision {
    when_in(&the_network(), cmd)
}

#[test]
fn the_network_synthesizes_what_it_learned_citing_cycles_measures_and_nodes() {
    then_events(when(learning()), vec![synthesized(learning())]);
}

#[test]
fn a_synthesis_may_cite_any_one_kind_of_evidence() {
    let only = |cycles, measures, nodes| SynthesizeLearning {
        cycle_ids: cycles,
        measure_ids: measures,
        node_ids: nodes,
        ..learning()
    };
    for cmd in [
        only(vec![CYCLE], vec![], vec![]),
        only(vec![], vec![MEASURE], vec![]),
        only(vec![], vec![], vec![PRIMARY_IDENTITY]),
    ] {
        then_events(when(cmd.clone()), vec![synthesized(cmd)]);
    }
}

#[test]
fn a_synthesis_about_a_retired_node_is_still_learning() {
    let cmd = SynthesizeLearning {
        node_ids: vec![IDEA_VISITS],
        ..learning()
    };
    then_events(
        when_in(&the_network_and([retired(IDEA_VISITS)]), cmd.clone()),
        vec![synthesized(cmd)],
    );
}

#[test]
fn a_synthesis_cites_something() {
    then_invalid(
        when(SynthesizeLearning {
            cycle_ids: vec![],
            measure_ids: vec![],
            node_ids: vec![],
            ..learning()
        }),
        &["cycle_ids"],
    );
}

#[test]
fn a_synthesis_says_what_the_network_believes_and_recommends() {
    then_invalid(
        when(SynthesizeLearning {
            statement: blank(),
            recommendation: blank(),
            ..learning()
        }),
        &["statement", "recommendation"],
    );
}

#[test]
fn a_synthesis_cites_at_most_the_list_limit_of_each_kind() {
    then_invalid(
        when(SynthesizeLearning {
            cycle_ids: too_many(CYCLE),
            measure_ids: too_many(MEASURE),
            node_ids: too_many(IDEA_HUDDLES),
            ..learning()
        }),
        &["cycle_ids", "measure_ids", "node_ids"],
    );
}

#[test]
fn a_synthesis_citing_what_the_network_does_not_hold_is_refused() {
    then_unknown(
        when(SynthesizeLearning {
            cycle_ids: vec![CYCLE, CYCLE_3],
            ..learning()
        }),
        "cycle_ids[1]",
        "PDSA cycle",
        CYCLE_3,
    );
    then_unknown(
        when(SynthesizeLearning {
            measure_ids: vec![NOBODY],
            ..learning()
        }),
        "measure_ids[0]",
        "measure",
        NOBODY,
    );
    then_unknown(
        when(SynthesizeLearning {
            node_ids: vec![IDEA_HUDDLES, NOBODY],
            ..learning()
        }),
        "node_ids[1]",
        "driver-diagram node",
        NOBODY,
    );
}

#[test]
fn a_synthesis_is_published_once() {
    let published = synthesis_state(SYNTHESIS, &[synthesized(learning())]);
    then_transition(synthesize(
        &the_network(),
        &published,
        &BTreeSet::from([CYCLE, CYCLE_2]),
        &known_measures(),
        learning(),
    ));
}

#[test]
fn a_synthesis_in_a_network_not_chartered_is_not_found() {
    then_not_found(
        when_in(&network_state(NETWORK, &[]), learning()),
        "network",
        NETWORK,
    );
}
