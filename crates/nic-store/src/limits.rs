//! Every limit and timing of the store in one place, each with its unit in its name. The limits
//! of the contract the store enforces (an append's events and bytes, a read's page, the
//! subscribers' poll, the PostgreSQL NOTIFY) are `nic_events::limits`. The relations between
//! limits are checked when the crate compiles.

use nic_events::limits::{APPEND_EVENTS_MAX, READ_PAGE_EVENTS_MAX, SUBSCRIPTION_POLL_MS};

// ---------------------------------------------------------------------------------------------
// Connections

/// Connections in a `PgStore`'s pool.
pub const PG_POOL_CONNECTIONS_MAX: u32 = 40;
/// Reader connections of a `SqliteStore` (its writer is one more).
pub const SQLITE_READER_CONNECTIONS_MAX: u32 = 8;
/// Connections an `Admin` keeps on PostgreSQL (on SQLite it keeps one, the one writer).
pub const ADMIN_CONNECTIONS_MAX: u32 = 4;
/// Keys of sealed fields a `Sealing` store keeps in memory (all are dropped when it is full).
pub const KEYS_CACHED_MAX: usize = 200_000;
/// Sealed fields in one event at most (`keys::EventKey`): their key ids count up in the event
/// key id's low 16 bits.
pub const EVENT_KEY_FIELDS_MAX: usize = 65_535;
/// How long an erasure waits for the lock that rewriting the key table takes (PostgreSQL's
/// `VACUUM FULL`), in milliseconds; past it the table is vacuumed without the rewrite.
pub const KEYS_REWRITE_LOCK_WAIT_MS: u64 = 2_000;
/// How long a PostgreSQL pool waits for a free connection before the operation fails, in
/// milliseconds.
pub const PG_ACQUIRE_TIMEOUT_MS: u64 = 10_000;
/// A pooled connection idle for longer than this is pinged before it is used again (a server
/// restart or a dropped link shows there, not as a failed statement); one in steady use is not,
/// which would cost a round trip per statement.
pub const PG_PING_IDLE_MS: u64 = 1_000;
/// Connections a `PgStore` keeps checked out of its pool, warm, for its appends and log reads
/// (`pg_warm`).
pub const PG_WARM_CONNECTIONS_MAX: usize = 4;
/// How long a SQLite connection waits for another connection's write lock, in milliseconds.
pub const SQLITE_BUSY_TIMEOUT_MS: u64 = 5_000;
/// How long a background task whose database work failed (the PostgreSQL listener and prover)
/// waits before it tries again, in milliseconds.
pub const RETRY_AFTER_ERROR_MS: u64 = 1_000;

// ---------------------------------------------------------------------------------------------
// PostgreSQL appends and the read frontier

/// Streams whose head a `PgStore` remembers from its own appends (then it forgets them all).
pub const HEADS_CACHED_STREAMS_MAX: usize = 10_000;
/// Append statements a `PgStore` runs at once. A single-event append that finds them all running
/// waits, and goes with the others that queued meanwhile in one statement (group commit).
pub const PG_APPEND_STATEMENTS_MAX: usize = 2;
/// Single-event appends one grouped PostgreSQL statement carries at most.
pub const PG_APPEND_GROUP_MAX: usize = 64;
/// Attempts of one append whose stream head keeps moving under it (an append retries only while
/// the moved head still meets its expected version).
pub const APPEND_ATTEMPTS_MAX: usize = 100;
/// Observations a `PgStore` keeps waiting for their proof; a newer one then replaces the newest.
pub const OBSERVATIONS_PENDING_MAX: usize = 32;
/// While an observation waits for its proof, the frontier statement runs again once this long has
/// passed since the last one, in milliseconds…
pub const FRONTIER_RECHECK_MS: u64 = 2;
/// …or, once the frontier has been stuck for a while (a long transaction somewhere in the
/// cluster), an eighth of how long it has been stuck, up to this, in milliseconds.
pub const FRONTIER_RECHECK_MAX_MS: u64 = 50;

