//! Disbursement (G2P Connect, dci-spec §11.1): batches of payments, checked, resolved
//! through the mapper and stored as items of a durable state machine.
//!
//! Each item of a `DisburseRequest` becomes a row of `disbursement`, committed with the
//! request (its inbox and `txn` rows) before the ACK, or before a sync answer:
//!
//! ```text
//!   refused (at once: its reason code)          pending ──► paid
//!                                                  │  ╰───► failed   (the switch's reason)
//!                                                  │  ╰───► returned (credited, then returned)
//!                                                  ╰─ the switch did not answer: pending again,
//!                                                     paid later under the same payment id
//! ```
//!
//! A payment is identified by its sender, transaction and reference id (one live row per
//! such key: a repeated reference id is refused `rjct.reference_id.duplicate`, in the batch or
//! in an earlier message of the transaction). A payee given by id (`uin:…@nid`) is paid at its
//! primary address in the mapper; a payee the mapper does not know and that is no financial
//! address is refused `rjct.payee_fa.invalid`. The [`crate::worker`] pays pending items and
//! sends each message's `on-disburse` once all its items are final.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::routing::post;
use dci::disburse::{
    DisburseRequest, DisburseResponse, DisburseSearchCriteria, DisburseSearchRequest,
    DisburseSearchResponse, Disbursement, DisbursementStatus,
};
use dci::mapper::Address;
use dci::money::{Currency, Money};
use dci::txn::{TxnLookup, TxnStatusRequest, TxnStatusResponse, TxnStatusResult};
use dci::{Action, ReasonCode, Rejection, RequestStatus, Timestamp};
use registry::audit::AuditNote;
use registry::exchange::{Accepted, Incoming};
use serde_json::Value;
use store::{ColumnType, Dialect, SqlValue, Statement, StoreError, numbered};

use crate::Pay;
use crate::handler::{
    TxnStatusOf, async_txn_status, read_async, read_durable, read_sync, sync_txn_status,
};
use crate::mapper::Links;

/// The disbursement endpoints.
pub(crate) fn routes() -> Router<Arc<Pay>> {
    Router::new()
        .route("/disburse", post(async_disburse))
        .route("/disburse/sync/disburse", post(sync_disburse))
        .route("/disburse/search", post(async_search))
        .route("/disburse/sync/search", post(sync_search))
        .route(
            "/disburse/txn/status",
            post(async_txn_status::<DisburseStatus>),
        )
        .route(
            "/disburse/sync/txn/status",
            post(sync_txn_status::<DisburseStatus>),
        )
}

/// The state of a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Refused as it arrived (its reason code says why); never sent to the switch.
    Refused,
    /// To be paid, or being paid.
    Pending,
    /// The payee's account was credited.
    Paid,
    /// The switch did not pay it (its reason says why).
    Failed,
    /// Credited, then returned by the payee's provider.
    Returned,
}

impl PaymentState {
    /// Every state.
    pub const ALL: &'static [PaymentState] = &[
        PaymentState::Refused,
        PaymentState::Pending,
        PaymentState::Paid,
        PaymentState::Failed,
        PaymentState::Returned,
    ];

    /// Its name in the store and in reports.
    pub const fn as_str(self) -> &'static str {
        match self {
            PaymentState::Refused => "refused",
            PaymentState::Pending => "pending",
            PaymentState::Paid => "paid",
            PaymentState::Failed => "failed",
            PaymentState::Returned => "returned",
        }
    }

    /// The state called `name`.
    pub fn parse(name: &str) -> Option<PaymentState> {
        PaymentState::ALL
            .iter()
            .copied()
            .find(|s| s.as_str() == name)
    }

    /// The DCI `RequestStatus` of an item in this state.
    pub const fn status(self) -> RequestStatus {
        match self {
            PaymentState::Pending => RequestStatus::Pdng,
            PaymentState::Paid => RequestStatus::Succ,
            _ => RequestStatus::Rjct,
        }
    }
}

/// A disbursement item as checked: the row it becomes.
struct Intake {
    reference_id: String,
    refused: Option<Rejection>,
    payer_fa: Option<String>,
    payer_name: Option<String>,
    payee: Option<String>,
    payee_fa: Option<String>,
    payee_name: Option<String>,
    money: Option<Money>,
    amount: Option<String>,
    currency: Option<String>,
    purpose: Option<String>,
    programme: String,
    region: String,
    household: Option<String>,
    benefit_type: Option<String>,
    note: Option<String>,
    instruction: Option<String>,
    locale: Option<String>,
    due_ms: i64,
}

