-- 0002: accounts, roles and jurisdiction; sessions, API tokens, login
-- throttling and the append-only audit log.

-- unit_subtree returns the ids of root's subtree, root included; with a NULL
-- root, every unit (the jurisdiction of an administrator at the top).
CREATE FUNCTION unit_subtree(root bigint) RETURNS SETOF bigint
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE sub(id) AS (
        SELECT id FROM units WHERE CASE WHEN root IS NULL THEN parent_id IS NULL ELSE id = root END
        UNION ALL
        SELECT u.id FROM units u JOIN sub ON u.parent_id = sub.id)
    SELECT id FROM sub
$$;

-- unit_path returns a unit's path of names from the top, "/"-separated.
CREATE FUNCTION unit_path(unit bigint) RETURNS text
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, parent_id, path) AS (
        SELECT id, parent_id, name FROM units WHERE id = unit
        UNION ALL
        SELECT u.id, u.parent_id, u.name || '/' || up.path FROM units u JOIN up ON u.id = up.parent_id)
    SELECT path FROM up WHERE parent_id IS NULL
$$;

-- users are the people (and integrations) using the API. unit_id NULL means
-- the top of the tree: only an admin may be there.
CREATE TABLE users (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name                text NOT NULL UNIQUE CHECK (name ~ '^[[:alnum:]_.@-]{1,64}$'),
    role                text NOT NULL CHECK (role IN ('admin', 'supervisor', 'inspector')),
    unit_id             bigint REFERENCES units(id),
    -- PHC string: $argon2id$v=19$m=...,t=...,p=...$salt$hash. Never the password.
    password_hash       text NOT NULL,
    must_change         boolean NOT NULL DEFAULT true,
    disabled            boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    CHECK (unit_id IS NOT NULL OR role = 'admin')
);
CREATE INDEX users_unit_idx ON users (unit_id);

-- login_throttle counts consecutive failed logins per attempted name, known
-- or not (so that throttling does not reveal which names exist).
CREATE TABLE login_throttle (
    name          text PRIMARY KEY,
    failures      integer NOT NULL DEFAULT 0,
    blocked_until timestamptz
);

-- sessions are browser sessions. id_hash is SHA-256 of the cookie value;
-- the value itself is never stored.
CREATE TABLE sessions (
    id_hash      bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id),
    created_at   timestamptz NOT NULL,
    last_seen_at timestamptz NOT NULL,
    remote_addr  text NOT NULL DEFAULT ''
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- api_tokens are bearer tokens for integrations. token_hash is SHA-256 of
-- the token; the token itself is shown once, at creation.
CREATE TABLE api_tokens (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users(id),
    token_hash   bytea NOT NULL UNIQUE,
    label        text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at   timestamptz
);

-- audit_log is append-only: who did or looked at what, when, and why.
-- actor_unit_id is the actor's unit at the time (NULL: the top, or an unknown
-- name); subject_unit_id the unit of the object concerned. No foreign keys:
-- an entry outlives what it names.
CREATE TABLE audit_log (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor_id        bigint,
    actor_name      text NOT NULL,
    actor_unit_id   bigint,
    action          text NOT NULL,
    vehicle_id      bigint,
    subject_unit_id bigint,
    period_from     timestamptz,
    period_to       timestamptz,
    reason          text,
    remote_addr     text NOT NULL DEFAULT '',
    detail          jsonb
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_vehicle_idx ON audit_log (vehicle_id, at);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_name, at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END $$;
CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
