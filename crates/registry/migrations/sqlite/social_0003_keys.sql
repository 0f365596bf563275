-- The household and member keys become unique indexes of their own (`household_key`,
-- `person_uin`) instead of UNIQUE constraints, so that a bulk load into empty tables can drop
-- them with the secondary indexes and build them once at the end (one sort each, instead of a
-- random B-tree insert per row). SQLite cannot drop a constraint: both tables are rebuilt.
-- Five low-selectivity indexes the planner does not need go (see social_0004_indexes.sql).
CREATE TABLE household_next (
    id INTEGER PRIMARY KEY,
    household_id TEXT NOT NULL,
    group_type TEXT NOT NULL,
    poverty_score REAL NOT NULL,
    group_size INTEGER NOT NULL,
    region_code TEXT NOT NULL,
    district_code TEXT NOT NULL,
    location_code TEXT NOT NULL,
    head_uin TEXT,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);
INSERT INTO household_next (id, household_id, group_type, poverty_score, group_size,
    region_code, district_code, location_code, head_uin, registration_date, doc)
SELECT id, household_id, group_type, poverty_score, group_size, region_code, district_code,
    location_code, head_uin, registration_date, doc
FROM household;
CREATE UNIQUE INDEX household_key ON household_next (household_id);

CREATE TABLE person_next (
    id INTEGER PRIMARY KEY,
    uin TEXT NOT NULL,
    household_id TEXT NOT NULL REFERENCES household_next (household_id),
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    marital_status TEXT,
    relationship_to_head TEXT,
    education_level TEXT,
    employment_status TEXT,
    is_disabled INTEGER NOT NULL,
    doc TEXT NOT NULL
);
INSERT INTO person_next (id, uin, household_id, given_name, surname, sex, birth_date,
    marital_status, relationship_to_head, education_level, employment_status, is_disabled, doc)
SELECT id, uin, household_id, given_name, surname, sex, birth_date, marital_status,
    relationship_to_head, education_level, employment_status, is_disabled, doc
FROM person;
CREATE UNIQUE INDEX person_uin ON person_next (uin);

-- The old tables go with their indexes (social_0004_indexes.sql builds the kept ones again);
-- renaming household_next rewrites person_next's reference to it.
DROP TABLE person;
DROP TABLE household;
ALTER TABLE household_next RENAME TO household;
ALTER TABLE person_next RENAME TO person;
