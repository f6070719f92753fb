-- A lending library, generated deterministically: the second schema the engine has never
-- seen (plural table names, `id` keys, a year stored as an integer, dates relative to today).
CREATE TABLE authors (
    id         integer PRIMARY KEY,
    name       text    NOT NULL,
    country    text    NOT NULL,
    born_year  integer
);
COMMENT ON TABLE authors IS 'Writers of the books in the collection';
CREATE TABLE books (
    id             integer       PRIMARY KEY,
    title          text          NOT NULL,
    author_id      integer       NOT NULL REFERENCES authors,
    genre          text          NOT NULL,
    pages          integer       NOT NULL,
    published_year integer       NOT NULL,
    price          numeric(8, 2) NOT NULL
);
CREATE TABLE members (
    id        integer PRIMARY KEY,
    full_name text    NOT NULL,
    city      text    NOT NULL,
    joined_on date    NOT NULL,
    email     text
);
COMMENT ON TABLE members IS 'Library patrons who borrow books';
CREATE TABLE branches (
    id   integer PRIMARY KEY,
    name text    NOT NULL,
    city text    NOT NULL
);
CREATE TABLE loans (
    id          integer PRIMARY KEY,
    book_id     integer NOT NULL REFERENCES books,
    member_id   integer NOT NULL REFERENCES members,
    branch_id   integer NOT NULL REFERENCES branches,
    loaned_on   date    NOT NULL,
    returned_on date
);
CREATE TABLE reviews (
    id          integer PRIMARY KEY,
    book_id     integer NOT NULL REFERENCES books,
    member_id   integer NOT NULL REFERENCES members,
    rating      integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    reviewed_on date    NOT NULL
);

INSERT INTO authors
SELECT i,
       (ARRAY['Ana','Bruno','Clara','Dmitri','Elena','Farid','Greta','Hugo','Ines','Jonas'])[1 + (i - 1) % 10] || ' ' ||
       (ARRAY['Silva','Moreau','Keller','Rossi','Novak','Garcia'])[1 + (i - 1) / 10 % 6] || CASE WHEN i > 60 THEN ' II' ELSE '' END,
       (ARRAY['Portugal','Spain','Germany','France','Italy','Austria','Czechia','Brazil'])[1 + (i * 3) % 8],
       1900 + (i * 7) % 95
FROM generate_series(1, 40) i;

INSERT INTO books
SELECT i,
       (ARRAY['The Silent','A Distant','The Last','Broken','The Hidden','Golden','The Long','Winter'])[1 + i % 8] || ' ' ||
       (ARRAY['River','Garden','Letter','Empire','Harbor','Mirror','Forest','Promise','Voyage','Shadow'])[1 + (i / 8) % 10] ||
       ' ' || i,
       1 + floor(40 * ((i * 0.6180339887) - floor(i * 0.6180339887)) ^ 2)::int,
       (ARRAY['Fantasy','Mystery','Romance','Science Fiction','History','Poetry','Biography','Horror'])[1 + (i * 5) % 8],
       100 + (i * 577) % 1000,
       1950 + (i * 11) % 75,
       5 + ((i * 37) % 300) / 10.0
FROM generate_series(1, 300) i;

INSERT INTO members
SELECT i,
       (ARRAY['Alice','Ben','Chloe','David','Emma','Felix','Grace','Henry','Isla','Jack','Kate','Leo'])[1 + i % 12] || ' ' ||
       (ARRAY['Brown','Costa','Dubois','Ferreira','Hansen','Lopez','Martin','Schmidt','Weber','Young'])[1 + (i / 12) % 10] || ' ' || i,
       (ARRAY['Lisbon','Porto','Madrid','Berlin','Paris','Rome','Vienna','Prague'])[1 + (i * 7) % 8],
       current_date - (i * 13) % 1500,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 'member' || i || '@example.org' END
FROM generate_series(1, 200) i;

INSERT INTO branches VALUES
    (1, 'Central', 'Lisbon'), (2, 'Riverside', 'Porto'), (3, 'Old Town', 'Prague'),
    (4, 'Harbor', 'Lisbon'), (5, 'University', 'Vienna');

INSERT INTO loans
SELECT i,
       1 + (i * 7 + i / 13) % 280,
       1 + floor(190 * ((i * 0.7548776662) - floor(i * 0.7548776662)) ^ 1.5)::int,
       (ARRAY[1, 1, 1, 1, 2, 2, 2, 3, 3, 4])[1 + i % 10],
       current_date - (i * 37) % 730,
       CASE WHEN i % 9 = 0 THEN NULL ELSE current_date - (i * 37) % 730 + 14 END
FROM generate_series(1, 3000) i;

INSERT INTO reviews
SELECT i,
       1 + (i * 11) % 300,
       1 + (i * 17) % 150,
       1 + (i * i) % 5,
       current_date - (i * 5) % 900
FROM generate_series(1, 800) i;

ANALYZE;
