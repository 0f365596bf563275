//! The IBR's coverage, counted in its store (read-only): beneficiaries and amounts by
//! programme, by place (regions, or the districts of one region), by benefit type and by
//! monthly cycle; the overlaps between programmes; the duplicates; and the gaps, people of
//! poor households in the social registry whom no programme covers.
//!
//! Definitions (the same as the IBR's own):
//! - a **beneficiary** is an enrolment whose status is active (`1`); its place is the home
//!   the IBR holds for it;
//! - an **amount paid** is the sum of the benefits whose payment status is successful (`1`),
//!   in minor units; spx programmes pay in one currency, which the dashboard shows;
//! - an **overlap** of two programmes is a person active in both (the person enrolled, or who
//!   receives a household's benefit);
//! - a **duplicate** is an active enrolment whose beneficiary is active in another programme
//!   of the same benefit type ([`registry::ibr::duplicates`]);
//! - a **gap** is a member of a household whose poverty score is at most the settings' line
//!   who is in no active enrolment, neither in their own name nor through their household.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use store::{ColumnType, Row, SqlValue, Statement, Store, numbered};
use time::Date;

use crate::{Sources, WebError, int, label, text};

/// One programme's line.
#[derive(Debug, Clone, Serialize)]
pub struct ProgrammeLine {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: String,
    /// What it gives (BenefitTypeEnum label).
    pub benefit_type: String,
    /// Active enrolments.
    pub active: i64,
    /// Enrolments by status label (active, suspended, exited …).
    pub by_status: BTreeMap<String, i64>,
    /// Successful payments.
    pub paid: i64,
    /// Their amount, minor units.
    pub paid_amount: i64,
}

/// One place's line: a region, or a district of the region drilled into.
#[derive(Debug, Clone, Serialize)]
pub struct PlaceLine {
    /// Its code in the location master list.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Active enrolments of people living there.
    pub active: i64,
    /// Active enrolments there by programme code.
    pub by_programme: BTreeMap<String, i64>,
    /// Amount paid there, minor units.
    pub paid_amount: i64,
    /// Members of poor households there in no programme.
    pub uncovered: i64,
}

/// One benefit type's line.
#[derive(Debug, Clone, Serialize)]
pub struct TypeLine {
    /// BenefitTypeEnum label.
    pub benefit_type: String,
    /// Active enrolments.
    pub active: i64,
    /// Amount paid, minor units.
    pub paid_amount: i64,
}

/// One monthly cycle's payments.
#[derive(Debug, Clone, Serialize)]
pub struct CycleLine {
    /// `YYYY-MM`.
    pub month: String,
    /// Successful payments.
    pub paid: i64,
    /// Their amount, minor units.
    pub paid_amount: i64,
    /// Failed payments.
    pub failed: i64,
}

/// People active in two programmes.
#[derive(Debug, Clone, Serialize)]
pub struct Overlap {
    /// One programme's code.
    pub first: String,
    /// The other's.
    pub second: String,
    /// People active in both.
    pub people: i64,
}

