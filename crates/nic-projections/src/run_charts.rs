//! Run charts of every measure, per program and network-wide, folded from the log.
//!
//! - **Numbers**: each point carries its latest corrected numbers; an excluded point is kept and
//!   marked, with its reason, and takes no part in the median or the rules.
//! - **Network-wide series**: per period, the numerators of the programs' non-excluded points are
//!   summed and so are the denominators, and the plotted value is their ratio (never the average
//!   of the programs' percents, which would weigh a program of 5 students like one of 500). For a
//!   value measure (a count, a score, a duration) the values are summed: the network's count is
//!   the sum of the programs' counts. That is the right roll-up for counts; for a score or a
//!   duration read the per-program charts instead. A period whose every point is excluded is
//!   shown (with the excluded points' sums) and marked excluded.
//! - **Complete periods**: a network-wide point is *provisional* while some program due to report
//!   the period has not, and the reporting deadline (`REPORTING_DEADLINE_DAYS` after the period
//!   ends) has not passed. A program is due from the first period it reported the measure for;
//!   a withdrawn program is due no longer after its last reported period. A provisional point is
//!   shown, with how many programs reported, and left out of the median and the rules like an
//!   excluded one. The deadline is judged on the day the chart is read for (`chart`), and for the
//!   signals found as the log is folded, on the day of the latest event.
//! - **Changing programs**: a network point says how many programs became due in its period and
//!   how many stopped being due (withdrawn). A network count is a sum over the programs due: when
//!   that set changes, the sum changes with it, not because any program changed, and a shift
//!   there may be nothing but the new set. Ratios pool the programs' numerators and denominators,
//!   so a program joining moves them less, yet the mix still changes. The chart marks such
//!   periods; the per-program charts are the ones to read across them.
//! - **Analysis**: periods (`Period`) are sorted in time order, and the series goes through
//!   `run_chart::analyse` with the measure's frozen baseline (`BaselineFrozen`) and its phases
//!   (`PhaseStarted`: a phase starts at the first period at or after its `from_period`). The
//!   network-wide series is also kept as points arrive, one total per period, so that finding
//!   its signals after a data point costs its periods, not its points (`network_signal_starts`).
//! - **PDSA cycles on the chart**: a cycle whose plan names the measure (`plan.measure_ids`, as
//!   corrected) is placed in every period that overlaps its planned span
//!   (`planned_start..=planned_end`) or its actual span (`started_on..=completed_on`; a cycle not
//!   yet done runs at least to its planned end). A program's chart shows that program's cycles;
//!   the network's chart shows every program's.
//! - **CSV**: `to_csv` gives the numbers behind a chart, one row per program point (and, on a
//!   network chart, one total row per period), quoted per RFC 4180.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, NaiveDate, Utc};
use nic_events::catalog::*;
use nic_events::NicEvent;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::control_chart::{self, ChartType, ControlChart, ControlOptions, ControlRules, Subgroup};
use crate::names::Names;
use crate::run_chart::{self, Options, Point, Rule, RuleSet};
use crate::{is_new, Projection, Recorded};

/// The label of the points before a measure's first `PhaseStarted`.
pub const INITIAL_PHASE_LABEL: &str = "initial";
/// The `program` column of a network chart's total rows in the CSV export.
pub const NETWORK_ROW_LABEL: &str = "All programs";
/// The rule set control charts are judged by unless a reader asks for another: the Health Care
/// Data Guide's, the control-chart rules of the IHI tradition the run charts follow.
pub const DEFAULT_CONTROL_RULES: ControlRules = ControlRules::HealthCareDataGuide;

/// The control chart for a measure's numbers: P for proportions, U for rates, C for counts, I
/// (with its moving ranges) for percentages given as values and for measurements; for a measure
/// without a data type, P for a ratio and I for a value.
pub fn default_chart_type(scale: MeasureScale, data_type: Option<DataType>) -> ChartType {
    match (data_type, scale) {
        (Some(DataType::Proportion), _) => ChartType::P,
        (Some(DataType::Rate), _) => ChartType::U,
        (Some(DataType::Count), _) => ChartType::C,
        (Some(DataType::Percentage | DataType::Measurement), _) => ChartType::I,
        (None, MeasureScale::Ratio) => ChartType::P,
        (None, MeasureScale::Value) => ChartType::I,
    }
}

impl RunChartView {
    /// The view with its control chart drawn as `chart` and judged by `rules` (the view's own
    /// `chart_type` and `control_rules` where `None`).
    pub fn with_control(mut self, chart: Option<ChartType>, rules: Option<ControlRules>) -> Self {
        self.control = control_of(
            &self,
            chart.unwrap_or(self.chart_type),
            rules.unwrap_or(self.control_rules),
        );
        self
    }
}

impl From<ControlChartKind> for ChartType {
    fn from(kind: ControlChartKind) -> Self {
        match kind {
            ControlChartKind::P => Self::P,
            ControlChartKind::PPrime => Self::PPrime,
            ControlChartKind::U => Self::U,
            ControlChartKind::UPrime => Self::UPrime,
            ControlChartKind::C => Self::C,
            ControlChartKind::I => Self::I,
        }
    }
}

impl From<ControlRuleSet> for ControlRules {
    fn from(rules: ControlRuleSet) -> Self {
        match rules {
            ControlRuleSet::HealthCareDataGuide => Self::HealthCareDataGuide,
            ControlRuleSet::MakingDataCount => Self::MakingDataCount,
            ControlRuleSet::Shewhart => Self::Shewhart,
        }
    }
}

/// The control chart of a view's points: ratio charts (P, U and Laney's) from the summed
/// numerators and denominators, the others from the plotted values.
fn control_of(view: &RunChartView, chart: ChartType, rules: ControlRules) -> Option<ControlChart> {
    if view.points.is_empty() {
        return None;
    }
    let by_ratio = matches!(
        chart,
        ChartType::P | ChartType::PPrime | ChartType::U | ChartType::UPrime
    );
    let subgroups: Vec<Subgroup> = view
        .points
        .iter()
        .map(|p| Subgroup {
            value: if by_ratio {
                p.numerator.unwrap_or(f64::NAN)
            } else {
                p.plotted.unwrap_or(f64::NAN)
            },
            size: if by_ratio { p.denominator } else { None },
            excluded: p.excluded || p.provisional,
        })
        .collect();
    let options = ControlOptions {
        chart,
        rules,
        phases: view
            .phases
            .iter()
            .skip(1)
            .map(|ph| ph.analysis.start)
            .collect(),
        baseline: view.baseline_points.map(|k| k as usize),
        direction: match view.direction {
            Direction::Up => control_chart::Direction::HigherIsBetter,
            Direction::Down => control_chart::Direction::LowerIsBetter,
        },
        target: view.target,
        ..ControlOptions::default()
    };
    Some(control_chart::analyse(&subgroups, &options))
}

/// Days after a period ends by which every program is expected to have reported it, until the
/// network sets its own (`ChartSettingsChanged`): from then on the network-wide point is complete
/// with the programs that did.
pub const REPORTING_DEADLINE_DAYS: u64 = 20;

