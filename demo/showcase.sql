-- ai_architect showcase: every ai.* function that exists, on the Chinook database.
\pset footer off
\pset format wrapped
\pset columns 140
\echo
\echo '== ai.version(): is everything installed and working?'
SELECT v->>'extension_version'            AS extension,
       v->>'pgrx_version'                 AS pgrx,
       v->>'postgres_version'             AS postgres,
       v->'onnxruntime'->>'version'       AS onnxruntime,
       v->'onnxruntime'->>'loads'         AS runtime_loads,
       v->>'embeddings_ready'             AS embeddings_ready,
       v->>'preloaded'                    AS preloaded
FROM ai.version() AS v;

\echo '== the installed assets, with checksums'
SELECT a.key AS asset, a.value->>'path' AS path,
       pg_size_pretty((a.value->>'size_bytes')::bigint) AS size,
       left(a.value->>'sha256', 16) || '…' AS sha256
FROM ai.version() AS v, jsonb_each(v) AS a
WHERE a.key IN ('model', 'tokenizer')
ORDER BY 1;

\echo '== background worker and LLM'
SELECT v->'worker'->>'detail' AS worker,
       CASE WHEN (v->'llm'->>'configured')::boolean THEN 'LLM at ' || (v->'llm'->>'base_url')
            ELSE 'no LLM configured: the in-process engine answers' END AS llm
FROM ai.version() AS v;

\echo '== a diagnosis, not a crash: point the runtime at a wrong path'
SET ai_architect.onnxruntime_path = '/opt/missing/libonnxruntime.so';
SELECT v->'onnxruntime'->>'error' AS error, v->'onnxruntime'->>'hint' AS hint FROM ai.version() AS v;
RESET ai_architect.onnxruntime_path;

\echo '== ai.embed(): in-process embeddings (all-MiniLM-L6-v2, 384 dims), compared with pgvector'
\echo '   Chinook genres closest in meaning to a question:'
SELECT name AS genre,
       round((1 - (ai.embed(name) <=> ai.embed('calm relaxing background music')))::numeric, 3) AS similarity
FROM genre ORDER BY similarity DESC LIMIT 5;
\echo '   one call embeds a whole column (one ONNX run per batch):'
SELECT count(*) AS albums, vector_dims((ai.embed(array_agg(title)))[1]) AS dims FROM album;

\echo '== ai.refresh_catalog(): every table, column and foreign key described and embedded'
SELECT * FROM ai.refresh_catalog();
\echo '   run again: nothing changed, nothing embedded again'
SELECT * FROM ai.refresh_catalog();
SELECT description FROM ai.catalog_tables WHERE table_name = 'invoice';

\echo '== ai.search_catalog(): which tables and columns answer a question (meaning + names)'
SELECT kind, table_name, column_name, round(score::numeric, 3) AS score, round(similarity::numeric, 3) AS similarity
FROM ai.search_catalog('Which customers spent the most on invoices?', 6);
\echo '   a human description teaches the catalog the business words'
SELECT ai.describe('media_type', 'The audio file format a track is sold in, such as MP3 or AAC');
SELECT kind, table_name, column_name, round(score::numeric, 3) AS score FROM ai.search_catalog('audio file format', 3);

\echo '== SQL samples: questions with the SQL that answers them (must parse and plan)'
SELECT ai.add_sample('How many tracks does each genre have?',
  'SELECT g.name, count(*) AS tracks FROM genre g JOIN track t ON t.genre_id = g.genre_id GROUP BY g.name ORDER BY tracks DESC',
  ARRAY['count', 'group']) AS sample_id;
SELECT ai.add_sample('Which customers spent the most?',
  'SELECT c.first_name, c.last_name, sum(i.total) AS spent FROM customer c JOIN invoice i ON i.customer_id = c.customer_id GROUP BY c.customer_id ORDER BY spent DESC LIMIT 10') AS sample_id;
\echo '   a similar question finds the sample by meaning:'
SELECT id, question, round(similarity::numeric, 3) AS similarity FROM ai.similar_samples('top buyers by money spent', 2);
\echo '   bad SQL is refused with the parser or planner message:'
\set ON_ERROR_STOP off
SELECT ai.add_sample('broken', 'SELECT * FROM invoices');
\set ON_ERROR_STOP on

\echo '== fix patterns: lessons learned, found by problem, scored by confidence'
SELECT ai.add_fix_pattern(title => 'Missing index on a foreign key', problem_type => 'performance', severity => 'high',
  problem => 'Deleting a customer scans all invoices because invoice.customer_id has no index',
  solution => 'CREATE INDEX CONCURRENTLY ON invoice (customer_id)', layers => ARRAY[5], file_types => ARRAY['sql'],
  reviewed => true) IS NOT NULL AS added;
