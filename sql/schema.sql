-- ai_architect state schema.
--
-- Every table lives in schema ai (created by CREATE EXTENSION from the control file) and
-- belongs to the extension, so DROP EXTENSION removes it. Rows change only through the
-- extension's functions: see privileges.sql.

------------------------------------------------------------------------------------------
-- Embedding models
------------------------------------------------------------------------------------------
CREATE TABLE ai.embedding_models (
    id               smallint    GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name             text        NOT NULL UNIQUE,
    dimensions       integer     NOT NULL CHECK (dimensions > 0),
    max_tokens       integer     NOT NULL CHECK (max_tokens > 0),
    pooling          text        NOT NULL CHECK (pooling IN ('mean', 'cls')),
    normalized       boolean     NOT NULL DEFAULT true,
    model_sha256     text,
    tokenizer_sha256 text,
    is_default       boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX embedding_models_one_default ON ai.embedding_models (is_default) WHERE is_default;
COMMENT ON TABLE ai.embedding_models IS 'Embedding models known to ai_architect; every stored vector(384) comes from the default one.';

INSERT INTO ai.embedding_models (name, dimensions, max_tokens, pooling, normalized, is_default)
VALUES ('all-MiniLM-L6-v2', 384, 256, 'mean', true, true);

------------------------------------------------------------------------------------------
-- Schema catalog: what ai.ask retrieves from
------------------------------------------------------------------------------------------
-- Bumped by the DDL event triggers: a sequence, so marking the catalog stale takes no lock
-- and never makes a DDL statement wait.
CREATE SEQUENCE ai.catalog_version;
SELECT pg_catalog.nextval('ai.catalog_version');

CREATE TABLE ai.catalog_state (
    singleton         boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    refreshed_version bigint      NOT NULL DEFAULT 0,   -- ai.catalog_version when the catalog was built
    refreshed_at      timestamptz
);
INSERT INTO ai.catalog_state DEFAULT VALUES;
COMMENT ON TABLE ai.catalog_state IS 'One row: when the catalog was last refreshed, and the ai.catalog_version it had then.';

-- What DDL touched since the catalog was refreshed (written by the event triggers, consumed
-- by the refresh): a relation, or `everything` for a change it cannot narrow down.
CREATE TABLE ai.catalog_changes (
    id         bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    relid      oid,
    everything boolean NOT NULL
);
COMMENT ON TABLE ai.catalog_changes IS 'Relations DDL touched since the last catalog refresh (event triggers write it).';

-- Human descriptions from ai.describe / ai.describe_column; they outlive refreshes.
CREATE TABLE ai.catalog_descriptions (
    schema_name name        NOT NULL,
    table_name  name        NOT NULL,
    column_name name        NOT NULL DEFAULT '',   -- '' for the table itself
    description text,
    updated_by  name        NOT NULL DEFAULT session_user,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, column_name)
);

