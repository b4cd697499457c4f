//! A network: its charter, aim, ecosystems, the driver diagram (its theory of improvement),
//! quality standards, root cause analysis and how long it keeps personal text, all in one
//! `network-…` stream that the hub owns.
//!
//! The driver diagram is a graph: primary drivers, secondary drivers and change ideas, linked
//! many-to-many (`from` serves `to`), each link strong or weak. Nodes are reworded, re-linked and
//! retired, never deleted. A member program proposes a change idea; the hub accepts or declines it.

use std::collections::BTreeMap;

use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};
use crate::limits::{
    REPORTING_DEADLINE_DAYS_MAX, REPORTING_DEADLINE_DAYS_MIN, RETENTION_DAYS_MAX,
    RETENTION_DAYS_MIN,
};
use crate::program::ProgramState;

/// What a node of the driver diagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    Primary,
    Secondary,
    ChangeIdea,
}

impl NodeKind {
    pub fn label(self) -> &'static str {
        match self {
            Self::Primary => "primary driver",
            Self::Secondary => "secondary driver",
            Self::ChangeIdea => "change idea",
        }
    }

    /// Whether a node of this kind may serve a node of kind `to`.
    pub fn may_serve(self, to: NodeKind) -> bool {
        matches!(
            (self, to),
            (Self::Secondary, Self::Primary)
                | (Self::ChangeIdea, Self::Secondary)
                | (Self::ChangeIdea, Self::Primary)
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Node {
    pub id: Uuid,
    pub kind: NodeKind,
    pub title: Title,
    pub definition: Text,
    pub retired: bool,
    /// Change ideas only.
    pub stage: Option<ChangeIdeaStage>,
    /// Change ideas proposed by a member program.
    pub proposed_by_program: Option<Uuid>,
}

impl Node {
    /// A live change idea that cycles may still test.
    pub fn is_testable_change_idea(&self) -> bool {
        self.kind == NodeKind::ChangeIdea
            && !self.retired
            && !matches!(
                self.stage,
                Some(ChangeIdeaStage::Declined | ChangeIdeaStage::Abandoned)
            )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Link {
    pub from: Uuid,
    pub to: Uuid,
    pub strength: LinkStrength,
}

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct Ecosystem {
    pub id: Uuid,
    pub name: Title,
    pub region: Title,
}

/// A network as its stream tells it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct NetworkState {
    pub id: Uuid,
    /// Whether the network has been chartered (its stream exists).
    pub exists: bool,
    pub name: Option<Title>,
    pub purpose: Text,
    pub aim: Option<Aim>,
    pub ecosystems: BTreeMap<Uuid, Ecosystem>,
    pub nodes: BTreeMap<Uuid, Node>,
    pub links: Vec<Link>,
    pub standards: BTreeMap<Uuid, StandardDefined>,
    pub root_causes: Vec<RootCauseRecorded>,
    /// How the network reads its charts, once it has said (else the defaults of the read models).
    pub chart_settings: Option<ChartSettingsChanged>,
    /// Days a withdrawn program's personal text is kept; none: until erased by hand.
    pub retention_days: Option<u32>,
}

impl NetworkState {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, event: &NicEvent) {
        match event {
            NicEvent::NetworkChartered(e) => {
                self.exists = true;
                self.name = Some(e.name.clone());
                self.purpose = e.purpose.clone();
            }
            NicEvent::AimStated(e) => self.aim = Some(e.aim.clone()),
            NicEvent::AimRevised(e) => self.aim = Some(e.aim.clone()),
            NicEvent::ChartSettingsChanged(e) => self.chart_settings = Some(e.clone()),
            NicEvent::RetentionSet(e) => self.retention_days = e.withdrawn_program_text_days,
            NicEvent::EcosystemAdded(e) => {
                self.ecosystems.insert(
                    e.ecosystem_id,
                    Ecosystem {
                        id: e.ecosystem_id,
                        name: e.name.clone(),
                        region: e.region.clone(),
                    },
                );
            }
            NicEvent::DriverAdded(e) => {
                let kind = match e.kind {
                    DriverKind::Primary => NodeKind::Primary,
                    DriverKind::Secondary => NodeKind::Secondary,
                };
                self.nodes.insert(
                    e.node_id,
                    Node {
                        id: e.node_id,
                        kind,
                        title: e.title.clone(),
                        definition: e.definition.clone(),
                        retired: false,
                        stage: None,
                        proposed_by_program: None,
                    },
                );
            }
            NicEvent::ChangeIdeaProposed(e) => {
                self.nodes.insert(
                    e.node_id,
                    Node {
                        id: e.node_id,
                        kind: NodeKind::ChangeIdea,
                        title: e.title.clone(),
                        definition: e.definition.clone(),
                        retired: false,
                        stage: Some(ChangeIdeaStage::Proposed),
                        proposed_by_program: e.proposed_by_program,
                    },
                );
            }
            NicEvent::ChangeIdeaAccepted(e) => self.set_stage(e.node_id, ChangeIdeaStage::Accepted),
            NicEvent::ChangeIdeaDeclined(e) => self.set_stage(e.node_id, ChangeIdeaStage::Declined),
            NicEvent::ChangeIdeaStageChanged(e) => self.set_stage(e.node_id, e.to),
            NicEvent::NodeReworded(e) => {
                if let Some(n) = self.nodes.get_mut(&e.node_id) {
                    n.title = e.title.clone();
                    n.definition = e.definition.clone();
                }
            }
            NicEvent::NodesLinked(e) => {
                self.links.retain(|l| !(l.from == e.from && l.to == e.to));
                self.links.push(Link {
                    from: e.from,
                    to: e.to,
                    strength: e.strength,
                });
            }
            NicEvent::NodesUnlinked(e) => {
                self.links.retain(|l| !(l.from == e.from && l.to == e.to));
            }
            NicEvent::NodeRetired(e) => {
                if let Some(n) = self.nodes.get_mut(&e.node_id) {
                    n.retired = true;
                }
            }
            NicEvent::StandardDefined(e) => {
                self.standards.insert(e.standard_id, e.clone());
            }
            NicEvent::RootCauseRecorded(e) => self.root_causes.push(e.clone()),
            _ => {}
        }
    }

    fn set_stage(&mut self, node: Uuid, stage: ChangeIdeaStage) {
        if let Some(n) = self.nodes.get_mut(&node) {
            n.stage = Some(stage);
        }
    }

    fn require(&self) -> Result<(), DomainError> {
        if self.exists {
            Ok(())
        } else {
            Err(DomainError::NotFound {
                kind: "network",
                id: self.id,
            })
        }
    }

    /// A node of this network, for a command's field.
    pub fn node(&self, field: &str, id: Uuid) -> Result<&Node, DomainError> {
        self.nodes
            .get(&id)
            .ok_or_else(|| DomainError::UnknownReference {
                field: field.into(),
                kind: "driver-diagram node",
                id,
            })
    }

    /// A node that has not been retired.
    pub fn live_node(&self, field: &str, id: Uuid) -> Result<&Node, DomainError> {
        let n = self.node(field, id)?;
        if n.retired {
            return Err(DomainError::invalid(
                field,
                format!("{} '{}' is retired", n.kind.label(), n.title),
            ));
        }
        Ok(n)
    }

    /// The node addressed by a command's path (unknown: 404).
    fn target_node(&self, id: Uuid) -> Result<&Node, DomainError> {
        self.nodes.get(&id).ok_or(DomainError::NotFound {
            kind: "driver-diagram node",
            id,
        })
    }

    fn link(&self, from: Uuid, to: Uuid) -> Option<&Link> {
        self.links.iter().find(|l| l.from == from && l.to == to)
    }
}

// ---------------------------------------------------------------------------------------------
// Commands
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CharterNetwork {
    pub name: Title,
    #[serde(default)]
    pub purpose: Text,
}

pub fn charter(state: &NetworkState, cmd: CharterNetwork) -> Decision {
    if state.exists {
        return Err(DomainError::transition("the network is already chartered"));
    }
    Ok(vec![NicEvent::NetworkChartered(NetworkChartered {
        network_id: state.id,
        name: cmd.name,
        purpose: cmd.purpose,
    })])
}

/// States the aim, or revises it (a revision says why).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StateAim {
    pub aim: Aim,
    /// Why the aim changes; required when revising.
    #[serde(default)]
    pub reason: Option<Text>,
}

pub fn state_aim(state: &NetworkState, cmd: StateAim) -> Decision {
    state.require()?;
    let mut c = Checks::new();
    c.finite(Some(cmd.aim.target), "aim.target");
    c.finite(cmd.aim.baseline, "aim.baseline");
    c.check(
        !cmd.aim.statement.is_blank(),
        "aim.statement",
        "must not be blank",
    );
    let revising = state.aim.is_some();
    let reason = cmd.reason.filter(|r| !r.is_blank());
    c.check(
        !revising || reason.is_some(),
        "reason",
        "the aim is already stated: a revision says why",
    );
    c.done()?;
    if state.aim.as_ref() == Some(&cmd.aim) {
        return Err(DomainError::transition("the aim already reads so"));
    }
    Ok(vec![match reason {
        Some(reason) if revising => NicEvent::AimRevised(AimRevised {
            aim: cmd.aim,
            reason,
        }),
        _ => NicEvent::AimStated(AimStated { aim: cmd.aim }),
    }])
}

/// How the network reads its charts: the days programs have after a period ends to report it,
/// and the rules of its control charts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetChartSettings {
    pub reporting_deadline_days: u32,
    pub control_rules: ControlRuleSet,
    #[serde(default)]
    pub reason: Text,
}

