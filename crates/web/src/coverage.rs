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

use crate::{Sources, WebError, label};

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

fn text(row: &Row, i: usize) -> String {
    match row.get(i) {
        Some(Some(SqlValue::Text(s))) => s.clone(),
        _ => String::new(),
    }
}

fn int(row: &Row, i: usize) -> i64 {
    match row.get(i) {
        Some(Some(SqlValue::Integer(n))) => *n,
        _ => 0,
    }
}

fn date(row: &Row, i: usize) -> Option<Date> {
    match row.get(i) {
        Some(Some(SqlValue::Date(d))) => Some(*d),
        _ => None,
    }
}

use ColumnType::{Date as D, Integer as I, Text as T};

/// Counts the coverage, for the whole country or the districts of `region`.
pub async fn count(
    sources: &Sources,
    region: Option<&str>,
    poverty_line: f64,
) -> Result<Coverage, WebError> {
    let ibr = sources.ibr.as_ref();
    let dialect = ibr.dialect();
    // Places: regions, or the districts of one region (its code bound as ?1).
    let (column, within, bound) = match region {
        Some(code) => (
            "district_code",
            " AND region_code = ?1",
            vec![SqlValue::Text(code.to_string())],
        ),
        None => ("region_code", "", vec![]),
    };
    let places_sql = |sql: String| numbered(dialect, &sql);
    let statements = vec![
        Statement::new(
            "SELECT code, name, benefit_type, currency FROM programme ORDER BY code",
            vec![],
            &[T, T, T, T],
        ),
        Statement::new(
            "SELECT programme_code, status, count(*) FROM enrolment GROUP BY programme_code, status",
            vec![],
            &[T, T, I],
        ),
        Statement::new(
            "SELECT programme_code, count(*), CAST(sum(amount) AS BIGINT) FROM benefit \
             WHERE payment_status = '1' GROUP BY programme_code",
            vec![],
            &[T, I, I],
        ),
        Statement::new(
            "SELECT benefit_date, payment_status, count(*), CAST(sum(amount) AS BIGINT) FROM benefit \
             GROUP BY benefit_date, payment_status",
            vec![],
            &[D, T, I, I],
        ),
        Statement::new(
            places_sql(format!(
                "SELECT {column}, programme_code, count(*) FROM enrolment WHERE status = '1'{within} \
                 GROUP BY {column}, programme_code"
            )),
            bound.clone(),
            &[T, T, I],
        ),
        Statement::new(
            places_sql(format!(
                "SELECT {column}, CAST(sum(amount) AS BIGINT) FROM benefit \
                 WHERE payment_status = '1'{within} GROUP BY {column}"
            )),
            bound.clone(),
            &[T, I],
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
            "SELECT benefit_type, count(*) FROM enrolment WHERE status = '1' GROUP BY benefit_type",
            vec![],
            &[T, I],
        ),
        Statement::new(
            "SELECT benefit_type, CAST(sum(amount) AS BIGINT) FROM benefit \
             WHERE payment_status = '1' GROUP BY benefit_type",
            vec![],
            &[T, I],
        ),
        Statement::new(
            "SELECT a.programme_code, b.programme_code, count(*) FROM enrolment a \
             JOIN enrolment b ON b.uin = a.uin AND a.programme_code < b.programme_code \
             WHERE a.status = '1' AND b.status = '1' \
             GROUP BY a.programme_code, b.programme_code",
            vec![],
            &[T, T, I],
        ),
        Statement::new(
            "SELECT count(DISTINCT uin) FROM enrolment WHERE status = '1'",
            vec![],
            &[I],
        ),
        Statement::new(
            "SELECT uin, household_id, assistance_unit FROM enrolment WHERE status = '1'",
            vec![],
            &[T, T, T],
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
    let (programmes, statuses, paid, cycles) = (next(), next(), next(), next());
    let (place_counts, place_paid, place_names) = (next(), next(), next());
    let (type_counts, type_paid, overlaps, people, covered, region_name) =
        (next(), next(), next(), next(), next(), next());

    let currency = programmes
        .first()
        .map(|row| text(row, 3))
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "USD".into());
    let paid_by: HashMap<String, (i64, i64)> = paid
        .iter()
        .map(|row| (text(row, 0), (int(row, 1), int(row, 2))))
        .collect();
    let mut lines: Vec<ProgrammeLine> = programmes
        .iter()
        .map(|row| {
            let code = text(row, 0);
            let (paid, paid_amount) = paid_by.get(&code).copied().unwrap_or_default();
            ProgrammeLine {
                name: text(row, 1),
                benefit_type: label(dci::directory::BENEFIT_TYPE, &text(row, 2)),
                active: 0,
                by_status: BTreeMap::new(),
                paid,
                paid_amount,
                code,
            }
        })
        .collect();
    for row in &statuses {
        let (code, status, n) = (text(row, 0), text(row, 1), int(row, 2));
        if let Some(line) = lines.iter_mut().find(|l| l.code == code) {
            if status == registry::ibr::ACTIVE {
                line.active += n;
            }
            *line
                .by_status
                .entry(label(dci::directory::ENROLMENT_STATUS, &status))
                .or_default() += n;
        }
    }

    let gaps = gaps(sources.social.as_ref(), &covered, poverty_line, region).await?;
    let places = places(&place_names, &place_counts, &place_paid, &gaps.1);

    let paid_by_type: HashMap<String, i64> = type_paid
        .iter()
        .map(|row| (text(row, 0), int(row, 1)))
        .collect();
    let types = type_counts
        .iter()
        .map(|row| TypeLine {
            benefit_type: label(dci::directory::BENEFIT_TYPE, &text(row, 0)),
            active: int(row, 1),
            paid_amount: paid_by_type.get(&text(row, 0)).copied().unwrap_or_default(),
        })
        .collect();

    let mut months: BTreeMap<String, CycleLine> = BTreeMap::new();
    for row in &cycles {
        let Some(day) = date(row, 0) else { continue };
        let month = format!("{:04}-{:02}", day.year(), u8::from(day.month()));
        let line = months.entry(month.clone()).or_insert(CycleLine {
            month,
            paid: 0,
            paid_amount: 0,
            failed: 0,
        });
        if text(row, 1) == "1" {
            line.paid += int(row, 2);
            line.paid_amount += int(row, 3);
        } else {
            line.failed += int(row, 2);
        }
    }

    let mut overlaps: Vec<Overlap> = overlaps
        .iter()
        .map(|row| Overlap {
            first: text(row, 0),
            second: text(row, 1),
            people: int(row, 2),
        })
        .collect();
    overlaps.sort_by(|a, b| b.people.cmp(&a.people).then(a.first.cmp(&b.first)));

    let duplicates = registry::ibr::duplicates(ibr).await?;
    Ok(Coverage {
        currency,
        active: lines.iter().map(|l| l.active).sum(),
        people: people.first().map_or(0, |row| int(row, 0)),
        paid_amount: lines.iter().map(|l| l.paid_amount).sum(),
        programmes: lines,
        region: region.map(|code| {
            let name = region_name.first().map(|row| text(row, 0));
            (code.to_string(), name.unwrap_or_else(|| code.to_string()))
        }),
        places,
        types,
        cycles: months.into_values().collect(),
        overlaps,
        duplicate_enrolments: duplicates.iter().map(|d| d.programmes.len() as u64).sum(),
        duplicates,
        gaps: gaps.0,
    })
}

/// The places' lines, in code order: every place of the master list at that level, with
/// its counts.
fn places(
    names: &[Row],
    counts: &[Row],
    paid: &[Row],
    uncovered: &HashMap<String, i64>,
) -> Vec<PlaceLine> {
    let mut lines: BTreeMap<String, PlaceLine> = names
        .iter()
        .map(|row| {
            let code = text(row, 0);
            let line = PlaceLine {
                name: text(row, 1),
                active: 0,
                by_programme: BTreeMap::new(),
                paid_amount: 0,
                uncovered: uncovered.get(&code).copied().unwrap_or_default(),
                code: code.clone(),
            };
            (code, line)
        })
        .collect();
    for row in counts {
        if let Some(line) = lines.get_mut(&text(row, 0)) {
            line.active += int(row, 2);
            *line.by_programme.entry(text(row, 1)).or_default() += int(row, 2);
        }
    }
    for row in paid {
        if let Some(line) = lines.get_mut(&text(row, 0)) {
            line.paid_amount += int(row, 1);
        }
    }
    lines.into_values().collect()
}

/// The gaps, and the uncovered people by place (regions, or the districts of `region`):
/// members of households at or under `poverty_line` whom no active enrolment (`covered`:
/// uin, household, assistance unit) covers.
async fn gaps(
    social: &dyn Store,
    covered: &[Row],
    poverty_line: f64,
    region: Option<&str>,
) -> Result<(Gaps, HashMap<String, i64>), WebError> {
    let mut uins = HashSet::new();
    let mut households = HashSet::new();
    for row in covered {
        // AssistanceUnitEnum `2`: the household is the beneficiary, every member covered.
        if text(row, 2) == "2" {
            households.insert(text(row, 1));
        } else {
            uins.insert(text(row, 0));
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
        let covered = households.contains(&household) || uins.contains(&text(row, 0));
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
