//! The payment worker: pays pending items through the switch, and completes each message
//! whose items are all final (its `on-disburse` callback and receipts, with the `txn` row's
//! final status, in one transaction).
//!
//! Exactly once: an item moves out of `pending` only by an update guarded on `pending`, in
//! the transaction that records the switch's answer; the switch never pays a payment id twice
//! and the id is derived from the payment's key. A crash after the switch paid and before the
//! answer was recorded leaves the item pending; it is sent again with the same id, and the
//! switch answers what it did. Several nodes on one PostgreSQL database claim items with a
//! lease (`FOR UPDATE SKIP LOCKED`), as the engine's worker does.

use std::sync::Arc;
use std::time::Duration;

use dci::disburse::DisburseResponse;
use dci::{Action, MsgHeader, RawEnvelope, RequestStatus, Timestamp};
use store::{ColumnType, Dialect, SqlValue, Statement, StoreError, numbered};

use crate::Pay;
use crate::disburse::PaymentState;
use crate::receipts::Receipt;
use crate::switch::{FailureKind, Instruction, Outcome, Settlement, SwitchError};

/// How long a node's claim on pending items lasts (a switch call and a write).
const CLAIM_LEASE: Duration = Duration::from_secs(30);

/// How long the worker sleeps when it has nothing to do and is not woken.
const IDLE: Duration = Duration::from_secs(1);

/// The shortest pause after a pass that paid nothing.
const BUSY: Duration = Duration::from_millis(10);

/// Runs the payment worker until the process ends.
pub fn spawn(pay: Arc<Pay>) {
    tokio::spawn(async move {
        loop {
            let paid = match pay_due(&pay).await {
                Ok(paid) => paid,
                Err(e) => {
                    tracing::error!(error = %e, "cannot pay pending disbursements");
                    0
                }
            };
            if let Err(e) = complete_messages(&pay).await {
                tracing::error!(error = %e, "cannot complete disburse messages");
            }
            if paid >= pay.config.switch_batch * pay.config.switch_concurrency {
                continue;
            }
            let wait = match next_due(&pay).await {
                Ok(Some(at)) => Duration::from_millis((at - dispatch::now_ms()).max(0) as u64),
                Ok(None) => IDLE,
                Err(e) => {
                    tracing::error!(error = %e, "cannot read when the next payment is due");
                    IDLE
                }
            };
            // Items due but claimed by another node are not this one's to spin on.
            let wait = if paid == 0 { wait.max(BUSY) } else { wait };
            let _ = tokio::time::timeout(wait.min(IDLE), pay.payments.notified()).await;
        }
    });
}

/// When the next pending item is due (milliseconds since the epoch), if one is.
async fn next_due(pay: &Pay) -> Result<Option<i64>, StoreError> {
    let rows = pay
        .store()
        .read(vec![Statement::new(
            "SELECT MIN(due_ms) FROM disbursement WHERE state = 'pending'",
            vec![],
            &[ColumnType::Integer],
        )])
        .await?;
    Ok(match rows[0].first().and_then(|row| row.first()) {
        Some(Some(SqlValue::Integer(at))) => Some(*at),
        _ => None,
    })
}

/// A pending item claimed for payment.
struct Due {
    correlation_id: String,
    position: i64,
    instruction: Instruction,
}

/// The payment id of the payment (`sender_id`, `transaction_id`, `reference_id`) at the
/// switch: the same for its whole life.
pub fn payment_id(sender_id: &str, transaction_id: &str, reference_id: &str) -> String {
    format!("{sender_id}/{transaction_id}/{reference_id}")
}

const DUE_COLUMNS: &str = "correlation_id, position, sender_id, transaction_id, reference_id, payer_fa, payee_fa, payee_name, amount_minor, currency, attempts";

