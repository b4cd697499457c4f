//! Control-chart (Shewhart chart) analysis of one series: its centre line, its 3-sigma limits and
//! 2-sigma lines point by point, the points that signal special-cause variation under one of three
//! rule sets, and the NHS "Making Data Count" variation and assurance icons of the latest point.
//!
//! Charts, as computed by qicharts2 (Anhøj), the reference where sources differ:
//!
//! - **P**: `p̄ = Σx / Σn`, `σᵢ = √(p̄(1 − p̄)/nᵢ)`; limits clamped to `0..=1`.
//! - **U**: `ū = Σx / Σn`, `σᵢ = √(ū/nᵢ)`; lower limits clamped at 0.
//! - **C**: `c̄` the mean count, `σ = √c̄`; lower limits clamped at 0.
//! - **I** (XmR): `x̄` the mean, `σ = MR̄ / 1.128` where `MR̄` is the mean moving range of consecutive
//!   non-excluded points (an excluded point is bridged, as qicharts2 does); not clamped. The moving
//!   ranges are screened first (Nelson 1982, the default of both qicharts2 and NHSRplotthedots):
//!   those at or above `3.267 × MR̄` are dropped and `MR̄` recomputed. The moving-range chart shows
//!   the same moving ranges with the unscreened mean as its centre and `3.267 ×` it as its limit,
//!   as qicharts2's MR chart does. NHSRplotthedots writes `2.66 × MR̄` for `3 / 1.128 × MR̄`; the
//!   limits here use `3 / 1.128`.
//! - **P′** and **U′** (Laney 2002): `zᵢ = (statisticᵢ − centre) / σᵢ` of the P or U chart,
//!   `σ_z = MR̄(z) / 1.128` (screened as above), limits `centre ± 3·σᵢ·σ_z`, clamped as P or U.
//!
//! Centres and sigmas are estimated per phase from its non-excluded subgroups, or from its first
//! `k` of them when a baseline freezes them; every point of the phase is then judged against them.
//! A sigma that cannot be estimated (fewer than two points for a moving range, a proportion of 0 or
//! 1 for P′) is 0: the limits equal the centre and no sigma-based rule fires.
//!
//! Rule sets (excluded points take no part and break no run; each rule looks within a phase):
//!
//! - `shewhart` v1: a point beyond the 3-sigma limits.
//! - `nhs-making-data-count` v1, as NHSRplotthedots implements it: beyond the limits; a shift of 7
//!   points on one side of the centre (a point on the centre breaks it); a trend of 7 points each
//!   strictly above (or below) the one before (an equal neighbour breaks it); two of three points
//!   between the 2-sigma line and the limit on one side, with all three on that side of the centre
//!   (only the points near the limit are flagged).
//! - `health-care-data-guide` v1 (Provost & Murray 2011): beyond the limits; a shift of 8 points
//!   on one side (a point on the centre breaks it, as above); a trend of 6 points going up or going
//!   down, where equal neighbours count once and do not break it (as the IHI run-chart trend); two
//!   of three points beyond the same 2-sigma line (a point beyond the limit counts; the third point
//!   may be anywhere); fifteen points in a row strictly within 1 sigma of the centre.
//!
//! Variation (the latest non-excluded point): common cause without a flag; otherwise its side of
//! the centre, or for a trend (without a point beyond the limits) the trend's direction, as
//! NHSRplotthedots orients it, read with the improvement direction. Fifteen points in the inner
//! third alone has no direction: special cause, neither. Assurance follows NHSRplotthedots: the
//! target above the latest upper limit fails consistently when higher is better (passes when lower
//! is better), below the lower limit the mirror, else hit and miss; no assurance without a
//! direction of improvement.

use serde::{Deserialize, Serialize};

/// Sigmas from the centre to a control limit.
const LIMIT_SIGMAS: f64 = 3.0;
/// Sigmas from the centre to the warning lines (the outer third begins here).
const WARNING_SIGMAS: f64 = 2.0;
/// The bias-correction constant d₂ for moving ranges of two points: `σ = MR̄ / d₂`.
const D2: f64 = 1.128;
/// The constant D₄ for moving ranges of two points: the moving-range chart's upper limit is
/// `D₄ × MR̄`, and moving ranges at or above it are screened out before sigma is estimated.
const D4: f64 = 3.267;
/// Points in a row on one side of the centre that make a Making Data Count shift.
const MDC_SHIFT_LENGTH: usize = 7;
/// Points in a row all going up or all going down that make a Making Data Count trend.
const MDC_TREND_LENGTH: usize = 7;
/// Points in a row on one side of the centre that make a Health Care Data Guide shift.
const HCDG_SHIFT_LENGTH: usize = 8;
/// Points in a row all going up or all going down that make a Health Care Data Guide trend.
const HCDG_TREND_LENGTH: usize = 6;
/// Points in a row within 1 sigma of the centre that make a Health Care Data Guide signal.
const HCDG_INNER_THIRD_LENGTH: usize = 15;
/// The window of the two-of-three rule.
const TWO_OF_THREE_WINDOW: usize = 3;
/// How many points of the window must lie beyond the 2-sigma line.
const TWO_OF_THREE_NEEDED: usize = 2;

/// Which chart: P (proportions), P′ (Laney), U (rates), U′ (Laney), C (counts), I (individuals,
/// with its moving-range chart).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ChartType {
    P,
    PPrime,
    U,
    UPrime,
    C,
    #[default]
    I,
}

impl ChartType {
    /// Whether the statistic is a ratio to the subgroup's size.
    fn has_size(self) -> bool {
        matches!(self, Self::P | Self::PPrime | Self::U | Self::UPrime)
    }
}

