-- 0003: payloads that could not be used (MQTT), kept for inspection.
CREATE TABLE parked (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at timestamptz NOT NULL,
    source      text NOT NULL,
    topic       text,
    kind        text NOT NULL,
    payload     bytea NOT NULL,
    reason      text NOT NULL
);
CREATE INDEX parked_received_idx ON parked (received_at);