/// Which series of a measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", tag = "kind", content = "program_id")]
pub enum SeriesScope {
    /// Every program's points, rolled up per period.
    Network,
    /// One program's points.
    Program(Uuid),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct StoredPoint {
    program_id: Uuid,
    period: Period,
    numerator: Option<f64>,
    denominator: Option<f64>,
    value: Option<f64>,
    corrections: u32,
    excluded: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct MeasureSeries {
    definition: MeasureDefined,
    /// The control chart chosen instead of the data type's (`ControlChartChosen`).
    #[serde(default)]
    chart: Option<ControlChartKind>,
    points: Points,
    baseline_points: Option<u32>,
    phases: Vec<PhaseStarted>,
    /// The network-wide series, kept as points arrive (derived from `points`: neither saved nor
    /// compared, and rebuilt when missing, as after a restore).
    #[serde(skip)]
    network: NetworkSeries,
}

/// The network-wide series of a measure, one total per period with a point, each recomputed only
/// when one of its points changes: finding the signals after a data point costs the number of
/// periods, not the number of points (a whole chart per point made folding a measure quadratic).
#[derive(Debug, Clone, Default)]
struct NetworkSeries(Option<Series>);

/// Derived data: equal whenever the points it is derived from are.
impl PartialEq for NetworkSeries {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The periods with a point, in order, and for each (at the same index) its points and the point
/// the chart plots for them, as the analysis reads it: kept so that a check reads them as they
/// are.
#[derive(Debug, Clone, Default)]
struct Series {
    periods: Vec<Period>,
    /// Each period's points (their places in `Points`), in the order of their ids.
    members: Vec<Vec<u32>>,
    /// What the chart's series holds for each period (`Point::value`, `Point::excluded`).
    points: Vec<Point>,
    /// How many programs reported each period (at the same index).
    reported: Vec<u32>,
    /// Each program's first and last period reported.
    spans: Spans,
}

/// Each reporting program's first and last period.
type Spans = BTreeMap<Uuid, (Period, Period)>;

/// The programs of a period's points, and each program's span over `periods`, from the programs
/// of each period (at the same index).
fn reporting<'a>(
    periods: &[Period],
    programs: impl Iterator<Item = Vec<Uuid>> + 'a,
) -> (Vec<u32>, Spans) {
    let mut spans = Spans::new();
    let reported = periods
        .iter()
        .zip(programs)
        .map(|(&period, mut ps)| {
            ps.sort_unstable();
            ps.dedup();
            for &p in &ps {
                spans
                    .entry(p)
                    .and_modify(|s| s.1 = s.1.max(period))
                    .or_insert((period, period));
            }
            ps.len() as u32
        })
        .collect();
    (reported, spans)
}

/// A measure's data points by id. Each point is kept once, in the order it was first recorded,
/// and found through an index of ids to places: the network series refers to points by place, and
/// an index entry is a fraction of a point's size (a map of ids to points was most of the
/// charts' memory, which a rebuild pays for in page faults as well as in copying).
#[derive(Debug, Clone, Default)]
struct Points {
    all: Vec<(Uuid, StoredPoint)>,
    places: BTreeMap<Uuid, u32>,
}

impl Points {
    fn place(&self, id: &Uuid) -> Option<u32> {
        self.places.get(id).copied()
    }

    fn get(&self, id: &Uuid) -> Option<&StoredPoint> {
        self.place(id).map(|place| &self.at(place).1)
    }

    fn get_mut(&mut self, id: &Uuid) -> Option<&mut StoredPoint> {
        let place = self.place(id)?;
        Some(&mut self.all[place as usize].1)
    }

    fn at(&self, place: u32) -> &(Uuid, StoredPoint) {
        &self.all[place as usize]
    }

    /// Records a point; one recorded again is replaced where it is. Returns its place and the
    /// point it replaced.
    fn insert(&mut self, id: Uuid, point: StoredPoint) -> (u32, Option<StoredPoint>) {
        match self.places.entry(id) {
            std::collections::btree_map::Entry::Occupied(place) => {
                let place = *place.get();
                let old = std::mem::replace(&mut self.all[place as usize].1, point);
                (place, Some(old))
            }
            std::collections::btree_map::Entry::Vacant(entry) => {
                let place =
                    u32::try_from(self.all.len()).expect("fewer than 2^32 points a measure");
                entry.insert(place);
                self.all.push((id, point));
                (place, None)
            }
        }
    }

    /// Every point with its place, in the order of their ids.
    fn by_id(&self) -> impl Iterator<Item = (u32, &Uuid, &StoredPoint)> + '_ {
        self.places
            .iter()
            .map(|(id, &place)| (place, id, &self.at(place).1))
    }

    fn len(&self) -> usize {
        self.all.len()
    }
}

impl PartialEq for Points {
    fn eq(&self, other: &Self) -> bool {
        self.by_id()
            .map(|(_, id, p)| (id, p))
            .eq(other.by_id().map(|(_, id, p)| (id, p)))
    }
}

/// Saved as a map of ids to points, in the order of their ids.
impl Serialize for Points {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.by_id().map(|(_, id, p)| (id, p)))
    }
}

impl<'de> Deserialize<'de> for Points {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut points = Points::default();
        for (id, p) in BTreeMap::<Uuid, StoredPoint>::deserialize(deserializer)? {
            points.insert(id, p);
        }
        Ok(points)
    }
}

/// The signals of a measure's network-wide run chart (what `RunCharts::network_chart` finds), for
/// readers that need only them.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSignals {
    pub measure_name: String,
    pub signals: Vec<SignalStart>,
}

/// A signal of a chart and the period of its first point.
#[derive(Debug, Clone, PartialEq)]
pub struct SignalStart {
    pub rule_set: RuleSet,
    pub rule: Rule,
    pub message: String,
    /// None for a signal without points.
    pub first_period: Option<Period>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CycleSpan {
    program_id: Uuid,
    title: String,
    ramp_id: Uuid,
    cycle_number: u32,
    measure_ids: Vec<Uuid>,
    planned_start: NaiveDate,
    planned_end: NaiveDate,
    started_on: Option<NaiveDate>,
    completed_on: Option<NaiveDate>,
    phase: CyclePhase,
    decision: Option<ActDecision>,
}

impl CycleSpan {
    fn overlaps(&self, from: NaiveDate, to: NaiveDate) -> bool {
        let planned = self.planned_start <= to && self.planned_end >= from;
        let actual = self.started_on.is_some_and(|s| {
            let end = self
                .completed_on
                .unwrap_or_else(|| self.planned_end.max(s))
                .max(s);
            s <= to && end >= from
        });
        planned || actual
    }
}

/// Every measure's data and the cycles that name it, folded from the log.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCharts {
    position: u64,
    applied: bool,
    names: Names,
    measures: BTreeMap<Uuid, MeasureSeries>,
    cycles: BTreeMap<Uuid, CycleSpan>,
    /// When the latest event was recorded: the day the fold judges reporting deadlines on.
    #[serde(default)]
    latest: Option<DateTime<Utc>>,
    /// Each network's chart settings, once it set them (`ChartSettingsChanged`).
    #[serde(default)]
    settings: BTreeMap<Uuid, ChartSettingsChanged>,
}

/// One program's point behind a chart point.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Contribution {
    pub point_id: Uuid,
    pub program_id: Uuid,
    pub program_name: String,
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    /// The program's own plotted value.
    pub plotted: Option<f64>,
    /// How many corrections the numbers went through (the latest is shown).
    pub corrections: u32,
    pub excluded: bool,
    pub exclusion_reason: Option<String>,
}

/// A PDSA cycle that ran in a period.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CycleMark {
    pub cycle_id: Uuid,
    pub program_id: Uuid,
    pub title: String,
    pub ramp_id: Uuid,
    pub cycle_number: u32,
    pub phase: CyclePhase,
    pub decision: Option<ActDecision>,
}

/// One period of a chart.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ChartPoint {
    pub period: Period,
    pub period_start: NaiveDate,
    /// Sums over the non-excluded contributions (over all of them when every one is excluded).
    pub numerator: Option<f64>,
    pub denominator: Option<f64>,
    pub value: Option<f64>,
    /// numerator / denominator for a ratio measure, else the value.
    pub plotted: Option<f64>,
    /// Left out of the median and the rules: every contribution is excluded (or nothing can be
    /// plotted).
    pub excluded: bool,
    /// A network-wide point that some programs due to report have not reported yet, before the
    /// reporting deadline: shown, but left out of the median and the rules.
    pub provisional: bool,
    /// How many programs reported the period, and how many were due to (network-wide charts).
    pub programs_reported: Option<u32>,
    pub programs_due: Option<u32>,
    /// Programs due from this period that were not before (they began reporting), and programs
    /// due before that are no longer (withdrawn): a network sum over a changed set of programs
    /// is not the same process (network-wide charts).
    pub programs_joined: Option<u32>,
    pub programs_left: Option<u32>,
    pub exclusion_reasons: Vec<String>,
    /// The median of the point's phase.
    pub median: Option<f64>,
    pub phase: String,
    /// Whether the point is one of those that triggered a signal.
    pub in_signal: bool,
    pub contributions: Vec<Contribution>,
    pub cycles: Vec<CycleMark>,
}

/// A signal, with its points named by period.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct SignalView {
    pub rule_set: RuleSet,
    pub rule: Rule,
    pub message: String,
    pub periods: Vec<Period>,
}

/// One phase of the chart: its label and the analysis of its points.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ChartPhase {
    pub label: String,
    /// The first period of the phase.
    pub from_period: Period,
    pub analysis: run_chart::Phase,
    pub signals: Vec<SignalView>,
}

/// The most recent signal of a chart: the one whose last point is latest.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LatestSignal {
    pub period: Period,
    pub rule_set: RuleSet,
    pub rule: Rule,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RunChartView {
    pub measure_id: Uuid,
    pub measure_name: String,
    pub network_id: Uuid,
    pub kind: MeasureKind,
    pub scale: MeasureScale,
    pub unit: String,
    pub direction: Direction,
    pub period_kind: PeriodKind,
    pub target: Option<f64>,
    pub scope: SeriesScope,
    pub program_name: Option<String>,
    /// The log position the chart is as of.
    pub position: u64,
    /// How the network-wide value is formed, in words.
    pub aggregation: &'static str,
    pub baseline_points: Option<u32>,
    /// What the numbers are, as the measure's definition says (absent for older measures).
    pub data_type: Option<DataType>,
    pub points: Vec<ChartPoint>,
    pub phases: Vec<ChartPhase>,
    /// Days after a period ends by which every program is due to have reported it (network's).
    pub reporting_deadline_days: u64,
    /// The measure's control chart: the one chosen for it, else the one its numbers call for
    /// (`default_chart_type`).
    pub chart_type: ChartType,
    /// The network's control-chart rules (`DEFAULT_CONTROL_RULES` until it chooses).
    pub control_rules: ControlRules,
    /// The control chart of the same points (provisional and excluded points take no part), as
    /// `chart_type` judged by `control_rules`; `None` without points. `with_control` gives another.
    pub control: Option<ControlChart>,
}

