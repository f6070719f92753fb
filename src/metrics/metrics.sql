-- Every metric ai.metrics() reads from the state tables: metric, labels, value, description.
-- Runs as the extension owner; only counts leave it.
SELECT 'ai_audits_total', '{}'::jsonb, count(*)::float8, 'ai.run_audit() runs recorded'
  FROM ai.audit_runs
UNION ALL
SELECT 'ai_audit_last_finished_seconds', '{}'::jsonb,
       coalesce(extract(epoch FROM max(finished_at)), 0)::float8, 'when the last audit finished (Unix time; 0: never)'
  FROM ai.audit_runs
UNION ALL
SELECT 'ai_advice', pg_catalog.jsonb_build_object('kind', kind, 'status', status), count(*)::float8,
       'advice in the optimization history, by kind and status (suggested, applied, verified, reverted, rejected)'
  FROM ai.optimization_log GROUP BY kind, status
UNION ALL
SELECT 'ai_advice_measured', pg_catalog.jsonb_build_object('kind', kind), count(*)::float8,
       'applied advice whose gain was measured'
  FROM ai.optimization_log WHERE gain_pct IS NOT NULL GROUP BY kind
UNION ALL
SELECT 'ai_advice_gain_pct_avg', pg_catalog.jsonb_build_object('kind', kind), avg(gain_pct)::float8,
       'mean measured gain of applied advice, percent'
  FROM ai.optimization_log WHERE gain_pct IS NOT NULL GROUP BY kind
UNION ALL
SELECT 'ai_requests', pg_catalog.jsonb_build_object('state', st, 'risk', risk_level), count(*)::float8,
       'approval requests by state and risk level'
  FROM (SELECT CASE WHEN state IN ('pending', 'approved') AND expires_at < now() THEN 'expired' ELSE state END AS st,
               risk_level
          FROM ai.approval_requests) r
 GROUP BY st, risk_level
UNION ALL
SELECT 'ai_executions', pg_catalog.jsonb_build_object('status', status), count(*)::float8,
       'executions of approved requests by status'
  FROM ai.executions GROUP BY status
UNION ALL
SELECT 'ai_asks', pg_catalog.jsonb_build_object('source', coalesce(source, 'none'),
           'outcome', CASE WHEN error IS NOT NULL THEN 'failed' WHEN executed THEN 'answered' ELSE 'generated' END),
       count(*)::float8, 'questions asked (ai.ask, ai.generate_sql, ai.chat) by source and outcome'
  FROM ai.query_usage_stats GROUP BY 2
UNION ALL
SELECT 'ai_ask_ms_avg', pg_catalog.jsonb_build_object('source', coalesce(source, 'none')), avg(elapsed_ms)::float8,
       'mean time of a question, milliseconds'
  FROM ai.query_usage_stats WHERE elapsed_ms IS NOT NULL GROUP BY 2
UNION ALL
SELECT 'ai_chat_sessions', '{}'::jsonb, count(DISTINCT (user_name, session))::float8, 'conversations with messages kept'
  FROM ai.chat_messages
UNION ALL
SELECT 'ai_worker_failing', '{}'::jsonb,
       coalesce(sum(array_length(pg_catalog.string_to_array(query, ' failing: '), 1) - 1), 0)::float8,
       'units of the background worker''s work failing now, each tried again after a backoff (ai.version() says which, with the fix)'
  FROM pg_catalog.pg_stat_activity WHERE backend_type = 'ai_architect worker'