CREATE TABLE ai.catalog_schemas (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_name   name        NOT NULL UNIQUE,
    schema_oid    oid         NOT NULL,
    comment       text,
    description   text        NOT NULL,
    content_hash  text        NOT NULL,
    embedding     vector(384),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ai.catalog_tables (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schema_id         bigint      NOT NULL REFERENCES ai.catalog_schemas (id) ON DELETE CASCADE,
    schema_name       name        NOT NULL,
    table_name        name        NOT NULL,
    table_oid         oid         NOT NULL,
    relkind           "char"      NOT NULL,              -- r, p, v, m, f
    comment           text,
    human_description text,                              -- from ai.describe()
    row_estimate      bigint,
    description       text        NOT NULL,              -- the text that is embedded
    content_hash      text        NOT NULL,
    embedding         vector(384),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    values_sampled_at timestamptz,                       -- when ai.catalog_values last read it
    values_indexed    boolean     NOT NULL DEFAULT false, -- its values are in ai.catalog_values
    UNIQUE (schema_name, table_name)
);

CREATE TABLE ai.catalog_columns (
    id                bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_id          bigint      NOT NULL REFERENCES ai.catalog_tables (id) ON DELETE CASCADE,
    table_oid         oid         NOT NULL,
    column_name       name        NOT NULL,
    attnum            smallint    NOT NULL,
    ordinal           integer     NOT NULL,
    data_type         text        NOT NULL,
    is_nullable       boolean     NOT NULL,
    is_primary_key    boolean     NOT NULL DEFAULT false,
    comment           text,
    human_description text,                              -- from ai.describe_column()
    sample_values     text[],                            -- low-cardinality text columns, from pg_stats
    description       text        NOT NULL,
    content_hash      text        NOT NULL,
    embedding         vector(384),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (table_id, column_name)
);

CREATE TABLE ai.catalog_relationships (
    id              bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    constraint_name name        NOT NULL,
    from_table_id   bigint      NOT NULL REFERENCES ai.catalog_tables (id) ON DELETE CASCADE,
    from_columns    name[]      NOT NULL,
    to_table_id     bigint      NOT NULL REFERENCES ai.catalog_tables (id) ON DELETE CASCADE,
    to_columns      name[]      NOT NULL,
    on_delete       text        NOT NULL,
    on_update       text        NOT NULL,
    description     text        NOT NULL,
    content_hash    text        NOT NULL,
    embedding       vector(384),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (from_table_id, constraint_name)
);
CREATE INDEX catalog_tables_schema_id ON ai.catalog_tables (schema_id);

-- Everyone may search the catalog, but sees only what they may read themselves: the
-- description of a table they cannot SELECT, or sample values of a column hidden from them,
-- never leaves the catalog.
ALTER TABLE ai.catalog_schemas ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.catalog_schemas FOR SELECT
    USING (pg_catalog.has_schema_privilege(schema_oid, 'USAGE'));
ALTER TABLE ai.catalog_tables ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.catalog_tables FOR SELECT
    USING (pg_catalog.has_table_privilege(table_oid, 'SELECT'));
ALTER TABLE ai.catalog_columns ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.catalog_columns FOR SELECT
    USING (pg_catalog.has_column_privilege(table_oid, attnum, 'SELECT'));
ALTER TABLE ai.catalog_relationships ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.catalog_relationships FOR SELECT
    USING (EXISTS (SELECT 1 FROM ai.catalog_tables f, ai.catalog_tables t
                   WHERE f.id = from_table_id AND t.id = to_table_id));
CREATE INDEX catalog_relationships_to ON ai.catalog_relationships (to_table_id);

-- The values of text columns that questions name ("archived", "Germany"), read at refresh
-- time so that no question reads a user table to find them: for each plain table or
-- materialized view without row-level security, the most frequent values (up to
-- ai_architect.ask_values_per_column, at most 64 characters) among its first 20,000 rows,
-- read through the gateway with the table owner's rights as a restricted operation (the way
-- ANALYZE reads a table). No role but the owner reads this table: ai.ask looks values up for
-- its caller, and returns only those of columns the caller may SELECT, never of a table with
-- row-level security (the same rule as pg_stats).
CREATE TABLE ai.catalog_values (
    table_oid   oid      NOT NULL,
    attnum      smallint NOT NULL,
    value       text     NOT NULL,
    categorical boolean  NOT NULL    -- the column holds few distinct values (a category)
);
CREATE INDEX catalog_values_lower ON ai.catalog_values (pg_catalog.lower(value));
CREATE INDEX catalog_values_table ON ai.catalog_values (table_oid);

------------------------------------------------------------------------------------------
-- The vocabulary: what a word means in this database, taught by a curator (ai.teach) or
-- proposed by anyone (reviewed like samples). ai.ask reads it before anything else.
------------------------------------------------------------------------------------------
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

