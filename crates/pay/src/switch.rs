//! The payment switch: where payments go (a national switch, Mojaloop, a bank's bulk API),
//! behind [`Switch`], and a [`Simulator`] that stands in for the banks and mobile-money
//! operators.
//!
//! The one rule every switch keeps: an instruction is identified by its `payment_id`, and
//! sending it again (after a timeout, after a crash) never pays twice; the switch answers what
//! it did the first time. spx derives the id from the payment's own (sender, transaction,
//! reference id), so a payment has one id for its whole life.

use std::sync::Arc;
use std::time::Duration;

use store::{ColumnType, SqlValue, Statement, Store, numbered};

/// A payment to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The payment's id at the switch (its idempotency key).
    pub payment_id: String,
    /// The account paid from.
    pub payer_fa: String,
    /// The account paid to.
    pub payee_fa: String,
    /// The payee's name, for the receiving provider's name check.
    pub payee_name: Option<String>,
    /// The amount in minor units of `currency`.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

/// What the switch did with a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// Paid, or why not.
    pub outcome: Outcome,
    /// The switch's reference of the transfer.
    pub reference: String,
}

/// Paid, or failed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The payee's account was credited.
    Paid,
    /// Not paid (or paid and returned), for this reason.
    Failed(FailureKind),
}

/// Why a payment did not reach the payee.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The payee's account is closed.
    AccountClosed,
    /// The payee's name does not match the account holder's.
    NameMismatch,
    /// The amount is over the payee account's limit.
    LimitExceeded,
    /// The payment was credited, then returned by the payee's provider.
    Returned,
}

impl FailureKind {
    /// Every kind.
    pub const ALL: &'static [FailureKind] = &[
        FailureKind::AccountClosed,
        FailureKind::NameMismatch,
        FailureKind::LimitExceeded,
        FailureKind::Returned,
    ];

    /// Its name in configuration, storage and reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            FailureKind::AccountClosed => "account_closed",
            FailureKind::NameMismatch => "name_mismatch",
            FailureKind::LimitExceeded => "limit_exceeded",
            FailureKind::Returned => "returned",
        }
    }

    /// The kind called `name`.
    pub fn parse(name: &str) -> Option<FailureKind> {
        FailureKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == name)
    }

    /// The DCI reason code a payment failing this way carries (`DisburseStatusReasonCode` has
    /// no code per failure: the address or the amount is what the payee's side refused).
    pub const fn reason_code(self) -> dci::ReasonCode {
        match self {
            FailureKind::LimitExceeded => dci::ReasonCode::AmountInvalid,
            _ => dci::ReasonCode::PayeeFaInvalid,
        }
    }

    /// What happened, for people (`status_reason_message`).
    pub const fn describe(self) -> &'static str {
        match self {
            FailureKind::AccountClosed => "account_closed: the payee's account is closed",
            FailureKind::NameMismatch => {
                "name_mismatch: the payee's name does not match the account holder's"
            }
            FailureKind::LimitExceeded => {
                "limit_exceeded: the amount is over the payee account's limit"
            }
            FailureKind::Returned => "returned: credited, then returned by the payee's provider",
        }
    }
}

/// The switch did not say what it did.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwitchError {
    /// No answer in time: the payment may or may not have been made; send it again.
    #[error("the switch did not answer in time")]
    Timeout,
    /// The switch cannot be reached or refused the call; send it again later.
    #[error("the switch is unavailable: {0}")]
    Unavailable(String),
}

/// A payment switch.
#[async_trait::async_trait]
pub trait Switch: Send + Sync {
    /// What it is, for logs and reports.
    fn describe(&self) -> String;

    /// Makes the payments of `batch` (one bulk transfer); one answer per instruction, in
    /// order. An instruction sent again (same `payment_id`) is answered as the first time and
    /// never paid twice.
    async fn pay(&self, batch: &[Instruction]) -> Vec<Result<Settlement, SwitchError>>;
}

