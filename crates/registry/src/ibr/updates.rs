//! The IBR API's own sync endpoints (dci-spec §4.3 #6-#7, §5.8):
//!
//! - `POST /registry/sync/enrollment/updates`: an SP-MIS publishes enrolments, status changes
//!   and benefits paid, in batches (a payment cycle, up to `limits.max_update_batch_size`) or
//!   one at a time (a case update). Each beneficiary is checked on its own and gets its own
//!   status; those accepted are applied together in one transaction, with their events
//!   (`enrollement`, `enrollement_status_change`) and the duplicates of the beneficiaries they
//!   touch brought up to date. A benefit sent again (same `benefit_identifier`) counts once, so
//!   a batch retried after a timeout changes nothing more.
//! - `POST /registry/sync/enrolled`: per criteria, `enrolled_status` `yes` when a matching
//!   enrolment is active, with the matching enrolments (spx) so that an SP-MIS sees in which
//!   programmes.
//!
//! A programme the registry does not know is registered by the first update that names it,
//! and belongs to its publisher: from then on only that participant may publish its
//! enrolments (others get `err.request.forbidden` for those items), except receipts: another
//! participant with the scope (the payment service) may add benefits to its existing
//! enrolments. The programmes of the loaded population belong to no one: any participant with
//! the `registry.publish` scope may publish them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use dci::criteria::ItemStatus;
use dci::ibr::{
    EnrolledRequest, EnrolledResponse, EnrolledResponseItem, Enrollment, EnrollmentUpdatesRequest,
    EnrollmentUpdatesResponse,
};
use dci::records::ibr::{Beneficiary, parse_value};
use dci::{Action, ReasonCode, Rejection, RequestStatus, Timestamp, directory};
use serde_json::Value;
use store::{ColumnType, Dialect, SqlValue, Statement, placeholder};
use time::Date;

use super::{
    ACTIVE, ENROLLMENT, ENROLMENT_TABLE, Enrolled, Holder, PROGRAMME_TABLE, Payment, ProgrammeInfo,
    STATUS_CHANGE, empty_benefit, mark_duplicates,
};
use crate::Registry;
use crate::audit::AuditNote;
use crate::criteria::{on_search, read, records, search, status_of};
use crate::http::{Parsed, error_ack, new_id, read_request_within, store_failure};
use crate::registrar::{insert, upsert};
use crate::social::Locations;

/// The IBR API's sync endpoints.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new()
        .route("/registry/sync/enrollment/updates", post(updates))
        .route("/registry/sync/enrolled", post(enrolled))
}

/// Keys read per statement.
const CHUNK: usize = 500;

/// `POST /registry/sync/enrolled`.
async fn enrolled(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let (Parsed { header, message }, access) =
        match read::<EnrolledRequest>(&registry, request).await {
            Ok(read) => read,
            Err(refusal) => return refusal,
        };
    let today = Timestamp::now().0.date();
    let items = match search(&registry, &message, false, today, &access).await {
        Ok(items) => items,
        Err(e) => return store_failure(&e),
    };
    let note = AuditNote::of(&header, RequestStatus::Succ.as_str())
        .transaction(&message.transaction_id)
        .disclosing(&items);
    let answers: Vec<EnrolledResponseItem> = items
        .iter()
        .map(|item| {
            let enrollments: Vec<Enrollment> = records::<Beneficiary>(item)
                .into_iter()
                .filter_map(|b| {
                    let programme = b.programme_identifier.first()?;
                    Some(Enrollment {
                        programme_identifier: programme.programme_identifier.clone()?,
                        programme_name: programme.programme_name.clone(),
                        enrollment_status: b.enrollment_status.clone()?,
                        enrollment_date: b.enrollment_date.clone(),
                        benefit_type: programme
                            .benefit
                            .first()
                            .and_then(|x| x.benefit_type.clone()),
                    })
                })
                .collect();
            let yes = item.status == RequestStatus::Succ
                && enrollments.iter().any(|e| e.enrollment_status == ACTIVE);
            EnrolledResponseItem {
                answer: status_of(item),
                enrolled_status: yes.into(),
                enrollments,
            }
        })
        .collect();
    let completed = answers.len();
    let response = EnrolledResponse {
        transaction_id: message.transaction_id,
        correlation_id: new_id(),
        enrolled_response: answers,
    };
    note.on(on_search(&registry, &header, completed, response))
}

