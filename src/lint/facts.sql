-- What ai.lint_schema judges and ai.erd draws, one jsonb array of tables the caller may see (pg_stats shows
-- only the columns the caller may read). $1: schemas to include (NULL: every user schema).
WITH rels AS (
    SELECT c.oid, n.nspname, c.relname, c.reltuples, c.relkind
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai', 'cron')
       AND n.nspname !~ '^pg_(toast|temp_|toast_temp_)'
       AND ($1::text[] IS NULL OR n.nspname = ANY ($1::text[]))
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                          AND d.objid = c.oid AND d.deptype = 'e')
       AND (pg_catalog.has_table_privilege(c.oid, 'SELECT')
            OR pg_catalog.has_any_column_privilege(c.oid, 'SELECT'))
)
SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
    'schema', r.nspname,
    'name', r.relname,
    'name_quoted', pg_catalog.quote_ident(r.relname) <> r.relname,
    'keyword', (SELECT k.catcode::text FROM pg_catalog.pg_get_keywords() k WHERE k.word = r.relname),
    'rows', GREATEST(r.reltuples, 0)::bigint,
    'analyzed', r.reltuples >= 0,
    'has_pk', EXISTS (SELECT 1 FROM pg_catalog.pg_constraint p WHERE p.conrelid = r.oid AND p.contype = 'p'),
    'columns', coalesce((
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'name', a.attname,
            'name_quoted', pg_catalog.quote_ident(a.attname) <> a.attname,
            'keyword', (SELECT k.catcode::text FROM pg_catalog.pg_get_keywords() k WHERE k.word = a.attname),
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
            'serial_sequence', pg_catalog.pg_get_serial_sequence(pg_catalog.quote_ident(r.nspname) || '.' || pg_catalog.quote_ident(r.relname), a.attname),
            'null_frac', s.null_frac,
            'n_distinct', s.n_distinct,
            -- the values of low-cardinality text columns (enum-like ones)
            'values', CASE WHEN s.most_common_vals IS NOT NULL AND t.typname IN ('text', 'varchar')
                            AND s.n_distinct BETWEEN 1 AND 50 THEN pg_catalog.to_jsonb((s.most_common_vals::text)::text[]) END,
            'values_freq', (SELECT sum(f) FROM unnest(s.most_common_freqs) f)
        ) ORDER BY a.attnum)
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
          LEFT JOIN pg_catalog.pg_stats s
                 ON s.schemaname = r.nspname AND s.tablename = r.relname AND s.attname = a.attname
         WHERE a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped), '[]'::jsonb),
    'fks', coalesce((
        SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
            'name', f.conname,
            'columns', (SELECT pg_catalog.jsonb_agg(a.attname ORDER BY k.i)
                          FROM unnest(f.conkey) WITH ORDINALITY k(n, i)
                          JOIN pg_catalog.pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = k.n),
            'ref_schema', rn.nspname,
            'ref_table', rc.relname,
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