/// People of poor households in no programme.
#[derive(Debug, Clone, Serialize)]
pub struct Gaps {
    /// The poverty line: households at or under it are meant to be covered.
    pub poverty_line: f64,
    /// Members of those households.
    pub poor_people: i64,
    /// Those in no active enrolment, in their name or their household's.
    pub uncovered_people: i64,
    /// Poor households none of whose members is covered.
    pub uncovered_households: i64,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Coverage {
    /// The currency of the amounts.
    pub currency: String,
    /// Active enrolments in all programmes.
    pub active: i64,
    /// Distinct people in an active enrolment (enrolled, or receiving for a household).
    pub people: i64,
    /// Amount paid in all, minor units.
    pub paid_amount: i64,
    /// By programme, by code.
    pub programmes: Vec<ProgrammeLine>,
    /// The region drilled into (code and name), when one is.
    pub region: Option<(String, String)>,
    /// The regions, or the districts of `region`.
    pub places: Vec<PlaceLine>,
    /// By benefit type.
    pub types: Vec<TypeLine>,
    /// By monthly cycle, oldest first.
    pub cycles: Vec<CycleLine>,
    /// Pairs of programmes sharing people, most first.
    pub overlaps: Vec<Overlap>,
    /// Enrolments marked duplicate.
    pub duplicate_enrolments: u64,
    /// The duplicates, by beneficiary.
    pub duplicates: Vec<registry::ibr::Duplicate>,
    /// The gaps.
    pub gaps: Gaps,
}

fn date(row: &Row, i: usize) -> Option<Date> {
    match row.get(i) {
        Some(Some(SqlValue::Date(d))) => Some(*d),
        _ => None,
    }
}

use ColumnType::{Bool as B, Date as D, Integer as I, Text as T};

/// One enrolment, as the coverage pass reads it (from the IBR's covering index).
struct Enrolment {
    status: String,
    programme: String,
    region: String,
    district: String,
    benefit_type: String,
    assistance_unit: String,
    uin: String,
    household: String,
    beneficiary: String,
    duplicate: bool,
}

impl Enrolment {
    fn read(row: &Row) -> Enrolment {
        Enrolment {
            status: text(row, 0),
            programme: text(row, 1),
            region: text(row, 2),
            district: text(row, 3),
            benefit_type: text(row, 4),
            assistance_unit: text(row, 5),
            uin: text(row, 6),
            household: text(row, 7),
            beneficiary: text(row, 8),
            duplicate: matches!(row.get(9), Some(Some(SqlValue::Bool(true)))),
        }
    }

    fn active(&self) -> bool {
        self.status == registry::ibr::ACTIVE
    }