/// What a payment is reported under when its `meta` does not say.
const UNSPECIFIED: &str = "unspecified";

impl Intake {
    /// Checks one item; the first failing check refuses it.
    fn check(item: &Disbursement, seen: &mut HashSet<String>, now_ms: i64) -> Intake {
        let meta = |key: &str| {
            item.meta
                .as_ref()
                .and_then(|m| m.get(key))
                .and_then(Value::as_str)
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        };
        let mut intake = Intake {
            reference_id: item.reference_id.clone().unwrap_or_default(),
            refused: None,
            payer_fa: item.payer_fa.clone(),
            payer_name: item.payer_name.clone(),
            payee: item.payee_fa.clone(),
            payee_fa: None,
            payee_name: item.payee_name.clone(),
            money: None,
            amount: match &item.amount {
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => Some(other.to_string()),
                None => None,
            },
            currency: item.currency_code.clone(),
            purpose: item.purpose.clone(),
            programme: meta("programme")
                .or_else(|| item.purpose.clone())
                .unwrap_or_else(|| UNSPECIFIED.into()),
            region: meta("region").unwrap_or_else(|| UNSPECIFIED.into()),
            household: meta("household"),
            benefit_type: meta("benefit_type"),
            note: item.note.clone(),
            instruction: item.instruction.clone(),
            locale: item.locale.clone(),
            due_ms: now_ms,
        };
        if let Err(rejection) = intake.validate(item, seen) {
            intake.refused = Some(rejection);
            // What a refused item asked for still counts in the report, when it can be read.
            if let (Some(Value::String(amount)), Some(code)) = (&item.amount, &item.currency_code)
                && let Ok(money) =
                    Currency::parse(code).and_then(|c| Money::parse_amount(amount, c))
            {
                intake.money = Some(money);
            }
        }
        intake
    }

    fn validate(
        &mut self,
        item: &Disbursement,
        seen: &mut HashSet<String>,
    ) -> Result<(), Rejection> {
        dci::validate::reference_id(item.reference_id.as_deref(), seen)?;
        let payer = item.payer_fa.as_deref().unwrap_or_default();
        if !Address::parse(payer).is_some_and(|a| a.is_financial()) {
            return Err(Rejection::new(
                ReasonCode::PayerFaInvalid,
                format!("payer_fa '{payer}' is not a financial address such as account:12345@bank"),
            ));
        }
        let payee = item.payee_fa.as_deref().unwrap_or_default();
        if Address::parse(payee).is_none() {
            return Err(Rejection::new(
                ReasonCode::PayeeFaInvalid,
                format!(
                    "payee_fa '{payee}' is neither a financial address nor a person id (type:value@provider)"
                ),
            ));
        }
        let currency = Currency::parse(item.currency_code.as_deref().ok_or_else(|| {
            Rejection::new(
                ReasonCode::CurrencyCodeInvalid,
                "currency_code is required: spx pays in an explicit ISO 4217 currency",
            )
        })?)?;
        let money = match &item.amount {
            Some(Value::String(amount)) => Money::parse_amount(amount, currency)?,
            Some(other) => {
                return Err(Rejection::new(
                    ReasonCode::AmountInvalid,
                    format!("amount must be a decimal string such as \"1500.00\", not {other}"),
                ));
            }
            None => {
                return Err(Rejection::new(
                    ReasonCode::AmountInvalid,
                    "amount is required",
                ));
            }
        };
        self.amount = Some(money.amount());
        self.money = Some(money);
        if let Some(scheduled) = &item.scheduled_timestamp {
            let at = Timestamp::parse(scheduled).map_err(|e| {
                Rejection::new(
                    ReasonCode::ScheduleTsInvalid,
                    format!("scheduled_timestamp: {e}"),
                )
            })?;
            let at_ms = (at.0.unix_timestamp_nanos() / 1_000_000) as i64;
            self.due_ms = self.due_ms.max(at_ms);
        }
        Ok(())
    }

    fn refuse(&mut self, rejection: Rejection) {
        if self.refused.is_none() {
            self.refused = Some(rejection);
        }
    }
}

