-- One jsonb array: every user table, view, materialized view and foreign table with its
-- columns, primary key, foreign keys, comments, human descriptions, row estimate and a few
-- sample values of low-cardinality text columns (from pg_stats), never of a table with
-- row-level security: the catalog is readable by every role that may read the column, and
-- the policy may hide those rows from some of them.
-- $1: schemas to include (NULL: every user schema).
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.relrowsecurity
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
      AND NOT c.relispartition
      AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai', 'cron')
      AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
      AND ($1::text[] IS NULL OR n.nspname = ANY ($1::text[]))
      -- objects that belong to an extension (pgvector, pg_stat_statements, ...) are not user data
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                      WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                        AND d.objid = c.oid AND d.deptype = 'e')
)
SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
    'oid', r.oid::bigint,
    'schema', r.nspname,
    'name', r.relname,
    'relkind', r.relkind::text,
    'comment', pg_catalog.obj_description(r.oid, 'pg_class'),
    'human', (SELECT d.description FROM ai.catalog_descriptions d
              WHERE d.schema_name = r.nspname AND d.table_name = r.relname AND d.column_name = ''),
    'rows', GREATEST(r.reltuples, 0)::bigint,
    'columns', coalesce((
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'name', a.attname,
            'attnum', a.attnum,
            'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
            'not_null', a.attnotnull,
            'pk', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p
                          WHERE p.conrelid = r.oid AND p.contype = 'p' AND a.attnum = ANY (p.conkey)),
            'comment', pg_catalog.col_description(r.oid, a.attnum),
            'human', (SELECT d.description FROM ai.catalog_descriptions d
                      WHERE d.schema_name = r.nspname AND d.table_name = r.relname AND d.column_name = a.attname),
            'samples', coalesce((
                SELECT (pg_catalog.array_to_json(((s.most_common_vals::text)::text[])[1:5]))::jsonb
                FROM pg_catalog.pg_stats s
                WHERE s.schemaname = r.nspname AND s.tablename = r.relname AND s.attname = a.attname
                  AND a.atttypid IN ('text'::pg_catalog.regtype, 'varchar'::pg_catalog.regtype,
                                     'bpchar'::pg_catalog.regtype, 'name'::pg_catalog.regtype)
                  AND s.n_distinct BETWEEN 1 AND 50
                  AND NOT r.relrowsecurity
                  AND s.most_common_vals IS NOT NULL), '[]'::jsonb)
        ) ORDER BY a.attnum)
        FROM pg_catalog.pg_attribute a
        WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb),
    'fks', coalesce((
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'name', f.conname,
            'columns', (SELECT pg_catalog.jsonb_agg(a.attname ORDER BY k.i)
                        FROM unnest(f.conkey) WITH ORDINALITY k(n, i)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n),
            'ref_schema', rn.nspname,
            'ref_table', rc.relname,
            'ref_columns', (SELECT pg_catalog.jsonb_agg(a.attname ORDER BY k.i)
                            FROM unnest(f.confkey) WITH ORDINALITY k(n, i)
                            JOIN pg_catalog.pg_attribute a ON a.attrelid = f.confrelid AND a.attnum = k.n),
            'on_delete', CASE f.confdeltype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                            WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END,
            'on_update', CASE f.confupdtype WHEN 'a' THEN 'NO ACTION' WHEN 'r' THEN 'RESTRICT' WHEN 'c' THEN 'CASCADE'
                                            WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END
        ) ORDER BY f.conname)
        FROM pg_catalog.pg_constraint f
        JOIN pg_catalog.pg_class rc ON rc.oid = f.confrelid
        JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
        WHERE f.conrelid = r.oid AND f.contype = 'f'), '[]'::jsonb)
) ORDER BY r.nspname, r.relname), '[]'::jsonb)
FROM rels r