// ---------------------------------------------------------------------------------------------
// SQLite group commit

/// Appends committed together at most (one transaction, one fsync).
pub const BATCH_APPENDS_MAX: usize = 256;
/// Events committed together at most; an append is never split, and one that alone reaches this
/// is committed by itself.
pub const BATCH_EVENTS_MAX: usize = 4_096;
/// Appends waiting for the committer at most; more wait to be handed over.
pub const QUEUED_APPENDS_MAX: usize = 4 * BATCH_APPENDS_MAX;
/// While appends are committed, the WAL is checkpointed this often, off the append path, in
/// milliseconds.
pub const WAL_CHECKPOINT_EVERY_MS: u64 = 1_000;
/// Parameters one SQLite statement may bind (SQLite's own limit, `SQLITE_MAX_VARIABLE_NUMBER`).
pub const SQLITE_BIND_PARAMETERS_MAX: usize = 32_766;
/// Parameters an append binds per event on SQLite (its INSERT's columns).
const SQLITE_APPEND_PARAMETERS_PER_EVENT: usize = 10;
/// Rows per INSERT statement of an import on SQLite.
pub const SQLITE_IMPORT_INSERT_ROWS_MAX: usize = 500;
/// Parameters an import binds per event on SQLite (its INSERT's columns).
const SQLITE_IMPORT_PARAMETERS_PER_EVENT: usize = 11;

// ---------------------------------------------------------------------------------------------
// Projection checkpoints

/// The most one part of a checkpoint's state holds, in bytes (give or take a character).
pub const CHECKPOINT_PART_BYTES_MAX: usize = 256 << 10;
/// The least, but for a state's last part, in bytes.
pub const CHECKPOINT_PART_BYTES_MIN: usize = 16 << 10;
/// A part ends where the rolling hash's top this many bits are zero: one byte in 2^16, so parts
/// average about `CHECKPOINT_PART_BYTES_MIN` + 64 KiB.
pub const CHECKPOINT_PART_CUT_BITS: u32 = 16;
/// Parts are written in transactions of about this many bytes each (at least one part): short
/// enough not to keep appends (SQLite) or live readers (PostgreSQL) waiting for long.
pub const CHECKPOINT_WRITE_TRANSACTION_BYTES: usize = 1 << 20;
/// Parts no checkpoint names are kept this long after they were written, so that a save in
/// progress keeps the parts it wrote until it switches to them, in milliseconds.
pub const PART_UNNAMED_KEEP_MS: u64 = 600_000;

// ---------------------------------------------------------------------------------------------
// Reading the log

/// Events a subscription reads per page while catching up.
pub const SUBSCRIPTION_PAGE_EVENTS: usize = 1_000;
/// At the head, a subscription woken by an append reads at most once per this many milliseconds:
/// under a stream of appends each read takes several events, not one statement per event.
pub const SUBSCRIPTION_READ_GAP_MS: u64 = 4;
/// This store's own latest committed events kept in memory (PostgreSQL), for readers at the head
/// to read there rather than from the database.
pub const OWN_RECENT_EVENTS_MAX: usize = 256;
/// This store's own committed events kept waiting, at most, above a position that it cannot yet
/// say is settled (PostgreSQL): past that they are forgotten, and read from the database.
pub const OWN_AHEAD_EVENTS_MAX: usize = 1_024;
/// Bytes of event data and metadata those two keep, at most, together.
pub const OWN_KEPT_BYTES_MAX: usize = 8 << 20;
/// How long, at most, a woken reader at the head trusts that nothing but this store's own appends
/// followed the last frontier statement (no other writer announced an event since it was sent),
/// in milliseconds: past this the reader runs one again.
pub const FRONTIER_TRUST_MS: u64 = SUBSCRIPTION_POLL_MS / 2;
/// Events the chain verification reads per page.
pub const VERIFY_PAGE_EVENTS: usize = 5_000;
/// Pages `ReadAhead` reads and maps ahead of its reader, at most.
pub const READ_AHEAD_PAGES_MAX: usize = 2;