/// Checks a batch of `sender_id`: each item on its own, then against the earlier messages of
/// its transaction (repeated reference ids), then its payee against the mapper.
async fn check_batch(
    pay: &Pay,
    sender_id: &str,
    message: &DisburseRequest,
) -> Result<Vec<Intake>, StoreError> {
    let now_ms = dispatch::now_ms();
    let mut seen = HashSet::new();
    let mut intake: Vec<Intake> = message
        .disbursements
        .iter()
        .map(|item| Intake::check(item, &mut seen, now_ms))
        .collect();
    let live: Vec<&str> = intake
        .iter()
        .filter(|i| i.refused.is_none())
        .map(|i| i.reference_id.as_str())
        .collect();
    let known = known_references(pay, sender_id, &message.transaction_id, &live).await?;
    for item in intake
        .iter_mut()
        .filter(|i| known.contains(&i.reference_id))
    {
        item.refuse(Rejection::new(
            ReasonCode::ReferenceIdDuplicate,
            format!(
                "reference_id '{}' was already received in transaction '{}'",
                item.reference_id, message.transaction_id
            ),
        ));
    }
    let payees: Vec<&str> = intake
        .iter()
        .filter(|i| i.refused.is_none())
        .filter_map(|i| i.payee.as_deref())
        .collect();
    let links = Links::load(
        pay.store(),
        sender_id,
        payees.iter().copied(),
        payees.iter().copied(),
    )
    .await?;
    for item in intake.iter_mut().filter(|i| i.refused.is_none()) {
        match resolve_payee(&links, item.payee.as_deref().unwrap_or_default()) {
            Ok(fa) => item.payee_fa = Some(fa),
            Err(rejection) => item.refuse(rejection),
        }
    }
    Ok(intake)
}

/// The address `payee` is paid at: an id's active primary address in the mapper, or the
/// payee itself when it is a financial address (not deactivated in the mapper).
fn resolve_payee(links: &Links, payee: &str) -> Result<String, Rejection> {
    let refuse = |why: String| Err(Rejection::new(ReasonCode::PayeeFaInvalid, why));
    if !links.of(payee).is_empty() {
        return match links.primary(payee) {
            Some(link) if link.active => Ok(link.fa.clone()),
            _ => refuse(format!(
                "{payee} has no active primary financial address in the mapper"
            )),
        };
    }
    if let Some(link) = links.link(payee) {
        if !link.active {
            return refuse(format!("{payee} is deactivated in the mapper"));
        }
        return Ok(payee.to_string());
    }
    match Address::parse(payee) {
        Some(address) if address.is_financial() => Ok(payee.to_string()),
        _ => refuse(format!(
            "unknown payee: {payee} is not linked to a financial address in the mapper"
        )),
    }
}

/// Reference ids looked up per statement.
const CHUNK: usize = 500;

/// The ones of `references` already received (not refused) in `sender_id`'s transaction.
async fn known_references(
    pay: &Pay,
    sender_id: &str,
    transaction_id: &str,
    references: &[&str],
) -> Result<HashSet<String>, StoreError> {
    let dialect = pay.store().dialect();
    let statements: Vec<Statement> = references
        .chunks(CHUNK)
        .map(|chunk| {
            let mut params = vec![
                SqlValue::Text(sender_id.into()),
                SqlValue::Text(transaction_id.into()),
            ];
            params.extend(chunk.iter().map(|r| SqlValue::Text(r.to_string())));
            let known = "d.sender_id = ?1 AND d.transaction_id = ?2 AND d.state <> 'refused'";
            let sql = match dialect {
                // SQLite looks each one up in the transaction's index.
                Dialect::Sqlite => {
                    let list: Vec<String> = (3..chunk.len() + 3).map(|i| format!("?{i}")).collect();
                    format!(
                        "SELECT d.reference_id FROM disbursement d WHERE {known} AND d.reference_id IN ({})",
                        list.join(", ")
                    )
                }
                // PostgreSQL would test the whole list against every payment of the
                // transaction: a join lets it hash the list.
                Dialect::Postgres => {
                    let list: Vec<String> =
                        (3..chunk.len() + 3).map(|i| format!("(?{i})")).collect();
                    format!(
                        "SELECT d.reference_id FROM (VALUES {}) AS asked
                         JOIN disbursement d ON d.reference_id = asked.column1 WHERE {known}",
                        list.join(", ")
                    )
                }
            };
            Statement::new(
                numbered(dialect, &sql),
                params,
                &[ColumnType::Text],
            )
        })
        .collect();
    if statements.is_empty() {
        return Ok(HashSet::new());
    }
    Ok(pay
        .store()
        .read(statements)
        .await?
        .into_iter()
        .flatten()
        .filter_map(|row| match row.into_iter().next() {
            Some(Some(SqlValue::Text(reference))) => Some(reference),
            _ => None,
        })
        .collect())
}

