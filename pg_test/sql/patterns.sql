-- Fix patterns: the lessons a team learned, searchable by problem, with guardian rules.
CREATE EXTENSION IF NOT EXISTS ai_architect CASCADE;

SELECT ai.add_fix_pattern(
  title => 'Missing index on a foreign key',
  problem_type => 'performance', severity => 'high',
  problem => 'Deleting a parent row scans the whole child table because the referencing column has no index',
  solution => 'Create an index on the foreign-key column of the child table',
  layers => ARRAY[5], workflows => ARRAY['migration', 'review'], file_types => ARRAY['sql'],
  code_before => 'ALTER TABLE invoice ADD FOREIGN KEY (customer_id) REFERENCES customer',
  code_after => 'CREATE INDEX CONCURRENTLY ON invoice (customer_id)',
  verification => 'EXPLAIN of the DELETE shows an index scan on the child',
  reviewed => true) IS NOT NULL AS added;

SELECT ai.add_fix_pattern('{
  "title": "SQL built by string concatenation",
  "problem_type": "security", "severity": "critical",
  "problem": "User input is concatenated into SQL text, allowing SQL injection",
  "solution": "Use bind parameters ($1) or quote_literal / format(%L)",
  "layers": [3, 4], "workflows": ["review"], "file_types": ["py", "rs"],
  "anti_patterns": ["execute\\(.*\\+", "format!\\(\"(SELECT|UPDATE|DELETE)"],
  "learnings": "ORMs do not protect raw query helpers"
}'::jsonb) IS NOT NULL AS added;

SELECT ai.add_fix_pattern(title => 'Counting rows with count(*) on a huge table for a progress bar',
  problem_type => 'performance', severity => 'low',
  problem => 'An exact count scans the whole table every time',
  solution => 'Use the planner estimate from pg_class.reltuples when an estimate is enough',
  layers => ARRAY[4, 5]) IS NOT NULL AS added;

SELECT ai.add_fix_pattern(title => 'Joins on an unindexed foreign key column are slow',
  problem_type => 'performance', severity => 'medium',
  problem => 'Joining a child table to its parent scans the child because the foreign-key column has no index',
  solution => 'Index the foreign-key column used in the join',
  layers => ARRAY[5]) IS NOT NULL AS added;

SELECT title, problem_type, severity, layers, workflows, file_types, reviewed,
       content_embedding IS NOT NULL AS content, code_embedding IS NOT NULL AS code,
       problem_embedding IS NOT NULL AS problem
FROM ai.fix_patterns ORDER BY title;

-- bad input is refused with a hint
SELECT ai.add_fix_pattern('t', 'speed', 'high', 'p', 's');
SELECT ai.add_fix_pattern('t', 'performance', 'urgent', 'p', 's');
SELECT ai.add_fix_pattern('t', 'performance', 'high', 'p', 's', layers => ARRAY[9]);
SELECT ai.add_fix_pattern('t', 'performance', 'high', 'p', '');
SELECT ai.add_fix_pattern('{"title": "t", "colour": "red"}'::jsonb);
SELECT ai.add_fix_pattern('t', 'security', 'high', 'p', 's', anti_patterns => ARRAY['(unclosed']);

-- search: reviewed patterns by default; confidence rises with layer and file-type matches
SELECT title, round(similarity::numeric, 2) >= 0.5 AS similar, confidence >= similarity AS boosted
FROM ai.search_patterns('deleting customers is slow, full scan of invoices', similarity_threshold => 0.3);
SELECT title FROM ai.search_patterns('joins to the parent table scan the child', similarity_threshold => 0.3,
                                     reviewed_only => false)
ORDER BY confidence DESC LIMIT 1;
SELECT title, confidence > similarity AS boosted
FROM ai.search_patterns('slow delete on parent table', layers => ARRAY[5], file_extension => '.sql',
                        similarity_threshold => 0.3);
SELECT count(*) AS nothing_above_threshold FROM ai.search_patterns('how to bake bread', similarity_threshold => 0.65);
SELECT * FROM ai.search_patterns('x', layers => ARRAY[0]);

-- the track record feeds the confidence
SELECT ai.record_pattern_application(id, true, 30, 'db/migrations/042_index.sql') - 'last_applied'
FROM ai.fix_patterns WHERE title = 'Missing index on a foreign key';
SELECT ai.record_pattern_application(id, false, 0) - 'last_applied'
FROM ai.fix_patterns WHERE title = 'Missing index on a foreign key';
SELECT ai.record_pattern_application('00000000-0000-0000-0000-000000000000', true, 5);

-- relationships
SELECT ai.relate_patterns(a.id, b.id, 'enhances', 0.8, 'an estimate avoids the scan the index would not help')
FROM ai.fix_patterns a, ai.fix_patterns b
WHERE a.title = 'Missing index on a foreign key' AND b.title LIKE 'Counting rows%';
SELECT title, relationship, direction, strength, reviewed
FROM ai.related_patterns((SELECT id FROM ai.fix_patterns WHERE title LIKE 'Counting rows%'));
SELECT ai.relate_patterns(id, id, 'enhances', 0.5) FROM ai.fix_patterns WHERE title LIKE 'Counting%';
SELECT ai.relate_patterns(a.id, b.id, 'blocks', 0.5) FROM ai.fix_patterns a, ai.fix_patterns b
WHERE a.title LIKE 'Counting%' AND b.title LIKE 'Missing%';
SELECT ai.relate_patterns(a.id, b.id, 'follows', 1.5) FROM ai.fix_patterns a, ai.fix_patterns b
WHERE a.title LIKE 'Counting%' AND b.title LIKE 'Missing%';
-- discovery proposes unreviewed links to similar patterns
SELECT title, similarity > 0.5 AS similar
FROM ai.discover_relationships((SELECT id FROM ai.fix_patterns WHERE title LIKE 'Missing index%'), 0.5);
SELECT relationship, reviewed FROM ai.pattern_relationships WHERE NOT reviewed;

-- guardian rules: reviewing a security pattern turns its anti-patterns into rules
SELECT count(*) AS rules_before FROM ai.guardian_rules;
SELECT ai.review_pattern(id) AS rules FROM ai.fix_patterns WHERE title = 'SQL built by string concatenation';
SELECT name, regex, layers, file_pattern, severity, action FROM ai.guardian_rules ORDER BY name;
SELECT ai.add_guardian_rule('no SELECT *', '(?i)select\s+\*', 'List the columns you need', layers => ARRAY[4, 5]) > 0 AS added;
SELECT ai.add_guardian_rule('broken', '[a-', 'x');
SELECT name, severity, action, matched
FROM ai.check_guardian_rules('cur.execute("SELECT * FROM t WHERE id=" + user_id)', 4, 'app/db.py');
SELECT name FROM ai.check_guardian_rules('cur.execute("SELECT * FROM t WHERE id=" + user_id)', 4, 'app/db.go');
SELECT count(*) AS violations FROM ai.check_guardian_rules('SELECT id, name FROM t WHERE id = $1', 5);
SELECT name, hits FROM ai.guardian_rules ORDER BY name;
-- un-reviewing disables the generated rules
SELECT ai.review_pattern(id, false) AS rules FROM ai.fix_patterns WHERE title = 'SQL built by string concatenation';
SELECT count(*) FROM ai.check_guardian_rules('cur.execute("x" + y)', 4, 'a.py');
