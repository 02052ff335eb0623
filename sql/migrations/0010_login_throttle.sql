-- 0010: login throttling by source address as well as by name.
--
-- login_throttle counted failures per name only, and was read before the
-- password hash and written after it, so parallel guesses all got through;
-- and five failures from anywhere locked the name's owner out. The tables
-- below are read and written in one transaction, under row locks, before
-- any hashing (see README.md, "Login throttling").
DROP TABLE login_throttle;

-- login_pairs: consecutive failed logins for a name (existing or not) from
-- one source address (an IPv4 address or an IPv6 /64), and when the name
-- last logged in from there: such an address is the owner's, and passes
-- the per-name limit.
CREATE TABLE login_pairs (
    name          text NOT NULL,
    addr          text NOT NULL,
    failures      integer NOT NULL DEFAULT 0,
    blocked_until timestamptz,
    succeeded_at  timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (name, addr)
);

-- login_buckets: leaky buckets of failed logins per name ('name', over
-- every address) and per source address ('addr', over every name). level
-- is the failures not yet leaked away at time at.
CREATE TABLE login_buckets (
    kind  text NOT NULL CHECK (kind IN ('name', 'addr')),
    key   text NOT NULL,
    level double precision NOT NULL,
    at    timestamptz NOT NULL,
    PRIMARY KEY (kind, key)
);
