//! The civil registrar's side of the CRVS: births, marriages and deaths registered by the
//! registrar's system (`POST /registrar/crvs/records`, `spx crvs register-*`).
//!
//! A request is applied whole or not at all, in one transaction that writes the records, the
//! persons they change and their events ([`crate::subscribe::raise`]), so that subscribers are
//! notified of every committed registration and of nothing else. Within a request births come
//! first, then marriages, then deaths, so one request may register a birth and the marriage
//! or death of the person it creates.
//!
//! - A birth creates the person (marital status `S`) and their `BirthRecord`; the parents,
//!   when given, must be registered (a mother must not have died before the birth). Events:
//!   `LiveBirth` and `BIRTH_REGISTERED`.
//! - A marriage creates its `MarriageRecord` and makes both spouses `M`; both must be alive
//!   and neither married. Event: `Marriage` (on both persons).
//! - A death creates its `DeathRecord` and adds the death (`DRN`, date, place) to the person;
//!   a married spouse becomes a widow(er) (`W`). Events: `Death` and `DEATH_REGISTERED`.
//!
//! Each event is raised on the person and on the new record, so a subscription gets the
//! record type it names in `notify_record_type`. Registration numbers not given are assigned
//! as [`synth::vital`] numbers the generated population. A person changed by a registration
//! gets a new `version`, recorded in `person_change` under a unique key: of two registrations
//! that read the same version of a person, the second to commit is refused by the store, and
//! is read and applied again.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use store::{ColumnType, Row, SqlValue, Statement, StoreError, numbered, placeholder};
use time::Date;

use super::{
    BIRTH_REGISTERED, BIRTH_TABLE, DEATH, DEATH_REGISTERED, DEATH_TABLE, DIVORCE, LIVE_BIRTH,
    MARRIAGE, MARRIAGE_TABLE, PERSON_TABLE, RegisteredPerson, marriage_row,
};
use crate::Registry;
use crate::registrar::{insert, upsert};
use crate::social::Locations;
use crate::subscribe::raise;
use dci::records::crvs as records;

use crate::rows::calendar_date as ymd;

/// The civil registrar's endpoint: `POST /registrar/crvs/records`.
pub(crate) fn routes() -> axum::Router<Arc<Registry>> {
    axum::Router::new().route("/registrar/crvs/records", axum::routing::post(records))
}

/// `POST /registrar/crvs/records`: the civil registrar registers births, marriages and deaths.
async fn records(State(registry): State<Arc<Registry>>, request: Request) -> Response {
    match crate::http::registrar_body::<Registrations>(&registry, request).await {
        Ok(registrations) => {
            crate::http::registrar_answer(register(&registry, &registrations).await)
        }
        Err(refusal) => refusal,
    }
}

/// Registrations to apply.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Registrations {
    /// Live births.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub births: Vec<BirthRegistration>,
    /// Marriages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub marriages: Vec<MarriageRegistration>,
    /// Deaths.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deaths: Vec<DeathRegistration>,
    /// Divorces.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub divorces: Vec<DivorceRegistration>,
}

/// A live birth to register.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BirthRegistration {
    /// The child's UIN.
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
    /// A code of the location master list.
    pub birth_place: String,
    /// The mother's UIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mother_uin: Option<String>,
    /// The father's UIN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub father_uin: Option<String>,
    /// The birth registration number; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brn: Option<String>,
    /// When it was registered; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<Date>,
}

/// A marriage to register.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MarriageRegistration {
    /// One spouse's UIN.
    pub spouse1_uin: String,
    /// The other spouse's UIN.
    pub spouse2_uin: String,
    /// `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub marriage_date: Date,
    /// A code of the location master list.
    pub marriage_place: String,
    /// The marriage registration number; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mrn: Option<String>,
    /// When it was registered; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<Date>,
}

/// A death to register.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeathRegistration {
    /// The deceased's UIN.
    pub uin: String,
    /// `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub death_date: Date,
    /// A code of the location master list.
    pub death_place: String,
    /// The death registration number; assigned when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drn: Option<String>,
    /// When it was registered; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<Date>,
}