/// Rows inserted per statement.
const ROWS_PER_INSERT: usize = 80;

/// Columns of a `disbursement` row an insert sets.
const COLUMNS: usize = 27;

/// The statements that store a checked batch, message `correlation_id` of `sender_id`.
fn insert_statements(
    dialect: Dialect,
    (correlation_id, sender_id, transaction_id): (&str, &str, &str),
    intake: &[Intake],
) -> Vec<Statement> {
    let now = Timestamp::now().to_string();
    let text = |s: &str| SqlValue::Text(s.to_string());
    // The store's parameters have no NULL: absent text travels as '' (NULLIF below).
    let optional = |s: &Option<String>| SqlValue::Text(s.clone().unwrap_or_default());
    intake
        .chunks(ROWS_PER_INSERT)
        .enumerate()
        .map(|(chunk_index, chunk)| {
            let mut params = Vec::with_capacity(chunk.len() * COLUMNS);
            let mut rows = Vec::with_capacity(chunk.len());
            for (i, item) in chunk.iter().enumerate() {
                let p = |c: usize| format!("?{}", i * COLUMNS + c);
                let nullable = |c: usize| format!("NULLIF(?{}, '')", i * COLUMNS + c);
                rows.push(format!(
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, NULLIF({}, CAST(-1 AS BIGINT)), {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    p(1), p(2), p(3), p(4), p(5), p(6), nullable(7), nullable(8), nullable(9),
                    nullable(10), nullable(11), nullable(12), p(13), nullable(14), nullable(15),
                    p(16), p(17), nullable(18), nullable(19), nullable(20), p(21), nullable(22),
                    nullable(23), p(24), p(25), nullable(26), nullable(27)
                ));
                let position = (chunk_index * ROWS_PER_INSERT + i) as i64;
                let state = match item.refused {
                    Some(_) => PaymentState::Refused,
                    None => PaymentState::Pending,
                };
                params.extend([
                    text(correlation_id),
                    SqlValue::Integer(position),
                    text(sender_id),
                    text(transaction_id),
                    text(&item.reference_id),
                    text(state.as_str()),
                    optional(&item.payer_fa),
                    optional(&item.payer_name),
                    optional(&item.payee),
                    optional(&item.payee_fa),
                    optional(&item.payee_name),
                    optional(&item.amount),
                    SqlValue::Integer(item.money.map_or(-1, |m| m.minor)),
                    optional(&item.currency),
                    optional(&item.purpose),
                    text(&item.programme),
                    text(&item.region),
                    optional(&item.note),
                    optional(&item.instruction),
                    optional(&item.locale),
                    SqlValue::Integer(item.due_ms),
                    optional(&item.refused.as_ref().map(|r| r.code.as_str().to_string())),
                    optional(&item.refused.as_ref().map(|r| r.message.clone())),
                    text(&now),
                    text(&now),
                    optional(&item.household),
                    optional(&item.benefit_type),
                ]);
            }
            Statement::new(
                numbered(
                    dialect,
                    &format!(
                        "INSERT INTO disbursement (correlation_id, position, sender_id, transaction_id, reference_id, state,
                             payer_fa, payer_name, payee, payee_fa, payee_name, amount, amount_minor, currency, purpose,
                             programme, region, note, instruction, locale, due_ms, reason_code, reason, received_at, updated_at,
                             household_id, benefit_type)
                         VALUES {}",
                        rows.join(", ")
                    ),
                ),
                params,
                &[],
            )
        })
        .collect()
}

/// The columns a payment's status is read from.
const STATUS_COLUMNS: &str = "transaction_id, correlation_id, reference_id, state, reason_code, reason, instruction, amount, payer_fa, payer_name, payee, payee_fa, payee_name, currency, locale, updated_at";

/// A payment's status as stored, with its transaction and message.
pub(crate) struct StoredStatus {
    pub(crate) transaction_id: String,
    pub(crate) correlation_id: String,
    pub(crate) status: DisbursementStatus,
}

