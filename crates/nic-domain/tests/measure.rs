//! Given / when / then for `nic_domain::measure`: operational definitions, data points (ratio or
//! value, labelled by period), their corrections and exclusions, and the run-chart settings.

mod common;

use common::*;
use nic_domain::limits::{BASELINE_POINTS_MAX, BASELINE_POINTS_MIN};
use nic_domain::measure::*;
use nic_events::catalog::*;
use nic_events::NicEvent;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Definition
// ---------------------------------------------------------------------------------------------

/// The command that defines `def` (its ids aside).
fn define_as(def: MeasureDefined) -> DefineMeasure {
    DefineMeasure {
        name: def.name,
        kind: def.kind,
        description: def.description,
        scale: def.scale,
        data_type: def.data_type,
        numerator: def.numerator,
        denominator: def.denominator,
        unit: def.unit,
        period: def.period,
        direction: def.direction,
        target: def.target,
        inclusions: def.inclusions,
        exclusions: def.exclusions,
        data_source: def.data_source,
        collected_by: def.collected_by,
        tracks: def.tracks,
    }
}

#[test]
fn a_ratio_measure_is_defined() {
    then_events(
        define(
            &the_network(),
            &measure_state(MEASURE, &[]),
            define_as(measure_defined()),
        ),
        vec![NicEvent::MeasureDefined(measure_defined())],
    );
}

#[test]
fn a_value_measure_is_defined() {
    let def = MeasureDefined {
        tracks: vec![IDEA_HUDDLES, SECONDARY_MENTORING],
        ..value_measure_defined(MEASURE_WEEKLY, PeriodKind::Week)
    };
    then_events(
        define(
            &the_network(),
            &measure_state(MEASURE_WEEKLY, &[]),
            define_as(def.clone()),
        ),
        vec![NicEvent::MeasureDefined(def)],
    );
}

#[test]
fn a_ratio_measure_says_what_its_numerator_and_denominator_count() {
    for (numerator, denominator) in [(None, None), (Some(blank()), Some(blank()))] {
        then_invalid(
            define(
                &the_network(),
                &measure_state(MEASURE, &[]),
                define_as(MeasureDefined {
                    numerator,
                    denominator,
                    ..measure_defined()
                }),
            ),
            &["numerator", "denominator"],
        );
    }
}

#[test]
fn a_value_measure_has_no_numerator_or_denominator() {
    for (numerator, denominator) in [
        (Some(text("Huddles")), None),
        (None, Some(text("Weeks"))),
        (Some(blank()), None),
    ] {
        then_invalid(
            define(
                &the_network(),
                &measure_state(MEASURE_WEEKLY, &[]),
                define_as(MeasureDefined {
                    numerator,
                    denominator,
                    ..value_measure_defined(MEASURE_WEEKLY, PeriodKind::Week)
                }),
            ),
            &["scale"],
        );
    }
}

#[test]
fn everything_wrong_with_a_definition_is_reported_at_once() {
    then_invalid(
        define(
            &the_network(),
            &measure_state(MEASURE, &[]),
            define_as(MeasureDefined {
                numerator: None,
                description: blank(),
                target: Some(f64::NAN),
                tracks: too_many(PRIMARY_PATHWAYS),
                ..measure_defined()
            }),
        ),
        &["numerator", "description", "target", "tracks"],
    );
}

#[test]
fn a_measure_tracks_live_nodes_of_its_network() {
    then_unknown(
        define(
            &the_network(),
            &measure_state(MEASURE, &[]),
            define_as(MeasureDefined {
                tracks: vec![PRIMARY_PATHWAYS, NOBODY],
                ..measure_defined()
            }),
        ),
        "tracks[1]",
        "driver-diagram node",
        NOBODY,
    );
    then_invalid(
        define(
            &the_network_and([retired(PRIMARY_PATHWAYS)]),
            &measure_state(MEASURE, &[]),
            define_as(measure_defined()),
        ),
        &["tracks[0]"],
    );
}

#[test]
fn a_measure_is_defined_once_in_a_chartered_network() {
    then_transition(define(
        &the_network(),
        &the_measure(),
        define_as(measure_defined()),
    ));
    then_not_found(
        define(
            &network_state(NETWORK, &[]),
            &measure_state(MEASURE, &[]),
            define_as(measure_defined()),
        ),
        "network",
        NETWORK,
    );
}

