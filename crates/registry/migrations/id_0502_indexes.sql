-- One index per filterable attribute (identifiers have their UNIQUE indexes), and composites
-- for the hot questions: verification (a UIN with a name and birth date: the UIN's own index
-- finds the one row), who lives in a place, who died since a date, cards expiring.
CREATE INDEX IF NOT EXISTS identity_birth ON identity (birth_date);
CREATE INDEX IF NOT EXISTS identity_region ON identity (region_code, birth_date);
CREATE INDEX IF NOT EXISTS identity_district ON identity (district_code, birth_date);
CREATE INDEX IF NOT EXISTS identity_location ON identity (location_code, birth_date);
CREATE INDEX IF NOT EXISTS identity_sex ON identity (sex, birth_date);
CREATE INDEX IF NOT EXISTS identity_status ON identity (status, death_date);
CREATE INDEX IF NOT EXISTS identity_deceased ON identity (is_deceased, death_date);
CREATE INDEX IF NOT EXISTS identity_death ON identity (death_date);
CREATE INDEX IF NOT EXISTS identity_surname ON identity (surname, given_name);
CREATE INDEX IF NOT EXISTS identity_given_name ON identity (given_name);
CREATE INDEX IF NOT EXISTS identity_issued ON identity (issuance_date);
CREATE INDEX IF NOT EXISTS identity_card_expiry ON identity (card_expiry_date);
