//! The integrated beneficiary registry's view of the population: the programmes of the
//! country, who is enrolled in which, with what status, and the benefits paid over the last
//! cycles.
//!
//! Eight programmes ([`programmes`]), those of the delivery-chain scenarios: an old-age
//! allowance (65 and over), a widow allowance (widows under 65 in poorer households), a child
//! benefit (under 6), an unconditional cash transfer to the poorest households, an education
//! CCT (children of 6 to 17 in poor households), a CCT for mothers of children under 2 in poor
//! households, a disability allowance (certified, working age, not rich) and farmer support
//! (e-vouchers for farmers on less than 2 ha). Each covers only part of those it is meant for
//! (gaps to find), and some people get what they should not (duplicates to find): widows of
//! 65 or more who also draw the widow allowance, and certified persons of 65 or more who also
//! draw the disability allowance, two cash benefits for one person.
//!
//! Most enrolments are active; some are suspended, graduated or exited, with a reason and a
//! date. Beneficiaries who died are mostly marked deceased, but some deaths never reached the
//! programme, and their allowance is still active (what a subscription to the civil
//! registry's deaths prevents). Active beneficiaries were paid at each of the last
//! [`CYCLES`] monthly cycles since they enrolled, a few payments failing.
//!
//! Every draw comes from the beneficiary's own stream ([`crate::stream`]), so the population
//! and the other registries' files are unchanged.

use std::collections::HashMap;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::disability::{self, age_on};
use crate::stream::{self, chance};
use crate::{Household, Person, Population, farming, io};

/// The currency of every amount (ISO 4217).
pub const CURRENCY: &str = "USD";

/// Monthly payment cycles paid before the generation date.
pub const CYCLES: u32 = 3;

/// EnrollmentStatusEnum codes (`5` potential and `6` exited are spx additions).
pub const ACTIVE: &str = "1";
/// See [`ACTIVE`].
pub const DECEASED: &str = "2";
/// See [`ACTIVE`].
pub const GRADUATED: &str = "3";
/// See [`ACTIVE`].
pub const SUSPENDED: &str = "4";
/// See [`ACTIVE`].
pub const EXITED: &str = "6";

/// PaymentStatusEnum: the payment reached the beneficiary.
pub const PAID: &str = "1";
/// PaymentStatusEnum: the payment failed.
pub const FAILED: &str = "2";

/// A social protection programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Programme {
    /// Its code, e.g. `OAA`.
    pub code: String,
    /// Its name.
    pub name: String,
    /// What it is for.
    pub description: String,
    /// BenefitTypeEnum: `1` cash, `2` voucher ...
    pub benefit_type: String,
    /// AssistanceUnitEnum: `1` a person, `2` a household.
    pub assistance_unit: String,
    /// The amount of one cycle's benefit, in minor units of [`CURRENCY`].
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// How often it pays (`MONTHLY`).
    pub frequency: String,
    /// The ministry that runs it.
    pub institution: String,
}

/// A beneficiary's enrolment in a programme.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrolment {
    /// The programme's code.
    pub programme: String,
    /// The person's UIN, or the household's id for a household programme.
    pub beneficiary_id: String,
    /// AssistanceUnitEnum: `1` a person, `2` a household.
    pub assistance_unit: String,
    /// The person enrolled, or the head who receives a household's benefit.
    pub uin: String,
    /// The beneficiary's household, when they live in one.
    pub household_id: Option<String>,
    /// EnrollmentStatusEnum code.
    pub status: String,
    /// When they were enrolled.
    #[serde(with = "io::date")]
    pub enrolment_date: Date,
    /// When the status last changed, unless it is the enrolment's.
    #[serde(with = "io::opt_date", default)]
    pub status_date: Option<Date>,
    /// Why the status last changed.
    pub status_reason: Option<String>,
}

/// One benefit paid to a beneficiary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Benefit {
    /// The programme's id of the payment: `<programme>-<beneficiary>-<YYYYMM>`.
    pub benefit_id: String,
    /// The programme's code.
    pub programme: String,
    /// The enrolment's beneficiary id.
    pub beneficiary_id: String,
    /// BenefitTypeEnum code.
    pub benefit_type: String,
    /// When it was paid.
    #[serde(with = "io::date")]
    pub benefit_date: Date,
    /// In minor units.
    pub amount: i64,
    /// ISO 4217.
    pub currency: String,
    /// PaymentStatusEnum: `1` paid, `2` failed.
    pub payment_status: String,
}

/// Who gets what.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Benefits {
    /// Enrolments, programme by programme in [`programmes`] order.
    pub enrolments: Vec<Enrolment>,
    /// Benefits paid, by enrolment then cycle.
    pub benefits: Vec<Benefit>,
}