/// A divorce to register, against the marriage it dissolves.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DivorceRegistration {
    /// The registration number of the marriage.
    pub mrn: String,
    /// `YYYY-MM-DD`.
    #[serde(with = "ymd")]
    pub divorce_date: Date,
    /// A code of the location master list: where the divorce was granted.
    pub divorce_place: String,
    /// When it was registered; today when absent.
    #[serde(default, with = "ymd::option", skip_serializing_if = "Option::is_none")]
    pub registration_date: Option<Date>,
}

/// What a request registered.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationReport {
    /// The BRN of each birth, in request order.
    pub births: Vec<String>,
    /// The MRN of each marriage, in request order.
    pub marriages: Vec<String>,
    /// The DRN of each death, in request order.
    pub deaths: Vec<String>,
    /// The MRN of each marriage dissolved, in request order.
    #[serde(default)]
    pub divorces: Vec<String>,
    /// Registered persons changed (a death, a marriage, a widowhood).
    pub persons_updated: usize,
    /// Events raised.
    pub events: usize,
}

/// Times a request is read and applied again after another registration changed its persons.
const ATTEMPTS: usize = 5;

/// Applies `request` in one transaction. A request that cannot be applied whole gets the
/// reason and changes nothing.
pub async fn register(
    registry: &Registry,
    request: &Registrations,
) -> Result<Result<RegistrationReport, String>, StoreError> {
    if registry.profile.role != super::PROFILE.role {
        return Ok(Err(format!(
            "the {} registry registers no vital events",
            registry.profile.role
        )));
    }
    if request.births.is_empty()
        && request.marriages.is_empty()
        && request.deaths.is_empty()
        && request.divorces.is_empty()
    {
        return Ok(Err(
            "the request holds no births, marriages, deaths or divorces".into(),
        ));
    }
    let locations = crate::registrar::locations(registry).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let numbers = Numbers::of(request);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let dissolved = read_marriages(registry, &request.divorces).await?;
        let involved = involved(request, &dissolved);
        let mut persons = read_persons(registry, &involved).await?;
        // The spouses of the persons registered dead may become widow(er)s.
        let spouses: Vec<String> = request
            .deaths
            .iter()
            .filter_map(|d| persons.get(&d.uin)?.spouse_uin.clone())
            .filter(|s| !persons.contains_key(s))
            .collect();
        persons.extend(read_persons(registry, &spouses).await?);
        let read: Vec<(String, Option<i64>)> = involved
            .into_iter()
            .chain(spouses)
            .map(|uin| {
                let version = persons.get(&uin).map(|p| p.version);
                (uin, version)
            })
            .collect();
        let taken = taken(registry, &numbers).await?;
        let plan = match plan(
            registry.store.dialect(),
            request,
            (persons, &dissolved),
            &numbers,
            &taken,
            today,
            &locations,
        ) {
            Ok(plan) => plan,
            Err(reason) => return Ok(Err(reason)),
        };
        match registry.store.write(plan.statements).await {
            Ok(_) => {
                registry.events.notify_one();
                return Ok(Ok(plan.report));
            }
            Err(e) if attempt < ATTEMPTS && changed_since(registry, &read).await? => {
                tracing::debug!(error = %e, "a concurrent registration changed these persons; applying again");
            }
            Err(e) => return Err(e),
        }
    }
}

/// The UINs a request reads: children, parents, spouses (of marriages and of the marriages
/// `dissolved`), the deceased.
fn involved(request: &Registrations, dissolved: &HashMap<String, Marriage>) -> Vec<String> {
    let mut uins: Vec<String> = Vec::new();
    for birth in &request.births {
        uins.push(birth.uin.clone());
        uins.extend(birth.mother_uin.iter().cloned());
        uins.extend(birth.father_uin.iter().cloned());
    }
    for marriage in &request.marriages {
        uins.extend([marriage.spouse1_uin.clone(), marriage.spouse2_uin.clone()]);
    }
    uins.extend(request.deaths.iter().map(|d| d.uin.clone()));
    for marriage in dissolved.values() {
        uins.extend([marriage.spouse1_uin.clone(), marriage.spouse2_uin.clone()]);
    }
    let mut seen = HashSet::new();
    uins.retain(|u| seen.insert(u.clone()));
    uins
}

/// The registration numbers of a request's records, given or assigned.
struct Numbers {
    births: Vec<String>,
    marriages: Vec<String>,
    deaths: Vec<String>,
}

