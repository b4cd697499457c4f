-- The keys of sealed personal fields, beside the log and never in it (`nic_store::sealing`).
--
-- Each personal field of an event is stored sealed under a key of its own, written in the same
-- statement as its event. Destroying a key (an erasure) leaves the event and its hash intact and
-- its text unreadable. A redaction destroys the key and points its row at the sealed text that
-- reads in its place (`replacement`). `author` (the actor that wrote it) and `program_id` (the
-- program the text is about, when the event names one) find a subject's keys. No index but the
-- key id's: every append writes its keys, an erasure (rare) reads the table through.
CREATE TABLE personal_keys (
    key_id      UUID        PRIMARY KEY,
    key         BYTEA       CHECK (key IS NULL OR octet_length(key) = 32),
    replacement TEXT,
    event_id    UUID        NOT NULL,
    stream_id   TEXT        NOT NULL,
    field       TEXT        NOT NULL,
    class       TEXT        NOT NULL,
    author      TEXT,
    program_id  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    CHECK (key IS NOT NULL OR replacement IS NOT NULL)
);
