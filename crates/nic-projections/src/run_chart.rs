//! Run-chart analysis of one series: its median, its runs and crossings, and the signals of
//! non-random variation under two rule sets, each signal naming the points that triggered it.
//!
//! - **IHI** (Perla, Provost & Murray 2011): a *shift* is 6 or more consecutive useful points on
//!   one side of the median; a *trend* is 5 or more consecutive points all going up or all going
//!   down (equal neighbours count once); *too few* or *too many runs* compares the number of runs
//!   with limits from the Swed–Eisenhart distribution of the number of runs (about 5% risk, 2.5%
//!   each side), applied from 10 useful points. A point far from the rest is judged by the
//!   control chart of the measure (`control_chart`: beyond its 3-sigma limits), not here: the
//!   run-chart literature defines no astronomical-point formula of its own.
//! - **Anhøj** (Anhøj & Olesen 2014, as in qicharts2): with `n` useful points, the *longest run*
//!   signals when longer than `round(log2(n) + 3)`, and the *crossings* when fewer than
//!   `qbinom(0.05, n − 1, 0.5)`.
//!
//! A *useful* point is one that is not excluded and not on the median. Points on the median
//! neither add to nor break a run; excluded points are carried for display but take no part in
//! the median or any rule. A value that is not finite (NaN, ±∞) is treated as excluded.
//!
//! Phases split the series at the indices where a deliberate change starts; each phase has its
//! own median and its own rules. A baseline freezes each phase's median on its first `k`
//! non-excluded points; the rules then judge every point of the phase against that median.
//!
//! The runs limits and the crossings limit are computed exactly (integer arithmetic) while the
//! numbers fit in 128 bits, and in log space beyond; the tests check that both agree where both
//! apply and reproduce the published critical values.

use std::ops::Add;

use serde::{Deserialize, Serialize};

use crate::limits::RULE_LIMITS_KEPT_POINTS;

/// Useful points in a row on one side of the median that make an IHI shift.
const SHIFT_LENGTH: usize = 6;
/// Points in a row all going up or all going down that make an IHI trend.
const TREND_LENGTH: usize = 5;
/// Fewest useful points for which the IHI runs rule applies.
const MIN_USEFUL_FOR_IHI_COUNTS: usize = 10;
/// Risk in each tail of the number-of-runs distribution (5% in all).
const RUNS_TAIL_RISK: f64 = 0.025;
/// Lower quantile of the number of crossings (Anhøj).
const CROSSINGS_QUANTILE: f64 = 0.05;

/// One observation of the series, in time order.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub value: f64,
    /// Shown on the chart but used for neither the median nor any rule.
    #[serde(default)]
    pub excluded: bool,
}

/// How to analyse the series.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Options {
    /// Freeze each phase's median on its first `k` non-excluded points (`None` or `Some(0)`: the
    /// median of all of them). The rules still judge every point of the phase.
    pub baseline_points: Option<usize>,
    /// Indices where a new phase starts; in any order. Index 0, duplicates and indices past the
    /// end are ignored.
    pub phase_starts: Vec<usize>,
}

/// The analysis of a series: one entry per phase, in order. Empty for an empty series.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Analysis {
    pub phases: Vec<Phase>,
}

/// The analysis of one phase, the points with indices `start..end` of the input.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Phase {
    pub start: usize,
    /// One past the last point of the phase.
    pub end: usize,
    /// `None` when every point of the phase is excluded.
    pub median: Option<f64>,
    /// How many values the median was taken from.
    pub median_points: usize,
    /// Whether the median was frozen on fewer points than the phase has (a baseline).
    pub baseline_frozen: bool,
    /// Points neither excluded nor on the median.
    pub useful_observations: usize,
    /// Maximal groups of consecutive useful points on one side of the median.
    pub runs: usize,
    /// Length of the longest run (0 without useful points).
    pub longest_run: usize,
    /// Consecutive useful points on opposite sides of the median (`runs − 1`, or 0).
    pub crossings: usize,
    pub critical_values: CriticalValues,
    pub signals: Vec<Signal>,
}

/// The numbers the rules compared against, for this phase's number of useful points.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct CriticalValues {
    /// IHI shift: this many useful points in a row on one side of the median.
    pub shift_length: usize,
    /// IHI trend: this many points in a row all going up or all going down.
    pub trend_length: usize,
    /// Whether the IHI runs rule applied (from 10 useful points).
    pub runs_rule_applied: bool,
    /// Fewer runs than this are too few.
    pub runs_lower_limit: Option<usize>,
    /// More runs than this are too many.
    pub runs_upper_limit: Option<usize>,
    /// Anhøj: a run longer than this signals (`round(log2(n) + 3)`); `None` without useful points.
    pub longest_run_limit: Option<usize>,
    /// Anhøj: fewer crossings than this signal (`qbinom(0.05, n − 1, 0.5)`); `None` without
    /// useful points.
    pub crossings_limit: Option<usize>,
}

/// Which rule set a signal comes from.
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
pub enum RuleSet {
    /// Perla, Provost & Murray 2011, as taught by IHI.
    Ihi,
    /// Anhøj & Olesen 2014, as in qicharts2.
    Anhoej,
}

/// Which rule fired.
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
pub enum Rule {
    Shift,
    Trend,
    TooFewRuns,
    TooManyRuns,
    LongestRun,
    TooFewCrossings,
}

/// One signal of non-random variation.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Signal {
    pub rule_set: RuleSet,
    pub rule: Rule,
    /// Indices into the input series (from 0) of the points that triggered the signal, in order:
    /// the run, the trend (one point per group of equal neighbours), or
    /// for the runs and crossings rules every useful point of the phase.
    pub points: Vec<usize>,
    /// A sentence for people; it numbers points from 1, as they are counted on the chart.
    pub message: String,
}

/// Analyses `points` (in time order) under both rule sets, phase by phase.
pub fn analyse(points: &[Point], options: &Options) -> Analysis {
    with_work(|work| {
        let mut phases = Vec::new();
        each_phase(points, options, work, |start, end, work| {
            let mut signals = Vec::new();
            let mut phase = analyse_phase(
                points,
                (start, end, options.baseline_points),
                work,
                |rule_set, rule, indices, say| {
                    signals.push(Signal {
                        rule_set,
                        rule,
                        points: indices.to_vec(),
                        message: say(),
                    })
                },
            );
            phase.signals = signals;
            phases.push(phase);
        });
        Analysis { phases }
    })
}