/// The statuses of the payments `condition` selects (over `params`), in the order they
/// arrived, at most `limit`.
pub(crate) async fn statuses(
    pay: &Pay,
    condition: &str,
    params: Vec<SqlValue>,
    limit: usize,
) -> Result<Vec<StoredStatus>, StoreError> {
    let rows = pay
        .store()
        .read(vec![Statement::new(
            numbered(
                pay.store().dialect(),
                &format!(
                    "SELECT {STATUS_COLUMNS} FROM disbursement WHERE {condition}
                     ORDER BY received_at, correlation_id, position LIMIT {limit}"
                ),
            ),
            params,
            &[ColumnType::Text; 16],
        )])
        .await?;
    Ok(rows[0]
        .iter()
        .map(|row| {
            let text = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(t))) => Some(t.clone()),
                _ => None,
            };
            let state = text(3)
                .as_deref()
                .and_then(PaymentState::parse)
                .unwrap_or(PaymentState::Pending);
            StoredStatus {
                transaction_id: text(0).unwrap_or_default(),
                correlation_id: text(1).unwrap_or_default(),
                status: DisbursementStatus {
                    reference_id: text(2).unwrap_or_default(),
                    timestamp: text(15)
                        .and_then(|t| Timestamp::parse(&t).ok())
                        .unwrap_or_else(Timestamp::now),
                    status: state.status(),
                    status_reason_code: text(4).as_deref().and_then(ReasonCode::parse),
                    status_reason_message: text(5),
                    instruction: text(6),
                    amount: text(7),
                    payer_fa: text(8),
                    payer_name: text(9),
                    payee_fa: text(11).or_else(|| text(10)),
                    payee_name: text(12),
                    currency_code: text(13),
                    locale: text(14),
                },
            }
        })
        .collect())
}

/// The statuses of the items of message `correlation_id`, in their order.
pub(crate) async fn statuses_of_message(
    pay: &Pay,
    correlation_id: &str,
) -> Result<Vec<DisbursementStatus>, StoreError> {
    Ok(statuses(
        pay,
        "correlation_id = ?1",
        vec![SqlValue::Text(correlation_id.into())],
        usize::MAX >> 1,
    )
    .await?
    .into_iter()
    .map(|s| s.status)
    .collect())
}

/// Items of message `correlation_id` still pending.
async fn pending_in(pay: &Pay, correlation_id: &str) -> Result<i64, StoreError> {
    let rows = pay
        .store()
        .read(vec![Statement::new(
            numbered(
                pay.store().dialect(),
                "SELECT COUNT(*) FROM disbursement WHERE correlation_id = ?1 AND state = 'pending'",
            ),
            vec![SqlValue::Text(correlation_id.into())],
            &[ColumnType::Integer],
        )])
        .await?;
    Ok(match rows[0].first().and_then(|r| r.first()) {
        Some(Some(SqlValue::Integer(n))) => *n,
        _ => 0,
    })
}

/// Waits until no item of message `correlation_id` is pending, or `wait` has passed.
async fn settle(pay: &Pay, correlation_id: &str, wait: Duration) -> Result<(), StoreError> {
    let deadline = tokio::time::Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    while pending_in(pay, correlation_id).await? > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(pause.min(deadline - tokio::time::Instant::now())).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
    Ok(())
}

/// `POST /disburse/sync/disburse`: the batch is checked and stored (a retry of the same
/// message is not stored again), its payments made while the request waits (up to
/// `sync_wait`), and the state of each item answered (`pdng` for those still being paid).
async fn sync_disburse(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let (parsed, body) = match read_durable::<DisburseRequest>(
        &pay,
        request,
        // The standard's YAML gives this endpoint the action `search`.
        (Action::Disburse, &["search"]),
        |m| m.disbursements.len(),
    )
    .await
    {
        Ok(read) => read,
        Err(response) => return response,
    };
    let (header, message) = (parsed.header, parsed.message);
    if message.disbursements.is_empty() {
        return registry::http::error_ack(Rejection::new(
            ReasonCode::RequestBad,
            "message.disbursements is empty",
        ));
    }
    let intake = match check_batch(&pay, &header.sender_id, &message).await {
        Ok(intake) => intake,
        Err(e) => return registry::http::store_failure(&e),
    };
    let correlation_id = registry::http::new_id();
    let changes = insert_statements(
        pay.store().dialect(),
        (&correlation_id, &header.sender_id, &message.transaction_id),
        &intake,
    );
    let incoming = Incoming {
        header: &header,
        action: Action::Disburse,
        transaction_id: &message.transaction_id,
        reference_ids: Vec::new(),
        // A sync request has no callback: its answer is the response.
        callback_url: "",
        body: &body,
        changes,
    };
    let correlation_id =
        match registry::exchange::accept(&pay.engine, incoming, correlation_id, None).await {
            Ok(Accepted::New(id)) => id,
            Ok(Accepted::Duplicate(earlier)) if earlier.is_retry_of(&body) => {
                earlier.correlation_id
            }
            Ok(Accepted::Duplicate(_)) => {
                return pay.engine.header_rejection(
                    &header,
                    Action::OnDisburse,
                    Rejection::new(
                        ReasonCode::MessageIdDuplicate,
                        format!(
                            "message_id '{}' was already used by another message of {}",
                            header.message_id, header.sender_id
                        ),
                    ),
                );
            }
            Err(e) => return registry::http::store_failure(&e),
        };
    pay.payments.notify_one();
    let answered = match settle(&pay, &correlation_id, pay.config.sync_wait).await {
        Ok(()) => statuses_of_message(&pay, &correlation_id).await,
        Err(e) => Err(e),
    };
    let items = match answered {
        Ok(items) => items,
        Err(e) => return registry::http::store_failure(&e),
    };
    let completed = items
        .iter()
        .filter(|i| i.status != RequestStatus::Pdng)
        .count();
    let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .correlation(&correlation_id);
    let response = DisburseResponse {
        transaction_id: message.transaction_id,
        disbursements_status: items,
    };
    pay.engine
        .sync_answer(&header, Action::OnDisburse, completed, response, note)
        .await
}

