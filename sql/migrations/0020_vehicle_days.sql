-- 0020: the statistics (台账) offices file every quarter, kept current by a
-- background job (track.Store.SummariseDays, run by fleetd serve every
-- minute) instead of scanned from raw positions on every request.
--
-- vehicle_days: per vehicle and Asia/Shanghai day of device time, what
-- track.Analyze says of that day's positions, the same analysis replay
-- shows for the day: trips, distance along the reports (gaps excluded),
-- driving time (the trips' durations), the odometer (item 0x01) at the
-- day's first and last report carrying it and its advance in between, and
-- each trip's start and end, which the report judges against the unit's
-- calendar when it is asked (a calendar edit changes the figures without
-- recomputing anything). A row is recomputed from all of the day's stored
-- positions, never added to: positions stored twice are one row there,
-- and a day recomputed twice is the same row, so nothing counts twice.
CREATE TABLE vehicle_days (
    vehicle_id      bigint NOT NULL REFERENCES vehicles(id),
    day             date NOT NULL,
    positions       integer NOT NULL,
    trips           integer NOT NULL,
    distance_m      double precision NOT NULL,
    driving_s       double precision NOT NULL,
    -- NULL without a report carrying the odometer that day; odometer_km
    -- is NULL with fewer than two.
    odometer_km     double precision,
    odometer_first  double precision,
    odometer_last   double precision,
    first_time      timestamptz NOT NULL,
    last_time       timestamptz NOT NULL,
    trip_starts     timestamptz[] NOT NULL,
    trip_ends       timestamptz[] NOT NULL,
    computed_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (vehicle_id, day),
    CHECK (cardinality(trip_starts) = trips AND cardinality(trip_ends) = trips)
);
CREATE INDEX vehicle_days_day_idx ON vehicle_days (day, vehicle_id);

-- vehicle_days_dirty: the (vehicle, day) pairs that have positions the
-- row in vehicle_days does not include yet. The job adds the pairs of the
-- positions committed since its last run (by commit_xid, so a blind-zone
-- back-fill committed a month late is found like any other), then
-- recomputes them and deletes each pair in the transaction that writes
-- its row. since is when the pair was first marked: the current day is
-- recomputed at most every few minutes, a finished day at once.
CREATE TABLE vehicle_days_dirty (
    vehicle_id bigint NOT NULL,
    day        date NOT NULL,
    since      timestamptz NOT NULL,
    PRIMARY KEY (vehicle_id, day)
);

-- vehicle_days_progress: one row; every position with commit_xid below
-- xid_until has its (vehicle, day) marked or summarised.
CREATE TABLE vehicle_days_progress (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    xid_until  bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
