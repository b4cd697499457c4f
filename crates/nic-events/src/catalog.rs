//! The event catalog: every event a Networked Improvement Community records, as Rust types.
//!
//! Each variant of `NicEvent` is one event type at its current schema version; its payload struct
//! is what the event's `data` holds. `proto-events/` holds the JSON Schema of every type and
//! version, generated from these types (a test keeps them in step), with examples. Older versions
//! are upgraded to the current shape when read (`upcast`), so stored events are never edited.
//!
//! Every text field says in its schema whether it holds personal data (`x-personal`: `name`,
//! `free-text`, `contact` or `none`); `personal` reads the classes from there.
//!
//! Streams, one per entity, named `category-<uuid>`:
//! - `network-…`: the charter, the aim, ecosystems, the driver diagram, quality standards, the
//!   root cause analysis and how long personal text is kept. The hub owns all of it.
//! - `program-…`: a member program's enrolment, withdrawal and its self-assessments.
//! - `measure-…`: a measure's operational definition, its data points and run-chart settings.
//! - `pdsa-…`: one PDSA cycle, from plan to act.
//! - `synthesis-…`: one piece of network learning.
//! - `token-…`: one access token's issue and revocation (only its SHA-256 is kept).
//! - `privacy-…`: one erasure, redaction or key export of personal data.

use chrono::{DateTime, NaiveDate, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::limits::ERASURE_KEYS_PER_EVENT_MAX;
pub use crate::period::{Period, PeriodKind};
use crate::text::{Text, Title};
use crate::upcast;

// ---------------------------------------------------------------------------------------------
// Shared value types
// ---------------------------------------------------------------------------------------------

/// The network's aim: what will improve, for whom, by how much, by when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Aim {
    /// The aim as one sentence, as the network states it.
    #[schemars(extend("x-personal" = "none"))]
    pub statement: Text,
    /// What will improve, e.g. "post-secondary STEM enrolment".
    #[schemars(extend("x-personal" = "none"))]
    pub what: Title,
    /// For whom, e.g. "Black, Latina/o/e and Indigenous program alumni".
    #[schemars(extend("x-personal" = "none"))]
    pub for_whom: Title,
    /// Where it stands now, in `unit`, when known.
    pub baseline: Option<f64>,
    /// Where it should be by `by_when`, in `unit`.
    pub target: f64,
    /// e.g. "percent".
    #[schemars(extend("x-personal" = "none"))]
    pub unit: Title,
    pub by_when: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DriverKind {
    Primary,
    Secondary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkStrength {
    Strong,
    Weak,
}

/// Where a change idea stands. A proposal is accepted or declined by the hub; an accepted idea
/// moves through testing, implementing and spreading, or is abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeIdeaStage {
    Proposed,
    Accepted,
    Declined,
    Testing,
    Implementing,
    Spreading,
    Abandoned,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureKind {
    Outcome,
    Process,
    Balancing,
}

/// How a measure's value is formed: a ratio of numerator to denominator (a percent or rate), or
/// one value (a count, a score, a duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeasureScale {
    Ratio,
    Value,
}

/// What a measure's numbers are, which decides what a data point may hold. Scale `ratio`:
/// `proportion` (the numerator counts part of the denominator, so it is at most the denominator)
/// or `rate` (events per unit of exposure: the numerator may pass the denominator). Scale
/// `value`: `count` (a whole number of 0 or more), `percentage` (from 0 to 100) or `measurement`
/// (any number: a score, a duration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataType {
    Proportion,
    Rate,
    Count,
    Percentage,
    Measurement,
}

impl DataType {
    /// The scale this data type belongs to.
    pub fn scale(self) -> MeasureScale {
        match self {
            Self::Proportion | Self::Rate => MeasureScale::Ratio,
            Self::Count | Self::Percentage | Self::Measurement => MeasureScale::Value,
        }
    }

