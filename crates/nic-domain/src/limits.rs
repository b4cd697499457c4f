//! Every limit of the rules in one place, each with its unit in its name. The limits of the event
//! contract (text lengths, list sizes) are `nic_events::limits`; a rating's scale (`program`) is
//! part of the contract too, not a limit. The relations between limits are checked when the
//! crate compiles.

/// Days a single cycle may be planned to run: PDSA cycles are small, fast tests.
pub const CYCLE_DAYS_MAX: i64 = 366;
/// Points a frozen baseline spans at least.
pub const BASELINE_POINTS_MIN: u32 = 6;
/// Points a frozen baseline spans at most.
pub const BASELINE_POINTS_MAX: u32 = 100;

/// Days after a period ends that a network may give its programs to report it.
pub const REPORTING_DEADLINE_DAYS_MIN: u32 = 1;
pub const REPORTING_DEADLINE_DAYS_MAX: u32 = 366;

/// Days after a program withdraws that a network may keep its personal text: at least one, at
/// most a hundred years.
pub const RETENTION_DAYS_MIN: u32 = 1;
pub const RETENTION_DAYS_MAX: u32 = 36_500;

/// The largest size of an amount (a numerator, denominator, value, baseline or target): far above
/// any count or rate a network measures, far below where sums of many of them lose precision or
/// overflow to infinity.
pub const AMOUNT_ABS_MAX: f64 = 1e12;

const _: () = assert!(BASELINE_POINTS_MIN <= BASELINE_POINTS_MAX);
const _: () = assert!(REPORTING_DEADLINE_DAYS_MIN <= REPORTING_DEADLINE_DAYS_MAX);
const _: () = assert!(RETENTION_DAYS_MIN <= RETENTION_DAYS_MAX);