impl RunChartView {
    pub fn latest_signal(&self) -> Option<LatestSignal> {
        let mut best: Option<(usize, &SignalView)> = None;
        for phase in &self.phases {
            for (s, view) in phase.analysis.signals.iter().zip(&phase.signals) {
                let Some(&last) = s.points.last() else {
                    continue;
                };
                if best.is_none_or(|(b, _)| last > b) {
                    best = Some((last, view));
                }
            }
        }
        best.map(|(last, s)| LatestSignal {
            period: self.points[last].period,
            rule_set: s.rule_set,
            rule: s.rule,
            message: s.message.clone(),
        })
    }
}

/// A measure the projection knows, with the programs that reported on it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MeasureSummary {
    pub measure_id: Uuid,
    pub name: String,
    pub network_id: Uuid,
    pub programs: Vec<Uuid>,
    pub points: usize,
}

impl Projection for RunCharts {
    fn apply(&mut self, r: &Recorded) {
        if !is_new(self.position, self.applied, r.global_position) {
            return;
        }
        self.applied = true;
        self.position = r.global_position;
        self.latest = self.latest.max(Some(r.recorded_at));
        self.names.apply(r);
        if let NicEvent::ChartSettingsChanged(e) = &r.event {
            self.settings.insert(r.entity_id(), e.clone());
        }
        self.apply_measure_event(r.entity_id(), &r.event);
        self.apply_cycle_event(&r.event);
    }

    fn position(&self) -> u64 {
        self.position
    }
}

impl RunCharts {
    /// Folds an event of the stream of the measure `entity`: its definition, its points and their
    /// corrections and exclusions (each refreshing its period of the network-wide series), its
    /// baseline and phases. Other events change nothing here.
    fn apply_measure_event(&mut self, entity: Uuid, event: &NicEvent) {
        match event {
            NicEvent::MeasureDefined(e) => {
                self.measures.insert(
                    e.measure_id,
                    MeasureSeries {
                        definition: e.clone(),
                        chart: None,
                        points: Points::default(),
                        baseline_points: None,
                        phases: Vec::new(),
                        network: NetworkSeries(Some(Series::default())),
                    },
                );
            }
            NicEvent::DataPointRecorded(e) => {
                if let Some(m) = self.measures.get_mut(&entity) {
                    let (_, before) = m.points.insert(
                        e.point_id,
                        StoredPoint {
                            program_id: e.program_id,
                            period: e.period,
                            numerator: e.numerator,
                            denominator: e.denominator,
                            value: e.value,
                            corrections: 0,
                            excluded: None,
                        },
                    );
                    if let Some(before) = before.map(|b| b.period).filter(|b| *b != e.period) {
                        // The same point recorded again for another period leaves its old one.
                        self.refresh_network_period(entity, before, e.point_id);
                    }
                    self.refresh_network_period(entity, e.period, e.point_id);
                }
            }
            NicEvent::DataPointCorrected(e) => {
                if let Some(p) = self.point_mut(entity, e.point_id) {
                    p.numerator = e.numerator;
                    p.denominator = e.denominator;
                    p.value = e.value;
                    p.corrections += 1;
                    let period = p.period;
                    self.refresh_network_period(entity, period, e.point_id);
                }
            }
            NicEvent::DataPointExcluded(e) => {
                if let Some(p) = self.point_mut(entity, e.point_id) {
                    p.excluded = Some(e.reason.to_string());
                    let period = p.period;
                    self.refresh_network_period(entity, period, e.point_id);
                }
            }
            NicEvent::BaselineFrozen(e) => {
                if let Some(m) = self.measures.get_mut(&entity) {
                    m.baseline_points = Some(e.points);
                }
            }
            NicEvent::PhaseStarted(e) => {
                if let Some(m) = self.measures.get_mut(&entity) {
                    m.phases.push(e.clone());
                }
            }
            NicEvent::ControlChartChosen(e) => {
                if let Some(m) = self.measures.get_mut(&entity) {
                    m.chart = Some(e.chart);
                }
            }
            _ => {}
        }
    }

