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
