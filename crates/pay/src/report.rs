//! Reconciliation of a payment cycle: every payment of a transaction (all its messages),
//! counted and summed by state, by programme, by region, and the failures by reason, as
//! JSON or CSV (`GET /disburse/reconciliation`).
//!
//! A cycle is reconciled when no payment is pending: each one is then paid, failed (with the
//! switch's reason), returned, or refused at intake (with its code). Amounts are sums of
//! integer minor units per currency, never mixed across currencies.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use dci::money::{Currency, format_minor};
use dci::{ReasonCode, Rejection};
use registry::audit::AuditNote;
use serde::{Deserialize, Serialize};
use store::{ColumnType, SqlValue, Statement, Store, StoreError, numbered};

use crate::Pay;
use crate::disburse::PaymentState;

/// The report's endpoint.
pub(crate) fn routes() -> Router<Arc<Pay>> {
    Router::new().route("/disburse/reconciliation", get(reconciliation))
}

/// How many payments, and how much money.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Payments.
    pub count: i64,
    /// Their amounts, in minor units of the currency.
    pub amount_minor: i64,
    /// The same as a decimal string (`"1500.00"`).
    pub amount: String,
}

impl Tally {
    fn add(&mut self, count: i64, amount_minor: i64) {
        self.count += count;
        self.amount_minor += amount_minor;
    }
}

/// The payments of one group (a state, a programme, a region, a failure) in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The group: `state`, `programme`, `region` or `failure`.
    pub group: String,
    /// Its value (`paid`, `CT-OVC`, `R01`, `account_closed` ...).
    pub key: String,
    /// ISO 4217 code (empty for payments refused before their currency was known).
    pub currency: String,
    /// Per state: `paid`, `failed`, `returned`, `refused`, `pending`.
    pub states: BTreeMap<String, Tally>,
}

/// The reconciliation of one payment cycle (a transaction of a payer system).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reconciliation {
    /// The payer system.
    pub sender_id: String,
    /// The cycle's transaction id.
    pub transaction_id: String,
    /// When the report was made.
    pub generated_at: String,
    /// Whether every payment is final (none pending).
    pub reconciled: bool,
    /// Payments received (items of every message of the transaction).
    pub payments: i64,
    /// Per state and currency (the first lines), then per programme, per region and per
    /// failure reason.
    pub lines: Vec<Line>,
}

impl Reconciliation {
    /// The tally of `state` in `currency`, over the whole cycle.
    pub fn total(&self, state: PaymentState, currency: &str) -> Tally {
        self.lines
            .iter()
            .find(|l| l.group == "state" && l.key == state.as_str() && l.currency == currency)
            .and_then(|l| l.states.get(state.as_str()).cloned())
            .unwrap_or_default()
    }

    /// The report as CSV: a line per group, key, currency and state.
    pub fn to_csv(&self) -> String {
        let mut csv = String::from("group,key,currency,state,count,amount_minor,amount\n");
        for line in &self.lines {
            for (state, tally) in &line.states {
                csv.push_str(&format!(
                    "{},{},{},{},{},{},{}\n",
                    quoted(&line.group),
                    quoted(&line.key),
                    quoted(&line.currency),
                    state,
                    tally.count,
                    tally.amount_minor,
                    tally.amount
                ));
            }
        }
        csv
    }
}