/// Where each signal of `analyse` starts, in the same order: its rule set, its rule and its first
/// point, for a reader that only asks which signals there are (one that tells each signal once,
/// after every new point). Neither sentences nor point lists are written, and the working lists
/// are kept between calls, so a check allocates nothing.
pub fn signal_starts(
    points: &[Point],
    options: &Options,
    mut found: impl FnMut(RuleSet, Rule, usize),
) {
    with_work(|work| {
        each_phase(points, options, work, |start, end, work| {
            analyse_phase(
                points,
                (start, end, options.baseline_points),
                work,
                |rule_set, rule, indices, _| {
                    if let Some(&first) = indices.first() {
                        found(rule_set, rule, first);
                    }
                },
            );
        });
    })
}

/// Lists reused by every analysis on a thread: a run chart is re-analysed after every point.
#[derive(Default)]
struct Work {
    bounds: Vec<usize>,
    used: Vec<usize>,
    values: Vec<f64>,
    useful: Vec<usize>,
    runs: Vec<Run>,
    distinct: Vec<(usize, f64)>,
    trend: Vec<usize>,
}

fn with_work<R>(f: impl FnOnce(&mut Work) -> R) -> R {
    thread_local! {
        static WORK: std::cell::RefCell<Work> = std::cell::RefCell::default();
    }
    WORK.with(|work| match work.try_borrow_mut() {
        Ok(mut work) => f(&mut work),
        // Only an analysis started from inside another's callback gets here.
        Err(_) => f(&mut Work::default()),
    })
}

/// Calls `f` with the bounds (`start..end`) of each phase of the series, in order.
fn each_phase(
    points: &[Point],
    options: &Options,
    work: &mut Work,
    mut f: impl FnMut(usize, usize, &mut Work),
) {
    let mut bounds = std::mem::take(&mut work.bounds);
    bounds.clear();
    bounds.extend(
        options
            .phase_starts
            .iter()
            .copied()
            .filter(|&s| s > 0 && s < points.len()),
    );
    bounds.sort_unstable();
    bounds.dedup();
    bounds.push(points.len());
    let mut start = 0;
    for &end in &bounds {
        if end > start {
            f(start, end, work);
        }
        start = end;
    }
    work.bounds = bounds;
}

/// The IHI runs limits for `n` useful points: `(lower, upper)` such that fewer than `lower` or
/// more than `upper` runs signal. `None` below 10 points, where the rule does not apply.
///
/// Computed from the exact distribution of the number of runs (Swed & Eisenhart 1943) with the
/// points split as evenly as they can be (`n / 2` and `n − n / 2`): `lower` is the largest `L`
/// with `P(runs ≤ L − 1) ≤ 0.025`, `upper` the smallest `U` with `P(runs ≥ U + 1) ≤ 0.025`.
pub fn runs_limits(n: usize) -> Option<(usize, usize)> {
    if n < MIN_USEFUL_FOR_IHI_COUNTS {
        return None;
    }
    Some(runs_limits_exact(n).unwrap_or_else(|| runs_limits_log(n)))
}

/// Anhøj: the longest run signals when longer than `round(log2(n) + 3)`; 0 for `n = 0`.
pub fn longest_run_limit(n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    // log2(n) + 3 is never exactly halfway between integers (log2 of an integer is an integer
    // or irrational), so rounding half away from zero agrees with R's round().
    ((n as f64).log2() + 3.0).round() as usize
}

/// Anhøj: the crossings signal when fewer than `qbinom(0.05, n − 1, 0.5)`, the smallest `c` with
/// `P(X ≤ c) ≥ 0.05` for `X ~ Binomial(n − 1, 1/2)`; 0 for `n ≤ 1`.
pub fn crossings_limit(n: usize) -> usize {
    let trials = n.saturating_sub(1);
    crossings_limit_exact(trials).unwrap_or_else(|| crossings_limit_log(trials))
}

/// `runs_limits(n)` and `crossings_limit(n)`, kept for series of fewer than
/// `RULE_LIMITS_KEPT_POINTS` useful points.
type Limits = (Option<(usize, usize)>, usize);

fn kept_limits(n: usize) -> Limits {
    static KEPT: std::sync::OnceLock<Vec<Limits>> = std::sync::OnceLock::new();
    match KEPT
        .get_or_init(|| {
            (0..RULE_LIMITS_KEPT_POINTS)
                .map(|n| (runs_limits(n), crossings_limit(n)))
                .collect()
        })
        .get(n)
    {
        Some(&limits) => limits,
        None => (runs_limits(n), crossings_limit(n)),
    }
}

// ---------------------------------------------------------------------------------------------
// One phase.

/// A run of useful points on one side of the median: a range of the phase's useful points.
struct Run {
    above: bool,
    range: std::ops::Range<usize>,
}

fn is_used(p: &Point) -> bool {
    !p.excluded && p.value.is_finite()
}

/// Receives each signal an analysis finds, in order: its rule set, its rule, the points that
/// triggered it and how to say it (called only by a reader that wants the sentence).
trait Signals: FnMut(RuleSet, Rule, &[usize], &dyn Fn() -> String) {}

impl<F: FnMut(RuleSet, Rule, &[usize], &dyn Fn() -> String)> Signals for F {}

/// The figures of the phase `start..end` (with a median frozen on its first `baseline` used
/// points, if any), without its signals: `signal` is called with each of those instead, in order,
/// with its rule set, its rule, the points that triggered it and how to say it.
fn analyse_phase(
    points: &[Point],
    (start, end, baseline): (usize, usize, Option<usize>),
    work: &mut Work,
    mut signal: impl Signals,
) -> Phase {
    let Work {
        used,
        values,
        useful,
        runs,
        distinct,
        trend,
        ..
    } = work;
    used.clear();
    used.extend((start..end).filter(|&i| is_used(&points[i])));
    let basis_len = match baseline {
        Some(k) if k > 0 && k < used.len() => k,
        _ => used.len(),
    };
    values.clear();
    values.extend(used[..basis_len].iter().map(|&i| points[i].value));
    let median = median_of(values);
    split_runs(points, used, median, useful, runs);
    let n = useful.len();
    let (runs_limits, cross_limit) = kept_limits(n);
    let mut critical = CriticalValues {
        shift_length: SHIFT_LENGTH,
        trend_length: TREND_LENGTH,
        runs_rule_applied: false,
        runs_lower_limit: None,
        runs_upper_limit: None,
        longest_run_limit: None,
        crossings_limit: None,
    };
    ihi_shifts(useful, runs, &mut signal);
    ihi_trends(points, used, distinct, trend, &mut signal);
    ihi_runs(useful, runs, runs_limits, &mut critical, &mut signal);
    anhoej(useful, runs, cross_limit, &mut critical, &mut signal);
    Phase {
        start,
        end,
        median,
        median_points: basis_len,
        baseline_frozen: basis_len < used.len(),
        useful_observations: n,
        runs: runs.len(),
        longest_run: runs.iter().map(|r| r.range.len()).max().unwrap_or(0),
        crossings: runs.len().saturating_sub(1),
        critical_values: critical,
        signals: Vec::new(),
    }
}

