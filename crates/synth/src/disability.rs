//! The disability registry's view of the population: who applied for a disability certificate,
//! their functional difficulties, the decision, and the support they need or receive.
//!
//! Every living person the population marks `is_disabled` (about 5 % of everyone: 2 % of
//! children, rising to more than a quarter of those aged 75 or more) is registered once a
//! month old, with at least one difficulty of
//! severity 3 ("a lot of difficulty") or 4 ("cannot do it at all"), the Washington Group's
//! threshold: most are certified (`0` Approved), some wait for their assessment (`1` Pending),
//! some let their certificate lapse (`2` Expired). A few others, with some difficulty only
//! (severity 2), applied and were refused (`3` Rejected); they are not `is_disabled`. The
//! domains of difficulty, causes and ages at onset follow the person's age; support follows
//! the difficulties and is more often received once certified.
//!
//! Each person's record is drawn from their own random stream ([`crate::stream`]), so the
//! population and its other files are unchanged, and a person's record depends on nothing but
//! the person and the generation date. Certificates are numbered like the civil register's
//! records ([`dcn`]).

use std::fmt;
use std::str::FromStr;

use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::stream::{self, chance, weighted};
use crate::{Person, Population, io, vital};

/// A person's registration in the disability registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disability {
    /// Disability certificate number; see [`dcn`].
    pub dcn: String,
    /// The person.
    pub uin: String,
    /// DisabilityStatusEnum: `0` Approved, `1` Pending, `2` Expired, `3` Rejected.
    pub status: String,
    /// DisabilityLevelEnum `1`-`4`, for certified (approved or expired) persons.
    pub disability_level: Option<String>,
    /// The functional difficulties, most severe first; written `MOB_SS:3;VIS_SS:2`.
    #[serde(with = "io::list")]
    pub difficulties: Vec<Difficulty>,
    /// ImpairmentCause code `0`-`8`.
    pub impairment_cause: String,
    /// DisabilityOnSet code: `0` born with, `1` childhood, `2` working age, `3` old age.
    pub age_on_set: String,
    /// Support needed or received; written `assistive_technology:1:received;human_assistance:mobility:needed:2`.
    #[serde(with = "io::list")]
    pub supports: Vec<Support>,
    /// TransportRequirement code `0`-`2`.
    pub transport_requirement: String,
    /// HousingType code `1`-`4`.
    pub housing_type: String,
    /// When the person applied.
    #[serde(with = "io::date")]
    pub application_date: Date,
    /// When the application was decided; `None` while pending.
    #[serde(with = "io::opt_date", default)]
    pub assessment_date: Option<Date>,
    /// Until when the certificate is (or was) valid; `None` unless certified.
    #[serde(with = "io::opt_date", default)]
    pub expiry_date: Option<Date>,
}

/// DisabilityStatusEnum codes.
pub const APPROVED: &str = "0";
/// See [`APPROVED`].
pub const PENDING: &str = "1";
/// See [`APPROVED`].
pub const EXPIRED: &str = "2";
/// See [`APPROVED`] (an spx addition to the standard's directory).
pub const REJECTED: &str = "3";

/// FunctionalLimitationType codes (the Washington Group short set's domains).
pub const DOMAINS: &[&str] = &["VIS_SS", "HEAR_SS", "MOB_SS", "COG_SS", "SC_SS", "COM_SS"];

/// Kinds of support (the lists of the standard's `DisabilitySupport`).
pub const SUPPORT_KINDS: &[&str] = &[
    "human_assistance",
    "assistive_technology",
    "housing_support",
    "medical_care",
    "animal_assistance",
];

/// How long a certificate is valid.
const VALIDITY_YEARS: i64 = 5;

/// One functional difficulty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difficulty {
    /// FunctionalLimitationType code: one of [`DOMAINS`].
    pub domain: String,
    /// FunctionalSeverityEnum: `1` no difficulty ... `4` cannot do it at all.
    pub severity: u8,
}

/// One support a person needs or receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Support {
    /// One of [`SUPPORT_KINDS`].
    pub kind: String,
    /// A code of the kind's directory (`1` wheelchair, `mobility`, `maintenance_medicine` ...).
    pub code: String,
    /// Received (SupportStatusEnum `1`), or needed (`0`).
    pub received: bool,
    /// SupportFrequency code, for human assistance.
    pub intensity: Option<String>,
}

impl fmt::Display for Difficulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.domain, self.severity)
    }
}

impl FromStr for Difficulty {
    type Err = String;

