-- The semantic memory: SQL samples with feedback, and the optimization history.
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;
CREATE SCHEMA music;
SET search_path = music, public;
CREATE TABLE artist (artist_id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE album (album_id int PRIMARY KEY, title text NOT NULL, artist_id int NOT NULL REFERENCES artist);
CREATE TABLE track (track_id int PRIMARY KEY, name text NOT NULL, album_id int REFERENCES album, milliseconds int);

-- a sample: one query that plans against the current schema, with the caller's search_path
SELECT ai.add_sample('How many tracks are there?', 'SELECT count(*) FROM track', ARRAY['count']) AS id;
SELECT ai.add_sample('Which artists have the most albums?',
  'SELECT ar.name, count(*) AS albums FROM artist ar JOIN album al ON al.artist_id = ar.artist_id
   GROUP BY ar.name ORDER BY albums DESC LIMIT 10') AS id;
SELECT ai.add_sample('Longest track of each album',
  'SELECT DISTINCT ON (album_id) album_id, name FROM (SELECT * FROM track WHERE milliseconds > 0) t
   ORDER BY album_id, milliseconds DESC') AS id;
SELECT id, complexity, tags, tables, table_oids::regclass[] AS resolved, search_path, source
FROM ai.sql_samples ORDER BY id;

-- bad SQL never becomes a sample
SELECT ai.add_sample('bad', 'SELECT * FROM no_such_table');
SELECT ai.add_sample('bad', 'SELECT 1; DROP TABLE track');
SELECT ai.add_sample('bad', 'DELETE FROM track');
SELECT ai.add_sample('bad', 'SELEC 1');
SELECT ai.add_sample('', 'SELECT 1');
SELECT count(*) AS samples FROM ai.sql_samples;

-- similar questions find samples by meaning
SELECT id, question FROM ai.similar_samples('number of songs', 1);
SELECT id, question FROM ai.similar_samples('which musicians released the most records', 1);
SELECT * FROM ai.similar_samples('x', 0);

-- feedback on ai.ask answers (usage rows are written by ai.ask; made here by hand)
INSERT INTO ai.query_usage_stats (question, generated_sql, source, sample_id) VALUES
  ('count the tracks', 'SELECT count(*) FROM track', 'sample', 1),
  ('list album titles', 'SELECT title FROM album ORDER BY title', 'engine', NULL);
SELECT ai.feedback(1, 4, true) > 0 AS stored;
SELECT ai.feedback(1, 2, false, NULL, 'missed deleted tracks') > 0 AS stored;
SELECT id, avg_rating, feedback_count, last_feedback_at IS NOT NULL AS rated FROM ai.sql_samples WHERE id = 1;
-- a correct engine answer is kept as a sample; a correction that does not plan is not
SELECT ai.feedback(2, 5, true) > 0 AS stored;
SELECT ai.feedback(2, 1, false, 'SELECT titel FROM album') > 0 AS stored;
SELECT id, question, query, source, from_usage_id FROM ai.sql_samples WHERE source = 'feedback';
SELECT ai.feedback(2, 6, true);
SELECT ai.feedback(99, 3, true);

-- a schema change flags samples stale (not deleted); they come back when the SQL plans again
ALTER TABLE album RENAME COLUMN title TO album_title;
SELECT * FROM ai.check_samples();
SELECT id, stale, stale_reason FROM ai.sql_samples ORDER BY id;
SELECT id FROM ai.similar_samples('album titles', 10) ORDER BY id;
ALTER TABLE album RENAME COLUMN album_title TO title;
SELECT * FROM ai.check_samples();

-- samples are planned again as the role that added them, never with the owner's rights
CREATE ROLE ai_sample_author;
GRANT USAGE ON SCHEMA music TO ai_sample_author;
GRANT SELECT ON music.artist TO ai_sample_author;
GRANT EXECUTE ON FUNCTION ai.add_sample(text, text, text[]) TO ai_sample_author;
SET ROLE ai_sample_author;
SELECT ai.add_sample('All artist names', 'SELECT name FROM artist') AS id;
SELECT ai.add_sample('All albums', 'SELECT title FROM album');
RESET ROLE;
REVOKE SELECT ON music.artist FROM ai_sample_author;
SELECT * FROM ai.check_samples();
SELECT question, created_by, stale, stale_reason FROM ai.sql_samples WHERE created_by = 'ai_sample_author';
DELETE FROM ai.sql_samples WHERE created_by = 'ai_sample_author';
REVOKE ALL ON SCHEMA music FROM ai_sample_author;
REVOKE EXECUTE ON FUNCTION ai.add_sample(text, text, text[]) FROM ai_sample_author;
DROP ROLE ai_sample_author;

-- the optimization memory: "seen before"
SELECT ai.remember_optimization('SELECT * FROM invoice WHERE billing_country = $1',
  'CREATE INDEX CONCURRENTLY ON invoice (billing_country)', 87.5) AS id;
SELECT ai.remember_optimization('SELECT name FROM track ORDER BY milliseconds DESC LIMIT 10',
  'CREATE INDEX CONCURRENTLY ON track (milliseconds DESC)') AS id;
SELECT id, recommendation, performance_gain
FROM ai.similar_optimizations('select total from invoice where billing_country = ''USA''', 1);
SELECT ai.remember_optimization('', 'x');

RESET search_path;
DROP SCHEMA music CASCADE;