/// The country's programmes.
pub fn programmes() -> Vec<Programme> {
    let programme =
        |code: &str, name: &str, description: &str, kind: &str, unit: &str, amount| Programme {
            code: code.into(),
            name: name.into(),
            description: description.into(),
            benefit_type: kind.into(),
            assistance_unit: unit.into(),
            amount,
            currency: CURRENCY.into(),
            frequency: "MONTHLY".into(),
            institution: if code == "FSP" {
                "Ministry of Agriculture".into()
            } else {
                "Ministry of Social Protection".into()
            },
        };
    vec![
        programme(
            "OAA",
            "Old-age allowance",
            "A monthly allowance for everyone aged 65 or more",
            "1",
            "1",
            2_500,
        ),
        programme(
            "WA",
            "Widow allowance",
            "For widows under 65 in poorer households",
            "1",
            "1",
            2_000,
        ),
        programme(
            "CB",
            "Child benefit",
            "For every child under 6",
            "1",
            "1",
            1_000,
        ),
        programme(
            "UCT",
            "Cash transfer to poor households",
            "Unconditional monthly transfer to the poorest households",
            "1",
            "2",
            4_000,
        ),
        programme(
            "ECCT",
            "Education conditional cash transfer",
            "For children of 6 to 17 in poor households who attend school",
            "1",
            "1",
            800,
        ),
        programme(
            "LMCCT",
            "Lactating mothers conditional cash transfer",
            "For mothers of children under 2 in poor households",
            "1",
            "1",
            1_500,
        ),
        programme(
            "DA",
            "Disability allowance",
            "For certified persons with disability of working age",
            "1",
            "1",
            3_000,
        ),
        programme(
            "FSP",
            "Farmer support programme",
            "Input e-vouchers for farmers on less than 2 ha",
            "2",
            "1",
            5_000,
        ),
    ]
}

/// What one programme's rules say of a candidate: whether they are meant for it, and
/// whether they got it anyway (leakage).
struct Candidate<'a> {
    uin: &'a str,
    beneficiary_id: &'a str,
    household: Option<&'a Household>,
    /// The earliest day they could have been enrolled.
    eligible_since: Date,
    /// The share of those meant for it who are enrolled.
    coverage: f64,
    died: Option<Date>,
}

/// The enrolments and benefits of `population`, generated on `today`.
pub fn benefits(population: &Population, today: Date) -> Benefits {
    let households: HashMap<&str, &Household> = population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    let youngest = youngest_children(population, today);
    let certified: HashMap<String, Date> = disability::registrations(population, today)
        .into_iter()
        .filter(|d| d.status == disability::APPROVED)
        .filter_map(|d| Some((d.uin, d.assessment_date?)))
        .collect();
    let small_farmers: HashMap<String, Date> = {
        let farms = farming::farms(population, today);
        let mut land: HashMap<&str, f64> = HashMap::new();
        for parcel in &farms.parcels {
            *land.entry(parcel.fid.as_str()).or_default() += parcel.land_size;
        }
        farms
            .farmers
            .iter()
            .filter(|f| land.get(f.fid.as_str()).copied().unwrap_or(0.0) < 2.0)
            .map(|f| (f.uin.clone(), f.registration_date))
            .collect()
    };
    let catalogue = programmes();
    let household_of = |p: &Person| p.household_id.as_deref().and_then(|h| households.get(h));
    let poverty = |p: &Person| household_of(p).map_or(100.0, |h| h.poverty_score);
    let years = |n: i64| Duration::days(n * 365 + n / 4);
    let mut out = Benefits::default();
    for programme in &catalogue {
        let mut candidates = Vec::new();
        match programme.code.as_str() {
            "UCT" => {
                for household in &population.households {
                    if household.poverty_score <= 20.0 {
                        candidates.push(Candidate {
                            uin: &household.head_uin,
                            beneficiary_id: &household.household_id,
                            household: Some(household),
                            eligible_since: household.registration_date,
                            coverage: 0.7,
                            died: None,
                        });
                    }
                }
            }
            code => {
                for person in &population.persons {
                    let age = age_on(person.birth_date, person.death_date.unwrap_or(today));
                    let (meant, leaked, since, coverage) = match code {
                        "OAA" => (age >= 65, false, person.birth_date + years(65), 0.75),
                        "WA" => {
                            let widow = person.sex == "female"
                                && person.marital_status == "W"
                                && poverty(person) <= 40.0;
                            let since = person.birth_date + years(18);
                            (widow && age < 65, widow && age >= 65, since, 0.6)
                        }
                        "CB" => (age < 6, false, person.birth_date, 0.55),
                        "ECCT" => (
                            (6..=17).contains(&age) && poverty(person) <= 30.0,
                            false,
                            person.birth_date + years(6),
                            0.4,
                        ),
                        "LMCCT" => match youngest.get(person.uin.as_str()) {
                            Some(&born) => (poverty(person) <= 35.0, false, born, 0.5),
                            None => (false, false, today, 0.0),
                        },
                        "DA" => match certified.get(&person.uin) {
                            Some(&assessed) if poverty(person) <= 60.0 => {
                                ((18..65).contains(&age), age >= 65, assessed, 0.6)
                            }
                            _ => (false, false, today, 0.0),
                        },
                        "FSP" => match small_farmers.get(&person.uin) {
                            Some(&registered) => (true, false, registered, 0.5),
                            None => (false, false, today, 0.0),
                        },
                        _ => (false, false, today, 0.0),
                    };
                    if !meant && !leaked {
                        continue;
                    }
                    candidates.push(Candidate {
                        uin: &person.uin,
                        beneficiary_id: &person.uin,
                        household: household_of(person).copied(),
                        eligible_since: since,
                        coverage: if leaked { 0.3 } else { coverage },
                        died: person.death_date,
                    });
                }
            }
        }
        for candidate in candidates {
            if let Some(enrolment) = enrol(programme, &candidate, today) {
                out.benefits.extend(paid(programme, &enrolment, today));
                out.enrolments.push(enrolment);
            }
        }
    }
    out
}