    /// `DOMAIN:SEVERITY`, e.g. `MOB_SS:3`.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not DOMAIN:SEVERITY (e.g. MOB_SS:3)");
        let (domain, severity) = text.split_once(':').ok_or_else(bad)?;
        let severity: u8 = severity.parse().map_err(|_| bad())?;
        if !DOMAINS.contains(&domain) {
            return Err(format!(
                "`{domain}` is not a functional limitation type ({})",
                DOMAINS.join(", ")
            ));
        }
        if !(1..=4).contains(&severity) {
            return Err(format!("severity {severity} is not 1-4"));
        }
        Ok(Difficulty {
            domain: domain.to_string(),
            severity,
        })
    }
}

impl fmt::Display for Support {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = if self.received { "received" } else { "needed" };
        write!(f, "{}:{}:{status}", self.kind, self.code)?;
        if let Some(intensity) = &self.intensity {
            write!(f, ":{intensity}")?;
        }
        Ok(())
    }
}

impl FromStr for Support {
    type Err = String;

    /// `KIND:CODE:received|needed[:INTENSITY]`, e.g. `human_assistance:mobility:needed:2`.
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let (kind, code, status, intensity) = match parts.as_slice() {
            [kind, code, status] => (*kind, *code, *status, None),
            [kind, code, status, intensity] => (*kind, *code, *status, Some(*intensity)),
            _ => {
                return Err(format!(
                    "`{text}` is not KIND:CODE:received|needed[:INTENSITY]"
                ));
            }
        };
        if !SUPPORT_KINDS.contains(&kind) {
            return Err(format!(
                "`{kind}` is not a kind of support ({})",
                SUPPORT_KINDS.join(", ")
            ));
        }
        let received = match status {
            "received" => true,
            "needed" => false,
            _ => return Err(format!("`{status}` is not received or needed")),
        };
        if code.is_empty() {
            return Err(format!("`{text}` has no support code"));
        }
        Ok(Support {
            kind: kind.to_string(),
            code: code.to_string(),
            received,
            intensity: intensity.map(str::to_string),
        })
    }
}

/// Key of the certificate numbers' permutation (see [`vital`]).
const DCN_KEY: (u64, u64) = (920_419_813, 161_803_398);

/// The certificate number of the person `uin` who applied on `application_date`: the year and
/// a permutation of the UIN's nine payload digits (one person, one certificate).
pub fn dcn(uin: &str, application_date: Date) -> String {
    vital::number(application_date, vital::permuted(uin, DCN_KEY))
}

/// The disability registrations of the living persons of `population` (generated on `today`),
/// in the order of the persons.
pub fn registrations(population: &Population, today: Date) -> Vec<Disability> {
    population
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .filter_map(|p| registration(p, today))
        .collect()
}

/// Whole years from `birth` to `on`.
pub(crate) fn age_on(birth: Date, on: Date) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years
}

/// A day drawn uniformly in `lo..=hi`.
fn day_between(rng: &mut ChaCha8Rng, lo: Date, hi: Date) -> Date {
    let span = (hi - lo).whole_days().max(0);
    lo + Duration::days(stream::between(rng, 0, span))
}

fn years(n: i64) -> Duration {
    Duration::days(n * 365 + n / 4)
}

