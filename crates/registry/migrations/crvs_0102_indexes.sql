-- One index per filterable attribute (identifiers have their UNIQUE indexes), and composites
-- for the hot questions: births in a place and period, deaths since a date, who died in a
-- place, the children of a parent, the marriages of a person.
CREATE INDEX IF NOT EXISTS person_birth ON person (birth_date);
CREATE INDEX IF NOT EXISTS person_region ON person (region_code, birth_date);
CREATE INDEX IF NOT EXISTS person_district ON person (district_code, birth_date);
CREATE INDEX IF NOT EXISTS person_location ON person (location_code, birth_date);
CREATE INDEX IF NOT EXISTS person_sex_marital ON person (sex, marital_status, birth_date);
CREATE INDEX IF NOT EXISTS person_marital ON person (marital_status);
CREATE INDEX IF NOT EXISTS person_deceased ON person (is_deceased, death_date);
CREATE INDEX IF NOT EXISTS person_death ON person (death_date);
CREATE INDEX IF NOT EXISTS person_mother ON person (mother_uin);
CREATE INDEX IF NOT EXISTS person_father ON person (father_uin);
CREATE INDEX IF NOT EXISTS person_spouse ON person (spouse_uin);
CREATE INDEX IF NOT EXISTS person_surname ON person (surname, given_name);
CREATE INDEX IF NOT EXISTS person_given_name ON person (given_name);
CREATE INDEX IF NOT EXISTS birth_date_index ON birth (birth_date);
CREATE INDEX IF NOT EXISTS birth_region ON birth (region_code, birth_date);
CREATE INDEX IF NOT EXISTS birth_district ON birth (district_code, birth_date);
CREATE INDEX IF NOT EXISTS birth_location ON birth (location_code, birth_date);
CREATE INDEX IF NOT EXISTS birth_mother ON birth (mother_uin);
CREATE INDEX IF NOT EXISTS birth_father ON birth (father_uin);
CREATE INDEX IF NOT EXISTS birth_registered ON birth (registration_date);
CREATE INDEX IF NOT EXISTS birth_sex ON birth (sex, birth_date);
CREATE INDEX IF NOT EXISTS death_date_index ON death (death_date);
CREATE INDEX IF NOT EXISTS death_region ON death (region_code, death_date);
CREATE INDEX IF NOT EXISTS death_district ON death (district_code, death_date);
CREATE INDEX IF NOT EXISTS death_location ON death (location_code, death_date);
CREATE INDEX IF NOT EXISTS death_registered ON death (registration_date);
CREATE INDEX IF NOT EXISTS death_sex ON death (sex, birth_date);
CREATE INDEX IF NOT EXISTS marriage_spouse1 ON marriage (spouse1_uin);
CREATE INDEX IF NOT EXISTS marriage_spouse2 ON marriage (spouse2_uin);
CREATE INDEX IF NOT EXISTS marriage_date_index ON marriage (marriage_date);
CREATE INDEX IF NOT EXISTS marriage_region ON marriage (region_code, marriage_date);
CREATE INDEX IF NOT EXISTS marriage_district ON marriage (district_code, marriage_date);
CREATE INDEX IF NOT EXISTS marriage_location ON marriage (location_code, marriage_date);
CREATE INDEX IF NOT EXISTS marriage_registered ON marriage (registration_date);
