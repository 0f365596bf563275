//! Payment cycles: each active beneficiary's conditions checked again on registry facts
//! (non-compliance suspends), the entitlements stored `pending`, sent to the payments service
//! as one disbursement transaction, and each one's outcome recorded.
//!
//! The SP-MIS sends the batch to `POST /disburse/sync/disburse` (payees by UIN, `uin:…@nid`,
//! which the payments service resolves through its mapper) and, for payments still pending
//! when that answers, polls `POST /disburse/sync/txn/status` by the cycle's transaction id:
//! it needs no callback endpoint of its own, and a cycle's outcome is read from the payments
//! service however long the switch takes. A run cut short between claiming entitlements and
//! settling them is finished by the next run of the cycle: it asks the payments service what
//! it knows of that transaction and sends only the rest. The payments service publishes the
//! receipts of successful payments to the IBR; the SP-MIS publishes the cycle's status
//! changes (suspensions, graduations, exits: each condition says which) to the IBR in one
//! `enrollment/updates` batch before recording them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use dci::disburse::{DisburseRequest, DisburseResponse, Disbursement, DisbursementStatus};
use dci::txn::{TxnStatusQuery, TxnStatusRequest, TxnStatusResponse};
use dci::{Action, ReasonCode, RequestStatus};
use serde::Serialize;
use serde_json::json;
use time::Date;

use crate::apply::{answered, enrolment_update, household_of, needed, unmet, unreadable};
use crate::lifecycle::Status;
use crate::programme::{Programme, Target};
use crate::store::{Change, Entitlement, EntitlementState};
use crate::{Mis, MisError};

/// Payments per disbursement message.
const PAYMENTS_PER_MESSAGE: usize = 500;

/// How often the payments service is asked about payments still pending.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// How long a cycle waits for its payments to be final before reporting them pending.
const POLL_FOR: Duration = Duration::from_secs(120);

/// What a payment cycle did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CycleReport {
    /// The programme's code.
    pub programme: String,
    /// The cycle's date (conditions are checked on it).
    pub cycle: Date,
    /// Active beneficiaries at the start of the cycle.
    pub beneficiaries: usize,
    /// Those suspended for a condition not met, with the reason.
    pub suspended: Vec<(String, String)>,
    /// Those who left the programme for a condition not met (graduated: grown out of its
    /// ages or time; exited), with the reason.
    pub ended: Vec<(String, Status, String)>,
    /// The IBR `transaction_id` of the cycle's status changes, when there were any.
    pub ibr_transaction: Option<String>,
    /// Beneficiaries of a household programme left out because another member of their
    /// household is paid this cycle (UIN, household).
    pub same_household: Vec<(String, String)>,
    /// The disbursement transaction (`<programme>-<cycle>-<uuid>`), when anything was sent.
    pub pay_transaction: Option<String>,
    /// Entitlements paid (by beneficiary: UIN, or household id).
    pub paid: Vec<String>,
    /// Their total, in minor units of the programme's currency.
    pub paid_minor: i64,
    /// Entitlements whose payment failed or was refused, with the reason.
    pub failed: Vec<(String, String)>,
    /// Entitlements still pending at the payments service when the cycle stopped waiting.
    pub pending: Vec<String>,
    /// Entitlements not sent because the IBR has not yet taken the beneficiary's enrolment
    /// (its update still in the SP-MIS's outbox): paid by a later run of the cycle.
    pub held: Vec<String>,
    /// Entitlements an earlier run of this cycle claimed and did not settle, finished by this
    /// one (among `paid`, `failed` or `pending`).
    pub resumed: Vec<String>,
}

impl Mis {
    /// Runs programme `code`'s payment cycle of `cycle`: [`Mis::close_cycle`], then
    /// [`Mis::pay_cycle`].
    pub async fn run_cycle(&self, code: &str, cycle: Date) -> Result<CycleReport, MisError> {
        let mut report = self.close_cycle(code, cycle).await?;
        self.pay_cycle(&mut report).await?;
        Ok(report)
    }

