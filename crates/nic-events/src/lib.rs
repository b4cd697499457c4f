//! The event contract of NIC Ledger: the envelope every stored event travels in (`envelope`), the
//! hash chain that makes any later change to a stored event detectable (`chain`), and the catalog
//! of NIC events (`catalog`, with `upcast` for older schema versions, and `text` and `period` for
//! the bounded strings and the period labels they carry, parsed once). `personal` says which
//! fields hold personal data, from the schemas. `limits` holds the contract's limits.
//!
//! This crate does no I/O. The store (`nic-store`) persists envelopes; the domain decides which events
//! to write; both speak in the types defined here.

pub mod catalog;
pub mod chain;
pub mod envelope;
pub mod limits;
pub mod period;
pub mod personal;
pub mod text;
mod upcast;

pub use catalog::{CatalogError, EventInfo, NicEvent, CATALOG};
pub use chain::{chain_hash, GENESIS_HASH};
pub use envelope::{
    EventData, ExpectedVersion, Metadata, NewEvent, RecordedEvent, StreamId, StreamIdError,
};
pub use period::{Period, PeriodError, PeriodKind};
pub use personal::{personal_fields, Personal, PersonalField, ERASED_TEXT, SEALED_PREFIX};
pub use text::{Text, TextError, Title};
