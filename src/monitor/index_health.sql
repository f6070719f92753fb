-- Indexes a DBA could drop, outside the system schemas and the extension's own:
--   unused     no scan since the statistics were reset (never one that enforces a constraint
--              or supports a foreign key: the parent's deletes need it however rarely)
--   duplicate  the same definition as another index of the table (the newer one goes)
--   redundant  its key columns are a leading part of another btree index's key
-- Columns: kind, schema, table, index, key columns, bytes, detail, DROP statement.
WITH idx AS (
    SELECT i.indexrelid, i.indrelid, n.nspname::text AS schema_name, t.relname::text AS table_name,
           c.relname::text AS index_name, am.amname::text AS method,
           i.indisunique OR i.indisprimary OR i.indisexclusion
             OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conindid = i.indexrelid) AS enforces,
           i.indpred IS NOT NULL AS partial, i.indexprs IS NOT NULL AS expressions,
           -- it leads with a foreign key's columns: deletes and key updates of the parent use it
           EXISTS (SELECT 1 FROM pg_catalog.pg_constraint f
                    WHERE f.contype = 'f' AND f.conrelid = i.indrelid
                      AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(f.conkey)]
                          OPERATOR(pg_catalog.@>) f.conkey
                      AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(f.conkey)]
                          OPERATOR(pg_catalog.<@) f.conkey) AS serves_fk,
           i.indnkeyatts,
           (pg_catalog.string_to_array(i.indkey::text, ' ')::int[])[1:i.indnkeyatts] AS key_cols,
           ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true)
                   FROM pg_catalog.generate_series(1, i.indnkeyatts) k ORDER BY k) AS key_names,
           pg_catalog.pg_relation_size(i.indexrelid) AS bytes,
           coalesce(s.idx_scan, 0) AS scans,
           pg_catalog.regexp_replace(pg_catalog.pg_get_indexdef(i.indexrelid),
                                     '^CREATE (UNIQUE )?INDEX \S+ ON ', '') AS def_tail
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid
      JOIN pg_catalog.pg_class t ON t.oid = i.indrelid
      JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
      JOIN pg_catalog.pg_am am ON am.oid = c.relam
      LEFT JOIN pg_catalog.pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai', 'pg_toast')
       AND n.nspname !~ '^pg_temp' AND i.indisvalid
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                        WHERE d.objid = t.oid AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e')
), found AS (
    SELECT 'unused' AS kind, a.*, pg_catalog.format('no scan since the statistics were reset; %s',
                                                    pg_catalog.pg_size_pretty(a.bytes)) AS detail
      FROM idx a WHERE a.scans = 0 AND NOT a.enforces AND NOT a.serves_fk
    UNION ALL
    SELECT 'duplicate', a.*, pg_catalog.format('same definition as %I', b.index_name)
      FROM idx a JOIN idx b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid AND b.def_tail = a.def_tail
     WHERE NOT a.enforces AND (b.enforces OR b.indexrelid < a.indexrelid)
    UNION ALL
    SELECT DISTINCT ON (a.indexrelid) 'redundant', a.*,
           pg_catalog.format('its key (%s) leads %I (%s)', pg_catalog.array_to_string(a.key_names, ', '),
                             b.index_name, pg_catalog.array_to_string(b.key_names, ', '))
      FROM idx a JOIN idx b ON b.indrelid = a.indrelid AND b.indexrelid <> a.indexrelid
     WHERE a.method = 'btree' AND b.method = 'btree' AND NOT a.enforces
       AND NOT a.partial AND NOT b.partial AND NOT a.expressions AND NOT b.expressions
       AND a.indnkeyatts < b.indnkeyatts AND a.key_cols = b.key_cols[1:a.indnkeyatts]
)
SELECT DISTINCT ON (indexrelid) kind, schema_name, table_name, index_name, key_names, bytes, detail,
       pg_catalog.format('DROP INDEX CONCURRENTLY %I.%I', schema_name, index_name)
  FROM found
 ORDER BY indexrelid, CASE kind WHEN 'duplicate' THEN 0 WHEN 'redundant' THEN 1 ELSE 2 END