/// One subgroup of the series, in time order.
///
/// P, P′: `value` is the numerator count and `size` the denominator (the statistic is their
/// ratio, a proportion). U, U′: `value` counts events over an exposure `size`. C: `value` is a
/// count, I: a measurement (`size` is ignored). A subgroup whose statistic cannot be computed
/// (no size or a size ≤ 0 where one is needed, a value or size that is not finite) is treated as
/// excluded.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Subgroup {
    pub value: f64,
    #[serde(default)]
    pub size: Option<f64>,
    /// Shown on the chart but used for neither the centre, the sigma nor any rule.
    #[serde(default)]
    pub excluded: bool,
}

/// Which rules judge the points.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ControlRules {
    /// A point beyond the 3-sigma limits, only.
    #[default]
    Shewhart,
    /// NHS England "Making Data Count", as NHSRplotthedots implements it.
    MakingDataCount,
    /// The Health Care Data Guide (Provost & Murray 2011), as taught by IHI.
    HealthCareDataGuide,
}

impl ControlRules {
    /// The stable name and version of the rule set.
    pub fn id(self) -> RuleSetId {
        let id = match self {
            Self::Shewhart => "shewhart",
            Self::MakingDataCount => "nhs-making-data-count",
            Self::HealthCareDataGuide => "health-care-data-guide",
        };
        RuleSetId { id, version: 1 }
    }
}

/// Which way is better.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    HigherIsBetter,
    LowerIsBetter,
    #[default]
    Neither,
}

/// How to analyse the series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlOptions {
    pub chart: ChartType,
    pub rules: ControlRules,
    /// Indices where a new phase starts (centre and limits recomputed); in any order. Index 0,
    /// duplicates and indices past the end are ignored.
    pub phases: Vec<usize>,
    /// Freeze each phase's centre and sigma on its first `k` non-excluded subgroups (`None` or
    /// `Some(0)`: all of them) and extend them to the rest of the phase.
    pub baseline: Option<usize>,
    pub direction: Direction,
    /// A target, in the statistic's units: gives the assurance.
    pub target: Option<f64>,
    /// Drop moving ranges at or above `3.267 × MR̄` before estimating sigma (I, P′, U′), as both
    /// qicharts2 and NHSRplotthedots do by default.
    pub screen_moving_ranges: bool,
}

impl Default for ControlOptions {
    fn default() -> Self {
        Self {
            chart: ChartType::default(),
            rules: ControlRules::default(),
            phases: Vec::new(),
            baseline: None,
            direction: Direction::default(),
            target: None,
            screen_moving_ranges: true,
        }
    }
}

/// A rule set's stable name and version, so a stored judgement says what judged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, schemars::JsonSchema)]
pub struct RuleSetId {
    pub id: &'static str,
    pub version: u32,
}

/// A rule that flags points. Lengths per rule set (Shewhart / Making Data Count / Health Care
/// Data Guide):
///
/// - `BeyondLimits`: one point beyond the 3-sigma limits, in all three.
/// - `Shift`: — / 7 / 8 points in a row on one side of the centre.
/// - `Trend`: — / 7 / 6 points in a row all going up or all going down.
/// - `TwoOfThreeBeyondTwoSigma`: — / 2 of 3 / 2 of 3 points beyond a 2-sigma line on one side.
/// - `FifteenInInnerThird`: — / — / 15 points in a row within 1 sigma of the centre.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ControlRule {
    BeyondLimits,
    Shift,
    Trend,
    TwoOfThreeBeyondTwoSigma,
    FifteenInInnerThird,
}

/// The variation icon of the latest non-excluded point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Variation {
    CommonCause,
    SpecialCauseImproving,
    SpecialCauseConcerning,
    /// Special cause with no direction of improvement (or a signal without a side).
    SpecialCauseNeither,
}

/// The assurance icon: whether the process, as it runs, meets the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Assurance {
    ConsistentlyPass,
    ConsistentlyFail,
    HitAndMiss,
}

/// The analysis of a series.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ControlChart {
    pub chart: ChartType,
    pub rule_set: RuleSetId,
    /// One per subgroup, in the same order.
    pub points: Vec<ControlPoint>,
    pub phases: Vec<ControlPhase>,
    /// The moving-range chart, for the I chart only.
    pub moving_ranges: Option<MovingRangeChart>,
    /// Of the latest non-excluded point (common cause when there is none).
    pub variation: Variation,
    /// Only with a target, a direction of improvement and a non-excluded point.
    pub assurance: Option<Assurance>,
}

/// One subgroup on the chart, with the lines at its place (they vary with the size for P, U, P′
/// and U′). A point of a phase without a centre (every subgroup excluded) carries 0 for every line.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ControlPoint {
    /// `None` when it cannot be computed (then the point is excluded).
    pub statistic: Option<f64>,
    pub centre: f64,
    /// The sigma of this point (for P′ and U′, `σᵢ · σ_z`); 0 when it cannot be estimated.
    pub sigma: f64,
    pub lcl: f64,
    pub ucl: f64,
    pub lower_2_sigma: f64,
    pub upper_2_sigma: f64,
    pub excluded: bool,
    /// Every rule that includes this point, in the order of `ControlRule`.
    pub flags: Vec<ControlRule>,
}

/// One phase, the subgroups with indices `start..end` of the input.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ControlPhase {
    pub start: usize,
    /// One past the last subgroup of the phase.
    pub end: usize,
    /// `None` when every subgroup of the phase is excluded.
    pub centre: Option<f64>,
    /// The sigma of the charts where it is one for the phase (C and I); `None` for the others.
    pub sigma: Option<f64>,
    /// How many subgroups the centre and sigma were estimated from.
    pub baseline_points: usize,
    /// Laney's `σ_z` (P′ and U′), when there were two points to estimate it from.
    pub laney_sigma_z: Option<f64>,
    /// The (screened) mean moving range sigma was estimated from (I, P′ of z, U′ of z).
    pub mean_moving_range: Option<f64>,
}