// ---------------------------------------------------------------------------------------------
// Data points
// ---------------------------------------------------------------------------------------------

fn ratio(program_id: Uuid, period: &str, n: f64, d: f64) -> RecordDataPoint {
    RecordDataPoint {
        program_id,
        period: period.parse().unwrap(),
        numerator: Some(n),
        denominator: Some(d),
        value: None,
        note: text(""),
    }
}

fn value(program_id: Uuid, period: &str, v: f64) -> RecordDataPoint {
    RecordDataPoint {
        program_id,
        period: period.parse().unwrap(),
        numerator: None,
        denominator: None,
        value: Some(v),
        note: text("From the huddle sheet."),
    }
}

fn value_point(point: Uuid, program: Uuid, period: &str, v: f64) -> NicEvent {
    NicEvent::DataPointRecorded(DataPointRecorded {
        point_id: point,
        program_id: program,
        period: period.parse().unwrap(),
        numerator: None,
        denominator: None,
        value: Some(v),
        note: text("From the huddle sheet."),
    })
}

fn value_measure(id: Uuid, period: PeriodKind) -> MeasureState {
    measure_state(
        id,
        &[NicEvent::MeasureDefined(value_measure_defined(id, period))],
    )
}

#[test]
fn a_program_records_a_ratio_point() {
    then_events(
        record_point(
            &the_measure(),
            Some(&the_program()),
            POINT_2,
            ratio(PROGRAM, "2025-04", 15.0, 41.0),
        ),
        vec![point_recorded(POINT_2, PROGRAM, "2025-04", 15.0, 41.0)],
    );
    // A numerator of zero is a point.
    then_events(
        record_point(
            &the_measure(),
            Some(&the_program()),
            POINT_2,
            ratio(PROGRAM, "2025-05", 0.0, 41.0),
        ),
        vec![point_recorded(POINT_2, PROGRAM, "2025-05", 0.0, 41.0)],
    );
}

#[test]
fn a_program_records_a_value_point_labelled_in_the_measures_period_kind() {
    for (kind, label) in [
        (PeriodKind::Week, "2025-W09"),
        (PeriodKind::Month, "2025-12"),
        (PeriodKind::Term, "2025-T2"),
    ] {
        then_events(
            record_point(
                &value_measure(MEASURE_WEEKLY, kind),
                Some(&the_program()),
                POINT,
                value(PROGRAM, label, 4.0),
            ),
            vec![value_point(POINT, PROGRAM, label, 4.0)],
        );
    }
}

#[test]
fn a_period_label_of_another_kind_or_malformed_is_refused() {
    for (kind, label) in [
        (PeriodKind::Month, "2025-W09"),
        (PeriodKind::Month, "2025-T1"),
        (PeriodKind::Week, "2025-03"),
        (PeriodKind::Term, "2025-03"),
    ] {
        then_invalid(
            record_point(
                &value_measure(MEASURE_WEEKLY, kind),
                Some(&the_program()),
                POINT,
                value(PROGRAM, label, 4.0),
            ),
            &["period"],
        );
    }
    // A malformed label is no period: the command does not even read.
    for label in ["2025-13", "March 2025", "2025-W54", "2025-T4", ""] {
        let body = serde_json::json!({"program_id": PROGRAM, "period": label, "value": 4.0});
        let e = serde_json::from_value::<RecordDataPoint>(body).unwrap_err();
        assert!(e.to_string().contains("is not a period"), "{label:?}: {e}");
        let body = serde_json::json!({"from_period": label, "label": "Huddles everywhere"});
        assert!(
            serde_json::from_value::<StartPhase>(body).is_err(),
            "{label:?}"
        );
    }
}