SELECT ai.add_fix_pattern(title => 'SQL built by string concatenation', problem_type => 'security', severity => 'critical',
  problem => 'User input concatenated into SQL allows injection', solution => 'Use bind parameters',
  layers => ARRAY[3, 4], anti_patterns => ARRAY['execute\(.*\+'], reviewed => true) IS NOT NULL AS added;
SELECT title, round(similarity::numeric, 3) AS similarity, round(confidence::numeric, 3) AS confidence
FROM ai.search_patterns('removing a customer takes minutes', layers => ARRAY[5], file_extension => 'sql',
                        similarity_threshold => 0.3);
\echo '   the reviewed security pattern became a guardian rule:'
SELECT name, severity, action, matched FROM ai.check_guardian_rules('cur.execute("DELETE FROM t WHERE id=" + uid)', 4);

\echo '== optimization memory: seen before?'
SELECT ai.remember_optimization('SELECT * FROM invoice WHERE billing_country = $1',
  'CREATE INDEX CONCURRENTLY ON invoice (billing_country)', 87.5) AS remembered;
SELECT recommendation, performance_gain, round(similarity::numeric, 3) AS similarity
FROM ai.similar_optimizations('select invoice_id, total from invoice where billing_country = ''Brazil''', 1);

\echo '== ai.impact_report(): what a statement would really touch, before it runs'
\echo '   deleting a customer: Chinook''s foreign keys are NO ACTION, so the invoices block it'
\pset format unaligned
\pset tuples_only on
SELECT ai.impact_report('DELETE FROM customer WHERE customer_id = 1', 'exact');
\echo
\echo '   a price change on a whole genre, counted exactly (read-only counting queries)'
SELECT ai.impact_report('UPDATE track SET unit_price = unit_price * 1.1 WHERE genre_id = 1', 'exact');
\echo
\echo '   dry run: the statement runs in a subtransaction that is always rolled back'
SELECT ai.impact_report('DELETE FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE customer_id = 1)', 'dry_run');
\echo
\echo '   a migration: locks, table rewrite, the squawk linter, the inverse statement'
SELECT ai.impact_report('ALTER TABLE invoice ALTER COLUMN total TYPE numeric(12, 2)');
\echo
\pset tuples_only off
\pset format wrapped
\echo '   the same as jsonb, for programs: risk and counts per table'
SELECT i->>'risk_level' AS risk, i->>'will_fail' AS will_fail, t->>'table' AS "table", t->>'operation' AS operation,
       t->>'rows_exact' AS rows
FROM ai.impact('DELETE FROM invoice WHERE invoice_id = 98', 'exact') AS i, jsonb_array_elements(i->'tables') AS t;

\echo '== the approval workflow: request -> approve (another person) -> execute with backup -> rollback'
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_alice') THEN CREATE ROLE demo_alice; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'demo_bob') THEN CREATE ROLE demo_bob; END IF;
END $$;
GRANT SELECT ON invoice TO demo_alice;
GRANT SELECT, INSERT, DELETE ON invoice_line TO demo_alice;   -- INSERT: the rollback re-inserts
SET SESSION AUTHORIZATION demo_alice;
\echo '   alice asks to delete every invoice line billed to Brazil (MEDIUM: one approval by someone else)'
SELECT ai.request('DELETE FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE billing_country = ''Brazil'')', 'test data cleanup') AS request \gset
SELECT id, state, risk_level, requester, approvals, required, statement FROM ai.requests() WHERE id = :request;
\set ON_ERROR_STOP off
\echo '   alice cannot approve her own request:'
SELECT ai.approve(:request);
\set ON_ERROR_STOP on
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_bob;
SELECT ai.approve(:request, 'checked with finance') AS state;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION demo_alice;
\echo '   alice runs it: every row is backed up first, the rows per table are checked after'
SELECT ai.execute(:request) AS result \gset
SELECT :'result'::jsonb ->> 'status' AS status, :'result'::jsonb -> 'rows_by_table' AS rows_by_table,
       ai.request_status(:request) -> 'executions' -> 0 ->> 'backed_up_rows' AS rows_backed_up;
SELECT count(*) AS brazil_lines FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE billing_country = 'Brazil');
\echo '   and undoes it in one call'
SELECT ai.rollback((:'result'::jsonb ->> 'execution')::bigint) -> 'restored' AS restored;
SELECT count(*) AS brazil_lines FROM invoice_line WHERE invoice_id IN (SELECT invoice_id FROM invoice WHERE billing_country = 'Brazil');
RESET SESSION AUTHORIZATION;
\echo '   the trail, hash-chained and verified'
SELECT id, actor, action, object_id AS request, left(encode(hash, 'hex'), 12) || '…' AS hash FROM ai.audit_log ORDER BY id;
SELECT ai.verify_audit();