/// The moving-range chart that goes with the I chart.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MovingRangeChart {
    /// One per subgroup, in the same order.
    pub points: Vec<MovingRangePoint>,
}

/// One point of the moving-range chart.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct MovingRangePoint {
    /// `|xᵢ − xⱼ|` with `j` the previous non-excluded point of the phase; `None` for an excluded
    /// point and the first of a phase.
    pub moving_range: Option<f64>,
    /// The mean moving range of the phase's baseline (unscreened); 0 without one.
    pub centre: f64,
    /// `3.267 × centre`.
    pub ucl: f64,
}

/// Analyses `subgroups` (in time order) as `options.chart` under `options.rules`.
pub fn analyse(subgroups: &[Subgroup], options: &ControlOptions) -> ControlChart {
    let chart = options.chart;
    let statistics: Vec<Option<f64>> = subgroups.iter().map(|s| statistic(chart, s)).collect();
    let used: Vec<bool> = subgroups
        .iter()
        .zip(&statistics)
        .map(|(s, x)| !s.excluded && x.is_some())
        .collect();
    let mut points: Vec<ControlPoint> = statistics
        .iter()
        .zip(&used)
        .map(|(&statistic, &used)| ControlPoint {
            statistic,
            centre: 0.0,
            sigma: 0.0,
            lcl: 0.0,
            ucl: 0.0,
            lower_2_sigma: 0.0,
            upper_2_sigma: 0.0,
            excluded: !used,
            flags: Vec::new(),
        })
        .collect();
    let mut moving_ranges = (chart == ChartType::I).then(|| MovingRangeChart {
        points: vec![
            MovingRangePoint {
                moving_range: None,
                centre: 0.0,
                ucl: 0.0,
            };
            subgroups.len()
        ],
    });

    let mut phases = Vec::new();
    for (start, end) in phase_bounds(subgroups.len(), &options.phases) {
        let idx: Vec<usize> = (start..end).filter(|&i| used[i]).collect();
        let k = match options.baseline {
            Some(k) if k > 0 => k.min(idx.len()),
            _ => idx.len(),
        };
        let base = &idx[..k];
        let phase = estimate_phase(
            subgroups,
            &statistics,
            options,
            (start, end),
            base,
            &mut points,
            moving_ranges.as_mut(),
        );
        if phase.centre.is_some() {
            flag_phase(&idx, &mut points, options.rules);
        }
        phases.push(phase);
    }

    let latest = points.iter().rposition(|p| !p.excluded);
    let variation = latest.map_or(Variation::CommonCause, |i| {
        variation(&points, i, options.direction)
    });
    let assurance = latest.and_then(|i| assurance(&points[i], options));
    ControlChart {
        chart,
        rule_set: options.rules.id(),
        points,
        phases,
        moving_ranges,
        variation,
        assurance,
    }
}

/// The statistic of a subgroup, `None` when it cannot be computed.
fn statistic(chart: ChartType, s: &Subgroup) -> Option<f64> {
    if !s.value.is_finite() {
        return None;
    }
    if !chart.has_size() {
        return Some(s.value);
    }
    let n = s.size.filter(|n| n.is_finite() && *n > 0.0)?;
    Some(s.value / n).filter(|x| x.is_finite())
}

/// The phases as `(start, end)` pairs covering `0..len`.
fn phase_bounds(len: usize, starts: &[usize]) -> Vec<(usize, usize)> {
    let mut bounds: Vec<usize> = starts
        .iter()
        .copied()
        .filter(|&s| s > 0 && s < len)
        .collect();
    bounds.sort_unstable();
    bounds.dedup();
    bounds.push(len);
    let mut start = 0;
    let mut out = Vec::new();
    for end in bounds {
        if end > start {
            out.push((start, end));
        }
        start = end;
    }
    out
}