/// `POST /disburse`: the batch is checked and stored before the ACK; the `on-disburse`
/// callback follows once every item is final. A batch refused whole (over the limit, a wrong
/// `total_count` ...) stores no payment and says why in its callback.
async fn async_disburse(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let request = match read_async::<DisburseRequest>(&pay, request, Action::Disburse, |m| {
        m.disbursements.len()
    })
    .await
    {
        Ok(request) => request,
        Err(response) => return response,
    };
    if request.message.disbursements.is_empty() {
        return registry::http::error_ack(Rejection::new(
            ReasonCode::RequestBad,
            "message.disbursements is empty",
        ));
    }
    if let Some(rejection) = request.refused.clone() {
        let answered = request.refusal(&pay, rejection).await;
        return request
            .accept(&pay, Vec::new(), Vec::new(), Some(answered))
            .await;
    }
    let intake = match check_batch(&pay, &request.header.sender_id, &request.message).await {
        Ok(intake) => intake,
        Err(e) => return registry::http::store_failure(&e),
    };
    let changes = insert_statements(
        pay.store().dialect(),
        (
            &request.correlation_id,
            &request.header.sender_id,
            &request.message.transaction_id,
        ),
        &intake,
    );
    let response = request.accept(&pay, Vec::new(), changes, None).await;
    pay.payments.notify_one();
    response
}

/// The attribute types a disburse search looks payments up by, with the reason code of a bad
/// value and the column.
const SEARCH_ATTRIBUTES: [(&str, ReasonCode, &str); 4] = [
    ("payer_fa", ReasonCode::SrchPayerFaInvalid, "payer_fa = ?2"),
    (
        "payee_fa",
        ReasonCode::SrchPayeeFaInvalid,
        "(payee_fa = ?2 OR payee = ?2)",
    ),
    (
        "transaction_id",
        ReasonCode::SrchTransactionIdInvalid,
        "transaction_id = ?2",
    ),
    (
        "reference_id",
        ReasonCode::SrchReferenceIdInvalid,
        "reference_id = ?2",
    ),
];

/// The answers to a disburse search of `sender_id`: per search, the state of each payment it
/// finds (of the sender's own), or the search's refusal.
async fn search(
    pay: &Pay,
    sender_id: &str,
    message: &DisburseSearchRequest,
) -> Result<Vec<DisbursementStatus>, StoreError> {
    let mut seen = HashSet::new();
    let mut answers = Vec::new();
    for criteria in &message.search_criteria {
        match search_one(pay, sender_id, criteria, &mut seen).await? {
            Ok(found) => answers.extend(found),
            Err(rejection) => {
                answers.push(DisbursementStatus {
                    reference_id: criteria.reference_id.clone().unwrap_or_default(),
                    timestamp: Timestamp::now(),
                    status: RequestStatus::Rjct,
                    status_reason_code: Some(rejection.code),
                    status_reason_message: Some(rejection.message),
                    instruction: None,
                    amount: None,
                    payer_fa: None,
                    payer_name: None,
                    payee_fa: None,
                    payee_name: None,
                    currency_code: None,
                    locale: criteria.locale.clone(),
                });
            }
        }
    }
    Ok(answers)
}

