//! A deterministic synthetic population of a fictional country, generated from a seed.
//!
//! [`generate`] builds a location hierarchy (10 regions, their districts and sub-counties), then
//! households one by one until `people` living persons exist. Each household is drawn from an
//! archetype: a one-person household (a young adult, or an elderly person who is often widowed),
//! a family household (a head, usually a spouse, children whose ages fit their mother's age,
//! sometimes a parent of the head or of the spouse and other relatives), or an elder household
//! (an older head with adult children, a married son with his wife and their children, or
//! grandchildren whose parents are away or dead). Sizes run from 1 to 12 with a mean near 4.5,
//! which together with the archetypes yields the age pyramid of a lower-middle-income country
//! (about 40 % under 18, about 6 % aged 65 or more).
//!
//! Family links are real links: `mother_uin`, `father_uin` and `spouse_uin` point to persons of
//! the same population. Every widow or widower has a deceased spouse row (marital status `M` at
//! death, death date in the past, after the birth of their youngest child together), and some
//! children and adults have deceased parents. Deceased persons belong to no household. This is
//! what the civil registration, identity, beneficiary, disability and farmer registries derive
//! their records from, so that one person has one UIN everywhere: a UIN is a keyed permutation of
//! the person's index (unique by construction) with a Verhoeff check digit.
//!
//! Households differ in welfare: a latent welfare factor, the region and district, household size,
//! dependency ratio, the head's education and shocks give a proxy-means-test score from 0 to 100
//! (lower is poorer) with most households in the middle and a long tail of poor ones. Regions
//! differ both in size and in poverty. Education follows age (ISCED 1 at 6–11, 2 at 12–14, 3 at
//! 15–17, with some children out of school, more in poor households), adults have a spread of
//! levels, disability rises with age, adults have employment statuses and most have a phone.
//!
//! Everything comes from one `ChaCha8Rng` stream seeded from [`Config::seed`] and dates are
//! relative to [`Config::today`], so the same configuration always gives the same population and
//! byte-identical files from [`write()`]. [`read_households`] and [`read_persons`] stream those
//! files back, validating every row.
//!
//! [`vital`] derives what the civil registration (CRVS) registry holds beyond the persons:
//! registration numbers, places and the couples' marriages ([`write_marriages`] writes them).
//! [`disability`] derives the disability registry's certificates, difficulties and support
//! ([`write_disabilities`]) and [`farming`] the farmer registry's farmers, land parcels, crops
//! and animals ([`write_farms`]), each from the same persons. [`identity`] derives when the
//! foundational ID registry issued each UIN and the identity card each person holds.
//! [`benefits`] derives the programmes, enrolments and payments the integrated beneficiary
//! registry (IBR) holds ([`write_benefits`]).

pub mod benefits;
mod codes;
pub mod disability;
pub mod farming;
mod generate;
pub mod identity;
mod io;
mod names;
mod stream;
mod uin;
pub mod vital;

use serde::{Deserialize, Serialize};

pub use codes::{
    EDUCATION_LEVELS, EMPLOYMENT_STATUSES, GROUP_TYPES, MARITAL_STATUSES, RELATIONSHIPS, SEXES,
};
pub use generate::{MAX_PEOPLE, generate};
pub use io::{
    Format, ReadError, Row, Rows, read_benefits, read_disabilities, read_enrolments, read_farmers,
    read_households, read_marriages, read_parcels, read_persons, read_programmes, write,
    write_benefits, write_disabilities, write_farms, write_marriages,
};
pub use uin::uin_is_valid;
pub use vital::Marriage;

/// A population and everything the registries derive from it on the reference date: what a
/// sandbox or a test loads into its registries, and the ground truth its scenarios are checked
/// against.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The reference date.
    pub today: time::Date,
    /// Locations, households and persons.
    pub population: Population,
    /// Marriages (with divorces), for the civil registry.
    pub marriages: Vec<Marriage>,
    /// Disability registrations, for the disability registry.
    pub disabilities: Vec<disability::Disability>,
    /// Farmers and parcels, for the farmer registry.
    pub farms: farming::Farms,
    /// Enrolments and benefits, for the integrated beneficiary registry.
    pub benefits: benefits::Benefits,
}

impl Dataset {
    /// The population of `config` and what each registry derives from it.
    pub fn generate(config: &Config) -> Self {
        let population = generate(config);
        let today = config.today;
        Dataset {
            today,
            marriages: vital::marriages(&population, today),
            disabilities: disability::registrations(&population, today),
            farms: farming::farms(&population, today),
            benefits: benefits::benefits(&population, today),
            population,
        }
    }

