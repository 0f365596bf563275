-- Integrated beneficiary registry: the programmes whose SP-MISs publish to it, each
-- beneficiary's enrolment in a programme (a person, or a household with the person who
-- receives for it), and the benefits paid, with a typed, indexed column for every attribute a
-- DCI query can filter or sort on. `doc` holds the record as published. Amounts are integer
-- minor units of their ISO 4217 currency. `duplicate` marks an active enrolment whose
-- beneficiary is also active in another programme giving the same benefit type; it is kept
-- up to date by every change. An enrolment's `enrolment_key` is `<programme>:<beneficiary id>`.
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE programme (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT,
    benefit_type TEXT,
    assistance_unit TEXT NOT NULL,
    institution TEXT,
    owner TEXT,
    amount INTEGER,
    currency TEXT,
    frequency TEXT,
    doc TEXT NOT NULL
);

CREATE TABLE enrolment (
    id INTEGER PRIMARY KEY,
    enrolment_key TEXT NOT NULL UNIQUE,
    programme_code TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    assistance_unit TEXT NOT NULL,
    uin TEXT,
    household_id TEXT,
    given_name TEXT,
    surname TEXT,
    sex TEXT,
    birth_date TEXT,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    benefit_type TEXT,
    status TEXT NOT NULL,
    enrolment_date TEXT,
    status_date TEXT,
    status_reason TEXT,
    last_benefit_date TEXT,
    duplicate INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE benefit (
    id INTEGER PRIMARY KEY,
    benefit_id TEXT NOT NULL,
    programme_code TEXT NOT NULL,
    beneficiary_id TEXT NOT NULL,
    uin TEXT,
    household_id TEXT,
    benefit_type TEXT NOT NULL,
    benefit_date TEXT NOT NULL,
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    payment_status TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    doc TEXT NOT NULL,
    UNIQUE (programme_code, benefit_id)
);