/// How the simulator behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// How long each call takes.
    pub latency: Duration,
    /// Share of payments that fail for good (0.03: 3%), each with one of `failure_kinds`.
    pub failure_rate: f64,
    /// The kinds failures are spread over, evenly.
    pub failure_kinds: Vec<FailureKind>,
    /// Share of attempts that time out: half of them lose the instruction, half lose only the
    /// answer (the payment is made); either way the attempt is answered with a timeout.
    pub timeout_rate: f64,
    /// Outcomes are a function of the seed and the payment id (and the attempt, for
    /// timeouts): the same run twice fails the same payments.
    pub seed: u64,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            latency: Duration::from_millis(20),
            failure_rate: 0.03,
            failure_kinds: FailureKind::ALL.to_vec(),
            timeout_rate: 0.01,
            seed: 1,
        }
    }
}

/// A switch simulator. It keeps a ledger (the table `switch_ledger`, in the store it is given,
/// committed before it answers), as a real switch does on its side: a payment sent again gets
/// the ledger's answer.
pub struct Simulator {
    store: Arc<dyn Store>,
    config: SimulatorConfig,
}

/// Ledger rows read or written per statement.
const LEDGER_CHUNK: usize = 200;

impl Simulator {
    /// A simulator keeping its ledger in `store`.
    pub fn new(store: Arc<dyn Store>, config: SimulatorConfig) -> Simulator {
        Simulator { store, config }
    }

