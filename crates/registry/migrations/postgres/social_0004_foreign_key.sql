-- The members' foreign key, which a bulk load into empty tables drops with `household_key`
-- (DROP INDEX ... CASCADE): added back, checking every member once, if it is missing.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                   WHERE conname = 'person_household' AND conrelid = 'person'::regclass) THEN
        ALTER TABLE person ADD CONSTRAINT person_household
            FOREIGN KEY (household_id) REFERENCES household (household_id);
    END IF;
END
$$;
