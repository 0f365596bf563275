-- Disability registry: each person with a disability certificate (or an application for
-- one), their functional difficulties and the support they need or receive, with a typed,
-- indexed column for every attribute a DCI query can filter or sort on. `doc` holds the
-- record as published. The home is kept at the three levels of the location master list.
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE pwd (
    id INTEGER PRIMARY KEY,
    dcn TEXT NOT NULL UNIQUE,
    uin TEXT NOT NULL UNIQUE,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    disability_status TEXT NOT NULL,
    disability_level TEXT,
    impairment_cause TEXT,
    age_on_set TEXT,
    transport_requirement TEXT,
    housing_type TEXT,
    support_received INTEGER NOT NULL,
    support_needed INTEGER NOT NULL,
    application_date TEXT NOT NULL,
    assessment_date TEXT,
    expiry_date TEXT,
    registration_date TEXT NOT NULL,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);

-- One row per decision on a certificate: two decisions that read the same version of a
-- record cannot both commit (the second one is refused and applied again).
CREATE TABLE pwd_change (
    dcn TEXT NOT NULL,
    version INTEGER NOT NULL,
    change TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (dcn, version)
);

CREATE TABLE pwd_difficulty (
    id INTEGER PRIMARY KEY,
    dcn TEXT NOT NULL,
    limitation_type TEXT NOT NULL,
    severity INTEGER NOT NULL,
    impairment_type TEXT,
    impairment_level TEXT
);

CREATE TABLE pwd_support (
    id INTEGER PRIMARY KEY,
    dcn TEXT NOT NULL,
    kind TEXT NOT NULL,
    type TEXT NOT NULL,
    received INTEGER NOT NULL,
    intensity TEXT
);
