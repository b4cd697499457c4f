-- Appends without a global lock; readers find their safe frontier from the position sequence.
--
-- 0001 made positions follow transaction ids by taking every transaction id and its positions under
-- one global advisory lock. Under many concurrent writers that lock made a convoy. Now:
--
-- * Every writer takes its transaction id BEFORE it takes any position (nextval). Writers do not
--   wait for each other, so positions and transaction ids may interleave: a later position may
--   belong to an older transaction and the other way round.
-- * A reader proves a frontier in two steps (nic_store::postgres): it observes the last position
--   handed out (L) and then the next transaction id to be assigned (N), via nic_read_frontier().
--   Every position up to L was taken by a transaction whose id is below N (its id came first). Once
--   a later snapshot has xmin >= N, every one of those transactions has ended, and that snapshot
--   sees every event at or below L that will ever exist. Readers read up to the highest position
--   proved this way, never past it, so they never skip an event that commits later.
--
-- The sequence must hand out values in real-time order across sessions: keep CACHE 1 (the default).
--
-- Upgrading from 0001: apply this with the writers of the old version stopped (their appends take
-- positions before their transaction id), and upgrade readers and writers together.

ALTER TABLE events ALTER COLUMN global_position SET CACHE 1;

-- The last position handed out, then the next transaction id to be assigned, in that order. Call it
-- in a transaction that has no transaction id yet (a plain read): age() reads the next transaction
-- id once per transaction, here after the sequence.
CREATE FUNCTION nic_read_frontier(OUT last_position bigint, OUT next_xid bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_reference bigint;
BEGIN
    last_position := coalesce(pg_sequence_last_value('events_global_position_seq'), 0);
    -- Any normal transaction id at most 2^31 behind the next one serves as the reference.
    v_reference := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    next_xid := v_reference + age((v_reference % 4294967296)::text::xid);
END
$$;

-- nic_append keeps its signature and results (see 0001), without the global lock: it takes its
-- transaction id before the INSERT takes the positions. It still holds the per-stream advisory lock;
-- nic_store appends (one INSERT guarded by the stream's head hash) do not take it, and the unique
-- (stream_id, stream_version) constraint decides between the two.
CREATE OR REPLACE FUNCTION nic_append(
    p_stream_id text,
    p_category text,
    p_expected_kind text,
    p_expected_version bigint,
    p_event_ids uuid[],
    p_event_types text[],
    p_schema_versions integer[],
    p_data text[],
    p_metadata text[],
    p_recorded_at_micros bigint
) RETURNS TABLE (outcome text, current_version bigint, first_position bigint, last_position bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := cardinality(p_event_ids);
    v_current bigint;
    v_hash text;
    v_hashes text[] := '{}';
    v_known integer;
    v_elsewhere integer;
    v_recorded_at timestamptz := timestamptz 'epoch' + p_recorded_at_micros * interval '1 microsecond';
BEGIN
    PERFORM pg_advisory_xact_lock(1852400001, hashtext(p_stream_id));

    SELECT count(*), count(*) FILTER (WHERE e.stream_id <> p_stream_id), max(e.stream_version),
        min(e.global_position), max(e.global_position)
        INTO v_known, v_elsewhere, current_version, first_position, last_position
        FROM events e WHERE e.event_id = ANY (p_event_ids);
    IF v_known > 0 THEN
        outcome := CASE WHEN v_known = v_count AND v_elsewhere = 0 THEN 'duplicate' ELSE 'id_conflict' END;
        RETURN NEXT;
        RETURN;
    END IF;

    SELECT e.stream_version, e.hash INTO v_current, v_hash FROM events e
        WHERE e.stream_id = p_stream_id ORDER BY e.stream_version DESC LIMIT 1;
    IF NOT (CASE p_expected_kind
        WHEN 'any' THEN true
        WHEN 'no_stream' THEN v_current IS NULL
        WHEN 'stream_exists' THEN v_current IS NOT NULL
        ELSE v_current IS NOT DISTINCT FROM p_expected_version
    END) THEN
        outcome := 'wrong_version';
        current_version := v_current;
        RETURN NEXT;
        RETURN;
    END IF;

    v_hash := coalesce(v_hash, repeat('0', 64));
    FOR i IN 1 .. v_count LOOP
        v_hash := encode(sha256(convert_to(concat_ws(E'\n',
            v_hash, p_event_ids[i]::text, p_stream_id, (coalesce(v_current, -1) + i)::text,
            p_event_types[i], p_schema_versions[i]::text, p_recorded_at_micros::text,
            p_data[i], p_metadata[i]), 'UTF8')), 'hex');
        v_hashes := v_hashes || v_hash;
    END LOOP;

    -- The transaction id first, then the positions (the identity default of the INSERT).
    PERFORM pg_current_xact_id();
    WITH inserted AS (
        INSERT INTO events (event_id, stream_id, category, stream_version, event_type,
            schema_version, data, metadata, recorded_at, hash)
        SELECT u.id, p_stream_id, p_category, coalesce(v_current, -1) + u.n, u.t, u.sv,
            u.d::json, u.m::json, v_recorded_at, u.h
        FROM unnest(p_event_ids, p_event_types, p_schema_versions, p_data, p_metadata, v_hashes)
            WITH ORDINALITY AS u(id, t, sv, d, m, h, n)
        ORDER BY u.n
        RETURNING global_position
    )
    SELECT min(global_position), max(global_position) INTO first_position, last_position
        FROM inserted;
    outcome := 'appended';
    current_version := coalesce(v_current, -1) + v_count;
    RETURN NEXT;
END
$$;