    /// Folds an event of a PDSA cycle: what the charts show of it (its measures, its planned and
    /// actual span, its phase and decision). Other events change nothing here.
    fn apply_cycle_event(&mut self, event: &NicEvent) {
        match event {
            NicEvent::PdsaCyclePlanned(e) => {
                self.cycles.insert(
                    e.cycle_id,
                    CycleSpan {
                        program_id: e.program_id,
                        title: e.title.to_string(),
                        ramp_id: e.ramp_id,
                        cycle_number: e.cycle_number,
                        measure_ids: e.plan.measure_ids.clone(),
                        planned_start: e.planned_start,
                        planned_end: e.planned_end,
                        started_on: None,
                        completed_on: None,
                        phase: CyclePhase::Planned,
                        decision: None,
                    },
                );
            }
            NicEvent::PdsaCycleStarted(e) => {
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    c.started_on = Some(e.started_on);
                    c.phase = CyclePhase::Doing;
                }
            }
            NicEvent::PdsaDoRecorded(e) => {
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    c.completed_on = Some(e.done.completed_on);
                    c.phase = CyclePhase::Studying;
                }
            }
            NicEvent::PdsaActDecided(e) => {
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    c.decision = Some(e.act.decision);
                    c.phase = CyclePhase::Acted;
                }
            }
            NicEvent::PdsaCycleAbandoned(e) => {
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    c.phase = CyclePhase::Abandoned;
                }
            }
            NicEvent::PdsaCycleCorrected(e) => {
                if let Some(c) = self.cycles.get_mut(&e.cycle_id) {
                    match &e.correction {
                        Correction::Plan(p) => c.measure_ids = p.measure_ids.clone(),
                        Correction::Do(d) => c.completed_on = Some(d.completed_on),
                        Correction::Act(a) => c.decision = Some(a.decision),
                        Correction::Study(_) => {}
                    }
                }
            }
            _ => {}
        }
    }

    pub fn new() -> Self {
        Self::default()
    }

    /// Moves the charts to `position` with no event to apply (see `OnBase::reach`).
    pub fn reach(&mut self, position: u64) {
        crate::reach(&mut self.position, &mut self.applied, position);
    }

    /// Whether `r` is new to the charts (not at or before their position).
    pub fn accepts(&self, r: &Recorded) -> bool {
        is_new(self.position, self.applied, r.global_position)
    }

    /// The names of everything the log has mentioned so far, which the charts fold too.
    pub fn names(&self) -> &Names {
        &self.names
    }

    /// A data point's program and period, as last recorded.
    pub fn point(&self, measure: Uuid, point: Uuid) -> Option<(Uuid, Period)> {
        let p = self.measures.get(&measure)?.points.get(&point)?;
        Some((p.program_id, p.period))
    }

    fn point_mut(&mut self, measure: Uuid, point: Uuid) -> Option<&mut StoredPoint> {
        self.measures.get_mut(&measure)?.points.get_mut(&point)
    }

    /// Every measure, by id.
    pub fn measures(&self) -> Vec<MeasureSummary> {
        self.measures
            .iter()
            .map(|(id, m)| MeasureSummary {
                measure_id: *id,
                name: m.definition.name.to_string(),
                network_id: m.definition.network_id,
                programs: m
                    .points
                    .all
                    .iter()
                    .map(|(_, p)| p.program_id)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                points: m.points.len(),
            })
            .collect()
    }

    /// The network-wide chart, its deadlines judged on the day of the latest event.
    pub fn network_chart(&self, measure_id: Uuid) -> Option<RunChartView> {
        self.chart(measure_id, SeriesScope::Network, None)
    }

    pub fn program_chart(&self, measure_id: Uuid, program_id: Uuid) -> Option<RunChartView> {
        self.chart(measure_id, SeriesScope::Program(program_id), None)
    }

    /// The day reporting deadlines are judged on: `now`'s, else the latest event's.
    fn today(&self, now: Option<DateTime<Utc>>) -> Option<NaiveDate> {
        now.or(self.latest).map(|t| t.date_naive())
    }

    /// How many days after a period ends the network's programs are due to have reported it.
    fn deadline_days(&self, network: Uuid) -> u64 {
        self.settings
            .get(&network)
            .map_or(REPORTING_DEADLINE_DAYS, |s| {
                u64::from(s.reporting_deadline_days)
            })
    }

    /// Whether a program has withdrawn from its network.
    fn withdrawn(&self, program: Uuid) -> bool {
        self.names
            .programs
            .get(&program)
            .is_some_and(|p| p.withdrawn)
    }

    /// The signals of a measure's network-wide run chart, with their sentences: the same as
    /// `network_chart`'s, found from the series kept per period (the cost of the periods, not of
    /// the points).
    pub fn network_signals(&self, measure_id: Uuid) -> Option<NetworkSignals> {
        let m = self.measures.get(&measure_id)?;
        let signals = self.with_network_series(m, |periods, points, options| {
            run_chart::analyse(points, options)
                .phases
                .into_iter()
                .flat_map(|phase| phase.signals)
                .map(|s| SignalStart {
                    rule_set: s.rule_set,
                    rule: s.rule,
                    first_period: s.points.first().map(|&i| periods[i]),
                    message: s.message,
                })
                .collect()
        });
        Some(NetworkSignals {
            measure_name: m.definition.name.to_string(),
            signals,
        })
    }

    /// Calls `found` with the rule set, the rule and the first period of each signal that
    /// `network_signals` lists, in the same order, without writing their sentences
    /// (`run_chart::signal_starts`): the check after every data point. False for a measure the
    /// log has not defined.
    pub fn network_signal_starts(
        &self,
        measure_id: Uuid,
        mut found: impl FnMut(RuleSet, Rule, Period),
    ) -> bool {
        let Some(m) = self.measures.get(&measure_id) else {
            return false;
        };
        self.with_network_series(m, |periods, points, options| {
            run_chart::signal_starts(points, options, |rule_set, rule, first| {
                found(rule_set, rule, periods[first])
            })
        });
        true
    }

    /// Calls `f` with a measure's network-wide series as the analysis reads it: its periods in
    /// order, the point of each, and the measure's baseline and phases.
    fn with_network_series<R>(
        &self,
        m: &MeasureSeries,
        f: impl FnOnce(&[Period], &[Point], &Options) -> R,
    ) -> R {
        let rebuilt;
        let series = match &m.network.0 {
            Some(series) => series,
            None => {
                rebuilt = Series::of(m.definition.scale, &m.points);
                &rebuilt
            }
        };
        let periods = &series.periods;
        // Only periods whose deadline is still ahead can be provisional: the check after every
        // data point costs those, not the whole history.
        let complete = completeness(
            periods,
            &series.reported,
            &series.spans,
            |p| self.withdrawn(p),
            self.today(None),
            self.deadline_days(m.definition.network_id),
            true,
        );
        let points: Vec<Point> = series
            .points
            .iter()
            .zip(&complete)
            .map(|(p, c)| Point {
                value: p.value,
                excluded: p.excluded || c.provisional,
            })
            .collect();
        let options = Options {
            baseline_points: m.baseline_points.map(|k| k as usize),
            // The first period on or after each phase's start (periods are in order).
            phase_starts: m
                .phases
                .iter()
                .map(|ph| periods.partition_point(|p| *p < ph.from_period))
                .filter(|&i| i < periods.len())
                .collect(),
        };
        f(periods, &points, &options)
    }

    /// Recomputes one period of a measure's network-wide series after `point`, of this period or
    /// formerly of it, changed (the whole series when it is missing, as after a restore).
    fn refresh_network_period(&mut self, measure: Uuid, period: Period, point: Uuid) {
        let Some(m) = self.measures.get_mut(&measure) else {
            return;
        };
        let scale = m.definition.scale;
        let Some(series) = &mut m.network.0 else {
            m.network.0 = Some(Series::of(scale, &m.points));
            return;
        };
        let Some(place) = m.points.place(&point) else {
            return;
        };
        // Only `point` can have joined or left the period: every other point that moves is
        // refreshed on its own (a point recorded again for another period leaves this one).
        let belongs = m.points.at(place).1.period == period;
        series.refresh(scale, period, place, belongs, &m.points);
    }

    /// The run chart of a measure's series, its reporting deadlines judged on the day of `now`
    /// (the latest event's when `None`); `None` for a measure the log has not defined.
    pub fn chart(
        &self,
        measure_id: Uuid,
        scope: SeriesScope,
        now: Option<DateTime<Utc>>,
    ) -> Option<RunChartView> {
        let m = self.measures.get(&measure_id)?;
        let def = &m.definition;
        let in_scope = |program: Uuid| match scope {
            SeriesScope::Network => true,
            SeriesScope::Program(p) => p == program,
        };
        let mut by_period: BTreeMap<Period, Vec<(Uuid, &StoredPoint)>> = BTreeMap::new();
        for (_, id, p) in m.points.by_id() {
            if in_scope(p.program_id) {
                by_period.entry(p.period).or_default().push((*id, p));
            }
        }
        let mut cycles: Vec<(&Uuid, &CycleSpan)> = self
            .cycles
            .iter()
            .filter(|(_, c)| c.measure_ids.contains(&measure_id) && in_scope(c.program_id))
            .collect();
        cycles.sort_by_key(|(id, c)| (c.planned_start, c.cycle_number, **id));
        let mut phases: Vec<&PhaseStarted> = m.phases.iter().collect();
        phases.sort_by_key(|p| p.from_period);
        let mut points: Vec<ChartPoint> = by_period
            .iter()
            .map(|(&period, raw)| {
                let phase = phase_label(&phases, period);
                self.chart_point(def.scale, period, raw, &cycles, phase)
            })
            .collect();
        if scope == SeriesScope::Network {
            let periods: Vec<Period> = points.iter().map(|p| p.period).collect();
            let (reported, spans) = reporting(
                &periods,
                by_period
                    .values()
                    .map(|raw| raw.iter().map(|(_, p)| p.program_id).collect()),
            );
            let complete = completeness(
                &periods,
                &reported,
                &spans,
                |p| self.withdrawn(p),
                self.today(now),
                self.deadline_days(def.network_id),
                false,
            );
            for (p, c) in points.iter_mut().zip(complete) {
                p.provisional = c.provisional;
                p.programs_reported = Some(c.reported);
                p.programs_due = Some(c.due);
                p.programs_joined = Some(c.joined);
                p.programs_left = Some(c.left);
            }
        }
        let chart_phases = analyse_points(&mut points, &phases, m.baseline_points);
        Some(
            RunChartView {
            measure_id,
            measure_name: def.name.to_string(),
            network_id: def.network_id,
            kind: def.kind,
            scale: def.scale,
            unit: def.unit.to_string(),
            direction: def.direction,
            period_kind: def.period,
            target: def.target,
            scope,
            program_name: match scope {
                SeriesScope::Network => None,
                SeriesScope::Program(p) => Some(self.names.program(p)),
            },
            position: self.position,
            aggregation: match def.scale {
                MeasureScale::Ratio => {
                    "sum of the numerators over the sum of the denominators of the non-excluded points"
                }
                MeasureScale::Value => "sum of the values of the non-excluded points",
            },
            baseline_points: m.baseline_points,
            data_type: def.data_type,
            points,
            phases: chart_phases,
            reporting_deadline_days: self.deadline_days(def.network_id),
            chart_type: m
                .chart
                .map_or_else(|| default_chart_type(def.scale, def.data_type), Into::into),
            control_rules: self
                .settings
                .get(&def.network_id)
                .map_or(DEFAULT_CONTROL_RULES, |s| s.control_rules.into()),
            control: None,
        }
        .with_control(None, None))
    }

    /// One period of a chart, in the phase `phase`: its points (`raw`, in the order of their
    /// ids) as contributions, their totals and the cycles that ran in it; its median and signals
    /// are the analysis's (`analyse_points`).
    fn chart_point(
        &self,
        scale: MeasureScale,
        period: Period,
        raw: &[(Uuid, &StoredPoint)],
        cycles: &[(&Uuid, &CycleSpan)],
        phase: String,
    ) -> ChartPoint {
        let mut contributions: Vec<Contribution> = raw
            .iter()
            .map(|(id, p)| Contribution {
                point_id: *id,
                program_id: p.program_id,
                program_name: self.names.program(p.program_id),
                numerator: p.numerator,
                denominator: p.denominator,
                value: p.value,
                plotted: plotted(scale, p.numerator, p.denominator, p.value),
                corrections: p.corrections,
                excluded: p.excluded.is_some(),
                exclusion_reason: p.excluded.clone(),
            })
            .collect();
        // Summed in the order of their point ids (as `m.points` lists them), as the kept
        // network series sums them; shown by program.
        let (numerator, denominator, value, all_excluded) = totals(scale, contributions.iter());
        sort_contributions(&mut contributions);
        let plotted = plotted(scale, numerator, denominator, value);
        ChartPoint {
            period,
            period_start: period.start(),
            numerator,
            denominator,
            value,
            plotted,
            excluded: all_excluded || plotted.is_none(),
            provisional: false,
            programs_reported: None,
            programs_due: None,
            programs_joined: None,
            programs_left: None,
            exclusion_reasons: contributions
                .iter()
                .filter_map(|c| {
                    c.exclusion_reason
                        .as_ref()
                        .map(|r| format!("{}: {r}", c.program_name))
                })
                .collect(),
            median: None,
            phase,
            in_signal: false,
            contributions,
            cycles: cycle_marks(cycles, period),
        }
    }
}