pub fn set_chart_settings(state: &NetworkState, cmd: SetChartSettings) -> Decision {
    state.require()?;
    let mut c = Checks::new();
    c.check(
        (REPORTING_DEADLINE_DAYS_MIN..=REPORTING_DEADLINE_DAYS_MAX)
            .contains(&cmd.reporting_deadline_days),
        "reporting_deadline_days",
        format!(
            "is {}; a reporting deadline is {REPORTING_DEADLINE_DAYS_MIN} to \
             {REPORTING_DEADLINE_DAYS_MAX} days after the period ends",
            cmd.reporting_deadline_days
        ),
    );
    c.done()?;
    if state.chart_settings.as_ref().is_some_and(|s| {
        (s.reporting_deadline_days, s.control_rules)
            == (cmd.reporting_deadline_days, cmd.control_rules)
    }) {
        return Err(DomainError::transition(
            "the chart settings already read so",
        ));
    }
    Ok(vec![NicEvent::ChartSettingsChanged(ChartSettingsChanged {
        reporting_deadline_days: cmd.reporting_deadline_days,
        control_rules: cmd.control_rules,
        reason: cmd.reason,
    })])
}

/// How long the network keeps a withdrawn program's personal text: days after it withdraws, or
/// none to keep it until erased by hand.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetRetention {
    #[serde(default)]
    pub withdrawn_program_text_days: Option<u32>,
}