/// Claims up to `switch_batch` × `switch_concurrency` items due now.
async fn claim(pay: &Pay) -> Result<Vec<Due>, StoreError> {
    let store = pay.store();
    let dialect = store.dialect();
    let now = dispatch::now_ms();
    let limit = pay.config.switch_batch * pay.config.switch_concurrency;
    let types = [
        ColumnType::Text,
        ColumnType::Integer,
        ColumnType::Text,
        ColumnType::Text,
        ColumnType::Text,
        ColumnType::Text,
        ColumnType::Text,
        ColumnType::Text,
        ColumnType::Integer,
        ColumnType::Text,
        ColumnType::Integer,
    ];
    let rows = match dialect {
        Dialect::Postgres => {
            store
                .write_query(Statement::new(
                    numbered(
                        dialect,
                        &format!(
                            "UPDATE disbursement SET claimed_until = ?1 WHERE (correlation_id, position) IN (
                                SELECT correlation_id, position FROM disbursement
                                 WHERE state = 'pending' AND due_ms <= ?2 AND (claimed_until IS NULL OR claimed_until < ?2)
                                 ORDER BY due_ms LIMIT {limit} FOR UPDATE SKIP LOCKED)
                             RETURNING {DUE_COLUMNS}"
                        ),
                    ),
                    vec![
                        SqlValue::Integer(now + CLAIM_LEASE.as_millis() as i64),
                        SqlValue::Integer(now),
                    ],
                    &types,
                ))
                .await?
        }
        // One process, one worker: nothing to claim against (a claim would cost a write).
        Dialect::Sqlite => store
            .read(vec![Statement::new(
                format!(
                    "SELECT {DUE_COLUMNS} FROM disbursement WHERE state = 'pending' AND due_ms <= ?1
                     ORDER BY due_ms LIMIT {limit}"
                ),
                vec![SqlValue::Integer(now)],
                &types,
            )])
            .await?
            .remove(0),
    };
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let text = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(t))) => Some(t.clone()),
                _ => None,
            };
            let int = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Integer(n))) => Some(*n),
                _ => None,
            };
            Some(Due {
                correlation_id: text(0)?,
                position: int(1)?,
                instruction: Instruction {
                    payment_id: payment_id(&text(2)?, &text(3)?, &text(4)?),
                    payer_fa: text(5)?,
                    payee_fa: text(6)?,
                    payee_name: text(7),
                    amount_minor: int(8)?,
                    currency: text(9)?,
                    attempt: int(10)? as u32 + 1,
                },
            })
        })
        .collect())
}

/// Pays the items due now (up to `switch_concurrency` switch calls at once) and records what
/// the switch did, in one write; how many.
async fn pay_due(pay: &Pay) -> Result<usize, StoreError> {
    let due = claim(pay).await?;
    if due.is_empty() {
        return Ok(0);
    }
    let instructions: Vec<Instruction> = due.iter().map(|d| d.instruction.clone()).collect();
    let calls = instructions
        .chunks(pay.config.switch_batch)
        .map(|batch| pay.switch.pay(batch));
    let answers: Vec<_> = futures::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
        .collect();
    let dialect = pay.store().dialect();
    let now = Timestamp::now().to_string();
    let statements: Vec<Statement> = due
        .iter()
        .zip(answers)
        .map(|(due, answer)| record(pay, dialect, due, answer, &now))
        .collect();
    pay.store().write(statements).await?;
    Ok(due.len())
}

