-- 0013: a vehicle's seal (封存) has a history. Until now it was a flag
-- without a date: re-evaluating a period judged its drives by today's flag,
-- so drives from before a seal were flagged, and unsealing erased that the
-- vehicle had ever been sealed.
--
-- vehicle_seals holds every seal and unseal, each effective from a time
-- (given in the past or the future), with the reason and who recorded it.
-- A vehicle is sealed at time t when its latest entry effective at or
-- before t (by effective_at, then id) seals it; without one it is not.
-- The table is append-only, like the audit log: a mistaken entry is
-- corrected by a later one, never rewritten, and the runtime role may
-- only INSERT and SELECT (track.GrantRuntime).
CREATE TABLE vehicle_seals (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id   bigint NOT NULL REFERENCES vehicles(id),
    sealed       boolean NOT NULL,
    effective_at timestamptz NOT NULL,
    reason       text NOT NULL DEFAULT '',
    -- The user who recorded it (NULL: the console, an import or this
    -- migration); actor_name names it either way.
    actor_id     bigint,
    actor_name   text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicle_seals_vehicle_idx ON vehicle_seals (vehicle_id, effective_at, id);

CREATE FUNCTION vehicle_seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'vehicle_seals is append-only: record a later seal or unseal instead'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER vehicle_seals_no_change BEFORE UPDATE OR DELETE ON vehicle_seals
    FOR EACH ROW EXECUTE FUNCTION vehicle_seals_append_only();
CREATE TRIGGER vehicle_seals_no_truncate BEFORE TRUNCATE ON vehicle_seals
    FOR EACH STATEMENT EXECUTE FUNCTION vehicle_seals_append_only();

-- vehicle_sealed_at says whether vehicle vid is sealed at t.
CREATE FUNCTION vehicle_sealed_at(vid bigint, t timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT COALESCE((SELECT s.sealed FROM vehicle_seals s
                     WHERE s.vehicle_id = vid AND s.effective_at <= t
                     ORDER BY s.effective_at DESC, s.id DESC LIMIT 1), false)
$$;

-- Today's flags become history. The audit log says when each seal and
-- unseal made through the API happened, and by whom: those become entries
-- at their times, so that what the live engine judged since stays as it
-- was judged.
INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, reason, actor_id, actor_name, recorded_at)
SELECT a.vehicle_id, a.action = 'vehicle.seal', a.at, '', a.actor_id, a.actor_name, a.at
FROM audit_log a JOIN vehicles v ON v.id = a.vehicle_id
WHERE a.action IN ('vehicle.seal', 'vehicle.unseal')
ORDER BY a.id;

-- A flag the audit log does not explain (set by an import or directly in
-- the database) has no known time. A vehicle sealed without any entry was
-- judged sealed at every time, by the live engine and by re-evaluation
-- alike: it stays so, from a time before any report. Otherwise the flag
-- holds from the vehicle's last change.
INSERT INTO vehicle_seals (vehicle_id, sealed, effective_at, reason, actor_name)
SELECT v.id, v.sealed,
       CASE WHEN NOT EXISTS (SELECT 1 FROM vehicle_seals s WHERE s.vehicle_id = v.id)
            THEN timestamptz '2000-01-01 00:00:00+08'
            ELSE GREATEST(v.updated_at, (SELECT max(s.effective_at) FROM vehicle_seals s WHERE s.vehicle_id = v.id))
       END,
       '迁移：原封存标记，时间不详', '(migration)'
FROM vehicles v
WHERE v.sealed <> vehicle_sealed_at(v.id, now());

ALTER TABLE vehicles DROP COLUMN sealed;