------------------------------------------------------------------------------------------
-- SQL samples, their usage and feedback
------------------------------------------------------------------------------------------
CREATE TABLE ai.sql_samples (
    id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    question           text        NOT NULL,
    query              text        NOT NULL,
    question_embedding vector(384),
    query_embedding    vector(384),
    complexity         text        NOT NULL DEFAULT 'simple'
                                   CHECK (complexity IN ('simple', 'moderate', 'complex')),
    tags               text[]      NOT NULL DEFAULT '{}',
    tables             text[]      NOT NULL DEFAULT '{}',
    table_oids         oid[]       NOT NULL DEFAULT '{}',   -- resolved when added; drives visibility
    search_path        text        NOT NULL DEFAULT '',     -- the names in query resolve with this
    source             text        NOT NULL DEFAULT 'user'
                                   CHECK (source IN ('seed', 'user', 'feedback', 'llm', 'engine')),
    stale              boolean     NOT NULL DEFAULT false,  -- no longer EXPLAINs after a schema change
    stale_reason       text,
    checked_at         timestamptz,
    from_usage_id      bigint,                              -- promoted from this ai.ask answer
    avg_rating         float8      CHECK (avg_rating BETWEEN 1 AND 5),
    feedback_count     integer     NOT NULL DEFAULT 0,
    last_feedback_at   timestamptz,
    created_by         name        NOT NULL DEFAULT session_user,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- ai.ask uses a sample for a caller only when the caller wrote it or it is reviewed:
    -- written by the extension's owner, a superuser or a curator, or approved by a curator
    -- with ai.review_sample (feedback corrections always start as proposals)
    review             text        NOT NULL DEFAULT 'proposed'
                                   CHECK (review IN ('proposed', 'reviewed', 'rejected')),
    reviewed_by        name,
    reviewed_at        timestamptz
);
CREATE INDEX sql_samples_review ON ai.sql_samples (review) WHERE review = 'proposed';
CREATE INDEX sql_samples_tags ON ai.sql_samples USING gin (tags);
CREATE INDEX sql_samples_tables ON ai.sql_samples USING gin (tables);
CREATE INDEX sql_samples_rating ON ai.sql_samples (avg_rating DESC NULLS LAST);
-- A sample is visible to a role that may SELECT every table it reads.
ALTER TABLE ai.sql_samples ENABLE ROW LEVEL SECURITY;
CREATE POLICY readable ON ai.sql_samples FOR SELECT
    USING (NOT EXISTS (SELECT 1 FROM unnest(table_oids) AS o
                       WHERE NOT coalesce(pg_catalog.has_table_privilege(o, 'SELECT'), false)));

CREATE TABLE ai.query_usage_stats (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    question      text        NOT NULL,
    generated_sql text,
    source        text        CHECK (source IN ('sample', 'engine', 'llm')),
    sample_id     bigint      REFERENCES ai.sql_samples (id) ON DELETE SET NULL,
    similarity    float8,                              -- of the closest stored sample
    confidence    float8,
    executed      boolean     NOT NULL DEFAULT false,
    row_count     bigint,
    elapsed_ms    float8,
    error         text,
    user_name     name        NOT NULL DEFAULT session_user,
    created_at    timestamptz NOT NULL DEFAULT now(),
    unexplained   text[]                               -- question words the answer did not account for
);
CREATE INDEX query_usage_stats_created ON ai.query_usage_stats (created_at);
CREATE INDEX query_usage_stats_sample ON ai.query_usage_stats (sample_id);

-- Functions SQL written by someone else may never call, even built-in IMMUTABLE or STABLE
-- ones and those in ai.allowed_functions. A trailing * is a prefix. The extension owner adds
-- rows: INSERT INTO ai.denied_functions VALUES ('my_fn', 'why').
CREATE TABLE ai.denied_functions (
    pattern  text        PRIMARY KEY CHECK (pattern ~ '^[a-z_][a-z0-9_$]*[*]?$'),
    reason   text,
    added_by name        NOT NULL DEFAULT session_user,
    added_at timestamptz NOT NULL DEFAULT now()
);