    /// Closes programme `code`'s payment cycle of `cycle`: checks each active beneficiary's
    /// conditions on that day (those who fail one are suspended, graduated or exited as it
    /// says, the IBR told in one batch) and stores an entitlement per beneficiary (per household for a household
    /// programme), pending until [`Mis::pay_cycle`] sends it; a beneficiary who leaves the
    /// programme meanwhile has it cancelled. Entitlements of a cycle already closed are not
    /// made again.
    pub async fn close_cycle(&self, code: &str, cycle: Date) -> Result<CycleReport, MisError> {
        let programme = self.programme(code)?;
        let active = self.enrolments().active(code).await?;
        let facts_needed = needed(&programme, programme.conditions.iter().map(|c| &c.rule));
        let mut report = CycleReport {
            programme: code.to_string(),
            cycle,
            beneficiaries: active.len(),
            suspended: Vec::new(),
            ended: Vec::new(),
            ibr_transaction: None,
            same_household: Vec::new(),
            pay_transaction: None,
            paid: Vec::new(),
            paid_minor: 0,
            failed: Vec::new(),
            pending: Vec::new(),
            held: Vec::new(),
            resumed: Vec::new(),
        };
        let mut changes = Vec::new();
        let mut due: Vec<Entitlement> = Vec::new();
        let mut households = BTreeSet::new();
        for (uin, household) in active {
            let facts = self.facts(&facts_needed, &uin, cycle).await?;
            let household = match household {
                Some(id) => Some(id),
                None => household_of(&programme, &facts)?,
            };
            if let Some((status, failed)) = unmet(&programme, &facts, cycle) {
                changes.push(Ended {
                    uin,
                    household,
                    status,
                    reason: failed.reason(),
                });
                continue;
            }
            let beneficiary = match (programme.target, household) {
                (Target::Household, Some(id)) => id,
                _ => uin.clone(),
            };
            if !households.insert(beneficiary.clone()) {
                report.same_household.push((uin, beneficiary));
                continue;
            }
            due.push(Entitlement {
                programme: code.to_string(),
                cycle,
                beneficiary,
                uin,
                amount_minor: programme.amount.per_cycle,
                currency: programme.amount.currency.clone(),
                state: EntitlementState::Pending,
                reason: None,
                pay_transaction: None,
            });
        }
        if !changes.is_empty() {
            report.ibr_transaction = Some(self.unmet(&programme, cycle, &changes).await?);
            for Ended {
                uin,
                status,
                reason,
                ..
            } in changes
            {
                match status {
                    Status::Suspended => report.suspended.push((uin, reason)),
                    _ => report.ended.push((uin, status, reason)),
                }
            }
        }
        self.enrolments().entitlements().add_pending(&due).await?;
        Ok(report)
    }

