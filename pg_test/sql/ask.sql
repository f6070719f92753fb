-- ai.ask on the Chinook sample with no LLM configured: the in-process engine answers.
\c ai_regress_chinook
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;
SHOW ai_architect.llm_base_url;
-- a count through a join, a value ('Rock') linked to genre.name
SELECT a->>'source' AS source, a->>'confidence' AS confidence, a->>'sql' AS sql, a->'rows' AS rows,
       a->>'explanation' AS explanation
  FROM ai.ask('How many tracks are in the genre Rock?') a;
-- a superlative, grouping per artist, top-N by money, negation, dates, units
SELECT a->>'sql' AS sql, a->'rows' AS rows FROM ai.ask('Which artist has the most albums?') a;
SELECT a->>'sql' AS sql, a->'rows' AS rows FROM ai.ask('Top 3 customers by total spent') a;
SELECT a->>'sql' AS sql, a->>'row_count' AS row_count FROM ai.ask('Artists without albums') a;
SELECT a->>'sql' AS sql, a->'rows' AS rows FROM ai.ask('How many invoices were issued in March 2022?') a;
SELECT a->>'sql' AS sql, a->'rows' AS rows FROM ai.ask('Tracks longer than 80 minutes') a;
-- only the SQL
SELECT ai.generate_sql('Average invoice total per billing country');
-- psql-friendly: one jsonb row per result row, the SQL in a NOTICE
SELECT * FROM ai.ask_table('Number of customers per country', 5);
-- not executed on request; rows capped
SELECT a->>'executed' AS executed, a ? 'rows' AS has_rows FROM ai.ask('How many customers are there?', false) a;
SELECT a->>'row_count' AS row_count, a->>'truncated' AS truncated FROM ai.ask('List all genres', true, 3) a;
-- not understood: said so, with the closest tables, nothing run
SELECT a->>'executed' AS executed, a->>'error' AS error, a->'closest_tables' AS closest
  FROM ai.ask('What is the meaning of life?') a;
SELECT ai.generate_sql('What is the meaning of life?');
SELECT * FROM ai.ask_table('What is the meaning of life?');
-- bad input
SELECT ai.ask('');
SELECT ai.ask(NULL);
SELECT ai.ask('How many tracks?', true, 0);
-- every ask is logged
SELECT source, executed, row_count, error IS NOT NULL AS failed FROM ai.query_usage_stats ORDER BY id;
-- the deny-list takes lower-case names, * for a prefix
\set VERBOSITY terse
INSERT INTO ai.denied_functions VALUES ('Not A Name');
\set VERBOSITY default
INSERT INTO ai.denied_functions VALUES ('my_export_*', 'writes files') RETURNING pattern, reason;
\c ai_regress
