-- One index per filterable attribute, and composites for the hot targeting queries
-- (poverty score within a region, district or sub-county).
CREATE INDEX IF NOT EXISTS household_poverty ON household (poverty_score);
CREATE INDEX IF NOT EXISTS household_size ON household (group_size, poverty_score);
CREATE INDEX IF NOT EXISTS household_region ON household (region_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_district ON household (district_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_location ON household (location_code, poverty_score);
CREATE INDEX IF NOT EXISTS household_type ON household (group_type);
CREATE INDEX IF NOT EXISTS household_head ON household (head_uin);
CREATE INDEX IF NOT EXISTS household_registered ON household (registration_date);
CREATE INDEX IF NOT EXISTS person_household ON person (household_id);
CREATE INDEX IF NOT EXISTS person_birth ON person (birth_date);
CREATE INDEX IF NOT EXISTS person_sex_marital ON person (sex, marital_status, birth_date);
CREATE INDEX IF NOT EXISTS person_marital ON person (marital_status);
CREATE INDEX IF NOT EXISTS person_relationship ON person (relationship_to_head);
CREATE INDEX IF NOT EXISTS person_education ON person (education_level, birth_date);
CREATE INDEX IF NOT EXISTS person_employment ON person (employment_status);
CREATE INDEX IF NOT EXISTS person_disabled ON person (is_disabled);
CREATE INDEX IF NOT EXISTS person_surname ON person (surname, given_name);
CREATE INDEX IF NOT EXISTS person_given_name ON person (given_name);