// ---------------------------------------------------------------------------------------------
// Export and import

/// Events an import writes per batch (one transaction).
pub const IMPORT_BATCH_EVENTS: usize = 1_000;
/// How long an import waits, after writing, for readers to see the last event it wrote, in
/// milliseconds.
pub const IMPORT_VISIBLE_WAIT_MS: u64 = 30_000;
/// Time between the reads of the head while an import waits to be seen, and the first pause while
/// a read of the whole log waits for readers to see every committed event, in milliseconds.
pub const HEAD_SETTLE_MS: u64 = 20;
/// The longest pause between two reads of the head while a read of the whole log waits for
/// readers to see every committed event, in milliseconds.
pub const HEAD_SETTLE_MAX_MS: u64 = 500;
/// How long a read of the whole log (export, verify, import's check, rebuild) waits for readers
/// to see every event committed when it began before it fails, in milliseconds.
pub const WHOLE_LOG_WAIT_MS: u64 = 30_000;

// ---------------------------------------------------------------------------------------------
// Relations

// A batch can hold any one append, so no append waits for a batch of its own.
const _: () = assert!(APPEND_EVENTS_MAX <= BATCH_EVENTS_MAX);
const _: () = assert!(BATCH_APPENDS_MAX <= QUEUED_APPENDS_MAX);
// Every SQLite statement binds within SQLite's limit: the INSERT of the largest append (and the
// lookup of its event ids), a read of a page of positions, an import's INSERT.
const _: () =
    assert!(APPEND_EVENTS_MAX * SQLITE_APPEND_PARAMETERS_PER_EVENT <= SQLITE_BIND_PARAMETERS_MAX);
const _: () = assert!(READ_PAGE_EVENTS_MAX <= SQLITE_BIND_PARAMETERS_MAX);
const _: () = assert!(
    SQLITE_IMPORT_INSERT_ROWS_MAX * SQLITE_IMPORT_PARAMETERS_PER_EVENT
        <= SQLITE_BIND_PARAMETERS_MAX
);
// The store's own reads ask for pages the store gives whole.
const _: () = assert!(SUBSCRIPTION_PAGE_EVENTS <= READ_PAGE_EVENTS_MAX);
const _: () = assert!(VERIFY_PAGE_EVENTS <= READ_PAGE_EVENTS_MAX);
// The prover backs off from its first delay, and even stuck it rechecks sooner than a subscriber
// polls: events held back only for their proof reach subscribers before their next poll.
const _: () = assert!(FRONTIER_RECHECK_MS < FRONTIER_RECHECK_MAX_MS);
// Reads spaced for a stream of appends still come far sooner than the poll.
const _: () = assert!(SUBSCRIPTION_READ_GAP_MS * 10 < SUBSCRIPTION_POLL_MS);
const _: () = assert!(FRONTIER_RECHECK_MAX_MS < SUBSCRIPTION_POLL_MS);
// Parts are cut by their content, on average well before the cap, and a write transaction holds
// at least one part of the largest size.
const _: () = assert!(
    CHECKPOINT_PART_BYTES_MIN + (1 << CHECKPOINT_PART_CUT_BITS) < CHECKPOINT_PART_BYTES_MAX
);
const _: () = assert!(CHECKPOINT_PART_BYTES_MAX <= CHECKPOINT_WRITE_TRANSACTION_BYTES);
// An import waiting to be seen reads the head several times before it gives up.
const _: () = assert!(HEAD_SETTLE_MS < IMPORT_VISIBLE_WAIT_MS);
const _: () = assert!(HEAD_SETTLE_MS <= HEAD_SETTLE_MAX_MS);
const _: () = assert!(HEAD_SETTLE_MAX_MS < WHOLE_LOG_WAIT_MS);
