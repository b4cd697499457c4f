//! Every limit of NIC Ledger in one place, each with its unit in its name.

/// Events one append may carry.
pub const APPEND_EVENTS_MAX: usize = 1_000;
/// Events one read of a stream or of the global log may return.
pub const READ_PAGE_EVENTS_MAX: usize = 10_000;
/// Bytes of one event's data JSON.
pub const EVENT_DATA_BYTES_MAX: usize = 256 * 1024;
/// Bytes of one event's metadata JSON.
pub const EVENT_METADATA_BYTES_MAX: usize = 8 * 1024;
/// Bytes of an event type name.
pub const EVENT_TYPE_BYTES_MAX: usize = 100;
/// How long a subscriber waits for a wake-up before it polls the store anyway, in milliseconds.
pub const SUBSCRIPTION_POLL_MS: u64 = 250;
/// The PostgreSQL backend announces an append with a NOTIFY at once, then sends at most one more per
/// this many milliseconds, for all the appends meanwhile.
pub const NOTIFY_COALESCE_MS: u64 = 10;
/// Characters of a title or name (one line).
pub const TITLE_CHARS_MAX: usize = 200;
/// Characters of free text (a definition, a reason, an observation).
pub const TEXT_CHARS_MAX: usize = 10_000;
/// Items of any list inside a command or event (questions, tasks, ids, evidence, observations).
pub const LIST_ITEMS_MAX: usize = 100;