/// The useful points (the `used` ones off the median) in order, and the runs as ranges of them;
/// none without a median.
fn split_runs(
    points: &[Point],
    used: &[usize],
    median: Option<f64>,
    useful: &mut Vec<usize>,
    runs: &mut Vec<Run>,
) {
    useful.clear();
    runs.clear();
    let Some(m) = median else {
        return;
    };
    for &i in used {
        let v = points[i].value;
        if v == m {
            continue;
        }
        let above = v > m;
        match runs.last_mut() {
            Some(run) if run.above == above => run.range.end += 1,
            _ => runs.push(Run {
                above,
                range: useful.len()..useful.len() + 1,
            }),
        }
        useful.push(i);
    }
}

/// IHI shift: `SHIFT_LENGTH` or more useful points in a row on one side of the median.
fn ihi_shifts(useful: &[usize], runs: &[Run], signal: &mut impl Signals) {
    for run in runs.iter().filter(|r| r.range.len() >= SHIFT_LENGTH) {
        let run_points = &useful[run.range.clone()];
        signal(RuleSet::Ihi, Rule::Shift, run_points, &|| {
            format!(
                "{} points in a row {} the median ({})",
                run_points.len(),
                side(run.above),
                span(run_points)
            )
        });
    }
}

/// IHI trend, over every used point (the median plays no part): `TREND_LENGTH` or more going up
/// or going down; equal neighbours count once.
fn ihi_trends(
    points: &[Point],
    used: &[usize],
    distinct: &mut Vec<(usize, f64)>,
    trend: &mut Vec<usize>,
    signal: &mut impl Signals,
) {
    distinct.clear();
    for &i in used {
        let v = points[i].value;
        if distinct.last().is_none_or(|&(_, last)| last != v) {
            distinct.push((i, v));
        }
    }
    let mut s = 0;
    while s + 1 < distinct.len() {
        let up = distinct[s + 1].1 > distinct[s].1;
        let mut e = s + 1;
        while e + 1 < distinct.len() && (distinct[e + 1].1 > distinct[e].1) == up {
            e += 1;
        }
        if e - s + 1 >= TREND_LENGTH {
            trend.clear();
            trend.extend(distinct[s..=e].iter().map(|&(i, _)| i));
            signal(RuleSet::Ihi, Rule::Trend, trend, &|| {
                format!(
                    "{} points in a row going {} ({})",
                    trend.len(),
                    if up { "up" } else { "down" },
                    span(trend)
                )
            });
        }
        s = e;
    }
}

/// IHI runs: too few or too many runs for the number of useful points, when the rule applies
/// (`limits`, from `runs_limits`).
fn ihi_runs(
    useful: &[usize],
    runs: &[Run],
    limits: Option<(usize, usize)>,
    critical: &mut CriticalValues,
    signal: &mut impl Signals,
) {
    let Some((lower, upper)) = limits else {
        return;
    };
    critical.runs_rule_applied = true;
    critical.runs_lower_limit = Some(lower);
    critical.runs_upper_limit = Some(upper);
    let (count, n) = (runs.len(), useful.len());
    if count < lower {
        signal(RuleSet::Ihi, Rule::TooFewRuns, useful, &|| {
            format!(
                "{count} runs in {n} useful points, fewer than {lower} \
                 (runs limits for {n} useful points: {lower} to {upper})"
            )
        });
    } else if count > upper {
        signal(RuleSet::Ihi, Rule::TooManyRuns, useful, &|| {
            format!(
                "{count} runs in {n} useful points, more than {upper} \
                 (runs limits for {n} useful points: {lower} to {upper})"
            )
        });
    }
}

/// Anhøj: a run longer than `longest_run_limit`, or fewer crossings of the median than
/// `cross_limit` (from `crossings_limit`), once there is a useful point.
fn anhoej(
    useful: &[usize],
    runs: &[Run],
    cross_limit: usize,
    critical: &mut CriticalValues,
    signal: &mut impl Signals,
) {
    let n = useful.len();
    if n == 0 {
        return;
    }
    let run_limit = longest_run_limit(n);
    critical.longest_run_limit = Some(run_limit);
    critical.crossings_limit = Some(cross_limit);
    for run in runs.iter().filter(|r| r.range.len() > run_limit) {
        let run_points = &useful[run.range.clone()];
        signal(RuleSet::Anhoej, Rule::LongestRun, run_points, &|| {
            format!(
                "a run of {} points {} the median ({}), longer than \
                 round(log2({n}) + 3) = {run_limit}",
                run_points.len(),
                side(run.above),
                span(run_points)
            )
        });
    }
    let crossings = runs.len().saturating_sub(1);
    if crossings < cross_limit {
        signal(RuleSet::Anhoej, Rule::TooFewCrossings, useful, &|| {
            format!(
                "{crossings} crossings of the median in {n} useful points, fewer than \
                 qbinom(0.05, {}, 0.5) = {cross_limit}",
                n - 1
            )
        });
    }
}

/// The median of `values`, which it reorders: the middle value (or the mean of the two middle
/// values) in `f64::total_cmp` order, selected rather than sorted.
fn median_of(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mid = values.len() / 2;
    let odd = values.len() % 2 == 1;
    let (below, &mut upper, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    Some(if odd {
        upper
    } else {
        let lower = below.iter().copied().max_by(f64::total_cmp)?;
        (lower + upper) / 2.0
    })
}

fn side(above: bool) -> &'static str {
    if above {
        "above"
    } else {
        "below"
    }
}

