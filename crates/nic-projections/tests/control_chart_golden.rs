//! Golden tests of `control_chart` against published numbers.
//!
//! qicharts2 (github.com/anhoej/qicharts2), `tests/testthat/test_montgomery.R`: its reference
//! results (`tests/testthat/*.rds`, the data frames `qic()` returned, read here as CSV in
//! `tests/data/`) for examples of Montgomery, *Introduction to Statistical Quality Control*:
//!
//! - `montgomery_ex_7_1_p.csv`: example 7.1 (orange-juice cans, n = 50), P chart with samples 15
//!   and 23 excluded and a new phase from sample 31 (`exclude = c(15, 23), part = 30`);
//!   Montgomery prints p̄ = 0.2150, UCL = 0.3893, LCL = 0.0407 for the first phase.
//! - `montgomery_tbl_7_4_p.csv`: table 7.4, P chart with variable sample sizes.
//! - `montgomery_ex_7_3_c.csv`: example 7.3 (nonconformities in printed circuit boards), C chart
//!   with samples 6 and 20 excluded and the limits frozen on the first 26 samples
//!   (`exclude = c(6, 20), freeze = 26`: 24 non-excluded subgroups); Montgomery prints
//!   c̄ = 19.67, UCL = 32.97, LCL = 6.36.
//! - `montgomery_ex_7_4_u.csv`: example 7.4 (personal computers, 5 per sample), U chart;
//!   qicharts2's data give ū = 0.074 per unit (Montgomery's 1.48 per 20 units).
//! - `montgomery_ex_7_5_u.csv`: example 7.5 (dyed cloth, inspection units of 50 m), U chart with
//!   variable exposure; the reference is per 50 m (`multiply = 50`) and is divided by 50 here.
//! - `montgomery_ex_6_5_i.csv`: example 6.5 (loan-processing costs), I chart and MR chart frozen on
//!   the first 20 weeks (`freeze = 20`); Montgomery prints x̄ = 300.5, MR̄ = 7.79, UCL = 321.22,
//!   LCL = 279.78, and weeks 39 and 40 beyond the upper limit.
//!
//! Each CSV row is one subgroup: `value`, `size`, `excluded`, then qicharts2's `cl`, `lcl`, `ucl`
//! and `sigma.signal` (and for the I chart the MR chart's `y`, `cl`, `ucl`). qicharts2 also marks
//! an excluded point beyond the limits as a signal; here excluded points are never flagged.
//!
//! NHSRplotthedots (github.com/nhs-r-community/NHSRplotthedots):
//!
//! - `tests/testthat/test-ptd_spc_standard.R` with its snapshot `_snaps/ptd_spc_standard.md`: the
//!   20 values of `set.seed(123); rnorm(20)` (the first eight printed in the snapshot, all of them
//!   the standard R sequence, checked here by the printed mean 0.1416238), the process limits with
//!   screened moving ranges, then with value 15 set to 10 screened and unscreened. The package
//!   computes limits as `mean ± 2.66 × MR̄`; they are converted here to `3 / 1.128 × MR̄`.
//! - `tests/testthat/test-ptd_spc_standard.R`, "it only reports special cause for 2of3 points close
//!   to limits when they are on the same side of the mean": both last points common cause.
//! - `tests/testthat/test-ptd_calculate_point_type.R`: the shift, trend and two-in-three fixtures
//!   (`ptd_seven_point_one_side_mean`, `ptd_seven_point_trend`, `ptd_two_in_three`), as series.
//! - `tests/testthat/test-ptd_calculate_assurance_type.R`: target against the last limits.

use nic_projections::control_chart::{
    analyse, Assurance, ChartType, ControlChart, ControlOptions, ControlRule, ControlRules,
    Direction, Subgroup, Variation,
};

/// One row of a reference CSV.
struct Row {
    value: f64,
    size: Option<f64>,
    excluded: bool,
    centre: f64,
    lcl: f64,
    ucl: f64,
    signal: bool,
    mr: Option<f64>,
    mr_centre: f64,
    mr_ucl: f64,
}

fn rows(csv: &str) -> Vec<Row> {
    let opt = |s: &str| (!s.is_empty()).then(|| s.parse::<f64>().unwrap());
    csv.lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Row {
                value: f[0].parse().unwrap(),
                size: opt(f[1]),
                excluded: f[2] == "true",
                centre: f[3].parse().unwrap(),
                lcl: f[4].parse().unwrap(),
                ucl: f[5].parse().unwrap(),
                signal: f[6] == "true",
                mr: f.get(7).and_then(|s| opt(s)),
                mr_centre: f.get(8).and_then(|s| opt(s)).unwrap_or(0.0),
                mr_ucl: f.get(9).and_then(|s| opt(s)).unwrap_or(0.0),
            }
        })
        .collect()
}

