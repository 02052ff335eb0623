-- 0024: commands to terminals (JT/T 808 0x8103 set parameters, 0x8104
-- query parameters, 0x8201 query location, 0x8202 temporary tracking,
-- 0x8300 text). A command is queued by a user, sent over the terminal's
-- live connection by whichever node holds it, and answered by the
-- terminal; every state is a row here, so that a node that dies loses
-- nothing and a user sees what became of each command.
--
-- state: queued (waiting for the terminal to be online), sent (written to
-- the terminal, waiting for its answer, matched by serial), answered (the
-- terminal's result code in result, its data in reply), failed (a non-zero
-- result code), timed_out (no answer in time, or never delivered before
-- expires_at), cancelled (by a user while queued).
CREATE TABLE terminal_commands (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    terminal_id  bigint NOT NULL REFERENCES terminals (id),
    vehicle_id   bigint REFERENCES vehicles (id),
    kind         text NOT NULL CHECK (kind IN ('set_params', 'query_params', 'query_location', 'track', 'text')),
    args         jsonb NOT NULL DEFAULT '{}',
    -- client_key makes enqueueing idempotent: the same key for the same
    -- terminal is the same command.
    client_key   text NOT NULL CHECK (client_key <> ''),
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'sent', 'answered', 'failed', 'timed_out', 'cancelled')),
    created_by   bigint,
    created_name text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    sent_at      timestamptz,
    sent_by      text,
    -- serial is the platform's message serial the command went out with:
    -- the terminal's answer names it (应答流水号).
    serial       integer CHECK (serial BETWEEN 0 AND 65535),
    msg_id       integer,
    done_at      timestamptz,
    result       smallint,
    reply        jsonb,
    UNIQUE (terminal_id, client_key)
);
CREATE INDEX terminal_commands_queued ON terminal_commands (terminal_id) WHERE state = 'queued';
CREATE INDEX terminal_commands_sent ON terminal_commands (terminal_id, serial) WHERE state = 'sent';
CREATE INDEX terminal_commands_vehicle ON terminal_commands (vehicle_id, created_at DESC);
CREATE INDEX terminal_commands_terminal ON terminal_commands (terminal_id, created_at DESC);