/// "points 5–10" (numbered from 1) for a non-empty, ordered list of indices.
fn span(indices: &[usize]) -> String {
    match (indices.first(), indices.last()) {
        (Some(a), Some(b)) if a != b => format!("points {}–{}", a + 1, b + 1),
        (Some(a), _) => format!("point {}", a + 1),
        _ => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Critical values.

/// `C(n, k)` in 128 bits, or `None` if an intermediate product would not fit.
fn choose_u128(n: usize, k: usize) -> Option<u128> {
    if k > n {
        return Some(0);
    }
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for i in 0..k {
        // c · (n − i) is divisible by i + 1: it is C(n, i + 1) · (i + 1).
        c = c.checked_mul((n - i) as u128)? / (i as u128 + 1);
    }
    Some(c)
}

/// The number of arrangements of `n1` points above and `n2` below with each number of runs
/// (index = runs), and their total `C(n1 + n2, n1)`; `None` if they do not fit in 128 bits.
/// Needs `n1, n2 ≥ 1`.
fn runs_counts_exact(n1: usize, n2: usize) -> Option<(Vec<u128>, u128)> {
    let n = n1 + n2;
    let mut counts = vec![0u128; n + 1];
    for (r, count) in counts.iter_mut().enumerate().skip(2) {
        let k = r / 2;
        *count = if r % 2 == 0 {
            choose_u128(n1 - 1, k - 1)?
                .checked_mul(choose_u128(n2 - 1, k - 1)?)?
                .checked_mul(2)?
        } else {
            let a = choose_u128(n1 - 1, k)?.checked_mul(choose_u128(n2 - 1, k - 1)?)?;
            let b = choose_u128(n1 - 1, k - 1)?.checked_mul(choose_u128(n2 - 1, k)?)?;
            a.checked_add(b)?
        };
    }
    Some((counts, choose_u128(n, n1)?))
}

/// The same distribution as probabilities, in log space (any size).
fn runs_probabilities_log(n1: usize, n2: usize) -> Vec<f64> {
    let n = n1 + n2;
    let lf = ln_factorials(n);
    let ln_total = ln_choose(&lf, n, n1).unwrap_or(0.0);
    let term = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a + b - ln_total).exp(),
        _ => 0.0,
    };
    let mut probs = vec![0.0; n + 1];
    for (r, p) in probs.iter_mut().enumerate().skip(2) {
        let k = r / 2;
        *p = if r % 2 == 0 {
            2.0 * term(ln_choose(&lf, n1 - 1, k - 1), ln_choose(&lf, n2 - 1, k - 1))
        } else {
            term(ln_choose(&lf, n1 - 1, k), ln_choose(&lf, n2 - 1, k - 1))
                + term(ln_choose(&lf, n1 - 1, k - 1), ln_choose(&lf, n2 - 1, k))
        };
    }
    probs
}

/// `(lower, upper)` from a distribution of the number of runs given as weights indexed by runs,
/// where `within(w)` says whether a tail of weight `w` is at most the risk.
fn limits_from<T: Copy + Add<Output = T>>(
    weights: &[T],
    zero: T,
    within: impl Fn(T) -> bool,
) -> (usize, usize) {
    let n = weights.len() - 1;
    let mut lower = 2;
    let mut below = weights[0]; // P(runs ≤ r − 1)
    for r in 2..=n {
        below = below + weights[r - 1];
        if !within(below) {
            break;
        }
        lower = r;
    }
    let mut upper = n;
    let mut beyond = zero; // P(runs ≥ upper + 1)
    for u in (1..n).rev() {
        beyond = beyond + weights[u + 1];
        if !within(beyond) {
            break;
        }
        upper = u;
    }
    (lower, upper)
}

fn runs_limits_exact(n: usize) -> Option<(usize, usize)> {
    let (counts, total) = runs_counts_exact(n / 2, n - n / 2)?;
    // tail / total ≤ 1/40  ⇔  40 · tail ≤ total  ⇔  tail ≤ ⌊total / 40⌋ (tail is an integer).
    let max_tail = total / 40;
    Some(limits_from(&counts, 0, |tail| tail <= max_tail))
}

fn runs_limits_log(n: usize) -> (usize, usize) {
    let probs = runs_probabilities_log(n / 2, n - n / 2);
    limits_from(&probs, 0.0, |tail| tail <= RUNS_TAIL_RISK)
}

fn crossings_limit_exact(trials: usize) -> Option<usize> {
    if trials > 120 {
        return None;
    }
    let total: u128 = 1 << trials;
    let mut cumulative: u128 = 0;
    let mut c: u128 = 1; // C(trials, k)
    for k in 0..=trials {
        cumulative += c;
        // cumulative / total ≥ 1/20  ⇔  20 · cumulative ≥ total.
        if cumulative.checked_mul(20)? >= total {
            return Some(k);
        }
        c = c.checked_mul((trials - k) as u128)? / (k as u128 + 1);
    }
    Some(trials)
}

fn crossings_limit_log(trials: usize) -> usize {
    let lf = ln_factorials(trials);
    let ln_total = trials as f64 * std::f64::consts::LN_2;
    let mut cumulative = 0.0;
    for k in 0..=trials {
        cumulative += (ln_choose(&lf, trials, k).unwrap_or(f64::NEG_INFINITY) - ln_total).exp();
        if cumulative >= CROSSINGS_QUANTILE {
            return k;
        }
    }
    trials
}

fn ln_factorials(n: usize) -> Vec<f64> {
    let mut lf = Vec::with_capacity(n + 1);
    let mut acc = 0.0;
    lf.push(acc);
    for i in 1..=n {
        acc += (i as f64).ln();
        lf.push(acc);
    }
    lf
}

