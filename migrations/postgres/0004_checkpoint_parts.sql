-- Checkpoint states in parts, written outside the transaction that makes them current.
--
-- 0003 kept each projection's whole state in its checkpoint row, and a save wrote every state in
-- one transaction: tens of megabytes for a network's years of cycles. While such a transaction
-- was open it held back every snapshot's xmin, so live readers could not prove their frontier
-- (0002) and waited for it to end. Now a save writes each state in parts of at most
-- `nic_store::admin::CHECKPOINT_PART_BYTES`, each part in a short transaction of its own, under a
-- save id of its own; then one small transaction, fenced by the lease, the generation and the
-- position as before, points the checkpoint rows at those parts. A reader joins a row to its parts
-- in one statement, so it sees either the old state or the new one whole. Parts older (by
-- generation, then position) than their projection's checkpoint are deleted after each switch;
-- parts of a save that never switched are deleted once the checkpoint passes their position.
CREATE TABLE projection_checkpoint_parts (
    save_id    text    NOT NULL,
    name       text    NOT NULL,
    part       integer NOT NULL CHECK (part >= 0),
    generation bigint  NOT NULL CHECK (generation >= 0),
    position   bigint  NOT NULL CHECK (position >= 0),
    body       text    NOT NULL,
    PRIMARY KEY (save_id, name, part)
);
CREATE INDEX projection_checkpoint_parts_by_age
    ON projection_checkpoint_parts (name, generation, position);

-- Each existing state becomes its checkpoint's one part.
ALTER TABLE projection_checkpoints ADD COLUMN save_id text NOT NULL DEFAULT '0003';
ALTER TABLE projection_checkpoints ADD COLUMN parts integer NOT NULL DEFAULT 1 CHECK (parts >= 1);
INSERT INTO projection_checkpoint_parts (save_id, name, part, generation, position, body)
    SELECT save_id, name, 0, generation, position, state FROM projection_checkpoints;
ALTER TABLE projection_checkpoints ALTER COLUMN save_id DROP DEFAULT;
ALTER TABLE projection_checkpoints ALTER COLUMN parts DROP DEFAULT;
ALTER TABLE projection_checkpoints DROP COLUMN state;
