-- Beside the log: the projections' checkpoints and the lease that names their one runner.
-- (0002 exists only for PostgreSQL; versions are shared between the two folders.)
--
-- A checkpoint row holds one projection's whole state (JSON text) and the global position it has
-- applied up to, so state and position are always written in the same transaction. `generation`
-- changes only when the projections are rebuilt from position 0: a saver that holds an older
-- generation writes nothing. Times are microseconds since the Unix epoch, UTC.
CREATE TABLE projection_checkpoints (
    name       TEXT    PRIMARY KEY,
    generation INTEGER NOT NULL CHECK (generation >= 0),
    position   INTEGER NOT NULL CHECK (position >= 0),
    state      TEXT    NOT NULL,
    saved_at   INTEGER NOT NULL
);

-- One row per lease: who holds it (a process identity) until when (microseconds, UTC). Taken or
-- renewed by one conditional upsert: free, expired, or already the caller's.
CREATE TABLE projection_leases (
    name       TEXT    PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
);