    /// Its place among those listed: its region, or its district when `region` is drilled
    /// into (and it lives there).
    fn place(&self, region: Option<&str>) -> Option<&str> {
        match region {
            Some(code) => (self.region == code).then_some(self.district.as_str()),
            None => Some(self.region.as_str()),
        }
    }
}

/// Benefits of one programme, place, type, day and payment status: the benefit pass.
struct Paid {
    paid: bool,
    programme: String,
    region: String,
    district: String,
    benefit_type: String,
    date: Option<Date>,
    count: i64,
    amount: i64,
}

/// Counts the coverage, for the whole country or the districts of `region`: one pass over the
/// enrolments and one over the benefits (both read from the IBR's covering indexes), summed
/// here, and the members of poor households from the social registry.
pub async fn count(
    sources: &Sources,
    region: Option<&str>,
    poverty_line: f64,
) -> Result<Coverage, WebError> {
    let ibr = sources.ibr.as_ref();
    let dialect = ibr.dialect();
    let bound: Vec<SqlValue> = region
        .map(|code| SqlValue::Text(code.to_string()))
        .into_iter()
        .collect();
    let statements = vec![
        Statement::new(
            "SELECT code, name, benefit_type, currency FROM programme ORDER BY code",
            vec![],
            &[T, T, T, T],
        ),
        Statement::new(
            "SELECT status, programme_code, region_code, district_code, benefit_type,              assistance_unit, uin, household_id, beneficiary_id, duplicate FROM enrolment",
            vec![],
            &[T, T, T, T, T, T, T, T, T, B],
        ),
        Statement::new(
            "SELECT payment_status, programme_code, region_code, district_code, benefit_type,              benefit_date, count(*), CAST(sum(amount) AS BIGINT) FROM benefit \
             GROUP BY payment_status, programme_code, region_code, district_code, benefit_type, \
             benefit_date",
            vec![],
            &[T, T, T, T, T, D, I, I],
        ),
        Statement::new(
            match region {
                Some(_) => numbered(dialect, "SELECT code, name FROM location WHERE parent = ?1"),
                None => "SELECT code, name FROM location WHERE level = 1".into(),
            },
            bound.clone(),
            &[T, T],
        ),
        Statement::new(
            match region {
                Some(_) => numbered(dialect, "SELECT name FROM location WHERE code = ?1"),
                None => "SELECT name FROM location WHERE code IS NULL".into(),
            },
            bound,
            &[T],
        ),
    ];
    let mut answers = ibr.read(statements).await?.into_iter();
    let mut next = || answers.next().unwrap_or_default();
    let (programmes, enrolments, benefits, place_names, region_name) =
        (next(), next(), next(), next(), next());
    let enrolments: Vec<Enrolment> = enrolments.iter().map(Enrolment::read).collect();
    let benefits: Vec<Paid> = benefits
        .iter()
        .map(|row| Paid {
            paid: text(row, 0) == "1",
            programme: text(row, 1),
            region: text(row, 2),
            district: text(row, 3),
            benefit_type: text(row, 4),
            date: date(row, 5),
            count: int(row, 6),
            amount: int(row, 7),
        })
        .collect();

    let currency = programmes
        .first()
        .map(|row| text(row, 3))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "USD".into());
    let mut lines: Vec<ProgrammeLine> = programmes
        .iter()
        .map(|row| ProgrammeLine {
            code: text(row, 0),
            name: text(row, 1),
            benefit_type: label(dci::directory::BENEFIT_TYPE, &text(row, 2)),
            active: 0,
            by_status: BTreeMap::new(),
            paid: 0,
            paid_amount: 0,
        })
        .collect();
    let index: HashMap<String, usize> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (l.code.clone(), i))
        .collect();
    for e in &enrolments {
        if let Some(&i) = index.get(&e.programme) {
            let line = &mut lines[i];
            line.active += i64::from(e.active());
            *line
                .by_status
                .entry(label(dci::directory::ENROLMENT_STATUS, &e.status))
                .or_default() += 1;
        }
    }
    for b in benefits.iter().filter(|b| b.paid) {
        if let Some(&i) = index.get(&b.programme) {
            lines[i].paid += b.count;
            lines[i].paid_amount += b.amount;
        }
    }

    let active: Vec<&Enrolment> = enrolments.iter().filter(|e| e.active()).collect();
    let gaps = gaps(sources.social.as_ref(), &active, poverty_line, region).await?;
    let mut places: BTreeMap<String, PlaceLine> = place_names
        .iter()
        .map(|row| {
            let code = text(row, 0);
            let line = PlaceLine {
                name: text(row, 1),
                active: 0,
                by_programme: BTreeMap::new(),
                paid_amount: 0,
                uncovered: gaps.1.get(&code).copied().unwrap_or_default(),
                code: code.clone(),
            };
            (code, line)
        })
        .collect();
    for e in &active {
        if let Some(line) = e.place(region).and_then(|p| places.get_mut(p)) {
            line.active += 1;
            *line.by_programme.entry(e.programme.clone()).or_default() += 1;
        }
    }
    for b in benefits.iter().filter(|b| b.paid) {
        let place = match region {
            Some(code) => (b.region == code).then_some(&b.district),
            None => Some(&b.region),
        };
        if let Some(line) = place.and_then(|p| places.get_mut(p)) {
            line.paid_amount += b.amount;
        }
    }

    let mut types: BTreeMap<String, TypeLine> = BTreeMap::new();
    for e in &active {
        type_line(&mut types, &e.benefit_type).active += 1;
    }
    for b in benefits.iter().filter(|b| b.paid) {
        type_line(&mut types, &b.benefit_type).paid_amount += b.amount;
    }

    let mut months: BTreeMap<String, CycleLine> = BTreeMap::new();
    for b in &benefits {
        let Some(day) = b.date else { continue };
        let month = format!("{:04}-{:02}", day.year(), u8::from(day.month()));
        let line = months.entry(month.clone()).or_insert(CycleLine {
            month,
            paid: 0,
            paid_amount: 0,
            failed: 0,
        });
        if b.paid {
            line.paid += b.count;
            line.paid_amount += b.amount;
        } else {
            line.failed += b.count;
        }
    }

    // Overlaps: the programmes of each person active somewhere, paired.
    let mut programmes_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in active.iter().filter(|e| !e.uin.is_empty()) {
        programmes_of.entry(&e.uin).or_default().push(&e.programme);
    }
    let mut pairs: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for held in programmes_of.values_mut() {
        held.sort_unstable();
        held.dedup();
        for (i, first) in held.iter().enumerate() {
            for second in &held[i + 1..] {
                *pairs.entry((first, second)).or_default() += 1;
            }
        }
    }
    let mut overlaps: Vec<Overlap> = pairs
        .into_iter()
        .map(|((first, second), people)| Overlap {
            first: first.to_string(),
            second: second.to_string(),
            people,
        })
        .collect();
    overlaps.sort_by(|a, b| b.people.cmp(&a.people).then(a.first.cmp(&b.first)));

    let duplicates =
        registry::ibr::Duplicate::group(enrolments.iter().filter(|e| e.duplicate).map(|e| {
            let region = Some(e.region.clone()).filter(|r| !r.is_empty());
            (
                e.beneficiary.clone(),
                e.benefit_type.clone(),
                e.programme.clone(),
                region,
            )
        }));
    Ok(Coverage {
        currency,
        active: lines.iter().map(|l| l.active).sum(),
        people: programmes_of.len() as i64,
        paid_amount: lines.iter().map(|l| l.paid_amount).sum(),
        programmes: lines,
        region: region.map(|code| {
            let name = region_name.first().map(|row| text(row, 0));
            (code.to_string(), name.unwrap_or_else(|| code.to_string()))
        }),
        places: places.into_values().collect(),
        types: types.into_values().collect(),
        cycles: months.into_values().collect(),
        overlaps,
        duplicate_enrolments: enrolments.iter().filter(|e| e.duplicate).count() as u64,
        duplicates,
        gaps: gaps.0,
    })
}

