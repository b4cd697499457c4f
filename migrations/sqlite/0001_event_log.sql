-- The append-only event log. SQLite has one writer at a time, so positions follow commits and
-- readers cannot skip an event.

CREATE TABLE events (
    global_position INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    category        TEXT    NOT NULL,
    stream_version  INTEGER NOT NULL CHECK (stream_version >= 0),
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL CHECK (schema_version >= 1),
    data            TEXT    NOT NULL CHECK (json_valid(data)),
    metadata        TEXT    NOT NULL CHECK (json_valid(metadata)),
    -- microseconds since the Unix epoch, UTC
    recorded_at     INTEGER NOT NULL,
    hash            TEXT    NOT NULL,
    UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_category_position ON events (category, global_position);
CREATE INDEX events_type_position ON events (event_type, global_position);
CREATE INDEX events_recorded_at ON events (recorded_at);

-- Immutability, enforced by the database whoever asks.
CREATE TRIGGER events_refuse_update BEFORE UPDATE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: UPDATE on events is refused');
END;

CREATE TRIGGER events_refuse_delete BEFORE DELETE ON events
BEGIN
    SELECT RAISE(ABORT, 'the event log is append-only: DELETE on events is refused');
END;