/// How complete a period of a network-wide series is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Completeness {
    reported: u32,
    due: u32,
    provisional: bool,
    joined: u32,
    left: u32,
}

/// How complete each period (of `periods`, in order) is on `today`, from how many programs
/// reported it (`reported`, at the same index) and each program's first and last period
/// (`spans`). A program is due from the first period it reported; a withdrawn one no longer after
/// its last. With `open_only`, only periods whose deadline is still ahead are counted (the others
/// are complete, their counts left at 0).
fn completeness(
    periods: &[Period],
    reported: &[u32],
    spans: &Spans,
    withdrawn: impl Fn(Uuid) -> bool,
    today: Option<NaiveDate>,
    deadline_days: u64,
    open_only: bool,
) -> Vec<Completeness> {
    let passed = |period: &Period| {
        today.is_some_and(|t| t > period.end() + chrono::Days::new(deadline_days))
    };
    // Periods end in order, so the open ones are the last.
    let first_open = periods.partition_point(|p| passed(p));
    let counted = if open_only { first_open } else { 0 };
    let due_spans: Vec<(Period, Option<Period>)> = spans
        .iter()
        .map(|(&p, &(first, last))| (first, withdrawn(p).then_some(last)))
        .collect();
    let mut out = vec![
        Completeness {
            reported: 0,
            due: 0,
            provisional: false,
            joined: 0,
            left: 0,
        };
        counted
    ];
    for i in counted..periods.len() {
        let period = periods[i];
        let due = due_spans
            .iter()
            .filter(|&&(first, last)| first <= period && last.is_none_or(|l| period <= l))
            .count() as u32;
        let previous = i.checked_sub(1).map(|j| periods[j]);
        out.push(Completeness {
            reported: reported[i],
            due,
            provisional: reported[i] < due && i >= first_open,
            joined: if i == 0 {
                0
            } else {
                due_spans
                    .iter()
                    .filter(|&&(first, _)| first == period)
                    .count() as u32
            },
            left: due_spans
                .iter()
                .filter(|&&(_, last)| last.is_some() && last == previous)
                .count() as u32,
        });
    }
    out
}

/// The label of the phase a period is in: the last phase (of `phases`, in order) starting at or
/// before it.
fn phase_label(phases: &[&PhaseStarted], period: Period) -> String {
    phases
        .iter()
        .rev()
        .find(|p| p.from_period <= period)
        .map(|p| p.label.to_string())
        .unwrap_or_else(|| INITIAL_PHASE_LABEL.to_string())
}

/// The cycles (of `cycles`, in order) that ran in `period`.
fn cycle_marks(cycles: &[(&Uuid, &CycleSpan)], period: Period) -> Vec<CycleMark> {
    cycles
        .iter()
        .filter(|(_, c)| c.overlaps(period.start(), period.end()))
        .map(|(id, c)| CycleMark {
            cycle_id: **id,
            program_id: c.program_id,
            title: c.title.clone(),
            ramp_id: c.ramp_id,
            cycle_number: c.cycle_number,
            phase: c.phase,
            decision: c.decision,
        })
        .collect()
}

/// Analyses a chart's points, phase by phase (each of `phases`, in order, starts at the first
/// point at or after its period), with the measure's frozen baseline: sets each point's median
/// and whether it is in a signal, and returns the phases with their signals.
fn analyse_points(
    points: &mut [ChartPoint],
    phases: &[&PhaseStarted],
    baseline_points: Option<u32>,
) -> Vec<ChartPhase> {
    let series: Vec<Point> = points
        .iter()
        .map(|p| Point {
            value: p.plotted.unwrap_or(0.0),
            excluded: p.excluded || p.provisional,
        })
        .collect();
    let phase_starts = phases
        .iter()
        .filter_map(|ph| points.iter().position(|p| p.period >= ph.from_period))
        .collect();
    let options = Options {
        baseline_points: baseline_points.map(|k| k as usize),
        phase_starts,
    };
    let analysis = run_chart::analyse(&series, &options);
    let mut chart_phases = Vec::with_capacity(analysis.phases.len());
    for phase in analysis.phases {
        for p in &mut points[phase.start..phase.end] {
            p.median = phase.median;
        }
        let signals = phase
            .signals
            .iter()
            .map(|s| SignalView {
                rule_set: s.rule_set,
                rule: s.rule,
                message: s.message.clone(),
                periods: s.points.iter().map(|&i| points[i].period).collect(),
            })
            .collect();
        for s in &phase.signals {
            for &i in &s.points {
                points[i].in_signal = true;
            }
        }
        chart_phases.push(ChartPhase {
            label: points[phase.start].phase.clone(),
            from_period: points[phase.start].period,
            analysis: phase,
            signals,
        });
    }
    chart_phases
}

/// The order a period's contributions are listed and summed in.
fn sort_contributions(contributions: &mut [Contribution]) {
    contributions.sort_by(|a, b| {
        (&a.program_name, a.program_id, a.point_id).cmp(&(
            &b.program_name,
            b.program_id,
            b.point_id,
        ))
    });
}

/// What a period's total reads of each of its points.
trait Amounts {
    fn excluded(&self) -> bool;
    fn numerator(&self) -> Option<f64>;
    fn denominator(&self) -> Option<f64>;
    fn value(&self) -> Option<f64>;
}

impl Amounts for &Contribution {
    fn excluded(&self) -> bool {
        self.excluded
    }
    fn numerator(&self) -> Option<f64> {
        self.numerator
    }
    fn denominator(&self) -> Option<f64> {
        self.denominator
    }
    fn value(&self) -> Option<f64> {
        self.value
    }
}

impl Amounts for &StoredPoint {
    fn excluded(&self) -> bool {
        self.excluded.is_some()
    }
    fn numerator(&self) -> Option<f64> {
        self.numerator
    }
    fn denominator(&self) -> Option<f64> {
        self.denominator
    }
    fn value(&self) -> Option<f64> {
        self.value
    }
}

impl Series {
    /// A measure's whole network-wide series, from its points.
    fn of(scale: MeasureScale, points: &Points) -> Self {
        let mut by_period: BTreeMap<Period, Vec<u32>> = BTreeMap::new();
        for (place, _, p) in points.by_id() {
            by_period.entry(p.period).or_default().push(place);
        }
        let mut series = Self::default();
        for (period, members) in by_period {
            series.periods.push(period);
            series.points.push(plot(scale, points, &members));
            series.members.push(members);
        }
        (series.reported, series.spans) = reporting(
            &series.periods,
            series.members.iter().map(|ms| programs_of(points, ms)),
        );
        series
    }

    /// Puts the point at `place` in `period` (`belongs`) or takes it out, and recomputes the
    /// period's point (a period left without points leaves the series).
    fn refresh(
        &mut self,
        scale: MeasureScale,
        period: Period,
        place: u32,
        belongs: bool,
        points: &Points,
    ) {
        let (id, program) = (points.at(place).0, points.at(place).1.program_id);
        match self.periods.binary_search(&period) {
            Ok(i) => {
                let members = &mut self.members[i];
                match (
                    members.binary_search_by(|&m| points.at(m).0.cmp(&id)),
                    belongs,
                ) {
                    (Err(at), true) => members.insert(at, place),
                    (Ok(at), false) => {
                        members.remove(at);
                    }
                    _ => {}
                }
                if members.is_empty() {
                    self.periods.remove(i);
                    self.members.remove(i);
                    self.points.remove(i);
                    self.reported.remove(i);
                } else {
                    self.points[i] = plot(scale, points, members);
                    self.reported[i] =
                        reporting(&[period], [programs_of(points, members)].into_iter()).0[0];
                }
            }
            Err(i) if belongs => {
                let members = vec![place];
                self.periods.insert(i, period);
                self.points.insert(i, plot(scale, points, &members));
                self.members.insert(i, members);
                self.reported.insert(i, 1);
            }
            Err(_) => {}
        }
        if belongs {
            self.spans
                .entry(program)
                .and_modify(|s| *s = (s.0.min(period), s.1.max(period)))
                .or_insert((period, period));
        } else {
            // The program's span may have shrunk: found again from its points (rare: a point
            // recorded again for another period).
            let mut span: Option<(Period, Period)> = None;
            for (&p, ms) in self.periods.iter().zip(&self.members) {
                if ms.iter().any(|&m| points.at(m).1.program_id == program) {
                    span = Some(span.map_or((p, p), |(first, _)| (first, p)));
                }
            }
            match span {
                Some(span) => self.spans.insert(program, span),
                None => self.spans.remove(&program),
            };
        }
    }
}

