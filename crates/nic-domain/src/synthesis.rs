//! A synthesis: what the network now believes about a change idea or driver, and what it
//! recommends, citing the cycles, measures and driver-diagram nodes it rests on.

use std::collections::BTreeSet;

use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};
use crate::network::NetworkState;

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct SynthesisState {
    pub id: Uuid,
    pub synthesis: Option<LearningSynthesized>,
}

impl SynthesisState {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            synthesis: None,
        }
    }

    pub fn apply(&mut self, event: &NicEvent) {
        if let NicEvent::LearningSynthesized(e) = event {
            self.synthesis = Some(e.clone());
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthesizeLearning {
    pub title: Title,
    pub statement: Text,
    pub recommendation: Text,
    #[serde(default)]
    pub cycle_ids: Vec<Uuid>,
    #[serde(default)]
    pub measure_ids: Vec<Uuid>,
    #[serde(default)]
    pub node_ids: Vec<Uuid>,
}

/// `known_cycles` and `known_measures` hold the ids of this network's cycles and measures among
/// those the command cites (the caller loads them).
pub fn synthesize(
    network: &NetworkState,
    synthesis: &SynthesisState,
    known_cycles: &BTreeSet<Uuid>,
    known_measures: &BTreeSet<Uuid>,
    cmd: SynthesizeLearning,
) -> Decision {
    if !network.exists {
        return Err(DomainError::NotFound {
            kind: "network",
            id: network.id,
        });
    }
    if synthesis.synthesis.is_some() {
        return Err(DomainError::transition(
            "this synthesis is already published",
        ));
    }
    let mut c = Checks::new();
    c.check(
        !cmd.statement.is_blank(),
        "statement",
        "say what the network now believes",
    );
    c.check(
        !cmd.recommendation.is_blank(),
        "recommendation",
        "say what the network recommends",
    );
    c.check(
        !(cmd.cycle_ids.is_empty() && cmd.measure_ids.is_empty() && cmd.node_ids.is_empty()),
        "cycle_ids",
        "a synthesis cites at least one cycle, measure or driver-diagram node",
    );
    c.list(&cmd.cycle_ids, "cycle_ids");
    c.list(&cmd.measure_ids, "measure_ids");
    c.list(&cmd.node_ids, "node_ids");
    c.done()?;
    let cited = |ids: &[Uuid], known: &BTreeSet<Uuid>, field: &str, kind| match ids
        .iter()
        .position(|id| !known.contains(id))
    {
        Some(i) => Err(DomainError::UnknownReference {
            field: format!("{field}[{i}]"),
            kind,
            id: ids[i],
        }),
        None => Ok(()),
    };
    cited(&cmd.cycle_ids, known_cycles, "cycle_ids", "PDSA cycle")?;
    cited(&cmd.measure_ids, known_measures, "measure_ids", "measure")?;
    for (i, id) in cmd.node_ids.iter().enumerate() {
        network.node(&format!("node_ids[{i}]"), *id)?;
    }
    Ok(vec![NicEvent::LearningSynthesized(LearningSynthesized {
        synthesis_id: synthesis.id,
        network_id: network.id,
        title: cmd.title,
        statement: cmd.statement,
        recommendation: cmd.recommendation,
        cycle_ids: cmd.cycle_ids,
        measure_ids: cmd.measure_ids,
        node_ids: cmd.node_ids,
    })])
}