#[test]
fn a_ratio_point_has_a_numerator_and_a_positive_denominator_and_no_value() {
    let when = |cmd| record_point(&the_measure(), Some(&the_program()), POINT_2, cmd);
    then_invalid(
        when(RecordDataPoint {
            value: Some(0.3),
            ..ratio(PROGRAM, "2025-04", 12.0, 40.0)
        }),
        &["value"],
    );
    then_invalid(
        when(RecordDataPoint {
            numerator: None,
            ..ratio(PROGRAM, "2025-04", 12.0, 40.0)
        }),
        &["numerator"],
    );
    then_invalid(when(ratio(PROGRAM, "2025-04", -1.0, 40.0)), &["numerator"]);
    then_invalid(when(ratio(PROGRAM, "2025-04", 12.0, 0.0)), &["denominator"]);
    then_invalid(
        when(ratio(PROGRAM, "2025-04", 12.0, f64::INFINITY)),
        &["denominator"],
    );
    // NaN is not finite, nor 0 or more.
    then_invalid(
        when(ratio(PROGRAM, "2025-04", f64::NAN, 40.0)),
        &["numerator", "numerator"],
    );
    // A value in place of a ratio: every field says what is wrong.
    then_invalid(
        when(value(PROGRAM, "2025-04", 0.3)),
        &["value", "numerator", "denominator"],
    );
}

#[test]
fn a_value_point_has_a_finite_value_and_no_ratio() {
    let measure = value_measure(MEASURE_WEEKLY, PeriodKind::Week);
    let when = |cmd| record_point(&measure, Some(&the_program()), POINT, cmd);
    then_invalid(
        when(ratio(PROGRAM, "2025-W09", 3.0, 4.0)),
        &["numerator", "value"],
    );
    then_invalid(
        when(RecordDataPoint {
            denominator: Some(4.0),
            ..value(PROGRAM, "2025-W09", 3.0)
        }),
        &["numerator"],
    );
    then_invalid(when(value(PROGRAM, "2025-W09", f64::NAN)), &["value"]);
}

/// `def` with another data type.
fn measure_of(data_type: DataType, def: MeasureDefined) -> MeasureState {
    let id = def.measure_id;
    measure_state(
        id,
        &[NicEvent::MeasureDefined(MeasureDefined {
            data_type: Some(data_type),
            ..def
        })],
    )
}

#[test]
fn a_point_holds_only_what_the_measure_s_data_type_allows() {
    let proportion = the_measure();
    let rate = measure_of(DataType::Rate, measure_defined());
    let weekly = value_measure_defined(MEASURE_WEEKLY, PeriodKind::Week);
    let count = value_measure(MEASURE_WEEKLY, PeriodKind::Week);
    let percentage = measure_of(DataType::Percentage, weekly.clone());
    let measurement = measure_of(DataType::Measurement, weekly);
    let when = |m: &MeasureState, cmd| record_point(m, Some(&the_program()), POINT_2, cmd);
    // A proportion's numerator counts part of its denominator; a rate's may pass it.
    then_invalid(
        when(&proportion, ratio(PROGRAM, "2025-04", 41.0, 40.0)),
        &["numerator"],
    );
    assert!(when(&proportion, ratio(PROGRAM, "2025-04", 40.0, 40.0)).is_ok());
    assert!(when(&rate, ratio(PROGRAM, "2025-04", 41.0, 40.0)).is_ok());
    // A count is a whole number of 0 or more.
    for v in [-1.0, 2.5] {
        then_invalid(when(&count, value(PROGRAM, "2025-W09", v)), &["value"]);
    }
    assert!(when(&count, value(PROGRAM, "2025-W09", 0.0)).is_ok());
    // A percentage is from 0 to 100.
    for v in [-0.5, 100.5] {
        then_invalid(when(&percentage, value(PROGRAM, "2025-W09", v)), &["value"]);
    }
    assert!(when(&percentage, value(PROGRAM, "2025-W09", 100.0)).is_ok());
    // A measurement is any finite number.
    assert!(when(&measurement, value(PROGRAM, "2025-W09", -2.5)).is_ok());
    // A measure defined before data types existed keeps only its scale's checks.
    let unknown = measure_state(
        MEASURE,
        &[NicEvent::MeasureDefined(MeasureDefined {
            data_type: None,
            ..measure_defined()
        })],
    );
    assert!(when(&unknown, ratio(PROGRAM, "2025-04", 41.0, 40.0)).is_ok());
    // A correction is held to the same.
    let recorded = measure_state(
        MEASURE,
        &[
            NicEvent::MeasureDefined(measure_defined()),
            point_recorded(POINT, PROGRAM, "2025-03", 12.0, 40.0),
        ],
    );
    then_invalid(
        correct_point(
            &recorded,
            POINT,
            CorrectDataPoint {
                numerator: Some(45.0),
                denominator: Some(40.0),
                value: None,
                reason: text("Recount"),
            },
        ),
        &["numerator"],
    );
}