impl Numbers {
    fn of(request: &Registrations) -> Self {
        Numbers {
            births: request
                .births
                .iter()
                .map(|b| {
                    b.brn
                        .clone()
                        .unwrap_or_else(|| synth::vital::brn(&b.uin, b.birth_date))
                })
                .collect(),
            marriages: request
                .marriages
                .iter()
                .map(|m| {
                    m.mrn.clone().unwrap_or_else(|| {
                        synth::vital::mrn(&m.spouse1_uin, &m.spouse2_uin, m.marriage_date)
                    })
                })
                .collect(),
            deaths: request
                .deaths
                .iter()
                .map(|d| {
                    d.drn
                        .clone()
                        .unwrap_or_else(|| synth::vital::drn(&d.uin, d.death_date))
                })
                .collect(),
        }
    }
}

/// The numbers among a request's that registered records already have.
#[derive(Default)]
struct Taken {
    births: HashSet<String>,
    marriages: HashSet<String>,
    deaths: HashSet<String>,
}

async fn taken(registry: &Registry, numbers: &Numbers) -> Result<Taken, StoreError> {
    let dialect = registry.store.dialect();
    let lookup = |table: &str, column: &str, values: &[String]| {
        let list: Vec<String> = (1..=values.len().max(1))
            .map(|i| placeholder(dialect, i))
            .collect();
        let mut params: Vec<SqlValue> = values.iter().map(|v| SqlValue::Text(v.clone())).collect();
        if params.is_empty() {
            params.push(SqlValue::Text(String::new()));
        }
        Statement::new(
            format!(
                "SELECT {column} FROM {table} WHERE {column} IN ({})",
                list.join(", ")
            ),
            params,
            &[ColumnType::Text],
        )
    };
    let rows = registry
        .store
        .read(vec![
            lookup("birth", "brn", &numbers.births),
            lookup("marriage", "mrn", &numbers.marriages),
            lookup("death", "drn", &numbers.deaths),
        ])
        .await?;
    let set = |rows: &[Row]| -> HashSet<String> {
        rows.iter()
            .filter_map(|row| match row.first() {
                Some(Some(SqlValue::Text(s))) => Some(s.clone()),
                _ => None,
            })
            .collect()
    };
    Ok(Taken {
        births: set(&rows[0]),
        marriages: set(&rows[1]),
        deaths: set(&rows[2]),
    })
}

