-- Only the extension owner can change state tables; PUBLIC calls read-only helpers only.
CREATE ROLE ai_regress_user;

-- no privilege to write any state table
SELECT c.relname,
       has_table_privilege('ai_regress_user', c.oid, 'INSERT') AS ins,
       has_table_privilege('ai_regress_user', c.oid, 'UPDATE') AS upd,
       has_table_privilege('ai_regress_user', c.oid, 'DELETE') AS del,
       has_table_privilege('ai_regress_user', c.oid, 'TRUNCATE') AS trunc,
       has_table_privilege('ai_regress_user', c.oid, 'SELECT') AS sel
FROM pg_class c
WHERE c.relnamespace = 'ai'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

-- functions PUBLIC may execute
SELECT p.oid::regprocedure AS function
FROM pg_proc p
WHERE p.pronamespace = 'ai'::regnamespace AND has_function_privilege('ai_regress_user', p.oid, 'EXECUTE')
ORDER BY 1;

-- every function pins its search_path
SELECT p.oid::regprocedure AS function_without_search_path
FROM pg_proc p
WHERE p.pronamespace = 'ai'::regnamespace
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search\_path=%');

SET ROLE ai_regress_user;
INSERT INTO ai.sql_samples (question, query) VALUES ('how many tracks', 'SELECT count(*) FROM track');
UPDATE ai.approval_policy SET required_approvals = 0;
DELETE FROM ai.audit_log;
TRUNCATE ai.backups;
SELECT count(*) FROM ai.approval_requests;
-- but the read-only helper works
SELECT (ai.version())->>'extension_version' IS NOT NULL AS version_ok;
-- and secrets stay secret (PostgreSQL 16 reworded the refusal: compared by its SQLSTATE)
\set VERBOSITY sqlstate
SHOW ai_architect.llm_api_key;
\set VERBOSITY default
SET ai_architect.onnxruntime_path = '/tmp/evil.so';
RESET ROLE;

DROP ROLE ai_regress_user;