    /// A number in [0, 1) that depends only on the seed and `parts`.
    fn draw(&self, parts: &[&[u8]]) -> f64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325 ^ self.config.seed;
        for part in parts {
            for byte in part.iter().chain(&[0xff]) {
                hash ^= u64::from(*byte);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        }
        // splitmix64's finaliser spreads FNV's low-entropy high bits.
        hash = (hash ^ (hash >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        hash = (hash ^ (hash >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        hash ^= hash >> 31;
        (hash >> 11) as f64 / (1u64 << 53) as f64
    }

    /// What the switch does with a payment it sees for the first time.
    fn decide(&self, payment_id: &str) -> Outcome {
        let kinds = &self.config.failure_kinds;
        if kinds.is_empty()
            || self.draw(&[payment_id.as_bytes(), b"fail"]) >= self.config.failure_rate
        {
            return Outcome::Paid;
        }
        let pick = self.draw(&[payment_id.as_bytes(), b"kind"]);
        Outcome::Failed(kinds[((pick * kinds.len() as f64) as usize).min(kinds.len() - 1)])
    }

    fn reference(&self, payment_id: &str) -> String {
        format!(
            "SIM-{:013x}",
            (self.draw(&[payment_id.as_bytes(), b"ref"]) * (1u64 << 52) as f64) as u64
        )
    }

    /// The ledger's answers for `ids`, by id.
    async fn recorded(
        &self,
        ids: &[&str],
    ) -> Result<std::collections::HashMap<String, Settlement>, store::StoreError> {
        let dialect = self.store.dialect();
        let statements: Vec<Statement> = ids
            .chunks(LEDGER_CHUNK)
            .map(|chunk| {
                let list: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
                Statement::new(
                    numbered(
                        dialect,
                        &format!(
                            "SELECT payment_id, outcome, failure, switch_ref FROM switch_ledger WHERE payment_id IN ({})",
                            list.join(", ")
                        ),
                    ),
                    chunk.iter().map(|id| SqlValue::Text(id.to_string())).collect(),
                    &[ColumnType::Text; 4],
                )
            })
            .collect();
        if statements.is_empty() {
            return Ok(Default::default());
        }
        let mut found = std::collections::HashMap::new();
        for row in self.store.read(statements).await?.iter().flatten() {
            let text = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(t))) => Some(t.clone()),
                _ => None,
            };
            let (Some(id), Some(outcome), Some(reference)) = (text(0), text(1), text(3)) else {
                continue;
            };
            let outcome = match text(2).as_deref().and_then(FailureKind::parse) {
                Some(kind) if outcome != "paid" => Outcome::Failed(kind),
                _ => Outcome::Paid,
            };
            found.insert(id, Settlement { outcome, reference });
        }
        Ok(found)
    }

    /// The statements recording `settled` instructions in the ledger (a row already there
    /// stays as it is).
    fn record(&self, settled: &[(&Instruction, &Settlement)]) -> Vec<Statement> {
        let dialect = self.store.dialect();
        let now = dispatch::now_ms();
        settled
            .chunks(LEDGER_CHUNK)
            .map(|chunk| {
                let rows: Vec<String> = (0..chunk.len())
                    .map(|r| {
                        let p = |c: usize| format!("?{}", r * 8 + c);
                        format!(
                            "({}, {}, {}, {}, {}, {}, NULLIF({}, ''), {}, {now})",
                            p(1), p(2), p(3), p(4), p(5), p(6), p(7), p(8)
                        )
                    })
                    .collect();
                let mut params = Vec::with_capacity(chunk.len() * 8);
                for (instruction, settlement) in chunk {
                    let (outcome, failure) = match settlement.outcome {
                        Outcome::Paid => ("paid", SqlValue::Text(String::new())),
                        Outcome::Failed(kind) => (
                            if kind == FailureKind::Returned { "returned" } else { "failed" },
                            SqlValue::Text(kind.as_str().into()),
                        ),
                    };
                    params.extend([
                        SqlValue::Text(instruction.payment_id.clone()),
                        SqlValue::Text(instruction.payer_fa.clone()),
                        SqlValue::Text(instruction.payee_fa.clone()),
                        SqlValue::Integer(instruction.amount_minor),
                        SqlValue::Text(instruction.currency.clone()),
                        SqlValue::Text(outcome.into()),
                        failure,
                        SqlValue::Text(settlement.reference.clone()),
                    ]);
                }
                Statement::new(
                    numbered(
                        dialect,
                        &format!(
                            "INSERT INTO switch_ledger (payment_id, payer_fa, payee_fa, amount_minor, currency, outcome, failure, switch_ref, received_ms)
                             VALUES {} ON CONFLICT (payment_id) DO NOTHING",
                            rows.join(", ")
                        ),
                    ),
                    params,
                    &[],
                )
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Switch for Simulator {
    fn describe(&self) -> String {
        let c = &self.config;
        let kinds: Vec<&str> = c.failure_kinds.iter().map(|k| k.as_str()).collect();
        format!(
            "simulator ({} ms per call, {:.1}% failures: {}, {:.1}% timeouts, seed {})",
            c.latency.as_millis(),
            c.failure_rate * 100.0,
            kinds.join(", "),
            c.timeout_rate * 100.0,
            c.seed
        )
    }

    async fn pay(&self, batch: &[Instruction]) -> Vec<Result<Settlement, SwitchError>> {
        if !self.config.latency.is_zero() {
            tokio::time::sleep(self.config.latency).await;
        }
        let unavailable =
            |e: store::StoreError| vec![Err(SwitchError::Unavailable(e.to_string())); batch.len()];
        let ids: Vec<&str> = batch.iter().map(|i| i.payment_id.as_str()).collect();
        let known = match self.recorded(&ids).await {
            Ok(known) => known,
            Err(e) => return unavailable(e),
        };
        let mut new = Vec::new();
        let mut answers = Vec::with_capacity(batch.len());
        for instruction in batch {
            let id = instruction.payment_id.as_bytes();
            let attempt = instruction.attempt.to_le_bytes();
            let timed_out = self.draw(&[id, &attempt, b"timeout"]) < self.config.timeout_rate;
            let settlement = match known.get(&instruction.payment_id) {
                Some(settlement) => settlement.clone(),
                // A lost instruction never reaches the ledger.
                None if timed_out && self.draw(&[id, &attempt, b"lost"]) < 0.5 => {
                    answers.push(Err(SwitchError::Timeout));
                    continue;
                }
                None => {
                    let settlement = Settlement {
                        outcome: self.decide(&instruction.payment_id),
                        reference: self.reference(&instruction.payment_id),
                    };
                    new.push((instruction, settlement.clone()));
                    settlement
                }
            };
            answers.push(if timed_out {
                Err(SwitchError::Timeout)
            } else {
                Ok(settlement)
            });
        }
        let settled: Vec<(&Instruction, &Settlement)> = new.iter().map(|(i, s)| (*i, s)).collect();
        if !settled.is_empty()
            && let Err(e) = self.store.write(self.record(&settled)).await
        {
            return unavailable(e);
        }
        answers
    }
}