-- Functions that are not built in (user-defined, or from other extensions) which SQL written
-- by someone else may call: only what an admin lists here, after reading the function. The
-- extension owner adds rows:
--   INSERT INTO ai.allowed_functions (func, reason) VALUES ('public.f(integer)'::regprocedure, 'why')
CREATE TABLE ai.allowed_functions (
    func     regprocedure PRIMARY KEY,
    reason   text,
    added_by name        NOT NULL DEFAULT session_user,
    added_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ai.query_feedback (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    usage_id      bigint      REFERENCES ai.query_usage_stats (id) ON DELETE CASCADE,
    sample_id     bigint      REFERENCES ai.sql_samples (id) ON DELETE CASCADE,
    rating        smallint    NOT NULL CHECK (rating BETWEEN 1 AND 5),
    is_correct    boolean,
    corrected_sql text,
    comment       text,
    created_by    name        NOT NULL DEFAULT session_user,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (usage_id IS NOT NULL OR sample_id IS NOT NULL)
);
CREATE INDEX query_feedback_usage ON ai.query_feedback (usage_id);
CREATE INDEX query_feedback_sample ON ai.query_feedback (sample_id);

------------------------------------------------------------------------------------------
-- Fix patterns, their relationships, guardian rules, optimization history
------------------------------------------------------------------------------------------
CREATE TABLE ai.fix_patterns (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    title             text        NOT NULL,
    problem_type      text        NOT NULL
                                  CHECK (problem_type IN ('performance', 'security', 'architecture', 'correctness',
                                                          'data_integrity', 'reliability', 'maintainability', 'compatibility')),
    classification    text,                          -- finer label, e.g. 'N+1 query', 'missing index'
    severity          text        NOT NULL DEFAULT 'medium'
                                  CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    -- 1 presentation, 2 API, 3 application logic, 4 data access, 5 database, 6 infrastructure, 7 cross-cutting
    layers            integer[]   NOT NULL DEFAULT '{}' CHECK (layers <@ ARRAY[1, 2, 3, 4, 5, 6, 7]),
    workflows         text[]      NOT NULL DEFAULT '{}',
    file_types        text[]      NOT NULL DEFAULT '{}',   -- extensions without the dot: sql, rs, py
    problem           text        NOT NULL,
    solution          text        NOT NULL,
    code_before       text,
    code_after        text,
    verification      text,
    learnings         text,
    prevention        text,
    related_patterns  uuid[]      NOT NULL DEFAULT '{}',
    metrics           jsonb       NOT NULL DEFAULT '{}',
    guardian_rules    jsonb       NOT NULL DEFAULT '[]',
    anti_patterns     text[]      NOT NULL DEFAULT '{}',   -- regular expressions of the problem in code
    content_embedding vector(384),
    code_embedding    vector(384),
    problem_embedding vector(384),
    reviewed          boolean     NOT NULL DEFAULT false,
    reviewed_by       name,
    reviewed_at       timestamptz,
    applied_count     integer     NOT NULL DEFAULT 0,
    success_count     integer     NOT NULL DEFAULT 0,
    success_rate      float8,
    avg_time_saved    float8,                        -- minutes per successful application
    last_applied      timestamptz,
    created_by        name        NOT NULL DEFAULT session_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fix_patterns_layers ON ai.fix_patterns USING gin (layers);
CREATE INDEX fix_patterns_workflows ON ai.fix_patterns USING gin (workflows);
CREATE INDEX fix_patterns_file_types ON ai.fix_patterns USING gin (file_types);
CREATE INDEX fix_patterns_anti_patterns ON ai.fix_patterns USING gin (anti_patterns);
CREATE INDEX fix_patterns_type ON ai.fix_patterns (problem_type, severity);

CREATE TABLE ai.pattern_relationships (
    source       uuid        NOT NULL REFERENCES ai.fix_patterns (id) ON DELETE CASCADE,
    target       uuid        NOT NULL REFERENCES ai.fix_patterns (id) ON DELETE CASCADE,
    relationship text        NOT NULL CHECK (relationship IN ('prerequisite', 'follows', 'conflicts', 'enhances')),
    strength     numeric     NOT NULL DEFAULT 1 CHECK (strength BETWEEN 0 AND 1),
    description  text,
    reviewed     boolean     NOT NULL DEFAULT true,   -- false: proposed by ai.discover_relationships
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, target, relationship),
    CHECK (source <> target)
);
CREATE INDEX pattern_relationships_target ON ai.pattern_relationships (target);

CREATE TABLE ai.guardian_rules (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL UNIQUE,
    pattern_id   uuid        REFERENCES ai.fix_patterns (id) ON DELETE CASCADE,
    description  text        NOT NULL,
    regex        text        NOT NULL,               -- PostgreSQL regular expression, checked on insert
    layers       integer[]   NOT NULL DEFAULT '{}' CHECK (layers <@ ARRAY[1, 2, 3, 4, 5, 6, 7]),
    file_pattern text,                               -- regular expression on the file path
    severity     text        NOT NULL DEFAULT 'medium'
                             CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    action       text        NOT NULL DEFAULT 'warn' CHECK (action IN ('warn', 'block', 'require_approval')),
    enabled      boolean     NOT NULL DEFAULT true,
    hits         bigint      NOT NULL DEFAULT 0,
    last_hit_at  timestamptz,
    created_by   name        NOT NULL DEFAULT session_user,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX guardian_rules_pattern ON ai.guardian_rules (pattern_id);
CREATE INDEX guardian_rules_layers ON ai.guardian_rules USING gin (layers) WHERE enabled;

CREATE TABLE ai.optimization_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind           text        NOT NULL DEFAULT 'query_rewrite'
                               CHECK (kind IN ('index', 'drop_index', 'query_rewrite', 'config', 'schema', 'maintenance',
                                               'slow_query', 'regression', 'insight')),
    target         text,                             -- table, index or query id
    query_text     text,                             -- the query the advice is about
    recommendation text,
    action_sql     text,
    rationale      text,
    before_metrics jsonb       NOT NULL DEFAULT '{}',
    after_metrics  jsonb,
    gain_pct       float8,
    status         text        NOT NULL DEFAULT 'suggested'
                               CHECK (status IN ('suggested', 'applied', 'verified', 'reverted', 'rejected')),
    pattern_id     uuid        REFERENCES ai.fix_patterns (id) ON DELETE SET NULL,
    embedding      vector(384),
    created_by     name        NOT NULL DEFAULT session_user,
    created_at     timestamptz NOT NULL DEFAULT now(),
    applied_at     timestamptz,
    verified_at    timestamptz
);
CREATE INDEX optimization_log_target ON ai.optimization_log (target, created_at);
CREATE INDEX optimization_log_action ON ai.optimization_log (kind, action_sql);
CREATE INDEX optimization_log_status ON ai.optimization_log (status);
CREATE INDEX optimization_log_pattern ON ai.optimization_log (pattern_id);

------------------------------------------------------------------------------------------
-- Impact analysis
------------------------------------------------------------------------------------------
CREATE TABLE ai.risk_policy (
    setting      text   PRIMARY KEY
                        CHECK (setting IN ('medium_rows', 'high_rows', 'max_fan_out', 'unfiltered_rows', 'large_table_rows')),
    value        float8 NOT NULL CHECK (value >= 0),
    description  text   NOT NULL
);
COMMENT ON TABLE ai.risk_policy IS 'Thresholds of ai.impact''s risk grading; the owner may UPDATE them.';
INSERT INTO ai.risk_policy (setting, value, description) VALUES
    ('medium_rows', 100, 'rows touched (target and cascades) from which a statement is at least MEDIUM'),
    ('high_rows', 10000, 'rows touched above which a statement is HIGH'),
    ('max_fan_out', 10, 'child rows per parent row along a cascade above which a statement is HIGH'),
    ('unfiltered_rows', 1000, 'an UPDATE/DELETE without WHERE on a table with more rows than this is CRITICAL'),
    ('large_table_rows', 100000, 'an ACCESS EXCLUSIVE lock on a table with more rows than this (or in use) is CRITICAL');

CREATE TABLE ai.sensitive_columns (
    schema_name  name NOT NULL,
    table_name   name NOT NULL,
    column_name  name NOT NULL,
    category     text NOT NULL DEFAULT 'sensitive',
    note         text,
    added_by     name NOT NULL DEFAULT session_user,
    added_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name, column_name)
);
COMMENT ON TABLE ai.sensitive_columns IS 'Columns an admin marks as sensitive, beyond those ai.impact recognises by name.';