    /// Pays the cycle `report` closed: sends its pending entitlements to the payments service
    /// and records each outcome in the store and in `report`; what an earlier run of the cycle
    /// sent and did not settle is finished first. The payments service publishes a receipt of
    /// each payment to the IBR, which files it under the beneficiary's enrolment: a
    /// beneficiary whose enrolment (or a later change) the IBR has not yet taken from the
    /// outbox is waited for (up to [`crate::Delivery::ibr_wait`]), then left pending
    /// (`held`) for a later run.
    pub async fn pay_cycle(&self, report: &mut CycleReport) -> Result<(), MisError> {
        let (code, cycle) = (report.programme.as_str(), report.cycle);
        let programme = self.programme(code)?;
        let entitlements = self.enrolments().entitlements();
        let deadline = tokio::time::Instant::now() + self.ibr_wait;
        while !entitlements.held(code, cycle).await?.is_empty()
            && tokio::time::Instant::now() < deadline
        {
            tokio::time::sleep(POLL_EVERY).await;
        }
        let transaction = format!("{code}-{}-{}", expr::iso_date(cycle), uuid::Uuid::now_v7());
        let claimed = entitlements.claim(code, cycle, &transaction).await?;
        if !claimed.is_empty() {
            report.pay_transaction = Some(transaction);
        }
        // What an earlier run of the cycle claimed and did not settle (it stopped between the
        // two) is finished first, under its own transaction.
        let mut sent: BTreeMap<String, Vec<Entitlement>> = BTreeMap::new();
        for earlier in entitlements.of_cycle(code, cycle).await? {
            if earlier.state == EntitlementState::Pending {
                report.held.push(earlier.beneficiary.clone());
            }
            if earlier.state == EntitlementState::Sent
                && let Some(transaction) = earlier.pay_transaction.clone()
                && report.pay_transaction.as_ref() != Some(&transaction)
            {
                report.resumed.push(earlier.beneficiary.clone());
                sent.entry(transaction).or_default().push(earlier);
            }
        }
        if let Some(transaction) = &report.pay_transaction {
            sent.insert(transaction.clone(), claimed);
        }
        for (transaction, batch) in sent {
            let outcomes = self.disburse(&programme, &transaction, &batch).await?;
            entitlements.settle(code, cycle, &outcomes).await?;
            let amounts: BTreeMap<&str, i64> = batch
                .iter()
                .map(|e| (e.beneficiary.as_str(), e.amount_minor))
                .collect();
            let mut settled = BTreeSet::new();
            for (beneficiary, state, reason) in outcomes {
                settled.insert(beneficiary.clone());
                match state {
                    EntitlementState::Paid => {
                        report.paid_minor +=
                            amounts.get(beneficiary.as_str()).copied().unwrap_or(0);
                        report.paid.push(beneficiary);
                    }
                    _ => report
                        .failed
                        .push((beneficiary, reason.unwrap_or_default())),
                }
            }
            report.pending.extend(
                batch
                    .iter()
                    .filter(|e| !settled.contains(&e.beneficiary))
                    .map(|e| e.beneficiary.clone()),
            );
        }
        Ok(())
    }

    /// Changes the status of those who failed a condition on `date`: the IBR told in one
    /// batch first, then each change recorded with that batch's transaction. Returns the
    /// transaction.
    async fn unmet(
        &self,
        programme: &Programme,
        date: Date,
        who: &[Ended],
    ) -> Result<String, MisError> {
        let updates = who
            .iter()
            .map(|e| {
                enrolment_update(
                    programme,
                    &e.uin,
                    e.household.as_deref(),
                    e.status,
                    date,
                    Some(&e.reason),
                )
            })
            .collect();
        let transaction = self.publish(updates).await?;
        for e in who {
            self.enrolments()
                .record(Change {
                    reason: Some(e.reason.clone()),
                    ibr_transaction: Some(transaction.clone()),
                    ..Change::new(&programme.code, &e.uin, e.status, date)
                })
                .await?;
        }
        Ok(transaction)
    }