/// `ln C(n, k)`, or `None` when `C(n, k) = 0` (`k > n`).
fn ln_choose(lf: &[f64], n: usize, k: usize) -> Option<f64> {
    (k <= n).then(|| lf[n] - lf[k] - lf[n - k])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: &[f64]) -> Vec<Point> {
        values
            .iter()
            .map(|&value| Point {
                value,
                excluded: false,
            })
            .collect()
    }

    fn one_phase(points: &[Point]) -> Phase {
        let analysis = analyse(points, &Options::default());
        assert_eq!(analysis.phases.len(), 1);
        analysis.phases.into_iter().next().unwrap()
    }

    fn fired(phase: &Phase, rule: Rule) -> Vec<&Signal> {
        phase.signals.iter().filter(|s| s.rule == rule).collect()
    }

    // --- IHI shift ---------------------------------------------------------------------------

    #[test]
    fn shift_of_six_fires_with_its_points() {
        // Median (2 + 5) / 2 = 3.5; indices 4..=9 are above it.
        let p = one_phase(&series(&[1., 2., 1., 2., 5., 6., 7., 6., 5., 7., 2., 1.]));
        assert_eq!(p.median, Some(3.5));
        let shifts = fired(&p, Rule::Shift);
        assert_eq!(shifts.len(), 1);
        assert_eq!(shifts[0].rule_set, RuleSet::Ihi);
        assert_eq!(shifts[0].points, vec![4, 5, 6, 7, 8, 9]);
        assert_eq!(
            shifts[0].message,
            "6 points in a row above the median (points 5–10)"
        );
    }

    #[test]
    fn five_on_one_side_is_no_shift() {
        let p = one_phase(&series(&[1., 2., 1., 2., 5., 6., 7., 6., 5., 1., 8., 2.]));
        assert_eq!(p.median, Some(3.5));
        assert_eq!(p.longest_run, 5);
        assert!(fired(&p, Rule::Shift).is_empty());
    }

    #[test]
    fn points_on_the_median_neither_add_to_nor_break_a_run() {
        // 13 values, median 5 (indices 4 and 12 are on it). Above: 2, 3, 5, 6, 7, 8.
        let p = one_phase(&series(&[
            1., 2., 9., 8., 5., 9., 8., 7., 9., 1., 2., 3., 5.,
        ]));
        assert_eq!(p.median, Some(5.0));
        assert_eq!(p.useful_observations, 11);
        assert_eq!(p.runs, 3);
        assert_eq!(p.crossings, 2);
        assert_eq!(p.longest_run, 6);
        let shifts = fired(&p, Rule::Shift);
        assert_eq!(shifts.len(), 1);
        assert_eq!(shifts[0].points, vec![2, 3, 5, 6, 7, 8]);
    }

    // --- IHI trend ---------------------------------------------------------------------------

    #[test]
    fn trend_of_five_fires_with_its_points() {
        let p = one_phase(&series(&[3., 1., 2., 3., 4., 5., 2., 4., 3., 5.]));
        let trends = fired(&p, Rule::Trend);
        assert_eq!(trends.len(), 1);
        assert_eq!(trends[0].points, vec![1, 2, 3, 4, 5]);
        assert_eq!(trends[0].message, "5 points in a row going up (points 2–6)");
    }

    #[test]
    fn four_going_up_is_no_trend() {
        let p = one_phase(&series(&[3., 1., 2., 3., 4., 2., 4., 3., 5., 1.]));
        assert!(fired(&p, Rule::Trend).is_empty());
    }

    #[test]
    fn trend_down_fires() {
        let p = one_phase(&series(&[1., 9., 7., 5., 3., 1., 4., 2.]));
        let trends = fired(&p, Rule::Trend);
        assert_eq!(trends.len(), 1);
        assert_eq!(trends[0].points, vec![1, 2, 3, 4, 5]);
        assert!(trends[0].message.contains("going down"));
    }

    #[test]
    fn equal_neighbours_count_once_in_a_trend() {
        // 1, 2, 2, 3, 4, 4, 5: five distinct steps up; the repeats neither add nor break.
        let p = one_phase(&series(&[1., 2., 2., 3., 4., 4., 5., 0.]));
        let trends = fired(&p, Rule::Trend);
        assert_eq!(trends.len(), 1);
        assert_eq!(trends[0].points, vec![0, 1, 3, 4, 6]);
        // Four distinct values going up, however many repeats, are not a trend.
        let p = one_phase(&series(&[1., 2., 2., 2., 3., 3., 4., 0.]));
        assert!(fired(&p, Rule::Trend).is_empty());
    }

    // --- IHI runs ----------------------------------------------------------------------------

    #[test]
    fn too_few_runs_fires_from_ten_useful_points() {
        let p = one_phase(&series(&[1., 1., 1., 1., 1., 9., 9., 9., 9., 9.]));
        assert_eq!(p.median, Some(5.0));
        assert_eq!(p.runs, 2);
        assert!(p.critical_values.runs_rule_applied);
        assert_eq!(p.critical_values.runs_lower_limit, Some(3));
        assert_eq!(p.critical_values.runs_upper_limit, Some(9));
        let few = fired(&p, Rule::TooFewRuns);
        assert_eq!(few.len(), 1);
        assert_eq!(few[0].points, (0..10).collect::<Vec<_>>());
        assert!(fired(&p, Rule::TooManyRuns).is_empty());
        assert!(fired(&p, Rule::Shift).is_empty());
    }

    #[test]
    fn too_many_runs_fires_on_an_alternating_series() {
        let values: Vec<f64> = (0..10).map(|i| if i % 2 == 0 { 1. } else { 9. }).collect();
        let p = one_phase(&series(&values));
        assert_eq!(p.runs, 10);
        assert_eq!(p.crossings, 9);
        assert_eq!(p.longest_run, 1);
        let many = fired(&p, Rule::TooManyRuns);
        assert_eq!(many.len(), 1);
        assert_eq!(many[0].points.len(), 10);
        // Alternation is neither a shift, a trend, nor too few crossings.
        assert!(fired(&p, Rule::Shift).is_empty());
        assert!(fired(&p, Rule::Trend).is_empty());
        assert!(fired(&p, Rule::TooFewCrossings).is_empty());
        assert!(fired(&p, Rule::LongestRun).is_empty());
        assert_eq!(p.signals.len(), 1);
    }

    #[test]
    fn runs_within_the_limits_do_not_fire() {
        // 1 | 9 9 | 1 1 | 9 | 1 | 9 9 | 1: seven runs, within 3 to 9.
        let p = one_phase(&series(&[1., 9., 9., 1., 1., 9., 1., 9., 9., 1.]));
        assert_eq!(p.runs, 7);
        assert!(p.critical_values.runs_rule_applied);
        assert!(fired(&p, Rule::TooFewRuns).is_empty());
        assert!(fired(&p, Rule::TooManyRuns).is_empty());
    }

    #[test]
    fn runs_rule_is_not_applied_below_ten_useful_points() {
        // Median 5 (on it: index 8); eight useful points alternating sides, eight runs.
        let p = one_phase(&series(&[1., 9., 2., 8., 3., 7., 4., 6., 5.]));
        assert_eq!(p.median, Some(5.0));
        assert_eq!(p.useful_observations, 8);
        assert_eq!(p.runs, 8);
        assert!(!p.critical_values.runs_rule_applied);
        assert_eq!(p.critical_values.runs_lower_limit, None);
        assert_eq!(p.critical_values.runs_upper_limit, None);
        assert!(fired(&p, Rule::TooManyRuns).is_empty());
    }

    // --- Anhøj -------------------------------------------------------------------------------

    #[test]
    fn anhoej_longest_run_fires_above_its_limit() {
        // 16 useful points: limit round(log2(16) + 3) = 7; two runs of 8.
        let values: Vec<f64> = (0..16)
            .map(|i| {
                if i < 8 {
                    1. + (i % 2) as f64
                } else {
                    10. + (i % 2) as f64
                }
            })
            .collect();
        let p = one_phase(&series(&values));
        assert_eq!(p.median, Some(6.0));
        assert_eq!(p.critical_values.longest_run_limit, Some(7));
        let long = fired(&p, Rule::LongestRun);
        assert_eq!(long.len(), 2);
        assert_eq!(long[0].rule_set, RuleSet::Anhoej);
        assert_eq!(long[0].points, (0..8).collect::<Vec<_>>());
        assert_eq!(long[1].points, (8..16).collect::<Vec<_>>());
        assert!(long[0].message.contains("round(log2(16) + 3) = 7"));
        // One crossing, fewer than qbinom(0.05, 15, 0.5) = 4.
        assert_eq!(p.critical_values.crossings_limit, Some(4));
        let cross = fired(&p, Rule::TooFewCrossings);
        assert_eq!(cross.len(), 1);
        assert_eq!(cross[0].points.len(), 16);
        // The same runs are IHI shifts too; each signal says which rule set produced it.
        assert_eq!(fired(&p, Rule::Shift).len(), 2);
    }

    #[test]
    fn anhoej_run_at_its_limit_does_not_fire() {
        // Below ×7, above, below, above ×7: longest 7 = limit, 3 crossings < 4.
        let p = one_phase(&series(&[
            1., 2., 1., 2., 1., 2., 1., 10., 2., 10., 11., 10., 11., 10., 11., 10.,
        ]));
        assert_eq!(p.median, Some(6.0));
        assert_eq!(p.longest_run, 7);
        assert!(fired(&p, Rule::LongestRun).is_empty());
        assert_eq!(p.crossings, 3);
        assert_eq!(fired(&p, Rule::TooFewCrossings).len(), 1);
    }

    #[test]
    fn anhoej_crossings_at_the_limit_do_not_fire() {
        // n = 10: limit qbinom(0.05, 9, 0.5) = 2. One crossing fires, two do not.
        let p = one_phase(&series(&[1., 1., 1., 1., 1., 9., 9., 9., 9., 9.]));
        assert_eq!(p.crossings, 1);
        assert_eq!(fired(&p, Rule::TooFewCrossings).len(), 1);
        let p = one_phase(&series(&[1., 2., 1., 10., 11., 10., 11., 10., 2., 1.]));
        assert_eq!(p.median, Some(6.0));
        assert_eq!(p.crossings, 2);
        assert!(fired(&p, Rule::TooFewCrossings).is_empty());
        assert!(fired(&p, Rule::TooFewRuns).is_empty()); // 3 runs, the IHI lower limit
    }

    // --- Exclusion, baseline, phases -----------------------------------------------------------

    #[test]
    fn excluded_points_take_no_part() {
        let mut points = series(&[1., 2., 3., 4., 100.]);
        points[4].excluded = true;
        let p = one_phase(&points);
        assert_eq!(p.median, Some(2.5));
        assert_eq!(p.median_points, 4);
        assert_eq!(p.useful_observations, 4);

        // An excluded point inside a run neither breaks nor extends it, and is never flagged.
        let mut points = series(&[1., 2., 1., 9., 8., 9., -50., 8., 9., 8., 2., 1., 2.]);
        points[6].excluded = true;
        let p = one_phase(&points);
        assert_eq!(p.median, Some(5.0));
        let shifts = fired(&p, Rule::Shift);
        assert_eq!(shifts.len(), 1);
        assert_eq!(shifts[0].points, vec![3, 4, 5, 7, 8, 9]);
        assert!(p.signals.iter().all(|s| !s.points.contains(&6)));
    }

    #[test]
    fn non_finite_values_are_treated_as_excluded() {
        let p = one_phase(&series(&[1., f64::NAN, 3., f64::INFINITY, 5.]));
        assert_eq!(p.median, Some(3.0));
        assert_eq!(p.median_points, 3);
        assert_eq!(p.useful_observations, 2);
    }

    #[test]
    fn all_excluded_has_no_median_and_no_signals() {
        let mut points = series(&[1., 2., 3.]);
        for p in &mut points {
            p.excluded = true;
        }
        let p = one_phase(&points);
        assert_eq!(p.median, None);
        assert_eq!(p.useful_observations, 0);
        assert_eq!(p.critical_values.longest_run_limit, None);
        assert!(p.signals.is_empty());
    }

    #[test]
    fn frozen_baseline_judges_later_points_against_it() {
        // Baseline median of the first 8 points is 2; the last six (3 and 4) are all above it.
        let values = [1., 2., 4., 1., 2., 3., 2., 1., 3., 4., 3., 4., 3., 4.];
        let frozen = analyse(
            &series(&values),
            &Options {
                baseline_points: Some(8),
                ..Options::default()
            },
        );
        let p = &frozen.phases[0];
        assert_eq!(p.median, Some(2.0));
        assert_eq!(p.median_points, 8);
        assert!(p.baseline_frozen);
        let shifts = fired(p, Rule::Shift);
        assert_eq!(shifts.len(), 1);
        assert_eq!(shifts[0].points, vec![8, 9, 10, 11, 12, 13]);

        // Not frozen, the median of all 14 is 3 and there is no shift.
        let p = one_phase(&series(&values));
        assert_eq!(p.median, Some(3.0));
        assert!(!p.baseline_frozen);
        assert_eq!(p.median_points, 14);
        assert!(fired(&p, Rule::Shift).is_empty());

        // A baseline as long as the series is no freeze at all.
        let whole = analyse(
            &series(&values),
            &Options {
                baseline_points: Some(40),
                ..Options::default()
            },
        );
        assert_eq!(whole.phases[0].median, Some(3.0));
        assert!(!whole.phases[0].baseline_frozen);
    }

    #[test]
    fn baseline_counts_only_non_excluded_points() {
        let mut points = series(&[100., 1., 2., 3., 50., 60.]);
        points[0].excluded = true;
        let a = analyse(
            &points,
            &Options {
                baseline_points: Some(3),
                ..Options::default()
            },
        );
        assert_eq!(a.phases[0].median, Some(2.0));
        assert_eq!(a.phases[0].median_points, 3);
    }

    #[test]
    fn phases_are_recomputed_independently() {
        let mut values = vec![5., 6., 5., 6., 5., 6.];
        values.extend((0..12).map(|i| 50. + i as f64));
        let points = series(&values);

        // One phase: the median is 52.5 and the first six open a run of nine below it.
        let single = one_phase(&points);
        assert_eq!(single.median, Some(52.5));
        assert!(fired(&single, Rule::Shift)
            .iter()
            .any(|s| s.points == (0..9).collect::<Vec<_>>()));

        let a = analyse(
            &points,
            &Options {
                phase_starts: vec![6, 0, 6, 99],
                ..Options::default()
            },
        );
        assert_eq!(a.phases.len(), 2);
        let (first, second) = (&a.phases[0], &a.phases[1]);
        assert_eq!((first.start, first.end), (0, 6));
        assert_eq!((second.start, second.end), (6, 18));
        assert_eq!(first.median, Some(5.5));
        assert_eq!(second.median, Some(55.5));
        assert!(first.signals.is_empty());
        // The rising second phase is a trend, with indices into the whole series.
        let trends = fired(second, Rule::Trend);
        assert_eq!(trends.len(), 1);
        assert_eq!(trends[0].points, (6..18).collect::<Vec<_>>());
        assert_eq!(second.useful_observations, 12);
    }

    #[test]
    fn a_constant_series_has_no_useful_points_and_no_signals() {
        let p = one_phase(&series(&[5.; 20]));
        assert_eq!(p.median, Some(5.0));
        assert_eq!(p.useful_observations, 0);
        assert_eq!(p.runs, 0);
        assert_eq!(p.longest_run, 0);
        assert_eq!(p.crossings, 0);
        assert!(!p.critical_values.runs_rule_applied);
        assert!(p.signals.is_empty());
    }

    #[test]
    fn an_empty_series_has_no_phases() {
        assert!(analyse(&[], &Options::default()).phases.is_empty());
    }

    #[test]
    fn output_and_options_speak_snake_case_json() {
        let p = one_phase(&series(&[1., 1., 1., 1., 1., 9., 9., 9., 9., 9.]));
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["useful_observations"], 10);
        assert_eq!(json["critical_values"]["runs_rule_applied"], true);
        let few = json["signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["rule"] == "too_few_runs")
            .unwrap();
        assert_eq!(few["rule_set"], "ihi");
        assert!(json["signals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["rule_set"] == "anhoej" && s["rule"] == "too_few_crossings"));

        let options: Options = serde_json::from_str(r#"{"baseline_points": 8}"#).unwrap();
        assert_eq!(options.baseline_points, Some(8));
        assert!(options.phase_starts.is_empty());
        let point: Point = serde_json::from_str(r#"{"value": 2.5}"#).unwrap();
        assert_eq!(
            point,
            Point {
                value: 2.5,
                excluded: false
            }
        );
    }

    // --- Critical values ---------------------------------------------------------------------

    /// The runs limits for n = 10..=60, computed independently (exact rational arithmetic in
    /// Python over the Swed–Eisenhart distribution, n/2 and n − n/2 points per side, 2.5% each
    /// tail), as (lower, upper).
    const RUNS_LIMITS_10_TO_60: [(usize, usize); 51] = [
        (3, 9),
        (4, 9),
        (4, 10),
        (4, 11),
        (4, 12),
        (5, 12),
        (5, 13),
        (6, 13),
        (6, 14),
        (6, 15),
        (7, 15),
        (7, 16),
        (8, 16),
        (8, 17),
        (8, 18),
        (9, 18),
        (9, 19),
        (10, 19),
        (10, 20),
        (10, 21),
        (11, 21),
        (11, 22),
        (12, 22),
        (12, 23),
        (12, 24),
        (13, 24),
        (13, 25),
        (14, 25),
        (14, 26),
        (14, 26),
        (15, 27),
        (15, 28),
        (16, 28),
        (16, 29),
        (17, 29),
        (17, 30),
        (17, 31),
        (18, 31),
        (18, 32),
        (19, 32),
        (19, 33),
        (20, 33),
        (20, 34),
        (20, 35),
        (21, 35),
        (21, 36),
        (22, 36),
        (22, 37),
        (23, 37),
        (23, 38),
        (24, 38),
    ];

    #[test]
    fn runs_limits_match_the_exact_distribution() {
        for (i, &expected) in RUNS_LIMITS_10_TO_60.iter().enumerate() {
            let n = 10 + i;
            assert_eq!(runs_limits(n), Some(expected), "n = {n}");
        }
        // Anchors of the published IHI table (Perla, Provost & Murray 2011, Table 1).
        assert_eq!(runs_limits(10), Some((3, 9)));
        assert_eq!(runs_limits(30), Some((11, 21)));
        // Beyond the table, from the same distribution.
        assert_eq!(runs_limits(61), Some((24, 39)));
        assert_eq!(runs_limits(100), Some((41, 61)));
        assert_eq!(runs_limits(200), Some((87, 115)));
        assert_eq!(runs_limits(9), None);
    }

    #[test]
    fn runs_limits_at_twenty_differ_from_the_table_as_quoted() {
        // The table as quoted gives 6 to 16 for n = 20. With 10 points a side, 6 runs or fewer
        // has probability 0.0185 and 16 or more the same, both under 2.5%, so the exact
        // 5% limits are 7 to 15. This pins the computed values and the reason for them.
        let (counts, total) = runs_counts_exact(10, 10).unwrap();
        let at_most_6: u128 = counts[..=6].iter().sum();
        let at_least_16: u128 = counts[16..].iter().sum();
        assert_eq!(total, 184_756);
        assert_eq!(at_most_6, at_least_16);
        let p = at_most_6 as f64 / total as f64;
        assert!((p - 0.0185).abs() < 1e-4, "{p}");
        assert_eq!(runs_limits(20), Some((7, 15)));
    }

    #[test]
    fn runs_distribution_sums_to_its_total_and_log_space_agrees_with_exact() {
        for n in 10..=120 {
            let (n1, n2) = (n / 2, n - n / 2);
            let (counts, total) = runs_counts_exact(n1, n2).expect("fits in 128 bits");
            assert_eq!(counts.iter().sum::<u128>(), total, "n = {n}");
            let probs = runs_probabilities_log(n1, n2);
            for (r, (&c, &p)) in counts.iter().zip(&probs).enumerate() {
                let exact = c as f64 / total as f64;
                assert!(
                    (exact - p).abs() <= 1e-12 + 1e-9 * exact,
                    "n = {n}, r = {r}"
                );
            }
            assert_eq!(runs_limits_exact(n), Some(runs_limits_log(n)), "n = {n}");
        }
    }

    /// qicharts2's table of critical values (round(log2(n) + 3) and qbinom(0.05, n − 1, 0.5))
    /// for n = 10..=100, recomputed independently in Python with exact integers.
    const LONGEST_RUN_10_TO_100: [usize; 91] = [
        6, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8,
        8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 10, 10, 10, 10, 10, 10, 10,
        10, 10, 10,
    ];
    const CROSSINGS_10_TO_100: [usize; 91] = [
        2, 2, 3, 3, 4, 4, 4, 5, 5, 6, 6, 6, 7, 7, 8, 8, 8, 9, 9, 10, 10, 11, 11, 11, 12, 12, 13,
        13, 14, 14, 14, 15, 15, 16, 16, 17, 17, 17, 18, 18, 19, 19, 20, 20, 21, 21, 21, 22, 22, 23,
        23, 24, 24, 25, 25, 25, 26, 26, 27, 27, 28, 28, 29, 29, 29, 30, 30, 31, 31, 32, 32, 33, 33,
        34, 34, 34, 35, 35, 36, 36, 37, 37, 38, 38, 39, 39, 39, 40, 40, 41, 41,
    ];

    #[test]
    fn anhoej_critical_values_match_the_published_table() {
        for n in 10..=100 {
            assert_eq!(
                longest_run_limit(n),
                LONGEST_RUN_10_TO_100[n - 10],
                "n = {n}"
            );
            assert_eq!(crossings_limit(n), CROSSINGS_10_TO_100[n - 10], "n = {n}");
        }
        // Anchors, as (n, longest run limit, crossings limit).
        for (n, run, cross) in [
            (10, 6, 2),
            (20, 7, 6),
            (30, 8, 10),
            (40, 8, 14),
            (50, 9, 19),
            (60, 9, 23),
            (100, 10, 41),
        ] {
            assert_eq!(
                (longest_run_limit(n), crossings_limit(n)),
                (run, cross),
                "n = {n}"
            );
        }
        // Small and large n.
        assert_eq!(
            (1..10).map(crossings_limit).collect::<Vec<_>>(),
            vec![0, 0, 0, 0, 0, 1, 1, 1, 2]
        );
        assert_eq!(
            (1..10).map(longest_run_limit).collect::<Vec<_>>(),
            vec![3, 4, 5, 5, 5, 6, 6, 6, 6]
        );
        assert_eq!(crossings_limit(200), 88);
        assert_eq!(crossings_limit(500), 231);
        assert_eq!(crossings_limit(1000), 474);
        assert_eq!(longest_run_limit(1000), 13);
        assert_eq!((longest_run_limit(0), crossings_limit(0)), (0, 0));
    }

    #[test]
    fn crossings_limit_in_log_space_agrees_with_exact() {
        for trials in 0..=120 {
            assert_eq!(
                crossings_limit_exact(trials),
                Some(crossings_limit_log(trials)),
                "trials = {trials}"
            );
        }
        assert_eq!(crossings_limit_exact(121), None);
    }

    /// `signal_starts` finds the signals `analyse` lists, in order, over many series (a small
    /// generator, so that failures repeat): every rule, phases, baselines, ties and exclusions.
    #[test]
    fn signal_starts_are_the_analysis_signals_first_points() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        let mut rules_seen = std::collections::BTreeSet::new();
        for _ in 0..3_000 {
            let len = next(60) as usize;
            let level = next(3) as f64 * 4.0;
            let points: Vec<Point> = (0..len)
                .map(|i| Point {
                    // Few distinct values (ties, points on the median), drifting runs, spikes.
                    value: match next(20) {
                        0 => 100.0,
                        1 => f64::NAN,
                        _ => (next(5) as f64) + if i > len / 2 { level } else { 0.0 },
                    },
                    excluded: next(15) == 0,
                })
                .collect();
            let options = Options {
                baseline_points: [None, Some(0), Some(next(12) as usize)][next(3) as usize],
                phase_starts: (0..next(3)).map(|_| next(70) as usize).collect(),
            };
            let listed: Vec<(RuleSet, Rule, usize)> = analyse(&points, &options)
                .phases
                .into_iter()
                .flat_map(|p| p.signals)
                .map(|s| (s.rule_set, s.rule, s.points[0]))
                .collect();
            let mut starts = Vec::new();
            signal_starts(&points, &options, |rule_set, rule, first| {
                starts.push((rule_set, rule, first))
            });
            assert_eq!(starts, listed, "{points:?} {options:?}");
            rules_seen.extend(listed.iter().map(|&(set, rule, _)| (set, rule)));
        }
        assert_eq!(
            rules_seen.len(),
            6,
            "every rule fired somewhere: {rules_seen:?}"
        );
    }

    #[test]
    fn the_selected_median_is_the_sorted_median() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for len in 0..40 {
            for _ in 0..50 {
                let values: Vec<f64> = (0..len)
                    .map(|_| {
                        state ^= state << 13;
                        state ^= state >> 7;
                        state ^= state << 17;
                        (state % 9) as f64 * 0.5 - 2.0
                    })
                    .collect();
                let mut sorted = values.clone();
                sorted.sort_by(f64::total_cmp);
                let expected = (!sorted.is_empty()).then(|| {
                    let mid = sorted.len() / 2;
                    if sorted.len() % 2 == 1 {
                        sorted[mid]
                    } else {
                        (sorted[mid - 1] + sorted[mid]) / 2.0
                    }
                });
                assert_eq!(median_of(&mut values.clone()), expected, "{values:?}");
            }
        }
    }
}
