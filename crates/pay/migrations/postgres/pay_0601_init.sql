-- The payments service: the mapper's links, the disbursements, and the simulated switch's
-- ledger (a real switch keeps its ledger on its side).

-- Empty: the service serves /.well-known/locations.json like every spx service.
CREATE TABLE location (
    code TEXT COLLATE "C" PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    level BIGINT NOT NULL,
    parent TEXT COLLATE "C" REFERENCES location (code)
);

-- One row per link of a person's id to a financial address; an address belongs to one id,
-- an id has any number of addresses and one primary.
CREATE TABLE fa_link (
    person_id TEXT COLLATE "C" NOT NULL,
    fa TEXT COLLATE "C" NOT NULL UNIQUE,
    fa_type TEXT COLLATE "C" NOT NULL,
    provider TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C",
    phone_number TEXT COLLATE "C",
    additional_info TEXT COLLATE "C",
    is_primary BIGINT NOT NULL,
    active BIGINT NOT NULL,
    linked_by TEXT COLLATE "C" NOT NULL,
    linked_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (person_id, fa)
);
CREATE UNIQUE INDEX fa_link_primary ON fa_link (person_id) WHERE is_primary = 1;

-- One row per disbursement item received (refused ones too). A payment is identified by its
-- sender, transaction and reference id: one live (not refused) row per such key.
CREATE TABLE disbursement (
    correlation_id TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    sender_id TEXT COLLATE "C" NOT NULL,
    transaction_id TEXT COLLATE "C" NOT NULL,
    reference_id TEXT COLLATE "C" NOT NULL,
    state TEXT COLLATE "C" NOT NULL,
    payer_fa TEXT COLLATE "C",
    payer_name TEXT COLLATE "C",
    payee TEXT COLLATE "C",
    payee_fa TEXT COLLATE "C",
    payee_name TEXT COLLATE "C",
    amount TEXT COLLATE "C",
    amount_minor BIGINT,
    currency TEXT COLLATE "C",
    purpose TEXT COLLATE "C",
    programme TEXT COLLATE "C" NOT NULL,
    region TEXT COLLATE "C" NOT NULL,
    note TEXT COLLATE "C",
    instruction TEXT COLLATE "C",
    locale TEXT COLLATE "C",
    due_ms BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    claimed_until BIGINT,
    reason_code TEXT COLLATE "C",
    reason TEXT COLLATE "C",
    failure TEXT COLLATE "C",
    switch_ref TEXT COLLATE "C",
    received_at TEXT COLLATE "C" NOT NULL,
    updated_at TEXT COLLATE "C" NOT NULL,
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
    payment_id TEXT COLLATE "C" PRIMARY KEY,
    payer_fa TEXT COLLATE "C" NOT NULL,
    payee_fa TEXT COLLATE "C" NOT NULL,
    amount_minor BIGINT NOT NULL,
    currency TEXT COLLATE "C" NOT NULL,
    outcome TEXT COLLATE "C" NOT NULL,
    failure TEXT COLLATE "C",
    switch_ref TEXT COLLATE "C" NOT NULL,
    received_ms BIGINT NOT NULL
);
