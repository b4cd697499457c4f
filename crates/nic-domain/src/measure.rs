//! A measure: its operational definition, the data points programs record per period, their
//! corrections and exclusions (each with a reason, never an overwrite), and the run-chart settings
//! (a frozen baseline, phases), in one `measure-…` stream.

use std::collections::BTreeMap;

use nic_events::catalog::*;
use nic_events::{NicEvent, Text, Title};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Checks, Decision, DomainError};
use crate::limits::{BASELINE_POINTS_MAX, BASELINE_POINTS_MIN};
use crate::network::{reason_given, NetworkState};
use crate::program::ProgramState;

#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct DataPoint {
    pub point_id: Uuid,
    pub program_id: Uuid,
    pub period: Period,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    pub note: Text,
    /// How many times it was corrected (the log holds each correction and its reason).
    pub corrections: u32,
    /// Why it is excluded from run charts, once it is.
    pub excluded: Option<Text>,
}

impl DataPoint {
    /// The plotted value: numerator / denominator for a ratio, else the value.
    pub fn plotted(&self, scale: MeasureScale) -> Option<f64> {
        match scale {
            MeasureScale::Ratio => match (self.numerator, self.denominator) {
                (Some(n), Some(d)) if d > 0.0 => Some(n / d),
                _ => None,
            },
            MeasureScale::Value => self.value,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
pub struct MeasureState {
    pub id: Uuid,
    pub definition: Option<MeasureDefined>,
    pub points: BTreeMap<Uuid, DataPoint>,
    pub baseline_points: Option<u32>,
    pub phases: Vec<PhaseStarted>,
    /// The control chart chosen instead of the data type's, once one is.
    pub control_chart: Option<ControlChartKind>,
}

impl MeasureState {
    pub fn new(id: Uuid) -> Self {
        Self {
            id,
            ..Self::default()
        }
    }

    pub fn apply(&mut self, event: &NicEvent) {
        match event {
            NicEvent::MeasureDefined(e) => self.definition = Some(e.clone()),
            NicEvent::DataPointRecorded(e) => {
                self.points.insert(
                    e.point_id,
                    DataPoint {
                        point_id: e.point_id,
                        program_id: e.program_id,
                        period: e.period,
                        numerator: e.numerator,
                        denominator: e.denominator,
                        value: e.value,
                        note: e.note.clone(),
                        corrections: 0,
                        excluded: None,
                    },
                );
            }
            NicEvent::DataPointCorrected(e) => {
                if let Some(p) = self.points.get_mut(&e.point_id) {
                    p.numerator = e.numerator;
                    p.denominator = e.denominator;
                    p.value = e.value;
                    p.corrections += 1;
                }
            }
            NicEvent::DataPointExcluded(e) => {
                if let Some(p) = self.points.get_mut(&e.point_id) {
                    p.excluded = Some(e.reason.clone());
                }
            }
            NicEvent::BaselineFrozen(e) => self.baseline_points = Some(e.points),
            NicEvent::PhaseStarted(e) => self.phases.push(e.clone()),
            NicEvent::ControlChartChosen(e) => self.control_chart = Some(e.chart),
            _ => {}
        }
    }

    /// The definition of the measure addressed by a command's path.
    pub fn require(&self) -> Result<&MeasureDefined, DomainError> {
        self.definition.as_ref().ok_or(DomainError::NotFound {
            kind: "measure",
            id: self.id,
        })
    }

    fn target_point(&self, point_id: Uuid) -> Result<&DataPoint, DomainError> {
        self.require()?;
        self.points.get(&point_id).ok_or(DomainError::NotFound {
            kind: "data point",
            id: point_id,
        })
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DefineMeasure {
    pub name: Title,
    pub kind: MeasureKind,
    pub description: Text,
    pub scale: MeasureScale,
    /// What the numbers are; absent: a proportion (scale `ratio`) or a measurement (`value`).
    #[serde(default)]
    pub data_type: Option<DataType>,
    #[serde(default)]
    pub numerator: Option<Text>,
    #[serde(default)]
    pub denominator: Option<Text>,
    pub unit: Title,
    pub period: PeriodKind,
    pub direction: Direction,
    #[serde(default)]
    pub target: Option<f64>,
    #[serde(default)]
    pub inclusions: Text,
    #[serde(default)]
    pub exclusions: Text,
    #[serde(default)]
    pub data_source: Text,
    #[serde(default)]
    pub collected_by: Text,
    /// Driver-diagram nodes this measure tracks.
    #[serde(default)]
    pub tracks: Vec<Uuid>,
}

pub fn define(network: &NetworkState, measure: &MeasureState, cmd: DefineMeasure) -> Decision {
    if !network.exists {
        return Err(DomainError::NotFound {
            kind: "network",
            id: network.id,
        });
    }
    if measure.definition.is_some() {
        return Err(DomainError::transition("the measure is already defined"));
    }
    let mut c = Checks::new();
    let ratio = cmd.scale == MeasureScale::Ratio;
    let said = |t: &Option<Text>| t.as_ref().is_some_and(|t| !t.is_blank());
    c.check(
        !ratio || said(&cmd.numerator),
        "numerator",
        "a ratio measure says what its numerator counts",
    );
    c.check(
        !ratio || said(&cmd.denominator),
        "denominator",
        "a ratio measure says what its denominator counts",
    );
    c.check(
        ratio || (cmd.numerator.is_none() && cmd.denominator.is_none()),
        "scale",
        "a value measure has no numerator or denominator",
    );
    let data_type = cmd
        .data_type
        .unwrap_or_else(|| DataType::default_for(cmd.scale));
    c.check(
        data_type.scale() == cmd.scale,
        "data_type",
        "a proportion or a rate has scale ratio; a count, a percentage or a measurement has \
         scale value",
    );
    c.check(
        !cmd.description.is_blank(),
        "description",
        "must say what is counted",
    );
    c.finite(cmd.target, "target");
    c.list(&cmd.tracks, "tracks");
    c.done()?;
    for (i, node) in cmd.tracks.iter().enumerate() {
        network.live_node(&format!("tracks[{i}]"), *node)?;
    }
    Ok(vec![NicEvent::MeasureDefined(MeasureDefined {
        measure_id: measure.id,
        network_id: network.id,
        name: cmd.name,
        kind: cmd.kind,
        description: cmd.description,
        scale: cmd.scale,
        data_type: Some(data_type),
        numerator: cmd.numerator,
        denominator: cmd.denominator,
        unit: cmd.unit,
        period: cmd.period,
        direction: cmd.direction,
        target: cmd.target,
        inclusions: cmd.inclusions,
        exclusions: cmd.exclusions,
        data_source: cmd.data_source,
        collected_by: cmd.collected_by,
        tracks: cmd.tracks,
    })])
}

/// Refuses a period of another kind than the measure's; the message says how to write one.
fn of_kind(kind: PeriodKind, period: Period) -> Result<(), String> {
    if period.kind() == kind {
        return Ok(());
    }
    Err(format!(
        "{:?} is a {}, not a {} period; write {}",
        period.as_str(),
        period.kind().name(),
        kind.name(),
        kind.shape()
    ))
}

/// The numbers of a data point: numerator and denominator for a ratio measure, a value otherwise.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Numbers {
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
}

/// Refuses numbers the measure cannot hold: the scale's shape, and what its data type allows
/// (unknown for measures defined before data types existed: then only the scale is checked).
fn check_numbers(c: &mut Checks, def: &MeasureDefined, n: &Numbers) {
    let scale = def.scale;
    c.finite(n.numerator, "numerator");
    c.finite(n.denominator, "denominator");
    c.finite(n.value, "value");
    match (def.data_type, n.numerator, n.denominator, n.value) {
        (Some(DataType::Proportion), Some(num), Some(den), _)
            if (num + den).is_finite() && den > 0.0 =>
        {
            c.check(
                num <= den,
                "numerator",
                format!(
                    "{num} is above the denominator {den}: a proportion's numerator counts part \
                     of its denominator (a measure of events per unit, which may pass it, is a \
                     rate)"
                ),
            )
        }
        (Some(DataType::Count), _, _, Some(v)) if v.is_finite() => c.check(
            v >= 0.0 && v.fract() == 0.0,
            "value",
            format!("{v} is not a count: a count is a whole number of 0 or more"),
        ),
        (Some(DataType::Percentage), _, _, Some(v)) if v.is_finite() => c.check(
            (0.0..=100.0).contains(&v),
            "value",
            format!("{v} is not a percentage: a percentage is from 0 to 100"),
        ),
        _ => {}
    }
    match scale {
        MeasureScale::Ratio => {
            c.check(
                n.value.is_none(),
                "value",
                "a ratio measure records a numerator and a denominator, not a value",
            );
            c.check(
                n.numerator.is_some_and(|v| v >= 0.0),
                "numerator",
                "a ratio measure records a numerator of 0 or more",
            );
            c.check(
                n.denominator.is_some_and(|v| v > 0.0),
                "denominator",
                "a ratio measure records a denominator above 0",
            );
        }
        MeasureScale::Value => {
            c.check(
                n.numerator.is_none() && n.denominator.is_none(),
                "numerator",
                "a value measure records a value, not a numerator and denominator",
            );
            c.check(
                n.value.is_some(),
                "value",
                "a value measure records a value",
            );
        }
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecordDataPoint {
    pub program_id: Uuid,
    /// The period label, in the measure's period kind (e.g. `2025-03` for a monthly measure).
    pub period: Period,
    /// Ratio measures: the numerator and the denominator.
    #[serde(default)]
    pub numerator: Option<f64>,
    #[serde(default)]
    pub denominator: Option<f64>,
    /// Value measures: the value.
    #[serde(default)]
    pub value: Option<f64>,
    #[serde(default)]
    pub note: Text,
}

/// `program` is the state of `cmd.program_id`.
pub fn record_point(
    measure: &MeasureState,
    program: Option<&ProgramState>,
    point_id: Uuid,
    cmd: RecordDataPoint,
) -> Decision {
    let def = measure.require()?;
    if measure.points.contains_key(&point_id) {
        // Recording it again would overwrite the point, its corrections and its exclusion.
        return Err(DomainError::transition(format!(
            "data point {point_id} exists: a new point takes a new id"
        )));
    }
    crate::program::enrolled_in(program, def.network_id, "program_id", cmd.program_id)?;
    let mut c = Checks::new();
    if let Err(e) = of_kind(def.period, cmd.period) {
        c.check(false, "period", e);
    }
    let numbers = Numbers {
        numerator: cmd.numerator,
        denominator: cmd.denominator,
        value: cmd.value,
    };
    check_numbers(&mut c, def, &numbers);
    c.done()?;
    if let Some(p) = measure
        .points
        .values()
        .find(|p| p.program_id == cmd.program_id && p.period == cmd.period)
    {
        return Err(DomainError::transition(format!(
            "this program already recorded {} for {} (point {}): correct that point instead",
            def.name, cmd.period, p.point_id
        )));
    }
    Ok(vec![NicEvent::DataPointRecorded(DataPointRecorded {
        point_id,
        program_id: cmd.program_id,
        period: cmd.period,
        numerator: cmd.numerator,
        denominator: cmd.denominator,
        value: cmd.value,
        note: cmd.note,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectDataPoint {
    #[serde(default)]
    pub numerator: Option<f64>,
    #[serde(default)]
    pub denominator: Option<f64>,
    #[serde(default)]
    pub value: Option<f64>,
    pub reason: Text,
}

pub fn correct_point(measure: &MeasureState, point_id: Uuid, cmd: CorrectDataPoint) -> Decision {
    let point = measure.target_point(point_id)?;
    let def = measure.require()?;
    let mut c = Checks::new();
    let n = Numbers {
        numerator: cmd.numerator,
        denominator: cmd.denominator,
        value: cmd.value,
    };
    check_numbers(&mut c, def, &n);
    c.check(!cmd.reason.is_blank(), "reason", "must say what was wrong");
    c.done()?;
    if (n.numerator, n.denominator, n.value) == (point.numerator, point.denominator, point.value) {
        return Err(DomainError::transition(
            "the point already holds these numbers",
        ));
    }
    Ok(vec![NicEvent::DataPointCorrected(DataPointCorrected {
        point_id,
        numerator: n.numerator,
        denominator: n.denominator,
        value: n.value,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExcludeDataPoint {
    pub reason: Text,
}

pub fn exclude_point(measure: &MeasureState, point_id: Uuid, cmd: ExcludeDataPoint) -> Decision {
    let point = measure.target_point(point_id)?;
    if point.excluded.is_some() {
        return Err(DomainError::transition("the point is already excluded"));
    }
    reason_given(&cmd.reason)?;
    Ok(vec![NicEvent::DataPointExcluded(DataPointExcluded {
        point_id,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeBaseline {
    /// The median is computed on the first this-many points of each series.
    pub points: u32,
    #[serde(default)]
    pub reason: Text,
}

pub fn freeze_baseline(measure: &MeasureState, cmd: FreezeBaseline) -> Decision {
    measure.require()?;
    let mut c = Checks::new();
    c.check(
        (BASELINE_POINTS_MIN..=BASELINE_POINTS_MAX).contains(&cmd.points),
        "points",
        format!(
            "is {}; a baseline spans {BASELINE_POINTS_MIN} to {BASELINE_POINTS_MAX} points",
            cmd.points
        ),
    );
    c.done()?;
    if measure.baseline_points == Some(cmd.points) {
        return Err(DomainError::transition("the baseline is already frozen so"));
    }
    Ok(vec![NicEvent::BaselineFrozen(BaselineFrozen {
        points: cmd.points,
        reason: cmd.reason,
    })])
}

/// Draw the measure's control chart as `chart` instead of the one its data type calls for (P′ or
/// U′ when subgroups are so large that P or U limits flag nearly every point, I for a ratio read
/// as plain values). P, P′, U and U′ need a ratio measure, C a value measure.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ChooseControlChart {
    pub chart: ControlChartKind,
    #[serde(default)]
    pub reason: Text,
}

pub fn choose_control_chart(measure: &MeasureState, cmd: ChooseControlChart) -> Decision {
    let def = measure.require()?;
    let mut c = Checks::new();
    c.check(
        cmd.chart.fits(def.scale),
        "chart",
        format!(
            "a {} chart does not read a measure of scale {}",
            serde_json::to_value(cmd.chart)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            serde_json::to_value(def.scale)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        ),
    );
    c.done()?;
    if measure.control_chart == Some(cmd.chart) {
        return Err(DomainError::transition("the control chart is already so"));
    }
    Ok(vec![NicEvent::ControlChartChosen(ControlChartChosen {
        chart: cmd.chart,
        reason: cmd.reason,
    })])
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StartPhase {
    /// The first period of the phase, in the measure's period kind.
    pub from_period: Period,
    pub label: Title,
    #[serde(default)]
    pub reason: Text,
}

pub fn start_phase(measure: &MeasureState, cmd: StartPhase) -> Decision {
    let def = measure.require()?;
    if let Err(e) = of_kind(def.period, cmd.from_period) {
        return Err(DomainError::invalid("from_period", e));
    }
    if measure
        .phases
        .iter()
        .any(|p| p.from_period == cmd.from_period)
    {
        return Err(DomainError::transition(format!(
            "a phase already starts at {}",
            cmd.from_period
        )));
    }
    Ok(vec![NicEvent::PhaseStarted(PhaseStarted {
        from_period: cmd.from_period,
        label: cmd.label,
        reason: cmd.reason,
    })])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: &str) -> Period {
        label.parse().unwrap()
    }

    #[test]
    fn a_period_of_another_kind_is_refused_naming_the_shape_wanted() {
        assert!(of_kind(PeriodKind::Month, p("2025-03")).is_ok());
        assert!(of_kind(PeriodKind::Week, p("2025-W09")).is_ok());
        assert!(of_kind(PeriodKind::Term, p("2025-T3")).is_ok());
        assert!(of_kind(PeriodKind::Month, p("2025-W03")).is_err());
        let e = of_kind(PeriodKind::Week, p("2025-03")).unwrap_err();
        assert!(e.contains("YYYY-Www, e.g. 2025-W09"), "{e}");
        assert!(e.contains("\"2025-03\" is a month"), "{e}");
        let e = of_kind(PeriodKind::Month, p("2025-T1")).unwrap_err();
        assert!(e.contains("YYYY-MM"), "{e}");
    }
}
