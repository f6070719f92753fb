-- What a DBA should look at, one row per finding: category, severity, object, finding,
-- remediation SQL (NULL when the fix is a decision, not a statement).
-- $1 long-running threshold, $2 idle-in-transaction threshold (intervals).

-- foreign keys without an index that starts with their columns
SELECT 'fk_without_index'::text AS category, 'medium'::text AS severity,
       pg_catalog.format('%I.%I (%s)', n.nspname, t.relname, cols.list) AS object,
       pg_catalog.format('foreign key %I has no index on (%s): each delete or key update in %s scans %I.%I',
                         con.conname, cols.list, con.confrelid::regclass, n.nspname, t.relname) AS finding,
       pg_catalog.format('CREATE INDEX CONCURRENTLY ON %I.%I (%s)', n.nspname, t.relname, cols.list) AS remediation_sql
  FROM pg_catalog.pg_constraint con
  JOIN pg_catalog.pg_class t ON t.oid = con.conrelid
  JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
  CROSS JOIN LATERAL (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY u.ord) AS list
                        FROM pg_catalog.unnest(con.conkey) WITH ORDINALITY u(attnum, ord)
                        JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = u.attnum) cols
 WHERE con.contype = 'f' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai')
   AND NOT EXISTS (
       SELECT 1 FROM pg_catalog.pg_index i
        WHERE i.indrelid = con.conrelid AND i.indpred IS NULL
          AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(con.conkey)] @> con.conkey
          AND (pg_catalog.string_to_array(i.indkey::text, ' ')::int2[])[1:pg_catalog.cardinality(con.conkey)] <@ con.conkey)

UNION ALL
-- tables without a primary key
SELECT 'no_primary_key', 'medium', pg_catalog.format('%I.%I', n.nspname, c.relname),
       CASE WHEN u.indexrelid IS NOT NULL
            THEN pg_catalog.format('no primary key; unique index %s could become one', u.indexrelid::regclass)
            ELSE 'no primary key: rows cannot be addressed reliably (replication, tools, rollback of changes)' END,
       CASE WHEN u.indexrelid IS NOT NULL
            THEN pg_catalog.format('ALTER TABLE %I.%I ADD PRIMARY KEY USING INDEX %I', n.nspname, c.relname,
                                   (SELECT relname FROM pg_catalog.pg_class WHERE oid = u.indexrelid)) END
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN LATERAL (
       SELECT i.indexrelid FROM pg_catalog.pg_index i
        WHERE i.indrelid = c.oid AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey::int2[]) AND NOT a.attnotnull)
        LIMIT 1) u ON true
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'ai') AND n.nspname !~ '^pg_(toast|temp)'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.objid = c.oid AND d.classid = 'pg_catalog.pg_class'::regclass AND d.deptype = 'e')

UNION ALL
-- dead rows: an estimate of table bloat from the statistics
SELECT 'bloat', CASE WHEN s.n_dead_tup > 4 * s.n_live_tup THEN 'high' ELSE 'medium' END,
       pg_catalog.format('%I.%I', s.schemaname, s.relname),
       pg_catalog.format('%s%% of rows are dead (%s dead, %s live), about %s of %s; last vacuum %s',
                         pg_catalog.round(100.0 * s.n_dead_tup / (s.n_live_tup + s.n_dead_tup)),
                         s.n_dead_tup, s.n_live_tup,
                         pg_catalog.pg_size_pretty((pg_catalog.pg_relation_size(s.relid) * s.n_dead_tup
                                                    / (s.n_live_tup + s.n_dead_tup))::bigint),
                         pg_catalog.pg_size_pretty(pg_catalog.pg_relation_size(s.relid)),
                         coalesce(greatest(s.last_vacuum, s.last_autovacuum)::text, 'never')),
       pg_catalog.format('VACUUM (ANALYZE) %I.%I', s.schemaname, s.relname)
  FROM pg_catalog.pg_stat_user_tables s
 WHERE s.n_dead_tup >= 10000 AND s.n_dead_tup > 0.2 * (s.n_live_tup + s.n_dead_tup)
   AND s.schemaname <> 'ai'

