-- ai_architect 0.2.0 -> 0.3.0: the state schema. The install appends the functions that are
-- new or changed (scripts/upgrade_functions.py) and privileges.sql, making
-- ai_architect--0.2.0--0.3.0.sql; ALTER EXTENSION ai_architect UPDATE runs it in one
-- transaction. After it, the schema is the one CREATE EXTENSION gives (tested).
--
-- Functions changed too (new arguments, such as the pages of ai.requests); the appended parts
-- bring them and their grants.

-- statements that run outside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...)
-- are executed by a background worker: a request is 'running' meanwhile, and its execution
-- records the worker's process and what it found
ALTER TABLE ai.approval_requests DROP CONSTRAINT approval_requests_state_check,
    ADD CONSTRAINT approval_requests_state_check
        CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'cancelled',
                         'executed', 'failed', 'rolled_back', 'running'));
ALTER TABLE ai.executions DROP CONSTRAINT executions_status_check,
    ADD CONSTRAINT executions_status_check
        CHECK (status IN ('succeeded', 'failed', 'rolled_back', 'running', 'rolling_back')),
    ADD COLUMN pid integer,
    ADD COLUMN detail jsonb NOT NULL DEFAULT '{}';