/// The statement recording the switch's `answer` for `due`.
fn record(
    pay: &Pay,
    dialect: Dialect,
    due: &Due,
    answer: Result<Settlement, SwitchError>,
    now: &str,
) -> Statement {
    let key = [
        SqlValue::Text(due.correlation_id.clone()),
        SqlValue::Integer(due.position),
    ];
    let guarded = "WHERE correlation_id = ?1 AND position = ?2 AND state = 'pending'";
    let (sql, params) = match answer {
        Ok(Settlement {
            outcome: Outcome::Paid,
            reference,
        }) => (
            format!(
                "UPDATE disbursement SET state = 'paid', switch_ref = ?3, attempts = attempts + 1, claimed_until = NULL,
                     reason_code = NULL, reason = NULL, updated_at = ?4 {guarded}"
            ),
            vec![SqlValue::Text(reference), SqlValue::Text(now.into())],
        ),
        Ok(Settlement {
            outcome: Outcome::Failed(kind),
            reference,
        }) => {
            let state = match kind {
                FailureKind::Returned => PaymentState::Returned,
                _ => PaymentState::Failed,
            };
            (
                format!(
                    "UPDATE disbursement SET state = ?3, switch_ref = ?4, reason_code = ?5, reason = ?6, failure = ?7,
                         attempts = attempts + 1, claimed_until = NULL, updated_at = ?8 {guarded}"
                ),
                vec![
                    SqlValue::Text(state.as_str().into()),
                    SqlValue::Text(reference),
                    SqlValue::Text(kind.reason_code().as_str().into()),
                    SqlValue::Text(kind.describe().into()),
                    SqlValue::Text(kind.as_str().into()),
                    SqlValue::Text(now.into()),
                ],
            )
        }
        Err(error) => {
            // Sent again later, with the same payment id.
            let attempts = due.instruction.attempt;
            let backoff = pay
                .config
                .first_retry
                .saturating_mul(1 << attempts.saturating_sub(1).min(16))
                .min(pay.config.max_retry);
            (
                format!(
                    "UPDATE disbursement SET attempts = attempts + 1, due_ms = ?3, claimed_until = NULL,
                         reason = ?4, updated_at = ?5 {guarded}"
                ),
                vec![
                    SqlValue::Integer(dispatch::now_ms() + backoff.as_millis() as i64),
                    SqlValue::Text(format!("attempt {attempts}: {error}; paying again under the same id")),
                    SqlValue::Text(now.into()),
                ],
            )
        }
    };
    Statement::new(
        numbered(dialect, &sql),
        key.into_iter().chain(params).collect(),
        &[],
    )
}

/// Completes every disburse message whose items are all final.
pub(crate) async fn complete_messages(pay: &Pay) -> Result<usize, StoreError> {
    let rows = pay
        .store()
        .read(vec![Statement::new(
            "SELECT t.correlation_id FROM txn t WHERE t.action = 'disburse' AND t.status = 'rcvd'
             AND NOT EXISTS (SELECT 1 FROM disbursement d WHERE d.correlation_id = t.correlation_id AND d.state = 'pending')",
            vec![],
            &[ColumnType::Text],
        )])
        .await?;
    let mut completed = 0;
    for row in &rows[0] {
        if let Some(Some(SqlValue::Text(correlation_id))) = row.first() {
            complete(pay, correlation_id).await?;
            completed += 1;
        }
    }
    Ok(completed)
}

