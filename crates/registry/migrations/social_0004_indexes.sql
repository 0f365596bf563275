-- The indexes of the social registry, built again at the end of a bulk load into empty tables
-- (which drops them all) and checked at every start. One per attribute worth an index, and
-- composites for the hot targeting queries (poverty score within a region, district or
-- sub-county, sex and marital status by age). The low-selectivity single columns of
-- social_0002_indexes.sql (group type, marital status alone, relationship, employment,
-- disability) are gone: each matches a fifth or more of the rows, where a scan is as fast.
CREATE INDEX IF NOT EXISTS household_poverty ON household (poverty_score);
CREATE INDEX IF NOT EXISTS household_size ON household (group_size, poverty_score);
CREATE INDEX IF NOT EXISTS household_region ON household (region_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_district ON household (district_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_location ON household (location_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_head ON household (head_uin);
CREATE INDEX IF NOT EXISTS household_registered ON household (registration_date);
CREATE INDEX IF NOT EXISTS person_household ON person (household_id);
CREATE INDEX IF NOT EXISTS person_birth ON person (birth_date);
CREATE INDEX IF NOT EXISTS person_sex_marital ON person (sex, marital_status, birth_date);
CREATE INDEX IF NOT EXISTS person_education ON person (education_level, birth_date);
CREATE INDEX IF NOT EXISTS person_surname ON person (surname, given_name);
CREATE INDEX IF NOT EXISTS person_given_name ON person (given_name);
-- The keys (social_0003_keys.sql): built last, from the sorted rows, at the end of a bulk load.
CREATE UNIQUE INDEX IF NOT EXISTS household_key ON household (household_id);
CREATE UNIQUE INDEX IF NOT EXISTS person_uin ON person (uin);
