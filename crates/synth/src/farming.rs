//! The farmer registry's view of the population: who farms, on which parcels of land (size,
//! tenure, place), growing what, and with which animals.
//!
//! Farming is rural: a household lives in a town when its sub-county is the first of its
//! district (the district town) or lies in the capital's district `R01-D01` ([`is_urban`]);
//! elsewhere it is rural. In rural households, adults farm: about half of the heads, fewer
//! spouses and grown children, more often when they work on their own account or in the
//! family than as employees or after tertiary education: about a quarter of rural adults. A
//! few townspeople farm too. Most farms are small (subsistence or semi-subsistence, one to
//! three parcels of a few tenths of a hectare to a few hectares: most farmers hold less than
//! 2 ha in all); a few employers run large commercial farms. Parcels lie in the farmer's
//! sub-county, sometimes elsewhere in the district; maize is the commonest crop, each
//! region has crops it favours, and about half of the farmers keep animals (poultry first).
//!
//! As for disabilities, each farmer is drawn from their own random stream
//! ([`crate::stream`]), so the population and its other files are unchanged. Farmers are
//! numbered like the civil register's records ([`fid`]); a parcel is the farmer's number and
//! its rank (`…-1`, `…-2`).

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::{Date, Duration};

use crate::disability::age_on;
use crate::stream::{self, chance, weighted};
use crate::{Household, Person, Population, io, vital};

/// A registered farmer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Farmer {
    /// Farmer identifier; see [`fid`].
    pub fid: String,
    /// The farmer.
    pub uin: String,
    /// The farmer's household in the social registry.
    pub household_id: String,
    /// FarmTypeEnum code `1`-`6`.
    pub farm_type: String,
    /// Animals kept, by AnimalsEnum code; written `6:12;2:4`.
    #[serde(with = "io::list")]
    pub livestock: Vec<Livestock>,
    /// When the farmer was registered.
    #[serde(with = "io::date")]
    pub registration_date: Date,
}

/// A land parcel farmed by a registered farmer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parcel {
    /// Land parcel identifier: the farmer's `fid`, `-` and the parcel's rank.
    pub lpi: String,
    /// The farmer.
    pub fid: String,
    /// The sub-county the parcel lies in.
    pub location_code: String,
    /// Size in hectares, two decimals.
    pub land_size: f64,
    /// LandTenureEnum code (`1` owner, `2` leased, `4` sharecropping, `5` inheritance, `7`
    /// squatting ...).
    pub land_tenure: String,
    /// Crops grown (names of the crop directory); written `maize;beans`.
    #[serde(with = "io::list")]
    pub crops: Vec<String>,
    /// Whether the parcel is irrigated.
    pub irrigated: bool,
    /// When the parcel was registered.
    #[serde(with = "io::date")]
    pub registration_date: Date,
}

/// The farmers and their parcels.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Farms {
    /// Farmers, household by household.
    pub farmers: Vec<Farmer>,
    /// Parcels, farmer by farmer.
    pub parcels: Vec<Parcel>,
}

/// Animals of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Livestock {
    /// AnimalsEnum code: `1` bovine, `2` sheep and goats, `3` pigs, `6` poultry ...
    pub animal: String,
    /// How many.
    pub count: u32,
}

impl fmt::Display for Livestock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.animal, self.count)
    }
}

impl FromStr for Livestock {
    type Err = String;

    /// `ANIMAL:COUNT`, e.g. `6:12` (twelve poultry).
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("`{text}` is not ANIMAL:COUNT (e.g. 6:12)");
        let (animal, count) = text.split_once(':').ok_or_else(bad)?;
        let count: u32 = count.parse().map_err(|_| bad())?;
        if !ANIMALS.contains(&animal) {
            return Err(format!(
                "`{animal}` is not an AnimalsEnum code ({})",
                ANIMALS.join(", ")
            ));
        }
        if count == 0 {
            return Err(format!("`{text}` counts no animals"));
        }
        Ok(Livestock {
            animal: animal.to_string(),
            count,
        })
    }
}

/// AnimalsEnum codes.
pub const ANIMALS: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8"];