/// The mean of `values`, `None` when empty.
fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The mean moving range of `values` in order, screened (moving ranges at or above `D4 × MR̄`
/// dropped) when asked; `None` with fewer than two values.
fn mean_moving_range(values: &[f64], screen: bool) -> Option<f64> {
    let ranges: Vec<f64> = values.windows(2).map(|w| (w[1] - w[0]).abs()).collect();
    let amr = mean(&ranges)?;
    if !screen || amr <= 0.0 {
        return Some(amr);
    }
    let kept: Vec<f64> = ranges.into_iter().filter(|&r| r < D4 * amr).collect();
    mean(&kept).or(Some(amr))
}

/// Estimates a phase's centre and sigma from its `base` subgroups, writes every point's lines
/// (and, for the I chart, the moving ranges), and returns the phase.
fn estimate_phase(
    subgroups: &[Subgroup],
    statistics: &[Option<f64>],
    options: &ControlOptions,
    (start, end): (usize, usize),
    base: &[usize],
    points: &mut [ControlPoint],
    moving_ranges: Option<&mut MovingRangeChart>,
) -> ControlPhase {
    let chart = options.chart;
    let screen = options.screen_moving_ranges;
    let stat = |i: usize| statistics[i].unwrap_or(0.0);
    let size = |i: usize| subgroups[i].size.filter(|n| n.is_finite() && *n > 0.0);
    let mut phase = ControlPhase {
        start,
        end,
        centre: None,
        sigma: None,
        baseline_points: base.len(),
        laney_sigma_z: None,
        mean_moving_range: None,
    };
    let centre = if chart.has_size() {
        let x: f64 = base.iter().map(|&i| subgroups[i].value).sum();
        let n: f64 = base.iter().filter_map(|&i| size(i)).sum();
        (n > 0.0).then(|| x / n)
    } else {
        mean(&base.iter().map(|&i| stat(i)).collect::<Vec<_>>())
    };
    let Some(centre) = centre.filter(|c| c.is_finite()) else {
        return phase;
    };
    phase.centre = Some(centre);

    // The sigma of a point of size `n` before Laney's correction (P and U), or the constant one.
    let binomial = |n: f64| {
        let v = match chart {
            ChartType::P | ChartType::PPrime => centre * (1.0 - centre) / n,
            _ => centre / n,
        };
        v.max(0.0).sqrt()
    };
    let constant = match chart {
        ChartType::C => Some(centre.max(0.0).sqrt()),
        ChartType::I => {
            let values: Vec<f64> = base.iter().map(|&i| stat(i)).collect();
            let amr = mean_moving_range(&values, screen);
            phase.mean_moving_range = amr;
            Some(amr.map_or(0.0, |m| m / D2))
        }
        _ => None,
    };
    phase.sigma = constant;
    let laney = if matches!(chart, ChartType::PPrime | ChartType::UPrime) {
        let z: Option<Vec<f64>> = base
            .iter()
            .map(|&i| {
                let s = binomial(size(i)?);
                (s > 0.0).then(|| (stat(i) - centre) / s)
            })
            .collect();
        let amr = z.and_then(|z| mean_moving_range(&z, screen));
        phase.mean_moving_range = amr;
        phase.laney_sigma_z = amr.map(|m| m / D2);
        Some(phase.laney_sigma_z.unwrap_or(0.0))
    } else {
        None
    };

    for (i, p) in points.iter_mut().enumerate().take(end).skip(start) {
        let sigma = match constant {
            Some(s) => s,
            None => size(i).map_or(0.0, |n| binomial(n) * laney.unwrap_or(1.0)),
        };
        let line = |k: f64| clamp(chart, centre + k * sigma);
        p.centre = centre;
        p.sigma = sigma;
        p.lcl = line(-LIMIT_SIGMAS);
        p.ucl = line(LIMIT_SIGMAS);
        p.lower_2_sigma = line(-WARNING_SIGMAS);
        p.upper_2_sigma = line(WARNING_SIGMAS);
    }

    if let Some(mr) = moving_ranges {
        let in_base: Vec<bool> = (start..end).map(|i| base.contains(&i)).collect();
        let mut previous: Option<usize> = None;
        let mut base_ranges = Vec::new();
        for i in start..end {
            if points[i].excluded {
                continue;
            }
            if let Some(j) = previous {
                let r = (stat(i) - stat(j)).abs();
                mr.points[i].moving_range = Some(r);
                if in_base[i - start] && in_base[j - start] {
                    base_ranges.push(r);
                }
            }
            previous = Some(i);
        }
        let centre = mean(&base_ranges).unwrap_or(0.0);
        for p in &mut mr.points[start..end] {
            p.centre = centre;
            p.ucl = D4 * centre;
        }
    }
    phase
}

/// A line clamped to where the chart's statistic can go.
fn clamp(chart: ChartType, v: f64) -> f64 {
    match chart {
        ChartType::P | ChartType::PPrime => v.clamp(0.0, 1.0),
        ChartType::U | ChartType::UPrime | ChartType::C => v.max(0.0),
        ChartType::I => v,
    }
}

/// The side of the centre a point is on: 1 above, -1 below, 0 on it.
fn side(p: &ControlPoint) -> i8 {
    let x = p.statistic.unwrap_or(p.centre);
    if x > p.centre {
        1
    } else if x < p.centre {
        -1
    } else {
        0
    }
}

/// Flags the points `idx` (the non-excluded points of a phase with a centre, in order).
fn flag_phase(idx: &[usize], points: &mut [ControlPoint], rules: ControlRules) {
    let x = |points: &[ControlPoint], i: usize| points[i].statistic.unwrap_or(0.0);
    let flag = |points: &mut [ControlPoint], positions: &[usize], rule: ControlRule| {
        for &i in positions {
            if !points[i].flags.contains(&rule) {
                points[i].flags.push(rule);
            }
        }
    };

    let beyond: Vec<usize> = idx
        .iter()
        .copied()
        .filter(|&i| {
            let p = &points[i];
            p.sigma > 0.0 && (x(points, i) > p.ucl || x(points, i) < p.lcl)
        })
        .collect();
    flag(points, &beyond, ControlRule::BeyondLimits);

    let (shift, trend, trend_ties_break, inner) = match rules {
        ControlRules::Shewhart => (None, None, true, None),
        ControlRules::MakingDataCount => {
            (Some(MDC_SHIFT_LENGTH), Some(MDC_TREND_LENGTH), true, None)
        }
        ControlRules::HealthCareDataGuide => (
            Some(HCDG_SHIFT_LENGTH),
            Some(HCDG_TREND_LENGTH),
            false,
            Some(HCDG_INNER_THIRD_LENGTH),
        ),
    };

    if let Some(length) = shift {
        let sides: Vec<i8> = idx.iter().map(|&i| side(&points[i])).collect();
        for run in runs_where(&sides, |a, b| a == b && *a != 0) {
            if run.len() >= length && sides[run.start] != 0 {
                flag(points, &idx[run], ControlRule::Shift);
            }
        }
    }

    if let Some(length) = trend {
        let values: Vec<f64> = idx.iter().map(|&i| x(points, i)).collect();
        for run in trends(&values, trend_ties_break, length) {
            flag(points, &idx[run], ControlRule::Trend);
        }
    }

    if rules != ControlRules::Shewhart {
        let near_limit = rules == ControlRules::MakingDataCount;
        let outer = |points: &[ControlPoint], i: usize, s: i8| -> bool {
            let p = &points[i];
            let v = x(points, i);
            if p.sigma <= 0.0 {
                return false;
            }
            match (s, near_limit) {
                (1, false) => v > p.upper_2_sigma,
                (-1, false) => v < p.lower_2_sigma,
                (1, true) => v > p.upper_2_sigma && v <= p.ucl,
                (-1, true) => v < p.lower_2_sigma && v >= p.lcl,
                _ => false,
            }
        };
        let mut hits = Vec::new();
        for window in idx.windows(TWO_OF_THREE_WINDOW) {
            for s in [1, -1] {
                if near_limit && !window.iter().all(|&i| side(&points[i]) == s) {
                    continue;
                }
                let beyond: Vec<usize> = window
                    .iter()
                    .copied()
                    .filter(|&i| outer(points, i, s))
                    .collect();
                if beyond.len() >= TWO_OF_THREE_NEEDED {
                    hits.extend(beyond);
                }
            }
        }
        flag(points, &hits, ControlRule::TwoOfThreeBeyondTwoSigma);
    }

    if let Some(length) = inner {
        let within: Vec<bool> = idx
            .iter()
            .map(|&i| {
                let p = &points[i];
                p.sigma > 0.0 && (x(points, i) - p.centre).abs() < p.sigma
            })
            .collect();
        for run in runs_where(&within, |a, b| *a && *b) {
            if run.len() >= length && within[run.start] {
                flag(points, &idx[run], ControlRule::FifteenInInnerThird);
            }
        }
    }

    for &i in idx {
        points[i].flags.sort_unstable();
    }
}

/// The maximal runs of positions in `values` where each neighbour pair satisfies `same`.
fn runs_where<T>(values: &[T], same: impl Fn(&T, &T) -> bool) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..=values.len() {
        if k == values.len() || !same(&values[k - 1], &values[k]) {
            out.push(start..k);
            start = k;
        }
    }
    out
}

