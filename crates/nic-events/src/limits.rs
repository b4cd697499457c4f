//! Every limit of the event contract in one place, each with its unit in its name: what an
//! append, a read, an event and the text in it may hold, and how readers are woken. The other
//! crates keep their own in their `limits` modules. The relations between limits are checked
//! when the crate compiles.

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
/// Bytes of a stream id.
pub const STREAM_ID_BYTES_MAX: usize = 200;
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
/// Keys one erasure or redaction event may list as destroyed: an erasure of a busy person's data
/// destroys one key per field they wrote, so far more than a list of items.
pub const ERASURE_KEYS_PER_EVENT_MAX: usize = 5_000;

// A NOTIFY sent at most once per coalescing interval still wakes subscribers sooner than their
// poll would.
const _: () = assert!(NOTIFY_COALESCE_MS < SUBSCRIPTION_POLL_MS);
// A title is a short text.
const _: () = assert!(TITLE_CHARS_MAX <= TEXT_CHARS_MAX);
// An event's data holds the longest text, whatever its characters (at most 4 bytes each in UTF-8,
// 6 escaped in JSON).
const _: () = assert!(6 * TEXT_CHARS_MAX < EVENT_DATA_BYTES_MAX);
// An event's data holds the longest list of keys, each a quoted UUID and a comma (39 bytes), with
// room to spare for the rest of the event.
const _: () = assert!(39 * ERASURE_KEYS_PER_EVENT_MAX + 6 * TEXT_CHARS_MAX < EVENT_DATA_BYTES_MAX);

/// The highest global position or stream version a reader may name: both are stored as signed
/// 64-bit integers, so anything above is no position at all.
pub const POSITION_MAX: u64 = i64::MAX as u64;
