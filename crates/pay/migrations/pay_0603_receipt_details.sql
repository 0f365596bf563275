-- What a payment's receipt tells the integrated beneficiary registry besides the payee: the
-- household it is for (meta.household, an HHID: a household programme's payment, received
-- by its head) and the benefit type (meta.benefit_type, BenefitTypeEnum; cash when absent).
ALTER TABLE disbursement ADD COLUMN household_id TEXT;
ALTER TABLE disbursement ADD COLUMN benefit_type TEXT;