#[test]
fn a_definition_s_data_type_fits_its_scale_and_defaults_from_it() {
    then_invalid(
        define(
            &the_network(),
            &measure_state(MEASURE, &[]),
            DefineMeasure {
                data_type: Some(DataType::Count),
                ..define_as(measure_defined())
            },
        ),
        &["data_type"],
    );
    for (def, default) in [
        (measure_defined(), DataType::Proportion),
        (
            value_measure_defined(MEASURE_WEEKLY, PeriodKind::Week),
            DataType::Measurement,
        ),
    ] {
        let state = measure_state(def.measure_id, &[]);
        then_events(
            define(
                &the_network(),
                &state,
                DefineMeasure {
                    data_type: None,
                    ..define_as(def.clone())
                },
            ),
            vec![NicEvent::MeasureDefined(MeasureDefined {
                data_type: Some(default),
                ..def
            })],
        );
    }
}

#[test]
fn a_program_records_one_point_per_period() {
    then_transition(record_point(
        &the_measure(),
        Some(&the_program()),
        POINT_2,
        ratio(PROGRAM, "2025-03", 13.0, 40.0),
    ));
    // Another program records the same period.
    then_events(
        record_point(
            &the_measure(),
            Some(&program_2()),
            POINT_2,
            ratio(PROGRAM_2, "2025-03", 7.0, 20.0),
        ),
        vec![point_recorded(POINT_2, PROGRAM_2, "2025-03", 7.0, 20.0)],
    );
}

#[test]
fn a_point_under_an_id_already_held_is_refused() {
    // Else it would overwrite the point, its corrections and its exclusion.
    then_transition(record_point(
        &the_measure_and([excluded("Survey sent late.")]),
        Some(&the_program()),
        POINT,
        ratio(PROGRAM, "2025-04", 15.0, 41.0),
    ));
}

#[test]
fn only_an_active_program_of_the_measures_network_records_points() {
    then_invalid(
        record_point(
            &the_measure(),
            Some(&program_withdrawn()),
            POINT_2,
            ratio(PROGRAM_WITHDRAWN, "2025-04", 1.0, 2.0),
        ),
        &["program_id"],
    );
    then_unknown(
        record_point(
            &the_measure(),
            Some(&program_other()),
            POINT_2,
            ratio(PROGRAM_OTHER, "2025-04", 1.0, 2.0),
        ),
        "program_id",
        "program",
        PROGRAM_OTHER,
    );
    then_unknown(
        record_point(
            &the_measure(),
            None,
            POINT_2,
            ratio(PROGRAM_NONE, "2025-04", 1.0, 2.0),
        ),
        "program_id",
        "program",
        PROGRAM_NONE,
    );
}

// ---------------------------------------------------------------------------------------------
// Corrections and exclusions
// ---------------------------------------------------------------------------------------------

fn correction(n: f64, d: f64, reason: &str) -> CorrectDataPoint {
    CorrectDataPoint {
        numerator: Some(n),
        denominator: Some(d),
        value: None,
        reason: text(reason),
    }
}

fn corrected(n: f64, d: f64, reason: &str) -> NicEvent {
    NicEvent::DataPointCorrected(DataPointCorrected {
        point_id: POINT,
        numerator: Some(n),
        denominator: Some(d),
        value: None,
        reason: text(reason),
    })
}

fn excluded(reason: &str) -> NicEvent {
    NicEvent::DataPointExcluded(DataPointExcluded {
        point_id: POINT,
        reason: text(reason),
    })
}

#[test]
fn a_point_is_corrected_with_a_reason() {
    then_events(
        correct_point(
            &the_measure(),
            POINT,
            correction(14.0, 40.0, "Two alumni were missed."),
        ),
        vec![corrected(14.0, 40.0, "Two alumni were missed.")],
    );
    // Back to what it first held, after a correction: a new correction, not a no-op.
    then_events(
        correct_point(
            &the_measure_and([corrected(14.0, 40.0, "Two alumni were missed.")]),
            POINT,
            correction(12.0, 40.0, "They had not enrolled after all."),
        ),
        vec![corrected(12.0, 40.0, "They had not enrolled after all.")],
    );
}