    /// What a measure of `scale` that does not say its data type is: a proportion or a
    /// measurement.
    pub fn default_for(scale: MeasureScale) -> Self {
        match scale {
            MeasureScale::Ratio => Self::Proportion,
            MeasureScale::Value => Self::Measurement,
        }
    }
}

/// A control chart: P (proportions), P′ (Laney's, for large subgroups), U (rates), U′ (Laney's),
/// C (counts), I (individual values, with their moving ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlChartKind {
    P,
    PPrime,
    U,
    UPrime,
    C,
    I,
}

impl ControlChartKind {
    /// Whether the chart reads a measure of `scale`: P, P′, U and U′ a ratio's numerator and
    /// denominator, C a count, I any plotted value.
    pub fn fits(self, scale: MeasureScale) -> bool {
        match self {
            Self::P | Self::PPrime | Self::U | Self::UPrime => scale == MeasureScale::Ratio,
            Self::C => scale == MeasureScale::Value,
            Self::I => true,
        }
    }
}

/// The rules that judge control charts: The Health Care Data Guide's (Provost & Murray 2011),
/// NHS England's Making Data Count, or Shewhart's point beyond the limits alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ControlRuleSet {
    HealthCareDataGuide,
    MakingDataCount,
    Shewhart,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
}

/// Why a PDSA cycle is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CyclePurpose {
    CollectInformation,
    Develop,
    Test,
    Implement,
}

/// A question the cycle will answer, with the team's prediction and why they expect it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Question {
    #[schemars(extend("x-personal" = "free-text"))]
    pub question: Text,
    #[schemars(extend("x-personal" = "free-text"))]
    pub prediction: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// The Plan of a PDSA cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    #[schemars(extend("x-personal" = "free-text"))]
    pub objective: Text,
    pub questions: Vec<Question>,
    /// Who does what, when and where.
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub who_what_when_where: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub tasks: Vec<Title>,
    /// The measures that will tell whether the change is an improvement.
    #[serde(default)]
    pub measure_ids: Vec<Uuid>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub data_collection_plan: Text,
}

/// Something seen while the test ran, with when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Observation {
    pub at: DateTime<Utc>,
    #[schemars(extend("x-personal" = "free-text"))]
    pub note: Text,
}

/// The Do of a PDSA cycle: what happened when the test was carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Do {
    pub carried_out_as_planned: bool,
    #[schemars(extend("x-personal" = "free-text"))]
    pub what_happened: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub problems_and_surprises: Text,
    #[serde(default)]
    pub observations: Vec<Observation>,
    pub completed_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PredictionHeld {
    Yes,
    Partly,
    No,
}

/// Per question of the plan: what the result was against the prediction, and what was learned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuestionResult {
    /// Index into the plan's questions (0-based).
    pub question_index: u32,
    #[schemars(extend("x-personal" = "free-text"))]
    pub result: Text,
    pub prediction_held: PredictionHeld,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub learned: Text,
}

/// The Study of a PDSA cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Study {
    /// One result per question of the plan.
    pub results: Vec<QuestionResult>,
    #[schemars(extend("x-personal" = "free-text"))]
    pub summary: Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActDecision {
    Adopt,
    Adapt,
    Abandon,
}

/// The Act of a PDSA cycle: what the team decided, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Act {
    pub decision: ActDecision,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
    /// What the next cycle will change.
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub next_cycle: Text,
    pub decided_on: NaiveDate,
}

/// The phase a PDSA cycle is in. Phases only move forward.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum CyclePhase {
    Planned,
    Doing,
    Studying,
    Acted,
    Abandoned,
}

/// A correction of a closed cycle: the section as it should have read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", tag = "section", content = "corrected")]
pub enum Correction {
    Plan(Plan),
    Do(Do),
    Study(Study),
    Act(Act),
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EvidenceKind {
    Cycle,
    Measure,
    Synthesis,
    Document,
}

/// A piece of evidence a self-assessment cites: something the ledger holds (a cycle, a measure,
/// a synthesis, by id) or a document outside it (by reference).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Evidence {
    pub kind: EvidenceKind,
    /// The cycle, measure or synthesis id (kinds other than `document`).
    #[serde(default)]
    pub id: Option<Uuid>,
    /// A title or address (kind `document`).
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reference: Option<Title>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub note: Text,
}

