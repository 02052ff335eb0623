-- 0005: daily seals of the evidence tables. Each local day's rows of
-- raw_frames and of positions (by received_at, Asia/Shanghai days) are hashed
-- once the day is over, and each seal hashes the one before it (a chain per
-- table): altering, deleting or inserting a stored row afterwards changes
-- the day's digest, and rewriting a seal breaks every later link. Per
-- vehicle digests of positions (seal_parts) narrow a mismatch down to a
-- vehicle and a day. See track/integrity.go for the exact encoding.
CREATE TABLE seals (
    kind      text NOT NULL CHECK (kind IN ('positions', 'raw_frames')),
    day       date NOT NULL,
    rows      bigint NOT NULL,
    digest    bytea NOT NULL,
    prev      bytea NOT NULL,
    chain     bytea NOT NULL,
    sealed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, day)
);

CREATE TABLE seal_parts (
    kind       text NOT NULL,
    day        date NOT NULL,
    vehicle_id bigint NOT NULL,
    rows       bigint NOT NULL,
    digest     bytea NOT NULL,
    PRIMARY KEY (kind, day, vehicle_id)
);

CREATE FUNCTION seals_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'seals are append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER seals_no_change BEFORE UPDATE OR DELETE ON seals
    FOR EACH ROW EXECUTE FUNCTION seals_append_only();
CREATE TRIGGER seals_no_truncate BEFORE TRUNCATE ON seals
    FOR EACH STATEMENT EXECUTE FUNCTION seals_append_only();
CREATE TRIGGER seal_parts_no_change BEFORE UPDATE OR DELETE ON seal_parts
    FOR EACH ROW EXECUTE FUNCTION seals_append_only();
CREATE TRIGGER seal_parts_no_truncate BEFORE TRUNCATE ON seal_parts
    FOR EACH STATEMENT EXECUTE FUNCTION seals_append_only();
