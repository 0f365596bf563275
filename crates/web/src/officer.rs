//! The programme officer views (staff with the `officer` or `admin` role), read from the
//! SP-MIS's store (read-only, [`crate::Sources::mis`]): the programmes it runs with their
//! beneficiaries by status; one programme's beneficiaries, filtered by status and UIN, with
//! its last cycle's reconciliation (entitlements paid, failed with their reasons, cancelled,
//! pending); one beneficiary's history: each enrolment change with its reason and the IBR
//! update that told of it, the eligibility decision with every rule and the registry facts
//! (and DCI transactions) behind it, and their entitlements and payments.

use std::collections::BTreeMap;
use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use store::{ColumnType, SqlValue, Statement, numbered};

use crate::auth::{Staff, StaffRole};
use crate::{Message, Web, WebError, int, money, page, text, thousands};

/// Beneficiaries a programme's page lists at most (filter to see others).
pub const LISTED: i64 = 200;

pub(crate) fn routes() -> Router<Arc<Web>> {
    Router::new()
        .route("/programmes", get(programmes))
        .route("/programmes/{code}", get(programme))
        .route("/programmes/{code}/beneficiaries/{uin}", get(beneficiary))
}

/// A staff member whose role may see programmes; others are answered 403.
struct Officer(Staff);

impl FromRequestParts<Arc<Web>> for Officer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Arc<Web>) -> Result<Self, Response> {
        let for_whom = "programme officers and administrators";
        Staff::allowed(parts, web, StaffRole::sees_programmes, for_whom)
            .await
            .map(Officer)
    }
}

/// A code as it may appear in a path or a filter: letters, digits, `-` and `_`.
fn code(value: &str) -> Option<&str> {
    let value = value.trim();
    (!value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
    .then_some(value)
}

/// The page saying the web service reads no SP-MIS store.
fn no_mis(staff: &Staff) -> Response {
    page(
        StatusCode::NOT_FOUND,
        &Message {
            title: "No SP-MIS",
            text: "This web service reads no SP-MIS store (web.stores).",
            staff: Some(staff),
        },
    )
}

struct ProgrammeRow {
    code: String,
    total: String,
    statuses: String,
}

#[derive(Template)]
#[template(path = "programmes.html")]
struct ProgrammesPage<'a> {
    staff: Option<&'a Staff>,
    programmes: Vec<ProgrammeRow>,
}

async fn programmes(
    State(web): State<Arc<Web>>,
    Officer(staff): Officer,
) -> Result<Response, WebError> {
    let Some(mis) = web.sources.mis.as_deref() else {
        return Ok(no_mis(&staff));
    };
    let rows = mis
        .read(vec![Statement::new(
            "SELECT programme, status, count(*) FROM mis_enrolment GROUP BY programme, status ORDER BY programme, status",
            vec![],
            &[ColumnType::Text, ColumnType::Text, ColumnType::Integer],
        )])
        .await?;
    let mut by_programme: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for row in &rows[0] {
        by_programme
            .entry(text(row, 0))
            .or_default()
            .push((text(row, 1), int(row, 2)));
    }
    let programmes = by_programme
        .into_iter()
        .map(|(code, statuses)| ProgrammeRow {
            code,
            total: thousands(statuses.iter().map(|(_, n)| n).sum()),
            statuses: statuses
                .iter()
                .map(|(status, n)| format!("{status} {}", thousands(*n)))
                .collect::<Vec<_>>()
                .join(" · "),
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        &ProgrammesPage {
            staff: Some(&staff),
            programmes,
        },
    ))
}

#[derive(Deserialize)]
struct Filter {
    status: Option<String>,
    uin: Option<String>,
}

struct BeneficiaryRow {
    uin: String,
    status: String,
    since: String,
    reason: String,
    household: String,
}

struct StateRow {
    state: String,
    count: String,
    amount: String,
}

struct FailedRow {
    beneficiary: String,
    reason: String,
}