// ---------------------------------------------------------------------------------------------
// network-… streams
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkChartered {
    pub network_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub name: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub purpose: Text,
}

/// How the network reads its charts: how many days after a period ends every program is expected
/// to have reported it (until then a network-wide point is provisional), and the rule set of its
/// control charts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChartSettingsChanged {
    #[schemars(range(min = 1, max = 366))]
    pub reporting_deadline_days: u32,
    pub control_rules: ControlRuleSet,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// Past it, a withdrawn program's personal text is erased (`PersonalDataErased`, basis
/// `retention`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionSet {
    pub network_id: Uuid,
    /// Days after a program withdraws that its personal text is kept; none: kept until erased by
    /// hand.
    #[serde(default)]
    #[schemars(range(min = 1, max = 36_500))]
    pub withdrawn_program_text_days: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AimStated {
    pub aim: Aim,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AimRevised {
    pub aim: Aim,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EcosystemAdded {
    pub ecosystem_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub name: Title,
    #[schemars(extend("x-personal" = "none"))]
    pub region: Title,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DriverAdded {
    pub node_id: Uuid,
    pub kind: DriverKind,
    #[schemars(extend("x-personal" = "none"))]
    pub title: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub definition: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIdeaProposed {
    pub node_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub title: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub definition: Text,
    /// The member program that proposed it; none when the hub did.
    #[serde(default)]
    pub proposed_by_program: Option<Uuid>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub rationale: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIdeaAccepted {
    pub node_id: Uuid,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub note: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIdeaDeclined {
    pub node_id: Uuid,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeIdeaStageChanged {
    pub node_id: Uuid,
    pub from: ChangeIdeaStage,
    pub to: ChangeIdeaStage,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeReworded {
    pub node_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub title: Title,
    #[schemars(extend("x-personal" = "none"))]
    pub definition: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// `from` serves `to`: a change idea serves a secondary (or primary) driver, a secondary driver
/// serves a primary driver. Linking an already linked pair with another strength changes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodesLinked {
    pub from: Uuid,
    pub to: Uuid,
    pub strength: LinkStrength,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodesUnlinked {
    pub from: Uuid,
    pub to: Uuid,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NodeRetired {
    pub node_id: Uuid,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardDefined {
    pub standard_id: Uuid,
    /// The network's short code, e.g. "S3".
    #[schemars(extend("x-personal" = "none"))]
    pub code: Title,
    #[schemars(extend("x-personal" = "none"))]
    pub title: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub description: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootCauseRecorded {
    pub cause_id: Uuid,
    /// The fishbone category, e.g. "Recruitment", "Program design", "Family and community".
    #[schemars(extend("x-personal" = "none"))]
    pub category: Title,
    #[schemars(extend("x-personal" = "none"))]
    pub cause: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub description: Text,
}

// ---------------------------------------------------------------------------------------------
// program-… streams
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramEnrolled {
    pub program_id: Uuid,
    pub network_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub name: Title,
    pub ecosystem_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub region: Title,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramWithdrawn {
    pub program_id: Uuid,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StandardSelfAssessed {
    pub assessment_id: Uuid,
    pub program_id: Uuid,
    pub standard_id: Uuid,
    /// 1 (not yet) to 4 (exemplary).
    #[schemars(range(min = 1, max = 4))]
    pub rating: u8,
    pub assessed_on: NaiveDate,
    #[serde(default)]
    pub evidence: Vec<Evidence>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub note: Text,
}

// ---------------------------------------------------------------------------------------------
// measure-… streams
// ---------------------------------------------------------------------------------------------

/// A measure's operational definition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MeasureDefined {
    pub measure_id: Uuid,
    pub network_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub name: Title,
    pub kind: MeasureKind,
    /// What is counted, in words.
    #[schemars(extend("x-personal" = "none"))]
    pub description: Text,
    pub scale: MeasureScale,
    /// What the numbers are (absent in events written before it existed: then nothing more than
    /// the scale is known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<DataType>,
    /// What the numerator counts (scale `ratio`).
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub numerator: Option<Text>,
    /// What the denominator counts (scale `ratio`).
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub denominator: Option<Text>,
    /// e.g. "percent", "students", "days".
    #[schemars(extend("x-personal" = "none"))]
    pub unit: Title,
    pub period: PeriodKind,
    pub direction: Direction,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub inclusions: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub exclusions: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub data_source: Text,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub collected_by: Text,
    /// Driver-diagram nodes this measure tracks.
    #[serde(default)]
    pub tracks: Vec<Uuid>,
}

/// One program's value for one period (schema version 2: a ratio's numerator and denominator, or
/// a value; version 1 carried only a value, named `amount`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointRecorded {
    pub point_id: Uuid,
    pub program_id: Uuid,
    /// The period label, in the measure's period kind.
    #[schemars(extend("x-personal" = "none"))]
    pub period: Period,
    #[serde(default)]
    pub numerator: Option<f64>,
    #[serde(default)]
    pub denominator: Option<f64>,
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub note: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointCorrected {
    pub point_id: Uuid,
    #[serde(default)]
    pub numerator: Option<f64>,
    #[serde(default)]
    pub denominator: Option<f64>,
    #[serde(default)]
    pub value: Option<f64>,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DataPointExcluded {
    pub point_id: Uuid,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// Freezes the run chart's median on the first `points` periods of each series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BaselineFrozen {
    pub points: u32,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// The measure's control chart is drawn as `chart` instead of the one its data type calls for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ControlChartChosen {
    pub chart: ControlChartKind,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// From `from_period` on, the run chart starts a new phase: its median and signals are computed
/// afresh, after a deliberate change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseStarted {
    #[schemars(extend("x-personal" = "none"))]
    pub from_period: Period,
    #[schemars(extend("x-personal" = "none"))]
    pub label: Title,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

// ---------------------------------------------------------------------------------------------
// pdsa-… streams
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaCyclePlanned {
    pub cycle_id: Uuid,
    pub network_id: Uuid,
    pub program_id: Uuid,
    /// The change ideas this cycle tests (at least one).
    #[schemars(length(min = 1))]
    pub change_idea_ids: Vec<Uuid>,
    /// The drivers it should move.
    #[serde(default)]
    pub driver_ids: Vec<Uuid>,
    /// The cycle this one builds on, in the same ramp; none for a ramp's first cycle.
    #[serde(default)]
    pub previous_cycle_id: Option<Uuid>,
    /// The cycle of the network (usually another program's) whose plan this one started from,
    /// cited as its origin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapted_from_cycle_id: Option<Uuid>,
    /// The id of the ramp's first cycle.
    pub ramp_id: Uuid,
    /// 1 for a ramp's first cycle, then one more than the previous cycle.
    pub cycle_number: u32,
    #[schemars(extend("x-personal" = "free-text"))]
    pub title: Title,
    pub purpose: CyclePurpose,
    /// e.g. "one mentor, one student, one day".
    #[schemars(extend("x-personal" = "free-text"))]
    pub scale: Title,
    pub planned_start: NaiveDate,
    pub planned_end: NaiveDate,
    pub plan: Plan,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaCycleStarted {
    pub cycle_id: Uuid,
    pub started_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaDoRecorded {
    pub cycle_id: Uuid,
    #[serde(rename = "do")]
    pub done: Do,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaStudyRecorded {
    pub cycle_id: Uuid,
    pub study: Study,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaActDecided {
    pub cycle_id: Uuid,
    pub act: Act,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaCycleAbandoned {
    pub cycle_id: Uuid,
    /// The phase the cycle was in when it was abandoned.
    pub in_phase: CyclePhase,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

/// A closed cycle (acted or abandoned) is never edited: this event says what was wrong and how the
/// section should read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PdsaCycleCorrected {
    pub cycle_id: Uuid,
    pub correction: Correction,
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

// ---------------------------------------------------------------------------------------------
// synthesis-… streams
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LearningSynthesized {
    pub synthesis_id: Uuid,
    pub network_id: Uuid,
    #[schemars(extend("x-personal" = "none"))]
    pub title: Title,
    /// What the network now believes.
    #[schemars(extend("x-personal" = "free-text"))]
    pub statement: Text,
    /// What it recommends.
    #[schemars(extend("x-personal" = "free-text"))]
    pub recommendation: Text,
    #[serde(default)]
    pub cycle_ids: Vec<Uuid>,
    #[serde(default)]
    pub measure_ids: Vec<Uuid>,
    /// Driver-diagram nodes (drivers and change ideas) the learning is about.
    #[serde(default)]
    pub node_ids: Vec<Uuid>,
}

// ---------------------------------------------------------------------------------------------
// token-… streams
// ---------------------------------------------------------------------------------------------

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything: the network hub.
    Admin,
    /// Writes for the programs it is granted; reads its network.
    Facilitator,
    /// Reads everything: replay, export, rebuild.
    ImprovementScientist,
    /// Projections and live streams only: dashboards.
    Viewer,
    /// Its programs' admissions statements only: admissions offices.
    Admissions,
}

/// An access token is issued. The token itself is shown once to whoever created it; the log keeps
/// only its SHA-256.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenIssued {
    pub token_id: Uuid,
    /// A name people recognise, unique among live tokens, e.g. "ana-lab-explorers".
    #[schemars(extend("x-personal" = "name"))]
    pub name: Title,
    pub role: Role,
    /// The programs a facilitator may write for.
    #[serde(default)]
    pub programs: Vec<Uuid>,
    /// SHA-256 of the token, lowercase hex.
    #[schemars(extend("x-personal" = "none"))]
    pub token_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRevoked {
    pub token_id: Uuid,
    #[serde(default)]
    #[schemars(extend("x-personal" = "free-text"))]
    pub reason: Text,
}

// ---------------------------------------------------------------------------------------------
// privacy-… streams
// ---------------------------------------------------------------------------------------------

/// Whose or which personal data an erasure makes unreadable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ErasureSubject {
    /// A token holder's name and everything the token wrote.
    Person { token_id: Uuid },
    /// Every personal text of the program that names someone; the name itself is never recorded.
    NamedInProgram { program_id: Uuid },
    /// One field of one event.
    Field {
        event_id: Uuid,
        /// A JSON pointer into the event's data, e.g. `/study/summary`.
        #[schemars(extend("x-personal" = "none"))]
        field: String,
    },
    /// The personal text of a program withdrawn longer than the network keeps it.
    WithdrawnProgram { program_id: Uuid },
}

/// Why personal data is erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErasureBasis {
    /// Asked by or for the person.
    Request,
    /// Written by mistake.
    Mistake,
    /// The network's retention period passed.
    Retention,
    /// A data-sharing agreement ended.
    Agreement,
}

/// The sealed fields those keys opened read as erased from then on; the events themselves are never
/// edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalDataErased {
    pub erasure_id: Uuid,
    pub subject: ErasureSubject,
    pub basis: ErasureBasis,
    /// A ticket or letter number; never the person's name.
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub reference: Option<Title>,
    /// The keys destroyed (at most `ERASURE_KEYS_PER_EVENT_MAX`).
    #[schemars(length(max = ERASURE_KEYS_PER_EVENT_MAX))]
    pub keys: Vec<Uuid>,
    /// How many fields became unreadable.
    pub fields: u32,
    /// How many events held them.
    pub events: u32,
}

/// Readers show `replacement` in the field's place; the event itself is never edited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalFieldRedacted {
    pub erasure_id: Uuid,
    /// The event whose field is replaced.
    pub event_id: Uuid,
    /// Its stream.
    #[schemars(extend("x-personal" = "none"))]
    pub stream_id: String,
    /// A JSON pointer into the event's data, e.g. `/do/what_happened`.
    #[schemars(extend("x-personal" = "none"))]
    pub field: String,
    /// What the field reads as from now on.
    #[schemars(extend("x-personal" = "free-text"))]
    pub replacement: Text,
    /// The keys destroyed with the original (at most `ERASURE_KEYS_PER_EVENT_MAX`).
    #[schemars(length(max = ERASURE_KEYS_PER_EVENT_MAX))]
    pub keys: Vec<Uuid>,
}

/// Whoever holds the file (a backup, a move to another server) can open what was sealed until
/// then, erased or not: the log says when one left.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonalKeysExported {
    pub export_id: Uuid,
    /// How many keys the file holds.
    pub keys: u32,
    #[serde(default)]
    #[schemars(extend("x-personal" = "none"))]
    pub reason: Option<Title>,
}

// ---------------------------------------------------------------------------------------------
// The catalog
// ---------------------------------------------------------------------------------------------

/// Declares `NicEvent` and its metadata table from one list: variant, payload, stream category,
/// current schema version and meaning.
macro_rules! catalog {
    ($( $variant:ident => $category:literal, $version:literal, $meaning:literal; )*) => {
        /// Every event of the catalog, at its current schema version.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type", content = "data")]
        pub enum NicEvent {
            $( $variant($variant), )*
        }

        /// One row of the catalog.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct EventInfo {
            pub event_type: &'static str,
            /// The stream category its events are appended to.
            pub category: &'static str,
            /// The current schema version.
            pub schema_version: u32,
            pub meaning: &'static str,
        }

        /// Every event type, in catalog order.
        pub const CATALOG: &[EventInfo] = &[
            $( EventInfo {
                event_type: stringify!($variant),
                category: $category,
                schema_version: $version,
                meaning: $meaning,
            }, )*
        ];

        impl NicEvent {
            pub fn event_type(&self) -> &'static str {
                match self { $( Self::$variant(_) => stringify!($variant), )* }
            }

            /// The JSON Schema of every event type at its current version, by type name.
            pub fn current_schemas() -> Vec<(&'static str, u32, schemars::Schema)> {
                let settings = schemars::generate::SchemaSettings::draft2020_12();
                vec![ $( (
                    stringify!($variant),
                    $version,
                    settings.clone().into_generator().into_root_schema_for::<$variant>(),
                ), )* ]
            }

            /// Reads the data of an event of type `event_type` at its current schema version
            /// straight into its payload type; None for a type the catalog does not hold.
            fn from_current(event_type: &str, data: &str) -> Option<serde_json::Result<Self>> {
                match event_type {
                    $( stringify!($variant) => {
                        Some(serde_json::from_str::<$variant>(data).map(Self::$variant))
                    } )*
                    _ => None,
                }
            }
        }
    };
}

catalog! {
    NetworkChartered => "network", 1, "A network is chartered with a name and a purpose.";
    AimStated => "network", 1, "The network states its aim: what, for whom, by how much, by when.";
    AimRevised => "network", 1, "The network revises its aim, with the reason.";
    EcosystemAdded => "network", 1, "A regional STEM learning ecosystem joins the network.";
    DriverAdded => "network", 1, "A primary or secondary driver is added to the driver diagram.";
    ChangeIdeaProposed => "network", 1, "A change idea is proposed, by a member program or the hub.";
    ChangeIdeaAccepted => "network", 1, "The hub accepts a proposed change idea into the driver diagram.";
    ChangeIdeaDeclined => "network", 1, "The hub declines a proposed change idea, with the reason.";
    ChangeIdeaStageChanged => "network", 1, "An accepted change idea moves to another stage.";
    NodeReworded => "network", 1, "A driver or change idea gets a new title or definition.";
    NodesLinked => "network", 1, "A node is linked to a node it serves, strongly or weakly.";
    NodesUnlinked => "network", 1, "A link between two nodes is removed.";
    NodeRetired => "network", 1, "A driver or change idea is retired from the diagram (kept on record).";
    StandardDefined => "network", 1, "The network defines a quality standard.";
    RootCauseRecorded => "network", 1, "A cause of the network's problem is recorded in the fishbone.";
    ChartSettingsChanged => "network", 1, "The network sets its reporting deadline and its control-chart rules.";
    RetentionSet => "network", 1, "The network sets how long a withdrawn program's personal text is kept.";
    ProgramEnrolled => "program", 1, "A program (PCSP) enrols in the network, in an ecosystem.";
    ProgramWithdrawn => "program", 1, "A program withdraws from the network.";
    StandardSelfAssessed => "program", 1, "A program rates itself against a quality standard, citing evidence.";
    MeasureDefined => "measure", 1, "A measure is defined: its kind and operational definition.";
    DataPointRecorded => "measure", 2, "A program's value of a measure for one period.";
    DataPointCorrected => "measure", 1, "A recorded data point is corrected, with the reason.";
    DataPointExcluded => "measure", 1, "A data point is excluded from run charts, with the reason.";
    BaselineFrozen => "measure", 1, "The run chart's median is frozen on the first points.";
    PhaseStarted => "measure", 1, "The run chart starts a new phase after a deliberate change.";
    ControlChartChosen => "measure", 1, "The measure's control chart is drawn as another type than its data type's.";
    PdsaCyclePlanned => "pdsa", 1, "A program plans a PDSA cycle testing change ideas.";
    PdsaCycleStarted => "pdsa", 1, "The test begins (Do).";
    PdsaDoRecorded => "pdsa", 1, "What happened when the test was carried out.";
    PdsaStudyRecorded => "pdsa", 1, "Results against predictions, per question, and what was learned.";
    PdsaActDecided => "pdsa", 1, "The team adopts, adapts or abandons the change; the cycle closes.";
    PdsaCycleAbandoned => "pdsa", 1, "The cycle is stopped before it was acted on; it closes.";
    PdsaCycleCorrected => "pdsa", 1, "A closed cycle's section is corrected, saying what was wrong.";
    LearningSynthesized => "synthesis", 1, "The network synthesizes what it has learned across programs.";
    TokenIssued => "token", 1, "An access token is issued to a person or a dashboard (its hash only).";
    TokenRevoked => "token", 1, "An access token is revoked; it opens nothing from then on.";
    PersonalDataErased => "privacy", 1, "Personal data is erased: the keys that open it are destroyed.";
    PersonalFieldRedacted => "privacy", 1, "A field written by mistake is replaced; the original becomes unreadable.";
    PersonalKeysExported => "privacy", 1, "An admin exports the key file of personal data, on purpose.";
}

/// Every stream category of the catalog. `token` holds the access tokens' records, which only
/// admins may read.
pub const CATEGORIES: [&str; 7] = [
    "network",
    "program",
    "measure",
    "pdsa",
    "synthesis",
    "token",
    "privacy",
];

/// Why a stored event could not be read as a catalog event.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type} has no schema version {version}")]
    UnknownVersion { event_type: String, version: u32 },
    #[error("{event_type} v{version} does not match its schema: {source}")]
    Shape {
        event_type: String,
        version: u32,
        source: serde_json::Error,
    },
    /// A catalog event's stream is its entity's, `category-<uuid>`.
    #[error("stream {0:?} names no entity: a catalog event's stream is category-<uuid>")]
    NoEntity(String),
}

impl NicEvent {
    pub fn info(&self) -> &'static EventInfo {
        info(self.event_type()).expect("every variant is in the catalog")
    }

    /// The stream category this event belongs to.
    pub fn category(&self) -> &'static str {
        self.info().category
    }

    pub fn schema_version(&self) -> u32 {
        self.info().schema_version
    }

    /// The day what this event records happened in the world, when its data say it: a cycle's
    /// start, completion and decision, the last day of a data point's period, a self-assessment's
    /// date. A cycle's plan is dated by its planned start, for a plan recorded after it (a plan
    /// recorded before its start happened when it was recorded). For every other event the day
    /// is its metadata's `occurred_on`, or the day it was recorded.
    pub fn occurred_on(&self) -> Option<NaiveDate> {
        match self {
            NicEvent::PdsaCyclePlanned(e) => Some(e.planned_start),
            NicEvent::PdsaCycleStarted(e) => Some(e.started_on),
            NicEvent::PdsaDoRecorded(e) => Some(e.done.completed_on),
            NicEvent::PdsaActDecided(e) => Some(e.act.decided_on),
            NicEvent::DataPointRecorded(e) => Some(e.period.end()),
            NicEvent::StandardSelfAssessed(e) => Some(e.assessed_on),
            _ => None,
        }
    }

    /// The payload as JSON (the event's `data`).
    pub fn data(&self) -> serde_json::Value {
        let mut tagged = serde_json::to_value(self).expect("catalog events serialise");
        tagged
            .get_mut("data")
            .map(serde_json::Value::take)
            .expect("every catalog event has data")
    }

    /// Builds the event an append stores.
    pub fn to_new_event(&self, metadata: &crate::Metadata) -> crate::NewEvent {
        crate::NewEvent::new(
            self.event_type(),
            self.schema_version(),
            &self.data(),
            metadata,
        )
        .expect("catalog events serialise")
    }

    /// Reads a stored event's type, schema version and data as the current shape, upgrading older
    /// versions first.
    pub fn from_stored(event_type: &str, version: u32, data: &str) -> Result<Self, CatalogError> {
        let info = info(event_type).ok_or_else(|| CatalogError::UnknownType(event_type.into()))?;
        let shape = |source| CatalogError::Shape {
            event_type: event_type.into(),
            version,
            source,
        };
        if version == info.schema_version {
            return Self::from_current(event_type, data)
                .expect("a catalog type")
                .map_err(shape);
        }
        let value: serde_json::Value = serde_json::from_str(data).map_err(shape)?;
        let value = upcast::to_current(info, version, value)?;
        serde_json::from_value(serde_json::json!({ "type": event_type, "data": value }))
            .map_err(shape)
    }

    /// Reads a recorded event as a catalog event.
    pub fn from_recorded(e: &crate::RecordedEvent) -> Result<Self, CatalogError> {
        Self::from_stored(&e.event_type, e.schema_version, e.data.get())
    }
}

/// The catalog row of an event type.
pub fn info(event_type: &str) -> Option<&'static EventInfo> {
    CATALOG.iter().find(|i| i.event_type == event_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_is_named_once_and_in_a_known_category() {
        let mut names: Vec<_> = CATALOG.iter().map(|i| i.event_type).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CATALOG.len());
        for i in CATALOG {
            assert!(CATEGORIES.contains(&i.category), "{}", i.event_type);
            assert!(i.schema_version >= 1);
        }
        assert_eq!(NicEvent::current_schemas().len(), CATALOG.len());
        for c in CATEGORIES {
            assert!(
                CATALOG.iter().any(|i| i.category == c),
                "{c} holds no event"
            );
        }
    }

    #[test]
    fn unknown_types_and_versions_are_refused() {
        assert!(matches!(
            NicEvent::from_stored("Nope", 1, "{}"),
            Err(CatalogError::UnknownType(_))
        ));
        assert!(matches!(
            NicEvent::from_stored("NodeRetired", 9, "{}"),
            Err(CatalogError::UnknownVersion { .. })
        ));
        assert!(matches!(
            NicEvent::from_stored("NodeRetired", 1, r#"{"node_id": 3}"#),
            Err(CatalogError::Shape { .. })
        ));
    }
}
