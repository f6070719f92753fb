-- The one introspection of the user schema, shared by the catalog (ai.refresh_catalog, ai.ask),
-- the schema lint and the diagram: one jsonb array of relations with their columns, keys,
-- foreign keys, comments, human descriptions, row estimates and statistics.
-- $1: schemas to include (NULL: every user schema).
-- $2: relation kinds ('r', 'p', 'v', 'm', 'f').
-- $3: only relations the current role may read (some column of) — the lint and the diagram,
--     which run with the caller's rights; the catalog reads everything as its owner and
--     filters by the reader's rights when it is read.
-- $4: only these relations (NULL: all of them) — the catalog's refresh after DDL.
-- The two `human` fields are placeholders (table_human and column_human, in braces) that
-- schema.rs fills with the descriptions of ai.catalog_descriptions (which only the extension
-- owner reads) or with NULL.
-- Sample values (`samples`) come from pg_stats for low-cardinality text columns and never of a
-- table with row-level security: the catalog is readable by every role that may read the
-- column, and the policy may hide those rows from some of them. `values` (the lint's
-- enum-like columns) are pg_stats as the current role sees it.
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.relkind, c.reltuples, c.relrowsecurity
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind::text = ANY ($2::text[])
       AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai', 'cron')
       AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
       AND ($1::text[] IS NULL OR n.nspname = ANY ($1::text[]))
       AND ($4::oid[] IS NULL OR c.oid = ANY ($4::oid[]))
       -- objects that belong to an extension (pgvector, pg_stat_statements, ...) are not user data
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
       AND (NOT $3::bool
            OR pg_catalog.has_table_privilege(c.oid, 'SELECT')
            OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT'))
), kw AS (
    SELECT k.word, k.catcode::text AS catcode FROM pg_catalog.pg_get_keywords() k
)
SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
    'oid', r.oid::bigint,
    'schema', r.nspname,
    'name', r.relname,
    'relkind', r.relkind::text,
    'name_quoted', pg_catalog.quote_ident(r.relname) <> r.relname,
    'keyword', (SELECT kw.catcode FROM kw WHERE kw.word = r.relname),
    'comment', pg_catalog.obj_description(r.oid, 'pg_class'),
    'human', {table_human},
    'rows', GREATEST(r.reltuples, 0)::bigint,
    'analyzed', r.reltuples >= 0,
    'has_pk', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p WHERE p.conrelid = r.oid AND p.contype = 'p'),
    'columns', coalesce((
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'name', a.attname,
            'attnum', a.attnum,
            'name_quoted', pg_catalog.quote_ident(a.attname) <> a.attname,
            'keyword', (SELECT kw.catcode FROM kw WHERE kw.word = a.attname),
            'type', pg_catalog.format_type(a.atttypid, a.atttypmod),
            'base', t.typname,
            'length', CASE WHEN t.typname = 'bpchar' AND a.atttypmod > 4 THEN a.atttypmod - 4 END,
            'not_null', a.attnotnull,
            'identity', a.attidentity <> '',
            'pk', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p
                           WHERE p.conrelid = r.oid AND p.contype = 'p' AND a.attnum = ANY (p.conkey)),
            'checked', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                                WHERE k.conrelid = r.oid AND k.contype = 'c' AND a.attnum = ANY (k.conkey)),
            'unique_alone', EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                     WHERE i.indrelid = r.oid AND i.indisunique AND i.indisvalid AND i.indnkeyatts = 1
                                       AND i.indkey[0] = a.attnum AND i.indpred IS NULL),
            'serial_sequence', CASE WHEN r.relkind IN ('r', 'p')
                THEN pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(r.nspname) || '.' || pg_catalog.quote_ident(r.relname), a.attname) END,
            'comment', pg_catalog.col_description(r.oid, a.attnum),
            'human', {column_human},
            'null_frac', s.null_frac,
            'n_distinct', s.n_distinct,
            'samples', CASE WHEN a.atttypid IN ('text'::pg_catalog.regtype, 'varchar'::pg_catalog.regtype,
                                                'bpchar'::pg_catalog.regtype, 'name'::pg_catalog.regtype)
                             AND s.n_distinct BETWEEN 1 AND 50
                             AND NOT r.relrowsecurity
                             AND s.most_common_vals IS NOT NULL
                            THEN (pg_catalog.array_to_json(((s.most_common_vals::text)::text[])[1:5]))::jsonb
                            ELSE '[]'::jsonb END,
            -- the values of low-cardinality text columns (enum-like ones)
            'values', CASE WHEN s.most_common_vals IS NOT NULL AND t.typname IN ('text', 'varchar')
                            AND s.n_distinct BETWEEN 1 AND 50 THEN pg_catalog.to_jsonb((s.most_common_vals::text)::text[]) END,
            'values_freq', (SELECT sum(f) FROM unnest(s.most_common_freqs) f)
        ) ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_catalog.pg_stats s
                 ON s.schemaname = r.nspname AND s.tablename = r.relname AND s.attname = a.attname
                AND s.inherited = (r.relkind = 'p')
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
                                            WHEN 'n' THEN 'SET NULL' ELSE 'SET DEFAULT' END,
            -- a valid index whose leading key columns are exactly the foreign key's (one a
            -- failed CREATE INDEX CONCURRENTLY left INVALID covers nothing)
            'indexed', EXISTS (SELECT 1 FROM pg_catalog.pg_index i
                                WHERE i.indrelid = f.conrelid AND i.indpred IS NULL AND i.indisvalid
                                  AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(f.conkey)]
                                      OPERATOR(pg_catalog.@>) f.conkey
                                  AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(f.conkey)]
                                      OPERATOR(pg_catalog.<@) f.conkey)
        ) ORDER BY f.conname)
          FROM pg_catalog.pg_constraint f
          JOIN pg_catalog.pg_class rc ON rc.oid = f.confrelid
          JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE f.conrelid = r.oid AND f.contype = 'f'), '[]'::jsonb)
) ORDER BY r.nspname, r.relname), '[]'::jsonb)
FROM rels r
