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

-- the values questions name are read at refresh time into an index (no question reads a user
-- table to find them); the catalog embeds tables and columns only
ALTER TABLE ai.catalog_tables ADD COLUMN values_sampled_at timestamptz,
    ADD COLUMN values_indexed boolean NOT NULL DEFAULT false;
CREATE TABLE ai.catalog_values (
    table_oid   oid      NOT NULL,
    attnum      smallint NOT NULL,
    value       text     NOT NULL,
    categorical boolean  NOT NULL
);
CREATE INDEX catalog_values_lower ON ai.catalog_values (pg_catalog.lower(value));
CREATE INDEX catalog_values_table ON ai.catalog_values (table_oid);
COMMENT ON TABLE ai.catalog_values IS 'Schema catalog: sampled values of text columns, looked up by ai.ask for its caller (read by the owner only).';
DROP INDEX ai.catalog_schemas_embedding, ai.catalog_columns_embedding, ai.catalog_relationships_embedding;

-- DDL records the relations it touched: the refresh after it reads those and their
-- neighbours, not the whole schema
CREATE TABLE ai.catalog_changes (
    id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid      oid,
    everything boolean NOT NULL
);
COMMENT ON TABLE ai.catalog_changes IS 'Relations DDL touched since the last catalog refresh (event triggers write it).';
-- (the first refresh after the update reads everything: the descriptions changed)
INSERT INTO ai.catalog_changes (relid, everything) VALUES (NULL, true);
SELECT pg_catalog.nextval('ai.catalog_version');
CREATE OR REPLACE FUNCTION ai._catalog_ddl_event() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF TG_EVENT = 'ddl_command_end' THEN
        INSERT INTO ai.catalog_changes (relid, everything)
        SELECT CASE c.classid WHEN 'pg_catalog.pg_class'::regclass THEN c.objid
                              WHEN 'pg_catalog.pg_constraint'::regclass
                                   THEN (SELECT k.conrelid FROM pg_catalog.pg_constraint k WHERE k.oid = c.objid) END,
               c.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_constraint'::regclass,
                                 'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_trigger'::regclass,
                                 'pg_catalog.pg_policy'::regclass, 'pg_catalog.pg_rewrite'::regclass,
                                 'pg_catalog.pg_statistic_ext'::regclass, 'pg_catalog.pg_event_trigger'::regclass)
          FROM pg_event_trigger_ddl_commands() c
         WHERE c.schema_name IS DISTINCT FROM 'ai' AND NOT c.in_extension
           AND coalesce(c.schema_name, '') !~ '^pg_temp'
           -- privileges are checked when the catalog is read, never stored in it
           AND c.command_tag NOT IN ('GRANT', 'REVOKE', 'ALTER DEFAULT PRIVILEGES');
    ELSE
        INSERT INTO ai.catalog_changes (relid, everything)
        SELECT CASE WHEN d.classid = 'pg_catalog.pg_class'::regclass THEN d.objid END,
               -- what the command named (a table's row type goes with it, unnamed)
               d.original AND d.classid NOT IN ('pg_catalog.pg_class'::regclass, 'pg_catalog.pg_constraint'::regclass,
                                 'pg_catalog.pg_proc'::regclass, 'pg_catalog.pg_trigger'::regclass,
                                 'pg_catalog.pg_policy'::regclass, 'pg_catalog.pg_rewrite'::regclass,
                                 'pg_catalog.pg_statistic_ext'::regclass, 'pg_catalog.pg_attrdef'::regclass,
                                 'pg_catalog.pg_event_trigger'::regclass)
          FROM pg_event_trigger_dropped_objects() d
         WHERE d.schema_name IS DISTINCT FROM 'ai' AND NOT d.is_temporary;
    END IF;
    IF FOUND THEN
        PERFORM nextval('ai.catalog_version');
    END IF;
END;
$$;
COMMENT ON FUNCTION ai._catalog_ddl_event() IS 'Event trigger: marks the schema catalog stale after DDL, with the relations it touched.';
COMMENT ON TABLE ai.catalog_state IS 'One row: when the catalog was last refreshed, and the ai.catalog_version it had then.';

-- the vocabulary a curator teaches (ai.teach), read by ai.ask before anything else; each ask
-- records the words it could not account for (the ones worth teaching)
CREATE TABLE ai.vocabulary (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    word         text        NOT NULL CHECK (word = pg_catalog.lower(word) AND word <> ''),
    kind         text        NOT NULL
                             CHECK (kind IN ('table', 'column', 'measure', 'filter', 'relationship')),
    table_oid    oid         NOT NULL,                -- the table the meaning is over
    other_oid    oid,                                 -- a relationship's other table
    meaning      text,                                -- as the curator wrote it
    template     text,                                -- its column references qualified by a placeholder
    aggregate    text        CHECK (aggregate IN ('sum', 'avg', 'min', 'max')),
    data_type    text,                                -- the expression's type, as PostgreSQL says
    columns      int2[],                              -- the attribute numbers of the columns it reads
    columns_then text[],                              -- each one's name and type when taught: it is
                                                      -- used only while they are still the same
    note         text,
    search_path  text        NOT NULL DEFAULT '',     -- the names in meaning resolve with this
    usage_id     bigint,                              -- proposed from this ai.ask answer's correction
    review       text        NOT NULL DEFAULT 'proposed'
                             CHECK (review IN ('proposed', 'reviewed', 'rejected')),
    created_by   name        NOT NULL DEFAULT session_user,
    created_at   timestamptz NOT NULL DEFAULT now(),
    reviewed_by  name,
    reviewed_at  timestamptz
);
-- one reviewed meaning per word and table
CREATE UNIQUE INDEX vocabulary_reviewed ON ai.vocabulary (word, table_oid) WHERE review = 'reviewed';
-- A word is visible to a role that may SELECT the table(s) it is about.
ALTER TABLE ai.vocabulary ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.vocabulary FOR SELECT
    USING (coalesce(pg_catalog.has_table_privilege(table_oid, 'SELECT'), false)
           AND (other_oid IS NULL OR coalesce(pg_catalog.has_table_privilege(other_oid, 'SELECT'), false)));
COMMENT ON TABLE ai.vocabulary IS 'What words mean in this database (tables, columns, measures, filters, relationships), read by ai.ask before anything else.';
SELECT pg_catalog.pg_extension_config_dump('ai.vocabulary', '');
SELECT pg_catalog.pg_extension_config_dump('ai.vocabulary_id_seq', '');
ALTER TABLE ai.query_usage_stats ADD COLUMN unexplained text[];