#[test]
fn a_correction_that_changes_nothing_or_says_no_reason_is_refused() {
    then_transition(correct_point(
        &the_measure(),
        POINT,
        correction(12.0, 40.0, "Same."),
    ));
    then_invalid(
        correct_point(&the_measure(), POINT, correction(14.0, 40.0, "  ")),
        &["reason"],
    );
}

#[test]
fn a_correction_holds_numbers_of_the_measures_scale() {
    then_invalid(
        correct_point(
            &the_measure(),
            POINT,
            CorrectDataPoint {
                numerator: None,
                denominator: Some(0.0),
                value: Some(0.3),
                reason: blank(),
            },
        ),
        &["value", "numerator", "denominator", "reason"],
    );
}

#[test]
fn an_excluded_point_may_still_be_corrected() {
    then_events(
        correct_point(
            &the_measure_and([excluded("Survey sent late.")]),
            POINT,
            correction(14.0, 40.0, "Two alumni were missed."),
        ),
        vec![corrected(14.0, 40.0, "Two alumni were missed.")],
    );
}

#[test]
fn a_point_is_excluded_once_with_a_reason() {
    then_events(
        exclude_point(
            &the_measure(),
            POINT,
            ExcludeDataPoint {
                reason: text("Survey sent late."),
            },
        ),
        vec![excluded("Survey sent late.")],
    );
    then_invalid(
        exclude_point(&the_measure(), POINT, ExcludeDataPoint { reason: blank() }),
        &["reason"],
    );
    then_transition(exclude_point(
        &the_measure_and([excluded("Survey sent late.")]),
        POINT,
        ExcludeDataPoint {
            reason: text("Again."),
        },
    ));
}

#[test]
fn corrections_and_exclusions_fold_into_the_point_without_overwriting_its_record() {
    let state = the_measure_and([
        corrected(14.0, 40.0, "Two alumni were missed."),
        corrected(15.0, 40.0, "One more."),
        excluded("Survey sent late."),
    ]);
    let p = &state.points[&POINT];
    assert_eq!(
        (p.numerator, p.denominator, p.value),
        (Some(15.0), Some(40.0), None)
    );
    assert_eq!(p.corrections, 2);
    assert_eq!(p.excluded, Some(text("Survey sent late.")));
    assert_eq!(p.period, "2025-03");
}

// ---------------------------------------------------------------------------------------------
// Run-chart settings
// ---------------------------------------------------------------------------------------------

fn freeze(points: u32) -> FreezeBaseline {
    FreezeBaseline {
        points,
        reason: text("Before the huddles began."),
    }
}

fn frozen(points: u32) -> NicEvent {
    NicEvent::BaselineFrozen(BaselineFrozen {
        points,
        reason: text("Before the huddles began."),
    })
}

#[test]
fn a_baseline_is_frozen_within_its_bounds() {
    for points in [BASELINE_POINTS_MIN, 12, BASELINE_POINTS_MAX] {
        then_events(
            freeze_baseline(&the_measure(), freeze(points)),
            vec![frozen(points)],
        );
    }
    for points in [0, BASELINE_POINTS_MIN - 1, BASELINE_POINTS_MAX + 1] {
        then_invalid(freeze_baseline(&the_measure(), freeze(points)), &["points"]);
    }
}

#[test]
fn a_baseline_is_refrozen_on_another_count_only() {
    then_transition(freeze_baseline(&the_measure_and([frozen(8)]), freeze(8)));
    then_events(
        freeze_baseline(&the_measure_and([frozen(8)]), freeze(10)),
        vec![frozen(10)],
    );
}

fn phase(from: &str) -> StartPhase {
    StartPhase {
        from_period: from.parse().unwrap(),
        label: title("Huddles in every program"),
        reason: text("Spread to all programs."),
    }
}

fn phase_started(from: &str) -> NicEvent {
    NicEvent::PhaseStarted(PhaseStarted {
        from_period: from.parse().unwrap(),
        label: title("Huddles in every program"),
        reason: text("Spread to all programs."),
    })
}

