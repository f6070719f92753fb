-- A hospital, generated deterministically: a schema the engine was not written on, with a
-- vocabulary of its own (wards keyed by dept_no, physicians, stays called admissions,
-- timestamps, a bill per stay, a bridge of prescriptions). Dates are relative to today.
CREATE TABLE departments (
    dept_no    integer PRIMARY KEY,
    dept_name  text    NOT NULL,
    floor      integer NOT NULL
);
COMMENT ON TABLE departments IS 'Hospital wards and clinical departments';
CREATE TABLE physicians (
    physician_id  integer       PRIMARY KEY,
    surname       text          NOT NULL,
    given_name    text          NOT NULL,
    specialty     text          NOT NULL,
    dept_no       integer       NOT NULL REFERENCES departments,
    hired_on      date          NOT NULL,
    annual_salary numeric(10, 2) NOT NULL
);
COMMENT ON TABLE physicians IS 'Doctors employed by the hospital';
CREATE TABLE patients (
    patient_id    integer PRIMARY KEY,
    patient_name  text    NOT NULL,
    sex           text    NOT NULL,
    date_of_birth date    NOT NULL,
    blood_group   text    NOT NULL,
    insurer       text
);
CREATE TABLE admissions (
    admission_id  integer        PRIMARY KEY,
    patient_id    integer        NOT NULL REFERENCES patients,
    dept_no       integer        NOT NULL REFERENCES departments,
    physician_id  integer        NOT NULL,
    admitted_at   timestamp      NOT NULL,
    discharged_at timestamp,
    diagnosis     text           NOT NULL,
    bill_amount   numeric(10, 2) NOT NULL
);
COMMENT ON TABLE admissions IS 'Hospital stays: a patient admitted to a department under a physician';
CREATE TABLE prescriptions (
    prescription_id integer PRIMARY KEY,
    admission_id    integer NOT NULL REFERENCES admissions,
    drug            text    NOT NULL,
    dose_mg         integer NOT NULL,
    prescribed_on   date    NOT NULL
);
COMMENT ON TABLE prescriptions IS 'Medication ordered during an admission';

INSERT INTO departments VALUES
    (10, 'Cardiology', 2), (20, 'Oncology', 3), (30, 'Pediatrics', 1),
    (40, 'Neurology', 4), (50, 'Emergency', 0), (60, 'Orthopedics', 2);

INSERT INTO physicians
SELECT i,
       (ARRAY['Okafor','Lindqvist','Tanaka','Moreno','Schulz','Haddad','Kowalski','Nguyen','Byrne','Petrov'])[1 + (i - 1) % 10],
       (ARRAY['Amara','Lars','Yuki','Sofia','Jonas','Rami','Ewa','Minh','Aoife'])[1 + (i * 4) % 9],
       (ARRAY['cardiologist','oncologist','pediatrician','neurologist','emergency physician','orthopedic surgeon'])[1 + (i - 1) % 6],
       (1 + (i - 1) % 6) * 10,
       current_date - 200 - (i * 311) % 7000,
       90000 + (i * 7919) % 160000
FROM generate_series(1, 42) i;
-- three physicians who have not attended anyone yet
UPDATE physicians SET hired_on = current_date - 20 WHERE physician_id IN (40, 41, 42);

INSERT INTO patients
SELECT i,
       (ARRAY['Maria','John','Fatima','Wei','Olga','Carlos','Priya','Tom','Leila','Ivan','Grace','Kenji'])[1 + i % 12] || ' ' ||
       (ARRAY['Alves','Baker','Chen','Diaz','Evans','Fischer','Gupta','Hill','Ito','Jensen'])[1 + (i / 12) % 10] || ' ' || i,
       CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END,
       date '1935-01-01' + (i * 997) % 30000,
       (ARRAY['O+','A+','B+','AB+','O-','A-','B-','AB-'])[1 + (i * 3) % 8],
       (ARRAY['Medicare','Aetna','Cigna','Humana','Kaiser'])[1 + (i * 7) % 6]
FROM generate_series(1, 320) i;

INSERT INTO admissions
SELECT i,
       1 + (i * 13 + i / 7) % 300,
       (1 + (i * 5) % 6) * 10,
       0,
       current_date - (i * 41) % 1800 + make_interval(hours => (i * 7) % 24),
       NULL,
       (ARRAY['pneumonia','fracture','heart failure','migraine','appendicitis','stroke','asthma','leukemia','concussion'])[1 + (i * 11) % 9],
       round((800 + (i * 2741) % 48000 + (i % 17) * 13.37)::numeric, 2)
FROM generate_series(1, 1500) i;
-- the attending physician works in the admitting department
UPDATE admissions a SET physician_id = p.physician_id
  FROM (SELECT physician_id, dept_no, row_number() OVER (PARTITION BY dept_no ORDER BY physician_id) - 1 AS k,
               count(*) OVER (PARTITION BY dept_no) AS n
          FROM physicians WHERE physician_id < 40) p
 WHERE p.dept_no = a.dept_no AND p.k = a.admission_id % p.n;
UPDATE admissions SET discharged_at = admitted_at + make_interval(days => 1 + admission_id % 12)
 WHERE admission_id % 10 <> 0;
ALTER TABLE admissions ADD FOREIGN KEY (physician_id) REFERENCES physicians;

INSERT INTO prescriptions
SELECT i,
       1 + (i * 3) % 1400,
       (ARRAY['amoxicillin','ibuprofen','metoprolol','morphine','salbutamol','paracetamol','warfarin'])[1 + (i * 5) % 7],
       (ARRAY[5, 10, 20, 50, 100, 250, 500])[1 + (i * 3) % 7],
       current_date - (i * 17) % 1800
FROM generate_series(1, 2600) i;

ANALYZE;