#[derive(Template)]
#[template(path = "programme.html")]
struct ProgrammePage<'a> {
    staff: Option<&'a Staff>,
    code: &'a str,
    status: &'a str,
    uin: &'a str,
    statuses: Vec<&'static str>,
    beneficiaries: Vec<BeneficiaryRow>,
    more: bool,
    cycle: String,
    reconciliation: Vec<StateRow>,
    failed: Vec<FailedRow>,
}

async fn programme(
    State(web): State<Arc<Web>>,
    Officer(staff): Officer,
    Path(programme): Path<String>,
    Query(filter): Query<Filter>,
) -> Result<Response, WebError> {
    let Some(mis) = web.sources.mis.as_deref() else {
        return Ok(no_mis(&staff));
    };
    let Some(programme) = code(&programme) else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            &Message::new("No such programme", "That is not a programme code."),
        ));
    };
    let status = filter.status.as_deref().and_then(code).unwrap_or_default();
    let uin = filter.uin.as_deref().and_then(code).unwrap_or_default();
    let dialect = mis.dialect();
    let mut sql = "SELECT uin, status, status_date, reason, household_id FROM mis_enrolment \
        WHERE programme = ?1"
        .to_string();
    let mut params = vec![SqlValue::Text(programme.into())];
    for (column, value) in [("status", status), ("uin", uin)] {
        if !value.is_empty() {
            params.push(SqlValue::Text(value.into()));
            sql.push_str(&format!(" AND {column} = ?{}", params.len()));
        }
    }
    params.push(SqlValue::Integer(LISTED + 1));
    sql.push_str(&format!(" ORDER BY uin LIMIT ?{}", params.len()));
    let listed = Statement::new(numbered(dialect, &sql), params, &[ColumnType::Text; 5]);
    let cycles = Statement::new(
        numbered(
            dialect,
            "SELECT cycle, state, count(*), CAST(sum(amount_minor) AS BIGINT), min(currency) \
             FROM mis_entitlement WHERE programme = ?1 AND cycle = \
             (SELECT max(cycle) FROM mis_entitlement WHERE programme = ?1) \
             GROUP BY cycle, state ORDER BY state",
        ),
        vec![SqlValue::Text(programme.into())],
        &[
            ColumnType::Text,
            ColumnType::Text,
            ColumnType::Integer,
            ColumnType::Integer,
            ColumnType::Text,
        ],
    );
    let failed = Statement::new(
        numbered(
            dialect,
            "SELECT beneficiary, reason FROM mis_entitlement WHERE programme = ?1 AND state = 'failed' \
             AND cycle = (SELECT max(cycle) FROM mis_entitlement WHERE programme = ?1) \
             ORDER BY beneficiary LIMIT 100",
        ),
        vec![SqlValue::Text(programme.into())],
        &[ColumnType::Text, ColumnType::Text],
    );
    let answers = mis.read(vec![listed, cycles, failed]).await?;
    let mut beneficiaries: Vec<BeneficiaryRow> = answers[0]
        .iter()
        .map(|row| BeneficiaryRow {
            uin: text(row, 0),
            status: text(row, 1),
            since: text(row, 2),
            reason: text(row, 3),
            household: text(row, 4),
        })
        .collect();
    let more = beneficiaries.len() as i64 > LISTED;
    beneficiaries.truncate(LISTED as usize);
    let reconciliation = answers[1]
        .iter()
        .map(|row| StateRow {
            state: text(row, 1),
            count: thousands(int(row, 2)),
            amount: money(&text(row, 4), int(row, 3)),
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        &ProgrammePage {
            staff: Some(&staff),
            code: programme,
            status,
            uin,
            statuses: mis::Status::ALL.iter().map(|s| s.as_str()).collect(),
            beneficiaries,
            more,
            cycle: answers[1]
                .first()
                .map(|row| text(row, 0))
                .unwrap_or_default(),
            reconciliation,
            failed: answers[2]
                .iter()
                .map(|row| FailedRow {
                    beneficiary: text(row, 0),
                    reason: text(row, 1),
                })
                .collect(),
        },
    ))
}