fn subgroups(rows: &[Row]) -> Vec<Subgroup> {
    rows.iter()
        .map(|r| Subgroup {
            value: r.value,
            size: r.size,
            excluded: r.excluded,
        })
        .collect()
}

fn close(a: f64, b: f64, tolerance: f64, what: &str) {
    assert!(
        (a - b).abs() <= tolerance * b.abs().max(1.0),
        "{what}: {a} against {b}"
    );
}

/// Asserts centre and limits of every point to 1e-12 and the flagged points (beyond the limits,
/// the only qicharts2 rule) among the non-excluded ones.
fn check(chart: &ControlChart, rows: &[Row]) {
    assert_eq!(chart.points.len(), rows.len());
    for (i, (p, r)) in chart.points.iter().zip(rows).enumerate() {
        close(p.centre, r.centre, 1e-12, &format!("centre {i}"));
        close(p.lcl, r.lcl, 1e-12, &format!("lcl {i}"));
        close(p.ucl, r.ucl, 1e-12, &format!("ucl {i}"));
        assert_eq!(p.excluded, r.excluded, "excluded {i}");
        let expected = r.signal && !r.excluded;
        assert_eq!(
            p.flags.contains(&ControlRule::BeyondLimits),
            expected,
            "signal {i}"
        );
    }
}

fn options(chart: ChartType) -> ControlOptions {
    ControlOptions {
        chart,
        ..ControlOptions::default()
    }
}

#[test]
fn p_chart_with_exclusions_and_a_phase_montgomery_7_1() {
    let rows = rows(include_str!("data/montgomery_ex_7_1_p.csv"));
    let chart = analyse(
        &subgroups(&rows),
        &ControlOptions {
            phases: vec![30],
            ..options(ChartType::P)
        },
    );
    check(&chart, &rows);
    assert_eq!(chart.rule_set.id, "shewhart");
    assert_eq!(chart.phases.len(), 2);
    // Montgomery's printed values, to their precision.
    let first = &chart.points[0];
    close(first.centre, 0.2150, 5e-5, "p̄");
    close(first.ucl, 0.3893, 5e-5, "UCL");
    close(first.lcl, 0.0407, 5e-5, "LCL");
    close(chart.points[40].centre, 0.1097, 5e-5, "p̄ of phase 2");
    assert_eq!(chart.points[40].lcl, 0.0, "clamped at 0");
    assert_eq!(chart.phases[0].baseline_points, 28);
    let flagged: Vec<usize> = (0..rows.len())
        .filter(|&i| !chart.points[i].flags.is_empty())
        .collect();
    assert_eq!(flagged, vec![20]);
}

#[test]
fn p_chart_with_variable_sizes_montgomery_table_7_4() {
    let rows = rows(include_str!("data/montgomery_tbl_7_4_p.csv"));
    let chart = analyse(&subgroups(&rows), &options(ChartType::P));
    check(&chart, &rows);
    close(chart.points[0].centre, 0.096, 5e-4, "p̄");
}

#[test]
fn c_chart_with_exclusions_and_a_frozen_baseline_montgomery_7_3() {
    let rows = rows(include_str!("data/montgomery_ex_7_3_c.csv"));
    let chart = analyse(
        &subgroups(&rows),
        &ControlOptions {
            baseline: Some(24),
            ..options(ChartType::C)
        },
    );
    check(&chart, &rows);
    let p = &chart.points[0];
    close(p.centre, 19.67, 5e-3, "c̄");
    close(p.ucl, 32.97, 5e-3, "UCL");
    close(p.lcl, 6.36, 5e-3, "LCL");
    assert_eq!(chart.phases[0].sigma, Some(p.centre.sqrt()));
    assert_eq!(chart.phases[0].baseline_points, 24);
}

#[test]
fn u_chart_montgomery_7_4() {
    let rows = rows(include_str!("data/montgomery_ex_7_4_u.csv"));
    let chart = analyse(&subgroups(&rows), &options(ChartType::U));
    check(&chart, &rows);
    close(chart.points[0].centre * 20.0, 1.48, 1e-9, "ū per 20 units");
}

