-- 0021: public tips (举报) about official cars, and the steps each is
-- worked through: registered, passed to the car's unit with a deadline,
-- the unit's reply, verified against the track, the caller answered,
-- closed.
--
-- tips holds what the caller said, which never changes, and the case's
-- current state, unit, car and deadline, which the steps move; every step
-- is a row of tip_events, append-only like the audit log (a mistaken
-- step is followed by another, never rewritten). The caller's number is
-- kept here in full: the API shows it masked to everyone but inspectors,
-- and audits every view of it.
CREATE TABLE tips (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The client's idempotency key and a digest of what it sent: a
    -- retried registration finds the tip made the first time.
    client_key    text NOT NULL UNIQUE,
    request_hash  bytea NOT NULL,
    unit_id       bigint NOT NULL REFERENCES units(id),
    vehicle_id    bigint REFERENCES vehicles(id),
    -- The plate as the caller said it; empty when unsure.
    plate_text    text NOT NULL DEFAULT '',
    received_at   timestamptz NOT NULL,
    channel       text NOT NULL CHECK (channel IN ('phone', 'letter', 'web', 'hotline_12345')),
    caller_number text NOT NULL DEFAULT '',
    content       text NOT NULL CHECK (content <> ''),
    alleged_from  timestamptz NOT NULL,
    alleged_to    timestamptz NOT NULL CHECK (alleged_to > alleged_from),
    place_text    text NOT NULL DEFAULT '',
    -- The place drawn: a GeoJSON geometry (a Point with radius_m is a
    -- circle), or a fence; neither when only the address is known.
    area_geojson  text,
    radius_m      double precision NOT NULL DEFAULT 0,
    fence_id      bigint,
    state         text NOT NULL DEFAULT 'registered'
                  CHECK (state IN ('registered', 'passed', 'replied', 'verified', 'fed_back', 'closed')),
    deadline      timestamptz,
    outcome       text CHECK (outcome IN ('substantiated', 'unsubstantiated')),
    created_by    bigint,
    created_by_name text NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);
CREATE INDEX tips_unit_idx ON tips (unit_id, received_at DESC);

CREATE TABLE tip_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tip_id      bigint NOT NULL REFERENCES tips(id),
    client_key  text NOT NULL,
    action      text NOT NULL,
    from_state  text NOT NULL,
    to_state    text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    detail      jsonb NOT NULL DEFAULT '{}',
    actor_id    bigint,
    actor_name  text NOT NULL,
    at          timestamptz NOT NULL,
    UNIQUE (tip_id, client_key)
);

CREATE FUNCTION tip_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tip_events is append-only: record a later step instead'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER tip_events_no_change BEFORE UPDATE OR DELETE ON tip_events
    FOR EACH ROW EXECUTE FUNCTION tip_events_append_only();
CREATE TRIGGER tip_events_no_truncate BEFORE TRUNCATE ON tip_events
    FOR EACH STATEMENT EXECUTE FUNCTION tip_events_append_only();