/// The trends in `values`: maximal runs all going up or all going down, with at least `length`
/// points (counting a group of equal neighbours once, unless equal neighbours break the run).
/// Each comes with every point in it, equal neighbours included.
fn trends(values: &[f64], ties_break: bool, length: usize) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    if values.is_empty() {
        return out;
    }
    let (mut start, mut dir, mut count, mut tie_start) = (0usize, 0i8, 1usize, 0usize);
    let mut close = |range: std::ops::Range<usize>, dir: i8, count: usize| {
        if dir != 0 && count >= length {
            out.push(range);
        }
    };
    for k in 1..values.len() {
        let d = if values[k] > values[k - 1] {
            1
        } else if values[k] < values[k - 1] {
            -1
        } else {
            0
        };
        if d == 0 {
            if ties_break {
                close(start..k, dir, count);
                (start, dir, count, tie_start) = (k, 0, 1, k);
            }
        } else if dir == 0 || d == dir {
            dir = d;
            count += 1;
            tie_start = k;
        } else {
            close(start..k, dir, count);
            (start, dir, count) = (tie_start, d, 2);
            tie_start = k;
        }
    }
    close(start..values.len(), dir, count);
    out
}

/// The direction of the trend that includes the point at `i`, from the points before it.
fn trend_direction(points: &[ControlPoint], i: usize) -> i8 {
    let v = points[i].statistic.unwrap_or(0.0);
    points[..i]
        .iter()
        .rev()
        .filter(|p| !p.excluded)
        .filter_map(|p| p.statistic)
        .find(|&u| u != v)
        .map_or(0, |u| if v > u { 1 } else { -1 })
}

/// The variation icon of the point at `i`.
fn variation(points: &[ControlPoint], i: usize, direction: Direction) -> Variation {
    let p = &points[i];
    if p.flags.is_empty() {
        return Variation::CommonCause;
    }
    let sided = [
        ControlRule::BeyondLimits,
        ControlRule::TwoOfThreeBeyondTwoSigma,
        ControlRule::Shift,
    ];
    let s = if p.flags.contains(&ControlRule::BeyondLimits) {
        side(p)
    } else if p.flags.contains(&ControlRule::Trend) {
        trend_direction(points, i)
    } else if p.flags.iter().any(|f| sided.contains(f)) {
        side(p)
    } else {
        0
    };
    match (direction, s) {
        (Direction::Neither, _) | (_, 0) => Variation::SpecialCauseNeither,
        (Direction::HigherIsBetter, 1) | (Direction::LowerIsBetter, -1) => {
            Variation::SpecialCauseImproving
        }
        _ => Variation::SpecialCauseConcerning,
    }
}

