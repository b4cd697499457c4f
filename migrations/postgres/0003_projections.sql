-- Beside the log: the projections' checkpoints and the lease that names their one runner.
--
-- A checkpoint row holds one projection's whole state (JSON text) and the global position it has
-- applied up to, so state and position are always written in the same transaction. `generation`
-- changes only when the projections are rebuilt from position 0 (`nic-ledger rebuild`, or
-- POST /api/v1/projections/rebuild): a saver that holds an older generation writes nothing.
CREATE TABLE projection_checkpoints (
    name       text        PRIMARY KEY,
    generation bigint      NOT NULL CHECK (generation >= 0),
    position   bigint      NOT NULL CHECK (position >= 0),
    state      text        NOT NULL,
    saved_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per lease: who holds it (a process identity) until when. Taken or renewed by one
-- conditional upsert: free, expired, or already the caller's.
CREATE TABLE projection_leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
