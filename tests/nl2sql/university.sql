-- A university, generated deterministically: the held-out schema. Its questions were written
-- before the engine was changed for them and are not used to tune it: they measure what the
-- engine does on a schema nobody adapted it to. Students and courses meet through the bridge
-- table enrolments; dates are relative to today.
CREATE TABLE faculties (
    faculty_id integer PRIMARY KEY,
    title      text    NOT NULL,
    building   text    NOT NULL
);
COMMENT ON TABLE faculties IS 'Schools of the university, each with its own building';
CREATE TABLE lecturers (
    lecturer_id integer PRIMARY KEY,
    first_name  text    NOT NULL,
    last_name   text    NOT NULL,
    faculty_id  integer NOT NULL REFERENCES faculties,
    academic_rank text  NOT NULL,
    appointed_on date   NOT NULL
);
CREATE TABLE students (
    student_id          integer      PRIMARY KEY,
    first_name          text         NOT NULL,
    last_name           text         NOT NULL,
    home_country        text         NOT NULL,
    enrolled_year       integer      NOT NULL,
    gpa                 numeric(4, 3),
    expected_graduation date         NOT NULL
);
CREATE TABLE courses (
    course_code  text    PRIMARY KEY,
    course_title text    NOT NULL,
    credits      integer NOT NULL,
    faculty_id   integer NOT NULL REFERENCES faculties,
    lecturer_id  integer REFERENCES lecturers
);
CREATE TABLE enrolments (
    student_id  integer      NOT NULL REFERENCES students,
    course_code text         NOT NULL REFERENCES courses,
    term        text         NOT NULL,
    final_mark  numeric(4, 1),
    PRIMARY KEY (student_id, course_code, term)
);
COMMENT ON TABLE enrolments IS 'Which student took which course in which term, and the final mark';

INSERT INTO faculties VALUES
    (1, 'Engineering', 'Turing Hall'), (2, 'Medicine', 'Harvey Building'),
    (3, 'Humanities', 'Woolf House'), (4, 'Natural Sciences', 'Curie Centre'),
    (5, 'Law', 'Blackstone Court');

INSERT INTO lecturers
SELECT i,
       (ARRAY['Ada','Bram','Chiara','Desmond','Eun','Filipa','Gustav','Hira','Ivo','Jun'])[1 + i % 10],
       (ARRAY['Abbott','Bianchi','Castro','Dahl','Eriksen','Fontaine','Gallo','Horvat','Iqbal'])[1 + (i * 7) % 9],
       1 + floor(5 * ((i * 0.6180339887) - floor(i * 0.6180339887)) ^ 1.5)::int,
       (ARRAY['professor','associate professor','lecturer','senior lecturer'])[1 + (i * 3) % 4],
       current_date - 100 - (i * 409) % 9000
FROM generate_series(1, 45) i;

INSERT INTO students
SELECT i,
       (ARRAY['Aiden','Bea','Caio','Dana','Emre','Freya','Goran','Hana','Idris','Jade','Kofi','Lina'])[1 + i % 12],
       (ARRAY['Adams','Bauer','Cohen','Duarte','Engel','Fraser','Grant','Hoang','Ibrahim','Jovanovic'])[1 + (i / 12) % 10],
       (ARRAY['Ireland','India','Nigeria','Canada','Germany','Brazil','China','Ireland','Ireland',
              'Ireland','India','India','Nigeria'])[1 + (i * 5) % 13],
       extract(year FROM current_date)::int - (i * 7) % 12,
       CASE WHEN i % 15 = 0 THEN NULL ELSE round((2.0 + 2 * ((i * 0.7548776662) - floor(i * 0.7548776662)))::numeric, 3) END,
       make_date(extract(year FROM current_date)::int - (i * 7) % 12 + 4, 6, 30)
FROM generate_series(1, 620) i;

INSERT INTO courses
SELECT 'C' || lpad(i::text, 3, '0'),
       (ARRAY['Introduction to','Advanced','Topics in','Foundations of','Seminar on'])[1 + i % 5] || ' ' ||
       (ARRAY['Algorithms','Anatomy','Ethics','Quantum Physics','Contract Law','Poetry','Genetics','Robotics'])[1 + (i * 3) % 8],
       (ARRAY[5, 10, 15, 20])[1 + (i * 7) % 4],
       1 + (i * 3) % 5,
       CASE WHEN i % 11 = 0 THEN NULL ELSE 1 + (i * 17) % 40 END
FROM generate_series(1, 48) i;

INSERT INTO enrolments
SELECT DISTINCT ON (s, c, t) s, c, t,
       CASE WHEN t = 'autumn ' || extract(year FROM current_date)::int THEN NULL
            ELSE round((35 + (s * 31 + length(c) * 7 + k * 13) % 650 / 10.0)::numeric, 1) END
  FROM (SELECT 1 + (k * 7) % 600 AS s,
               'C' || lpad((1 + floor(48 * ((k * 0.6180339887) - floor(k * 0.6180339887)) ^ 1.6))::int::text, 3, '0') AS c,
               (ARRAY['autumn ', 'spring '])[1 + k % 2] || (extract(year FROM current_date)::int - (k / 600) % 5) AS t,
               k
          FROM generate_series(1, 5000) k) q
 ORDER BY s, c, t, k;

ANALYZE;
