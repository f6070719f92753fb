-- Index advice checked with HypoPG, plans with their anti-patterns, and insights.
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;
CREATE EXTENSION IF NOT EXISTS hypopg;
CREATE SCHEMA shop;
SET search_path = shop, public;
CREATE TABLE customer (id int PRIMARY KEY, country text NOT NULL);
CREATE TABLE purchase (id bigint PRIMARY KEY, customer_id int NOT NULL REFERENCES customer,
                       status text NOT NULL, bought_at timestamptz NOT NULL, amount numeric NOT NULL);
INSERT INTO customer SELECT g, (ARRAY['BR','DE','FR','US'])[1 + g % 4] FROM generate_series(0, 999) g;
INSERT INTO purchase SELECT g, g % 1000, (ARRAY['open','paid','shipped'])[1 + g % 3],
                            timestamptz '2026-01-01' + g * interval '1 minute', g % 500
  FROM generate_series(1, 50000) g;
ANALYZE customer, purchase;

-- equality columns first, then the range column; a normalised statement ($n) is fine
SELECT index_sql, table_name, columns, queries_helped
  FROM ai.suggest_indexes('SELECT id, amount FROM purchase WHERE customer_id = $1 AND bought_at >= $2');
-- a join: the foreign key side gets the index
SELECT index_sql, columns
  FROM ai.suggest_indexes('SELECT c.country, sum(p.amount) FROM customer c JOIN purchase p ON p.customer_id = c.id
                            WHERE c.id = 42 GROUP BY c.country');
-- once the index exists, only its covering variant (an index-only scan) is left to advise
CREATE INDEX purchase_customer_id_bought_at_idx ON purchase (customer_id, bought_at);
SELECT index_sql FROM ai.suggest_indexes('SELECT id, amount FROM purchase WHERE customer_id = $1 AND bought_at >= $2');
SELECT count(*) FROM ai.suggest_indexes('SELECT customer_id FROM purchase WHERE customer_id = $1 AND bought_at >= $2');
-- bad input
SELECT * FROM ai.suggest_indexes('INSERT INTO customer VALUES (1, ''x'')');
SELECT * FROM ai.suggest_indexes('SELECT 1; SELECT 2');
SELECT * FROM ai.suggest_indexes('SELECT * FROM customer WHERE id = 1', max_indexes => 0);

-- the plan's anti-patterns
SELECT f->>'issue' AS issue, f->>'relation' AS relation
  FROM jsonb_array_elements(ai.explain('SELECT * FROM purchase WHERE amount = 7 AND status = ''open''')->'findings') f;
SELECT ai.explain('DELETE FROM purchase', true);

-- insights: what is planted here (other databases' objects are not listed)
CREATE TABLE audit_note (body text);
CREATE INDEX purchase_status_a ON purchase (status);
CREATE INDEX purchase_status_b ON purchase (status);
SELECT category, severity, object, remediation_sql FROM ai.insights()
 WHERE object LIKE 'shop.%' ORDER BY category, object;
RESET search_path;
DROP SCHEMA shop CASCADE;
