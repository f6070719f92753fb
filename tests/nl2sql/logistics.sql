-- A logistics company, generated deterministically: a schema the engine was not written on
-- (depots, a fleet, drivers, client companies, shipments with weights, freight charges and
-- delivery times, and the stops of each route). Dates are relative to today.
CREATE TABLE depots (
    depot_id    integer PRIMARY KEY,
    depot_name  text    NOT NULL,
    region      text    NOT NULL,
    opened_on   date    NOT NULL,
    capacity_m3 integer NOT NULL
);
COMMENT ON TABLE depots IS 'Warehouses from which shipments leave';
CREATE TABLE vehicles (
    vehicle_id        integer PRIMARY KEY,
    plate             text    NOT NULL UNIQUE,
    vehicle_type      text    NOT NULL,
    depot_id          integer NOT NULL REFERENCES depots,
    max_load_kg       integer NOT NULL,
    commissioned_year integer NOT NULL
);
COMMENT ON TABLE vehicles IS 'The fleet: vans, trucks and cargo bikes';
CREATE TABLE drivers (
    driver_id     integer      PRIMARY KEY,
    full_name     text         NOT NULL,
    licence_class text         NOT NULL,
    depot_id      integer      NOT NULL REFERENCES depots,
    hired_on      date         NOT NULL,
    hourly_rate   numeric(6, 2) NOT NULL
);
CREATE TABLE clients (
    client_id    integer PRIMARY KEY,
    company_name text    NOT NULL,
    city         text    NOT NULL,
    sector       text    NOT NULL
);
COMMENT ON TABLE clients IS 'Companies that send goods with us';
CREATE TABLE shipments (
    shipment_id    integer        PRIMARY KEY,
    client_id      integer        NOT NULL REFERENCES clients,
    depot_id       integer        NOT NULL REFERENCES depots,
    driver_id      integer        REFERENCES drivers,
    vehicle_id     integer        REFERENCES vehicles,
    weight_kg      numeric(8, 1)  NOT NULL,
    freight_charge numeric(10, 2) NOT NULL,
    status         text           NOT NULL,
    shipped_at     timestamptz    NOT NULL,
    delivered_at   timestamptz
);
COMMENT ON TABLE shipments IS 'Consignments picked up from a client and carried from a depot';
CREATE TABLE route_stops (
    shipment_id integer NOT NULL REFERENCES shipments,
    stop_no     integer NOT NULL,
    city        text    NOT NULL,
    arrived_at  timestamptz,
    PRIMARY KEY (shipment_id, stop_no)
);

INSERT INTO depots VALUES
    (1, 'Rotterdam Hub', 'West', current_date - 4000, 52000),
    (2, 'Antwerp North', 'West', current_date - 3100, 31000),
    (3, 'Leipzig Cross', 'East', current_date - 1900, 44000),
    (4, 'Lyon South', 'South', current_date - 900, 18000),
    (5, 'Milan Gate', 'South', current_date - 300, 26000);

INSERT INTO vehicles
SELECT i,
       'NL-' || lpad(i::text, 3, '0'),
       (ARRAY['van','truck','cargo bike','van','truck'])[1 + i % 5],
       1 + (i * 3) % 5,
       (ARRAY[1200, 18000, 150, 1500, 24000])[1 + i % 5],
       2010 + (i * 7) % 15
FROM generate_series(1, 60) i;

INSERT INTO drivers
SELECT i,
       (ARRAY['Pieter','Anke','Luca','Marta','Youssef','Hanna','Dario','Ilse','Tomasz','Noor'])[1 + i % 10] || ' ' ||
       (ARRAY['de Vries','Maes','Rossi','Nowak','El Amrani','Becker','Conti','Janssens'])[1 + (i / 10) % 8] || ' ' || i,
       (ARRAY['B','C','CE','C1'])[1 + (i * 3) % 4],
       1 + i % 5,
       current_date - 30 - (i * 173) % 3500,
       18 + (i * 37) % 170 / 10.0
FROM generate_series(1, 80) i;

INSERT INTO clients
SELECT i,
       (ARRAY['Nordic','Alpine','Delta','Orion','Vega','Atlas','Kestrel','Summit','Harbor','Zenith'])[1 + i % 10] || ' ' ||
       (ARRAY['Foods','Pharma','Textiles','Motors','Electronics','Furniture'])[1 + (i / 10) % 6] || ' ' || i,
       (ARRAY['Rotterdam','Hamburg','Lyon','Milan','Gdansk','Antwerp','Leipzig'])[1 + (i * 5) % 7],
       (ARRAY['food','pharmaceuticals','retail','automotive','electronics'])[1 + (i * 3) % 5]
FROM generate_series(1, 120) i;

INSERT INTO shipments
SELECT i,
       1 + floor(110 * ((i * 0.6180339887) - floor(i * 0.6180339887)) ^ 2)::int,
       1 + (i * 3) % 5,
       CASE WHEN i % 25 = 0 THEN NULL ELSE 1 + (i * 11) % 72 END,
       CASE WHEN i % 25 = 0 THEN NULL ELSE 1 + (i * 13) % 60 END,
       round((5 + (i * 389) % 9000 / 3.0)::numeric, 1),
       round((40 + (i * 1031) % 5200 + (i % 9) * 0.55)::numeric, 2),
       CASE WHEN i % 25 = 0 THEN 'pending' WHEN i % 19 = 0 THEN 'lost' WHEN i % 13 = 0 THEN 'returned'
            WHEN i % 7 = 0 THEN 'in transit' ELSE 'delivered' END,
       current_timestamp - make_interval(days => (i * 29) % 1400, hours => i % 24),
       NULL
FROM generate_series(1, 4000) i;
UPDATE shipments SET delivered_at = shipped_at + make_interval(hours => 6 + (shipment_id * 17) % 90)
 WHERE status IN ('delivered', 'returned');

INSERT INTO route_stops
SELECT s.shipment_id, k,
       (ARRAY['Utrecht','Eindhoven','Cologne','Dortmund','Brussels','Ghent','Dijon','Turin'])[1 + (s.shipment_id + k * 3) % 8],
       CASE WHEN s.delivered_at IS NULL THEN NULL ELSE s.shipped_at + make_interval(hours => 2 * k) END
  FROM shipments s, generate_series(1, 1 + s.shipment_id % 4) k;

ANALYZE;
