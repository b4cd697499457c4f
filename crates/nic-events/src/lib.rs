//! The event contract of NIC Ledger: the envelope every stored event travels in (`envelope`) and the
//! hash chain that makes any later change to a stored event detectable (`chain`).
//!
//! This crate does no I/O. The store (`nic-store`) persists envelopes; the domain decides which events
//! to write; both speak in the types defined here.

pub mod chain;
pub mod envelope;
pub mod limits;

pub use chain::{chain_hash, GENESIS_HASH};
pub use envelope::{
    EventData, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId, StreamIdError,
};