/// Completes the message `correlation_id`: in one transaction, its `txn` row becomes `succ`
/// with a summary, its `on-disburse` (every item's final state) goes into the outbox unless it
/// was a sync request, and the receipts of its payments are published. Done twice (two nodes,
/// a crash), it sends one callback: the callback's id is derived from the correlation id.
async fn complete(pay: &Pay, correlation_id: &str) -> Result<(), StoreError> {
    let engine = &pay.engine;
    let store = pay.store();
    let dialect = store.dialect();
    let rows = store
        .read(vec![Statement::new(
            numbered(
                dialect,
                "SELECT callback_url, request FROM txn WHERE correlation_id = ?1 AND status = 'rcvd'",
            ),
            vec![SqlValue::Text(correlation_id.into())],
            &[ColumnType::Text; 2],
        )])
        .await?;
    let Some(
        [
            Some(SqlValue::Text(callback_url)),
            Some(SqlValue::Text(request)),
        ],
    ) = rows[0].first().map(Vec::as_slice)
    else {
        return Ok(());
    };
    let header: Option<MsgHeader> = RawEnvelope::parse(request.as_bytes())
        .and_then(|raw| raw.header())
        .ok();
    let transaction_id = serde_json::from_str::<serde_json::Value>(request)
        .ok()
        .and_then(|r| r["message"]["transaction_id"].as_str().map(str::to_string))
        .unwrap_or_default();
    let items = crate::disburse::statuses_of_message(pay, correlation_id).await?;
    let receipts = receipts_of(pay, correlation_id).await?;
    let summary = summary(&items);
    let mut statements = vec![Statement::new(
        numbered(
            dialect,
            "UPDATE txn SET status = 'succ', response = ?2, completed_at = ?3 WHERE correlation_id = ?1 AND status = 'rcvd'",
        ),
        vec![
            SqlValue::Text(correlation_id.into()),
            SqlValue::Text(summary.to_string()),
            SqlValue::Text(Timestamp::now().to_string()),
        ],
        &[],
    )];
    if let Some(header) = header.filter(|_| !callback_url.is_empty()) {
        let started = (std::time::Instant::now(), time::OffsetDateTime::now_utc());
        let completed = items.len();
        let response = DisburseResponse {
            transaction_id: transaction_id.clone(),
            disbursements_status: items,
        };
        let answered = engine
            .answered(
                &header,
                Action::OnDisburse,
                (correlation_id, callback_url),
                Ok((completed, response)),
                Vec::new(),
            )
            .await;
        // The callback is recorded in the audit chain before it is queued.
        engine
            .audit
            .append(store::audit::Entry {
                at: started.1,
                participant: Some(header.sender_id.clone()),
                endpoint: callback_url.clone(),
                action: Some(Action::OnDisburse.as_str().into()),
                message_id: Some(registry::subscribe::callback_id(
                    Action::OnDisburse,
                    correlation_id,
                )),
                transaction_id: Some(transaction_id.clone()),
                correlation_id: Some(correlation_id.to_string()),
                outcome: RequestStatus::Succ.as_str().into(),
                status: 0,
                duration: started.0.elapsed(),
                disclosed: Vec::new(),
            })
            .await?;
        statements.push(answered.callback);
    }
    statements.extend(pay.receipts.publish(dialect, correlation_id, &receipts));
    store.write(statements).await?;
    engine.dispatcher.wake();
    Ok(())
}

/// Counts of a message's items per state (what `txn.response` keeps for the message).
fn summary(items: &[dci::disburse::DisbursementStatus]) -> serde_json::Value {
    let count = |status: RequestStatus| items.iter().filter(|i| i.status == status).count();
    serde_json::json!({
        "items": items.len(),
        "succ": count(RequestStatus::Succ),
        "rjct": count(RequestStatus::Rjct),
    })
}

/// The receipts of the paid items of message `correlation_id`.
async fn receipts_of(pay: &Pay, correlation_id: &str) -> Result<Vec<Receipt>, StoreError> {
    let rows = pay
        .store()
        .read(vec![Statement::new(
            numbered(
                pay.store().dialect(),
                "SELECT sender_id, transaction_id, reference_id, payee, payee_fa, amount_minor, currency, programme, switch_ref, updated_at,
                        household_id, benefit_type
                 FROM disbursement WHERE correlation_id = ?1 AND state = 'paid' ORDER BY position",
            ),
            vec![SqlValue::Text(correlation_id.into())],
            &[
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Integer,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
            ],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .map(|row| {
            let optional = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(t))) => Some(t.clone()),
                _ => None,
            };
            let text = |i: usize| optional(i).unwrap_or_default();
            Receipt {
                sender_id: text(0),
                transaction_id: text(1),
                reference_id: text(2),
                payee: text(3),
                payee_fa: text(4),
                amount_minor: match row.get(5) {
                    Some(Some(SqlValue::Integer(n))) => *n,
                    _ => 0,
                },
                currency: text(6),
                programme: text(7),
                switch_ref: text(8),
                paid_at: text(9),
                household: optional(10),
                benefit_type: optional(11),
            }
        })
        .collect())
}
