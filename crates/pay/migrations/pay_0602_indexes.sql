-- Payments by transaction (status, reconciliation), by address (disburse search).
CREATE INDEX IF NOT EXISTS disbursement_transaction ON disbursement (sender_id, transaction_id);
CREATE INDEX IF NOT EXISTS disbursement_payee ON disbursement (sender_id, payee_fa);
CREATE INDEX IF NOT EXISTS disbursement_payer ON disbursement (sender_id, payer_fa);
CREATE INDEX IF NOT EXISTS disbursement_reference ON disbursement (sender_id, reference_id);