#[test]
fn a_phase_starts_at_a_period_of_the_measures_kind_once() {
    then_events(
        start_phase(&the_measure(), phase("2025-09")),
        vec![phase_started("2025-09")],
    );
    then_invalid(
        start_phase(&the_measure(), phase("2025-W36")),
        &["from_period"],
    );
    then_transition(start_phase(
        &the_measure_and([phase_started("2025-09")]),
        phase("2025-09"),
    ));
    then_events(
        start_phase(
            &the_measure_and([phase_started("2025-09")]),
            phase("2026-01"),
        ),
        vec![phase_started("2026-01")],
    );
}

// ---------------------------------------------------------------------------------------------
// Not found
// ---------------------------------------------------------------------------------------------

#[test]
fn commands_on_a_measure_not_defined_are_not_found() {
    let none = measure_state(MEASURE, &[]);
    let nf = |d| then_not_found(d, "measure", MEASURE);
    nf(record_point(
        &none,
        Some(&the_program()),
        POINT,
        ratio(PROGRAM, "2025-03", 1.0, 2.0),
    ));
    nf(correct_point(&none, POINT, correction(1.0, 2.0, "x")));
    nf(exclude_point(
        &none,
        POINT,
        ExcludeDataPoint { reason: text("x") },
    ));
    nf(freeze_baseline(&none, freeze(6)));
    nf(start_phase(&none, phase("2025-09")));
}

#[test]
fn commands_on_a_point_not_recorded_are_not_found() {
    then_not_found(
        correct_point(&the_measure(), NOBODY, correction(1.0, 2.0, "x")),
        "data point",
        NOBODY,
    );
    then_not_found(
        exclude_point(
            &the_measure(),
            NOBODY,
            ExcludeDataPoint { reason: text("x") },
        ),
        "data point",
        NOBODY,
    );
}

// ---------------------------------------------------------------------------------------------
// Control chart
// ---------------------------------------------------------------------------------------------

fn choose(chart: ControlChartKind) -> ChooseControlChart {
    ChooseControlChart {
        chart,
        reason: text("Hundreds of students a month: P limits are too tight."),
    }
}

#[test]
fn a_control_chart_is_chosen_that_reads_the_measure_s_scale() {
    // The measure is a ratio: P, P′, U, U′ and I read it; C reads counts only.
    for chart in [
        ControlChartKind::P,
        ControlChartKind::PPrime,
        ControlChartKind::U,
        ControlChartKind::UPrime,
        ControlChartKind::I,
    ] {
        then_events(
            choose_control_chart(&the_measure(), choose(chart)),
            vec![NicEvent::ControlChartChosen(ControlChartChosen {
                chart,
                reason: text("Hundreds of students a month: P limits are too tight."),
            })],
        );
    }
    then_invalid(
        choose_control_chart(&the_measure(), choose(ControlChartKind::C)),
        &["chart"],
    );
    let counts = measure_state(
        MEASURE_WEEKLY,
        &[NicEvent::MeasureDefined(value_measure_defined(
            MEASURE_WEEKLY,
            PeriodKind::Week,
        ))],
    );
    then_invalid(
        choose_control_chart(&counts, choose(ControlChartKind::PPrime)),
        &["chart"],
    );
    then_events(
        choose_control_chart(&counts, choose(ControlChartKind::C)),
        vec![NicEvent::ControlChartChosen(ControlChartChosen {
            chart: ControlChartKind::C,
            reason: text("Hundreds of students a month: P limits are too tight."),
        })],
    );
    // Choosing the chart already chosen is refused; another one is not.
    let chosen = the_measure_and([NicEvent::ControlChartChosen(ControlChartChosen {
        chart: ControlChartKind::PPrime,
        reason: text(""),
    })]);
    then_transition(choose_control_chart(
        &chosen,
        choose(ControlChartKind::PPrime),
    ));
    assert!(choose_control_chart(&chosen, choose(ControlChartKind::P)).is_ok());
    then_not_found(
        choose_control_chart(&measure_state(MEASURE, &[]), choose(ControlChartKind::P)),
        "measure",
        MEASURE,
    );
}
