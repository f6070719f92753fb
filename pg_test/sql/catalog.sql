-- The schema catalog: refresh, incremental updates, hybrid search, human descriptions,
-- and row-level visibility. A small shop schema stands in for a user database.
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;
CREATE SCHEMA shop;
CREATE TABLE shop.customers (
    id serial PRIMARY KEY,
    full_name text NOT NULL,
    country text NOT NULL
);
COMMENT ON TABLE shop.customers IS 'People and companies that buy from the shop';
CREATE TABLE shop.orders (
    id serial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES shop.customers ON DELETE CASCADE,
    status text NOT NULL,
    ordered_at timestamptz NOT NULL DEFAULT now(),
    total numeric(10, 2) NOT NULL
);
CREATE TABLE shop.order_items (
    order_id int REFERENCES shop.orders,
    product text,
    quantity int,
    PRIMARY KEY (order_id, product)
);
INSERT INTO shop.customers (full_name, country)
SELECT 'customer ' || g, (ARRAY['France', 'Germany', 'Japan'])[1 + g % 3] FROM generate_series(1, 30) g;
INSERT INTO shop.orders (customer_id, status, total)
SELECT 1 + g % 30, (ARRAY['paid', 'shipped', 'cancelled'])[1 + g % 3], g FROM generate_series(1, 90) g;
ANALYZE shop.customers, shop.orders;

-- first refresh: everything is added
SELECT * FROM ai.refresh_catalog(ARRAY['shop']);
-- nothing changed: nothing is embedded again
SELECT * FROM ai.refresh_catalog(ARRAY['shop']);

-- what is stored: the text that was embedded, with sample values from pg_stats
SELECT description FROM ai.catalog_tables WHERE schema_name = 'shop' AND table_name = 'orders';
SELECT column_name, sample_values FROM ai.catalog_columns c JOIN ai.catalog_tables t ON t.id = c.table_id
WHERE t.schema_name = 'shop' AND column_name IN ('status', 'country') ORDER BY 1;
SELECT description FROM ai.catalog_relationships WHERE constraint_name = 'orders_customer_id_fkey';

-- DDL marks the catalog stale (a sequence bump, no lock)
SELECT (SELECT last_value FROM ai.catalog_version) > refreshed_version AS stale FROM ai.catalog_state;
ALTER TABLE shop.orders ADD COLUMN shipped_at timestamptz;
SELECT (SELECT last_value FROM ai.catalog_version) > refreshed_version AS stale FROM ai.catalog_state;
-- only what changed is embedded again: the table, its new column
SELECT * FROM ai.refresh_catalog(ARRAY['shop']);

-- search: the plural in the question finds the table by name, meaning finds the column
SELECT kind, table_name, column_name, lexical FROM ai.search_catalog('How many orders per customer?', 3);
SELECT kind, table_name, column_name FROM ai.search_catalog('which nation does the buyer live in', 1);
SELECT table_name, column_name FROM ai.search_catalog('order items', 10) WHERE kind = 'table' LIMIT 1;

-- a search after DDL refreshes the catalog first
CREATE TABLE shop.invoices (id int PRIMARY KEY, order_id int REFERENCES shop.orders, amount numeric);
SELECT kind, table_name FROM ai.search_catalog('invoices', 1);
SELECT (SELECT last_value FROM ai.catalog_version) > refreshed_version AS stale FROM ai.catalog_state;

-- human descriptions augment comments and are embedded at once
SELECT ai.describe('shop.order_items', 'Products and quantities in each order (the basket)');
SELECT ai.describe_column('shop.orders', 'total', 'Amount paid including tax, in euros');
SELECT description FROM ai.catalog_columns WHERE column_name = 'total';
SELECT kind, table_name FROM ai.search_catalog('what is in the shopping basket', 1);
SELECT ai.describe_column('shop.orders', 'no_such_column', 'x');
SELECT * FROM ai.search_catalog('x', 0);

-- removed objects leave the catalog
DROP TABLE shop.invoices;
SELECT * FROM ai.refresh_catalog(ARRAY['shop']);

-- everyone may search, but sees only what they may read
CREATE ROLE ai_catalog_reader;
GRANT USAGE ON SCHEMA shop TO ai_catalog_reader;
GRANT SELECT ON shop.customers TO ai_catalog_reader;
GRANT SELECT (id, status) ON shop.orders TO ai_catalog_reader;
SET ROLE ai_catalog_reader;
SELECT DISTINCT table_name, column_name FROM ai.search_catalog('orders status customers country total', 50) ORDER BY 1, 2;
SELECT count(*) AS visible_relationships FROM ai.catalog_relationships;
SELECT ai.describe('shop.customers', 'not mine');
SELECT * FROM ai.refresh_catalog();
RESET ROLE;
DROP SCHEMA shop CASCADE;
DROP ROLE ai_catalog_reader;
SELECT * FROM ai.refresh_catalog(ARRAY['shop']);
