//! Every limit of the read models in one place, each with its unit in its name. The relations
//! between limits are checked when the crate compiles. (The run-chart rules' own numbers, such as
//! six points for a shift, are the published rules, not limits: they stay in `run_chart`.)

use nic_events::limits::TEXT_CHARS_MAX;

/// Characters of free text (a reason, a statement) quoted in a timeline sentence.
pub const QUOTE_CHARS_MAX: usize = 280;
/// Entries a timeline page holds at most, whatever the query asks.
pub const PAGE_ENTRIES_MAX: usize = 500;
/// Entries a timeline page holds when the query does not say.
pub const PAGE_ENTRIES_DEFAULT: usize = 100;
/// The run-chart rules' limits (runs, crossings) for every series of fewer useful points than
/// this are computed once and kept: the analysis after every data point asks them each time.
pub const RULE_LIMITS_KEPT_POINTS: usize = 256;

/// Cycles a page of the PDSA register holds at most, and when the query does not say.
pub const REGISTER_ROWS_MAX: usize = 500;
pub const REGISTER_ROWS_DEFAULT: usize = 50;
/// Cycles the register's CSV export holds at most (all of a network's, in practice).
pub const REGISTER_CSV_ROWS_MAX: usize = 20_000;

const _: () = assert!(PAGE_ENTRIES_DEFAULT <= PAGE_ENTRIES_MAX);
const _: () = assert!(REGISTER_ROWS_DEFAULT <= REGISTER_ROWS_MAX);
const _: () = assert!(REGISTER_ROWS_MAX <= REGISTER_CSV_ROWS_MAX);
// A quote is cut shorter than the longest text, or it would never be cut.
const _: () = assert!(QUOTE_CHARS_MAX < TEXT_CHARS_MAX);