/// The crops farmers grow (the names of the crop directory), with their weights: how common
/// each is on a parcel.
pub const CROPS: &[(&str, f64)] = &[
    ("maize", 30.0),
    ("beans", 14.0),
    ("cassava", 9.0),
    ("sorghum", 7.0),
    ("sweet_potato", 6.0),
    ("groundnut", 6.0),
    ("banana", 5.0),
    ("millet", 4.0),
    ("rice", 3.0),
    ("cowpea", 3.0),
    ("tomato", 3.0),
    ("cabbage", 3.0),
    ("coffee", 3.0),
    ("onion", 2.0),
    ("potato", 2.0),
    ("sugarcane", 2.0),
    ("sunflower", 2.0),
    ("soybean", 2.0),
    ("tea", 1.0),
    ("mango", 1.0),
    ("cotton", 1.0),
    ("wheat", 1.0),
];

/// LandTenureEnum codes with their weights.
const TENURES: &[(&str, f64)] = &[
    ("1", 0.40),
    ("5", 0.25),
    ("2", 0.17),
    ("4", 0.10),
    ("7", 0.05),
    ("3", 0.03),
];

/// Whether households of the sub-county `location_code` live in a town: the first
/// sub-county of each district (its town) and every sub-county of the capital's district.
pub fn is_urban(location_code: &str) -> bool {
    location_code.ends_with("-S01") || location_code.starts_with("R01-D01-")
}

/// Key of the farmer numbers' permutation (see [`vital`]).
const FID_KEY: (u64, u64) = (879_190_747, 577_215_664);

/// The number of the farmer `uin` registered on `registration_date`: the year and a
/// permutation of the UIN's nine payload digits.
pub fn fid(uin: &str, registration_date: Date) -> String {
    vital::number(registration_date, vital::permuted(uin, FID_KEY))
}

/// The farmers of `population` (generated on `today`) and their parcels, household by
/// household.
pub fn farms(population: &Population, today: Date) -> Farms {
    let households: HashMap<&str, &Household> = population
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    let mut sub_counties: HashMap<&str, Vec<&str>> = HashMap::new();
    for location in population.locations.iter().filter(|l| l.level == 3) {
        if let Some(parent) = &location.parent {
            sub_counties
                .entry(parent.as_str())
                .or_default()
                .push(location.code.as_str());
        }
    }
    let mut out = Farms::default();
    for person in &population.persons {
        let Some(household) = person
            .household_id
            .as_deref()
            .and_then(|id| households.get(id))
        else {
            continue;
        };
        let district = sub_counties
            .get(household.district_code.as_str())
            .map_or(&[][..], Vec::as_slice);
        if let Some((farmer, parcels)) = farm(person, household, district, today) {
            out.farmers.push(farmer);
            out.parcels.extend(parcels);
        }
    }
    out
}

/// How likely `person` is to farm.
fn farming_rate(person: &Person, household: &Household, age: i32) -> f64 {
    if age < 18 {
        return 0.0;
    }
    let relationship = person.relationship_to_head.as_deref().unwrap_or_default();
    let base: f64 = match (is_urban(&household.location_code), relationship) {
        (false, "SELF") => 0.5,
        (false, "PRIMSPOUS") => 0.15,
        (false, "SON" | "DAU") => 0.1,
        (false, _) => 0.05,
        (true, "SELF") => 0.04,
        (true, _) => 0.01,
    };
    let work = match person.employment_status.as_deref() {
        Some("6" | "7" | "8") => 1.4,
        Some("5") => 1.2,
        Some("4") => 0.4,
        Some("2") => 0.8,
        _ => 1.0,
    };
    let schooling = match person.education_level.as_deref() {
        Some("5" | "6" | "7" | "8") => 0.5,
        _ => 1.0,
    };
    (base * work * schooling).min(0.95)
}