/// The registered persons among `uins`, with their death places and marriage dates.
pub(crate) async fn read_persons(
    registry: &Registry,
    uins: &[String],
) -> Result<HashMap<String, RegisteredPerson>, StoreError> {
    let mut found = HashMap::new();
    let dialect = registry.store.dialect();
    for chunk in uins.chunks(400) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let list = list.join(", ");
        let params: Vec<SqlValue> = chunk.iter().map(|u| SqlValue::Text(u.clone())).collect();
        let text = ColumnType::Text;
        let date = ColumnType::Date;
        let rows = registry
            .store
            .read(vec![
                Statement::new(
                    format!(
                        "SELECT p.uin, p.brn, p.drn, p.given_name, p.surname, p.sex, p.birth_date,
                            coalesce(p.location_code, p.district_code, p.region_code),
                            p.mother_uin, p.father_uin, p.death_date,
                            coalesce(d.location_code, d.district_code, d.region_code),
                            p.marital_status, p.spouse_uin, p.version
                         FROM person p LEFT JOIN death d ON d.uin = p.uin WHERE p.uin IN ({list})"
                    ),
                    params.clone(),
                    &[
                        text,
                        text,
                        text,
                        text,
                        text,
                        text,
                        date,
                        text,
                        text,
                        text,
                        date,
                        text,
                        text,
                        text,
                        ColumnType::Integer,
                    ],
                ),
                Statement::new(
                    format!(
                        "SELECT spouse1_uin, spouse2_uin, marriage_date, divorce_date FROM marriage
                         WHERE spouse1_uin IN ({list}) OR spouse2_uin IN ({list}) ORDER BY marriage_date, id"
                    ),
                    params,
                    &[text, text, date, date],
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
            let (Some(uin), Some(birth_date), Some(Some(SqlValue::Integer(version)))) =
                (cell(row, 0), day(row, 6), row.get(14))
            else {
                continue;
            };
            found.insert(
                uin.clone(),
                RegisteredPerson {
                    uin,
                    brn: cell(row, 1).unwrap_or_default(),
                    drn: cell(row, 2),
                    given_name: cell(row, 3).unwrap_or_default(),
                    surname: cell(row, 4).unwrap_or_default(),
                    sex: cell(row, 5).unwrap_or_default(),
                    birth_date,
                    birth_place: cell(row, 7),
                    mother_uin: cell(row, 8),
                    father_uin: cell(row, 9),
                    death_date: day(row, 10),
                    death_place: cell(row, 11),
                    marital_status: cell(row, 12).unwrap_or_else(|| "S".into()),
                    spouse_uin: cell(row, 13),
                    marriage_dates: Vec::new(),
                    divorce_dates: Vec::new(),
                    version: *version,
                },
            );
        }
        for row in &rows[1] {
            let Some(date) = day(row, 2) else { continue };
            for spouse in [cell(row, 0), cell(row, 1)].into_iter().flatten() {
                if let Some(person) = found.get_mut(&spouse) {
                    person.marriage_dates.push(date);
                    person.divorce_dates.extend(day(row, 3));
                }
            }
        }
    }
    Ok(found)
}

/// A registered marriage, as a divorce finds it.
#[derive(Debug, Clone)]
struct Marriage {
    spouse1_uin: String,
    spouse2_uin: String,
    marriage_date: Date,
    divorce_date: Option<Date>,
    /// The record as published.
    record: records::MarriageRecord,
}

/// The registered marriages among those `divorces` dissolve, by MRN.
async fn read_marriages(
    registry: &Registry,
    divorces: &[DivorceRegistration],
) -> Result<HashMap<String, Marriage>, StoreError> {
    let mut found = HashMap::new();
    if divorces.is_empty() {
        return Ok(found);
    }
    let dialect = registry.store.dialect();
    for chunk in divorces.chunks(400) {
        let list: Vec<String> = (1..=chunk.len()).map(|i| placeholder(dialect, i)).collect();
        let (text, date) = (ColumnType::Text, ColumnType::Date);
        let rows = registry
            .store
            .read(vec![Statement::new(
                format!(
                    "SELECT mrn, spouse1_uin, spouse2_uin, marriage_date, divorce_date, doc FROM marriage WHERE mrn IN ({})",
                    list.join(", ")
                ),
                chunk.iter().map(|d| SqlValue::Text(d.mrn.clone())).collect(),
                &[text, text, text, date, date, text],
            )])
            .await?;
        for row in &rows[0] {
            let cell = |i: usize| crate::search::text_cell(row, i);
            let day = |i: usize| match row.get(i) {
                Some(Some(SqlValue::Date(d))) => Some(*d),
                _ => None,
            };
            let (Some(marriage_date), Ok(record)) = (day(3), serde_json::from_str(&cell(5))) else {
                continue;
            };
            found.insert(
                cell(0),
                Marriage {
                    spouse1_uin: cell(1),
                    spouse2_uin: cell(2),
                    marriage_date,
                    divorce_date: day(4),
                    record,
                },
            );
        }
    }
    Ok(found)
}

/// Whether a person read as `read` (UIN, version or `None` when absent) has changed since.
async fn changed_since(
    registry: &Registry,
    read: &[(String, Option<i64>)],
) -> Result<bool, StoreError> {
    let uins: Vec<String> = read.iter().map(|(uin, _)| uin.clone()).collect();
    let now = read_persons(registry, &uins).await?;
    Ok(read
        .iter()
        .any(|(uin, version)| now.get(uin).map(|p| p.version) != *version))
}

/// What one request writes.
struct Plan {
    statements: Vec<Statement>,
    report: RegistrationReport,
}

/// A person the request changes: why, and the version it was read at (`None`: born now).
struct Touched {
    read_version: Option<i64>,
    changes: Vec<&'static str>,
}

/// Notes that the request changes registered person `p` (read at `p.version`) by `change`.
fn touch(touched: &mut BTreeMap<String, Touched>, p: &RegisteredPerson, change: &'static str) {
    touched
        .entry(p.uin.clone())
        .or_insert(Touched {
            read_version: Some(p.version),
            changes: Vec::new(),
        })
        .changes
        .push(change);
}

fn uin_checked(uin: &str, role: &str) -> Result<(), String> {
    if synth::uin_is_valid(uin) {
        Ok(())
    } else {
        Err(format!("{role} '{uin}' is not a valid UIN"))
    }
}

fn place_checked(code: &str, locations: &Locations, what: &str) -> Result<(), String> {
    match locations.get(code) {
        Some(_) => Ok(()),
        None => Err(format!(
            "{what} '{code}' is not a code of the location master list"
        )),
    }
}

fn dates_checked(
    event: Date,
    registered: Option<Date>,
    today: Date,
    what: &str,
) -> Result<Date, String> {
    if event > today {
        return Err(format!("{what} {event} is in the future"));
    }
    let registered = registered.unwrap_or(today);
    if registered < event || registered > today {
        return Err(format!(
            "registration_date {registered} is not between the {what} {event} and today"
        ));
    }
    Ok(registered)
}

fn person<'a>(
    persons: &'a mut HashMap<String, RegisteredPerson>,
    uin: &str,
    role: &str,
) -> Result<&'a mut RegisteredPerson, String> {
    persons
        .get_mut(uin)
        .ok_or_else(|| format!("{role} {uin} is not registered"))
}