/// The line of benefit type `code` in `types`, added when new.
fn type_line<'a>(types: &'a mut BTreeMap<String, TypeLine>, code: &str) -> &'a mut TypeLine {
    types.entry(code.to_string()).or_insert_with(|| TypeLine {
        benefit_type: label(dci::directory::BENEFIT_TYPE, code),
        active: 0,
        paid_amount: 0,
    })
}

/// The gaps, and the uncovered people by place (regions, or the districts of `region`):
/// members of households at or under `poverty_line` whom no active enrolment (`covered`:
/// uin, household, assistance unit) covers.
async fn gaps(
    social: &dyn Store,
    active: &[&Enrolment],
    poverty_line: f64,
    region: Option<&str>,
) -> Result<(Gaps, HashMap<String, i64>), WebError> {
    let mut uins = HashSet::new();
    let mut households = HashSet::new();
    for e in active {
        // AssistanceUnitEnum `2`: the household is the beneficiary, every member covered.
        if e.assistance_unit == "2" {
            households.insert(e.household.as_str());
        } else {
            uins.insert(e.uin.as_str());
        }
    }
    let rows = social
        .read(vec![Statement::new(
            numbered(
                social.dialect(),
                "SELECT p.uin, p.household_id, h.region_code, h.district_code FROM person p \
                 JOIN household h ON h.household_id = p.household_id WHERE h.poverty_score <= ?1",
            ),
            vec![SqlValue::Float(poverty_line)],
            &[T, T, T, T],
        )])
        .await?
        .into_iter()
        .next()
        .unwrap_or_default();
    let mut by_place: HashMap<String, i64> = HashMap::new();
    let mut poor_households: HashMap<String, bool> = HashMap::new();
    let mut uncovered_people = 0;
    for row in &rows {
        let household = text(row, 1);
        let covered =
            households.contains(household.as_str()) || uins.contains(text(row, 0).as_str());
        let any_covered = poor_households.entry(household).or_insert(false);
        *any_covered |= covered;
        if covered {
            continue;
        }
        uncovered_people += 1;
        let place = match region {
            Some(code) if text(row, 2) == code => Some(text(row, 3)),
            Some(_) => None,
            None => Some(text(row, 2)),
        };
        if let Some(place) = place {
            *by_place.entry(place).or_default() += 1;
        }
    }
    let gaps = Gaps {
        poverty_line,
        poor_people: rows.len() as i64,
        uncovered_people,
        uncovered_households: poor_households.values().filter(|c| !**c).count() as i64,
    };
    Ok((gaps, by_place))
}
