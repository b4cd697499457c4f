//! What the projections need to know about the entities an event names, folded from the same
//! log: program names and ecosystems, driver-diagram node kinds and titles, cycles, measures,
//! syntheses and standards (a data point's program and period are the run charts'). The names are
//! kept once, by `RunCharts`, the base the other read models read through, so each read model
//! stays a fold of the log alone; a name is always the one the log held at the last event the
//! base applied (a model that reads them before the base applies an event, as the timeline does,
//! sees them as they were before it).

use std::collections::BTreeMap;

use nic_domain::network::NodeKind;
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Recorded;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProgramName {
    pub name: String,
    pub network_id: Uuid,
    pub ecosystem_id: Uuid,
    pub withdrawn: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeName {
    pub network_id: Uuid,
    pub kind: NodeKind,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CycleName {
    pub title: String,
    pub network_id: Uuid,
    pub program_id: Uuid,
    pub change_idea_ids: Vec<Uuid>,
    pub driver_ids: Vec<Uuid>,
    pub ramp_id: Uuid,
    pub cycle_number: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureName {
    pub name: String,
    pub network_id: Uuid,
    pub tracks: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StandardName {
    pub network_id: Uuid,
    pub code: String,
    pub title: String,
}

/// The names and references of everything the log has mentioned so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Names {
    pub networks: BTreeMap<Uuid, String>,
    pub ecosystems: BTreeMap<Uuid, String>,
    pub programs: BTreeMap<Uuid, ProgramName>,
    pub nodes: BTreeMap<Uuid, NodeName>,
    pub cycles: BTreeMap<Uuid, CycleName>,
    pub measures: BTreeMap<Uuid, MeasureName>,
    pub syntheses: BTreeMap<Uuid, String>,
    pub standards: BTreeMap<Uuid, StandardName>,
    /// Token holders' names, by token id: events record who wrote them by id (`token:<id>`).
    #[serde(default)]
    pub tokens: BTreeMap<Uuid, String>,
}

impl Names {
    /// Who an actor is, as people read it: a token holder's name (`[erased]` once erased), or
    /// the actor as recorded (`cli:…`, `system:…`, or a name recorded before tokens were
    /// recorded by id).
    pub fn actor(&self, actor: &str) -> String {
        actor
            .strip_prefix("token:")
            .and_then(|id| Uuid::parse_str(id).ok())
            .and_then(|id| self.tokens.get(&id))
            .cloned()
            .unwrap_or_else(|| actor.to_string())
    }

    pub fn apply(&mut self, r: &Recorded) {
        let entity = r.entity_id();
        match &r.event {
            NicEvent::NetworkChartered(e) => {
                self.networks.insert(e.network_id, e.name.to_string());
            }
            NicEvent::TokenIssued(e) => {
                self.tokens.insert(e.token_id, e.name.to_string());
            }
            NicEvent::EcosystemAdded(e) => {
                self.ecosystems.insert(e.ecosystem_id, e.name.to_string());
            }
            NicEvent::DriverAdded(e) => {
                let kind = match e.kind {
                    DriverKind::Primary => NodeKind::Primary,
                    DriverKind::Secondary => NodeKind::Secondary,
                };
                self.nodes.insert(
                    e.node_id,
                    NodeName {
                        network_id: entity,
                        kind,
                        title: e.title.to_string(),
                    },
                );
            }
            NicEvent::ChangeIdeaProposed(e) => {
                self.nodes.insert(
                    e.node_id,
                    NodeName {
                        network_id: entity,
                        kind: NodeKind::ChangeIdea,
                        title: e.title.to_string(),
                    },
                );
            }
            NicEvent::NodeReworded(e) => {
                if let Some(n) = self.nodes.get_mut(&e.node_id) {
                    n.title = e.title.to_string();
                }
            }
            NicEvent::StandardDefined(e) => {
                self.standards.insert(
                    e.standard_id,
                    StandardName {
                        network_id: entity,
                        code: e.code.to_string(),
                        title: e.title.to_string(),
                    },
                );
            }
            NicEvent::ProgramEnrolled(e) => {
                self.programs.insert(
                    e.program_id,
                    ProgramName {
                        name: e.name.to_string(),
                        network_id: e.network_id,
                        ecosystem_id: e.ecosystem_id,
                        withdrawn: false,
                    },
                );
            }
            NicEvent::ProgramWithdrawn(e) => {
                if let Some(p) = self.programs.get_mut(&e.program_id) {
                    p.withdrawn = true;
                }
            }
            NicEvent::MeasureDefined(e) => {
                self.measures.insert(
                    e.measure_id,
                    MeasureName {
                        name: e.name.to_string(),
                        network_id: e.network_id,
                        tracks: e.tracks.clone(),
                    },
                );
            }
            NicEvent::PdsaCyclePlanned(e) => {
                self.cycles.insert(
                    e.cycle_id,
                    CycleName {
                        title: e.title.to_string(),
                        network_id: e.network_id,
                        program_id: e.program_id,
                        change_idea_ids: e.change_idea_ids.clone(),
                        driver_ids: e.driver_ids.clone(),
                        ramp_id: e.ramp_id,
                        cycle_number: e.cycle_number,
                    },
                );
            }
            NicEvent::LearningSynthesized(e) => {
                self.syntheses.insert(e.synthesis_id, e.title.to_string());
            }
            _ => {}
        }
    }

    /// A program's name, or its id when the log has not named it.
    pub fn program(&self, id: Uuid) -> String {
        self.programs
            .get(&id)
            .map(|p| p.name.clone())
            .unwrap_or_else(|| format!("program {id}"))
    }

    /// A node's title, or its id when the log has not named it.
    pub fn node(&self, id: Uuid) -> String {
        self.nodes
            .get(&id)
            .map(|n| n.title.clone())
            .unwrap_or_else(|| format!("node {id}"))
    }

    pub fn node_kind(&self, id: Uuid) -> Option<NodeKind> {
        self.nodes.get(&id).map(|n| n.kind)
    }

    /// Splits node ids into drivers and change ideas (unknown ids count as drivers).
    pub fn split_nodes(&self, ids: &[Uuid]) -> (Vec<Uuid>, Vec<Uuid>) {
        let mut drivers = Vec::new();
        let mut ideas = Vec::new();
        for &id in ids {
            if self.node_kind(id) == Some(NodeKind::ChangeIdea) {
                ideas.push(id);
            } else {
                drivers.push(id);
            }
        }
        (drivers, ideas)
    }

    pub fn measure(&self, id: Uuid) -> String {
        self.measures
            .get(&id)
            .map(|m| m.name.clone())
            .unwrap_or_else(|| format!("measure {id}"))
    }

    /// The titles of change ideas, quoted and joined: `'A' and 'B'`.
    pub fn quoted_titles(&self, ids: &[Uuid]) -> String {
        let titles: Vec<String> = ids
            .iter()
            .map(|&id| format!("'{}'", self.node(id)))
            .collect();
        join_and(&titles)
    }
}

/// `a`, `a and b`, `a, b and c`.
pub fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testlog::{id, t, Log};
    use nic_events::catalog::{Role, TokenIssued};

    #[test]
    fn an_actor_reads_as_its_token_holders_name() {
        let mut log = Log::default();
        let token = id(90);
        log.push(
            "token",
            token,
            NicEvent::TokenIssued(TokenIssued {
                token_id: token,
                name: t("Ana Ruiz"),
                role: Role::Facilitator,
                programs: Vec::new(),
                token_sha256: "0".repeat(64),
            }),
        );
        let mut names = Names::default();
        for r in &log.events {
            names.apply(r);
        }
        assert_eq!(names.actor(&format!("token:{token}")), "Ana Ruiz");
        assert_eq!(
            names.actor(&format!("token:{}", id(91))),
            format!("token:{}", id(91))
        );
        assert_eq!(names.actor("cli:ops"), "cli:ops");
    }
}