/// The statements and report of `request`, given the persons it involves as registered
/// (`persons`), or why it cannot be applied.
fn plan(
    dialect: store::Dialect,
    request: &Registrations,
    (mut persons, dissolved): (
        HashMap<String, RegisteredPerson>,
        &HashMap<String, Marriage>,
    ),
    numbers: &Numbers,
    taken: &Taken,
    today: Date,
    locations: &Locations,
) -> Result<Plan, String> {
    let mut touched: BTreeMap<String, Touched> = BTreeMap::new();
    let mut records: Vec<Statement> = Vec::new();
    // (event, record type, table, column, value)
    let mut events: Vec<(&str, &str, &str, &str, String)> = Vec::new();
    let mut report = RegistrationReport::default();
    let mut fresh = HashSet::new();

    for (birth, brn) in request.births.iter().zip(&numbers.births) {
        uin_checked(&birth.uin, "uin")?;
        if let Some(existing) = persons.get(&birth.uin) {
            return Err(format!(
                "person {} is already registered (BRN {})",
                birth.uin, existing.brn
            ));
        }
        let registered = dates_checked(
            birth.birth_date,
            birth.registration_date,
            today,
            "birth_date",
        )?;
        place_checked(&birth.birth_place, locations, "birth_place")?;
        let sex = dci::directory::normalize(dci::directory::SEX, &birth.sex)
            .ok_or_else(|| format!("sex '{}' is not a SexCategoryEnum code", birth.sex))?;
        if birth.given_name.trim().is_empty() || birth.surname.trim().is_empty() {
            return Err(format!("the birth of {} has an empty name", birth.uin));
        }
        for (parent, role) in [(&birth.mother_uin, "mother"), (&birth.father_uin, "father")] {
            let Some(parent) = parent else { continue };
            uin_checked(parent, role)?;
            if *parent == birth.uin {
                return Err(format!("{role} of {} is the child", birth.uin));
            }
            let found = person(&mut persons, parent, role)?;
            if role == "mother" && found.death_date.is_some_and(|d| d < birth.birth_date) {
                return Err(format!(
                    "mother {parent} died before the birth of {}",
                    birth.uin
                ));
            }
        }
        if taken.births.contains(brn) || !fresh.insert(brn.clone()) {
            return Err(format!("BRN {brn} is already registered"));
        }
        let child = RegisteredPerson {
            uin: birth.uin.clone(),
            brn: brn.clone(),
            drn: None,
            given_name: birth.given_name.trim().to_string(),
            surname: birth.surname.trim().to_string(),
            sex: sex.to_string(),
            birth_date: birth.birth_date,
            birth_place: Some(birth.birth_place.clone()),
            mother_uin: birth.mother_uin.clone(),
            father_uin: birth.father_uin.clone(),
            death_date: None,
            death_place: None,
            marital_status: "S".into(),
            spouse_uin: None,
            marriage_dates: Vec::new(),
            divorce_dates: Vec::new(),
            version: 0,
        };
        records.push(insert(
            dialect,
            &BIRTH_TABLE,
            child.birth_row(registered, locations),
        ));
        touched.insert(
            child.uin.clone(),
            Touched {
                read_version: None,
                changes: vec!["birth"],
            },
        );
        for event in [LIVE_BIRTH, BIRTH_REGISTERED] {
            events.push((event, records::PERSON, "person", "uin", child.uin.clone()));
            events.push((event, records::BIRTH_RECORD, "birth", "brn", brn.clone()));
        }
        persons.insert(child.uin.clone(), child);
        report.births.push(brn.clone());
    }

    for (marriage, mrn) in request.marriages.iter().zip(&numbers.marriages) {
        let (a, b) = (&marriage.spouse1_uin, &marriage.spouse2_uin);
        uin_checked(a, "spouse1_uin")?;
        uin_checked(b, "spouse2_uin")?;
        if a == b {
            return Err(format!("{a} cannot marry themselves"));
        }
        let registered = dates_checked(
            marriage.marriage_date,
            marriage.registration_date,
            today,
            "marriage_date",
        )?;
        place_checked(&marriage.marriage_place, locations, "marriage_place")?;
        for (uin, other) in [(a, b), (b, a)] {
            let spouse = person(&mut persons, uin, "spouse")?;
            if let Some(died) = spouse.death_date {
                return Err(format!("spouse {uin} died on {died}"));
            }
            if spouse.birth_date > marriage.marriage_date {
                return Err(format!("spouse {uin} was not born on the marriage_date"));
            }
            if spouse.marital_status == "M" {
                return Err(format!(
                    "spouse {uin} is married (to {})",
                    spouse.spouse_uin.as_deref().unwrap_or("someone")
                ));
            }
            spouse.marital_status = "M".into();
            spouse.spouse_uin = Some(other.clone());
            spouse.marriage_dates.push(marriage.marriage_date);
            spouse.marriage_dates.sort();
            let spouse = spouse.clone();
            touch(&mut touched, &spouse, "marriage");
            events.push((MARRIAGE, records::PERSON, "person", "uin", uin.clone()));
        }
        if taken.marriages.contains(mrn) || !fresh.insert(mrn.clone()) {
            return Err(format!("MRN {mrn} is already registered"));
        }
        let record = synth::Marriage {
            mrn: mrn.clone(),
            spouse1_uin: a.clone(),
            spouse2_uin: b.clone(),
            marriage_date: marriage.marriage_date,
            marriage_place: Some(marriage.marriage_place.clone()),
        };
        records.push(insert(
            dialect,
            &MARRIAGE_TABLE,
            marriage_row(&record, registered, locations),
        ));
        events.push((
            MARRIAGE,
            records::MARRIAGE_RECORD,
            "marriage",
            "mrn",
            mrn.clone(),
        ));
        report.marriages.push(mrn.clone());
    }

    let mut divorced = HashSet::new();
    for divorce in &request.divorces {
        let marriage = dissolved
            .get(&divorce.mrn)
            .ok_or_else(|| format!("MRN {} is not registered", divorce.mrn))?;
        if marriage.divorce_date.is_some() || !divorced.insert(divorce.mrn.clone()) {
            return Err(format!("the marriage {} is already dissolved", divorce.mrn));
        }
        dates_checked(
            divorce.divorce_date,
            divorce.registration_date,
            today,
            "divorce_date",
        )?;
        if divorce.divorce_date < marriage.marriage_date {
            return Err(format!(
                "divorce_date {} is before the marriage {} ({})",
                divorce.divorce_date, divorce.mrn, marriage.marriage_date
            ));
        }
        place_checked(&divorce.divorce_place, locations, "divorce_place")?;
        let (a, b) = (&marriage.spouse1_uin, &marriage.spouse2_uin);
        for uin in [a, b] {
            if person(&mut persons, uin, "spouse")?.death_date.is_some() {
                return Err(format!(
                    "the marriage {} ended with the death of {uin}",
                    divorce.mrn
                ));
            }
        }
        for (uin, other) in [(a, b), (b, a)] {
            let spouse = person(&mut persons, uin, "spouse")?;
            if spouse.marital_status != "M" || spouse.spouse_uin.as_deref() != Some(other) {
                return Err(format!("{uin} is no longer married to {other}"));
            }
            spouse.marital_status = "D".into();
            spouse.spouse_uin = None;
            spouse.divorce_dates.push(divorce.divorce_date);
            spouse.divorce_dates.sort();
            let spouse = spouse.clone();
            touch(&mut touched, &spouse, "divorce");
            events.push((DIVORCE, records::PERSON, "person", "uin", uin.clone()));
        }
        let mut record = marriage.record.clone();
        record.divorce_date = Some(crate::rows::ymd(divorce.divorce_date));
        record.divorce_place = crate::rows::place(Some(&divorce.divorce_place), locations);
        records.push(Statement::new(
            numbered(
                dialect,
                "UPDATE marriage SET divorce_date = ?2, doc = ?3 WHERE mrn = ?1 AND divorce_date IS NULL",
            ),
            vec![
                SqlValue::Text(divorce.mrn.clone()),
                SqlValue::Date(divorce.divorce_date),
                SqlValue::Text(serde_json::to_string(&record).expect("a record serializes")),
            ],
            &[],
        ));
        events.push((
            DIVORCE,
            records::MARRIAGE_RECORD,
            "marriage",
            "mrn",
            divorce.mrn.clone(),
        ));
        report.divorces.push(divorce.mrn.clone());
    }

    for (death, drn) in request.deaths.iter().zip(&numbers.deaths) {
        uin_checked(&death.uin, "uin")?;
        let registered = dates_checked(
            death.death_date,
            death.registration_date,
            today,
            "death_date",
        )?;
        place_checked(&death.death_place, locations, "death_place")?;
        if taken.deaths.contains(drn) || !fresh.insert(drn.clone()) {
            return Err(format!("DRN {drn} is already registered"));
        }
        let deceased = person(&mut persons, &death.uin, "person")?;
        if let Some(existing) = &deceased.drn {
            return Err(format!(
                "the death of {} is already registered (DRN {existing})",
                death.uin
            ));
        }
        if death.death_date < deceased.birth_date {
            return Err(format!(
                "death_date {} is before the birth of {} ({})",
                death.death_date, death.uin, deceased.birth_date
            ));
        }
        deceased.drn = Some(drn.clone());
        deceased.death_date = Some(death.death_date);
        deceased.death_place = Some(death.death_place.clone());
        let deceased = deceased.clone();
        touch(&mut touched, &deceased, "death");
        if deceased.marital_status == "M"
            && let Some(spouse_uin) = &deceased.spouse_uin
            && let Some(spouse) = persons.get_mut(spouse_uin)
            && spouse.death_date.is_none()
            && spouse.spouse_uin.as_deref() == Some(deceased.uin.as_str())
        {
            spouse.marital_status = "W".into();
            let spouse = spouse.clone();
            touch(&mut touched, &spouse, "widowhood");
        }
        records.push(insert(
            dialect,
            &DEATH_TABLE,
            deceased
                .death_row(registered, locations)
                .expect("a death was just registered"),
        ));
        for event in [DEATH, DEATH_REGISTERED] {
            events.push((
                event,
                records::PERSON,
                "person",
                "uin",
                deceased.uin.clone(),
            ));
            events.push((event, records::DEATH_RECORD, "death", "drn", drn.clone()));
        }
        report.deaths.push(drn.clone());
    }

    let now = dci::Timestamp::now().to_string();
    let mut statements = Vec::new();
    for (uin, change) in &touched {
        let mut person = persons[uin].clone();
        match change.read_version {
            None => statements.push(insert(dialect, &PERSON_TABLE, person.row(locations))),
            Some(version) => {
                person.version = version + 1;
                statements.push(Statement::new(
                    numbered(
                        dialect,
                        "INSERT INTO person_change (uin, version, change, changed_at) VALUES (?1, ?2, ?3, ?4)",
                    ),
                    vec![
                        SqlValue::Text(uin.clone()),
                        SqlValue::Integer(person.version),
                        SqlValue::Text(change.changes.join(",")),
                        SqlValue::Text(now.clone()),
                    ],
                    &[],
                ));
                statements.push(upsert(dialect, &PERSON_TABLE, "uin", person.row(locations)));
                report.persons_updated += 1;
            }
        }
    }
    statements.extend(records);
    for (event, record_type, table, column, value) in events {
        statements.push(raise(
            dialect,
            event,
            record_type,
            table,
            column,
            SqlValue::Text(value),
        ));
        report.events += 1;
    }
    Ok(Plan { statements, report })
}
