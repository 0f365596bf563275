//! The disability registry's own side: applications registered and certification decisions
//! made by the registry's system (`POST /registrar/dr/records`).
//!
//! A request is applied whole or not at all, in one transaction that writes the records and
//! their events ([`crate::subscribe::raise`]), so that subscribers are notified of every
//! committed change and of nothing else. Registrations come first, then decisions, so one
//! request may register an application and decide it.
//!
//! - A registration creates the person's record, status `1` (Pending), with their
//!   difficulties and the support they need or receive. Events: `DisabledPerson` and
//!   `REGISTER`, and `NewDisabledNewborn` for a child under one.
//! - A decision certifies (`0` Approved: a pending, expired or rejected record; needs a
//!   `disability_level`; valid five years unless `expiry_date` says otherwise), refuses (`3`
//!   Rejected: a pending record) or ends a certificate (`2` Expired: an approved record, on
//!   `expiry_date` or today). Events: `DisabilityStatusChanged`, and `DisabilityApproved` when
//!   it certifies.
//!
//! A record changed by a decision gets a new `version`, recorded in `pwd_change` under a
//! unique key: of two decisions that read the same version, the second to commit is refused
//! by the store, and is read and applied again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use dci::directory::{self, normalize};
use serde::{Deserialize, Serialize};
use store::{ColumnType, Row, SqlValue, Statement, StoreError, numbered, placeholder};
use synth::disability::{self as codes, Difficulty, Disability, Support};
use time::{Date, Duration};

use super::{
    APPROVED, DIFFICULTY_TABLE, DISABLED_PERSON, DisabledPerson, NEW_DISABLED_NEWBORN, PWD_TABLE,
    REGISTER, STATUS_CHANGED, SUPPORT_TABLE,
};
use crate::Registry;
use crate::registrar::{insert, upsert};
use crate::rows::calendar_date as ymd;
use crate::social::Locations;
use crate::subscribe::raise;

/// The disability registrar's endpoint: `POST /registrar/dr/records`.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new().route("/registrar/dr/records", axum::routing::post(records))
}

/// `POST /registrar/dr/records`: applications registered and decisions made.
async fn records(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    match crate::http::registrar_body::<Changes>(&registry, request).await {
        Ok(changes) => crate::http::registrar_answer(apply(&registry, &changes).await),
        Err(refusal) => refusal,
    }
}

/// Applications and decisions to apply.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    /// New applications.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registrations: Vec<Application>,
    /// Certification decisions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub decisions: Vec<Decision>,
}

/// An application for a disability certificate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    /// The person's UIN.
    pub uin: String,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub surname: String,
    /// SexCategoryEnum code or label.
    pub sex: String,
    /// `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub birth_date: Date,
    /// A code of the location master list: where the person lives.
    pub home: String,
    /// The functional difficulties (at least one).
    pub difficulties: Vec<DifficultyInput>,
    /// ImpairmentCause code or label.
    pub impairment_cause: String,
    /// DisabilityOnSet code or label.
    pub age_on_set: String,
    /// Support needed or received.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub supports: Vec<SupportInput>,
    /// TransportRequirement code or label; `0` (public transport) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport_requirement: Option<String>,
    /// HousingType code or label; `1` (own home or rent) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub housing_type: Option<String>,
    /// When the person applied; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub application_date: Option<Date>,
    /// The certificate number; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcn: Option<String>,
}

/// A functional difficulty of an application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DifficultyInput {
    /// FunctionalLimitationType code or label (`MOB_SS`, `Mobility` ...).
    #[serde(rename = "type", alias = "disability_limitation_type")]
    pub domain: String,
    /// FunctionalSeverityEnum, 1-4.
    #[serde(alias = "functional_severity")]
    pub severity: u8,
}

/// A support of an application.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SupportInput {
    /// `human_assistance`, `assistive_technology`, `housing_support`, `medical_care` or
    /// `animal_assistance`.
    pub kind: String,
    /// A code (or label) of the kind's directory.
    #[serde(rename = "type")]
    pub code: String,
    /// Whether it is received (otherwise needed).
    #[serde(default)]
    pub received: bool,
    /// SupportFrequency code or label, for human assistance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intensity: Option<String>,
}

