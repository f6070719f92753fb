-- An airline, generated deterministically: the second held-out schema, written after the
-- engine was last changed and never used to tune it. Text keys (IATA codes, tail numbers),
-- two foreign keys from flights to airports, passengers and flights meeting through
-- bookings. Dates are relative to today.
CREATE TABLE airports (
    iata_code    text PRIMARY KEY,
    airport_name text NOT NULL,
    city         text NOT NULL,
    country      text NOT NULL
);
CREATE TABLE aircraft (
    tail_number       text    PRIMARY KEY,
    model             text    NOT NULL,
    seats             integer NOT NULL,
    first_flight_year integer NOT NULL
);
COMMENT ON TABLE aircraft IS 'The planes of the fleet';
CREATE TABLE flights (
    flight_id   integer     PRIMARY KEY,
    flight_no   text        NOT NULL,
    origin      text        NOT NULL REFERENCES airports,
    destination text        NOT NULL REFERENCES airports,
    tail_number text        NOT NULL REFERENCES aircraft,
    departs_at  timestamptz NOT NULL,
    arrives_at  timestamptz NOT NULL,
    status      text        NOT NULL,
    distance_km integer     NOT NULL
);
CREATE TABLE passengers (
    passenger_id         integer PRIMARY KEY,
    full_name            text    NOT NULL,
    nationality          text    NOT NULL,
    frequent_flyer_tier  text,
    born_on              date    NOT NULL
);
CREATE TABLE bookings (
    booking_id   integer        PRIMARY KEY,
    passenger_id integer        NOT NULL REFERENCES passengers,
    flight_id    integer        NOT NULL REFERENCES flights,
    cabin        text           NOT NULL,
    fare         numeric(8, 2)  NOT NULL,
    booked_at    timestamptz    NOT NULL
);
COMMENT ON TABLE bookings IS 'Seats sold: a passenger on a flight';

INSERT INTO airports VALUES
    ('LIS', 'Humberto Delgado', 'Lisbon', 'Portugal'), ('OPO', 'Francisco Sa Carneiro', 'Porto', 'Portugal'),
    ('MAD', 'Barajas', 'Madrid', 'Spain'), ('CDG', 'Charles de Gaulle', 'Paris', 'France'),
    ('FRA', 'Frankfurt Main', 'Frankfurt', 'Germany'), ('JFK', 'John F. Kennedy', 'New York', 'United States'),
    ('GRU', 'Guarulhos', 'Sao Paulo', 'Brazil'), ('LHR', 'Heathrow', 'London', 'United Kingdom');

INSERT INTO aircraft
SELECT 'CS-T' || chr(64 + i),
       (ARRAY['A320neo','A321LR','A330-900','E195','ATR 72'])[1 + i % 5],
       (ARRAY[174, 220, 298, 118, 70])[1 + i % 5] + i,
       2000 + (i * 7) % 24
FROM generate_series(1, 20) i;

INSERT INTO flights
SELECT i,
       'TP' || (100 + (i * 37) % 900),
       (ARRAY['LIS','OPO','MAD','CDG','FRA','JFK','GRU','LHR'])[1 + (i * 3) % 8],
       (ARRAY['LIS','OPO','MAD','CDG','FRA','JFK','GRU','LHR'])[1 + (i * 3 + 1 + i % 7) % 8],
       'CS-T' || chr(65 + (i * 11) % 20),
       current_date - 400 + (i % 500) + make_interval(hours => (i * 5) % 24, mins => (i * 13) % 60),
       current_date - 400 + (i % 500) + make_interval(hours => (i * 5) % 24 + 2 + i % 9, mins => (i * 13) % 60),
       CASE WHEN i % 17 = 0 THEN 'cancelled' WHEN i % 5 = 0 THEN 'delayed' ELSE 'on time' END,
       300 + (i * 977) % 9000
FROM generate_series(1, 900) i;

INSERT INTO passengers
SELECT i,
       (ARRAY['Joao','Ana','Pierre','Lena','Carlos','Mei','Omar','Sara','Tiago','Nadia','Hugo','Rita'])[1 + i % 12] || ' ' ||
       (ARRAY['Pereira','Dubois','Schmidt','Lopez','Wang','Haddad','Costa','Smith','Moreau','Silva'])[1 + (i / 12) % 10] || ' ' || i,
       (ARRAY['Portugal','France','Germany','Spain','China','Morocco','Brazil','United States'])[1 + (i * 5) % 8],
       (ARRAY['gold','silver','platinum'])[1 + (i * 7) % 5],
       date '1940-01-01' + (i * 1733) % 25000
FROM generate_series(1, 700) i;

INSERT INTO bookings
SELECT i,
       1 + floor(680 * ((i * 0.6180339887) - floor(i * 0.6180339887)) ^ 1.3)::int,
       1 + (i * 7) % 900,
       CASE WHEN i % 11 = 0 THEN 'first' WHEN i % 4 = 0 THEN 'business' ELSE 'economy' END,
       round((49 + (i * 3119) % 1900 + (i % 13) * 0.37)::numeric, 2),
       current_date - 420 + (i * 3) % 480 + make_interval(hours => i % 24)
FROM generate_series(1, 6000) i;

ANALYZE;