------------------------------------------------------------------------------------------
-- Approval workflow
------------------------------------------------------------------------------------------
CREATE TABLE ai.approval_policy (
    risk_level          text    PRIMARY KEY CHECK (risk_level IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    required_approvals  integer NOT NULL CHECK (required_approvals >= 0),
    approver_role       name,                         -- NULL: any role but the requester
    row_tolerance_pct   float8  NOT NULL DEFAULT 10 CHECK (row_tolerance_pct >= 0),
    allow_irreversible  boolean NOT NULL DEFAULT false,
    rollback_needs_approval boolean NOT NULL DEFAULT false   -- a rollback is then a request of its own
);
COMMENT ON TABLE ai.approval_policy IS 'Risk level -> approvals needed and the role approvers must belong to. Roles are created by an administrator.';
INSERT INTO ai.approval_policy (risk_level, required_approvals, approver_role) VALUES
    ('LOW', 0, NULL),
    ('MEDIUM', 1, NULL),
    ('HIGH', 1, 'ai_senior'),
    ('CRITICAL', 2, 'ai_senior');

CREATE TABLE ai.approval_requests (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sql            text        NOT NULL,
    normalized_sql text        NOT NULL,
    sql_sha256     text        NOT NULL,
    reason         text,
    impact         jsonb       NOT NULL,
    risk_level     text        NOT NULL CHECK (risk_level IN ('LOW', 'MEDIUM', 'HIGH', 'CRITICAL')),
    state          text        NOT NULL DEFAULT 'pending'
                               CHECK (state IN ('pending', 'approved', 'rejected', 'expired', 'cancelled',
                                                'executed', 'failed', 'rolled_back', 'running')),
    requester      name        NOT NULL DEFAULT session_user,
    database_name  name        NOT NULL DEFAULT current_database(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    decided_at     timestamptz,
    state_reason   text,
    rollback_of    bigint                          -- a request to roll back this execution
);
CREATE INDEX approval_requests_state ON ai.approval_requests (state, expires_at);
CREATE INDEX approval_requests_requester ON ai.approval_requests (requester, created_at);

CREATE TABLE ai.approvals (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint      NOT NULL REFERENCES ai.approval_requests (id) ON DELETE CASCADE,
    approver    name        NOT NULL,
    decision    text        NOT NULL CHECK (decision IN ('approve', 'reject', 'escalate')),
    comment     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (request_id, approver, decision)
);
CREATE INDEX approvals_request ON ai.approvals (request_id);

CREATE TABLE ai.executions (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id    bigint      NOT NULL REFERENCES ai.approval_requests (id),
    executed_by   name        NOT NULL DEFAULT session_user,
    txid          xid8,
    status        text        NOT NULL CHECK (status IN ('succeeded', 'failed', 'rolled_back', 'running', 'rolling_back')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz,
    duration_ms   float8,
    rows_by_table jsonb       NOT NULL DEFAULT '{}',
    error         text,
    rolled_back_at timestamptz,
    rollback_report jsonb,
    -- the rollback plan as the execution resolved it (schema-qualified names)
    rollback_plan jsonb,
    -- a statement run outside a transaction block: the executor's background worker process
    -- and what it records (the statement, its role, indexes left INVALID, ...)
    pid           integer,
    detail        jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX executions_request ON ai.executions (request_id);

CREATE TABLE ai.backups (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    execution_id bigint      NOT NULL REFERENCES ai.executions (id) ON DELETE CASCADE,
    table_oid    oid         NOT NULL,
    table_name   text        NOT NULL,
    operation    text        NOT NULL CHECK (operation IN ('insert', 'update', 'delete')),
    depth        integer     NOT NULL DEFAULT 0,   -- foreign keys away from the target
    pk           jsonb,
    -- row images: the row's text (record_out) under fixed settings, so every value reads back
    -- byte for byte (a float8's last digit, a json's spacing, a timestamptz whatever the TimeZone)
    row_data     text,                              -- before the execution (update, delete)
    row_after    text,                              -- after it (update, insert): later changes are conflicts
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX backups_execution ON ai.backups (execution_id, table_oid);

CREATE TABLE ai.notification_outbox (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    request_id  bigint,
    payload     jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    attempts    integer     NOT NULL DEFAULT 0,
    sent_at     timestamptz,
    last_error  text
);
CREATE INDEX notification_outbox_unsent ON ai.notification_outbox (id) WHERE sent_at IS NULL;
COMMENT ON TABLE ai.notification_outbox IS 'Webhook messages of workflow state changes, written with the change, sent after commit by ai.deliver_notifications().';

------------------------------------------------------------------------------------------
-- Audit trail: hash-chained, append-only
------------------------------------------------------------------------------------------
CREATE TABLE ai.audit_log (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts          timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor       name        NOT NULL DEFAULT session_user,
    action      text        NOT NULL,
    object_type text,
    object_id   text,
    details     jsonb       NOT NULL DEFAULT '{}',
    prev_hash   bytea,
    hash        bytea       NOT NULL
);
CREATE INDEX audit_log_ts ON ai.audit_log (ts);
-- The head of the chain: the newest entry's id and hash and the number of entries, updated in
-- the transaction that appends (its row lock serialises appends; under REPEATABLE READ or
-- SERIALIZABLE a concurrent append is a serialization failure, never a fork). Removing the
-- newest entries leaves the head pointing past them; `mac` seals it with
-- ai_architect.audit_hmac_key when one is set.
CREATE TABLE ai.audit_head (
    one     boolean PRIMARY KEY DEFAULT true CHECK (one),
    last_id bigint  NOT NULL DEFAULT 0,
    entries bigint  NOT NULL DEFAULT 0,
    hash    bytea,
    mac     bytea
);
INSERT INTO ai.audit_head DEFAULT VALUES;
CREATE FUNCTION ai.audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    RAISE EXCEPTION 'ai.audit_log is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'entries are written by the ai.* workflow functions; ai.verify_audit() checks the chain';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON ai.audit_log
    FOR EACH ROW EXECUTE FUNCTION ai.audit_log_is_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON ai.audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION ai.audit_log_is_append_only();
CREATE INDEX audit_log_object ON ai.audit_log (object_type, object_id);

------------------------------------------------------------------------------------------
-- Monitoring: pg_stat_statements over time, and the audits that read it
------------------------------------------------------------------------------------------
CREATE TABLE ai.stat_snapshots (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    taken_at    timestamptz NOT NULL DEFAULT now(),
    stats_reset timestamptz,                     -- pg_stat_statements_info.stats_reset then
    queries     integer     NOT NULL DEFAULT 0,  -- statements that ran since the previous one
    taken_by    name        NOT NULL DEFAULT session_user
);
CREATE INDEX stat_snapshots_taken ON ai.stat_snapshots (taken_at);
COMMENT ON TABLE ai.stat_snapshots IS 'One row per ai.snapshot_stats(); kept for ai_architect.snapshot_retention.';

CREATE TABLE ai.stat_snapshot_queries (
    snapshot_id      bigint NOT NULL REFERENCES ai.stat_snapshots (id) ON DELETE CASCADE,
    queryid          bigint NOT NULL,
    dbid             oid    NOT NULL,
    userid           oid    NOT NULL,
    query            text,
    -- cumulative counters as pg_stat_statements had them
    calls            bigint NOT NULL,
    total_time_ms    float8 NOT NULL,
    rows             bigint NOT NULL,
    shared_blks_hit  bigint NOT NULL,
    shared_blks_read bigint NOT NULL,
    -- what happened since the previous snapshot (the whole counter after a reset)
    d_calls          bigint NOT NULL,
    d_total_time_ms  float8 NOT NULL,
    d_rows           bigint NOT NULL,
    d_shared_blks_hit  bigint NOT NULL,
    d_shared_blks_read bigint NOT NULL,
    PRIMARY KEY (snapshot_id, queryid, dbid, userid)
);
CREATE INDEX stat_snapshot_queries_query ON ai.stat_snapshot_queries (queryid, dbid, userid, snapshot_id DESC);
COMMENT ON TABLE ai.stat_snapshot_queries IS 'Per-statement counters and their deltas; only statements that ran since the previous snapshot.';

CREATE TABLE ai.audit_runs (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    finished_at  timestamptz,
    started_by   name        NOT NULL DEFAULT session_user,
    backend_type text,                           -- client backend, ai_architect worker, pg_cron...
    application  text,
    pid          integer     NOT NULL DEFAULT pg_backend_pid(),
    result       jsonb
);
CREATE INDEX audit_runs_started ON ai.audit_runs (started_at);
COMMENT ON TABLE ai.audit_runs IS 'Every ai.run_audit() that ran (not those skipped because another was running).';

------------------------------------------------------------------------------------------
-- Vector indexes (HNSW, cosine) on every embedding column
------------------------------------------------------------------------------------------
-- (the catalog's tables: ai.ask takes the closest ones of a large schema; its columns are
-- compared with a question one table at a time, and schemas and relationships are described
-- but not embedded)
CREATE INDEX catalog_tables_embedding ON ai.catalog_tables USING hnsw (embedding vector_cosine_ops);
CREATE INDEX sql_samples_question_embedding ON ai.sql_samples USING hnsw (question_embedding vector_cosine_ops);
CREATE INDEX sql_samples_query_embedding ON ai.sql_samples USING hnsw (query_embedding vector_cosine_ops);
CREATE INDEX fix_patterns_content_embedding ON ai.fix_patterns USING hnsw (content_embedding vector_cosine_ops);
CREATE INDEX fix_patterns_code_embedding ON ai.fix_patterns USING hnsw (code_embedding vector_cosine_ops);
CREATE INDEX fix_patterns_problem_embedding ON ai.fix_patterns USING hnsw (problem_embedding vector_cosine_ops);
CREATE INDEX optimization_log_embedding ON ai.optimization_log USING hnsw (embedding vector_cosine_ops);

------------------------------------------------------------------------------------------
-- What each table is for (shown by \dt+ and the demo)
------------------------------------------------------------------------------------------
COMMENT ON TABLE ai.catalog_descriptions IS 'Human descriptions of tables and columns (ai.describe), kept across catalog refreshes.';
COMMENT ON TABLE ai.catalog_schemas IS 'Schema catalog: one embedded description per user schema.';
COMMENT ON TABLE ai.catalog_tables IS 'Schema catalog: tables and views with their description text and embedding.';
COMMENT ON TABLE ai.catalog_columns IS 'Schema catalog: columns with types, keys, sample values and embedding.';
COMMENT ON TABLE ai.catalog_relationships IS 'Schema catalog: foreign keys, the join paths ai.ask follows.';
COMMENT ON TABLE ai.catalog_values IS 'Schema catalog: sampled values of text columns, looked up by ai.ask for its caller (read by the owner only).';
COMMENT ON TABLE ai.vocabulary IS 'What words mean in this database (tables, columns, measures, filters, relationships), read by ai.ask before anything else.';
COMMENT ON TABLE ai.sql_samples IS 'Question/SQL pairs that answer similar questions directly, rated by feedback.';
COMMENT ON TABLE ai.query_usage_stats IS 'Every ai.ask call: the SQL, where it came from, how it ran.';
COMMENT ON TABLE ai.denied_functions IS 'Functions generated SQL may not call, beyond the built-in list (lower case, * = prefix).';
COMMENT ON TABLE ai.query_feedback IS 'Ratings and corrections of generated SQL.';
COMMENT ON TABLE ai.fix_patterns IS 'Known problems with their fix, verification and prevention, embedded three ways.';
COMMENT ON TABLE ai.pattern_relationships IS 'How fix patterns relate: prerequisite, follows, conflicts, enhances.';
COMMENT ON TABLE ai.guardian_rules IS 'Regular-expression checks, written by hand or derived from reviewed fix patterns, that warn or block.';
COMMENT ON TABLE ai.optimization_log IS 'Optimizations suggested and applied, with their measured gains.';
COMMENT ON TABLE ai.approval_requests IS 'Risky statements waiting for, or past, approval.';
COMMENT ON TABLE ai.approvals IS 'Decisions on requests: one person counts once.';
COMMENT ON TABLE ai.executions IS 'Executions of approved requests: transaction, duration, rows per table.';
COMMENT ON TABLE ai.backups IS 'Before-image of every row an execution touched, for ai.rollback.';
COMMENT ON TABLE ai.audit_log IS 'Append-only, hash-chained trail of every workflow action.';

------------------------------------------------------------------------------------------
-- Conversations (ai.chat): each person sees only their own sessions
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

------------------------------------------------------------------------------------------
-- pg_dump keeps what users wrote: their rows are dumped with the database (seeded tables
-- are not: CREATE EXTENSION recreates their rows).
------------------------------------------------------------------------------------------
SELECT pg_catalog.pg_extension_config_dump('ai.catalog_descriptions', '');
SELECT pg_catalog.pg_extension_config_dump('ai.sensitive_columns', '');
SELECT pg_catalog.pg_extension_config_dump('ai.vocabulary', '');
SELECT pg_catalog.pg_extension_config_dump('ai.vocabulary_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.sql_samples', '');
SELECT pg_catalog.pg_extension_config_dump('ai.sql_samples_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.query_usage_stats', '');
SELECT pg_catalog.pg_extension_config_dump('ai.query_usage_stats_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.query_feedback', '');
SELECT pg_catalog.pg_extension_config_dump('ai.denied_functions', '');
SELECT pg_catalog.pg_extension_config_dump('ai.allowed_functions', '');
SELECT pg_catalog.pg_extension_config_dump('ai.query_feedback_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.fix_patterns', '');
SELECT pg_catalog.pg_extension_config_dump('ai.pattern_relationships', '');
SELECT pg_catalog.pg_extension_config_dump('ai.guardian_rules', '');
SELECT pg_catalog.pg_extension_config_dump('ai.guardian_rules_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.optimization_log', '');
SELECT pg_catalog.pg_extension_config_dump('ai.optimization_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.approval_requests', '');
SELECT pg_catalog.pg_extension_config_dump('ai.approval_requests_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.approvals', '');
SELECT pg_catalog.pg_extension_config_dump('ai.approvals_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.executions', '');
SELECT pg_catalog.pg_extension_config_dump('ai.executions_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.backups', '');
SELECT pg_catalog.pg_extension_config_dump('ai.backups_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('ai.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('ai.chat_messages', '');
SELECT pg_catalog.pg_extension_config_dump('ai.chat_messages_id_seq', '');