/// A certification decision on a registered record.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// The record's certificate number (or give `uin`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dcn: Option<String>,
    /// The person's UIN (or give `dcn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uin: Option<String>,
    /// The new DisabilityStatusEnum: `Approved`, `Rejected` or `Expired` (code or label).
    pub status: String,
    /// DisabilityLevelEnum code or label; required to approve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disability_level: Option<String>,
    /// When it was decided; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub assessment_date: Option<Date>,
    /// Until when an approval is valid (five years when absent), or when a certificate
    /// expired (today when absent).
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub expiry_date: Option<Date>,
}

/// What a request did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The certificate number of each registration, in request order.
    pub registered: Vec<String>,
    /// The certificate number and new status of each decision, in request order.
    pub decided: Vec<Decided>,
    /// Events raised.
    pub events: usize,
}

/// A decision as applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// The certificate number.
    pub dcn: String,
    /// The new DisabilityStatusEnum code.
    pub disability_status: String,
}

/// Times a request is read and applied again after another decision changed its records.
const ATTEMPTS: usize = 5;

/// How long a certificate is valid unless the decision says otherwise.
const VALIDITY: Duration = Duration::days(5 * 365 + 1);

/// Applies `changes` in one transaction. A request that cannot be applied whole gets the
/// reason and changes nothing.
pub async fn apply(
    registry: &Registry,
    changes: &Changes,
) -> Result<Result<Report, String>, StoreError> {
    if registry.profile.role != super::PROFILE.role {
        return Ok(Err(format!(
            "the {} registry holds no disability certificates",
            registry.profile.role
        )));
    }
    if changes.registrations.is_empty() && changes.decisions.is_empty() {
        return Ok(Err(
            "the request holds no registrations and no decisions".into()
        ));
    }
    let locations = crate::registrar::locations(registry).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let keys = involved(changes);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let known = read(registry, &keys).await?;
        let read_versions = versions(&known, &keys);
        let plan = match plan(registry.store.dialect(), changes, known, today, &locations) {
            Ok(plan) => plan,
            Err(reason) => return Ok(Err(reason)),
        };
        match registry.store.write(plan.statements).await {
            Ok(_) => {
                registry.events.notify_one();
                return Ok(Ok(plan.report));
            }
            Err(e) if attempt < ATTEMPTS => {
                let now = read(registry, &keys).await?;
                if versions(&now, &keys) == read_versions {
                    return Err(e);
                }
                tracing::debug!(error = %e, "a concurrent change touched these records; applying again");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The UINs and certificate numbers a request reads.
fn involved(changes: &Changes) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for application in &changes.registrations {
        keys.push(application.uin.clone());
        keys.extend(application.dcn.iter().cloned());
    }
    for decision in &changes.decisions {
        keys.extend(decision.dcn.iter().cloned());
        keys.extend(decision.uin.iter().cloned());
    }
    let mut seen = HashSet::new();
    keys.retain(|k| seen.insert(k.clone()));
    keys
}

/// The registered records whose UIN or certificate number is among `keys`, by certificate
/// number.
async fn read(
    registry: &Registry,
    keys: &[String],
) -> Result<HashMap<String, DisabledPerson>, StoreError> {
    let mut found = HashMap::new();
    let dialect = registry.store.dialect();
    for chunk in keys.chunks(400) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let list = list.join(", ");
        let params: Vec<SqlValue> = chunk.iter().map(|k| SqlValue::Text(k.clone())).collect();
        let (text, date) = (ColumnType::Text, ColumnType::Date);
        let matching = format!("SELECT dcn FROM pwd WHERE uin IN ({list}) OR dcn IN ({list})");
        let rows = registry
            .store
            .read(vec![
                Statement::new(
                    format!(
                        "SELECT dcn, uin, given_name, surname, sex, birth_date,
                            coalesce(location_code, district_code, region_code),
                            disability_status, disability_level, impairment_cause, age_on_set,
                            transport_requirement, housing_type, application_date,
                            assessment_date, expiry_date, version
                         FROM pwd WHERE uin IN ({list}) OR dcn IN ({list})"
                    ),
                    params.clone(),
                    &[
                        text,
                        text,
                        text,
                        text,
                        text,
                        date,
                        text,
                        text,
                        text,
                        text,
                        text,
                        text,
                        text,
                        date,
                        date,
                        date,
                        ColumnType::Integer,
                    ],
                ),
                Statement::new(
                    format!(
                        "SELECT dcn, limitation_type, severity FROM pwd_difficulty
                         WHERE dcn IN ({matching}) ORDER BY id"
                    ),
                    params.clone(),
                    &[text, text, ColumnType::Integer],
                ),
                Statement::new(
                    format!(
                        "SELECT dcn, kind, type, received, intensity FROM pwd_support
                         WHERE dcn IN ({matching}) ORDER BY id"
                    ),
                    params,
                    &[text, text, text, ColumnType::Bool, text],
                ),
            ])
            .await?;
        let cell = |row: &Row, i: usize| match row.get(i) {
            Some(Some(SqlValue::Text(s))) => Some(s.clone()),
            _ => None,
        };
        let day = |row: &Row, i: usize| match row.get(i) {
            Some(Some(SqlValue::Date(d))) => Some(*d),
            _ => None,
        };
        for row in &rows[0] {
            let (Some(dcn), Some(birth_date), Some(application_date)) =
                (cell(row, 0), day(row, 5), day(row, 13))
            else {
                continue;
            };
            let version = match row.get(16) {
                Some(Some(SqlValue::Integer(v))) => *v,
                _ => 0,
            };
            found.insert(
                dcn.clone(),
                DisabledPerson {
                    given_name: cell(row, 2).unwrap_or_default(),
                    surname: cell(row, 3).unwrap_or_default(),
                    sex: cell(row, 4).unwrap_or_default(),
                    birth_date,
                    home: cell(row, 6),
                    disability: Disability {
                        dcn,
                        uin: cell(row, 1).unwrap_or_default(),
                        status: cell(row, 7).unwrap_or_default(),
                        disability_level: cell(row, 8),
                        difficulties: Vec::new(),
                        impairment_cause: cell(row, 9).unwrap_or_default(),
                        age_on_set: cell(row, 10).unwrap_or_default(),
                        supports: Vec::new(),
                        transport_requirement: cell(row, 11).unwrap_or_default(),
                        housing_type: cell(row, 12).unwrap_or_default(),
                        application_date,
                        assessment_date: day(row, 14),
                        expiry_date: day(row, 15),
                    },
                    version,
                },
            );
        }
        for row in &rows[1] {
            let (Some(dcn), Some(domain), Some(Some(SqlValue::Integer(severity)))) =
                (cell(row, 0), cell(row, 1), row.get(2))
            else {
                continue;
            };
            if let Some(person) = found.get_mut(&dcn) {
                person.disability.difficulties.push(Difficulty {
                    domain,
                    severity: u8::try_from(*severity).unwrap_or_default(),
                });
            }
        }
        for row in &rows[2] {
            let (Some(dcn), Some(kind), Some(code)) = (cell(row, 0), cell(row, 1), cell(row, 2))
            else {
                continue;
            };
            if let Some(person) = found.get_mut(&dcn) {
                person.disability.supports.push(Support {
                    kind,
                    code,
                    received: matches!(row.get(3), Some(Some(SqlValue::Bool(true)))),
                    intensity: cell(row, 4),
                });
            }
        }
    }
    Ok(found)
}

/// The version each key's record was read at (`None`: no such record).
fn versions(known: &HashMap<String, DisabledPerson>, keys: &[String]) -> Vec<Option<i64>> {
    keys.iter()
        .map(|key| {
            known
                .values()
                .find(|p| p.disability.dcn == *key || p.disability.uin == *key)
                .map(|p| p.version)
        })
        .collect()
}

/// What one request writes.
struct Plan {
    statements: Vec<Statement>,
    report: Report,
}

/// The code `input` names in `directory`, or why not.
fn code(directory: &[directory::Entry], input: &str, what: &str) -> Result<String, String> {
    normalize(directory, input)
        .map(str::to_string)
        .ok_or_else(|| format!("{what} '{input}' is not a code of its directory"))
}

/// The record an application creates, checked.
fn registered(
    application: &Application,
    today: Date,
    locations: &Locations,
) -> Result<DisabledPerson, String> {
    let uin = &application.uin;
    if !synth::uin_is_valid(uin) {
        return Err(format!("uin '{uin}' is not a valid UIN"));
    }
    if application.given_name.trim().is_empty() || application.surname.trim().is_empty() {
        return Err(format!("the application of {uin} has an empty name"));
    }
    let sex = code(directory::SEX, &application.sex, "sex")?;
    if locations.get(&application.home).is_none() {
        return Err(format!(
            "home '{}' is not a code of the location master list",
            application.home
        ));
    }
    let applied = application.application_date.unwrap_or(today);
    if application.birth_date > applied || applied > today {
        return Err(format!(
            "application_date {applied} is not between the birth_date {} and today",
            application.birth_date
        ));
    }
    if application.difficulties.is_empty() {
        return Err(format!("the application of {uin} names no difficulty"));
    }
    let mut difficulties = Vec::new();
    for difficulty in &application.difficulties {
        let domain = code(
            directory::FUNCTIONAL_LIMITATION,
            &difficulty.domain,
            "difficulty type",
        )?;
        if !(1..=4).contains(&difficulty.severity) {
            return Err(format!(
                "severity {} is not a FunctionalSeverityEnum code (1-4)",
                difficulty.severity
            ));
        }
        if difficulties.iter().any(|d: &Difficulty| d.domain == domain) {
            return Err(format!("difficulty {domain} appears twice"));
        }
        difficulties.push(Difficulty {
            domain,
            severity: difficulty.severity,
        });
    }
    difficulties.sort_by_key(|d| std::cmp::Reverse(d.severity));
    let mut supports = Vec::new();
    for support in &application.supports {
        let kind = code(directory::SUPPORT_KIND, &support.kind, "support kind")?;
        let types = directory::support_types(&kind).unwrap_or_default();
        let intensity = match &support.intensity {
            Some(i) => Some(code(directory::SUPPORT_FREQUENCY, i, "intensity")?),
            None => None,
        };
        supports.push(Support {
            code: code(types, &support.code, &format!("{kind} type"))?,
            kind,
            received: support.received,
            intensity,
        });
    }
    let optional = |value: &Option<String>, directory, default: &str, what| match value {
        Some(v) => code(directory, v, what),
        None => Ok(default.to_string()),
    };
    Ok(DisabledPerson {
        given_name: application.given_name.trim().to_string(),
        surname: application.surname.trim().to_string(),
        sex,
        birth_date: application.birth_date,
        home: Some(application.home.clone()),
        disability: Disability {
            dcn: application
                .dcn
                .clone()
                .unwrap_or_else(|| codes::dcn(uin, applied)),
            uin: uin.clone(),
            status: codes::PENDING.to_string(),
            disability_level: None,
            difficulties,
            impairment_cause: code(
                directory::IMPAIRMENT_CAUSE,
                &application.impairment_cause,
                "impairment_cause",
            )?,
            age_on_set: code(directory::AGE_ON_SET, &application.age_on_set, "age_on_set")?,
            supports,
            transport_requirement: optional(
                &application.transport_requirement,
                directory::TRANSPORT_REQUIREMENT,
                "0",
                "transport_requirement",
            )?,
            housing_type: optional(
                &application.housing_type,
                directory::HOUSING_TYPE,
                "1",
                "housing_type",
            )?,
            application_date: applied,
            assessment_date: None,
            expiry_date: None,
        },
        version: 0,
    })
}

/// Applies `decision` to `person`'s certification, checked.
fn decide(person: &mut DisabledPerson, decision: &Decision, today: Date) -> Result<(), String> {
    let d = &mut person.disability;
    let status = code(directory::DISABILITY_STATUS, &decision.status, "status")?;
    let decided = decision.assessment_date.unwrap_or(today);
    let dated = |date: Date, what: &str| {
        if date < d.application_date || date > today {
            Err(format!(
                "{what} {date} is not between the application_date {} and today",
                d.application_date
            ))
        } else {
            Ok(date)
        }
    };
    let refused = |d: &Disability| {
        Err(format!(
            "{} has status {} and cannot become {status}",
            d.dcn, d.status
        ))
    };
    match status.as_str() {
        codes::APPROVED => {
            if d.status == codes::APPROVED {
                return refused(d);
            }
            let level = decision
                .disability_level
                .as_deref()
                .ok_or_else(|| format!("approving {} needs a disability_level", d.dcn))?;
            let assessed = dated(decided, "assessment_date")?;
            let expiry = decision.expiry_date.unwrap_or(assessed + VALIDITY);
            if expiry <= today {
                return Err(format!("expiry_date {expiry} is not in the future"));
            }
            d.disability_level = Some(code(
                directory::DISABILITY_LEVEL,
                level,
                "disability_level",
            )?);
            d.assessment_date = Some(assessed);
            d.expiry_date = Some(expiry);
        }
        codes::REJECTED => {
            if d.status != codes::PENDING {
                return refused(d);
            }
            d.assessment_date = Some(dated(decided, "assessment_date")?);
            d.disability_level = None;
            d.expiry_date = None;
        }
        codes::EXPIRED => {
            if d.status != codes::APPROVED {
                return refused(d);
            }
            let expired = decision.expiry_date.unwrap_or(today);
            if expired > today || d.assessment_date.is_some_and(|a| expired < a) {
                return Err(format!(
                    "expiry_date {expired} is not between the assessment and today"
                ));
            }
            d.expiry_date = Some(expired);
        }
        _ => return refused(d),
    }
    d.status = status;
    Ok(())
}

/// The statements and report of `changes`, given the records they involve as registered
/// (`known`, by certificate number), or why they cannot be applied.
fn plan(
    dialect: store::Dialect,
    changes: &Changes,
    mut known: HashMap<String, DisabledPerson>,
    today: Date,
    locations: &Locations,
) -> Result<Plan, String> {
    let mut report = Report::default();
    // Certificate number → the version it was read at (`None`: registered now).
    let mut touched: BTreeMap<String, Option<i64>> = BTreeMap::new();
    let mut events: Vec<(&str, String)> = Vec::new();
    for application in &changes.registrations {
        let person = registered(application, today, locations)?;
        let (dcn, uin) = (&person.disability.dcn, &person.disability.uin);
        if let Some(existing) = known.values().find(|p| p.disability.uin == *uin) {
            return Err(format!(
                "person {uin} is already registered (DCN {})",
                existing.disability.dcn
            ));
        }
        if known.contains_key(dcn) {
            return Err(format!("DCN {dcn} is already registered"));
        }
        events.push((DISABLED_PERSON, dcn.clone()));
        events.push((REGISTER, dcn.clone()));
        if person.birth_date + Duration::days(365) > person.disability.application_date {
            events.push((NEW_DISABLED_NEWBORN, dcn.clone()));
        }
        touched.insert(dcn.clone(), None);
        report.registered.push(dcn.clone());
        known.insert(dcn.clone(), person);
    }
    for decision in &changes.decisions {
        let key = decision
            .dcn
            .as_deref()
            .or(decision.uin.as_deref())
            .ok_or("a decision names no dcn and no uin")?;
        let person = known
            .values_mut()
            .find(|p| p.disability.dcn == key || p.disability.uin == key)
            .ok_or_else(|| format!("{key} is not registered"))?;
        decide(person, decision, today)?;
        let dcn = person.disability.dcn.clone();
        touched.entry(dcn.clone()).or_insert(Some(person.version));
        events.push((STATUS_CHANGED, dcn.clone()));
        if person.disability.status == codes::APPROVED {
            events.push((APPROVED, dcn.clone()));
        }
        report.decided.push(Decided {
            dcn,
            disability_status: person.disability.status.clone(),
        });
    }
    let now = dci::Timestamp::now().to_string();
    let mut statements = Vec::new();
    for (dcn, read_version) in &touched {
        let mut person = known[dcn].clone();
        match read_version {
            None => {
                statements.push(insert(dialect, &PWD_TABLE, person.row(locations, &now)));
                for row in person.difficulty_rows() {
                    statements.push(insert(dialect, &DIFFICULTY_TABLE, row));
                }
                for row in person.support_rows() {
                    statements.push(insert(dialect, &SUPPORT_TABLE, row));
                }
            }
            Some(version) => {
                person.version = version + 1;
                statements.push(Statement::new(
                    numbered(
                        dialect,
                        "INSERT INTO pwd_change (dcn, version, change, changed_at) VALUES (?1, ?2, ?3, ?4)",
                    ),
                    vec![
                        SqlValue::Text(dcn.clone()),
                        SqlValue::Integer(person.version),
                        SqlValue::Text(format!("status {}", person.disability.status)),
                        SqlValue::Text(now.clone()),
                    ],
                    &[],
                ));
                statements.push(upsert(
                    dialect,
                    &PWD_TABLE,
                    "dcn",
                    person.row(locations, &now),
                ));
            }
        }
    }
    for (event, dcn) in events {
        statements.push(raise(
            dialect,
            event,
            dci::records::dr::DISABLED_PERSON,
            "pwd",
            "dcn",
            SqlValue::Text(dcn),
        ));
        report.events += 1;
    }
    Ok(Plan { statements, report })
}
