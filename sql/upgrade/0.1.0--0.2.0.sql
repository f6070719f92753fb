-- ai_architect 0.1.0 -> 0.2.0: the state schema. The install appends the functions that are
-- new or changed (scripts/upgrade_functions.py) and privileges.sql, making
-- ai_architect--0.1.0--0.2.0.sql; ALTER EXTENSION ai_architect UPDATE runs it in one
-- transaction. After it, the schema is the one CREATE EXTENSION gives (tested).

-- Samples are reviewed before they answer others. Those written before reviews existed
-- answered everyone: the ones written by the extension's owner or a superuser count as
-- reviewed (as they would be now), the others start as proposals.
ALTER TABLE ai.sql_samples
    ADD COLUMN review      text NOT NULL DEFAULT 'proposed'
                           CHECK (review IN ('proposed', 'reviewed', 'rejected')),
    ADD COLUMN reviewed_by name,
    ADD COLUMN reviewed_at timestamptz;
UPDATE ai.sql_samples s
   SET review = 'reviewed', reviewed_by = s.created_by, reviewed_at = pg_catalog.now()
 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = s.created_by AND r.rolsuper)
    OR s.created_by = (SELECT pg_catalog.pg_get_userbyid(e.extowner) FROM pg_catalog.pg_extension e
                        WHERE e.extname = 'ai_architect');
CREATE INDEX sql_samples_review ON ai.sql_samples (review) WHERE review = 'proposed';

-- Functions that are not built in which SQL written by someone else may call.
CREATE TABLE ai.allowed_functions (
    func     regprocedure PRIMARY KEY,
    reason   text,
    added_by name        NOT NULL DEFAULT session_user,
    added_at timestamptz NOT NULL DEFAULT now()
);
SELECT pg_catalog.pg_extension_config_dump('ai.allowed_functions', '');

-- The rollback plan as each execution resolved it (executions before 0.2.0 have none: their
-- rollback uses the request's plan, as 0.1.0 did).
ALTER TABLE ai.executions ADD COLUMN rollback_plan jsonb;

-- Row images become the row's text under fixed settings. A 0.1.0 image (jsonb) is read
-- back into its table's row type and printed as 0.2.0 prints images; the image of a table
-- that no longer exists stays empty (its rollback was impossible already).
CREATE FUNCTION ai._upgrade_row_image(t oid, image jsonb) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET TimeZone = 'UTC' SET DateStyle = 'ISO, YMD' SET IntervalStyle = 'postgres'
SET extra_float_digits = 3 SET bytea_output = 'hex' SET lc_monetary = 'C'
AS $$
DECLARE
    r text;
BEGIN
    IF image IS NULL OR NOT EXISTS (SELECT 1 FROM pg_class WHERE oid = t) THEN
        RETURN NULL;
    END IF;
    EXECUTE format('SELECT jsonb_populate_record(NULL::%s, $1)::text', t::regclass) INTO r USING image;
    RETURN r;
END
$$;
ALTER TABLE ai.backups
    ALTER COLUMN row_data TYPE text USING ai._upgrade_row_image(table_oid, row_data),
    ALTER COLUMN row_after TYPE text USING ai._upgrade_row_image(table_oid, row_after);
DROP FUNCTION ai._upgrade_row_image(oid, jsonb);

-- The head of the audit chain, from the chain as it is (sealed at the next append when
-- ai_architect.audit_hmac_key is set).
CREATE TABLE ai.audit_head (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id bigint  NOT NULL DEFAULT 0,
    entries bigint  NOT NULL DEFAULT 0,
    hash    bytea,
    mac     bytea
);
INSERT INTO ai.audit_head (last_id, entries, hash)
SELECT coalesce(max(id), 0), count(*), (SELECT l.hash FROM ai.audit_log l ORDER BY l.id DESC LIMIT 1)
  FROM ai.audit_log;
