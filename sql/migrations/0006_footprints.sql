-- 0006: area search over history. positions has no spatial index (one
-- would cost every insert a GiST update); instead a background job
-- (track.Store.SummariseFootprints, run by fleetd serve every minute)
-- keeps, per vehicle and hour of device time, the bounding box of the
-- vehicle's positions in position_footprints, which has one. An area
-- search finds the (vehicle, hour) candidates there, and reads only those
-- vehicles' positions around those hours by the primary key.
--
-- The job finds the rows stored since its last run by received_at: a BRIN
-- index (a few pages per partition, nearly free to maintain, since rows
-- arrive in received_at order) makes that a scan of the recent pages only.
CREATE INDEX positions_received_brin ON positions USING brin (received_at);

-- position_footprints: per vehicle and hour (date_bin of device_time, whole
-- hours since 2000-01-01 UTC), a box containing every position of that
-- hour (it may be larger than needed: it only grows). first_time and
-- last_time are the hour's earliest and latest device time. Partitioned by
-- month of hour like positions (ensure_month_partition).
CREATE TABLE position_footprints (
    vehicle_id bigint NOT NULL,
    hour       timestamptz NOT NULL,
    bbox       geometry(Geometry, 4326) NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL,
    PRIMARY KEY (vehicle_id, hour)
) PARTITION BY RANGE (hour);
CREATE INDEX position_footprints_bbox_idx ON position_footprints USING gist (bbox);

-- footprint_progress: one row, the received_at up to which positions are
-- summarised. Each run re-reads a few minutes before it (rows are
-- committed a little after they are received), so a row is in a footprint
-- once received_at <= received_until - the job's overlap; an area search
-- reads the positions received after that directly.
CREATE TABLE footprint_progress (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    received_until timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