UNION ALL
-- sequences close to their end (or to the end of the column they feed)
SELECT 'sequence_overflow', CASE WHEN q.used >= 0.95 THEN 'critical' WHEN q.used >= 0.9 THEN 'high' ELSE 'medium' END,
       pg_catalog.format('%I.%I', q.schemaname, q.sequencename),
       pg_catalog.format('%s%% used: last value %s of %s%s', pg_catalog.round(100 * q.used, 1), q.last_value, q.limit_value,
                         CASE WHEN q.col IS NOT NULL THEN pg_catalog.format(' (column %s is %s)', q.col, q.coltype) ELSE '' END),
       CASE WHEN q.coltype IN ('integer', 'smallint')
            THEN pg_catalog.format('ALTER TABLE %s ALTER COLUMN %I TYPE bigint', q.tbl, q.colname) END
  FROM (SELECT s.schemaname, s.sequencename, s.last_value,
               least(s.max_value, coalesce(CASE f.coltype WHEN 'integer' THEN 2147483647
                                                                     WHEN 'smallint' THEN 32767 END, s.max_value)) AS limit_value,
               s.last_value::numeric / least(s.max_value, coalesce(CASE f.coltype WHEN 'integer' THEN 2147483647
                                                                     WHEN 'smallint' THEN 32767 END, s.max_value)) AS used,
               f.col, f.coltype, f.tbl, f.colname
          FROM pg_catalog.pg_sequences s
          LEFT JOIN LATERAL (
               SELECT pg_catalog.format('%s.%I', d.refobjid::regclass, a.attname) AS col, a.attname AS colname,
                      d.refobjid::regclass::text AS tbl, pg_catalog.format_type(a.atttypid, NULL) AS coltype
                 FROM pg_catalog.pg_depend d
                 JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
                WHERE d.classid = 'pg_catalog.pg_class'::regclass
                  AND d.objid = pg_catalog.format('%I.%I', s.schemaname, s.sequencename)::regclass
                  AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.deptype IN ('a', 'i')
                LIMIT 1) f ON true
         WHERE s.last_value IS NOT NULL AND s.increment_by > 0 AND NOT s.cycle
           AND s.schemaname NOT IN ('ai')) q
 WHERE q.used >= 0.75

UNION ALL
-- sessions: long-running statements, idle in transaction, waiting on locks
SELECT 'long_running', CASE WHEN pg_catalog.now() - a.query_start > 4 * $1::interval THEN 'high' ELSE 'medium' END,
       pg_catalog.format('pid %s (%s@%s)', a.pid, a.usename, a.datname),
       pg_catalog.format('running for %s: %s', pg_catalog.date_trunc('second', pg_catalog.now() - a.query_start),
                         pg_catalog.left(pg_catalog.regexp_replace(a.query, '\s+', ' ', 'g'), 120)),
       pg_catalog.format('SELECT pg_cancel_backend(%s)', a.pid)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.state = 'active' AND a.backend_type = 'client backend' AND a.pid <> pg_catalog.pg_backend_pid()
   AND pg_catalog.now() - a.query_start > $1::interval
UNION ALL
SELECT 'idle_in_transaction', 'high', pg_catalog.format('pid %s (%s@%s)', a.pid, a.usename, a.datname),
       pg_catalog.format('idle in transaction for %s, holding its locks and snapshot; last statement: %s',
                         pg_catalog.date_trunc('second', pg_catalog.now() - a.state_change),
                         pg_catalog.left(pg_catalog.regexp_replace(a.query, '\s+', ' ', 'g'), 120)),
       pg_catalog.format('SELECT pg_terminate_backend(%s)', a.pid)
  FROM pg_catalog.pg_stat_activity a
 WHERE a.state LIKE 'idle in transaction%' AND a.pid <> pg_catalog.pg_backend_pid()
   AND pg_catalog.now() - a.state_change > $2::interval
UNION ALL
SELECT 'lock_wait', CASE WHEN pg_catalog.now() - a.state_change > '1 minute' THEN 'high' ELSE 'medium' END,
       pg_catalog.format('pid %s (%s@%s)', a.pid, a.usename, a.datname),
       pg_catalog.format('waiting %s for a %s lock held by pid %s: %s',
                         pg_catalog.date_trunc('second', pg_catalog.now() - a.state_change), a.wait_event,
                         pg_catalog.array_to_string(pg_catalog.pg_blocking_pids(a.pid), ', '),
                         pg_catalog.left(pg_catalog.regexp_replace(a.query, '\s+', ' ', 'g'), 120)),
       NULL
  FROM pg_catalog.pg_stat_activity a
 WHERE a.wait_event_type = 'Lock' AND pg_catalog.cardinality(pg_catalog.pg_blocking_pids(a.pid)) > 0

UNION ALL
-- the cache hit ratio of this database
SELECT 'cache_hit_ratio', CASE WHEN r.ratio < 0.8 THEN 'high' ELSE 'medium' END, d.datname::text,
       pg_catalog.format('%s%% of block reads are served from shared buffers (%s reads from disk or OS cache)',
                         pg_catalog.round(100 * r.ratio, 1), d.blks_read),
       NULL
  FROM pg_catalog.pg_stat_database d
  CROSS JOIN LATERAL (SELECT d.blks_hit::numeric / nullif(d.blks_hit + d.blks_read, 0) AS ratio) r
 WHERE d.datname = pg_catalog.current_database() AND d.blks_hit + d.blks_read >= 10000 AND r.ratio < 0.95

UNION ALL
-- tables the planner has no statistics for
SELECT 'missing_statistics', 'medium', pg_catalog.format('%I.%I', s.schemaname, s.relname),
       pg_catalog.format('never analyzed (%s rows inserted, %s changed since): the planner guesses', s.n_tup_ins, s.n_mod_since_analyze),
       pg_catalog.format('ANALYZE %I.%I', s.schemaname, s.relname)
  FROM pg_catalog.pg_stat_user_tables s
 WHERE s.last_analyze IS NULL AND s.last_autoanalyze IS NULL AND s.n_mod_since_analyze > 0
   AND s.schemaname <> 'ai'