struct ChangeRow {
    date: String,
    status: String,
    reason: String,
    ibr: String,
    rules: Vec<RuleRow>,
}

struct RuleRow {
    name: String,
    rule: String,
    outcome: String,
    facts: Vec<String>,
}

struct EntitlementRow {
    cycle: String,
    amount: String,
    state: String,
    reason: String,
    transaction: String,
}

#[derive(Template)]
#[template(path = "beneficiary.html")]
struct BeneficiaryPage<'a> {
    staff: Option<&'a Staff>,
    code: &'a str,
    uin: &'a str,
    changes: Vec<ChangeRow>,
    entitlements: Vec<EntitlementRow>,
}

/// The rules of an eligibility decision as stored (JSON), each with the facts it read and
/// where each fact came from.
fn rules(decision: &Value) -> Vec<RuleRow> {
    let texts = |v: &Value| v.as_str().map(str::to_string).unwrap_or_default();
    decision["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|rule| RuleRow {
            name: texts(&rule["name"]),
            rule: texts(&rule["rule"]),
            outcome: texts(&rule["outcome"]),
            facts: rule["facts"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|fact| {
                    let value = match &fact["value"] {
                        Value::Null => "(missing)".to_string(),
                        Value::String(text) => text.clone(),
                        other => other.to_string(),
                    };
                    let source = &fact["source"];
                    match source["registry"].as_str() {
                        Some(registry) => format!(
                            "{} = {value}, from {registry}: {} (transaction {})",
                            texts(&fact["fact"]),
                            texts(&source["query"]),
                            texts(&source["transaction_id"])
                        ),
                        None => format!("{} = {value}", texts(&fact["fact"])),
                    }
                })
                .collect(),
        })
        .collect()
}

async fn beneficiary(
    State(web): State<Arc<Web>>,
    Officer(staff): Officer,
    Path((programme, uin)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let Some(mis_store) = web.sources.mis.clone() else {
        return Ok(no_mis(&staff));
    };
    let (Some(programme), Some(uin)) = (code(&programme), code(&uin)) else {
        return Ok(page(
            StatusCode::NOT_FOUND,
            &Message::new(
                "No such beneficiary",
                "That is not a programme code and a UIN.",
            ),
        ));
    };
    let failed = |e: mis::MisError| WebError::Registry {
        registry: "SP-MIS",
        message: e.to_string(),
    };
    let history = mis::store::Enrolments::new(mis_store.clone())
        .history(programme, uin)
        .await
        .map_err(failed)?;
    if history.is_empty() {
        return Ok(page(
            StatusCode::NOT_FOUND,
            &Message {
                title: "No such beneficiary",
                text: "The SP-MIS has no application or enrolment of this UIN in this programme.",
                staff: Some(&staff),
            },
        ));
    }
    let entitlements = mis::store::Enrolments::new(mis_store)
        .entitlements()
        .of_payee(programme, uin)
        .await
        .map_err(failed)?;
    let changes = history
        .iter()
        .map(|change| ChangeRow {
            date: change.date.to_string(),
            status: change.status.as_str().to_string(),
            reason: change.reason.clone().unwrap_or_default(),
            ibr: match (&change.ibr_transaction, &change.ibr_delivery) {
                (Some(txn), Some(state)) => format!("{txn} ({state})"),
                (Some(txn), None) => txn.clone(),
                _ => String::new(),
            },
            rules: change.decision.as_ref().map(rules).unwrap_or_default(),
        })
        .collect();
    let entitlements = entitlements
        .iter()
        .rev()
        .map(|e| EntitlementRow {
            cycle: e.cycle.to_string(),
            amount: money(&e.currency, e.amount_minor),
            state: e.state.as_str().to_string(),
            reason: e.reason.clone().unwrap_or_default(),
            transaction: e.pay_transaction.clone().unwrap_or_default(),
        })
        .collect();
    Ok(page(
        StatusCode::OK,
        &BeneficiaryPage {
            staff: Some(&staff),
            code: programme,
            uin,
            changes,
            entitlements,
        },
    ))
}
