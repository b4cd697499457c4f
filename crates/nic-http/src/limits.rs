//! Every limit and timing of the HTTP edge, each with its unit in its name; the application's are
//! in `nic_app::limits`, the store's and the contract's below it.

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
/// Clients following the log at once; more are refused (503) until one leaves.
pub const LIVE_CLIENTS_MAX: usize = 64;
/// How often a live stream checks that its token is still live: a revoked token's streams end
/// within this long.
pub const LIVE_TOKEN_RECHECK_MS: u64 = 2_000;
/// Seconds between keep-alive comments on an idle live stream.
pub const LIVE_KEEPALIVE_SECS: u64 = 15;

// A command's body holds at least one event's data.
const _: () = assert!(REQUEST_BODY_BYTES_MAX <= nic_events::limits::EVENT_DATA_BYTES_MAX);
// A stalled client is let go well before its keep-alives would stop.
const _: () = assert!(LIVE_STALL_MS < LIVE_KEEPALIVE_SECS * 1_000);
