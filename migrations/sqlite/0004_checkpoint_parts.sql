-- Checkpoint states in parts, written outside the transaction that makes them current, and only
-- the parts a save changed.
--
-- 0003 kept each projection's whole state in its checkpoint row, and a save wrote every state in
-- one transaction: tens of megabytes for a network's years of cycles, holding the write lock (and
-- every append) for as long. Now (`nic_store::admin`):
--
-- * A state is cut into parts where its content says (content-defined chunking), so a change in
--   one place changes the parts around it and no others. A part's id is the SHA-256 of its text.
-- * A save writes only the parts not stored yet, in short transactions, then one small
--   transaction, fenced by the lease, the generation and the position as before, checks that
--   every part it names is stored and points each checkpoint row at its parts (`parts`: their ids
--   in order, a JSON array). A reader joins a row to its parts in one statement, so it sees the
--   old state or the new one whole.
-- * Parts no checkpoint names are deleted once they are older than any save in progress could
--   be. Times are microseconds since the Unix epoch, UTC.
CREATE TABLE projection_checkpoint_parts (
    id         TEXT    PRIMARY KEY,
    body       TEXT    NOT NULL,
    written_at INTEGER NOT NULL
);

-- Each existing state becomes its checkpoint's one part (an id no content hash can take).
INSERT INTO projection_checkpoint_parts (id, body, written_at)
    SELECT 'v0003:' || name, state, saved_at FROM projection_checkpoints;
ALTER TABLE projection_checkpoints ADD COLUMN parts TEXT NOT NULL DEFAULT '[]';
UPDATE projection_checkpoints SET parts = '["v0003:' || name || '"]';
ALTER TABLE projection_checkpoints DROP COLUMN state;
