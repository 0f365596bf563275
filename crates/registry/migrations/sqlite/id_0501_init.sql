-- Foundational identity (ID): one identity per UIN, with a typed, indexed column for every
-- attribute a DCI query can filter or sort on. `doc` holds the record as published. The
-- address is kept at the three levels of the location master list (region, district,
-- sub-county).
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

CREATE TABLE identity (
    id INTEGER PRIMARY KEY,
    uin TEXT NOT NULL UNIQUE,
    drn TEXT UNIQUE,
    given_name TEXT NOT NULL,
    surname TEXT NOT NULL,
    sex TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    region_code TEXT,
    district_code TEXT,
    location_code TEXT,
    status TEXT NOT NULL,
    is_deceased INTEGER NOT NULL,
    death_date TEXT,
    issuance_date TEXT NOT NULL,
    card_number TEXT UNIQUE,
    card_issuance_date TEXT,
    card_expiry_date TEXT,
    version INTEGER NOT NULL,
    doc TEXT NOT NULL
);

-- One row per change of an identity, with what caused it (the civil registry's notification):
-- two changes that read the same version of an identity cannot both commit.
CREATE TABLE identity_change (
    uin TEXT NOT NULL,
    version INTEGER NOT NULL,
    change TEXT NOT NULL,
    source TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    PRIMARY KEY (uin, version)
);

-- The subscriptions this registry holds at other registries (the civil registry's deaths),
-- one per registry, event and record type: made at start unless already active there.
CREATE TABLE upstream_subscription (
    registry_url TEXT NOT NULL,
    reg_event_type TEXT NOT NULL,
    record_type TEXT NOT NULL,
    registry_id TEXT NOT NULL,
    code TEXT NOT NULL,
    filter TEXT NOT NULL,
    notify_url TEXT NOT NULL,
    subscribed_at TEXT NOT NULL,
    confirmed_at TEXT NOT NULL,
    PRIMARY KEY (registry_url, reg_event_type, record_type)
);
