-- The household and member keys become unique indexes of their own (`household_key`,
-- `person_uin`) instead of UNIQUE constraints, and the members' foreign key is named
-- (`person_household`), so that a bulk load into empty tables can drop them with the
-- secondary indexes and build them once at the end (one sort each, instead of an index insert
-- and a foreign-key lookup per row). Five low-selectivity indexes the planner does not need
-- go (see social_0004_indexes.sql).
ALTER TABLE person DROP CONSTRAINT person_household_id_fkey;
ALTER TABLE person DROP CONSTRAINT person_uin_key;
ALTER TABLE household DROP CONSTRAINT household_household_id_key;
CREATE UNIQUE INDEX household_key ON household (household_id);
CREATE UNIQUE INDEX person_uin ON person (uin);
ALTER TABLE person ADD CONSTRAINT person_household
    FOREIGN KEY (household_id) REFERENCES household (household_id);
DROP INDEX IF EXISTS household_type;
DROP INDEX IF EXISTS person_marital;
DROP INDEX IF EXISTS person_relationship;
DROP INDEX IF EXISTS person_employment;
DROP INDEX IF EXISTS person_disabled;