async fn search_one(
    pay: &Pay,
    sender_id: &str,
    criteria: &DisburseSearchCriteria,
    seen: &mut HashSet<String>,
) -> Result<Result<Vec<DisbursementStatus>, Rejection>, StoreError> {
    let checked = (|| {
        dci::validate::reference_id(criteria.reference_id.as_deref(), seen)?;
        if let Some(timestamp) = &criteria.timestamp {
            Timestamp::parse(timestamp).map_err(|e| {
                Rejection::new(ReasonCode::TimestampInvalid, format!("timestamp: {e}"))
            })?;
        }
        if criteria.request_type.as_deref() != Some("disburse") {
            return Err(Rejection::new(
                ReasonCode::RequestTypeInvalid,
                "request_type must be disburse",
            ));
        }
        let attribute = criteria.attribute_type.as_deref().unwrap_or_default();
        let Some(&(_, code, condition)) =
            SEARCH_ATTRIBUTES.iter().find(|(a, _, _)| *a == attribute)
        else {
            return Err(Rejection::new(
                ReasonCode::AttributeTypeInvalid,
                format!(
                    "attribute_type '{attribute}' is not payer_fa, payee_fa, transaction_id or reference_id"
                ),
            ));
        };
        let value = criteria.attribute_value.as_deref().unwrap_or_default();
        let valid = match attribute {
            "payer_fa" | "payee_fa" => Address::parse(value).is_some(),
            _ => dci::validate::id(attribute, value).is_ok(),
        };
        if !valid {
            return Err(Rejection::new(
                code,
                format!("{attribute} '{value}' is not valid"),
            ));
        }
        Ok((attribute, condition, value))
    })();
    let (attribute, condition, value) = match checked {
        Ok(checked) => checked,
        Err(rejection) => return Ok(Err(rejection)),
    };
    let limit = pay.config.max_status_items;
    let found = statuses(
        pay,
        &format!("sender_id = ?1 AND {condition}"),
        vec![
            SqlValue::Text(sender_id.into()),
            SqlValue::Text(value.into()),
        ],
        limit + 1,
    )
    .await?;
    if found.len() > limit {
        return Ok(Err(Rejection::new(
            ReasonCode::SrchTooManyRecordsFound,
            format!("more than {limit} payments match; search by transaction or reference id"),
        )));
    }
    if found.is_empty() {
        let code = match attribute {
            "transaction_id" => ReasonCode::SrchTransactionIdNotFound,
            "reference_id" => ReasonCode::SrchReferenceIdNotFound,
            "payer_fa" => ReasonCode::SrchPayerFaInvalid,
            _ => ReasonCode::SrchPayeeFaInvalid,
        };
        return Ok(Err(Rejection::new(
            code,
            format!("no payment of {sender_id} has {attribute} '{value}'"),
        )));
    }
    Ok(Ok(found.into_iter().map(|s| s.status).collect()))
}

/// `POST /disburse/sync/search`.
async fn sync_search(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let (parsed, _) =
        match read_sync::<DisburseSearchRequest>(&pay, request, (Action::Search, &[]), |m| {
            m.search_criteria.len()
        })
        .await
        {
            Ok(read) => read,
            Err(response) => return response,
        };
    let (header, message) = (parsed.header, parsed.message);
    let items = match search(&pay, &header.sender_id, &message).await {
        Ok(items) => items,
        Err(e) => return registry::http::store_failure(&e),
    };
    let completed = message.search_criteria.len();
    let note =
        AuditNote::of(&header, RequestStatus::Succ.as_str()).transaction(&message.transaction_id);
    let response = DisburseSearchResponse {
        transaction_id: message.transaction_id,
        disbursements_status: items,
    };
    pay.engine
        .sync_answer(&header, Action::OnSearch, completed, response, note)
        .await
}