/// The registration of `person`, if they applied.
fn registration(person: &Person, today: Date) -> Option<Disability> {
    let mut rng = stream::of(&person.uin, "dr");
    let age = age_on(person.birth_date, today);
    let applied_without_disability = match age {
        a if a < 15 => 0.002,
        a if a < 45 => 0.004,
        a if a < 65 => 0.008,
        _ => 0.015,
    };
    // Drawn for everyone, so that each person's stream does not depend on their flag.
    let applied = chance(&mut rng, applied_without_disability);
    if !person.is_disabled && !applied {
        return None;
    }
    // At least a month old when they apply.
    let born = person.birth_date + Duration::days(30);
    if born >= today {
        return None;
    }
    let difficulties = difficulties(&mut rng, age, person.is_disabled);
    let (impairment_cause, age_on_set) = cause_and_onset(&mut rng, age);
    let status = if !person.is_disabled {
        REJECTED
    } else {
        [APPROVED, PENDING, EXPIRED][weighted(&mut rng, &[0.8, 0.1, 0.1])]
    };
    // An expired certificate needs a person old enough to have held one for its validity.
    let status = if status == EXPIRED && born > today - years(VALIDITY_YEARS) - Duration::days(60) {
        APPROVED
    } else {
        status
    };
    let (application_date, assessment_date, expiry_date) = match status {
        PENDING => (
            day_between(&mut rng, born.max(today - Duration::days(120)), today),
            None,
            None,
        ),
        REJECTED => {
            let application = day_between(
                &mut rng,
                born.max(today - years(5)),
                today - Duration::days(31),
            );
            let decided = (application + Duration::days(stream::between(&mut rng, 14, 90)))
                .min(today - Duration::days(1));
            (application.min(decided), Some(decided), None)
        }
        certified => {
            let (lo, hi) = if certified == EXPIRED {
                (
                    born.max(today - years(2 * VALIDITY_YEARS)) + Duration::days(30),
                    today - years(VALIDITY_YEARS) - Duration::days(1),
                )
            } else {
                (
                    born.max(today - years(VALIDITY_YEARS)) + Duration::days(30),
                    today - Duration::days(1),
                )
            };
            let assessed = day_between(&mut rng, lo.min(hi), hi);
            let application =
                (assessed - Duration::days(stream::between(&mut rng, 14, 90))).max(born);
            (
                application,
                Some(assessed),
                Some(assessed + years(VALIDITY_YEARS)),
            )
        }
    };
    let certified = matches!(status, APPROVED | EXPIRED);
    let disability_level = certified.then(|| level(&mut rng, &difficulties).to_string());
    let supports = if person.is_disabled {
        supports(&mut rng, &difficulties, &impairment_cause, status)
    } else {
        Vec::new()
    };
    let worst = |domain: &str| {
        difficulties
            .iter()
            .filter(|d| d.domain == domain)
            .map(|d| d.severity)
            .max()
            .unwrap_or(0)
    };
    let transport_requirement = match (worst("MOB_SS"), worst("VIS_SS")) {
        (4, _) => "2",
        (3, _) | (_, 4) => "1",
        _ => "0",
    };
    let housing_type = match person.relationship_to_head.as_deref() {
        Some("PRN" | "PRNINLAW" | "EXT" | "GRNDCHILD") => "2",
        _ => "1",
    };
    Some(Disability {
        dcn: dcn(&person.uin, application_date),
        uin: person.uin.clone(),
        status: status.to_string(),
        disability_level,
        difficulties,
        impairment_cause,
        age_on_set,
        supports,
        transport_requirement: transport_requirement.to_string(),
        housing_type: housing_type.to_string(),
        application_date,
        assessment_date,
        expiry_date,
    })
}

/// One to three distinct domains, weighted by age; the first is the most severe: 3 or 4 for a
/// disabled person, 2 for an applicant with some difficulty only.
fn difficulties(rng: &mut ChaCha8Rng, age: i32, disabled: bool) -> Vec<Difficulty> {
    // VIS, HEAR, MOB, COG, SC, COM
    let mut weights: [f64; 6] = match age {
        a if a < 15 => [0.10, 0.10, 0.15, 0.30, 0.10, 0.25],
        a if a < 60 => [0.20, 0.10, 0.35, 0.15, 0.10, 0.10],
        _ => [0.25, 0.20, 0.35, 0.10, 0.07, 0.03],
    };
    let count = 1 + weighted(rng, &[0.6, 0.28, 0.12]);
    let mut out: Vec<Difficulty> = Vec::with_capacity(count);
    for i in 0..count {
        let domain = weighted(rng, &weights);
        weights[domain] = 0.0;
        let severity = match (disabled, i) {
            (false, _) => 2,
            (true, 0) => [3, 4][weighted(rng, &[0.7, 0.3])],
            (true, _) => [2, 3, 4][weighted(rng, &[0.5, 0.35, 0.15])],
        };
        out.push(Difficulty {
            domain: DOMAINS[domain].to_string(),
            severity,
        });
    }
    out.sort_by_key(|d| std::cmp::Reverse(d.severity));
    out
}

