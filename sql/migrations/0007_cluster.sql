-- 0007: several fleetd nodes on one database (issue 7).
--
-- commit_xid is the id of the transaction that stored each position
-- (pg_current_xact_id, 64 bits, never wraps). The node that runs a
-- vehicle's rules reads the positions any node committed in commit order:
-- those with commit_xid below the oldest transaction still running
-- (pg_snapshot_xmin of a fresh snapshot) are final, so reading
-- [cursor, xmin) again and again misses none and repeats none. Rows stored
-- before this migration keep NULL (adding a column with no default rewrites
-- nothing; the default applies to new rows only). A BRIN index suits a
-- column that grows with insertion order at almost no cost per insert;
-- autosummarize keeps the newest ranges summarised.
ALTER TABLE positions ADD COLUMN commit_xid bigint;
ALTER TABLE positions ALTER COLUMN commit_xid SET DEFAULT (pg_current_xact_id()::text)::bigint;
CREATE INDEX positions_commit_xid ON positions USING brin (commit_xid) WITH (pages_per_range = 32, autosummarize = on);

-- processed_xid: the saved state includes every position of the vehicle
-- with commit_xid below it (set by nodes running as a cluster; NULL from a
-- single node, which goes by processed_until).
ALTER TABLE alert_engine_state ADD COLUMN processed_xid bigint;
