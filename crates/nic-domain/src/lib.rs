//! The rules of a Networked Improvement Community, pure: no I/O, no clock, no random ids. Each
//! command is a function from the current state of the entity it addresses (and of the entities it
//! names) to the events it produces, or to a typed refusal (`DomainError`). Each state is folded
//! from its stream's events by `apply`.
//!
//! One module per kind of stream: `network` (charter, aim, ecosystems, driver diagram, standards,
//! root causes), `program` (enrolment, self-assessments), `measure` (definitions, data points,
//! run-chart settings), `cycle` (PDSA cycles and ramps), `synthesis` (network learning), `token`
//! (access tokens). New entities' ids are passed in by the caller. The rules' limits are in
//! `limits`.

pub mod cycle;
pub mod error;
pub mod limits;
pub mod measure;
pub mod network;
pub mod program;
pub mod synthesis;
pub mod token;

pub use error::{Decision, DomainError, FieldError};

/// Folds events into a state: `fold(NetworkState::new(id), &events, NetworkState::apply)`.
pub fn fold<S>(
    mut state: S,
    events: &[nic_events::NicEvent],
    apply: fn(&mut S, &nic_events::NicEvent),
) -> S {
    for e in events {
        apply(&mut state, e);
    }
    state
}
