-- Runs last. Only the extension owner may touch state tables directly; everyone else
-- goes through ai.* functions, and PUBLIC may call only the read-only helpers.
-- Only the extension's own objects: schema ai may hold other extensions' objects too (pgai's
-- vectorizer tables, say), whose grants are theirs.
DO $revoke$
DECLARE
    o record;
BEGIN
    FOR o IN
        SELECT format('%s %s', CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, c.oid::pg_catalog.regclass) AS obj
          FROM pg_catalog.pg_class c
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = c.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ai_architect'
         WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
        UNION ALL
        SELECT format('ROUTINE %s', p.oid::pg_catalog.regprocedure)
          FROM pg_catalog.pg_proc p
          JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid AND d.deptype = 'e'
          JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'ai_architect'
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', o.obj);
    END LOOP;
END
$revoke$;
GRANT USAGE ON SCHEMA ai TO PUBLIC;

-- read-only helpers
GRANT EXECUTE ON FUNCTION ai.version() TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.embed(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.embed(text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.search_catalog(text, integer) TO PUBLIC;
-- these check that the caller owns the table they describe
GRANT EXECUTE ON FUNCTION ai.describe(regclass, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.describe_column(regclass, text, text) TO PUBLIC;

-- The catalog is readable by everyone, row by row as far as their own privileges go
-- (row-level security in schema.sql).
GRANT SELECT ON ai.catalog_schemas, ai.catalog_tables, ai.catalog_columns, ai.catalog_relationships TO PUBLIC;

-- semantic memory: everyone may look up samples (row-level security: only over tables they
-- may read) and rate their own answers; adding samples and the optimization history are
-- for roles an admin grants them to.
GRANT EXECUTE ON FUNCTION ai.similar_samples(text, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.feedback(bigint, integer, boolean, text, text) TO PUBLIC;
GRANT SELECT ON ai.sql_samples TO PUBLIC;
-- the function itself admits only the owner, superusers and members of the curator role
GRANT EXECUTE ON FUNCTION ai.review_sample(bigint, boolean) TO PUBLIC;

-- the vocabulary: everyone may read the words about tables they may read (row-level
-- security), propose one (ai.teach judges it as the caller) and forget their own proposals;
-- a curator's word is used at once, and only curators review, forget others' words and read
-- the unknown words of everyone's questions (the functions check)
GRANT SELECT ON ai.vocabulary TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.teach(text, regclass, text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.review_word(bigint, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.forget_word(text, regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.unknown_words(interval, integer) TO PUBLIC;

-- questions in plain language: the SQL runs with the caller's own rights (SECURITY INVOKER),
-- read-only; the deny-list is readable so everyone can see what generated SQL may not call
GRANT EXECUTE ON FUNCTION ai.ask(text, boolean, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.generate_sql(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.ask_table(text, integer) TO PUBLIC;
GRANT SELECT ON ai.denied_functions, ai.allowed_functions TO PUBLIC;
-- what ai_architect would run for someone, and why (analysis only, nothing runs)
GRANT EXECUTE ON FUNCTION ai.check_sql(text) TO PUBLIC;

-- fix patterns are a shared knowledge base: readable by all, written by granted roles
GRANT SELECT ON ai.fix_patterns, ai.pattern_relationships, ai.guardian_rules TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.search_patterns(text, integer[], text[], text, numeric, double precision, integer, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.related_patterns(uuid, text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.check_guardian_rules(text, integer, text) TO PUBLIC;

-- impact analysis runs with the caller's rights and reveals only what the caller may read;
-- its policy and the list of sensitive columns are readable configuration
GRANT EXECUTE ON FUNCTION ai.impact(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.impact_report(text, text) TO PUBLIC;
GRANT SELECT ON ai.risk_policy, ai.sensitive_columns TO PUBLIC;

-- the approval workflow: anyone may ask, decide and execute within the rules the functions
-- enforce (requester never approves, role membership per risk level, statements run with the
-- caller's own rights); the trail is verified by those an admin grants it to
GRANT EXECUTE ON FUNCTION ai.request(text, text, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.apply_advice(text[], text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.approve(bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.reject(bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.escalate(bigint, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.cancel(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.execute(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.rollback(bigint, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.request_status(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.requests(text, integer, bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.expire_requests() TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.request_rollback(bigint, text) TO PUBLIC;

-- index advice and monitoring run with the caller's rights: pg_stat_statements shows others'
-- query texts only to roles with pg_read_all_stats, pg_stat_activity likewise; EXPLAIN plans
-- only what the caller may read
GRANT EXECUTE ON FUNCTION ai.suggest_indexes(text, integer, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.suggest_indexes_report(text, integer, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.top_queries(integer, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.explain(text, boolean) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.insights() TO PUBLIC;
-- the periodic architect writes the shared history: for monitoring roles (and the owner)
GRANT EXECUTE ON FUNCTION ai.snapshot_stats() TO pg_monitor;
GRANT EXECUTE ON FUNCTION ai.run_audit() TO pg_monitor;
GRANT SELECT ON ai.stat_snapshots, ai.stat_snapshot_queries, ai.audit_runs TO pg_monitor;

-- the conversation runs each tool with the caller's rights; the turns are the caller's own
-- (row-level security in schema.sql: one sees only one's own sessions)
GRANT EXECUTE ON FUNCTION ai.chat(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.chat_history(text) TO PUBLIC;
GRANT SELECT ON ai.chat_messages TO PUBLIC;
-- the schema review and the diagrams read the catalog with the caller's rights
GRANT EXECUTE ON FUNCTION ai.lint_schema(text[]) TO PUBLIC;
GRANT EXECUTE ON FUNCTION ai.erd(text[], text) TO PUBLIC;
-- schema changes in plain language become approval requests of the caller's (nothing runs)
GRANT EXECUTE ON FUNCTION ai.propose_ddl(text) TO PUBLIC;
-- counts of what the architect did, for monitoring (postgres_exporter runs as pg_monitor)
GRANT EXECUTE ON FUNCTION ai.metrics() TO pg_monitor;