    /// Writes every registry's files in `dir`: the population's ([`write`]), then
    /// `marriages`, `disabilities`, `farmers`, `parcels`, `programmes`, `enrolments` and
    /// `benefits`. Returns the paths written.
    pub fn write(
        &self,
        dir: &std::path::Path,
        format: Format,
    ) -> std::io::Result<Vec<std::path::PathBuf>> {
        let mut paths = write(&self.population, dir, format)?;
        paths.push(write_marriages(&self.marriages, dir, format)?);
        paths.push(write_disabilities(&self.disabilities, dir, format)?);
        paths.extend(write_farms(&self.farms, dir, format)?);
        paths.extend(write_benefits(
            &benefits::programmes(),
            &self.benefits,
            dir,
            format,
        )?);
        Ok(paths)
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Number of living persons in households.
    pub people: usize,
    /// Seed of the random stream: the same config always yields the same population.
    pub seed: u64,
    /// The reference date: ages, death dates and registration dates are relative to it.
    #[serde(with = "io::date")]
    pub today: time::Date,
}

/// A generated population: the location master list, households and persons (living and dead).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Population {
    /// Regions, districts and sub-counties, parents before children.
    pub locations: Vec<Location>,
    /// Households in generation order.
    pub households: Vec<Household>,
    /// Persons in generation order: each household's living members (head first) followed by the
    /// deceased persons linked to them.
    pub persons: Vec<Person>,
}

/// One node of the location hierarchy shared by all registries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    /// `R01`, `R01-D02` or `R01-D02-S03`.
    pub code: String,
    /// Pronounceable fictional name.
    pub name: String,
    /// 1 region, 2 district, 3 sub-county.
    pub level: u8,
    /// Code of the enclosing location; `None` for regions.
    pub parent: Option<String>,
}

/// A social-registry household (DCI `Group` with group type `2`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Household {
    /// `HH` followed by at least eight digits, e.g. `HH00012345`.
    pub household_id: String,
    /// AssistanceUnitEnum code: always `2` (Household) here.
    pub group_type: String,
    /// Proxy-means-test score, 0–100 with two decimals; lower is poorer.
    pub poverty_score: f64,
    /// Always `pmt`.
    pub poverty_score_type: String,
    /// Level-1 location code.
    pub region_code: String,
    /// Level-2 location code.
    pub district_code: String,
    /// Level-3 location code.
    pub location_code: String,
    /// UIN of the member whose relationship is `SELF`.
    pub head_uin: String,
    /// Number of living members.
    pub size: u32,
    /// Date the household entered the social registry.
    #[serde(with = "io::date")]
    pub registration_date: time::Date,
}

/// A person, living (in a household) or deceased (in none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// 10 digits, the last a Verhoeff check digit; see [`uin_is_valid`].
    pub uin: String,
    /// Given name.
    pub given_name: String,
    /// Family name; children carry their father's (or the head's) surname.
    pub surname: String,
    /// SexCategoryEnum code: `male` or `female`.
    pub sex: String,
    /// Date of birth.
    #[serde(with = "io::date")]
    pub birth_date: time::Date,
    /// Date of death, for deceased persons.
    #[serde(with = "io::opt_date", default)]
    pub death_date: Option<time::Date>,
    /// MaritalStatusEnum code (`S`, `M`, `W`, `D`, a few `L`, `U`, `A`); at death for the deceased.
    pub marital_status: String,
    /// Household of a living person; `None` for deceased persons.
    pub household_id: Option<String>,
    /// RelationshipEnum code relative to the household head: `SELF`, `PRIMSPOUS`, `SON`, `DAU`,
    /// `GRNDCHILD`, `PRN` (parent of the head), `PRNINLAW` (parent of the spouse), `DAUINLAW`,
    /// `EXT`.
    pub relationship_to_head: Option<String>,
    /// EducationCodeEnum (ISCED) `0`–`8`; `None` under 3 and for the deceased.
    pub education_level: Option<String>,
    /// EmploymentStatusEnum `1`–`8` for living persons aged 15 or more.
    pub employment_status: Option<String>,
    /// Whether the person has a disability.
    pub is_disabled: bool,
    /// UIN of the mother when she is part of the population (living or deceased).
    pub mother_uin: Option<String>,
    /// UIN of the father when he is part of the population (living or deceased).
    pub father_uin: Option<String>,
    /// UIN of the current spouse, or of the deceased spouse of a widow or widower.
    pub spouse_uin: Option<String>,
    /// Mobile number with the fictional country code `+999`, unique per person.
    pub phone_number: Option<String>,
}
