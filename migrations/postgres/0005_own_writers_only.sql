-- Readers wait only for this store's own appends, never for another application's transaction.
--
-- 0002 proved an observation (last position L, next transaction id N) once a later snapshot's xmin
-- reached N. xmin is cluster-wide: one idle transaction in any database of the cluster held every
-- reader back for as long as it stayed open. Now a snapshot proves the observation once N is at
-- most its horizon: the least transaction id that the snapshot cannot see as ended (one in its
-- running list, or one at or above its xmax) and that is not provably foreign. A transaction is
-- provably foreign when, after the snapshot, its backend is seen still running it
-- (pg_stat_activity.backend_xid) and either is connected to another database or held no
-- RowExclusiveLock on events when the locks were read just before. Why that is enough: a writer of
-- a position at or below L took its lock on events before that position, so before the
-- observation; if it still ran when the locks were read, it held the lock then; if it had ended by
-- then, no backend shows its transaction id afterwards. The locks are read first and the activity
-- after, fresh (pg_stat_clear_snapshot), so a transaction that ended in between is never taken for
-- a foreign one. Transaction ids are compared modulo 2^32, as pg_stat_activity shows them.

CREATE FUNCTION nic_read_horizon(p_xmax bigint, p_running bigint[]) RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_database oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    v_writers integer[];
    v_foreign bigint[];
    v_horizon bigint := p_xmax;
BEGIN
    SELECT coalesce(array_agg(l.pid), '{}') INTO v_writers FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.database = v_database
          AND l.relation = 'events'::regclass AND l.mode = 'RowExclusiveLock'
          AND l.pid IS NOT NULL;
    PERFORM pg_stat_clear_snapshot();
    SELECT coalesce(array_agg(a.backend_xid::text::bigint), '{}') INTO v_foreign
        FROM pg_stat_activity a
        WHERE a.backend_xid IS NOT NULL
          AND (a.datid IS DISTINCT FROM v_database OR NOT a.pid = ANY (v_writers));
    WHILE v_horizon % 4294967296 = ANY (v_foreign) LOOP
        v_horizon := v_horizon + 1;
    END LOOP;
    SELECT least(v_horizon, min(r.xid)) INTO v_horizon FROM unnest(p_running) AS r(xid)
        WHERE NOT r.xid % 4294967296 = ANY (v_foreign);
    RETURN v_horizon;
END
$$;
