-- The payments service: the mapper's links, the disbursements, and the simulated switch's
-- ledger (a real switch keeps its ledger on its side).

-- Empty: the service serves /.well-known/locations.json like every spx service.
CREATE TABLE location (
    code TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    level INTEGER NOT NULL,
    parent TEXT REFERENCES location (code)
);

-- One row per link of a person's id to a financial address; an address belongs to one id,
-- an id has any number of addresses and one primary.
CREATE TABLE fa_link (
    person_id TEXT NOT NULL,
    fa TEXT NOT NULL UNIQUE,
    fa_type TEXT NOT NULL,
    provider TEXT NOT NULL,
    name TEXT,
    phone_number TEXT,
    additional_info TEXT,
    is_primary INTEGER NOT NULL,
    active INTEGER NOT NULL,
    linked_by TEXT NOT NULL,
    linked_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (person_id, fa)
);
CREATE UNIQUE INDEX fa_link_primary ON fa_link (person_id) WHERE is_primary = 1;

-- One row per disbursement item received (refused ones too). A payment is identified by its
-- sender, transaction and reference id: one live (not refused) row per such key.
CREATE TABLE disbursement (
    correlation_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    sender_id TEXT NOT NULL,
    transaction_id TEXT NOT NULL,
    reference_id TEXT NOT NULL,
    state TEXT NOT NULL,
    payer_fa TEXT,
    payer_name TEXT,
    payee TEXT,
    payee_fa TEXT,
    payee_name TEXT,
    amount TEXT,
    amount_minor INTEGER,
    currency TEXT,
    purpose TEXT,
    programme TEXT NOT NULL,
    region TEXT NOT NULL,
    note TEXT,
    instruction TEXT,
    locale TEXT,
    due_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_until INTEGER,
    reason_code TEXT,
    reason TEXT,
    failure TEXT,
    switch_ref TEXT,
    received_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (correlation_id, position)
);
CREATE UNIQUE INDEX disbursement_key ON disbursement (sender_id, transaction_id, reference_id)
    WHERE state <> 'refused';
CREATE INDEX disbursement_due ON disbursement (state, due_ms);
-- A message is complete when none of its items is pending.
CREATE INDEX disbursement_open ON disbursement (correlation_id, position) WHERE state = 'pending';

-- The payment switch simulator's ledger: what it did with each payment id, written before it
-- answers, so that a payment sent again gets the first answer and is never paid twice.
CREATE TABLE switch_ledger (
    payment_id TEXT PRIMARY KEY,
    payer_fa TEXT NOT NULL,
    payee_fa TEXT NOT NULL,
    amount_minor INTEGER NOT NULL,
    currency TEXT NOT NULL,
    outcome TEXT NOT NULL,
    failure TEXT,
    switch_ref TEXT NOT NULL,
    received_ms INTEGER NOT NULL
);
