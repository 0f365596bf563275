-- Farmer registry: farmers, their land parcels, the crops grown on each parcel and the
-- animals each farmer keeps, with a typed, indexed column for every attribute a DCI query
-- can filter or sort on. `doc` holds the record as published (farmer or parcel). Places are
-- kept at the three levels of the location master list; land sizes are in hectares.
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE farmer (
    id INTEGER PRIMARY KEY,
    fid TEXT NOT NULL UNIQUE,
    uin TEXT NOT NULL UNIQUE,
    household_id TEXT,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    farm_type TEXT NOT NULL,
    land_size REAL NOT NULL,
    parcel_count INTEGER NOT NULL,
    livestock_count INTEGER NOT NULL,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE parcel (
    id INTEGER PRIMARY KEY,
    lpi TEXT NOT NULL UNIQUE,
    fid TEXT NOT NULL,
    uin TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    land_size REAL NOT NULL,
    land_tenure TEXT NOT NULL,
    irrigated INTEGER NOT NULL,
    registration_date TEXT NOT NULL,
    doc TEXT NOT NULL
);

CREATE TABLE crop (
    id INTEGER PRIMARY KEY,
    lpi TEXT NOT NULL,
    fid TEXT NOT NULL,
    crop TEXT NOT NULL,
    crop_type TEXT NOT NULL
);

CREATE TABLE livestock (
    id INTEGER PRIMARY KEY,
    fid TEXT NOT NULL,
    animal TEXT NOT NULL,
    count INTEGER NOT NULL
);