/// A CSV field, quoted when it must be (RFC 4180).
fn quoted(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

/// Reconciles the payments of `sender_id`'s transaction `transaction_id`.
pub async fn reconcile(
    store: &dyn Store,
    sender_id: &str,
    transaction_id: &str,
) -> Result<Reconciliation, StoreError> {
    let rows = store
        .read(vec![Statement::new(
            numbered(
                store.dialect(),
                "SELECT state, COALESCE(currency, ''), programme, region, COALESCE(failure, ''), COUNT(*),
                        CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT)
                 FROM disbursement WHERE sender_id = ?1 AND transaction_id = ?2
                 GROUP BY state, currency, programme, region, failure",
            ),
            vec![
                SqlValue::Text(sender_id.into()),
                SqlValue::Text(transaction_id.into()),
            ],
            &[
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Text,
                ColumnType::Integer,
                ColumnType::Integer,
            ],
        )])
        .await?;
    // (group, key, currency) -> state -> tally
    let mut groups: BTreeMap<(u8, String, String), BTreeMap<String, Tally>> = BTreeMap::new();
    let mut payments = 0;
    let mut pending = 0;
    for row in &rows[0] {
        let text = |i: usize| match row.get(i) {
            Some(Some(SqlValue::Text(t))) => t.clone(),
            _ => String::new(),
        };
        let int = |i: usize| match row.get(i) {
            Some(Some(SqlValue::Integer(n))) => *n,
            _ => 0,
        };
        let (state, currency, count, amount) = (text(0), text(1), int(5), int(6));
        payments += count;
        if state == PaymentState::Pending.as_str() {
            pending += count;
        }
        let mut keys = vec![(0, state.clone()), (1, text(2)), (2, text(3))];
        if !text(4).is_empty() {
            keys.push((3, text(4)));
        }
        for (group, key) in keys {
            groups
                .entry((group, key, currency.clone()))
                .or_default()
                .entry(state.clone())
                .or_default()
                .add(count, amount);
        }
    }
    const GROUPS: [&str; 4] = ["state", "programme", "region", "failure"];
    let lines = groups
        .into_iter()
        .map(|((group, key, currency), mut states)| {
            let exponent = Currency::parse(&currency).ok();
            for tally in states.values_mut() {
                tally.amount = match exponent {
                    Some(currency) => format_minor(tally.amount_minor, currency),
                    None => String::new(),
                };
            }
            Line {
                group: GROUPS[group as usize].to_string(),
                key,
                currency,
                states,
            }
        })
        .collect();
    Ok(Reconciliation {
        sender_id: sender_id.to_string(),
        transaction_id: transaction_id.to_string(),
        generated_at: dci::Timestamp::now().to_string(),
        reconciled: pending == 0,
        payments,
        lines,
    })
}

/// The query of `GET /disburse/reconciliation`.
#[derive(Debug, Deserialize)]
struct ReportQuery {
    transaction_id: Option<String>,
    /// The payer system; with a token, the token's participant (and only that one).
    sender_id: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// `GET /disburse/reconciliation?transaction_id=…[&format=csv]`: the caller's cycle
/// reconciled. Not DCI: an operator's report, behind the same token (scope
/// `disburse.status`) and audit chain as the DCI endpoints.
async fn reconciliation(State(pay): State<Arc<Pay>>, request: Request) -> Response {
    let caller = request
        .extensions()
        .get::<registry::auth::Caller>()
        .map(|c| c.participant.sender_id.clone());
    let bad = |message: String| {
        registry::http::error_ack(Rejection::new(ReasonCode::RequestBad, message))
    };
    let Ok(Query(query)) = Query::<ReportQuery>::try_from_uri(request.uri()) else {
        return bad("the query is malformed".into());
    };
    let Some(transaction_id) = query.transaction_id.filter(|t| !t.is_empty()) else {
        return bad("transaction_id is required".into());
    };
    let sender_id = match (caller, query.sender_id) {
        (Some(caller), Some(asked)) if caller != asked => {
            return registry::http::error_ack(Rejection::new(
                ReasonCode::RequestForbidden,
                format!("'{caller}' may see its own payments only, not those of '{asked}'"),
            ));
        }
        (Some(caller), _) => caller,
        (None, Some(asked)) => asked,
        (None, None) => return bad("sender_id is required".into()),
    };
    let report = match reconcile(pay.store(), &sender_id, &transaction_id).await {
        Ok(report) if report.payments > 0 => report,
        Ok(_) => {
            return registry::http::error_ack(Rejection::new(
                ReasonCode::RequestNotFound,
                format!("{sender_id} has no payment in transaction '{transaction_id}'"),
            ));
        }
        Err(e) => return registry::http::store_failure(&e),
    };
    let mut note =
        AuditNote::outcome(dci::RequestStatus::Succ.as_str()).transaction(&transaction_id);
    note.participant = Some(sender_id);
    let response = match query.format.as_deref() {
        Some("csv") => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            report.to_csv(),
        )
            .into_response(),
        None | Some("json") => (StatusCode::OK, axum::Json(report)).into_response(),
        Some(other) => return bad(format!("format '{other}' is not json or csv")),
    };
    note.on(response)
}