/// `POST /registry/sync/enrollment/updates`.
async fn updates(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    let limits = registry.config.updates;
    let (Parsed { header, message }, _) = match read_request_within::<EnrollmentUpdatesRequest>(
        &registry,
        request,
        Some(Action::OnNotify),
        limits.max_body_bytes,
    )
    .await
    {
        Ok(read) => read,
        Err(refusal) => return refusal,
    };
    let beneficiaries = &message.enrolled_updates.beneficiaries;
    if beneficiaries.is_empty() {
        return error_ack(Rejection::new(
            ReasonCode::RequestBad,
            "message.enrolled_updates.beneficiaries is empty",
        ));
    }
    let policy = dci::validate::HeaderPolicy {
        max_batch_size: limits.max_items,
        ..registry.config.header.clone()
    };
    if let Err(rejection) = dci::validate::request_header(
        &header,
        Action::Notify,
        beneficiaries.len(),
        &policy,
        Timestamp::now(),
    ) {
        return registry.header_rejection(&header, Action::OnNotify, rejection);
    }
    let locations = match crate::registrar::locations(&registry).await {
        Ok(locations) => locations,
        Err(e) => return store_failure(&e),
    };
    let today = Timestamp::now().0.date();
    let mut answers: Vec<Option<ItemStatus>> = vec![None; beneficiaries.len()];
    let mut changes = Vec::new();
    let mut references = HashSet::new();
    for (i, value) in beneficiaries.iter().enumerate() {
        let reference_id = value
            .get("reference_id")
            .and_then(Value::as_str)
            .map_or_else(|| (i + 1).to_string(), str::to_string);
        if !references.insert(reference_id.clone()) {
            answers[i] = Some(rejected(
                &reference_id,
                Rejection::new(
                    ReasonCode::ReferenceIdDuplicate,
                    format!("reference_id '{reference_id}' appears twice in the batch"),
                ),
            ));
            continue;
        }
        match check(value, &locations, today) {
            Ok(change) => changes.push((i, reference_id, change)),
            Err(rejection) => answers[i] = Some(rejected(&reference_id, rejection)),
        }
    }
    let applied = if changes.is_empty() {
        Ok(Vec::new())
    } else {
        apply(&registry, &header.sender_id, changes, locations).await
    };
    match applied {
        Ok(outcomes) => {
            for (i, answer) in outcomes {
                answers[i] = Some(answer);
            }
        }
        Err(e) => return store_failure(&e),
    }
    let answers: Vec<ItemStatus> = answers.into_iter().flatten().collect();
    let accepted = answers
        .iter()
        .filter(|a| a.status == RequestStatus::Succ)
        .count();
    let note =
        AuditNote::of(&header, RequestStatus::Succ.as_str()).transaction(&message.transaction_id);
    let completed = answers.len();
    tracing::info!(
        sender = %header.sender_id,
        items = completed,
        accepted,
        "enrolment updates"
    );
    let response = EnrollmentUpdatesResponse {
        transaction_id: message.transaction_id,
        correlation_id: new_id(),
        enrolled_response: answers,
    };
    note.on(registry.reply(
        StatusCode::OK,
        &registry.response_envelope(&header, Action::OnNotify, completed, response),
    ))
}

fn rejected(reference_id: &str, rejection: Rejection) -> ItemStatus {
    ItemStatus {
        reference_id: reference_id.to_string(),
        timestamp: Timestamp::now(),
        status: RequestStatus::Rjct,
        status_reason_code: Some(rejection.code),
        status_reason_message: Some(rejection.message),
    }
}

fn accepted(reference_id: &str) -> ItemStatus {
    ItemStatus {
        reference_id: reference_id.to_string(),
        timestamp: Timestamp::now(),
        status: RequestStatus::Succ,
        status_reason_code: None,
        status_reason_message: None,
    }
}

/// One beneficiary of an update, checked: what it says of its enrolment.
#[derive(Debug, Clone)]
struct Change {
    programme: String,
    programme_name: Option<String>,
    programme_benefit_type: Option<String>,
    assistance_unit: String,
    beneficiary_id: String,
    uin: Option<String>,
    household_id: Option<String>,
    holder: Option<Holder>,
    home: Option<String>,
    status: Option<String>,
    enrolment_date: Option<Date>,
    status_date: Option<Date>,
    status_reason: Option<String>,
    payments: Vec<Payment>,
}