\echo '== index advice for the real workload (pg_stat_statements, checked with HypoPG hypothetical indexes)'
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
RESET client_min_messages;
\echo '   a short workload: four statement shapes, 25 calls each, different values every time'
\o /dev/null
SELECT format('SELECT track_id, name FROM track WHERE composer = %L ORDER BY milliseconds DESC LIMIT 5', c)
  FROM (SELECT DISTINCT composer AS c FROM track WHERE composer IS NOT NULL ORDER BY 1 LIMIT 25) x \gexec
SELECT format('SELECT invoice_id, total FROM invoice WHERE billing_country = %L AND invoice_date >= %L', c, d)
  FROM (SELECT DISTINCT billing_country AS c FROM invoice ORDER BY 1 LIMIT 25) x,
       LATERAL (SELECT date '2025-01-01' + length(c) AS d) y \gexec
SELECT format('SELECT count(*), sum(unit_price) FROM track WHERE milliseconds BETWEEN %s AND %s', g * 10000, g * 10000 + 30000)
  FROM generate_series(1, 25) g \gexec
SELECT format('UPDATE track SET bytes = bytes WHERE track_id = %s', g) FROM generate_series(1, 25) g \gexec
\o
SELECT ai.suggest_indexes_report();
\echo '   the same as rows, for scripts and dashboards'
SELECT index_sql, cost_reduction_pct, queries_helped FROM ai.suggest_indexes();

\echo '== insights: what a DBA should look at'
SELECT category, severity, object, remediation_sql FROM ai.insights();

\echo '== questions in plain language, no LLM: the in-process engine (ai.ask)'
SELECT q AS question, a->>'source' AS source, a->>'confidence' AS confidence,
       regexp_replace(a->>'sql', '\s+', ' ', 'g') AS sql, a->'rows' AS rows
  FROM unnest(ARRAY['How many tracks are in the genre Rock?', 'Which artist has the most albums?',
                    'Top 3 customers by total spent', 'How many invoices were issued in March 2022?']) q,
       LATERAL ai.ask(q, true, 3) a;
\echo '   psql-friendly: one row per result row, the SQL as a NOTICE (ai.ask_table)'
SELECT * FROM ai.ask_table('Number of customers per country', 3);
\echo '   a question it does not understand says so instead of guessing'
SELECT a->>'error' AS error FROM ai.ask('What is the meaning of life?') a;

\echo '== a conversation: follow-ups read against the previous question (ai.chat)'
SELECT m AS message, t->>'question' AS understood_as, t->>'answer' AS answer
  FROM unnest(ARRAY['How many invoices were issued in 2022?', 'and in 2023?', 'only for Germany',
                    'show them', 'sorted by total']) WITH ORDINALITY u(m, n),
       LATERAL ai.chat('demo', m) t
 ORDER BY n;

\echo '== a schema review (ai.lint_schema) and a diagram (ai.erd, Mermaid)'
SELECT rule, severity, object, fix_sql FROM ai.lint_schema();
SELECT ai.erd();

\echo '== a schema change in plain language, filed as an approval request (ai.propose_ddl)'
SELECT p->'ddl'->>0 AS ddl, p->>'state' AS state, p->>'next' AS next
  FROM ai.propose_ddl('add a table track_review with a rating from 1 to 5 and a comment, linked to track') p;

\echo '== a plan with its anti-patterns (ai.explain, run read-only and rolled back)'
SELECT f->>'issue' AS issue, f->>'severity' AS severity, f->>'detail' AS detail, f->>'suggestion' AS suggestion
  FROM jsonb_array_elements(ai.explain('SELECT * FROM invoice_line WHERE unit_price * quantity = 0.99', true)->'findings') f;

\echo '== the semantic memory and workflow state, in schema ai'
SELECT c.relname AS table, obj_description(c.oid, 'pg_class') AS comment,
       (SELECT count(*) FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
         JOIN pg_am am ON am.oid = ic.relam WHERE i.indrelid = c.oid AND am.amname = 'hnsw') AS hnsw_indexes
FROM pg_class c
WHERE c.relnamespace = 'ai'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

\echo '== approval routing by risk (ai.approval_policy)'
SELECT risk_level, required_approvals,
       coalesce(approver_role::text, 'any role but the requester') AS approver
FROM ai.approval_policy ORDER BY required_approvals, risk_level;

\echo '== configuration (SHOW ai_architect.*)'
SELECT name, setting || coalesce(' ' || unit, '') AS value, short_desc
FROM pg_settings WHERE name LIKE 'ai\_architect.%' ORDER BY 1;
