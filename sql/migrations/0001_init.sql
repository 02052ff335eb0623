-- 0001: units, vehicles, terminals, positions (partitioned), latest state, raw frames.
-- Every name is unqualified: the schema is whatever search_path puts first, so
-- tests can give each test its own schema. PostGIS lives in the database
-- (normally in public), created by the installer or below when allowed.

CREATE TABLE units (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id  bigint REFERENCES units(id),
    name       text NOT NULL CHECK (name <> '' AND position('/' in name) = 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (parent_id, name)
);

-- Vehicle categories follow the 党政机关公务用车管理办法 classes.
CREATE TABLE vehicles (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    plate       text NOT NULL UNIQUE CHECK (plate <> ''),
    -- JT/T 808 plate colour code: 1 blue, 2 yellow, 3 black, 4 white, 5 green, 9 other, 0 none.
    plate_color smallint NOT NULL DEFAULT 0 CHECK (plate_color BETWEEN 0 AND 255),
    category    text NOT NULL DEFAULT 'general'
                CHECK (category IN ('general', 'confidential', 'emergency', 'enforcement', 'special')),
    unit_id     bigint NOT NULL REFERENCES units(id),
    sealed      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX vehicles_unit_idx ON vehicles (unit_id);

-- A terminal is identified by its phone number with leading zeros removed, so the
-- same device is the same row whether it speaks 2013 (12 BCD digits) or 2019 (20).
CREATE TABLE terminals (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    phone            text NOT NULL UNIQUE CHECK (phone ~ '^[1-9][0-9]*$' OR phone = '0'),
    vehicle_id       bigint UNIQUE REFERENCES vehicles(id),
    auth_code        text,
    protocol_version smallint CHECK (protocol_version IN (2011, 2013, 2019)),
    maker            text,
    model            text,
    terminal_ident   text,
    province         integer,
    city             integer,
    reg_plate        text,
    reg_plate_color  smallint,
    imei             text,
    software_version text,
    registered_at    timestamptz,
    authenticated_at timestamptz,
    last_seen_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- positions holds every stored location report, one row per vehicle and
-- fix: a report the terminal resends (same vehicle, device time and fix) is
-- stored once, while two different reports in the same second (JT/T 808
-- times have 1 s resolution) are both kept. fix_hash is a 64-bit hash of the
-- fix's content (see track.Position.FixHash). Partitioned by month of
-- device_time; partitions are created on demand by ensure_month_partition().
CREATE TABLE positions (
    vehicle_id    bigint NOT NULL,
    device_time   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL,
    terminal_id   bigint NOT NULL,
    geom          geometry(Point, 4326) NOT NULL,
    speed_kmh     real NOT NULL,
    heading       smallint NOT NULL,
    altitude_m    integer NOT NULL,
    alarm         bigint NOT NULL,
    status        bigint NOT NULL,
    mileage_km    double precision,
    fuel_l        real,
    rec_speed_kmh real,
    signal        smallint,
    satellites    smallint,
    items         jsonb,
    backfill      boolean NOT NULL DEFAULT false,
    frame_id      uuid,
    fix_hash      bigint NOT NULL,
    PRIMARY KEY (vehicle_id, device_time, fix_hash)
) PARTITION BY RANGE (device_time);

-- vehicle_state is the latest report per vehicle (by device time; a late
-- back-fill never moves it backwards).
CREATE TABLE vehicle_state (
    vehicle_id   bigint PRIMARY KEY REFERENCES vehicles(id),
    terminal_id  bigint NOT NULL,
    device_time  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    geom         geometry(Point, 4326) NOT NULL,
    speed_kmh    real NOT NULL,
    heading      smallint NOT NULL,
    altitude_m   integer NOT NULL,
    alarm        bigint NOT NULL,
    status       bigint NOT NULL,
    mileage_km   double precision,
    fuel_l       real,
    signal       smallint,
    satellites   smallint
);

-- raw_frames keeps every frame received, as evidence: the un-escaped bytes
-- between the 0x7e delimiters, checksum included (the wire form is
-- 7e || escape(frame) || 7e). One row per reception: a resent frame is a
-- second reception. id is assigned by the gateway so a retried write is
-- stored once. Partitioned by month of received_at; retention drops whole
-- partitions.
CREATE TABLE raw_frames (
    id          uuid NOT NULL,
    received_at timestamptz NOT NULL,
    terminal_id bigint,
    phone       text NOT NULL,
    msg_id      integer NOT NULL,
    serial      integer NOT NULL,
    frame       bytea NOT NULL,
    -- ok, checksum, malformed, unauthenticated, ...: what the gateway made of it.
    disposition text NOT NULL DEFAULT 'ok',
    PRIMARY KEY (received_at, id)
) PARTITION BY RANGE (received_at);

-- ensure_month_partition creates the partition of parent for the month
-- containing t, if it is missing. Serialised with an advisory lock so
-- several fleetd nodes can race on the same month.
CREATE FUNCTION ensure_month_partition(parent regclass, t timestamptz) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    lo   timestamptz := date_trunc('month', t AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    hi   timestamptz := lo + interval '1 month';
    base text := (SELECT relname FROM pg_class WHERE oid = parent);
    nsp  text := (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = parent);
    name text := base || '_' || to_char(lo AT TIME ZONE 'UTC', 'YYYY"m"MM');
BEGIN
    IF to_regclass(format('%I.%I', nsp, name)) IS NOT NULL THEN
        RETURN name;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('fleetmon.partition.' || nsp || '.' || name));
    -- The lock does not refresh this session's catalog cache, so a table made
    -- by whoever held it just before may still look missing: IF NOT EXISTS
    -- checks the catalog itself.
    BEGIN
        EXECUTE format('CREATE TABLE IF NOT EXISTS %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                       nsp, name, parent, lo, hi);
    EXCEPTION WHEN duplicate_table THEN
        NULL;
    END;
    RETURN name;
END $$;