#[test]
fn u_chart_with_variable_exposure_montgomery_7_5() {
    let rows = rows(include_str!("data/montgomery_ex_7_5_u.csv"));
    let chart = analyse(&subgroups(&rows), &options(ChartType::U));
    check(&chart, &rows);
    close(chart.points[0].centre * 50.0, 1.42, 5e-3, "ū per 50 m");
}

#[test]
fn i_chart_and_moving_ranges_frozen_on_20_weeks_montgomery_6_5() {
    let rows = rows(include_str!("data/montgomery_ex_6_5_i.csv"));
    let chart = analyse(
        &subgroups(&rows),
        &ControlOptions {
            baseline: Some(20),
            ..options(ChartType::I)
        },
    );
    check(&chart, &rows);
    let p = &chart.points[0];
    close(p.centre, 300.5, 1e-12, "x̄");
    close(p.ucl, 321.22, 5e-5, "UCL");
    close(p.lcl, 279.78, 5e-5, "LCL");
    let mr = chart.moving_ranges.as_ref().unwrap();
    for (i, (m, r)) in mr.points.iter().zip(&rows).enumerate() {
        assert_eq!(m.moving_range, r.mr, "moving range {i}");
        close(m.centre, r.mr_centre, 1e-12, &format!("MR̄ {i}"));
        close(m.ucl, r.mr_ucl, 1e-12, &format!("MR UCL {i}"));
    }
    close(mr.points[0].centre, 7.79, 5e-4, "MR̄");
    let flagged: Vec<usize> = (0..rows.len())
        .filter(|&i| !chart.points[i].flags.is_empty())
        .collect();
    assert_eq!(flagged, vec![38, 39]);
}

/// `set.seed(123); rnorm(20)` in R.
const RNORM_123: [f64; 20] = [
    -0.560_475_65,
    -0.230_177_49,
    1.558_708_31,
    0.070_508_39,
    0.129_287_74,
    1.715_064_99,
    0.460_916_21,
    -1.265_061_23,
    -0.686_852_85,
    -0.445_661_97,
    1.224_081_80,
    0.359_813_83,
    0.400_771_45,
    0.110_682_72,
    -0.555_841_13,
    1.786_913_14,
    0.497_850_48,
    -1.966_617_16,
    0.701_355_90,
    -0.472_791_41,
];

/// The factor from NHSRplotthedots' `2.66 × MR̄` to `3 / 1.128 × MR̄`.
fn from_nhs(mean: f64, limit: f64) -> f64 {
    mean + (limit - mean) * (3.0 / 1.128) / 2.66
}

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

#[test]
fn i_chart_screened_moving_ranges_nhsrplotthedots_snapshot() {
    let check = |values: &[f64], screen: bool, (mean, lpl, upl): (f64, f64, f64)| {
        let chart = analyse(
            &series(values),
            &ControlOptions {
                screen_moving_ranges: screen,
                ..options(ChartType::I)
            },
        );
        let p = &chart.points[0];
        close(p.centre, mean, 5e-7, "mean");
        close(p.lcl, from_nhs(mean, lpl), 5e-6, "lower process limit");
        close(p.ucl, from_nhs(mean, upl), 5e-6, "upper process limit");
    };
    check(&RNORM_123, true, (0.141_623_8, -3.011_38, 3.294_627));
    let mut outlier = RNORM_123;
    outlier[14] = 10.0;
    check(&outlier, true, (0.669_415_9, -2.383_666, 3.722_497));
    check(&outlier, false, (0.669_415_9, -4.596_625, 5.935_457));
}

#[test]
fn two_of_three_needs_one_side_nhsrplotthedots() {
    let mut values: Vec<f64> = (0..16)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    values[14] = 5.5;
    values[15] = -5.5;
    let chart = analyse(
        &series(&values),
        &ControlOptions {
            rules: ControlRules::MakingDataCount,
            direction: Direction::HigherIsBetter,
            ..options(ChartType::I)
        },
    );
    assert!(chart.points[14].flags.is_empty());
    assert!(chart.points[15].flags.is_empty());
    assert_eq!(chart.variation, Variation::CommonCause);
}

/// The flags of one rule under Making Data Count, by point.
fn mdc_flags(values: &[f64], rule: ControlRule) -> Vec<bool> {
    let chart = analyse(
        &series(values),
        &ControlOptions {
            rules: ControlRules::MakingDataCount,
            ..options(ChartType::I)
        },
    );
    assert_eq!(chart.rule_set.id, "nhs-making-data-count");
    chart
        .points
        .iter()
        .map(|p| p.flags.contains(&rule))
        .collect()
}