/// The farm of `person`, if they farm.
fn farm(
    person: &Person,
    household: &Household,
    district: &[&str],
    today: Date,
) -> Option<(Farmer, Vec<Parcel>)> {
    let mut rng = stream::of(&person.uin, "fr");
    let age = age_on(person.birth_date, today);
    if !chance(&mut rng, farming_rate(person, household, age)) {
        return None;
    }
    let adult = person.birth_date + Duration::days(18 * 365 + 5);
    let first = adult.max(today - Duration::days(12 * 365));
    let span = (today - Duration::days(1) - first).whole_days().max(0);
    let registration_date = first + Duration::days(stream::between(&mut rng, 0, span));
    let commercial = person.employment_status.as_deref() == Some("5") && chance(&mut rng, 0.3);
    let farm_type = if commercial {
        "5"
    } else {
        ["1", "2", "3", "4"][weighted(&mut rng, &[0.55, 0.33, 0.08, 0.04])]
    };
    let fid = fid(&person.uin, registration_date);
    let count = if commercial {
        stream::between(&mut rng, 2, 4) as usize
    } else {
        1 + weighted(&mut rng, &[0.55, 0.30, 0.15])
    };
    let region = household.region_code.as_str();
    let mut parcels = Vec::with_capacity(count);
    for rank in 1..=count {
        let location_code = if rank > 1 && district.len() > 1 && chance(&mut rng, 0.3) {
            district[stream::between(&mut rng, 0, district.len() as i64 - 1) as usize]
        } else {
            household.location_code.as_str()
        };
        let hectares = if commercial {
            (20.0 * (0.6 * stream::normal(&mut rng)).exp()).clamp(5.0, 120.0)
        } else {
            (0.5 * (0.8 * stream::normal(&mut rng)).exp()).clamp(0.05, 15.0)
        };
        let tenure_weights: Vec<f64> = TENURES.iter().map(|(_, w)| *w).collect();
        let land_tenure = TENURES[weighted(&mut rng, &tenure_weights)].0;
        let crop_count = 1 + weighted(&mut rng, &[0.4, 0.4, 0.2]);
        let mut weights: Vec<f64> = CROPS
            .iter()
            .enumerate()
            .map(|(i, (_, w))| w * regional_preference(region, i))
            .collect();
        let mut crops = Vec::with_capacity(crop_count);
        for _ in 0..crop_count {
            let i = weighted(&mut rng, &weights);
            weights[i] = 0.0;
            crops.push(CROPS[i].0.to_string());
        }
        let irrigated = chance(&mut rng, if commercial { 0.4 } else { 0.06 });
        parcels.push(Parcel {
            lpi: format!("{fid}-{rank}"),
            fid: fid.clone(),
            location_code: location_code.to_string(),
            land_size: (hectares * 100.0).round().max(1.0) / 100.0,
            land_tenure: land_tenure.to_string(),
            crops,
            irrigated,
            registration_date,
        });
    }
    // (AnimalsEnum code, rate, smallest and largest herd; a commercial farm's cattle herd)
    let herds: [(&str, f64, i64, i64); 4] = [
        ("6", 0.55, 3, 30),
        ("2", 0.30, 2, 15),
        ("1", 0.22, 1, 8),
        ("3", 0.08, 1, 6),
    ];
    let mut livestock = Vec::new();
    for (animal, rate, lo, hi) in herds {
        let keeps = chance(&mut rng, rate);
        let (lo, hi) = if commercial && animal == "1" {
            (10, 80)
        } else {
            (lo, hi)
        };
        let count = stream::between(&mut rng, lo, hi) as u32;
        if keeps {
            livestock.push(Livestock {
                animal: animal.to_string(),
                count,
            });
        }
    }
    let farmer = Farmer {
        fid,
        uin: person.uin.clone(),
        household_id: household.household_id.clone(),
        farm_type: farm_type.to_string(),
        livestock,
        registration_date,
    };
    Some((farmer, parcels))
}

/// How much more a region grows the crop at `index` of [`CROPS`]: each region favours two
/// crops threefold.
fn regional_preference(region: &str, index: usize) -> f64 {
    let hash = stream::fnv1a(&["crops", region]) as usize;
    let favoured = [hash % CROPS.len(), (hash / CROPS.len()) % CROPS.len()];
    if favoured.contains(&index) { 3.0 } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn towns_are_district_seats_and_the_capital() {
        assert!(is_urban("R03-D02-S01"));
        assert!(is_urban("R01-D01-S05"));
        assert!(!is_urban("R03-D02-S02"));
        assert!(!is_urban("R01-D02-S03"));
    }

    #[test]
    fn livestock_round_trips_through_its_text() {
        assert_eq!("6:12".parse::<Livestock>().unwrap().to_string(), "6:12");
        assert!("9:1".parse::<Livestock>().is_err());
        assert!("1:0".parse::<Livestock>().is_err());
        assert!("cattle".parse::<Livestock>().is_err());
    }
}
