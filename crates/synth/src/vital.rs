//! The civil register's view of the population: registration numbers, the place of each
//! person, and the marriages of the couples the population links.
//!
//! Nothing here draws from the generator's random stream, so the population and its files are
//! unchanged; everything is a function of the population (and, for marriage dates, of the
//! generation date), so the same seed gives the same records.
//!
//! - **Registration numbers** are the event's year followed by nine digits: a fixed permutation
//!   of the nine payload digits of the person's UIN (a different one for births, deaths and
//!   marriages). One UIN has one birth and at most one death, so the numbers are unique; a
//!   marriage takes the smaller of the two spouses' UINs, unique while nobody marries twice in
//!   one year. [`brn`], [`drn`] and [`mrn`] are also how the CRVS numbers events it registers.
//! - **Places**: people are born, marry and die where their household lives (its sub-county).
//!   A deceased person has no household; the civil register places them where the household
//!   they are listed with lives: persons come household by household, each household's living
//!   members followed by the deceased persons linked to them ([`Homes`]).
//! - **Marriages**: one per couple whose `spouse_uin`s point at each other (the married, the
//!   widowed and their deceased spouses). The marriage date falls in the ten years before the
//!   earliest of the couple's first common child's birth, either spouse's death and the day
//!   before the generation date, and after both spouses turned 18 (16 when a child or a death
//!   comes earlier; never after that earliest date).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::{Person, Population, io};

/// A marriage between two persons of the population, as the civil register records it (it is
/// registered on the day it takes place).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Marriage {
    /// Marriage registration number; see [`mrn`].
    pub mrn: String,
    /// The spouse listed first in the persons file.
    pub spouse1_uin: String,
    /// The other spouse.
    pub spouse2_uin: String,
    /// The day of the marriage.
    #[serde(with = "io::date")]
    pub marriage_date: Date,
    /// Location code (sub-county) of the couple's home, where the marriage took place.
    pub marriage_place: Option<String>,
}

/// Multipliers and offsets of the permutations behind the registration numbers (each
/// multiplier is prime to 10, so each map is a bijection on nine digits).
const BIRTH_KEY: (u64, u64) = (982_451_653, 123_456_789);
const DEATH_KEY: (u64, u64) = (961_748_941, 271_828_182);
const MARRIAGE_KEY: (u64, u64) = (899_809_363, 314_159_265);
const NINE_DIGITS: u64 = 1_000_000_000;

/// The nine payload digits of `uin` (its check digit dropped), permuted by `key`.
pub(crate) fn permuted(uin: &str, (a, b): (u64, u64)) -> u64 {
    let payload: u64 = uin.get(..9).and_then(|s| s.parse().ok()).unwrap_or(0);
    (payload * a + b) % NINE_DIGITS
}

/// A registration number: the event's year and nine digits.
pub(crate) fn number(date: Date, digits: u64) -> String {
    format!("{:04}{digits:09}", date.year())
}

/// The birth registration number of the person `uin` born on `birth_date`.
pub fn brn(uin: &str, birth_date: Date) -> String {
    number(birth_date, permuted(uin, BIRTH_KEY))
}

/// The death registration number of the person `uin` who died on `death_date`.
pub fn drn(uin: &str, death_date: Date) -> String {
    number(death_date, permuted(uin, DEATH_KEY))
}

/// The marriage registration number of spouses `a` and `b` married on `marriage_date`.
pub fn mrn(a: &str, b: &str, marriage_date: Date) -> String {
    number(marriage_date, permuted(a.min(b), MARRIAGE_KEY))
}

/// Follows a persons file in order and tells the household each person is placed in: their
/// own, or for a deceased person the household of the living persons listed before them.
#[derive(Debug, Default, Clone)]
pub struct Homes {
    last: Option<String>,
}

impl Homes {
    /// The household `person` (the next person of the file) is placed in, if any is known.
    pub fn of(&mut self, person: &Person) -> Option<&str> {
        if let Some(household) = &person.household_id {
            self.last = Some(household.clone());
        }
        self.last.as_deref()
    }
}

/// A hash of the two UINs: a stable spread of marriage dates.
fn spread(a: &str, b: &str) -> u64 {
    crate::stream::fnv1a(&[a, b])
}

fn years(n: f64) -> Duration {
    Duration::days((n * 365.2425).round() as i64)
}

/// The marriages of `population` (generated on `today`), in the order of their first spouse.
pub fn marriages(population: &Population, today: Date) -> Vec<Marriage> {
    let persons = &population.persons;
    let index: HashMap<&str, usize> = persons
        .iter()
        .enumerate()
        .map(|(i, p)| (p.uin.as_str(), i))
        .collect();
    let location: HashMap<&str, &str> = population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h.location_code.as_str()))
        .collect();
    let mut first_child: HashMap<(&str, &str), Date> = HashMap::new();
    for p in persons {
        if let (Some(mother), Some(father)) = (&p.mother_uin, &p.father_uin) {
            first_child
                .entry((mother.as_str(), father.as_str()))
                .and_modify(|d| *d = (*d).min(p.birth_date))
                .or_insert(p.birth_date);
        }
    }
    let mut homes = Homes::default();
    let mut out = Vec::new();
    for (i, p) in persons.iter().enumerate() {
        let home = homes.of(p).and_then(|h| location.get(h)).copied();
        let Some(&j) = p.spouse_uin.as_deref().and_then(|s| index.get(s)) else {
            continue;
        };
        let q = &persons[j];
        // Once per couple, and only for couples linked both ways.
        if j < i || q.spouse_uin.as_deref() != Some(p.uin.as_str()) {
            continue;
        }
        let (mother, father) = if p.sex == "female" { (p, q) } else { (q, p) };
        let mut latest = today - Duration::days(1);
        for limit in [
            p.death_date,
            q.death_date,
            first_child
                .get(&(mother.uin.as_str(), father.uin.as_str()))
                .copied(),
        ]
        .into_iter()
        .flatten()
        {
            latest = latest.min(limit);
        }
        let younger = p.birth_date.max(q.birth_date);
        let mut earliest = younger + years(18.0);
        if earliest > latest {
            earliest = (younger + years(16.0)).min(latest);
        }
        earliest = earliest.max(latest - years(10.0));
        let span = (latest - earliest).whole_days().max(0) as u64 + 1;
        let marriage_date = earliest + Duration::days((spread(&p.uin, &q.uin) % span) as i64);
        out.push(Marriage {
            mrn: mrn(&p.uin, &q.uin, marriage_date),
            spouse1_uin: p.uin.clone(),
            spouse2_uin: q.uin.clone(),
            marriage_date,
            marriage_place: home.map(str::to_owned),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_numbers_are_the_year_and_a_permutation() {
        let d = time::macros::date!(2019 - 03 - 04);
        assert_eq!(brn("1234567890", d).len(), 13);
        assert!(brn("1234567890", d).starts_with("2019"));
        assert_ne!(brn("1234567890", d), drn("1234567890", d));
        assert_eq!(
            mrn("2000000001", "1000000002", d),
            mrn("1000000002", "2000000001", d)
        );
        // Distinct payloads, distinct numbers.
        let numbers: std::collections::HashSet<String> = (0..1000u64)
            .map(|n| brn(&format!("{:09}0", n * 7919), d))
            .collect();
        assert_eq!(numbers.len(), 1000);
    }
}