impl Change {
    fn key(&self) -> String {
        format!("{}:{}", self.programme, self.beneficiary_id)
    }

    /// Whether it only adds benefits (a payment receipt), changing nothing of the enrolment.
    fn is_receipt(&self) -> bool {
        !self.payments.is_empty()
            && self.status.is_none()
            && self.holder.is_none()
            && self.home.is_none()
            && self.enrolment_date.is_none()
            && self.status_date.is_none()
    }
}

/// A date `YYYY-MM-DD` (a date-time gives its date).
fn date(value: &str) -> Option<Date> {
    let day = value.get(..10)?;
    Date::parse(
        day,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// Reads and checks one beneficiary of an update.
fn check(value: &Value, locations: &Locations, today: Date) -> Result<Change, Rejection> {
    let invalid = |code, message: String| Rejection::new(code, message);
    let beneficiary: Beneficiary = serde_json::from_value(value.clone())
        .map_err(|e| invalid(ReasonCode::BeneficiaryInvalid, e.to_string()))?;
    let beneficiary = beneficiary.normalized();
    let programme = beneficiary.programme_identifier.first().ok_or_else(|| {
        invalid(
            ReasonCode::ProgrammeInvalid,
            "programme_identifier is required".into(),
        )
    })?;
    let code = programme
        .programme_identifier
        .clone()
        .filter(|c| !c.trim().is_empty() && c.len() <= 99)
        .ok_or_else(|| {
            invalid(
                ReasonCode::ProgrammeInvalid,
                "programme_identifier.programme_identifier is required (at most 99 characters)"
                    .into(),
            )
        })?;
    let programme_benefit_type = programme
        .benefit
        .first()
        .and_then(|b| b.benefit_type.clone());
    if let Some(kind) = &programme_benefit_type
        && directory::normalize(directory::BENEFIT_TYPE, kind).is_none()
    {
        return Err(invalid(
            ReasonCode::BenefitInvalid,
            format!("the programme's benefit_type '{kind}' is not a BenefitTypeEnum code"),
        ));
    }
    let member = beneficiary.member.as_ref();
    let uin = member.and_then(|m| m.identifier("UIN")).map(str::to_string);
    if let Some(m) = member
        && uin.is_none()
    {
        let kinds: Vec<&str> = m
            .member_identifier
            .iter()
            .map(|i| i.identifier_type.as_str())
            .collect();
        return Err(invalid(
            ReasonCode::BeneficiaryInvalid,
            format!(
                "the member has no UIN (identifier types given: {}); the IBR identifies persons by UIN",
                kinds.join(", ")
            ),
        ));
    }
    let household_id = beneficiary.group.as_ref().and_then(|g| {
        g.group_identifier
            .iter()
            .find(|i| {
                i.identifier_type
                    .eq_ignore_ascii_case(crate::social::HOUSEHOLD_ID)
            })
            .map(|i| i.identifier_value.clone())
    });
    let unit = beneficiary.assistance_unit.clone().unwrap_or_else(|| {
        if household_id.is_some() && uin.is_none() {
            "2".into()
        } else {
            "1".into()
        }
    });
    let beneficiary_id = match unit.as_str() {
        "1" => uin.clone().ok_or_else(|| {
            invalid(
                ReasonCode::BeneficiaryInvalid,
                "a member's enrolment needs member.member_identifier with a UIN".into(),
            )
        })?,
        "2" | "3" => household_id.clone().ok_or_else(|| {
            invalid(
                ReasonCode::BeneficiaryInvalid,
                "a household's enrolment needs group.group_identifier with an HHID".into(),
            )
        })?,
        other => {
            return Err(invalid(
                ReasonCode::BeneficiaryInvalid,
                format!("assistance_unit '{other}' is not 1 (member), 2 (household) or 3 (family)"),
            ));
        }
    };
    if beneficiary_id.len() > 99 {
        return Err(invalid(
            ReasonCode::BeneficiaryInvalid,
            "the beneficiary's identifier is longer than 99 characters".into(),
        ));
    }
    let person = member.and_then(|m| m.demographic_info.as_ref());
    let holder = match person {
        Some(p) => Some(Holder {
            given_name: p.name.given_name.clone(),
            surname: p.name.surname.clone(),
            sex: directory::normalize(directory::SEX, &p.sex).map(str::to_string),
            birth_date: match p.birth_date.as_str() {
                "" => None,
                text => Some(date(text).ok_or_else(|| {
                    invalid(
                        ReasonCode::BeneficiaryInvalid,
                        format!("birth_date '{text}' is not a date"),
                    )
                })?),
            },
        }),
        None => None,
    };
    let home = match person.and_then(|p| p.address.first()) {
        Some(address) => {
            let code = address
                .sub_region_code
                .clone()
                .or_else(|| address.region_code.clone());
            if let Some(code) = &code
                && locations.get(code).is_none()
            {
                return Err(invalid(
                    ReasonCode::BeneficiaryInvalid,
                    format!("address code '{code}' is not in the location master list"),
                ));
            }
            code
        }
        None => None,
    };
    let status = match &beneficiary.enrollment_status {
        Some(status) => Some(
            directory::normalize(directory::ENROLMENT_STATUS, status)
                .ok_or_else(|| {
                    invalid(
                        ReasonCode::EnrollmentStatusInvalid,
                        format!("enrollment_status '{status}' is not a code of the EnrollmentStatus directory (1-6)"),
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let day = |name: &str, value: &Option<String>| -> Result<Option<Date>, Rejection> {
        match value.as_deref() {
            None | Some("") => Ok(None),
            Some(text) => match date(text) {
                Some(d) if d <= today => Ok(Some(d)),
                _ => Err(invalid(
                    ReasonCode::BeneficiaryInvalid,
                    format!("{name} '{text}' is not a date up to today"),
                )),
            },
        }
    };
    let enrolment_date = day("enrollment_date", &beneficiary.enrollment_date)?;
    let status_date = day(
        "status_change_date",
        &beneficiary.status_change_date.last().cloned(),
    )?;
    let mut payments = Vec::with_capacity(beneficiary.benefits.len());
    for benefit in &beneficiary.benefits {
        let bad = |message: String| invalid(ReasonCode::BenefitInvalid, message);
        // Without a type of its own, a benefit is of its programme's type (known once the
        // programme is read: see `apply`).
        let kind = match benefit
            .benefit_type
            .clone()
            .or_else(|| programme_benefit_type.clone())
        {
            Some(kind) => {
                directory::normalize(directory::BENEFIT_TYPE, &kind).ok_or_else(|| {
                    bad(format!(
                        "benefit_type '{kind}' is not a BenefitTypeEnum code"
                    ))
                })?
            }
            None => "",
        };
        let when = benefit
            .benefit_date
            .as_deref()
            .and_then(date)
            .filter(|d| *d <= today)
            .ok_or_else(|| bad("a benefit needs a benefit_date up to today".into()))?;
        let value = benefit
            .benefit_value
            .as_deref()
            .ok_or_else(|| bad("a benefit needs a benefit_value, e.g. 'USD 25.00'".into()))?;
        let (currency, amount) = parse_value(value).map_err(|message| {
            let code = if message.contains("ISO 4217") {
                ReasonCode::CurrencyCodeInvalid
            } else {
                ReasonCode::AmountInvalid
            };
            invalid(code, message)
        })?;
        if amount <= 0 {
            return Err(invalid(
                ReasonCode::AmountInvalid,
                format!("benefit_value '{value}' is not a positive amount"),
            ));
        }
        let payment_status = match &benefit.payment_status {
            Some(s) => directory::normalize(directory::PAYMENT_STATUS, s).ok_or_else(|| {
                bad(format!(
                    "payment_status '{s}' is not 1 (successful) or 2 (not successful)"
                ))
            })?,
            None => "1",
        };
        payments.push(Payment {
            benefit_id: benefit
                .benefit_identifier
                .clone()
                .unwrap_or_else(|| format!("{beneficiary_id}-{}", crate::rows::ymd(when))),
            benefit_type: kind.to_string(),
            date: when,
            amount,
            currency,
            payment_status: payment_status.to_string(),
            description: benefit.benefit_description.clone(),
        });
    }
    Ok(Change {
        programme: code,
        programme_name: programme.programme_name.clone(),
        programme_benefit_type: programme_benefit_type
            .and_then(|k| directory::normalize(directory::BENEFIT_TYPE, &k))
            .map(str::to_string),
        assistance_unit: unit,
        beneficiary_id,
        uin,
        household_id,
        holder,
        home,
        status,
        enrolment_date,
        status_date,
        status_reason: beneficiary.status_reason.clone(),
        payments,
    })
}

/// Applies `changes` in one transaction: reads the programmes and enrolments they touch,
/// merges, writes. Returns each change's answer, by its index in the request.
async fn apply(
    registry: &Registry,
    sender: &str,
    changes: Vec<(usize, String, Change)>,
    locations: Locations,
) -> Result<Vec<(usize, ItemStatus)>, store::StoreError> {
    let dialect = registry.store.dialect();
    let mut reads = Vec::new();
    if dialect == Dialect::Postgres {
        reads.push(Statement::new(
            format!("SELECT pg_advisory_xact_lock({UPDATE_LOCK})"),
            vec![],
            &[],
        ));
    }
    let codes: Vec<String> = changes
        .iter()
        .map(|(_, _, c)| c.programme.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let keys: Vec<String> = changes
        .iter()
        .map(|(_, _, c)| c.key())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let programme_reads = codes.chunks(CHUNK).count();
    for chunk in codes.chunks(CHUNK) {
        reads.push(select_in(
            dialect,
            "SELECT code, name, benefit_type, assistance_unit, owner FROM programme WHERE code IN",
            chunk,
            &[ColumnType::Text; 5],
        ));
    }
    for chunk in keys.chunks(CHUNK) {
        reads.push(select_in(
            dialect,
            "SELECT enrolment_key, doc, COALESCE(location_code, district_code, region_code) \
             FROM enrolment WHERE enrolment_key IN",
            chunk,
            &[ColumnType::Text; 3],
        ));
    }
    let skip = usize::from(dialect == Dialect::Postgres);
    let outcomes = Arc::new(Mutex::new(Vec::with_capacity(changes.len())));
    let written = outcomes.clone();
    let sender = sender.to_string();
    let plan: store::WritePlan = Box::new(move |rows| {
        let rows = &rows[skip..];
        // Each programme's benefit type, publisher and name.
        let mut programmes: HashMap<String, Known> = HashMap::new();
        for row in rows[..programme_reads].iter().flatten() {
            let cell = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Text(s))) => Some(s.clone()),
                _ => None,
            };
            if let Some(code) = cell(0) {
                programmes.insert(code, (cell(2), cell(4), cell(1)));
            }
        }
        let mut current: HashMap<String, Enrolled> = HashMap::new();
        for row in rows[programme_reads..].iter().flatten() {
            if let [Some(SqlValue::Text(key)), Some(SqlValue::Text(doc)), home] = row.as_slice()
                && let Ok(record) = serde_json::from_str::<Beneficiary>(doc)
            {
                let home = match home {
                    Some(SqlValue::Text(code)) => Some(code.clone()),
                    _ => None,
                };
                current.insert(key.clone(), Enrolled::from_record(&record, home));
            }
        }
        let now = Timestamp::now().to_string();
        let today = Timestamp::now().0.date();
        let mut statements = Vec::new();
        let mut events = Vec::new();
        let mut touched = HashSet::new();
        let mut outcomes = written.lock().expect("outcomes");
        for (i, reference_id, change) in changes {
            // A programme named for the first time is registered with its first accepted item.
            let new = (!programmes.contains_key(&change.programme))
                .then(|| ProgrammeInfo::published(&change, &sender));
            let (benefit_type, owner, name) = match &new {
                Some(programme) => programme.known(),
                None => programmes[&change.programme].clone(),
            };
            // Another participant (the payment service) may add receipts to the programme's
            // enrolments, and nothing else.
            if let Some(owner) = owner.as_deref().filter(|o| *o != sender)
                && !(change.is_receipt() && current.contains_key(&change.key()))
            {
                outcomes.push((
                    i,
                    rejected(
                        &reference_id,
                        Rejection::new(
                            ReasonCode::RequestForbidden,
                            format!(
                                "programme '{}' is published by '{owner}', not '{sender}' (others may only add benefits to its enrolments)",
                                change.programme
                            ),
                        ),
                    ),
                ));
                continue;
            }
            let mut change = change;
            let mut untyped = change
                .payments
                .iter_mut()
                .filter(|p| p.benefit_type.is_empty())
                .peekable();
            match &benefit_type {
                Some(kind) => untyped.for_each(|p| p.benefit_type = kind.clone()),
                None if untyped.peek().is_some() => {
                    outcomes.push((
                        i,
                        rejected(
                            &reference_id,
                            Rejection::new(
                                ReasonCode::BenefitInvalid,
                                format!(
                                    "a benefit needs a benefit_type: programme '{}' has none",
                                    change.programme
                                ),
                            ),
                        ),
                    ));
                    continue;
                }
                None => {}
            }
            if let Some(programme) = new {
                statements.push(insert_new(dialect, programme.row()));
                programmes.insert(change.programme.clone(), programme.known());
            }
            let key = change.key();
            let before = current.get(&key).map(|e| e.status.clone());
            let enrolled = match current.remove(&key) {
                Some(mut enrolled) => {
                    enrolled.update(&change, today);
                    enrolled
                }
                None => Enrolled::enrol(&change, benefit_type.clone(), name, today),
            };
            statements.push(upsert(
                dialect,
                &ENROLMENT_TABLE,
                "enrolment_key",
                enrolled.row(&locations, &now),
            ));
            for row in enrolled.benefit_rows(&change.payments, &locations) {
                let mut statement = insert(dialect, &super::BENEFIT_TABLE, row);
                statement
                    .sql
                    .push_str(" ON CONFLICT (programme_code, benefit_id) DO NOTHING");
                statements.push(statement);
            }
            match before {
                None => events.push((ENROLLMENT, key.clone())),
                Some(status) if status != enrolled.status => {
                    events.push((STATUS_CHANGE, key.clone()))
                }
                Some(_) => {}
            }
            touched.insert(enrolled.beneficiary_id.clone());
            current.insert(key, enrolled);
            outcomes.push((i, accepted(&reference_id)));
        }
        for (event, key) in events {
            statements.push(crate::subscribe::raise(
                dialect,
                event,
                dci::records::ibr::BENEFICIARY,
                "enrolment",
                "enrolment_key",
                SqlValue::Text(key),
            ));
        }
        let touched: Vec<String> = touched.into_iter().collect();
        for chunk in touched.chunks(CHUNK) {
            statements.push(mark_duplicates(dialect, Some(chunk)));
        }
        Ok(statements)
    });
    registry.store.read_then_write(reads, plan).await?;
    registry.events.notify_one();
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes"));
    Ok(outcomes)
}

/// What an update needs of a programme: its benefit type, publisher and name.
type Known = (Option<String>, Option<String>, Option<String>);

/// Serialises enrolment updates on PostgreSQL (merges read what they write).
const UPDATE_LOCK: i64 = 0x1b5_0001;

/// `{select} (?, ?, ...)` over `values`.
fn select_in(
    dialect: Dialect,
    select: &str,
    values: &[String],
    columns: &[ColumnType],
) -> Statement {
    let list: Vec<String> = (1..=values.len())
        .map(|i| placeholder(dialect, i))
        .collect();
    Statement::new(
        format!("{select} ({})", list.join(", ")),
        values.iter().map(|v| SqlValue::Text(v.clone())).collect(),
        columns,
    )
}

/// An insert of a new programme (one registered meanwhile is kept).
fn insert_new(dialect: Dialect, row: store::Row) -> Statement {
    let mut statement = insert(dialect, &PROGRAMME_TABLE, row);
    statement.sql.push_str(" ON CONFLICT (code) DO NOTHING");
    statement
}

impl ProgrammeInfo {
    fn known(&self) -> Known {
        (
            self.benefit_type.clone(),
            self.owner.clone(),
            Some(self.name.clone()),
        )
    }

    /// A programme first named by `change`, published by `owner`.
    fn published(change: &Change, owner: &str) -> Self {
        let benefit_type = change.programme_benefit_type.clone().or_else(|| {
            let typed = change.payments.iter().find(|p| !p.benefit_type.is_empty());
            typed.map(|p| p.benefit_type.clone())
        });
        let name = change
            .programme_name
            .clone()
            .unwrap_or_else(|| change.programme.clone());
        let mut record = dci::records::ibr::Programme::new(&change.programme, Some(&name));
        record.implementing_institution = Some(owner.to_string());
        record.assistance_unit = Some(change.assistance_unit.clone());
        if let Some(kind) = &benefit_type {
            record.benefit = vec![dci::records::ibr::Benefit {
                benefit_type: Some(kind.clone()),
                ..empty_benefit()
            }];
        }
        ProgrammeInfo {
            code: change.programme.clone(),
            name,
            benefit_type,
            assistance_unit: change.assistance_unit.clone(),
            owner: Some(owner.to_string()),
            record,
            regular: None,
        }
    }
}

impl Enrolled {
    /// A new enrolment as `change` describes it (active, enrolled today, unless it says
    /// otherwise) in the programme of `benefit_type` called `programme_name`.
    fn enrol(
        change: &Change,
        benefit_type: Option<String>,
        programme_name: Option<String>,
        today: Date,
    ) -> Self {
        let mut enrolled = Enrolled {
            programme: change.programme.clone(),
            programme_name: change.programme_name.clone().or(programme_name),
            benefit_type,
            beneficiary_id: change.beneficiary_id.clone(),
            assistance_unit: change.assistance_unit.clone(),
            uin: change.uin.clone(),
            household_id: change.household_id.clone(),
            holder: change.holder.clone(),
            home: change.home.clone(),
            status: change.status.clone().unwrap_or_else(|| ACTIVE.to_string()),
            enrolment_date: Some(change.enrolment_date.unwrap_or(today)),
            status_dates: change.status_date.into_iter().collect(),
            status_reason: change.status_reason.clone(),
            benefits: Vec::new(),
        };
        enrolled.receive(change.payments.iter().cloned());
        enrolled
    }

    /// This enrolment with what `change` says of it: who the beneficiary is and where they
    /// live (when given), its status (a change is dated: the date given, or today), and the
    /// benefits paid.
    fn update(&mut self, change: &Change, today: Date) {
        if change.holder.is_some() {
            self.holder = change.holder.clone();
        }
        if change.home.is_some() {
            self.home = change.home.clone();
        }
        if change.uin.is_some() {
            self.uin = change.uin.clone();
        }
        if change.household_id.is_some() {
            self.household_id = change.household_id.clone();
        }
        if change.programme_name.is_some() {
            self.programme_name = change.programme_name.clone();
        }
        if let Some(date) = change.enrolment_date {
            self.enrolment_date = Some(date);
        }
        if let Some(status) = &change.status
            && *status != self.status
        {
            self.status = status.clone();
            self.status_dates.push(change.status_date.unwrap_or(today));
            self.status_reason = change.status_reason.clone();
        }
        self.receive(change.payments.iter().cloned());
    }

    /// The enrolment a published record describes; `home` is where its row places it.
    pub(crate) fn from_record(record: &Beneficiary, home: Option<String>) -> Self {
        let programme = record.programme_identifier.first();
        let member = record.member.as_ref();
        let person = member.and_then(|m| m.demographic_info.as_ref());
        let uin = member.and_then(|m| m.identifier("UIN")).map(str::to_string);
        let household_id = record
            .group
            .as_ref()
            .and_then(|g| g.group_identifier.first())
            .map(|i| i.identifier_value.clone());
        let unit = record.assistance_unit.clone().unwrap_or_else(|| "1".into());
        let beneficiary_id = if unit == "1" {
            uin.clone().unwrap_or_default()
        } else {
            household_id.clone().unwrap_or_default()
        };
        Enrolled {
            programme: programme
                .and_then(|p| p.programme_identifier.clone())
                .unwrap_or_default(),
            programme_name: programme.and_then(|p| p.programme_name.clone()),
            benefit_type: programme
                .and_then(|p| p.benefit.first())
                .and_then(|b| b.benefit_type.clone()),
            beneficiary_id,
            assistance_unit: unit,
            uin,
            household_id,
            holder: person.map(|p| Holder {
                given_name: p.name.given_name.clone(),
                surname: p.name.surname.clone(),
                sex: Some(p.sex.clone()),
                birth_date: date(&p.birth_date),
            }),
            home,
            status: record
                .enrollment_status
                .clone()
                .unwrap_or_else(|| ACTIVE.into()),
            enrolment_date: record.enrollment_date.as_deref().and_then(date),
            status_dates: record
                .status_change_date
                .iter()
                .filter_map(|d| date(d))
                .collect(),
            status_reason: record.status_reason.clone(),
            benefits: record
                .benefits
                .iter()
                .filter_map(|b| {
                    let (currency, amount) = parse_value(b.benefit_value.as_deref()?).ok()?;
                    Some(Payment {
                        benefit_id: b.benefit_identifier.clone()?,
                        benefit_type: b.benefit_type.clone()?,
                        date: date(b.benefit_date.as_deref()?)?,
                        amount,
                        currency,
                        payment_status: b.payment_status.clone().unwrap_or_else(|| "1".into()),
                        description: b.benefit_description.clone(),
                    })
                })
                .collect(),
        }
    }
}
