-- 0011: least privilege. Migrations run as the schema's owner; fleetd serve
-- runs as a runtime role that the owner grants (track.GrantRuntime, run by
-- fleetd migrate --runtime-role and by the private database on every
-- start): DML on the working tables, only INSERT and SELECT on the
-- evidence (audit_log, positions, raw_frames, seals, seal_parts), and
-- nothing that owns a table, so it cannot ALTER, disable or drop a
-- trigger, or TRUNCATE.
--
-- The one piece of DDL the runtime needs is a new month's partition when
-- the first row of a month arrives. ensure_month_partition becomes
-- SECURITY DEFINER (it runs as its owner) so the runtime role need not
-- own the tables; it makes partitions of the three partitioned tables
-- only, and its search_path is fixed so that a caller cannot slip its own
-- objects in front of the ones it uses.
CREATE OR REPLACE FUNCTION ensure_month_partition(parent regclass, t timestamptz) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    lo   timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    nsp  text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent);
    name text := base || '_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY"m"MM');
BEGIN
    IF base IS NULL OR base NOT IN ('positions', 'raw_frames', 'position_footprints')
        OR (SELECT relkind FROM pg_class WHERE oid = parent) <> 'p'
        OR NOT pg_has_role((SELECT relowner FROM pg_class WHERE oid = parent), 'USAGE') THEN
        RAISE EXCEPTION 'ensure_month_partition: % is not a partitioned evidence table of this schema', parent
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF to_regclass(format('%I.%I', nsp, name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('fleetmon.partition.' || nsp || '.' || name));
    -- The lock does not refresh this session's catalog cache, so a table made
    -- by whoever held it just before may still look missing: IF NOT EXISTS
    -- checks the catalog itself.
    BEGIN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                       nsp, name, nsp, base, lo, hi);
    EXCEPTION WHEN duplicate_table THEN
        NULL;
    END;
    RETURN name;
END $$;
REVOKE EXECUTE ON FUNCTION ensure_month_partition(regclass, timestamptz) FROM PUBLIC;