/// The birth date of each mother's youngest living child under 2 living with her.
fn youngest_children(population: &Population, today: Date) -> HashMap<&str, Date> {
    let mothers: HashMap<&str, &Person> = population
        .persons
        .iter()
        .filter(|p| p.sex == "female" && p.death_date.is_none())
        .map(|p| (p.uin.as_str(), p))
        .collect();
    let mut youngest: HashMap<&str, Date> = HashMap::new();
    for child in &population.persons {
        if child.death_date.is_some() || age_on(child.birth_date, today) >= 2 {
            continue;
        }
        let Some(mother) = child.mother_uin.as_deref().and_then(|m| mothers.get(m)) else {
            continue;
        };
        if mother.household_id.is_some() && mother.household_id == child.household_id {
            let date = youngest
                .entry(mother.uin.as_str())
                .or_insert(child.birth_date);
            *date = (*date).max(child.birth_date);
        }
    }
    youngest
}

/// The enrolment of `candidate` in `programme`, if they were enrolled.
fn enrol(programme: &Programme, candidate: &Candidate, today: Date) -> Option<Enrolment> {
    let mut rng = stream::of(candidate.beneficiary_id, &format!("ibr:{}", programme.code));
    if !chance(&mut rng, candidate.coverage) {
        return None;
    }
    let first = candidate
        .eligible_since
        .max(today - Duration::days(5 * 365));
    let last = candidate.died.unwrap_or(today) - Duration::days(1);
    if last < first {
        return None;
    }
    let enrolment_date =
        first + Duration::days(stream::between(&mut rng, 0, (last - first).whole_days()));
    let (status, status_date, status_reason) = match candidate.died {
        // One death in four never reached the programme.
        Some(died) if chance(&mut rng, 0.75) => (
            DECEASED,
            Some((died + Duration::days(stream::between(&mut rng, 5, 60))).min(today)),
            Some("death registered"),
        ),
        Some(_) => (ACTIVE, None, None),
        None => status_change(&mut rng, enrolment_date, today),
    };
    Some(Enrolment {
        programme: programme.code.clone(),
        beneficiary_id: candidate.beneficiary_id.to_string(),
        assistance_unit: programme.assistance_unit.clone(),
        uin: candidate.uin.to_string(),
        household_id: candidate.household.map(|h| h.household_id.clone()),
        status: status.to_string(),
        enrolment_date,
        status_date,
        status_reason: status_reason.map(str::to_string),
    })
}

/// The status of a living beneficiary enrolled on `enrolled`: mostly active.
fn status_change(
    rng: &mut ChaCha8Rng,
    enrolled: Date,
    today: Date,
) -> (&'static str, Option<Date>, Option<&'static str>) {
    let (status, reason) = match stream::weighted(rng, &[0.88, 0.05, 0.03, 0.04]) {
        0 => return (ACTIVE, None, None),
        1 => (SUSPENDED, "conditions not met"),
        2 => (GRADUATED, "income above the threshold"),
        _ => (EXITED, "moved out of the programme area"),
    };
    let span = (today - enrolled).whole_days();
    if span < 2 {
        return (ACTIVE, None, None);
    }
    let changed = enrolled + Duration::days(stream::between(rng, 1, span - 1));
    (status, Some(changed), Some(reason))
}

/// The benefits of the last [`CYCLES`] monthly cycles paid to an active `enrolment`: on the
/// first of each month, from its enrolment on; about 3 % of payments fail.
fn paid(programme: &Programme, enrolment: &Enrolment, today: Date) -> Vec<Benefit> {
    if enrolment.status != ACTIVE {
        return Vec::new();
    }
    let mut rng = stream::of(
        &enrolment.beneficiary_id,
        &format!("pay:{}", programme.code),
    );
    let mut out = Vec::new();
    let mut month = today.replace_day(1).unwrap_or(today);
    for _ in 0..CYCLES {
        if month <= enrolment.enrolment_date {
            break;
        }
        let status = if chance(&mut rng, 0.03) { FAILED } else { PAID };
        out.push(Benefit {
            benefit_id: format!(
                "{}-{}-{:04}{:02}",
                programme.code,
                enrolment.beneficiary_id,
                month.year(),
                u8::from(month.month())
            ),
            programme: programme.code.clone(),
            beneficiary_id: enrolment.beneficiary_id.clone(),
            benefit_type: programme.benefit_type.clone(),
            benefit_date: month,
            amount: programme.amount,
            currency: programme.currency.clone(),
            payment_status: status.to_string(),
        });
        month = (month - Duration::days(1)).replace_day(1).unwrap_or(month);
    }
    out
}
