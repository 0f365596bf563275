-- One index per filterable attribute, and composites for the hot targeting queries
-- (poverty score within a region, district or sub-county).
CREATE INDEX household_poverty ON household (poverty_score);
CREATE INDEX household_size ON household (group_size, poverty_score);
CREATE INDEX household_region ON household (region_code, poverty_score);
CREATE INDEX household_district ON household (district_code, poverty_score);
CREATE INDEX household_location ON household (location_code, poverty_score);
CREATE INDEX household_type ON household (group_type);
CREATE INDEX household_head ON household (head_uin);
CREATE INDEX household_registered ON household (registration_date);
CREATE INDEX person_household ON person (household_id);
CREATE INDEX person_birth ON person (birth_date);
CREATE INDEX person_sex_marital ON person (sex, marital_status, birth_date);
CREATE INDEX person_marital ON person (marital_status);
CREATE INDEX person_relationship ON person (relationship_to_head);
CREATE INDEX person_education ON person (education_level, birth_date);
CREATE INDEX person_employment ON person (employment_status);
CREATE INDEX person_disabled ON person (is_disabled);
CREATE INDEX person_surname ON person (surname, given_name);
CREATE INDEX person_given_name ON person (given_name);
