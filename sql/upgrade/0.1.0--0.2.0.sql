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

------------------------------------------------------------------------------------------
-- New in 0.2.0: conversations (ai.chat): each person sees only their own sessions
------------------------------------------------------------------------------------------
CREATE TABLE ai.chat_messages (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session      text        NOT NULL CHECK (length(session) BETWEEN 1 AND 200),
    user_name    name        NOT NULL DEFAULT session_user,
    turn         integer     NOT NULL,
    speaker      text        NOT NULL CHECK (speaker IN ('user', 'assistant')),
    content      text        NOT NULL,
    question     text,                  -- the user's message as resolved against the previous turn
    follow_up_of integer,               -- the turn it follows up on
    tool         text        CHECK (tool IN ('ask', 'impact', 'insights', 'suggest_indexes', 'lint')),
    usage_id     bigint      REFERENCES ai.query_usage_stats (id) ON DELETE SET NULL,
    result       jsonb,
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (user_name, session, turn, speaker)
);
CREATE INDEX chat_messages_usage ON ai.chat_messages (usage_id);
CREATE INDEX chat_messages_created ON ai.chat_messages (created_at);
ALTER TABLE ai.chat_messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_sessions ON ai.chat_messages FOR SELECT USING (user_name = session_user);
COMMENT ON TABLE ai.chat_messages IS 'Conversations with ai.chat(), the last turns of each session until it expires (ai_architect.chat_session_ttl).';
SELECT pg_catalog.pg_extension_config_dump('ai.chat_messages', '');
SELECT pg_catalog.pg_extension_config_dump('ai.chat_messages_id_seq', '');
