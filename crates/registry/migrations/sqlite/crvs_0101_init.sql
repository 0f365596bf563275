-- Civil registration (CRVS): the person as the register knows them, and the birth, death and
-- marriage registrations behind it, with a typed, indexed column for every attribute a DCI
-- query can filter or sort on. `doc` holds the record as published. A place is kept at the
-- three levels of the location master list (region, district, sub-county).
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE person (
    id INTEGER PRIMARY KEY,
    uin TEXT NOT NULL UNIQUE,
    brn TEXT NOT NULL UNIQUE,
    drn TEXT UNIQUE,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    mother_uin TEXT,
    father_uin TEXT,
    is_deceased INTEGER NOT NULL,
    death_date TEXT,
    marital_status TEXT NOT NULL,
    spouse_uin TEXT,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);

-- One row per change of a registered person: two registrations that read the same version
-- of a person cannot both commit (the second one is refused and retried).
CREATE TABLE person_change (
    uin TEXT NOT NULL,
    version INTEGER NOT NULL,
    change TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (uin, version)
);

CREATE TABLE birth (
    id INTEGER PRIMARY KEY,
    brn TEXT NOT NULL UNIQUE,
    uin TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    mother_uin TEXT,
    father_uin TEXT,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE death (
    id INTEGER PRIMARY KEY,
    drn TEXT NOT NULL UNIQUE,
    uin TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    death_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE marriage (
    id INTEGER PRIMARY KEY,
    mrn TEXT NOT NULL UNIQUE,
    spouse1_uin TEXT NOT NULL,
    spouse2_uin TEXT NOT NULL,
    marriage_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);
