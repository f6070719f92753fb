-- The architect on the Chinook sample: a schema review, a diagram, a schema change proposed
-- in plain language, a conversation with follow-ups, metrics for dashboards.
\c ai_regress_chinook
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;
-- what a schema review points out, most severe first (nothing is changed)
SELECT rule, severity, count(*) AS findings FROM ai.lint_schema() GROUP BY rule, severity ORDER BY min(severity), rule;
SELECT rule, object, fix_sql FROM ai.lint_schema();
SELECT message FROM ai.lint_schema() WHERE rule = 'nullable_fk_always_filled' ORDER BY object LIMIT 1;
-- every fix is a statement ai.impact can judge
SELECT DISTINCT (ai.impact(fix_sql)) ->> 'risk_level' AS risk FROM ai.lint_schema() WHERE fix_sql IS NOT NULL ORDER BY 1;
-- an entity-relationship diagram: Mermaid (or Graphviz DOT)
SELECT ai.erd();
SELECT left(ai.erd(format => 'dot'), 200) AS dot_head;
-- a schema change in plain language: the DDL, its risk, an approval request; nothing ran
SELECT p -> 'ddl' ->> 0 AS ddl, p -> 'requests' -> 0 ->> 'risk_level' AS risk, p ->> 'state' AS state,
       p -> 'then' -> 0 ->> 'sql' AS after_it
  FROM ai.propose_ddl('add a table track_review with a rating from 1 to 5 and a comment, linked to track') p;
SELECT to_regclass('public.track_review') AS created;
SELECT p -> 'ddl' AS ddl FROM ai.propose_ddl('rename column name of artist to artist_name') p;
-- a conversation: follow-ups are read against the previous question, without a model
SELECT t ->> 'turn' AS turn, t ->> 'tool' AS tool, t ->> 'question' AS question, t ->> 'answer' AS answer
  FROM ai.chat('sales', 'How many invoices were issued in 2022?') t;
SELECT t ->> 'turn' AS turn, t ->> 'question' AS question, t ->> 'answer' AS answer FROM ai.chat('sales', 'and in 2023?') t;
SELECT t ->> 'turn' AS turn, t ->> 'question' AS question, t ->> 'answer' AS answer FROM ai.chat('sales', 'only for Germany') t;
SELECT t ->> 'turn' AS turn, t ->> 'question' AS question, t ->> 'answer' AS answer FROM ai.chat('sales', 'show them') t;
SELECT t ->> 'question' AS question, t -> 'result' ->> 'sql' AS sql FROM ai.chat('sales', 'sorted by total') t;
SELECT t ->> 'tool' AS tool, t ->> 'answer' AS answer
  FROM ai.chat('sales', 'What happens if I run DELETE FROM invoice_line WHERE invoice_id = 1?') t;
SELECT session, turn, speaker, tool, left(content, 60) AS content FROM ai.chat_history('sales');
-- metrics, one row per metric and label set (postgres_exporter reads them)
SELECT metric, labels, value FROM ai.metrics() WHERE metric IN ('ai_requests', 'ai_chat_sessions') ORDER BY metric, labels::text;
-- bad input
SELECT ai.chat(NULL, 'How many albums?');
SELECT ai.chat('new', 'show them');
SELECT ai.erd(format => 'png');
SELECT ai.lint_schema(ARRAY['nope']);
SELECT ai.propose_ddl('make everything faster');
SELECT ai.propose_ddl('add an index on nothing_here (x)');
