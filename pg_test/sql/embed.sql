-- ai.embed: in-process embeddings, stored and compared with pgvector.
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;

SELECT vector_dims(ai.embed('How many invoices per country?')) AS dims,
       round(vector_norm(ai.embed('How many invoices per country?'))::numeric, 4) AS norm;

-- NULL in, NULL out; the empty string is a valid input
SELECT ai.embed(NULL::text) IS NULL AS null_text, ai.embed(NULL::text[]) IS NULL AS null_array,
       vector_dims(ai.embed('')) AS empty_string_dims;

-- batch form: order kept, NULL elements give NULL vectors, same vectors as single calls
WITH b AS (SELECT ai.embed(ARRAY['the longest sentence of the three, about invoices', NULL, 'short', '']) AS v)
SELECT cardinality(v) AS n,
       v[2] IS NULL AS second_is_null,
       (v[1] <=> ai.embed('the longest sentence of the three, about invoices')) < 1e-5 AS first_matches,
       (v[3] <=> ai.embed('short')) < 1e-5 AS third_matches
FROM b;
SELECT cardinality(ai.embed(ARRAY[]::text[])) AS empty_batch;

-- meaning, not spelling: nearest phrases to a question
CREATE TEMP TABLE phrases (phrase text);
INSERT INTO phrases VALUES ('customer invoices and billing'), ('music genres such as rock and jazz'),
  ('employees and who they report to'), ('playlists of tracks'), ('weather forecast for tomorrow');
SELECT phrase FROM phrases ORDER BY ai.embed(phrase) <=> ai.embed('Which kinds of music do we sell?') LIMIT 2;
SELECT phrase FROM phrases ORDER BY ai.embed(phrase) <=> ai.embed('how much did each client pay') LIMIT 1;

-- errors are clear and name the setting and the path
SET ai_architect.model_path = '/nonexistent/model.onnx';
SELECT ai.embed('x');
RESET ai_architect.model_path;
SELECT vector_dims(ai.embed('works again after RESET')) AS dims;
