-- CREATE EXTENSION installs the state schema and reports a working runtime.
CREATE EXTENSION ai_architect CASCADE;

-- (pgvector's version is the one built for the server: 0.8.0 on 15, 0.8.2 on 17 and 18)
SELECT extname, CASE WHEN extname = 'vector' THEN extversion >= '0.8.0' ELSE extversion = '0.3.0' END AS version_ok,
       extnamespace::regnamespace AS schema, extrelocatable
FROM pg_extension WHERE extname IN ('ai_architect', 'vector') ORDER BY 1;

-- the state tables
SELECT c.relname
FROM pg_class c
WHERE c.relnamespace = 'ai'::regnamespace AND c.relkind = 'r'
ORDER BY 1;

-- HNSW cosine indexes on every embedding column, GIN on the array columns
SELECT tablename, indexname
FROM pg_indexes
WHERE schemaname = 'ai' AND (indexdef LIKE '%USING hnsw%vector_cosine_ops%' OR indexdef LIKE '%USING gin%')
ORDER BY 1, 2;

-- seed rows
SELECT name, dimensions, max_tokens, pooling, normalized, is_default FROM ai.embedding_models;
SELECT risk_level, required_approvals, approver_role, row_tolerance_pct, allow_irreversible
FROM ai.approval_policy ORDER BY required_approvals, risk_level;
SELECT (SELECT last_value FROM ai.catalog_version) > refreshed_version AS catalog_stale FROM ai.catalog_state;

-- ai.version(): everything a DBA needs to know the install works
SELECT key FROM jsonb_object_keys(ai.version()) AS key ORDER BY 1;
SELECT v->>'extension_version' = v->>'installed_version' AS versions_match,
       v->>'pgrx_version' AS pgrx,
       split_part(v->>'postgres_version', '.', 1) = (current_setting('server_version_num')::int / 10000)::text AS pg_major,
       v->'onnxruntime'->>'loads' AS ort_loads,
       v->'onnxruntime'->>'version' AS ort_version,
       v->'model'->>'exists' AS model_exists,
       length(v->'model'->>'sha256') AS sha256_len,
       v->'tokenizer'->>'exists' AS tokenizer_exists,
       v->>'embeddings_ready' AS embeddings_ready,
       v->>'preloaded' AS preloaded
FROM ai.version() AS v;

-- a wrong path is diagnosed, naming the setting and the path, not a crash
SET ai_architect.model_path = '/nonexistent/model.onnx';
SELECT v->'model'->>'exists' AS exists, v->'model'->>'error' AS error, v->>'embeddings_ready' AS ready
FROM ai.version() AS v;
RESET ai_architect.model_path;

-- every setting, with its default
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'ai\_architect.%' ORDER BY 1;