#[test]
fn making_data_count_trend_nhsrplotthedots_fixtures() {
    // ptd_seven_point_trend(1:6): no trend; c(1:3, 3:6): an equal neighbour breaks it.
    assert!(!mdc_flags(&[1., 2., 3., 4., 5., 6.], ControlRule::Trend).contains(&true));
    assert!(!mdc_flags(&[1., 2., 3., 3., 4., 5., 6.], ControlRule::Trend).contains(&true));
    // c(2, 1:7, 3): the seven points 1..7 form the trend (ptd_part_of_seven_trend).
    let t = mdc_flags(&[2., 1., 2., 3., 4., 5., 6., 7., 3.], ControlRule::Trend);
    assert_eq!(t, [false, true, true, true, true, true, true, true, false]);
    let t = mdc_flags(&[2., 7., 6., 5., 4., 3., 2., 1., 3.], ControlRule::Trend);
    assert_eq!(t, [false, true, true, true, true, true, true, true, false]);
}

#[test]
fn making_data_count_shift_nhsrplotthedots_fixtures() {
    // ptd_seven_point_one_side_mean: six on one side is not a shift, eight are.
    let mut values = vec![1.0; 6];
    values.extend([-1.0; 6]);
    assert!(!mdc_flags(&values, ControlRule::Shift).contains(&true));
    let mut values = vec![1.0; 8];
    values.extend([-1.0; 9]);
    let s = mdc_flags(&values, ControlRule::Shift);
    assert_eq!(s, [true; 17]);
    let mut values = vec![1.0; 8];
    values.extend([-1.0, -1.0, 1.0]);
    let mut values2 = values.clone();
    values2.extend([-1.0; 3]);
    let s = mdc_flags(&values2, ControlRule::Shift);
    assert_eq!(&s[..8], &[true; 8]);
    assert_eq!(&s[8..], &[false; 6]);
}

#[test]
fn making_data_count_two_in_three_nhsrplotthedots_fixtures() {
    // ptd_two_in_three(c(0, 0, 1, 0, 1, 0, 0), all above): the two near the limit are flagged.
    // Built as an I chart: a wide series first, so that its limits are known, then the pattern.
    let mut values: Vec<f64> = (0..20)
        .map(|i| if i % 2 == 0 { 1.0 } else { -1.0 })
        .collect();
    // Centre 0, MR̄ 2, sigma 2 / 1.128 ≈ 1.77: 4 is beyond 2 sigma and within the limits.
    let pattern = [0.5, 0.5, 4.0, 0.5, 4.0, 0.5, 0.5];
    values.extend(pattern);
    values.extend(pattern.map(|v| -v));
    let chart = analyse(
        &series(&values),
        &ControlOptions {
            rules: ControlRules::MakingDataCount,
            baseline: Some(20),
            ..options(ChartType::I)
        },
    );
    let t: Vec<bool> = chart.points[20..]
        .iter()
        .map(|p| p.flags.contains(&ControlRule::TwoOfThreeBeyondTwoSigma))
        .collect();
    let once = [false, false, true, false, true, false, false];
    assert_eq!(&t[..7], &once);
    assert_eq!(&t[7..], &once);
}

#[test]
fn assurance_nhsrplotthedots_logic() {
    let values = [1.0, -1.0, 1.0, -1.0, 1.0, -1.0];
    let at = |target: f64, direction: Direction| {
        analyse(
            &series(&values),
            &ControlOptions {
                target: Some(target),
                direction,
                ..options(ChartType::I)
            },
        )
        .assurance
    };
    // Limits 0 ± 3 × 2 / 1.128 ≈ ±5.32.
    assert_eq!(
        at(10.0, Direction::HigherIsBetter),
        Some(Assurance::ConsistentlyFail)
    );
    assert_eq!(
        at(-10.0, Direction::HigherIsBetter),
        Some(Assurance::ConsistentlyPass)
    );
    assert_eq!(
        at(10.0, Direction::LowerIsBetter),
        Some(Assurance::ConsistentlyPass)
    );
    assert_eq!(
        at(-10.0, Direction::LowerIsBetter),
        Some(Assurance::ConsistentlyFail)
    );
    assert_eq!(
        at(0.0, Direction::HigherIsBetter),
        Some(Assurance::HitAndMiss)
    );
    assert_eq!(at(0.0, Direction::Neither), None);
}
