-- 0004: the rules engine's configuration (holidays, work calendars, geofences,
-- rule parameters, approved trips), its alerts (episodes) and its saved state.
-- The Go types these JSON columns hold live in package alerts; fleetd reads
-- them through alerts.Store.

-- alert_holiday_years holds the national holiday calendar, one row per year
-- (the State Council's notice): spec is an alerts.HolidayYear, {"holidays":
-- [{"name": "春节", "days": ["2026-02-15", ...]}], "workdays": [...]}.
-- fleetd seeds the years it ships (2024–2026) when they are missing; an
-- imported year replaces its row and moves version on.
CREATE TABLE alert_holiday_years (
    year        integer PRIMARY KEY CHECK (year BETWEEN 2000 AND 2200),
    spec        jsonb NOT NULL,
    version     integer NOT NULL DEFAULT 1,
    -- Where it came from: 'embedded', 'import', or a file name.
    source      text NOT NULL DEFAULT 'import',
    imported_at timestamptz NOT NULL DEFAULT now()
);

-- alert_calendars holds the units' work calendars: spec is an
-- alerts.CalendarSpec (working periods per weekday, time zone, overrides).
-- A unit without one uses its nearest ancestor's; unit_id NULL is the
-- default for units with none up the tree. revision moves on with every edit
-- and is part of the calendar version recorded with each verdict.
CREATE TABLE alert_calendars (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id    bigint REFERENCES units(id),
    revision   integer NOT NULL DEFAULT 1,
    spec       jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (unit_id)
);

-- alert_fences holds the geofences. shape is the alerts.Shape the rules
-- judge with (polygon, multipolygon, circle, corridor); geom is the same
-- area for display and area search, with circles and corridors buffered in
-- geography (so approximately round). Exactly one of unit_id and vehicle_id
-- owns a fence; a unit's fence applies to the units below it.
CREATE TABLE alert_fences (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version         integer NOT NULL DEFAULT 1,
    name            text NOT NULL CHECK (name <> ''),
    kind            text NOT NULL CHECK (kind IN ('permitted', 'prohibited', 'sensitive', 'parking', 'speed_zone')),
    -- Sensitive places only: hotel, golf, ktv_sauna, scenic, residential.
    category        text CHECK (category IN ('hotel', 'golf', 'ktv_sauna', 'scenic', 'residential')),
    -- Minutes; NULL keeps the category's dwell threshold.
    dwell_min       double precision CHECK (dwell_min > 0),
    -- km/h inside the fence; NULL for none.
    speed_limit_kmh real CHECK (speed_limit_kmh > 0),
    unit_id         bigint REFERENCES units(id),
    vehicle_id      bigint REFERENCES vehicles(id),
    shape           jsonb NOT NULL,
    geom            geometry(Geometry, 4326) NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((unit_id IS NULL) <> (vehicle_id IS NULL)),
    CHECK (kind <> 'sensitive' OR category IS NOT NULL)
);
CREATE INDEX alert_fences_geom_idx ON alert_fences USING gist (geom);
CREATE INDEX alert_fences_unit_idx ON alert_fences (unit_id);
CREATE INDEX alert_fences_vehicle_idx ON alert_fences (vehicle_id);

-- alert_params holds the rule thresholds of a unit (and the units below it
-- without their own) as an alerts.Params; fields left out take the
-- defaults. unit_id NULL replaces the built-in defaults everywhere.
-- Durations are nanoseconds, distances metres, speeds km/h.
CREATE TABLE alert_params (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id    bigint REFERENCES units(id),
    params     jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (unit_id)
);

-- alert_approvals are approved dispatch orders (派车单): the vehicle may be
-- used during period, and, with fence_id, only inside that fence. A drive
-- covered by one is not after-hours or holiday use.
CREATE TABLE alert_approvals (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    vehicle_id bigint NOT NULL REFERENCES vehicles(id),
    driver     text NOT NULL DEFAULT '',
    purpose    text NOT NULL DEFAULT '',
    period     tstzrange NOT NULL CHECK (NOT isempty(period) AND NOT lower_inf(period) AND NOT upper_inf(period)),
    fence_id   bigint REFERENCES alert_fences(id),
    approver   text NOT NULL DEFAULT '',
    -- 'fleetmon': entered here; 'import': from another system (external_ref names it there).
    source       text NOT NULL DEFAULT 'fleetmon' CHECK (source IN ('fleetmon', 'import')),
    external_ref text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_approvals_vehicle_idx ON alert_approvals (vehicle_id, lower(period));
CREATE INDEX alert_approvals_period_idx ON alert_approvals USING gist (period);

-- episodes are the alerts: a rule broken over a span of time. id is the
-- engine's deterministic episode id (vehicle, rule, fence, start), so a
-- replay or re-evaluation finds the same row again. status is the engine's
-- (open, closed, or retracted when later data showed it did not happen; a
-- retracted row is kept). verification is the people's: open until someone
-- asks for an explanation, confirms or dismisses it; the engine never
-- changes it.
CREATE TABLE episodes (
    id               text PRIMARY KEY,
    vehicle_id       bigint NOT NULL REFERENCES vehicles(id),
    unit_id          bigint NOT NULL,
    rule             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('open', 'closed', 'retracted')),
    start_time       timestamptz NOT NULL,
    -- NULL while open.
    end_time         timestamptz,
    start_geom       geometry(Point, 4326) NOT NULL,
    end_geom         geometry(Point, 4326),
    distance_m       double precision NOT NULL DEFAULT 0,
    max_speed_kmh    real NOT NULL DEFAULT 0,
    -- No foreign keys: an alert outlives the fence or approval it names.
    fence_id         bigint,
    approval_id      bigint,
    -- The holiday's name, the fence's name or the alarm.
    detail           text NOT NULL DEFAULT '',
    -- The rule's parameters it was judged with, and the versions.
    params           jsonb NOT NULL DEFAULT '{}',
    calendar_version text NOT NULL DEFAULT '',
    params_version   text NOT NULL DEFAULT '',
    verification     text NOT NULL DEFAULT 'open'
                     CHECK (verification IN ('open', 'explanation_requested', 'confirmed', 'dismissed')),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX episodes_vehicle_idx ON episodes (vehicle_id, start_time);
CREATE INDEX episodes_rule_idx ON episodes (rule, start_time);
CREATE INDEX episodes_status_idx ON episodes (status);

-- alert_engine_state is the engine's saved state per vehicle (its rules'
-- state, checkpoints and recent emissions, in the engine's own format), so
-- that a restart resumes. processed_until is the latest received_at of the
-- vehicle's positions the state includes: on start, fleetd replays the
-- positions received after it.
CREATE TABLE alert_engine_state (
    vehicle_id      bigint PRIMARY KEY REFERENCES vehicles(id),
    state           bytea NOT NULL,
    processed_until timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now()
);
