-- DROP EXTENSION leaves nothing behind, and the extension installs again.
DROP EXTENSION ai_architect;

SELECT count(*) AS leftover_members
FROM pg_depend d JOIN pg_extension e ON d.refobjid = e.oid
WHERE e.extname = 'ai_architect';
-- PostgreSQL creates the control file's schema before the script runs and never lets an
-- extension own the schema it lives in, so `ai` stays; it must be empty.
SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = 'ai'::regnamespace)
     + (SELECT count(*) FROM pg_proc WHERE pronamespace = 'ai'::regnamespace)
     + (SELECT count(*) FROM pg_type WHERE typnamespace = 'ai'::regnamespace)
     + (SELECT count(*) FROM pg_operator WHERE oprnamespace = 'ai'::regnamespace) AS objects_left_in_ai;
SELECT count(*) AS ai_event_triggers FROM pg_event_trigger WHERE evtname LIKE 'ai\_%';
SELECT count(*) AS ai_functions_anywhere FROM pg_proc WHERE probin LIKE '%ai_architect%';
-- RESTRICT: fails if anything were left in it
DROP SCHEMA ai RESTRICT;

CREATE EXTENSION ai_architect;
SELECT count(*) > 0 AS reinstalled FROM pg_class WHERE relnamespace = 'ai'::regnamespace;
DROP EXTENSION ai_architect;
DROP SCHEMA ai RESTRICT;
SELECT count(*) AS ai_schemas FROM pg_namespace WHERE nspname = 'ai';
DROP EXTENSION vector;
