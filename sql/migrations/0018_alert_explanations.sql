-- 0018: the explanations (情况说明) a unit gives for an alert, recorded by
-- whoever verifies it, each with an optional scan (a PDF or an image of the
-- signed statement). The scan is kept in the database, beside the alert it
-- explains, so that a backup holds the whole case; its SHA-256 digest is
-- recorded with it and shown with every download, so a printed digest
-- identifies the file that was judged.
--
-- Like the audit log, the table is append-only: a mistaken explanation is
-- followed by a corrected one, never rewritten. The trigger holds against
-- the runtime role, which owns nothing and cannot disable it.
CREATE TABLE alert_explanations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- No foreign key, as for the audit log: an explanation outlives a
    -- re-evaluation's rewrite of its episode.
    episode_id   text NOT NULL,
    vehicle_id   bigint NOT NULL REFERENCES vehicles(id),
    body         text NOT NULL DEFAULT '',
    -- The scan: all four NULL without one. content_type is what the
    -- server found in the content (application/pdf, image/png,
    -- image/jpeg), never what the uploader's file name or header said.
    file_name    text,
    content_type text CHECK (content_type IN ('application/pdf', 'image/png', 'image/jpeg')),
    sha256       bytea CHECK (octet_length(sha256) = 32),
    content      bytea,
    actor_id     bigint,
    actor_name   text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((content IS NULL) = (sha256 IS NULL) AND (content IS NULL) = (content_type IS NULL)),
    CHECK (body <> '' OR content IS NOT NULL)
);
CREATE INDEX alert_explanations_episode_idx ON alert_explanations (episode_id, id);

CREATE FUNCTION alert_explanations_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_explanations is append-only: record a later explanation instead'
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER alert_explanations_no_change BEFORE UPDATE OR DELETE ON alert_explanations
    FOR EACH ROW EXECUTE FUNCTION alert_explanations_append_only();
CREATE TRIGGER alert_explanations_no_truncate BEFORE TRUNCATE ON alert_explanations
    FOR EACH STATEMENT EXECUTE FUNCTION alert_explanations_append_only();
