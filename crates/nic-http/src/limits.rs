//! Every limit and timing of the HTTP edge, each with its unit in its name; the application's are
//! in `nic_app::limits`, the store's and the contract's below it.

/// Connections open at once; one more is answered 503 and closed.
pub const CONNECTIONS_MAX: usize = 1_024;
/// Connections open at once from one client address (a trusted proxy's are not counted): no one
/// client takes every connection.
pub const CONNECTIONS_PER_ADDRESS_MAX: usize = 128;
/// Seconds a client has to send a request's headers, counted from when the connection is ready
/// for it: a connection idle this long between requests is closed too.
pub const HEADER_READ_SECS: u64 = 15;
/// Seconds a request's body may pause between two of its pieces; then 408.
pub const BODY_IDLE_SECS: u64 = 15;
/// Milliseconds the server waits before accepting again after accepting failed.
pub const ACCEPT_RETRY_MS: u64 = 100;
/// Bytes of a request body.
pub const REQUEST_BODY_BYTES_MAX: usize = 256 * 1024;
/// Bytes of an `Idempotency-Key`.
pub const IDEMPOTENCY_KEY_BYTES_MAX: usize = 200;
/// Bytes of a client's `X-Request-Id` that are kept; a longer or non-printable one is replaced.
pub const REQUEST_ID_BYTES_MAX: usize = 128;
/// Events buffered between a live client's subscription and its connection.
pub const LIVE_BUFFER_EVENTS: usize = 256;
/// How long a live client's buffer may stay full before it is disconnected as too slow.
pub const LIVE_STALL_MS: u64 = 5_000;
/// Live streams open at once; more are refused (503) until one ends.
pub const LIVE_CLIENTS_MAX: usize = 64;
/// Of `LIVE_CLIENTS_MAX`, the streams only admins may open: the hub can always follow.
pub const LIVE_CLIENTS_ADMIN_RESERVED: usize = 8;
/// Live streams one token may hold open at once; more are refused (429).
pub const LIVE_CLIENTS_PER_TOKEN_MAX: usize = 8;
/// Live streams one client address may hold open at once; more are refused (429).
pub const LIVE_CLIENTS_PER_ADDRESS_MAX: usize = 16;
/// Seconds a live stream lasts at most; the client then resumes with `Last-Event-ID`.
pub const LIVE_STREAM_SECS_MAX: u64 = 30 * 60;
/// How often a live stream checks that its token is still live: a revoked token's streams end
/// within this long.
pub const LIVE_TOKEN_RECHECK_MS: u64 = 2_000;
/// Seconds a client told to come back later (429, 503) is asked to wait: `Retry-After`.
pub const RETRY_AFTER_SECS: &str = "5";
/// Seconds between keep-alive comments on an idle live stream.
pub const LIVE_KEEPALIVE_SECS: u64 = 15;

// A command's body holds at least one event's data.
const _: () = assert!(REQUEST_BODY_BYTES_MAX <= nic_events::limits::EVENT_DATA_BYTES_MAX);
const _: () = assert!(CONNECTIONS_PER_ADDRESS_MAX < CONNECTIONS_MAX);
// No token nor address can take every stream, and admins keep room of their own.
const _: () = assert!(LIVE_CLIENTS_PER_TOKEN_MAX <= LIVE_CLIENTS_PER_ADDRESS_MAX);
const _: () =
    assert!(LIVE_CLIENTS_PER_ADDRESS_MAX < LIVE_CLIENTS_MAX - LIVE_CLIENTS_ADMIN_RESERVED);
// A stalled client is let go well before its keep-alives would stop.
const _: () = assert!(LIVE_STALL_MS < LIVE_KEEPALIVE_SECS * 1_000);