/// The programs of a period's points (at `members`).
fn programs_of(points: &Points, members: &[u32]) -> Vec<Uuid> {
    members.iter().map(|&m| points.at(m).1.program_id).collect()
}

/// The point the chart plots for a period's points (summed in the order of their ids, as `chart`
/// sums them).
fn plot(scale: MeasureScale, points: &Points, members: &[u32]) -> Point {
    let (numerator, denominator, value, all_excluded) =
        totals(scale, members.iter().map(|&m| &points.at(m).1));
    let plotted = plotted(scale, numerator, denominator, value);
    Point {
        value: plotted.unwrap_or(0.0),
        excluded: all_excluded || plotted.is_none(),
    }
}

/// A period's totals from its points (in their order): the non-excluded ones, or all of them
/// when all are excluded; and whether all are.
fn totals<T: Amounts>(
    scale: MeasureScale,
    parts: impl Iterator<Item = T> + Clone,
) -> (Option<f64>, Option<f64>, Option<f64>, bool) {
    let all_excluded = parts.clone().all(|c| c.excluded());
    let summed = || parts.clone().filter(move |c| all_excluded || !c.excluded());
    let sum = |f: fn(&T) -> Option<f64>| -> Option<f64> {
        summed().filter_map(|c| f(&c)).reduce(|a, b| a + b)
    };
    let (numerator, denominator, value) = match scale {
        MeasureScale::Ratio => (sum(T::numerator), sum(T::denominator), None),
        MeasureScale::Value => (None, None, sum(T::value)),
    };
    (numerator, denominator, value, all_excluded)
}

fn plotted(
    scale: MeasureScale,
    numerator: Option<f64>,
    denominator: Option<f64>,
    value: Option<f64>,
) -> Option<f64> {
    match scale {
        MeasureScale::Ratio => match (numerator, denominator) {
            (Some(n), Some(d)) if d > 0.0 => Some(n / d),
            _ => None,
        },
        MeasureScale::Value => value,
    }
    .filter(|v| v.is_finite())
}

// ---------------------------------------------------------------------------------------------
// CSV

/// The CSV header of `to_csv`.
pub const CSV_HEADER: &str =
    "period,program,numerator,denominator,value,plotted_value,excluded,exclusion_reason,median,phase,\
provisional,programs_reported,programs_due,control_chart,control_rules,centre,lcl,ucl,sigma,control_flags";

