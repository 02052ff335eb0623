-- 0019: outgoing notifications. Subscriptions say who hears of which
-- alerts; the outbox holds one row per (episode, subscription), enqueued
-- once, and sent at least once with the row's idempotency key; the
-- attempts log records every send.

-- episodes.commit_xid is the transaction that last inserted or changed
-- the row, as positions.commit_xid is for positions: the notifier reads
-- the episodes stored since its cursor by it, up to the oldest
-- transaction still running, so that an episode committed by any node,
-- however late its transaction commits, is read once it has committed.
ALTER TABLE episodes ADD COLUMN commit_xid xid8;
CREATE INDEX episodes_commit_xid ON episodes (commit_xid);

CREATE FUNCTION episodes_set_commit_xid() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.commit_xid := pg_current_xact_id();
    RETURN NEW;
END $$;
CREATE TRIGGER episodes_set_commit_xid BEFORE INSERT OR UPDATE ON episodes
    FOR EACH ROW EXECUTE FUNCTION episodes_set_commit_xid();

-- notify_subscriptions: alerts of the vehicles of unit_id's subtree
-- (NULL: every unit) and of rules (empty: every rule) go to target over
-- channel. secret, for a webhook, keys the HMAC-SHA256 signature header.
-- A deleted subscription keeps its row (deleted_at), so that the send log
-- still names it.
CREATE TABLE notify_subscriptions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id     bigint REFERENCES units (id),
    rules       text[] NOT NULL DEFAULT '{}',
    channel     text NOT NULL CHECK (channel IN ('webhook', 'email')),
    target      text NOT NULL CHECK (target <> ''),
    secret      text NOT NULL DEFAULT '',
    label       text NOT NULL DEFAULT '',
    created_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX notify_subscriptions_unit ON notify_subscriptions (unit_id) WHERE deleted_at IS NULL;

-- notify_outbox: one notification to send. The unique (episode_id,
-- subscription_id) makes enqueueing idempotent: a re-evaluation, a
-- catch-up scan or a second node enqueues nothing twice. state pending
-- is due at next_at (a claimed row's next_at is its claim's expiry);
-- sent and failed are final; cancelled: its subscription was deleted.
CREATE TABLE notify_outbox (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    episode_id       text NOT NULL,
    subscription_id  bigint NOT NULL REFERENCES notify_subscriptions (id),
    idempotency_key  text NOT NULL UNIQUE,
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts         integer NOT NULL DEFAULT 0,
    next_at          timestamptz NOT NULL DEFAULT now(),
    created_at       timestamptz NOT NULL DEFAULT now(),
    done_at          timestamptz,
    last_error       text,
    UNIQUE (episode_id, subscription_id)
);
CREATE INDEX notify_outbox_due ON notify_outbox (next_at) WHERE state = 'pending';
CREATE INDEX notify_outbox_subscription ON notify_outbox (subscription_id, created_at);

-- notify_attempts: each send, recorded as it starts (status sending) and
-- when it ends (sent or error). A row left sending is an attempt whose
-- sender died before it could say how it went.
CREATE TABLE notify_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    outbox_id    bigint NOT NULL REFERENCES notify_outbox (id),
    attempt      integer NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    status       text NOT NULL CHECK (status IN ('sending', 'sent', 'error')),
    error        text
);
CREATE INDEX notify_attempts_outbox ON notify_attempts (outbox_id, attempt);

-- notify_cursor: one row. Every episode change with commit_xid below
-- xid_until has been matched against the subscriptions. It starts at the
-- migration: alerts stored before notifications existed are not sent.
CREATE TABLE notify_cursor (
    one         boolean PRIMARY KEY DEFAULT true CHECK (one),
    xid_until   xid8 NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO notify_cursor (xid_until) VALUES (pg_snapshot_xmin(pg_current_snapshot()));