    /// Sends `claimed` to the payments service under `transaction`, those it does not know
    /// yet (a run cut short may have sent some), and waits for their outcomes:
    /// `(beneficiary, paid or failed, reason)` of each payment final in time.
    async fn disburse(
        &self,
        programme: &Programme,
        transaction: &str,
        claimed: &[Entitlement],
    ) -> Result<Vec<(String, EntitlementState, Option<String>)>, MisError> {
        let pay = &self.registries.pay;
        let currency = dci::money::Currency::parse(&programme.amount.currency)
            .map_err(|e| unreadable("pay", e.message))?;
        let payer = format!("account:{}@treasury.gov", programme.code.to_lowercase());
        let mut outcomes = BTreeMap::new();
        let known = self.payments(transaction).await?;
        read_statuses(&known, &mut outcomes);
        let known: BTreeSet<&str> = known.iter().map(|s| s.reference_id.as_str()).collect();
        let unknown: Vec<&Entitlement> = claimed
            .iter()
            .filter(|e| !known.contains(e.beneficiary.as_str()))
            .collect();
        for chunk in unknown.chunks(PAYMENTS_PER_MESSAGE) {
            let disbursements: Vec<Disbursement> = chunk
                .iter()
                .map(|e| Disbursement {
                    reference_id: Some(e.beneficiary.clone()),
                    payer_fa: Some(payer.clone()),
                    payer_name: Some(programme.name.clone()),
                    payee_fa: Some(format!("uin:{}@nid", e.uin)),
                    amount: Some(json!(dci::money::format_minor(e.amount_minor, currency))),
                    currency_code: Some(e.currency.clone()),
                    purpose: Some(programme.code.clone()),
                    meta: payment_meta(programme, e),
                    ..Disbursement::default()
                })
                .collect();
            let message = DisburseRequest {
                transaction_id: transaction.to_string(),
                disbursements,
            };
            let envelope = pay.envelope(Action::Disburse, chunk.len(), None, message);
            let answer = pay.send("/disburse/sync/disburse", &envelope).await;
            let answer: DisburseResponse = answered("pay", answer)?;
            read_statuses(&answer.disbursements_status, &mut outcomes);
        }
        let deadline = tokio::time::Instant::now() + POLL_FOR;
        while outcomes.len() < claimed.len() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL_EVERY).await;
            read_statuses(&self.payments(transaction).await?, &mut outcomes);
        }
        Ok(outcomes
            .into_iter()
            .map(|(beneficiary, (state, reason))| (beneficiary, state, reason))
            .collect())
    }
}

impl Mis {
    /// The payments of `transaction` the payments service knows (none when it knows none),
    /// by `POST /disburse/sync/txn/status`.
    pub async fn payments(&self, transaction: &str) -> Result<Vec<DisbursementStatus>, MisError> {
        let pay = &self.registries.pay;
        let query = TxnStatusRequest {
            transaction_id: format!("status-{}", uuid::Uuid::now_v7()),
            txnstatus_request: TxnStatusQuery {
                reference_id: Some("1".into()),
                txn_type: Some("disburse".into()),
                attribute_type: "transaction_id".into(),
                attribute_value: json!(transaction),
                locale: Some("eng".into()),
            },
        };
        let envelope = pay.envelope(Action::TxnStatus, 1, None, query);
        let answer = pay.send("/disburse/sync/txn/status", &envelope).await;
        if let Err(e) = &answer
            && e.reason_code() == Some(ReasonCode::RequestNotFound)
        {
            return Ok(Vec::new());
        }
        let answer: TxnStatusResponse = answered("pay", answer)?;
        serde_json::from_value(answer.txnstatus_response.txn_status["disbursements_status"].clone())
            .map_err(|e| unreadable("pay", e))
    }
}

/// What the payments service keeps of a payment for its receipt to the IBR: the programme,
/// its benefit type and, for a household programme, the household paid for.
fn payment_meta(
    programme: &Programme,
    entitlement: &Entitlement,
) -> Option<serde_json::Map<String, serde_json::Value>> {
    let mut meta = json!({"programme": programme.code, "benefit_type": programme.benefit_type});
    if programme.target == Target::Household {
        meta["household"] = json!(entitlement.beneficiary);
    }
    meta.as_object().cloned()
}

/// A beneficiary who failed a condition at a cycle, and the status it gives.
struct Ended {
    uin: String,
    household: Option<String>,
    status: Status,
    reason: String,
}

/// Adds the final statuses among `statuses` to `outcomes` (by reference id, the beneficiary).
fn read_statuses(
    statuses: &[DisbursementStatus],
    outcomes: &mut BTreeMap<String, (EntitlementState, Option<String>)>,
) {
    for status in statuses {
        let outcome = match status.status {
            RequestStatus::Succ => (EntitlementState::Paid, None),
            RequestStatus::Rjct => {
                let code = status.status_reason_code.map_or("", |c| c.as_str());
                let message = status.status_reason_message.as_deref().unwrap_or_default();
                (EntitlementState::Failed, Some(format!("{code}: {message}")))
            }
            _ => continue,
        };
        outcomes.insert(status.reference_id.clone(), outcome);
    }
}
