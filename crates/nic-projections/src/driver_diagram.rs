//! The driver diagram of each network as a graph, folded from the log: the aim, primary drivers,
//! secondary drivers and change ideas (kind, title, definition, retired, stage), the links
//! between them (`from` serves `to`, strong or weak), and per change idea the evidence the ledger
//! holds: its cycles by phase, the programs testing it, the act decisions, the latest synthesis
//! citing it, and the measures that track it with each measure's latest run-chart signal
//! (network-wide series, from `run_charts`).
//!
//! A view is what the diagram looked like at the projection's position; "as of" a date is the
//! view of the log folded up to it, and `diff` says what changed between two views. Exports:
//! Mermaid (`to_mermaid`) and Graphviz DOT (`to_dot`), drawn aim → primary → secondary → change
//! idea, weak links dashed; retired nodes are left out of the drawings (the view keeps them). All
//! text written by people is escaped, so a title can never break out of its label.

use std::collections::{BTreeMap, BTreeSet};

use nic_domain::network::NodeKind;
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::names::Names;
use crate::run_charts::{LatestSignal, RunCharts};
use crate::{is_new, OnBase, ReadModels, Recorded, WithBase};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct NodeState {
    kind: NodeKind,
    title: String,
    definition: String,
    retired: bool,
    stage: Option<ChangeIdeaStage>,
    proposed_by_program: Option<Uuid>,
    added_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Graph {
    aim: Option<Aim>,
    nodes: BTreeMap<Uuid, NodeState>,
    #[serde(with = "crate::state_serde::pairs")]
    links: BTreeMap<(Uuid, Uuid), LinkStrength>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CycleEvidence {
    network_id: Uuid,
    program_id: Uuid,
    change_idea_ids: Vec<Uuid>,
    phase: CyclePhase,
    decision: Option<ActDecision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Synthesis {
    id: Uuid,
    network_id: Uuid,
    title: String,
    statement: String,
    recommendation: String,
    node_ids: Vec<Uuid>,
    position: u64,
}

/// Every network's driver diagram and the evidence behind its change ideas (names and run charts
/// are read from the base).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagrams {
    position: u64,
    applied: bool,
    graphs: BTreeMap<Uuid, Graph>,
    cycles: BTreeMap<Uuid, CycleEvidence>,
    syntheses: Vec<Synthesis>,
}

/// The driver diagrams with a base of their own: a projection by itself.
pub type DriverDiagram = WithBase<Diagrams>;

impl DriverDiagram {
    /// A network's diagram; `None` for a network the log does not know.
    pub fn view(&self, network_id: Uuid) -> Option<DriverDiagramView> {
        self.model.view(&self.base, network_id)
    }

    /// The networks the log has chartered (or drawn diagrams for), by id.
    pub fn networks(&self) -> Vec<Uuid> {
        self.model.networks()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DriverDiagramView {
    pub network_id: Uuid,
    pub network_name: Option<String>,
    /// The log position the view is as of.
    pub position: u64,
    pub aim: Option<Aim>,
    /// Primary drivers, then secondary drivers, then change ideas, each in the order added.
    pub nodes: Vec<NodeView>,
    /// Ordered by `from`, then `to`.
    pub links: Vec<LinkView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NodeView {
    pub id: Uuid,
    pub kind: NodeKind,
    pub title: String,
    pub definition: String,
    pub retired: bool,
    /// Change ideas only.
    pub stage: Option<ChangeIdeaStage>,
    pub proposed_by_program: Option<Uuid>,
    /// The measures that track this node.
    pub measures: Vec<MeasureLink>,
    /// Change ideas only.
    pub evidence: Option<ChangeIdeaEvidence>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LinkView {
    pub from: Uuid,
    pub to: Uuid,
    pub strength: LinkStrength,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MeasureLink {
    pub measure_id: Uuid,
    pub name: String,
    /// The latest signal of the measure's network-wide run chart.
    pub latest_signal: Option<LatestSignal>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PhaseCount {
    pub count: usize,
    pub cycle_ids: Vec<Uuid>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CyclesByPhase {
    pub planned: PhaseCount,
    pub doing: PhaseCount,
    pub studying: PhaseCount,
    pub acted: PhaseCount,
    pub abandoned: PhaseCount,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct DecisionCounts {
    pub adopt: usize,
    pub adapt: usize,
    pub abandon: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ProgramRef {
    pub program_id: Uuid,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SynthesisRef {
    pub synthesis_id: Uuid,
    pub title: String,
    pub statement: String,
    pub recommendation: String,
    pub position: u64,
}

/// What the ledger holds about a change idea.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ChangeIdeaEvidence {
    pub cycles: CyclesByPhase,
    /// Programs with a cycle testing the idea, by name.
    pub programs: Vec<ProgramRef>,
    pub decisions: DecisionCounts,
    pub latest_synthesis: Option<SynthesisRef>,
}

impl Diagrams {
    /// Folds an event of the network `entity`'s driver diagram (at position `pos`): its aim, its
    /// nodes, their stages, wording and retirement, and its links. Other events change nothing
    /// here.
    fn apply_graph_event(&mut self, entity: Uuid, pos: u64, event: &NicEvent) {
        match event {
            NicEvent::NetworkChartered(e) => {
                self.graphs.entry(e.network_id).or_default();
            }
            NicEvent::AimStated(AimStated { aim })
            | NicEvent::AimRevised(AimRevised { aim, .. }) => {
                self.graphs.entry(entity).or_default().aim = Some(aim.clone());
            }
            NicEvent::DriverAdded(e) => {
                let kind = match e.kind {
                    DriverKind::Primary => NodeKind::Primary,
                    DriverKind::Secondary => NodeKind::Secondary,
                };
                self.graphs.entry(entity).or_default().nodes.insert(
                    e.node_id,
                    NodeState {
                        kind,
                        title: e.title.to_string(),
                        definition: e.definition.to_string(),
                        retired: false,
                        stage: None,
                        proposed_by_program: None,
                        added_at: pos,
                    },
                );
            }
            NicEvent::ChangeIdeaProposed(e) => {
                self.graphs.entry(entity).or_default().nodes.insert(
                    e.node_id,
                    NodeState {
                        kind: NodeKind::ChangeIdea,
                        title: e.title.to_string(),
                        definition: e.definition.to_string(),
                        retired: false,
                        stage: Some(ChangeIdeaStage::Proposed),
                        proposed_by_program: e.proposed_by_program,
                        added_at: pos,
                    },
                );
            }
            NicEvent::ChangeIdeaAccepted(e) => {
                self.set_stage(entity, e.node_id, ChangeIdeaStage::Accepted)
            }
            NicEvent::ChangeIdeaDeclined(e) => {
                self.set_stage(entity, e.node_id, ChangeIdeaStage::Declined)
            }
            NicEvent::ChangeIdeaStageChanged(e) => self.set_stage(entity, e.node_id, e.to),
            NicEvent::NodeReworded(e) => {
                if let Some(n) = self.node_mut(entity, e.node_id) {
                    n.title = e.title.to_string();
                    n.definition = e.definition.to_string();
                }
            }
            NicEvent::NodeRetired(e) => {
                if let Some(n) = self.node_mut(entity, e.node_id) {
                    n.retired = true;
                }
            }
            NicEvent::NodesLinked(e) => {
                self.graphs
                    .entry(entity)
                    .or_default()
                    .links
                    .insert((e.from, e.to), e.strength);
            }
            NicEvent::NodesUnlinked(e) => {
                if let Some(g) = self.graphs.get_mut(&entity) {
                    g.links.remove(&(e.from, e.to));
                }
            }
            _ => {}
        }
    }

    /// Folds the evidence of change ideas (at position `pos`): the cycles that test them, their
    /// phases and decisions, and the syntheses. Other events change nothing here.
    fn apply_evidence_event(&mut self, pos: u64, event: &NicEvent) {
        match event {
            NicEvent::PdsaCyclePlanned(e) => {
                self.cycles.insert(
                    e.cycle_id,
                    CycleEvidence {
                        network_id: e.network_id,
                        program_id: e.program_id,
                        change_idea_ids: e.change_idea_ids.clone(),
                        phase: CyclePhase::Planned,
                        decision: None,
                    },
                );
            }
            NicEvent::PdsaCycleStarted(e) => self.set_phase(e.cycle_id, CyclePhase::Doing),
            NicEvent::PdsaDoRecorded(e) => self.set_phase(e.cycle_id, CyclePhase::Studying),
            NicEvent::PdsaCycleAbandoned(e) => self.set_phase(e.cycle_id, CyclePhase::Abandoned),
            NicEvent::PdsaActDecided(e) => {
                self.set_phase(e.cycle_id, CyclePhase::Acted);
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    c.decision = Some(e.act.decision);
                }
            }
            NicEvent::PdsaCycleCorrected(PdsaCycleCorrected {
                cycle_id,
                correction: Correction::Act(act),
                ..
            }) => {
                if let Some(c) = self.cycles.get_mut(cycle_id) {
                    c.decision = Some(act.decision);
                }
            }
            NicEvent::LearningSynthesized(e) => self.syntheses.push(Synthesis {
                id: e.synthesis_id,
                network_id: e.network_id,
                title: e.title.to_string(),
                statement: e.statement.to_string(),
                recommendation: e.recommendation.to_string(),
                node_ids: e.node_ids.clone(),
                position: pos,
            }),
            _ => {}
        }
    }
}

impl OnBase for Diagrams {
    fn after(&mut self, r: &Recorded, _: &RunCharts) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        self.apply_graph_event(r.entity_id(), r.global_position, &r.event);
        self.apply_evidence_event(r.global_position, &r.event);
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    fn of(models: &ReadModels) -> &Self {
        &models.driver_diagram
    }
}

impl Diagrams {
    fn node_mut(&mut self, network: Uuid, node: Uuid) -> Option<&mut NodeState> {
        self.graphs.get_mut(&network)?.nodes.get_mut(&node)
    }

    fn set_stage(&mut self, network: Uuid, node: Uuid, stage: ChangeIdeaStage) {
        if let Some(n) = self.node_mut(network, node) {
            n.stage = Some(stage);
        }
    }

    fn set_phase(&mut self, cycle: Uuid, phase: CyclePhase) {
        if let Some(c) = self.cycles.get_mut(&cycle) {
            c.phase = phase;
        }
    }

    /// The networks the log has chartered (or drawn diagrams for), by id.
    pub fn networks(&self) -> Vec<Uuid> {
        self.graphs.keys().copied().collect()
    }

    /// A network's diagram; `None` for a network the log does not know.
    pub fn view(&self, base: &RunCharts, network_id: Uuid) -> Option<DriverDiagramView> {
        let g = self.graphs.get(&network_id)?;
        let names = base.names();
        let mut measures_of: BTreeMap<Uuid, Vec<MeasureLink>> = BTreeMap::new();
        for (measure_id, m) in &names.measures {
            if m.network_id != network_id || m.tracks.is_empty() {
                continue;
            }
            let latest_signal = base
                .network_chart(*measure_id)
                .and_then(|c| c.latest_signal());
            for node in m.tracks.iter().collect::<BTreeSet<_>>() {
                measures_of.entry(*node).or_default().push(MeasureLink {
                    measure_id: *measure_id,
                    name: m.name.clone(),
                    latest_signal: latest_signal.clone(),
                });
            }
        }
        let mut nodes: Vec<(&Uuid, &NodeState)> = g.nodes.iter().collect();
        nodes.sort_by_key(|(id, n)| (kind_rank(n.kind), n.added_at, **id));
        let nodes = nodes
            .into_iter()
            .map(|(id, n)| NodeView {
                id: *id,
                kind: n.kind,
                title: n.title.clone(),
                definition: n.definition.clone(),
                retired: n.retired,
                stage: n.stage,
                proposed_by_program: n.proposed_by_program,
                measures: measures_of.remove(id).unwrap_or_default(),
                evidence: (n.kind == NodeKind::ChangeIdea)
                    .then(|| self.evidence(names, network_id, *id)),
            })
            .collect();
        Some(DriverDiagramView {
            network_id,
            network_name: names.networks.get(&network_id).cloned(),
            position: self.position,
            aim: g.aim.clone(),
            nodes,
            links: g
                .links
                .iter()
                .map(|(&(from, to), &strength)| LinkView { from, to, strength })
                .collect(),
        })
    }

    fn evidence(&self, names: &Names, network_id: Uuid, idea: Uuid) -> ChangeIdeaEvidence {
        let mut ev = ChangeIdeaEvidence::default();
        let mut programs = BTreeSet::new();
        for (id, c) in &self.cycles {
            if c.network_id != network_id || !c.change_idea_ids.contains(&idea) {
                continue;
            }
            let bucket = match c.phase {
                CyclePhase::Planned => &mut ev.cycles.planned,
                CyclePhase::Doing => &mut ev.cycles.doing,
                CyclePhase::Studying => &mut ev.cycles.studying,
                CyclePhase::Acted => &mut ev.cycles.acted,
                CyclePhase::Abandoned => &mut ev.cycles.abandoned,
            };
            bucket.count += 1;
            bucket.cycle_ids.push(*id);
            match c.decision {
                Some(ActDecision::Adopt) => ev.decisions.adopt += 1,
                Some(ActDecision::Adapt) => ev.decisions.adapt += 1,
                Some(ActDecision::Abandon) => ev.decisions.abandon += 1,
                None => {}
            }
            programs.insert(c.program_id);
        }
        let mut programs: Vec<ProgramRef> = programs
            .into_iter()
            .map(|p| ProgramRef {
                program_id: p,
                name: names.program(p),
            })
            .collect();
        programs.sort_by(|a, b| (&a.name, a.program_id).cmp(&(&b.name, b.program_id)));
        ev.programs = programs;
        ev.latest_synthesis = self
            .syntheses
            .iter()
            .rev()
            .find(|s| s.network_id == network_id && s.node_ids.contains(&idea))
            .map(|s| SynthesisRef {
                synthesis_id: s.id,
                title: s.title.clone(),
                statement: s.statement.clone(),
                recommendation: s.recommendation.clone(),
                position: s.position,
            });
        ev
    }
}

fn kind_rank(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Primary => 0,
        NodeKind::Secondary => 1,
        NodeKind::ChangeIdea => 2,
    }
}

// ---------------------------------------------------------------------------------------------
// Exports

/// The diagram's id for the aim node in both exports.
pub const AIM_NODE_ID: &str = "aim";

/// A node id safe in Mermaid and DOT: `n_` and the UUID's 32 hex digits.
pub fn export_id(id: Uuid) -> String {
    format!("n_{}", id.simple())
}

fn node_label(n: &NodeView) -> String {
    match (n.kind, n.stage) {
        (NodeKind::ChangeIdea, Some(stage)) => format!("{} ({})", n.title, stage_name(stage)),
        _ => n.title.clone(),
    }
}

fn stage_name(stage: ChangeIdeaStage) -> &'static str {
    match stage {
        ChangeIdeaStage::Proposed => "proposed",
        ChangeIdeaStage::Accepted => "accepted",
        ChangeIdeaStage::Declined => "declined",
        ChangeIdeaStage::Testing => "testing",
        ChangeIdeaStage::Implementing => "implementing",
        ChangeIdeaStage::Spreading => "spreading",
        ChangeIdeaStage::Abandoned => "abandoned",
    }
}

fn class_name(kind: NodeKind) -> &'static str {
    match kind {
        NodeKind::Primary => "primary",
        NodeKind::Secondary => "secondary",
        NodeKind::ChangeIdea => "change_idea",
    }
}

/// The drawn edges, left to right: the aim to each live primary driver, then each live link
/// drawn from the node served to the node serving it.
fn edges(view: &DriverDiagramView) -> (Vec<&NodeView>, Vec<(String, String, LinkStrength)>) {
    let live: Vec<&NodeView> = view.nodes.iter().filter(|n| !n.retired).collect();
    let live_ids: BTreeSet<Uuid> = live.iter().map(|n| n.id).collect();
    let mut edges = Vec::new();
    if view.aim.is_some() {
        for n in live.iter().filter(|n| n.kind == NodeKind::Primary) {
            edges.push((
                AIM_NODE_ID.to_string(),
                export_id(n.id),
                LinkStrength::Strong,
            ));
        }
    }
    for l in &view.links {
        if live_ids.contains(&l.from) && live_ids.contains(&l.to) {
            edges.push((export_id(l.to), export_id(l.from), l.strength));
        }
    }
    (live, edges)
}

/// Escapes text for a quoted Mermaid label: letters, digits, spaces and harmless punctuation
/// stay; every other character becomes an entity code (`#35;`), line breaks become spaces. A
/// quote, bracket, `-->`, `;` or `%%` in a title cannot end the label or start a statement.
pub fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_alphanumeric() || " .,:'!?()-_/+*=".contains(c) {
            out.push(c);
        } else if c.is_control() {
            out.push(' ');
        } else {
            out.push_str(&format!("#{};", c as u32));
        }
    }
    out
}

/// The diagram as a Mermaid flowchart, left to right.
pub fn to_mermaid(view: &DriverDiagramView) -> String {
    let (live, edges) = edges(view);
    let mut out = String::from("flowchart LR\n");
    if let Some(aim) = &view.aim {
        out.push_str(&format!(
            "    {AIM_NODE_ID}[\"{}\"]\n",
            mermaid_text(&format!("Aim: {}", aim.statement))
        ));
    }
    for n in &live {
        out.push_str(&format!(
            "    {}[\"{}\"]\n",
            export_id(n.id),
            mermaid_text(&node_label(n))
        ));
    }
    for (a, b, strength) in &edges {
        let arrow = match strength {
            LinkStrength::Strong => "-->",
            LinkStrength::Weak => "-.->",
        };
        out.push_str(&format!("    {a} {arrow} {b}\n"));
    }
    out.push_str("    classDef aim fill:#fde68a,stroke:#92400e\n");
    out.push_str("    classDef primary fill:#bfdbfe,stroke:#1e3a8a\n");
    out.push_str("    classDef secondary fill:#dbeafe,stroke:#1e40af\n");
    out.push_str("    classDef change_idea fill:#dcfce7,stroke:#166534\n");
    if view.aim.is_some() {
        out.push_str(&format!("    class {AIM_NODE_ID} aim\n"));
    }
    for kind in [NodeKind::Primary, NodeKind::Secondary, NodeKind::ChangeIdea] {
        let ids: Vec<String> = live
            .iter()
            .filter(|n| n.kind == kind)
            .map(|n| export_id(n.id))
            .collect();
        if !ids.is_empty() {
            out.push_str(&format!(
                "    class {} {}\n",
                ids.join(","),
                class_name(kind)
            ));
        }
    }
    out
}

/// Escapes text for a quoted DOT string: backslashes and quotes are escaped, a line break becomes
/// DOT's `\n`, other control characters become spaces.
pub fn dot_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The diagram as a Graphviz digraph, left to right.
pub fn to_dot(view: &DriverDiagramView) -> String {
    let (live, edges) = edges(view);
    let mut out =
        String::from("digraph driver_diagram {\n    rankdir=LR;\n    node [shape=box];\n");
    if let Some(aim) = &view.aim {
        out.push_str(&format!(
            "    \"{AIM_NODE_ID}\" [label=\"{}\", shape=ellipse];\n",
            dot_text(&format!("Aim: {}", aim.statement))
        ));
    }
    for n in &live {
        out.push_str(&format!(
            "    \"{}\" [label=\"{}\", class=\"{}\"];\n",
            export_id(n.id),
            dot_text(&node_label(n)),
            class_name(n.kind)
        ));
    }
    for (a, b, strength) in &edges {
        let style = match strength {
            LinkStrength::Strong => "",
            LinkStrength::Weak => " [style=dashed]",
        };
        out.push_str(&format!("    \"{a}\" -> \"{b}\"{style};\n"));
    }
    out.push_str("}\n");
    out
}

// ---------------------------------------------------------------------------------------------
// Diff

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct NodeRef {
    pub id: Uuid,
    pub kind: NodeKind,
    pub title: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Rewording {
    pub id: Uuid,
    pub kind: NodeKind,
    pub old_title: String,
    pub new_title: String,
    pub old_definition: String,
    pub new_definition: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StageChange {
    pub id: Uuid,
    pub title: String,
    pub before: Option<ChangeIdeaStage>,
    pub after: Option<ChangeIdeaStage>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct StrengthChange {
    pub from: Uuid,
    pub to: Uuid,
    pub before: LinkStrength,
    pub after: LinkStrength,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Relinking {
    pub added: Vec<LinkView>,
    pub removed: Vec<LinkView>,
    pub strength_changed: Vec<StrengthChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AimChange {
    pub before: Option<Aim>,
    pub after: Option<Aim>,
}

/// What changed in a diagram between two views of it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct DiagramDiff {
    pub from_position: u64,
    pub to_position: u64,
    pub aim: Option<AimChange>,
    /// Nodes in `after` but not in `before`.
    pub added: Vec<NodeRef>,
    /// Nodes whose title or definition changed.
    pub reworded: Vec<Rewording>,
    pub relinked: Relinking,
    /// Nodes retired in `after` that were not retired (or not there) in `before`.
    pub retired: Vec<NodeRef>,
    pub stage_changed: Vec<StageChange>,
}

impl DiagramDiff {
    pub fn is_empty(&self) -> bool {
        self.aim.is_none()
            && self.added.is_empty()
            && self.reworded.is_empty()
            && self.relinked == Relinking::default()
            && self.retired.is_empty()
            && self.stage_changed.is_empty()
    }
}

/// What changed between two views of the same diagram (e.g. the log folded to two positions).
pub fn diff(before: &DriverDiagramView, after: &DriverDiagramView) -> DiagramDiff {
    let old: BTreeMap<Uuid, &NodeView> = before.nodes.iter().map(|n| (n.id, n)).collect();
    let node_ref = |n: &NodeView| NodeRef {
        id: n.id,
        kind: n.kind,
        title: n.title.clone(),
    };
    let mut d = DiagramDiff {
        from_position: before.position,
        to_position: after.position,
        aim: (before.aim != after.aim).then(|| AimChange {
            before: before.aim.clone(),
            after: after.aim.clone(),
        }),
        added: Vec::new(),
        reworded: Vec::new(),
        relinked: Relinking::default(),
        retired: Vec::new(),
        stage_changed: Vec::new(),
    };
    for n in &after.nodes {
        let was = old.get(&n.id);
        match was {
            None => d.added.push(node_ref(n)),
            Some(o) => {
                if o.title != n.title || o.definition != n.definition {
                    d.reworded.push(Rewording {
                        id: n.id,
                        kind: n.kind,
                        old_title: o.title.clone(),
                        new_title: n.title.clone(),
                        old_definition: o.definition.clone(),
                        new_definition: n.definition.clone(),
                    });
                }
                if o.stage != n.stage {
                    d.stage_changed.push(StageChange {
                        id: n.id,
                        title: n.title.clone(),
                        before: o.stage,
                        after: n.stage,
                    });
                }
            }
        }
        if n.retired && !was.is_some_and(|o| o.retired) {
            d.retired.push(node_ref(n));
        }
    }
    let old_links: BTreeMap<(Uuid, Uuid), LinkStrength> = before
        .links
        .iter()
        .map(|l| ((l.from, l.to), l.strength))
        .collect();
    let new_links: BTreeMap<(Uuid, Uuid), LinkStrength> = after
        .links
        .iter()
        .map(|l| ((l.from, l.to), l.strength))
        .collect();
    for (&(from, to), &strength) in &new_links {
        match old_links.get(&(from, to)) {
            None => d.relinked.added.push(LinkView { from, to, strength }),
            Some(&was) if was != strength => d.relinked.strength_changed.push(StrengthChange {
                from,
                to,
                before: was,
                after: strength,
            }),
            Some(_) => {}
        }
    }
    for (&(from, to), &strength) in &old_links {
        if !new_links.contains_key(&(from, to)) {
            d.relinked.removed.push(LinkView { from, to, strength });
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testlog::*;
    use crate::{fold, fold_as_of, AsOf};

    fn evidence_log() -> Log {
        let mut log = scenario();
        // Cycle 1 (Program A) adapted, cycle 2 (Program A) acted: adopt, cycle 3 (Program B)
        // doing, cycle 4 (Program B) abandoned.
        let ramp = id(100);
        for (n, cycle, program, prev) in [
            (1, id(100), PROG_A, None),
            (2, id(101), PROG_A, Some(id(100))),
        ] {
            plan(
                &mut log,
                CyclePlan {
                    cycle_id: cycle,
                    program_id: program,
                    ideas: vec![IDEA],
                    previous: prev,
                    ramp_id: ramp,
                    number: n,
                    title: "Huddle pilot",
                    start: day(2025, 3, 1),
                    end: day(2025, 3, 20),
                    measures: vec![MEASURE],
                    predictions: true,
                },
            );
            let decision = if n == 1 {
                (ActDecision::Adapt, "Shorter huddles")
            } else {
                (ActDecision::Adopt, "It works")
            };
            run_through(
                &mut log,
                cycle,
                day(2025, 3, 1),
                day(2025, 3, 20),
                true,
                Some(decision),
            );
        }
        for cycle in [id(102), id(103)] {
            plan(
                &mut log,
                CyclePlan {
                    cycle_id: cycle,
                    program_id: PROG_B,
                    ideas: vec![IDEA],
                    previous: None,
                    ramp_id: cycle,
                    number: 1,
                    title: "B pilot",
                    start: day(2025, 4, 1),
                    end: day(2025, 4, 20),
                    measures: vec![],
                    predictions: false,
                },
            );
            log.push(
                "pdsa",
                cycle,
                NicEvent::PdsaCycleStarted(PdsaCycleStarted {
                    cycle_id: cycle,
                    started_on: day(2025, 4, 1),
                }),
            );
        }
        log.push(
            "pdsa",
            id(103),
            NicEvent::PdsaCycleAbandoned(PdsaCycleAbandoned {
                cycle_id: id(103),
                in_phase: CyclePhase::Doing,
                reason: x("Staff left"),
            }),
        );
        for (sid, title) in [(id(200), "Huddles help"), (id(201), "Huddles help a lot")] {
            log.push(
                "synthesis",
                sid,
                NicEvent::LearningSynthesized(LearningSynthesized {
                    synthesis_id: sid,
                    network_id: NET,
                    title: t(title),
                    statement: x("Mentors matter"),
                    recommendation: x("Spread"),
                    cycle_ids: vec![],
                    measure_ids: vec![],
                    node_ids: vec![IDEA],
                }),
            );
        }
        // Six low months then six high ones: a shift on the network-wide chart.
        for m in 1..=12u32 {
            let n = if m <= 6 { 3.0 } else { 8.0 };
            point(
                &mut log,
                MEASURE,
                id(1000 + u128::from(m)),
                PROG_A,
                &format!("2025-{m:02}"),
                n,
                10.0,
            );
        }
        log
    }

    #[test]
    fn the_view_holds_the_graph_and_each_change_ideas_evidence() {
        let log = evidence_log();
        let d = fold(DriverDiagram::new(), &log.events);
        assert_eq!(d.networks(), vec![NET]);
        let v = d.view(NET).unwrap();
        assert_eq!(v.network_name.as_deref(), Some("STEM PUSH"));
        assert_eq!(v.position, log.events.len() as u64);
        let kinds: Vec<NodeKind> = v.nodes.iter().map(|n| n.kind).collect();
        assert_eq!(
            kinds,
            vec![NodeKind::Primary, NodeKind::Secondary, NodeKind::ChangeIdea]
        );
        assert_eq!(v.links.len(), 2);
        assert!(v
            .links
            .iter()
            .any(|l| l.from == IDEA && l.to == SECONDARY && l.strength == LinkStrength::Weak));
        let idea = &v.nodes[2];
        assert_eq!(idea.title, "Peer mentoring huddles");
        assert_eq!(idea.stage, Some(ChangeIdeaStage::Accepted));
        assert!(v.nodes[0].evidence.is_none());
        let ev = idea.evidence.as_ref().unwrap();
        assert_eq!(ev.cycles.acted.count, 2);
        assert_eq!(ev.cycles.acted.cycle_ids, vec![id(100), id(101)]);
        assert_eq!(ev.cycles.doing.count, 1);
        assert_eq!(ev.cycles.abandoned.cycle_ids, vec![id(103)]);
        assert_eq!(ev.cycles.planned.count + ev.cycles.studying.count, 0);
        assert_eq!(
            ev.decisions,
            DecisionCounts {
                adopt: 1,
                adapt: 1,
                abandon: 0
            }
        );
        let programs: Vec<&str> = ev.programs.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(programs, vec!["Program A", "Program B"]);
        assert_eq!(
            ev.latest_synthesis.as_ref().unwrap().title,
            "Huddles help a lot"
        );
        assert_eq!(idea.measures.len(), 1);
        let m = &idea.measures[0];
        assert_eq!(m.name, "Alumni STEM enrolment");
        let signal = m.latest_signal.as_ref().unwrap();
        assert_eq!(signal.period, "2025-12");
        assert!(
            matches!(
                (signal.rule_set, signal.rule),
                (
                    crate::run_chart::RuleSet::Ihi,
                    crate::run_chart::Rule::Shift
                ) | (crate::run_chart::RuleSet::Anhoej, _)
            ),
            "{signal:?}"
        );
    }

    #[test]
    fn the_diff_between_two_positions_names_every_change() {
        let mut log = scenario();
        let before_position = log.events.len() as u64;
        log.net(NicEvent::DriverAdded(DriverAdded {
            node_id: id(50),
            kind: DriverKind::Secondary,
            title: t("Family engagement"),
            definition: x(""),
        }));
        log.net(NicEvent::NodesLinked(NodesLinked {
            from: id(50),
            to: PRIMARY,
            strength: LinkStrength::Strong,
        }));
        log.net(NicEvent::NodeReworded(NodeReworded {
            node_id: SECONDARY,
            title: t("Near-peer and alumni mentoring"),
            definition: x("Alumni too"),
            reason: x(""),
        }));
        log.net(NicEvent::NodesLinked(NodesLinked {
            from: IDEA,
            to: SECONDARY,
            strength: LinkStrength::Strong,
        }));
        log.net(NicEvent::NodesUnlinked(NodesUnlinked {
            from: SECONDARY,
            to: PRIMARY,
            reason: x(""),
        }));
        log.net(NicEvent::NodeRetired(NodeRetired {
            node_id: PRIMARY,
            reason: x("Merged"),
        }));
        log.net(NicEvent::AimRevised(AimRevised {
            aim: aim("Increase alumni STEM enrolment from 38% to 55%", 55.0),
            reason: x("Ahead of plan"),
        }));
        let before = fold_as_of(
            DriverDiagram::new(),
            &log.events,
            AsOf::Position(before_position),
        )
        .view(NET)
        .unwrap();
        let after = fold(DriverDiagram::new(), &log.events).view(NET).unwrap();
        let d = diff(&before, &after);
        assert_eq!(
            (d.from_position, d.to_position),
            (before_position, before_position + 7)
        );
        assert_eq!(d.added.len(), 1);
        assert_eq!(d.added[0].title, "Family engagement");
        assert_eq!(d.reworded.len(), 1);
        let r = &d.reworded[0];
        assert_eq!(
            (
                r.old_title.as_str(),
                r.new_title.as_str(),
                r.old_definition.as_str(),
                r.new_definition.as_str()
            ),
            (
                "Near-peer mentoring",
                "Near-peer and alumni mentoring",
                "",
                "Alumni too"
            )
        );
        assert_eq!(
            d.relinked.added,
            vec![LinkView {
                from: id(50),
                to: PRIMARY,
                strength: LinkStrength::Strong
            }]
        );
        assert_eq!(
            d.relinked.removed,
            vec![LinkView {
                from: SECONDARY,
                to: PRIMARY,
                strength: LinkStrength::Strong
            }]
        );
        assert_eq!(
            d.relinked.strength_changed,
            vec![StrengthChange {
                from: IDEA,
                to: SECONDARY,
                before: LinkStrength::Weak,
                after: LinkStrength::Strong
            }]
        );
        assert_eq!(d.retired.len(), 1);
        assert_eq!(d.retired[0].id, PRIMARY);
        assert_eq!(d.aim.as_ref().unwrap().after.as_ref().unwrap().target, 55.0);
        assert!(d.stage_changed.is_empty());
        assert!(diff(&after, &after).is_empty());
    }

    const HOSTILE: &str = "Evil\"] --> X[\"boom\"] {b} |p| ; %% c <b>&amp; `t` #1 \\ end";

    /// Reads a DOT quoted string starting at `s` (after the opening quote): its unescaped text
    /// and what follows the closing quote.
    fn read_dot_string(s: &str) -> (String, &str) {
        let mut out = String::new();
        let mut chars = s.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next().map(|(_, c)| c) {
                    Some('n') => out.push('\n'),
                    Some(c) => out.push(c),
                    None => panic!("dangling escape"),
                },
                '"' => return (out, &s[i + 1..]),
                c => out.push(c),
            }
        }
        panic!("unterminated string in {s:?}")
    }

    fn hostile_view() -> DriverDiagramView {
        let mut log = scenario();
        log.net(NicEvent::NodeReworded(NodeReworded {
            node_id: PRIMARY,
            title: t(HOSTILE),
            definition: x(""),
            reason: x(""),
        }));
        log.net(NicEvent::AimRevised(AimRevised {
            aim: aim("Line one\"]\nflowchart TB\n  z --> y", 50.0),
            reason: x("Hostile"),
        }));
        fold(DriverDiagram::new(), &log.events).view(NET).unwrap()
    }

    fn is_export_id(s: &str) -> bool {
        s == AIM_NODE_ID
            || (s.len() == 34
                && s.starts_with("n_")
                && s[2..].bytes().all(|b| b.is_ascii_hexdigit()))
    }

    #[test]
    fn mermaid_labels_cannot_break_out_of_their_quotes() {
        let v = hostile_view();
        let m = to_mermaid(&v);
        let lines: Vec<&str> = m.lines().collect();
        assert_eq!(lines[0], "flowchart LR");
        let (mut node_lines, mut edge_lines) = (0, 0);
        for line in &lines[1..] {
            let line = line.trim_start();
            if line.starts_with("classDef ") || line.starts_with("class ") {
                continue;
            }
            if let Some((node, rest)) = line.split_once("[\"") {
                assert!(is_export_id(node), "{line}");
                let label = rest.strip_suffix("\"]").expect(line);
                assert!(
                    !label.contains(['"', '[', ']', '{', '}', '|', '<', '>', '`', '\n']),
                    "{label}"
                );
                node_lines += 1;
            } else {
                let parts: Vec<&str> = line.split(' ').collect();
                assert_eq!(parts.len(), 3, "{line}");
                assert!(is_export_id(parts[0]) && is_export_id(parts[2]), "{line}");
                assert!(parts[1] == "-->" || parts[1] == "-.->", "{line}");
                edge_lines += 1;
            }
        }
        // The aim and three nodes; aim → primary, primary → secondary, secondary -.-> idea.
        assert_eq!((node_lines, edge_lines), (4, 3));
        assert!(m.contains(&format!(
            "{} -.-> {}",
            export_id(SECONDARY),
            export_id(IDEA)
        )));
        assert!(
            m.contains("Evil#34;#93; --#62; X#91;#34;boom#34;#93;"),
            "{m}"
        );
        assert!(
            m.contains("Aim: Line one#34;#93; flowchart TB   z --#62; y"),
            "{m}"
        );
    }

    #[test]
    fn dot_labels_round_trip_through_escaping() {
        let v = hostile_view();
        let dot = to_dot(&v);
        assert!(dot.starts_with("digraph driver_diagram {\n"));
        assert!(dot.ends_with("}\n"));
        let mut labels = Vec::new();
        for line in dot.lines().skip(3) {
            let line = line.trim_start();
            if line == "}" {
                continue;
            }
            let rest = line.strip_prefix('"').expect(line);
            let (node, rest) = read_dot_string(rest);
            assert!(is_export_id(&node), "{line}");
            if let Some(rest) = rest.strip_prefix(" [label=\"") {
                let (label, rest) = read_dot_string(rest);
                assert!(rest.starts_with(", ") && rest.ends_with("];"), "{line}");
                labels.push(label);
            } else {
                let rest = rest.strip_prefix(" -> \"").expect(line);
                let (to, rest) = read_dot_string(rest);
                assert!(is_export_id(&to), "{line}");
                assert!(rest == ";" || rest == " [style=dashed];", "{line}");
            }
        }
        assert_eq!(labels.len(), 4);
        assert_eq!(labels[0], "Aim: Line one\"]\nflowchart TB\n  z --> y");
        assert_eq!(labels[1], HOSTILE);
        assert_eq!(dot_text("a\r\nb\u{7}"), "a\\nb ");
    }

    #[test]
    fn retired_nodes_stay_in_the_view_but_leave_the_drawings() {
        let mut log = scenario();
        log.net(NicEvent::NodeRetired(NodeRetired {
            node_id: SECONDARY,
            reason: x("Folded into the primary"),
        }));
        let v = fold(DriverDiagram::new(), &log.events).view(NET).unwrap();
        assert!(v.nodes.iter().any(|n| n.id == SECONDARY && n.retired));
        let m = to_mermaid(&v);
        assert!(!m.contains(&export_id(SECONDARY)));
        assert!(!to_dot(&v).contains(&export_id(SECONDARY)));
        assert!(m.contains(&export_id(IDEA)));
    }
}
