-- Readers wait only for this store's own appends, never for another application's transaction.
--
-- 0002 proved an observation (last position L, next transaction id N) once a later snapshot's xmin
-- reached N. xmin is cluster-wide: one idle transaction in any database of the cluster held every
-- reader back for as long as it stayed open.
--
-- Now, while xmin lags, a reader first asks nic_appenders() which transactions may be appending
-- here, then runs its statement: the statement's snapshot proves an observation made before that
-- call once none of those transactions below N is still running in it. Why that is enough: a
-- writer of a position at or below L took its RowExclusiveLock on events and its transaction id,
-- then its position, all before the observation. When the locks are read (after the observation)
-- it either holds the lock, and its backend shows its transaction id when the activity is read
-- just after, fresh (pg_stat_clear_snapshot), unless it ended in between; or it has already ended.
-- A transaction that ended before the statement's snapshot is seen ended by it. Transactions of
-- other databases, and ones that hold no lock on events, are never waited for. A prepared
-- transaction of this database is counted as an appender: it has no backend to ask.
--
-- The result is a list of full (epoch-extended) transaction ids: each one runs at or after the
-- xmin of the function's first snapshot, less than 2^31 before the next id.

CREATE FUNCTION nic_appenders() RETURNS bigint[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_database oid := (SELECT oid FROM pg_database WHERE datname = current_database());
    v_reference bigint := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
    v_writers integer[];
    v_xids bigint[];
BEGIN
    SELECT coalesce(array_agg(l.pid), '{}') INTO v_writers FROM pg_locks l
        WHERE l.locktype = 'relation' AND l.database = v_database
          AND l.relation = 'events'::regclass AND l.mode = 'RowExclusiveLock'
          AND l.pid IS NOT NULL;
    PERFORM pg_stat_clear_snapshot();
    SELECT coalesce(array_agg(DISTINCT v_reference
               + ((t.xid::text::bigint - v_reference) % 4294967296 + 4294967296) % 4294967296),
               '{}')
        INTO v_xids
        FROM (SELECT a.backend_xid AS xid FROM pg_stat_activity a
                  WHERE a.pid = ANY (v_writers) AND a.backend_xid IS NOT NULL
              UNION ALL
              SELECT p.transaction FROM pg_prepared_xacts p
                  WHERE p.database = current_database()) t;
    RETURN v_xids;
END
$$;
