-- One index per filterable attribute of enrolments and benefits (their keys have UNIQUE
-- indexes), composites for the hot questions (a programme's beneficiaries by status and
-- place, a person's enrolments and payments, duplicates by benefit type, a programme's
-- payments in a period).
CREATE INDEX IF NOT EXISTS enrolment_uin ON enrolment (uin, benefit_type, status);
CREATE INDEX IF NOT EXISTS enrolment_beneficiary ON enrolment (beneficiary_id, benefit_type, status);
CREATE INDEX IF NOT EXISTS enrolment_household ON enrolment (household_id);
CREATE INDEX IF NOT EXISTS enrolment_programme ON enrolment (programme_code, status, region_code);
CREATE INDEX IF NOT EXISTS enrolment_status ON enrolment (status, enrolment_date);
CREATE INDEX IF NOT EXISTS enrolment_region ON enrolment (region_code, programme_code);
CREATE INDEX IF NOT EXISTS enrolment_district ON enrolment (district_code, programme_code);
CREATE INDEX IF NOT EXISTS enrolment_location ON enrolment (location_code, programme_code);
CREATE INDEX IF NOT EXISTS enrolment_duplicate ON enrolment (duplicate, benefit_type);
CREATE INDEX IF NOT EXISTS enrolment_enrolled ON enrolment (enrolment_date);
CREATE INDEX IF NOT EXISTS enrolment_birth ON enrolment (birth_date);
CREATE INDEX IF NOT EXISTS enrolment_surname ON enrolment (surname, given_name);
CREATE INDEX IF NOT EXISTS benefit_beneficiary ON benefit (beneficiary_id, benefit_date);
CREATE INDEX IF NOT EXISTS benefit_uin ON benefit (uin, benefit_date);
CREATE INDEX IF NOT EXISTS benefit_programme ON benefit (programme_code, benefit_date);
CREATE INDEX IF NOT EXISTS benefit_date ON benefit (benefit_date, payment_status);
CREATE INDEX IF NOT EXISTS benefit_region ON benefit (region_code, benefit_date);
CREATE INDEX IF NOT EXISTS benefit_district ON benefit (district_code, benefit_date);
CREATE INDEX IF NOT EXISTS benefit_location ON benefit (location_code, benefit_date);
CREATE INDEX IF NOT EXISTS programme_type ON programme (benefit_type);