/// The assurance icon against the latest point's limits.
fn assurance(p: &ControlPoint, options: &ControlOptions) -> Option<Assurance> {
    let target = options.target.filter(|t| t.is_finite())?;
    let higher = match options.direction {
        Direction::HigherIsBetter => true,
        Direction::LowerIsBetter => false,
        Direction::Neither => return None,
    };
    Some(if target > p.ucl {
        if higher {
            Assurance::ConsistentlyFail
        } else {
            Assurance::ConsistentlyPass
        }
    } else if target < p.lcl {
        if higher {
            Assurance::ConsistentlyPass
        } else {
            Assurance::ConsistentlyFail
        }
    } else {
        Assurance::HitAndMiss
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<Subgroup> {
        values
            .iter()
            .map(|&value| Subgroup {
                value,
                size: None,
                excluded: false,
            })
            .collect()
    }

    fn with(chart: ChartType, rules: ControlRules) -> ControlOptions {
        ControlOptions {
            chart,
            rules,
            ..ControlOptions::default()
        }
    }

    fn flagged(c: &ControlChart, rule: ControlRule) -> Vec<usize> {
        (0..c.points.len())
            .filter(|&i| c.points[i].flags.contains(&rule))
            .collect()
    }

    /// Every number of the output is finite.
    fn all_finite(c: &ControlChart) {
        let json = serde_json::to_value(c).unwrap();
        fn walk(v: &serde_json::Value) {
            match v {
                serde_json::Value::Number(n) => assert!(n.as_f64().unwrap().is_finite()),
                serde_json::Value::Array(a) => a.iter().for_each(walk),
                serde_json::Value::Object(o) => o.values().for_each(walk),
                _ => {}
            }
        }
        walk(&json);
        for p in &c.points {
            for v in [
                p.centre,
                p.sigma,
                p.lcl,
                p.ucl,
                p.lower_2_sigma,
                p.upper_2_sigma,
            ] {
                assert!(v.is_finite());
            }
        }
    }

    #[test]
    fn excluded_points_take_no_part_and_are_bridged_by_the_moving_range() {
        let mut s = series(&[1.0, 2.0, 100.0, 3.0]);
        s[2].excluded = true;
        let c = analyse(&s, &with(ChartType::I, ControlRules::Shewhart));
        all_finite(&c);
        assert_eq!(c.points[0].centre, 2.0);
        assert!(c.points[2].excluded && c.points[2].flags.is_empty());
        let mr = c.moving_ranges.as_ref().unwrap();
        let ranges: Vec<Option<f64>> = mr.points.iter().map(|p| p.moving_range).collect();
        assert_eq!(ranges, [None, Some(1.0), None, Some(1.0)]);
        assert_eq!(c.phases[0].mean_moving_range, Some(1.0));
        assert_eq!(c.points[0].sigma, 1.0 / D2);
    }

    #[test]
    fn a_phase_change_recomputes_centre_and_limits() {
        let c = analyse(
            &series(&[1.0, 1.0, 1.0, 9.0, 9.0, 9.0]),
            &ControlOptions {
                phases: vec![3, 3, 0, 99],
                ..with(ChartType::C, ControlRules::Shewhart)
            },
        );
        assert_eq!(c.phases.len(), 2);
        assert_eq!((c.phases[1].start, c.phases[1].end), (3, 6));
        assert_eq!(c.points[0].centre, 1.0);
        assert_eq!(c.points[0].lcl, 0.0, "C limits are clamped at 0");
        assert_eq!(c.points[5].centre, 9.0);
        assert_eq!(c.points[5].ucl, 18.0);
        assert!(c.points.iter().all(|p| p.flags.is_empty()));
    }

    #[test]
    fn a_frozen_baseline_extends_to_the_rest_of_the_phase() {
        let mut s = series(&[10.0, 12.0, 99.0, 10.0, 12.0, 30.0]);
        s[2].excluded = true;
        let c = analyse(
            &s,
            &ControlOptions {
                baseline: Some(4),
                ..with(ChartType::I, ControlRules::Shewhart)
            },
        );
        assert_eq!(c.phases[0].baseline_points, 4);
        assert_eq!(c.points[5].centre, 11.0);
        assert_eq!(c.phases[0].mean_moving_range, Some(2.0));
        assert_eq!(flagged(&c, ControlRule::BeyondLimits), [5]);
        // A baseline longer than the phase is the whole phase.
        let whole = analyse(
            &s,
            &ControlOptions {
                baseline: Some(50),
                ..with(ChartType::I, ControlRules::Shewhart)
            },
        );
        assert_eq!(whole.phases[0].baseline_points, 5);
    }

    #[test]
    fn a_subgroup_without_a_usable_size_is_excluded() {
        let s = [
            Subgroup {
                value: 1.0,
                size: Some(10.0),
                excluded: false,
            },
            Subgroup {
                value: 1.0,
                size: Some(0.0),
                excluded: false,
            },
            Subgroup {
                value: 3.0,
                size: None,
                excluded: false,
            },
            Subgroup {
                value: f64::NAN,
                size: Some(10.0),
                excluded: false,
            },
            Subgroup {
                value: 3.0,
                size: Some(10.0),
                excluded: false,
            },
        ];
        for chart in [
            ChartType::P,
            ChartType::PPrime,
            ChartType::U,
            ChartType::UPrime,
        ] {
            let c = analyse(&s, &with(chart, ControlRules::HealthCareDataGuide));
            all_finite(&c);
            assert_eq!(c.points[0].centre, 0.2, "{chart:?}");
            for i in 1..4 {
                assert!(c.points[i].excluded && c.points[i].statistic.is_none());
            }
            assert_eq!(c.points[1].sigma, 0.0);
            assert_eq!(c.points[1].ucl, 0.2);
        }
    }

    #[test]
    fn fewer_than_two_points_give_a_sigma_of_zero() {
        let empty = analyse(&[], &ControlOptions::default());
        assert!(empty.points.is_empty() && empty.phases.is_empty());
        assert_eq!(empty.variation, Variation::CommonCause);
        assert_eq!(empty.assurance, None);
        for chart in [ChartType::I, ChartType::PPrime, ChartType::UPrime] {
            let s = [Subgroup {
                value: 4.0,
                size: Some(10.0),
                excluded: false,
            }];
            let c = analyse(&s, &with(chart, ControlRules::HealthCareDataGuide));
            all_finite(&c);
            assert_eq!(c.points[0].sigma, 0.0);
            assert_eq!(c.points[0].lcl, c.points[0].centre);
            assert!(c.points[0].flags.is_empty());
        }
        let mut all_out = series(&[1.0, 2.0]);
        all_out.iter_mut().for_each(|s| s.excluded = true);
        let c = analyse(&all_out, &ControlOptions::default());
        all_finite(&c);
        assert_eq!(c.phases[0].centre, None);
    }

    #[test]
    fn equal_points_have_sigma_zero_and_flag_nothing() {
        for chart in [ChartType::I, ChartType::C] {
            let c = analyse(
                &series(&[5.0; 20]),
                &with(chart, ControlRules::HealthCareDataGuide),
            );
            all_finite(&c);
            if chart == ChartType::I {
                assert_eq!(c.points[0].sigma, 0.0);
                assert_eq!((c.points[0].lcl, c.points[0].ucl), (5.0, 5.0));
            }
            // A count has a sigma of its own: twenty equal counts are too little variation.
            let expected: &[ControlRule] = match chart {
                ChartType::C => &[ControlRule::FifteenInInnerThird],
                _ => &[],
            };
            assert!(c.points.iter().all(|p| p.flags == expected), "{chart:?}");
        }
        // A proportion of 0 everywhere, and one of 1: no sigma, no z for P′.
        for value in [0.0, 10.0] {
            let s: Vec<Subgroup> = (0..5)
                .map(|_| Subgroup {
                    value,
                    size: Some(10.0),
                    excluded: false,
                })
                .collect();
            for chart in [ChartType::P, ChartType::PPrime] {
                let c = analyse(&s, &with(chart, ControlRules::MakingDataCount));
                all_finite(&c);
                assert!(c
                    .points
                    .iter()
                    .all(|p| p.sigma == 0.0 && p.flags.is_empty()));
            }
        }
        // A baseline of equal points frozen: later points beyond the "limits" do not signal.
        let c = analyse(
            &series(&[5.0, 5.0, 5.0, 9.0]),
            &ControlOptions {
                baseline: Some(3),
                ..with(ChartType::I, ControlRules::Shewhart)
            },
        );
        assert!(c.points[3].flags.is_empty());
    }

    #[test]
    fn laney_p_prime_scales_the_p_sigma_by_sigma_z() {
        let x = [10.0, 20.0, 15.0, 30.0, 12.0];
        let n = [100.0, 120.0, 100.0, 150.0, 90.0];
        let s: Vec<Subgroup> = x
            .iter()
            .zip(n)
            .map(|(&value, size)| Subgroup {
                value,
                size: Some(size),
                excluded: false,
            })
            .collect();
        let options = ControlOptions {
            screen_moving_ranges: false,
            ..with(ChartType::PPrime, ControlRules::Shewhart)
        };
        let c = analyse(&s, &options);
        let p = x.iter().sum::<f64>() / n.iter().sum::<f64>();
        let sd = |n: f64| (p * (1.0 - p) / n).sqrt();
        let z: Vec<f64> = x.iter().zip(n).map(|(&x, n)| (x / n - p) / sd(n)).collect();
        let amr = z.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / 4.0;
        let sigma_z = amr / 1.128;
        assert!((c.phases[0].laney_sigma_z.unwrap() - sigma_z).abs() < 1e-12);
        for (i, pt) in c.points.iter().enumerate() {
            assert!((pt.centre - p).abs() < 1e-15);
            let ucl = (p + 3.0 * sd(n[i]) * sigma_z).min(1.0);
            let lcl = (p - 3.0 * sd(n[i]) * sigma_z).max(0.0);
            assert!((pt.ucl - ucl).abs() < 1e-12 && (pt.lcl - lcl).abs() < 1e-12);
        }
        // U′ the same way, with √(ū/n).
        let c = analyse(
            &s,
            &ControlOptions {
                chart: ChartType::UPrime,
                ..options
            },
        );
        let sd = |n: f64| (p / n).sqrt();
        let z: Vec<f64> = x.iter().zip(n).map(|(&x, n)| (x / n - p) / sd(n)).collect();
        let amr = z.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / 4.0;
        let sigma_z = amr / 1.128;
        assert!((c.phases[0].laney_sigma_z.unwrap() - sigma_z).abs() < 1e-12);
        assert!((c.points[3].ucl - (p + 3.0 * sd(150.0) * sigma_z)).abs() < 1e-12);
        assert_eq!(c.phases[0].sigma, None);
    }

    #[test]
    fn screening_drops_large_moving_ranges() {
        assert_eq!(mean_moving_range(&[0.0, 1.0, 0.0, 1.0], true), Some(1.0));
        // Moving ranges 1, 1, 1, 1, 20: mean 4.8, limit 15.68; 20 is dropped.
        let v = [0.0, 1.0, 0.0, 1.0, 0.0, 20.0];
        assert_eq!(mean_moving_range(&v, false), Some(4.8));
        assert_eq!(mean_moving_range(&v, true), Some(1.0));
        assert_eq!(mean_moving_range(&[3.0, 3.0, 3.0], true), Some(0.0));
        assert_eq!(mean_moving_range(&[3.0], true), None);
    }

    /// Twenty alternating points around 0 (sigma 2 / 1.128 ≈ 1.77, limits ≈ ±5.32) as a frozen
    /// baseline, then `tail`.
    fn after_baseline(tail: &[f64], rules: ControlRules) -> ControlChart {
        let mut v: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        v.extend_from_slice(tail);
        analyse(
            &series(&v),
            &ControlOptions {
                baseline: Some(20),
                ..with(ChartType::I, rules)
            },
        )
    }

    #[test]
    fn health_care_data_guide_shift_is_eight_and_a_point_on_the_centre_breaks_it() {
        let hcdg = ControlRules::HealthCareDataGuide;
        let c = after_baseline(&[0.5; 8], hcdg);
        assert_eq!(
            flagged(&c, ControlRule::Shift),
            (20..28).collect::<Vec<_>>()
        );
        assert_eq!(c.rule_set.id, "health-care-data-guide");
        let c = after_baseline(&[0.5; 7], hcdg);
        assert!(flagged(&c, ControlRule::Shift).is_empty());
        let c = after_baseline(&[0.5, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5], hcdg);
        assert!(flagged(&c, ControlRule::Shift).is_empty());
        // An excluded point breaks nothing.
        let mut v: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        v.extend([0.5, 0.5, 0.5, 0.5, -9.0, 0.5, 0.5, 0.5, 0.5]);
        let mut s = series(&v);
        s[24].excluded = true;
        let c = analyse(
            &s,
            &ControlOptions {
                baseline: Some(20),
                ..with(ChartType::I, hcdg)
            },
        );
        assert_eq!(flagged(&c, ControlRule::Shift).len(), 8);
    }

    #[test]
    fn health_care_data_guide_trend_is_six_and_equal_neighbours_count_once() {
        let hcdg = ControlRules::HealthCareDataGuide;
        let c = after_baseline(&[-2.0, -1.5, -1.0, -0.5, 0.0, 0.5], hcdg);
        assert_eq!(
            flagged(&c, ControlRule::Trend),
            (20..26).collect::<Vec<_>>()
        );
        let c = after_baseline(&[-2.0, -1.5, -1.0, -1.0, -0.5, 0.0], hcdg);
        assert!(flagged(&c, ControlRule::Trend).is_empty());
        let c = after_baseline(&[-2.0, -1.5, -1.0, -1.0, -0.5, 0.0, 0.5], hcdg);
        assert_eq!(
            flagged(&c, ControlRule::Trend),
            (20..27).collect::<Vec<_>>()
        );
        // Under Making Data Count the equal neighbour breaks it.
        let mdc = after_baseline(
            &[-2.0, -1.5, -1.0, -1.0, -0.5, 0.0, 0.5],
            ControlRules::MakingDataCount,
        );
        assert!(flagged(&mdc, ControlRule::Trend).is_empty());
    }

    #[test]
    fn health_care_data_guide_two_of_three_and_inner_third() {
        let hcdg = ControlRules::HealthCareDataGuide;
        // A point beyond the limit counts with one beyond 2 sigma; the third may be anywhere.
        let c = after_baseline(&[4.0, -1.0, 9.0], hcdg);
        assert_eq!(flagged(&c, ControlRule::TwoOfThreeBeyondTwoSigma), [20, 22]);
        assert_eq!(flagged(&c, ControlRule::BeyondLimits), [22]);
        // Making Data Count asks all three on one side and counts only points within the limits.
        let c = after_baseline(&[4.0, -1.0, 4.0], ControlRules::MakingDataCount);
        assert!(flagged(&c, ControlRule::TwoOfThreeBeyondTwoSigma).is_empty());
        let c = after_baseline(&[4.0, 9.0, 4.0], ControlRules::MakingDataCount);
        assert_eq!(flagged(&c, ControlRule::TwoOfThreeBeyondTwoSigma), [20, 22]);
        // Fifteen within 1 sigma on both sides (the baseline's ±1 are within it too).
        let tail: Vec<f64> = (0..15)
            .map(|i| if i % 2 == 0 { 0.2 } else { -0.2 })
            .collect();
        let c = after_baseline(&tail, hcdg);
        assert_eq!(flagged(&c, ControlRule::FifteenInInnerThird).len(), 35);
        let c = after_baseline(&tail, ControlRules::MakingDataCount);
        assert!(flagged(&c, ControlRule::FifteenInInnerThird).is_empty());
    }

    #[test]
    fn shewhart_flags_only_points_beyond_the_limits() {
        let c = after_baseline(
            &[4.0, 4.0, 9.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
            ControlRules::Shewhart,
        );
        assert_eq!(flagged(&c, ControlRule::BeyondLimits), [22]);
        assert!(c.points.iter().all(|p| p.flags.len() <= 1));
        assert_eq!(
            c.rule_set,
            RuleSetId {
                id: "shewhart",
                version: 1
            }
        );
    }

    #[test]
    fn variation_reads_the_side_or_the_trend_with_the_direction() {
        let rules = ControlRules::MakingDataCount;
        let at = |tail: &[f64], direction: Direction| {
            let mut v: Vec<f64> = (0..20)
                .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
                .collect();
            v.extend_from_slice(tail);
            analyse(
                &series(&v),
                &ControlOptions {
                    baseline: Some(20),
                    direction,
                    ..with(ChartType::I, rules)
                },
            )
            .variation
        };
        let high = [9.0];
        let low = [-9.0];
        assert_eq!(
            at(&high, Direction::HigherIsBetter),
            Variation::SpecialCauseImproving
        );
        assert_eq!(
            at(&high, Direction::LowerIsBetter),
            Variation::SpecialCauseConcerning
        );
        assert_eq!(
            at(&low, Direction::HigherIsBetter),
            Variation::SpecialCauseConcerning
        );
        assert_eq!(at(&low, Direction::Neither), Variation::SpecialCauseNeither);
        assert_eq!(
            at(&[0.5], Direction::HigherIsBetter),
            Variation::CommonCause
        );
        // A rising trend that ends below the centre is an improvement when higher is better.
        let rising = [-4.0, -3.5, -3.0, -2.5, -2.0, -1.5, -0.1];
        assert_eq!(
            at(&rising, Direction::HigherIsBetter),
            Variation::SpecialCauseImproving
        );
        // Fifteen in the inner third alone has no direction.
        let tail: Vec<f64> = (0..15)
            .map(|i| if i % 2 == 0 { 0.2 } else { -0.3 })
            .collect();
        let mut v: Vec<f64> = (0..20)
            .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        v.extend(tail);
        let c = analyse(
            &series(&v),
            &ControlOptions {
                baseline: Some(20),
                direction: Direction::HigherIsBetter,
                ..with(ChartType::I, ControlRules::HealthCareDataGuide)
            },
        );
        assert_eq!(
            c.points.last().unwrap().flags,
            [ControlRule::FifteenInInnerThird]
        );
        assert_eq!(c.variation, Variation::SpecialCauseNeither);
    }

    #[test]
    fn options_read_back_from_json_with_defaults() {
        let o: ControlOptions =
            serde_json::from_str(r#"{"chart":"p_prime","rules":"making_data_count"}"#).unwrap();
        assert_eq!(o.chart, ChartType::PPrime);
        assert!(o.screen_moving_ranges);
        assert_eq!(o.direction, Direction::Neither);
        let back: ControlOptions =
            serde_json::from_str(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(back, o);
    }
}