/// `POST /disburse/search` → `/disburse/on-search`: answered as it is accepted.
async fn async_search(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let request = match read_async::<DisburseSearchRequest>(&pay, request, Action::Search, |m| {
        m.search_criteria.len()
    })
    .await
    {
        Ok(request) => request,
        Err(response) => return response,
    };
    let reference_ids = request
        .message
        .search_criteria
        .iter()
        .map(|c| c.reference_id.clone().unwrap_or_default())
        .collect();
    let answer = match &request.refused {
        Some(rejection) => Err(rejection.clone()),
        None => match search(&pay, &request.header.sender_id, &request.message).await {
            Ok(items) => Ok((
                request.message.search_criteria.len(),
                DisburseSearchResponse {
                    transaction_id: request.message.transaction_id.clone(),
                    disbursements_status: items,
                },
            )),
            Err(e) => return registry::http::store_failure(&e),
        },
    };
    let answered = pay
        .engine
        .answered(
            &request.header,
            Action::OnSearch,
            (&request.correlation_id, &request.callback),
            answer,
            Vec::new(),
        )
        .await;
    request
        .accept(&pay, reference_ids, Vec::new(), Some(answered))
        .await
}

/// Disbursement transactions, for txn status.
pub(crate) struct DisburseStatus;

impl TxnStatusOf for DisburseStatus {
    /// `txn_type` `disburse` (the default): the state of each payment of the transaction (by
    /// `transaction_id`, every message of it), of the message (`correlation_id`) or of the
    /// payments (`reference_id_list`), as an `on-disburse` `DisburseResponse`. `search`: the
    /// answer of an async disburse search.
    async fn status(
        pay: &Pay,
        sender_id: &str,
        request: &TxnStatusRequest,
        lookup: TxnLookup,
    ) -> Result<Result<TxnStatusResponse, Rejection>, StoreError> {
        let not_found = |what: String| {
            Ok(Err(Rejection::new(
                ReasonCode::RequestNotFound,
                format!("no {what} of {sender_id} matches {lookup:?}"),
            )))
        };
        let answer = |correlation_id: String, txn_type: &str, txn_status: Value| {
            Ok(Ok(TxnStatusResponse {
                transaction_id: request.transaction_id.clone(),
                correlation_id,
                txnstatus_response: TxnStatusResult {
                    txn_type: txn_type.to_string(),
                    txn_status,
                },
            }))
        };
        let txn_type = request
            .txnstatus_request
            .txn_type
            .as_deref()
            .map(|t| t.trim_start_matches("on-"));
        match txn_type {
            None | Some("disburse") => {}
            Some("search") => {
                let Some(found) = registry::exchange::find_transaction(
                    &pay.engine,
                    sender_id,
                    &lookup,
                    &["search"],
                )
                .await?
                else {
                    return not_found("disburse search".into());
                };
                let stored = crate::handler::stored_answer(&found);
                return answer(found.correlation_id, "on-search", stored);
            }
            Some(other) => {
                return Ok(Err(Rejection::new(
                    ReasonCode::RequestBad,
                    format!("txn_type '{other}' is not disburse or search"),
                )));
            }
        }
        let text = |s: &str| SqlValue::Text(s.to_string());
        let sender = text(sender_id);
        let (condition, params) = match &lookup {
            TxnLookup::TransactionId(id) => (
                "sender_id = ?1 AND transaction_id = ?2".to_string(),
                vec![sender, text(id)],
            ),
            TxnLookup::CorrelationId(id) => (
                "sender_id = ?1 AND correlation_id = ?2".to_string(),
                vec![sender, text(id)],
            ),
            TxnLookup::ReferenceIds(ids) => {
                let list: Vec<String> = (2..ids.len() + 2).map(|i| format!("?{i}")).collect();
                let mut params = vec![sender];
                params.extend(ids.iter().map(|id| text(id)));
                (
                    format!("sender_id = ?1 AND reference_id IN ({})", list.join(", ")),
                    params,
                )
            }
            TxnLookup::SubscriptionCodes(_) => {
                return Ok(Err(Rejection::new(
                    ReasonCode::RequestBad,
                    "payments have no subscriptions: ask by transaction_id, reference_id_list or correlation_id",
                )));
            }
        };
        let limit = pay.config.max_status_items;
        let found = statuses(pay, &condition, params, limit + 1).await?;
        if found.len() > limit {
            return Ok(Err(Rejection::new(
                ReasonCode::RequestBad,
                format!(
                    "more than {limit} payments match: ask by correlation_id (one message), or see the reconciliation report"
                ),
            )));
        }
        let Some(last) = found.last() else {
            return not_found("payment".into());
        };
        let (transaction_id, correlation_id) =
            (last.transaction_id.clone(), last.correlation_id.clone());
        let response = DisburseResponse {
            transaction_id,
            disbursements_status: found.into_iter().map(|s| s.status).collect(),
        };
        answer(
            correlation_id,
            "on-disburse",
            serde_json::to_value(response).unwrap_or_default(),
        )
    }
}
