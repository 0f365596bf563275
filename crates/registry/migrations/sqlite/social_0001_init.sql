-- Social registry: households (groups) and their members, with a typed, indexed column for
-- every attribute a DCI query can filter or sort on. `doc` holds the record as published.
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE household (
    id INTEGER PRIMARY KEY,
    household_id TEXT NOT NULL UNIQUE,
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

CREATE TABLE person (
    id INTEGER PRIMARY KEY,
    uin TEXT NOT NULL UNIQUE,
    household_id TEXT NOT NULL REFERENCES household (household_id),
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
