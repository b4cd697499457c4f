//! Every limit and timing of the application layer, each with its unit in its name; the store's
//! and the contract's are in `nic_store` and `nic_events::limits`.

use nic_events::limits::{APPEND_EVENTS_MAX, READ_PAGE_EVENTS_MAX};

/// How long a command without `If-Match` keeps being decided again after losing races for its
/// stream to other writers; past it the answer is 503 (busy, retry), never a version conflict.
pub const WRITE_RETRY_MS_MAX: u64 = 10_000;
/// The longest pause between two attempts: each waits a random time up to twice the previous
/// bound (from 1 ms), so writers that lost together do not collide again.
pub const WRITE_RETRY_PAUSE_MS_MAX: u64 = 50;
/// Streams whose folded state the process keeps for its commands (`command::States`), and
/// events folded into them in all: a measure of 20,000 points is one stream of 20,000 events.
/// Past either, the least recently used stream goes first.
pub const DECIDED_STREAMS_MAX: usize = 4_096;
pub const DECIDED_EVENTS_MAX: u64 = 500_000;
/// Events of one command that a retry with the same idempotency key finds again.
pub const IDEMPOTENT_EVENTS_MAX: usize = 64;
/// Events a read of the log returns when the client names no limit.
pub const PAGE_EVENTS_DEFAULT: usize = 100;
/// Events the read models may trail the log by while the service still reports ready.
pub const READY_LAG_EVENTS_MAX: u64 = 1_000;
/// Reads folding the log from the store (`as_of`, diffs) that run at once; more wait their turn,
/// so history reads cannot crowd out the database.
pub const AS_OF_FOLDS_MAX: usize = 2;
/// How long a live read waits for the read models to reach the head of the log as the read found
/// it; after that it answers with what they hold (its `position` says as of when).
pub const LIVE_READ_WAIT_MS: u64 = 2_000;
/// Events the follower applies under one hold of the write lock: readers wait at most that long
/// while a large backlog (the catch-up at start) is applied.
pub const APPLY_CHUNK_EVENTS: usize = 100;
/// How long the follower waits before reading again after the store failed.
pub const FOLLOW_RETRY_MS: u64 = 1_000;
/// How long the read models' lease lasts unless renewed: a stopped runner is replaced this long
/// after its last renewal. Renewed every third of it.
pub const LEASE_TTL_MS: u64 = 3_000;
/// The runner saves the checkpoints after an applied batch once this long has passed since the
/// last save…
pub const CHECKPOINT_EVERY_MS: u64 = 1_000;
/// …or once this many events have been applied since. Each save writes every state whole, so
/// while catching up on a long log saves are bounded by time, not by a small count (which would
/// make the catch-up quadratic in the log's length).
pub const CHECKPOINT_EVERY_EVENTS: u64 = 100_000;
/// Whatever the states' size, saving them takes at most about 1/this of the runner's time: after a
/// save that took `d` (serialising and writing), the next waits at least `d` times this.
pub const CHECKPOINT_COST_FACTOR: u32 = 100;

const _: () = assert!(IDEMPOTENT_EVENTS_MAX <= APPEND_EVENTS_MAX);
const _: () = assert!(WRITE_RETRY_PAUSE_MS_MAX < WRITE_RETRY_MS_MAX);
const _: () = assert!(PAGE_EVENTS_DEFAULT <= READ_PAGE_EVENTS_MAX);
// The runner saves within each lease it holds.
const _: () = assert!(CHECKPOINT_EVERY_MS < LEASE_TTL_MS);
/// How often the runner of the read models erases the free text of withdrawn programs past their
/// network's retention period (`App::retain`), in milliseconds.
pub const RETENTION_EVERY_MS: u64 = 3_600_000;