pub fn set_retention(state: &NetworkState, cmd: SetRetention) -> Decision {
    state.require()?;
    let mut c = Checks::new();
    if let Some(days) = cmd.withdrawn_program_text_days {
        c.check(
            (RETENTION_DAYS_MIN..=RETENTION_DAYS_MAX).contains(&days),
            "withdrawn_program_text_days",
            format!(
                "is {days}; a withdrawn program's personal text is kept {RETENTION_DAYS_MIN} to \
                 {RETENTION_DAYS_MAX} days, or until erased by hand (null)"
            ),
        );
    }
    c.done()?;
    if state.retention_days == cmd.withdrawn_program_text_days {
        return Err(DomainError::transition("the retention already reads so"));
    }
    Ok(vec![NicEvent::RetentionSet(RetentionSet {
        network_id: state.id,
        withdrawn_program_text_days: cmd.withdrawn_program_text_days,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddEcosystem {
    pub name: Title,
    pub region: Title,
}

pub fn add_ecosystem(state: &NetworkState, ecosystem_id: Uuid, cmd: AddEcosystem) -> Decision {
    state.require()?;
    new_id(
        state.ecosystems.contains_key(&ecosystem_id),
        "ecosystem",
        ecosystem_id,
    )?;
    if state.ecosystems.values().any(|e| e.name == cmd.name) {
        return Err(DomainError::invalid(
            "name",
            "an ecosystem of this name exists",
        ));
    }
    Ok(vec![NicEvent::EcosystemAdded(EcosystemAdded {
        ecosystem_id,
        name: cmd.name,
        region: cmd.region,
    })])
}

/// A link from a new or existing node to a node it serves.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Serves {
    pub node_id: Uuid,
    #[serde(default = "strong")]
    pub strength: LinkStrength,
}

fn strong() -> LinkStrength {
    LinkStrength::Strong
}

/// Checks the links a new node of `kind` asks for and returns their events.
fn links_for(
    state: &NetworkState,
    from: Uuid,
    kind: NodeKind,
    serves: &[Serves],
) -> Result<Vec<NicEvent>, DomainError> {
    let mut c = Checks::new();
    c.list(serves, "serves");
    c.done()?;
    let mut events = Vec::new();
    for (i, s) in serves.iter().enumerate() {
        let field = format!("serves[{i}].node_id");
        let to = state.live_node(&field, s.node_id)?;
        if !kind.may_serve(to.kind) {
            return Err(DomainError::invalid(
                field,
                format!("a {} cannot serve a {}", kind.label(), to.kind.label()),
            ));
        }
        if serves[..i].iter().any(|p| p.node_id == s.node_id) {
            return Err(DomainError::invalid(field, "named twice"));
        }
        events.push(NicEvent::NodesLinked(NodesLinked {
            from,
            to: s.node_id,
            strength: s.strength,
        }));
    }
    Ok(events)
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AddDriver {
    pub kind: DriverKind,
    pub title: Title,
    #[serde(default)]
    pub definition: Text,
    /// For a secondary driver: the primary drivers it serves.
    #[serde(default)]
    pub serves: Vec<Serves>,
}

pub fn add_driver(state: &NetworkState, node_id: Uuid, cmd: AddDriver) -> Decision {
    state.require()?;
    new_id(state.nodes.contains_key(&node_id), "node", node_id)?;
    let kind = match cmd.kind {
        DriverKind::Primary => NodeKind::Primary,
        DriverKind::Secondary => NodeKind::Secondary,
    };
    let links = links_for(state, node_id, kind, &cmd.serves)?;
    let mut events = vec![NicEvent::DriverAdded(DriverAdded {
        node_id,
        kind: cmd.kind,
        title: cmd.title,
        definition: cmd.definition,
    })];
    events.extend(links);
    Ok(events)
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProposeChangeIdea {
    pub title: Title,
    #[serde(default)]
    pub definition: Text,
    /// The member program proposing it; omitted when the hub proposes.
    #[serde(default)]
    pub proposed_by_program: Option<Uuid>,
    #[serde(default)]
    pub rationale: Text,
    /// The drivers it would serve.
    #[serde(default)]
    pub serves: Vec<Serves>,
}

/// `proposer` is the state of `cmd.proposed_by_program`, when it names one.
pub fn propose_change_idea(
    state: &NetworkState,
    node_id: Uuid,
    proposer: Option<&ProgramState>,
    cmd: ProposeChangeIdea,
) -> Decision {
    state.require()?;
    new_id(state.nodes.contains_key(&node_id), "node", node_id)?;
    if let Some(program_id) = cmd.proposed_by_program {
        crate::program::enrolled_in(proposer, state.id, "proposed_by_program", program_id)?;
    }
    let links = links_for(state, node_id, NodeKind::ChangeIdea, &cmd.serves)?;
    let mut events = vec![NicEvent::ChangeIdeaProposed(ChangeIdeaProposed {
        node_id,
        title: cmd.title,
        definition: cmd.definition,
        proposed_by_program: cmd.proposed_by_program,
        rationale: cmd.rationale,
    })];
    events.extend(links);
    Ok(events)
}

fn target_change_idea(state: &NetworkState, node_id: Uuid) -> Result<&Node, DomainError> {
    state.require()?;
    let node = state.target_node(node_id)?;
    if node.kind != NodeKind::ChangeIdea {
        return Err(DomainError::NotFound {
            kind: "change idea",
            id: node_id,
        });
    }
    if node.retired {
        return Err(DomainError::transition(format!(
            "change idea '{}' is retired",
            node.title
        )));
    }
    Ok(node)
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptChangeIdea {
    #[serde(default)]
    pub note: Text,
}

pub fn accept_change_idea(state: &NetworkState, node_id: Uuid, cmd: AcceptChangeIdea) -> Decision {
    let node = target_change_idea(state, node_id)?;
    if node.stage != Some(ChangeIdeaStage::Proposed) {
        return Err(DomainError::transition(format!(
            "only a proposed change idea is accepted; '{}' is {:?}",
            node.title,
            node.stage.unwrap_or(ChangeIdeaStage::Proposed)
        )));
    }
    Ok(vec![NicEvent::ChangeIdeaAccepted(ChangeIdeaAccepted {
        node_id,
        note: cmd.note,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineChangeIdea {
    pub reason: Text,
}

pub fn decline_change_idea(
    state: &NetworkState,
    node_id: Uuid,
    cmd: DeclineChangeIdea,
) -> Decision {
    let node = target_change_idea(state, node_id)?;
    if node.stage != Some(ChangeIdeaStage::Proposed) {
        return Err(DomainError::transition(format!(
            "only a proposed change idea is declined; '{}' is past that",
            node.title
        )));
    }
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::ChangeIdeaDeclined(ChangeIdeaDeclined {
        node_id,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeStage {
    pub stage: ChangeIdeaStage,
    pub reason: Text,
}

pub fn change_stage(state: &NetworkState, node_id: Uuid, cmd: ChangeStage) -> Decision {
    use ChangeIdeaStage::*;
    let node = target_change_idea(state, node_id)?;
    let from = node.stage.unwrap_or(Proposed);
    if !matches!(from, Accepted | Testing | Implementing | Spreading) {
        return Err(DomainError::transition(format!(
            "change idea '{}' is {from:?}: only an accepted idea changes stage",
            node.title
        )));
    }
    if !matches!(cmd.stage, Testing | Implementing | Spreading | Abandoned) {
        return Err(DomainError::invalid(
            "stage",
            "the stage is testing, implementing, spreading or abandoned",
        ));
    }
    if cmd.stage == from {
        return Err(DomainError::transition(format!(
            "change idea '{}' is already {from:?}",
            node.title
        )));
    }
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::ChangeIdeaStageChanged(
        ChangeIdeaStageChanged {
            node_id,
            from,
            to: cmd.stage,
            reason: cmd.reason,
        },
    )])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RewordNode {
    pub title: Title,
    #[serde(default)]
    pub definition: Text,
    #[serde(default)]
    pub reason: Text,
}

pub fn reword_node(state: &NetworkState, node_id: Uuid, cmd: RewordNode) -> Decision {
    state.require()?;
    let node = state.target_node(node_id)?;
    if node.retired {
        return Err(DomainError::transition(format!(
            "'{}' is retired",
            node.title
        )));
    }
    if node.title == cmd.title && node.definition == cmd.definition {
        return Err(DomainError::transition("the node already reads so"));
    }
    Ok(vec![NicEvent::NodeReworded(NodeReworded {
        node_id,
        title: cmd.title,
        definition: cmd.definition,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkNodes {
    pub from: Uuid,
    pub to: Uuid,
    #[serde(default = "strong")]
    pub strength: LinkStrength,
}

pub fn link_nodes(state: &NetworkState, cmd: LinkNodes) -> Decision {
    state.require()?;
    let from = state.live_node("from", cmd.from)?;
    let to = state.live_node("to", cmd.to)?;
    if !from.kind.may_serve(to.kind) {
        return Err(DomainError::invalid(
            "to",
            format!("a {} cannot serve a {}", from.kind.label(), to.kind.label()),
        ));
    }
    if state
        .link(cmd.from, cmd.to)
        .is_some_and(|l| l.strength == cmd.strength)
    {
        return Err(DomainError::transition("these nodes are already linked so"));
    }
    Ok(vec![NicEvent::NodesLinked(NodesLinked {
        from: cmd.from,
        to: cmd.to,
        strength: cmd.strength,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnlinkNodes {
    pub from: Uuid,
    pub to: Uuid,
    #[serde(default)]
    pub reason: Text,
}

pub fn unlink_nodes(state: &NetworkState, cmd: UnlinkNodes) -> Decision {
    state.require()?;
    state.node("from", cmd.from)?;
    state.node("to", cmd.to)?;
    if state.link(cmd.from, cmd.to).is_none() {
        return Err(DomainError::transition("these nodes are not linked"));
    }
    Ok(vec![NicEvent::NodesUnlinked(NodesUnlinked {
        from: cmd.from,
        to: cmd.to,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetireNode {
    pub reason: Text,
}

pub fn retire_node(state: &NetworkState, node_id: Uuid, cmd: RetireNode) -> Decision {
    state.require()?;
    let node = state.target_node(node_id)?;
    if node.retired {
        return Err(DomainError::transition(format!(
            "'{}' is already retired",
            node.title
        )));
    }
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::NodeRetired(NodeRetired {
        node_id,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineStandard {
    pub code: Title,
    pub title: Title,
    #[serde(default)]
    pub description: Text,
}

pub fn define_standard(state: &NetworkState, standard_id: Uuid, cmd: DefineStandard) -> Decision {
    state.require()?;
    new_id(
        state.standards.contains_key(&standard_id),
        "standard",
        standard_id,
    )?;
    if state.standards.values().any(|s| s.code == cmd.code) {
        return Err(DomainError::invalid(
            "code",
            "a standard with this code exists",
        ));
    }
    Ok(vec![NicEvent::StandardDefined(StandardDefined {
        standard_id,
        code: cmd.code,
        title: cmd.title,
        description: cmd.description,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordRootCause {
    pub category: Title,
    pub cause: Title,
    #[serde(default)]
    pub description: Text,
}

pub fn record_root_cause(state: &NetworkState, cause_id: Uuid, cmd: RecordRootCause) -> Decision {
    state.require()?;
    Ok(vec![NicEvent::RootCauseRecorded(RootCauseRecorded {
        cause_id,
        category: cmd.category,
        cause: cmd.cause,
        description: cmd.description,
    })])
}

/// A new entity's id must be new: reusing one would silently replace what the stream holds (a
/// node's stage and retirement, an ecosystem, a standard that assessments cite).
fn new_id(taken: bool, kind: &str, id: Uuid) -> Result<(), DomainError> {
    if taken {
        Err(DomainError::transition(format!(
            "{kind} {id} exists: a new {kind} takes a new id"
        )))
    } else {
        Ok(())
    }
}

/// Refusals, retirements and stage changes say why.
pub(crate) fn reason_given(reason: &Text) -> Result<(), DomainError> {
    if reason.is_blank() {
        Err(DomainError::invalid("reason", "must say why"))
    } else {
        Ok(())
    }
}
