-- 0012: the audit log joins the daily seals, and each day's seals are
-- signed. Until now a login that could delete the seals could let the
-- daily job seal the altered rows again, and every check passed: the
-- chain was plain SHA-256 kept in the same database.
--
-- audit_log is sealed like the evidence tables, by local day of "at". For
-- every sealed day, seal_days holds the day's digest: SHA-256 over the
-- previous day's digest, the day, and each kind's chain link that day (see
-- track/seal.go for the exact encoding), so it commits to every earlier
-- day of every table. It is signed with an Ed25519 key that is not in the
-- database (fleetd serve --seal-key, a file outside the data directory);
-- public_key is the key that signed, signature NULL when no key was
-- configured. An operator keeps the public key and the digests offline,
-- and every export's manifest carries both, so a seal rebuilt later —
-- by anyone, even with the key — no longer matches what was kept.
ALTER TABLE seals DROP CONSTRAINT seals_kind_check;
ALTER TABLE seals ADD CONSTRAINT seals_kind_check CHECK (kind IN ('positions', 'raw_frames', 'audit_log'));

CREATE TABLE seal_days (
    day        date PRIMARY KEY,
    digest     bytea NOT NULL,
    prev       bytea NOT NULL,
    sealed_at  timestamptz NOT NULL,
    public_key bytea,
    signature  bytea,
    CHECK ((public_key IS NULL) = (signature IS NULL))
);
CREATE TRIGGER seal_days_no_change BEFORE UPDATE OR DELETE ON seal_days
    FOR EACH ROW EXECUTE FUNCTION seals_append_only();
CREATE TRIGGER seal_days_no_truncate BEFORE TRUNCATE ON seal_days
    FOR EACH STATEMENT EXECUTE FUNCTION seals_append_only();
