//! Pure computations that turn what the ledger records into what a team reads: for now, the
//! run-chart analysis of one measure's series (`run_chart`: the median, runs, crossings and the
//! signals of the IHI and Anhøj rule sets, each naming the points that triggered it).
//!
//! This crate does no I/O and reads no clock: every function is a function of its arguments, so
//! the same series always gives the same analysis.

pub mod run_chart;