/// The numbers behind a chart, as CSV (RFC 4180: CRLF line ends, fields with a comma, quote or
/// line break quoted, quotes doubled). A program chart has one row per period; a network chart
/// has, per period, one row per program point (median left empty: it is the network's) and then
/// a total row whose program is `NETWORK_ROW_LABEL`. Text that a spreadsheet would read as a
/// formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`.
/// The chart's own rows (a program chart's, a network chart's totals) carry whether the point is
/// provisional, how many programs reported it and were due to (network charts), and the control
/// chart at that point: its type and rule set, centre, limits, sigma and the rules that flag it
/// (separated by `;`); a program's row on a network chart leaves them empty.
pub fn to_csv(view: &RunChartView) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let blank = vec![String::new(); 10];
    for (i, p) in view.points.iter().enumerate() {
        let mut own = vec![
            p.provisional.to_string(),
            p.programs_reported
                .map(|n| n.to_string())
                .unwrap_or_default(),
            p.programs_due.map(|n| n.to_string()).unwrap_or_default(),
        ];
        match view
            .control
            .as_ref()
            .and_then(|c| Some((c, c.points.get(i)?)))
        {
            Some((c, cp)) => own.extend([
                csv_text(&name_of(c.chart)),
                csv_text(&format!("{} v{}", c.rule_set.id, c.rule_set.version)),
                csv_number(Some(cp.centre)),
                csv_number(Some(cp.lcl)),
                csv_number(Some(cp.ucl)),
                csv_number(Some(cp.sigma)),
                csv_text(&cp.flags.iter().map(name_of).collect::<Vec<_>>().join(";")),
            ]),
            None => own.extend(vec![String::new(); 7]),
        }
        match view.scope {
            SeriesScope::Program(_) => {
                let program = view.program_name.clone().unwrap_or_default();
                let reasons: Vec<&str> = p
                    .contributions
                    .iter()
                    .filter_map(|c| c.exclusion_reason.as_deref())
                    .collect();
                row(
                    &mut out,
                    p.period.as_str(),
                    &program,
                    [p.numerator, p.denominator, p.value, p.plotted],
                    p.excluded,
                    &reasons.join("; "),
                    p.median,
                    &p.phase,
                    &own,
                );
            }
            SeriesScope::Network => {
                for c in &p.contributions {
                    row(
                        &mut out,
                        p.period.as_str(),
                        &c.program_name,
                        [c.numerator, c.denominator, c.value, c.plotted],
                        c.excluded,
                        c.exclusion_reason.as_deref().unwrap_or(""),
                        None,
                        &p.phase,
                        &blank,
                    );
                }
                row(
                    &mut out,
                    p.period.as_str(),
                    NETWORK_ROW_LABEL,
                    [p.numerator, p.denominator, p.value, p.plotted],
                    p.excluded,
                    &p.exclusion_reasons.join("; "),
                    p.median,
                    &p.phase,
                    &own,
                );
            }
        }
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn row(
    out: &mut String,
    period: &str,
    program: &str,
    numbers: [Option<f64>; 4],
    excluded: bool,
    reason: &str,
    median: Option<f64>,
    phase: &str,
    more: &[String],
) {
    let mut fields = vec![csv_text(period), csv_text(program)];
    fields.extend(numbers.iter().map(|n| csv_number(*n)));
    fields.push(excluded.to_string());
    fields.push(csv_text(reason));
    fields.push(csv_number(median));
    fields.push(csv_text(phase));
    fields.extend(more.iter().cloned());
    out.push_str(&fields.join(","));
    out.push_str("\r\n");
}

/// The name the API gives a unit variant (its serde name).
fn name_of(v: impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

fn csv_number(n: Option<f64>) -> String {
    n.map(|n| n.to_string()).unwrap_or_default()
}

/// Quotes a text field for CSV, defusing spreadsheet formulas.
pub fn csv_text(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fold;
    use crate::testlog::*;

    /// A network point some programs have not reported yet is provisional until they do or the
    /// reporting deadline passes: shown with the count, out of the median, the rules and the
    /// control chart. A program that withdrew is due no longer after its last period.
    #[test]
    fn a_period_not_every_program_reported_is_provisional_until_the_deadline() {
        let mut log = scenario();
        let prog_c = id(12);
        log.net(NicEvent::ProgramEnrolled(ProgramEnrolled {
            program_id: prog_c,
            network_id: NET,
            name: t("Program C"),
            ecosystem_id: ECO,
            region: t("PA"),
        }));
        let mut n = 900;
        for month in 1..=7 {
            for program in [PROG_A, PROG_B, prog_c] {
                // B skips July so far; C reported up to February, then withdrew.
                if (program == PROG_B && month == 7) || (program == prog_c && month > 2) {
                    continue;
                }
                // The network's share is 50% every month; A alone would be 90% in July.
                let (num, den) = match (program, month) {
                    (p, 7) if p == PROG_A => (9.0, 10.0),
                    (p, _) if p == PROG_A => (5.0, 10.0),
                    _ => (50.0, 100.0),
                };
                point(
                    &mut log,
                    MEASURE,
                    id(n),
                    program,
                    &format!("2025-{month:02}"),
                    num,
                    den,
                );
                n += 1;
            }
        }
        log.push(
            "program",
            prog_c,
            NicEvent::ProgramWithdrawn(ProgramWithdrawn {
                program_id: prog_c,
                reason: x("funding ended"),
            }),
        );
        let charts = fold(RunCharts::new(), &log.events);
        let on = |y, m, d| Some(day(y, m, d).and_hms_opt(12, 0, 0).unwrap().and_utc());
        let before = charts
            .chart(MEASURE, SeriesScope::Network, on(2025, 8, 5))
            .unwrap();
        let counts: Vec<(bool, Option<u32>, Option<u32>)> = before
            .points
            .iter()
            .map(|p| (p.provisional, p.programs_reported, p.programs_due))
            .collect();
        assert_eq!(
            counts,
            [
                vec![(false, Some(3), Some(3)); 2],
                vec![(false, Some(2), Some(2)); 4],
                vec![(true, Some(1), Some(2))],
            ]
            .concat(),
            "July waits for B; C is due no longer after February"
        );
        let changes: Vec<(Option<u32>, Option<u32>)> = before
            .points
            .iter()
            .map(|p| (p.programs_joined, p.programs_left))
            .collect();
        assert_eq!(changes[2], (Some(0), Some(1)), "C is not due from March on");
        assert!(changes
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || *c == (Some(0), Some(0))));
        let july = &before.points[6];
        assert!(!july.excluded, "a provisional point is not an excluded one");
        assert_eq!(before.phases[0].analysis.median_points, 6);
        assert_eq!(before.phases[0].analysis.median, Some(0.5));
        assert!(!july.in_signal);
        let control = before.control.as_ref().unwrap();
        assert!(control.points[6].excluded);
        assert_eq!(control.phases[0].centre, Some(0.5));
        // The signals found as the log is folded leave it out too (the log's day is in 2025-01).
        assert!(charts.network_signals(MEASURE).unwrap().signals.is_empty());
        // Past the deadline (20 days after July ends) the point is complete with what arrived.
        let after = charts
            .chart(MEASURE, SeriesScope::Network, on(2025, 8, 21))
            .unwrap();
        assert!(!after.points[6].provisional);
        assert_eq!(after.points[6].programs_reported, Some(1));
        assert_eq!(after.phases[0].analysis.median_points, 7);
        // A program's own chart has no such counts.
        let a = charts
            .chart(MEASURE, SeriesScope::Program(PROG_A), on(2025, 8, 5))
            .unwrap();
        assert!(a
            .points
            .iter()
            .all(|p| !p.provisional && p.programs_due.is_none()));

        // The network gives its programs 40 days and judges by Making Data Count; the measure is
        // drawn as a P′ chart.
        log.net(NicEvent::ChartSettingsChanged(ChartSettingsChanged {
            reporting_deadline_days: 40,
            control_rules: ControlRuleSet::MakingDataCount,
            reason: x("Exports are due by the 10th of the second month."),
        }));
        log.push(
            "measure",
            MEASURE,
            NicEvent::ControlChartChosen(ControlChartChosen {
                chart: ControlChartKind::PPrime,
                reason: x("Large subgroups."),
            }),
        );
        let charts = fold(RunCharts::new(), &log.events);
        let later = charts
            .chart(MEASURE, SeriesScope::Network, on(2025, 8, 21))
            .unwrap();
        assert_eq!(later.reporting_deadline_days, 40);
        assert!(
            later.points[6].provisional,
            "40 days after July is September 9"
        );
        assert!(
            !charts
                .chart(MEASURE, SeriesScope::Network, on(2025, 9, 10))
                .unwrap()
                .points[6]
                .provisional
        );
        assert_eq!(later.chart_type, ChartType::PPrime);
        assert_eq!(later.control_rules, ControlRules::MakingDataCount);
        let control = later.control.as_ref().unwrap();
        assert_eq!(control.chart, ChartType::PPrime);
        assert_eq!(control.rule_set.id, "nhs-making-data-count");
        // A reader may ask for another chart or rule set; what it does not name stays.
        let other = later
            .with_control(Some(ChartType::I), None)
            .control
            .unwrap();
        assert_eq!(other.chart, ChartType::I);
        assert_eq!(other.rule_set.id, "nhs-making-data-count");
    }

    #[test]
    fn network_wide_sums_numerators_and_denominators_not_percents() {
        let mut log = scenario();
        // Program A: 1 of 10 (10%); Program B: 90 of 100 (90%). The mean of the percents is 50%;
        // the network's share is 91 of 110.
        point(&mut log, MEASURE, id(900), PROG_A, "2025-03", 1.0, 10.0);
        point(&mut log, MEASURE, id(901), PROG_B, "2025-03", 90.0, 100.0);
        let charts = fold(RunCharts::new(), &log.events);
        let net = charts.network_chart(MEASURE).unwrap();
        let p = &net.points[0];
        assert_eq!((p.numerator, p.denominator), (Some(91.0), Some(110.0)));
        assert_eq!(p.plotted, Some(91.0 / 110.0));
        let mean_of_percents = (0.1 + 0.9) / 2.0;
        assert!((p.plotted.unwrap() - mean_of_percents).abs() > 0.3);
        assert_eq!(p.contributions.len(), 2);
        assert_eq!(p.contributions[0].program_name, "Program A");
        assert_eq!(p.contributions[0].plotted, Some(0.1));
        let a = charts.program_chart(MEASURE, PROG_A).unwrap();
        assert_eq!(a.points[0].plotted, Some(0.1));
        assert_eq!(a.program_name.as_deref(), Some("Program A"));
        assert_eq!(charts.measures()[0].programs, vec![PROG_A, PROG_B]);
    }

    #[test]
    fn corrections_replace_numbers_and_exclusions_leave_the_analysis() {
        let mut log = scenario();
        let values = [2.0, 4.0, 6.0, 8.0, 10.0];
        for (i, v) in values.iter().enumerate() {
            let period = format!("2025-{:02}", i + 1);
            point(
                &mut log,
                MEASURE,
                id(900 + i as u128),
                PROG_A,
                &period,
                *v,
                10.0,
            );
        }
        point(&mut log, MEASURE, id(950), PROG_B, "2025-02", 1.0, 10.0);
        log.push(
            "measure",
            MEASURE,
            NicEvent::DataPointCorrected(DataPointCorrected {
                point_id: id(900),
                numerator: Some(3.0),
                denominator: Some(10.0),
                value: None,
                reason: x("Two students were missed"),
            }),
        );
        for (point_id, reason) in [(id(904), "Data lost in a flood"), (id(950), "Pilot site")] {
            log.push(
                "measure",
                MEASURE,
                NicEvent::DataPointExcluded(DataPointExcluded {
                    point_id,
                    reason: x(reason),
                }),
            );
        }
        let charts = fold(RunCharts::new(), &log.events);
        let a = charts.program_chart(MEASURE, PROG_A).unwrap();
        let plotted: Vec<Option<f64>> = a.points.iter().map(|p| p.plotted).collect();
        assert_eq!(
            plotted,
            vec![Some(0.3), Some(0.4), Some(0.6), Some(0.8), Some(1.0)]
        );
        assert_eq!(a.points[0].contributions[0].corrections, 1);
        assert!(a.points[4].excluded);
        assert_eq!(
            a.points[4].exclusion_reasons,
            vec!["Program A: Data lost in a flood"]
        );
        // The median of 0.3, 0.4, 0.6, 0.8 (the excluded 1.0 left out).
        assert_eq!(a.points[0].median, Some(0.5));
        assert_eq!(a.phases[0].analysis.median_points, 4);
        // Network-wide, February sums only Program A's point: B's is excluded.
        let net = charts.network_chart(MEASURE).unwrap();
        let feb = &net.points[1];
        assert_eq!((feb.numerator, feb.denominator), (Some(4.0), Some(10.0)));
        assert!(!feb.excluded);
        assert_eq!(feb.exclusion_reasons, vec!["Program B: Pilot site"]);
        // May has only the excluded point: shown with its numbers, marked excluded.
        let may = &net.points[4];
        assert!(may.excluded);
        assert_eq!(may.plotted, Some(1.0));
    }

    #[test]
    fn phases_baselines_and_cycles_land_on_their_periods() {
        let mut log = scenario();
        for m in 1..=9u32 {
            let p = format!("2025-{m:02}");
            let n = f64::from(m % 3 + 1);
            point(
                &mut log,
                MEASURE,
                id(900 + u128::from(m)),
                PROG_A,
                &p,
                n,
                10.0,
            );
        }
        log.push(
            "measure",
            MEASURE,
            NicEvent::BaselineFrozen(BaselineFrozen {
                points: 3,
                reason: x(""),
            }),
        );
        log.push(
            "measure",
            MEASURE,
            NicEvent::PhaseStarted(PhaseStarted {
                from_period: "2025-06".parse().unwrap(),
                label: t("Huddles everywhere"),
                reason: x(""),
            }),
        );
        // Planned in March–April; actually ran from April into May.
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(100),
                program_id: PROG_A,
                ideas: vec![IDEA],
                previous: None,
                ramp_id: id(100),
                number: 1,
                title: "Huddle pilot",
                start: day(2025, 3, 10),
                end: day(2025, 4, 5),
                measures: vec![MEASURE],
                predictions: true,
            },
        );
        run_through(
            &mut log,
            id(100),
            day(2025, 4, 20),
            day(2025, 5, 2),
            true,
            None,
        );
        // Program B's cycle names no measure: it is on no chart.
        plan(
            &mut log,
            CyclePlan {
                cycle_id: id(101),
                program_id: PROG_B,
                ideas: vec![IDEA],
                previous: None,
                ramp_id: id(101),
                number: 1,
                title: "Other",
                start: day(2025, 3, 10),
                end: day(2025, 4, 5),
                measures: vec![],
                predictions: true,
            },
        );
        let charts = fold(RunCharts::new(), &log.events);
        let a = charts.program_chart(MEASURE, PROG_A).unwrap();
        let with_cycle: Vec<&str> = a
            .points
            .iter()
            .filter(|p| !p.cycles.is_empty())
            .map(|p| p.period.as_str())
            .collect();
        assert_eq!(with_cycle, vec!["2025-03", "2025-04", "2025-05"]);
        assert_eq!(a.points[2].cycles[0].title, "Huddle pilot");
        assert_eq!(a.points[2].cycles[0].phase, CyclePhase::Studying);
        assert!(charts
            .program_chart(MEASURE, PROG_B)
            .unwrap()
            .points
            .is_empty());
        assert_eq!(a.phases.len(), 2);
        assert_eq!(a.phases[0].label, INITIAL_PHASE_LABEL);
        assert_eq!(a.phases[1].label, "Huddles everywhere");
        assert_eq!(a.phases[1].from_period, "2025-06");
        assert_eq!(
            (a.phases[1].analysis.start, a.phases[1].analysis.end),
            (5, 9)
        );
        assert_eq!(a.points[5].phase, "Huddles everywhere");
        // Numerators 2, 3, 1, 2, 3 | 1, 2, 3, 1; each phase's median is frozen on its first three
        // points (2, 3, 1 → 2 tenths).
        assert!(a.phases[0].analysis.baseline_frozen);
        assert_eq!(a.points[0].median, Some(0.2));
        assert_eq!(a.phases[1].analysis.median_points, 3);
        let period = |label: &str| label.parse::<Period>().unwrap();
        assert_eq!(period("2025-T3").end(), day(2025, 12, 31));
        assert_eq!(period("2025-02").end(), day(2025, 2, 28));
    }

    #[test]
    fn the_csv_quotes_user_text_and_rolls_up_per_period() {
        let mut log = scenario();
        log.push(
            "program",
            id(12),
            NicEvent::ProgramEnrolled(ProgramEnrolled {
                program_id: id(12),
                network_id: NET,
                name: t("Smith, \"STEM\" Club"),
                ecosystem_id: ECO,
                region: t("PA"),
            }),
        );
        point(&mut log, MEASURE, id(900), id(12), "2025-03", 1.0, 4.0);
        point(&mut log, MEASURE, id(901), PROG_A, "2025-03", 3.0, 4.0);
        log.push(
            "measure",
            MEASURE,
            NicEvent::DataPointExcluded(DataPointExcluded {
                point_id: id(901),
                reason: x("=HYPERLINK(\"x\")"),
            }),
        );
        let charts = fold(RunCharts::new(), &log.events);
        let csv = to_csv(&charts.network_chart(MEASURE).unwrap());
        let lines: Vec<&str> = csv.split("\r\n").collect();
        assert_eq!(lines[0], CSV_HEADER);
        // A program's row leaves the chart's own columns empty.
        assert_eq!(
            lines[1],
            "2025-03,Program A,3,4,,0.75,true,\"'=HYPERLINK(\"\"x\"\")\",,initial,,,,,,,,,,"
        );
        assert_eq!(
            lines[2],
            "2025-03,\"Smith, \"\"STEM\"\" Club\",1,4,,0.25,false,,,initial,,,,,,,,,,"
        );
        // The total row: both programs reported; a P chart of the one non-excluded point
        // (p̄ = 1/4, σ = √(0.25 × 0.75 / 4)).
        let total: Vec<&str> = lines[3].split(',').collect();
        assert_eq!(
            total[..16].join(","),
            "2025-03,All programs,1,4,,0.25,false,\"Program A: =HYPERLINK(\"\"x\"\")\",0.25,initial,\
             false,2,2,p,health-care-data-guide v1,0.25"
        );
        let sigma = (0.25f64 * 0.75 / 4.0).sqrt();
        let number = |i: usize| total[i].parse::<f64>().unwrap();
        assert_eq!(number(16), 0.0, "the lower limit is clamped at 0");
        assert!((number(17) - (0.25 + 3.0 * sigma)).abs() < 1e-12);
        assert!((number(18) - sigma).abs() < 1e-12);
        assert_eq!(total[19], "", "one point flags nothing");
        assert_eq!(total.len(), 20);
        assert_eq!(lines[4], "");
        assert_eq!(lines.len(), 5);
        let program_csv = to_csv(&charts.program_chart(MEASURE, id(12)).unwrap());
        let own = program_csv.split("\r\n").nth(1).unwrap();
        assert!(
            own.starts_with(
                "2025-03,\"Smith, \"\"STEM\"\" Club\",1,4,,0.25,false,,0.25,initial,false,,,p,\
                 health-care-data-guide v1,0.25,0,"
            ),
            "{own}"
        );
        assert!(own.ends_with(&format!(",{sigma},")), "{own}");
    }

    /// The signals `network_signals` finds from the series kept per period are the whole chart's,
    /// after every event (points, a point recorded again for another period, corrections,
    /// exclusions, a frozen baseline, a new phase) and after a restore, which drops the series.
    #[test]
    fn the_kept_series_finds_the_charts_signals_after_every_event() {
        let mut log = scenario();
        let mut n = 0u128;
        for year in [2023, 2024] {
            for month in 1..=12u32 {
                let p = format!("{year}-{month:02}");
                // Low for a year, then a shift up: runs and shifts on both rule sets.
                let base = if year == 2023 { 2.0 } else { 7.0 };
                point(
                    &mut log,
                    MEASURE,
                    id(2000 + n),
                    PROG_A,
                    &p,
                    base + f64::from(month % 3),
                    10.0,
                );
                point(&mut log, MEASURE, id(3000 + n), PROG_B, &p, base, 10.0);
                n += 1;
            }
        }
        // Point 2000 recorded again, for another period.
        point(&mut log, MEASURE, id(2000), PROG_A, "2024-12", 9.0, 10.0);
        log.push(
            "measure",
            MEASURE,
            NicEvent::DataPointCorrected(DataPointCorrected {
                point_id: id(2005),
                numerator: Some(9.0),
                denominator: Some(10.0),
                value: None,
                reason: x("Miscounted"),
            }),
        );
        for point_id in [id(2007), id(3007)] {
            log.push(
                "measure",
                MEASURE,
                NicEvent::DataPointExcluded(DataPointExcluded {
                    point_id,
                    reason: x("Pilot"),
                }),
            );
        }
        log.push(
            "measure",
            MEASURE,
            NicEvent::BaselineFrozen(BaselineFrozen {
                points: 6,
                reason: x(""),
            }),
        );
        log.push(
            "measure",
            MEASURE,
            NicEvent::PhaseStarted(PhaseStarted {
                from_period: "2024-04".parse().unwrap(),
                label: t("Huddles everywhere"),
                reason: x(""),
            }),
        );
        let chart_signals = |c: &RunCharts| -> Vec<SignalStart> {
            c.network_chart(MEASURE)
                .map(|chart| {
                    chart
                        .phases
                        .into_iter()
                        .flat_map(|p| p.signals)
                        .map(|s| SignalStart {
                            rule_set: s.rule_set,
                            rule: s.rule,
                            first_period: s.periods.first().copied(),
                            message: s.message,
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut charts = RunCharts::new();
        let mut found = 0;
        for e in &log.events {
            charts.apply(e);
            let kept = charts
                .network_signals(MEASURE)
                .map(|s| s.signals)
                .unwrap_or_default();
            assert_eq!(kept, chart_signals(&charts), "after {:?}", e.event);
            // Their starts, found without the sentences.
            let mut starts = Vec::new();
            charts.network_signal_starts(MEASURE, |rule_set, rule, first| {
                starts.push((rule_set, rule, first))
            });
            let kept_starts: Vec<_> = kept
                .iter()
                .map(|s| (s.rule_set, s.rule, s.first_period.unwrap()))
                .collect();
            assert_eq!(starts, kept_starts, "starts, after {:?}", e.event);
            found = found.max(kept.len());
            let restored: RunCharts =
                serde_json::from_str(&serde_json::to_string(&charts).unwrap()).unwrap();
            assert_eq!(
                restored.network_signals(MEASURE).map(|s| s.signals),
                charts.network_signals(MEASURE).map(|s| s.signals)
            );
        }
        assert!(found >= 2, "the log shows signals");
        // A restored state keeps its series up to date again from the next point on.
        let mut restored: RunCharts =
            serde_json::from_str(&serde_json::to_string(&charts).unwrap()).unwrap();
        let pos = point(&mut log, MEASURE, id(4000), PROG_B, "2025-01", 10.0, 10.0);
        let last = log
            .events
            .iter()
            .find(|e| e.global_position == pos)
            .unwrap();
        restored.apply(last);
        charts.apply(last);
        assert_eq!(
            restored.network_signals(MEASURE).unwrap().signals,
            chart_signals(&charts)
        );
    }
}