/// ImpairmentCause and DisabilityOnSet codes, by age.
fn cause_and_onset(rng: &mut ChaCha8Rng, age: i32) -> (String, String) {
    // (cause, weight, onset); onset "" is drawn below.
    let table: &[(&str, f64, &str)] = match age {
        a if a < 15 => &[
            ("0", 0.45, "0"),
            ("1", 0.20, "0"),
            ("2", 0.25, "1"),
            ("3", 0.10, "1"),
        ],
        a if a < 60 => &[
            ("0", 0.15, "0"),
            ("1", 0.07, "0"),
            ("2", 0.35, ""),
            ("3", 0.08, ""),
            ("4", 0.15, ""),
            ("5", 0.12, "2"),
            ("6", 0.05, ""),
            ("7", 0.03, ""),
        ],
        _ => &[
            ("8", 0.40, "3"),
            ("2", 0.35, ""),
            ("4", 0.05, ""),
            ("5", 0.08, "2"),
            ("0", 0.05, "0"),
            ("3", 0.07, "3"),
        ],
    };
    let weights: Vec<f64> = table.iter().map(|(_, w, _)| *w).collect();
    let (cause, _, onset) = table[weighted(rng, &weights)];
    let onset = match onset {
        "" if age >= 60 => ["2", "3"][weighted(rng, &[0.4, 0.6])],
        "" => ["1", "2"][weighted(rng, &[0.25, 0.75])],
        fixed => fixed,
    };
    (cause.to_string(), onset.to_string())
}

/// DisabilityLevelEnum from the difficulties: `1` high support needs ... `4` mild.
fn level(rng: &mut ChaCha8Rng, difficulties: &[Difficulty]) -> &'static str {
    let worst = difficulties.iter().map(|d| d.severity).max().unwrap_or(0);
    let several = difficulties.len() > 1;
    match (worst, several) {
        (4, true) => "1",
        (4, false) => "2",
        (3, true) => "2",
        _ => ["3", "4"][weighted(rng, &[0.7, 0.3])],
    }
}

/// The support the difficulties call for, each received or still needed.
fn supports(
    rng: &mut ChaCha8Rng,
    difficulties: &[Difficulty],
    cause: &str,
    status: &str,
) -> Vec<Support> {
    let received_rate = match status {
        APPROVED => 0.6,
        EXPIRED => 0.4,
        _ => 0.2,
    };
    let mut wanted: Vec<(&str, &str, f64, u8)> = Vec::new();
    for d in difficulties {
        let s = d.severity;
        match d.domain.as_str() {
            "MOB_SS" if s >= 3 => {
                wanted.push(("assistive_technology", "1", 0.5, s));
                wanted.push(("human_assistance", "mobility", 0.4, s));
                if s == 4 {
                    wanted.push(("housing_support", "home_adaptation", 0.3, s));
                }
            }
            "VIS_SS" => {
                wanted.push(("human_assistance", "mobility", 0.3, s));
                wanted.push(("animal_assistance", "service_dog", 0.03, s));
            }
            "HEAR_SS" => wanted.push(("assistive_technology", "3", 0.6, s)),
            "COM_SS" => {
                wanted.push(("assistive_technology", "2", 0.25, s));
                wanted.push(("human_assistance", "communication", 0.3, s));
            }
            "COG_SS" => wanted.push(("human_assistance", "decision_making", 0.4, s)),
            "SC_SS" => wanted.push(("human_assistance", "basic_activity", 0.7, s)),
            _ => {}
        }
    }
    if cause == "2" {
        wanted.push(("medical_care", "maintenance_medicine", 0.5, 0));
    }
    if difficulties.iter().any(|d| d.severity == 4) {
        wanted.push(("medical_care", "constant_healthcare", 0.1, 0));
    }
    let mut out: Vec<Support> = Vec::new();
    for (kind, code, p, severity) in wanted {
        let wants = chance(rng, p);
        let received = chance(rng, received_rate);
        if !wants || out.iter().any(|s| s.kind == kind && s.code == code) {
            continue;
        }
        let intensity = (kind == "human_assistance").then(|| {
            match severity {
                4 => ["1", "2"][weighted(rng, &[0.3, 0.7])],
                3 => ["2", "3"][weighted(rng, &[0.4, 0.6])],
                _ => "4",
            }
            .to_string()
        });
        out.push(Support {
            kind: kind.to_string(),
            code: code.to_string(),
            received,
            intensity,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_items_round_trip_through_their_text() {
        for text in ["MOB_SS:3", "COM_SS:4"] {
            assert_eq!(text.parse::<Difficulty>().unwrap().to_string(), text);
        }
        for text in [
            "assistive_technology:1:received",
            "human_assistance:mobility:needed:2",
        ] {
            assert_eq!(text.parse::<Support>().unwrap().to_string(), text);
        }
        assert!("MOB:3".parse::<Difficulty>().is_err());
        assert!("MOB_SS:5".parse::<Difficulty>().is_err());
        assert!("pets:dog:received".parse::<Support>().is_err());
        assert!("medical_care:x:maybe".parse::<Support>().is_err());
    }
}
