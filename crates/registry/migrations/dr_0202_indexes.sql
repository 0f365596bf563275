-- One index per filterable attribute (identifiers have their UNIQUE indexes), composites for
-- the hot questions (the certified in a place, by age; applications waiting since a date;
-- certificates expiring), and the links of difficulties and support to their person.
CREATE INDEX IF NOT EXISTS pwd_status ON pwd (disability_status, expiry_date);
CREATE INDEX IF NOT EXISTS pwd_region ON pwd (region_code, disability_status, birth_date);
CREATE INDEX IF NOT EXISTS pwd_district ON pwd (district_code, disability_status, birth_date);
CREATE INDEX IF NOT EXISTS pwd_location ON pwd (location_code, disability_status, birth_date);
CREATE INDEX IF NOT EXISTS pwd_birth ON pwd (birth_date);
CREATE INDEX IF NOT EXISTS pwd_level ON pwd (disability_level);
CREATE INDEX IF NOT EXISTS pwd_application ON pwd (application_date);
CREATE INDEX IF NOT EXISTS pwd_assessment ON pwd (assessment_date);
CREATE INDEX IF NOT EXISTS pwd_expiry ON pwd (expiry_date);
CREATE INDEX IF NOT EXISTS pwd_surname ON pwd (surname, given_name);
CREATE INDEX IF NOT EXISTS pwd_difficulty_person ON pwd_difficulty (dcn, limitation_type, severity);
CREATE INDEX IF NOT EXISTS pwd_difficulty_type ON pwd_difficulty (limitation_type, severity);
CREATE INDEX IF NOT EXISTS pwd_difficulty_impairment ON pwd_difficulty (impairment_type);
CREATE INDEX IF NOT EXISTS pwd_support_person ON pwd_support (dcn, kind, received);
CREATE INDEX IF NOT EXISTS pwd_support_kind ON pwd_support (kind, type, received);
