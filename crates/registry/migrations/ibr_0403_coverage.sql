-- Covering indexes for reading every enrolment and every benefit in one pass, from the index
-- alone (the coverage dashboard of crates/web counts by programme, status, place, benefit
-- type and cycle from these two scans, instead of one table scan per figure).
CREATE INDEX IF NOT EXISTS enrolment_coverage ON enrolment (status, programme_code, region_code, district_code, benefit_type, assistance_unit, uin, household_id, beneficiary_id, duplicate);
CREATE INDEX IF NOT EXISTS benefit_coverage ON benefit (payment_status, programme_code, region_code, district_code, benefit_type, benefit_date, amount);
