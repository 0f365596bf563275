//! The population model: locations, household archetypes, family links, attributes and the
//! proxy-means-test score.

use std::f64::consts::TAU;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::names::{FEMALE, FINALS, MALE, ONSETS, SURNAMES, VOWELS};
use crate::uin::{Permutation, UIN_CAPACITY, UinMint};
use crate::{Config, Household, Location, Person, Population};

const YEAR: f64 = 365.2425;

/// Whole days in `years` years.
fn days(years: f64) -> i32 {
    (years * YEAR).round() as i32
}

/// Household size weights for sizes 1..=12 (mean ≈ 4.5, right-skewed).
const SIZE_WEIGHTS: [f64; 12] = [
    10.0, 12.5, 15.0, 16.5, 15.0, 11.5, 7.5, 5.0, 3.3, 2.0, 1.0, 0.7,
];

/// Distinct phone numbers: 9-digit subscriber numbers starting with 6, 7, 8 or 9.
const PHONE_CAPACITY: u64 = 400_000_000;

/// The largest `people` [`generate`] accepts: with the deceased rows (about 5 % more) every
/// person still gets a distinct UIN and phone number.
pub const MAX_PEOPLE: usize = 300_000_000;

const _: () = assert!((MAX_PEOPLE as u64) * 8 / 7 < PHONE_CAPACITY);
const _: () = assert!(PHONE_CAPACITY < UIN_CAPACITY);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sex {
    Male,
    Female,
}

/// Relationship to the head; `None` for deceased persons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rel {
    Head,
    Spouse,
    Child,
    Grandchild,
    Parent,
    ParentInLaw,
    DaughterInLaw,
    Extended,
    None,
}

/// A household member (or a deceased relative) before it becomes a [`Person`]; links are
/// indices into the household's draft list.
#[derive(Debug, Clone, Copy)]
struct Draft {
    living: bool,
    sex: Sex,
    birth: i32,
    death: Option<i32>,
    marital: u8,
    rel: Rel,
    mother: Option<u16>,
    father: Option<u16>,
    spouse: Option<u16>,
    given: u16,
    surname: u16,
    education: Option<u8>,
    employment: Option<u8>,
    disabled: bool,
    phone: bool,
}

/// A sub-county households can be placed in, with its poverty effect.
struct Leaf {
    region: usize,
    district: usize,
    subcounty: usize,
    /// Region and district poverty effect: positive is poorer.
    effect: f64,
}

struct Places {
    locations: Vec<Location>,
    leaves: Vec<Leaf>,
    /// Cumulative weights of `leaves`, for sampling.
    cumulative: Vec<f64>,
}

/// Per-household context for attributes and the score.
struct Context {
    welfare: f64,
    effect: f64,
}

struct Generator {
    rng: ChaCha8Rng,
    today: i32,
    mint: UinMint,
    phones: Permutation,
    drafts: Vec<Draft>,
    /// Scratch buffer for children's birth dates, reused across households.
    births: Vec<i32>,
    persons: Vec<Person>,
    households: Vec<Household>,
    spare_normal: Option<f64>,
}

/// Generates the population described by `config`; the same config always yields an equal
/// population.
///
/// # Panics
/// When `people` exceeds [`MAX_PEOPLE`].
pub fn generate(config: &Config) -> Population {
    assert!(
        config.people <= MAX_PEOPLE,
        "at most {MAX_PEOPLE} people can be generated"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let uin_keys: [u64; 4] = rng.random();
    let phone_keys: [u64; 4] = rng.random();
    let mut generator = Generator {
        rng,
        today: config.today.to_julian_day(),
        mint: UinMint::new(uin_keys),
        phones: Permutation::new(phone_keys, 15, PHONE_CAPACITY),
        drafts: Vec::with_capacity(32),
        births: Vec::with_capacity(16),
        persons: Vec::with_capacity(config.people + config.people / 8),
        households: Vec::with_capacity(config.people / 4 + 1),
        spare_normal: None,
    };
    let places = generator.places();
    let mut remaining = config.people;
    while remaining > 0 {
        let size = generator.household_size().min(remaining);
        let leaf = &places.leaves[generator.pick_weighted(&places.cumulative)];
        generator.household(size, leaf, &places.locations);
        remaining -= size;
    }
    Population {
        locations: places.locations,
        households: generator.households,
        persons: generator.persons,
    }
}

impl Generator {
    // ---- random helpers -------------------------------------------------------------------

    fn unit(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    fn index(&mut self, len: usize) -> usize {
        self.rng.random_range(0..len)
    }

    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        let r = (-2.0 * u1.ln()).sqrt();
        self.spare_normal = Some(r * (TAU * u2).sin());
        r * (TAU * u2).cos()
    }

    /// Triangular distribution on `[lo, hi]` with mode `mode`.
    fn triangular(&mut self, lo: f64, mode: f64, hi: f64) -> f64 {
        let u = self.unit();
        let f = (mode - lo) / (hi - lo);
        if u < f {
            lo + ((hi - lo) * (mode - lo) * u).sqrt()
        } else {
            hi - ((hi - lo) * (hi - mode) * (1.0 - u)).sqrt()
        }
    }

    fn pick_weighted(&mut self, cumulative: &[f64]) -> usize {
        let x = self.unit() * cumulative[cumulative.len() - 1];
        cumulative
            .partition_point(|&c| c <= x)
            .min(cumulative.len() - 1)
    }

    /// A Julian day uniformly in `[lo, hi]`.
    fn day_between(&mut self, lo: i32, hi: i32) -> i32 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..=hi)
        }
    }

    fn household_size(&mut self) -> usize {
        let total: f64 = SIZE_WEIGHTS.iter().sum();
        let mut x = self.unit() * total;
        for (i, w) in SIZE_WEIGHTS.iter().enumerate() {
            if x < *w {
                return i + 1;
            }
            x -= w;
        }
        SIZE_WEIGHTS.len()
    }

    // ---- locations -----------------------------------------------------------------------

    fn place_name(&mut self, used: &mut Vec<String>) -> String {
        loop {
            let syllables = if self.chance(0.6) { 2 } else { 3 };
            let mut name = String::new();
            for _ in 0..syllables {
                name.push_str(ONSETS[self.index(ONSETS.len())]);
                name.push_str(VOWELS[self.index(VOWELS.len())]);
            }
            name.push_str(FINALS[self.index(FINALS.len())]);
            let mut chars = name.chars();
            let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or('A');
            let name: String = std::iter::once(first).chain(chars).collect();
            if !used.contains(&name) {
                used.push(name.clone());
                return name;
            }
        }
    }

    fn places(&mut self) -> Places {
        let mut used = Vec::new();
        let mut locations = Vec::new();
        let mut leaves = Vec::new();
        let mut weights = Vec::new();
        // Relative sizes and poverty effects (positive is poorer) of the regions other than the
        // capital's, shuffled so that every seed has a few large and a few poor regions.
        let mut sizes = [1.6, 1.3, 1.1, 1.0, 0.8, 0.65, 0.5, 0.35, 0.2];
        let mut effects = [-0.3, -0.1, 0.0, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8];
        sizes.shuffle(&mut self.rng);
        effects.shuffle(&mut self.rng);
        for r in 1..=10 {
            let region_code = format!("R{r:02}");
            let region = locations.len();
            locations.push(Location {
                code: region_code.clone(),
                name: self.place_name(&mut used),
                level: 1,
                parent: None,
            });
            // The first region holds the capital: the largest and the least poor.
            let (region_weight, region_effect) = if r == 1 {
                (2.6 * (0.1 * self.normal()).exp(), -0.6)
            } else {
                (
                    sizes[r - 2] * (0.15 * self.normal()).exp(),
                    effects[r - 2] + 0.1 * self.normal(),
                )
            };
            let districts = self.rng.random_range(4..=8);
            let mut district_weights = Vec::with_capacity(districts);
            for d in 1..=districts {
                let district_code = format!("{region_code}-D{d:02}");
                let district = locations.len();
                locations.push(Location {
                    code: district_code.clone(),
                    name: self.place_name(&mut used),
                    level: 2,
                    parent: Some(region_code.clone()),
                });
                let district_weight = (0.6 * self.normal()).exp();
                let district_effect = 0.2 * self.normal();
                let subcounties = self.rng.random_range(3..=8);
                let mut subcounty_weights = Vec::with_capacity(subcounties);
                for s in 1..=subcounties {
                    let subcounty = locations.len();
                    locations.push(Location {
                        code: format!("{district_code}-S{s:02}"),
                        name: self.place_name(&mut used),
                        level: 3,
                        parent: Some(district_code.clone()),
                    });
                    subcounty_weights.push((0.5 * self.normal()).exp());
                    leaves.push(Leaf {
                        region,
                        district,
                        subcounty,
                        effect: region_effect + district_effect,
                    });
                }
                let sum: f64 = subcounty_weights.iter().sum();
                district_weights.push((district_weight, subcounty_weights, sum));
            }
            let district_sum: f64 = district_weights.iter().map(|(w, _, _)| w).sum();
            for (district_weight, subcounty_weights, sum) in district_weights {
                for w in subcounty_weights {
                    weights.push(region_weight * district_weight / district_sum * w / sum);
                }
            }
        }
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .map(|w| {
                acc += w;
                acc
            })
            .collect();
        Places {
            locations,
            leaves,
            cumulative,
        }
    }

    // ---- drafting persons ----------------------------------------------------------------

    fn age_of(&self, birth: i32) -> f64 {
        f64::from(self.today - birth) / YEAR
    }

    /// Completed years of age today, as a registry computes it from the birth date.
    fn years(&self, birth: i32) -> i32 {
        let (born, today) = (date(birth), date(self.today));
        let mut years = today.year() - born.year();
        if (today.month() as u8, today.day()) < (born.month() as u8, born.day()) {
            years -= 1;
        }
        years
    }

    fn birth_at_age(&self, age: f64) -> i32 {
        self.today - days(age)
    }

    fn surname(&mut self) -> u16 {
        self.index(SURNAMES.len()) as u16
    }

    fn random_sex(&mut self) -> Sex {
        if self.chance(0.51) {
            Sex::Male
        } else {
            Sex::Female
        }
    }

    /// Pushes a living, never-married member and returns its index.
    fn member(&mut self, sex: Sex, birth: i32, rel: Rel, surname: u16) -> u16 {
        let given = match sex {
            Sex::Male => self.index(MALE.len()),
            Sex::Female => self.index(FEMALE.len()),
        } as u16;
        self.drafts.push(Draft {
            living: true,
            sex,
            birth,
            death: None,
            marital: b'S',
            rel,
            mother: None,
            father: None,
            spouse: None,
            given,
            surname,
            education: None,
            employment: None,
            disabled: false,
            phone: false,
        });
        (self.drafts.len() - 1) as u16
    }

    /// Pushes a deceased person; the death date is set by [`Generator::settle_deaths`].
    fn deceased(&mut self, sex: Sex, birth: i32, surname: u16) -> u16 {
        let i = self.member(sex, birth, Rel::None, surname);
        self.drafts[i as usize].living = false;
        i
    }

    fn marry(&mut self, a: u16, b: u16) {
        self.drafts[a as usize].spouse = Some(b);
        self.drafts[a as usize].marital = b'M';
        self.drafts[b as usize].spouse = Some(a);
        self.drafts[b as usize].marital = b'M';
    }

    /// Gives `survivor` a deceased spouse born `birth`; the survivor becomes a widow(er).
    fn widow(&mut self, survivor: u16, birth: i32, surname: u16) -> u16 {
        let sex = match self.drafts[survivor as usize].sex {
            Sex::Male => Sex::Female,
            Sex::Female => Sex::Male,
        };
        let dead = self.deceased(sex, birth, surname);
        self.marry(survivor, dead);
        self.drafts[survivor as usize].marital = b'W';
        dead
    }

    /// Birth date of a husband for a wife born `wife_birth` (usually a few years older).
    fn husband_birth(&mut self, wife_birth: i32) -> i32 {
        let gap = (5.0 + 4.0 * self.normal()).clamp(-2.0, 18.0);
        (wife_birth - days(gap)).clamp(self.today - days(99.0), self.today - days(18.5))
    }

    /// Birth date of a wife for a husband born `husband_birth`.
    fn wife_birth(&mut self, husband_birth: i32) -> i32 {
        let gap = (5.0 + 4.0 * self.normal()).clamp(-2.0, 18.0);
        (husband_birth + days(gap)).min(self.today - days(18.5))
    }

    /// Marital status of an adult living without a spouse; widowhood rises with age and is
    /// more common for women.
    fn single_status(&mut self, sex: Sex, birth: i32) -> u8 {
        let age = self.years(birth);
        if age < 18 {
            return b'S';
        }
        let widowed = match (sex, age) {
            (Sex::Female, a) if a < 30 => 0.04,
            (Sex::Female, a) if a < 45 => 0.10,
            (Sex::Female, a) if a < 60 => 0.25,
            (Sex::Female, _) => 0.70,
            (Sex::Male, a) if a < 45 => 0.04,
            (Sex::Male, a) if a < 60 => 0.15,
            (Sex::Male, _) => 0.45,
        };
        let u = self.unit();
        if u < widowed {
            b'W'
        } else if u < widowed + (1.0 - widowed) * 0.04 {
            [b'L', b'U', b'A'][self.index(3)]
        } else if age > 25 && self.chance(0.45) {
            b'D'
        } else {
            b'S'
        }
    }

    /// Birth dates (oldest first) for up to `k` children of a mother born `mother_birth`: she is
    /// 17 to 44 at each birth, the children are between `min_age` and `max_age` years old and
    /// born before today, at least 11 months apart except for the odd twins.
    fn child_births(
        &mut self,
        mother_birth: i32,
        k: usize,
        min_age: f64,
        max_age: f64,
        out: &mut Vec<i32>,
    ) {
        out.clear();
        if k == 0 {
            return;
        }
        let lo = (mother_birth + days(17.0)).max(self.today - days(max_age));
        let hi = (mother_birth + days(44.0)).min(self.today - days(min_age) - 1);
        if hi < lo {
            return;
        }
        let gap = 335;
        let n = k.min(1 + ((hi - lo) / gap) as usize);
        let free = (hi - lo) - (n as i32 - 1) * gap;
        for _ in 0..n {
            let x = self.rng.random_range(0..=free);
            out.push(x);
        }
        out.sort_unstable();
        for (i, x) in out.iter_mut().enumerate() {
            *x += lo + i as i32 * gap;
        }
        for i in 1..n {
            if self.chance(0.015) {
                out[i] = out[i - 1];
            }
        }
    }

    /// Adds children born `births` with the given parents; returns how many were added.
    fn add_children(
        &mut self,
        births: &[i32],
        rel: Rel,
        mother: Option<u16>,
        father: Option<u16>,
        surname: u16,
    ) -> usize {
        for &birth in births {
            let sex = self.random_sex();
            let c = self.member(sex, birth, rel, surname);
            let age = self.age_of(birth);
            let status = if age >= 20.0 && self.chance(0.12) {
                b'D'
            } else {
                b'S'
            };
            let child = &mut self.drafts[c as usize];
            child.mother = mother;
            child.father = father;
            child.marital = status;
        }
        births.len()
    }

    /// Adds a relative (`EXT`): a niece or nephew, a sibling of the head, or another relative.
    fn relative(&mut self, head: u16) {
        let head_birth = self.drafts[head as usize].birth;
        let head_surname = self.drafts[head as usize].surname;
        let u = self.unit();
        let age = if u < 0.5 {
            self.uniform(8.0, 30.0)
        } else if u < 0.8 {
            (self.age_of(head_birth) + self.uniform(-8.0, 8.0)).clamp(15.0, 90.0)
        } else {
            self.triangular(8.0, 25.0, 85.0)
        };
        let sex = self.random_sex();
        let surname = if self.chance(0.5) {
            head_surname
        } else {
            self.surname()
        };
        let r = self.member(sex, self.birth_at_age(age), Rel::Extended, surname);
        self.settle_single(r);
    }

    /// Gives a spouseless adult a marital status, creating the deceased spouse of a widow(er).
    fn settle_single(&mut self, i: u16) {
        let d = self.drafts[i as usize];
        let status = self.single_status(d.sex, d.birth);
        self.drafts[i as usize].marital = status;
        if status == b'W' {
            let birth = match d.sex {
                Sex::Female => self.husband_birth(d.birth),
                Sex::Male => self.wife_birth(d.birth),
            };
            let surname = if d.sex == Sex::Female {
                d.surname
            } else {
                self.surname()
            };
            self.widow(i, birth, surname);
        }
    }

    /// Parents (`PRN`) of the head or (`PRNINLAW`) of the spouse living in the household.
    fn parents(&mut self, anchor: u16, count: usize, rel: Rel) {
        let a = self.drafts[anchor as usize];
        let mother_birth = a.birth - days(self.uniform(18.0, 40.0));
        let father_birth = self.husband_birth(mother_birth);
        let father_surname = if a.sex == Sex::Male {
            a.surname
        } else {
            self.surname()
        };
        let mother_surname = if self.chance(0.6) {
            father_surname
        } else {
            self.surname()
        };
        let (mother, father) = if count == 2 {
            let m = self.member(Sex::Female, mother_birth, rel, mother_surname);
            let f = self.member(Sex::Male, father_birth, rel, father_surname);
            self.marry(m, f);
            (m, f)
        } else if self.chance(0.7) {
            let m = self.member(Sex::Female, mother_birth, rel, mother_surname);
            if self.chance(0.8) {
                let f = self.widow(m, father_birth, father_surname);
                (m, f)
            } else {
                self.drafts[m as usize].marital = if self.chance(0.8) { b'D' } else { b'S' };
                self.drafts[anchor as usize].mother = Some(m);
                return;
            }
        } else {
            let f = self.member(Sex::Male, father_birth, rel, father_surname);
            if self.chance(0.65) {
                let m = self.widow(f, mother_birth, mother_surname);
                (m, f)
            } else {
                self.drafts[f as usize].marital = b'D';
                self.drafts[anchor as usize].father = Some(f);
                return;
            }
        };
        self.drafts[anchor as usize].mother = Some(mother);
        self.drafts[anchor as usize].father = Some(father);
    }

    // ---- household archetypes --------------------------------------------------------------

    /// One person living alone: an elderly person (often widowed) or a younger adult.
    fn single(&mut self) {
        let (sex, age) = if self.chance(0.4) {
            let sex = if self.chance(0.62) {
                Sex::Female
            } else {
                Sex::Male
            };
            (sex, self.triangular(60.0, 66.0, 97.0))
        } else {
            let sex = if self.chance(0.65) {
                Sex::Male
            } else {
                Sex::Female
            };
            (sex, self.triangular(18.5, 26.0, 60.0))
        };
        let surname = self.surname();
        let head = self.member(sex, self.birth_at_age(age), Rel::Head, surname);
        self.settle_single(head);
    }

    /// A head, usually a spouse, children of the couple, sometimes parents and relatives.
    fn family(&mut self, size: usize) {
        let head_female = self.chance(0.24);
        let has_spouse = if head_female {
            self.chance(0.10)
        } else {
            self.chance(0.86)
        };
        let mut slots = size - 1 - usize::from(has_spouse);
        let mut parents = 0;
        if slots >= 1 && self.chance(0.15) {
            parents = if slots >= 2 && self.chance(0.35) {
                2
            } else {
                1
            };
        }
        slots -= parents;
        let mut relatives = 0;
        if slots >= 1 && self.chance(0.25) {
            relatives = if slots >= 3 && self.chance(0.3) { 2 } else { 1 };
        }
        slots -= relatives;
        let children = slots;

        // The woman of the couple (or the children's mother) sets everyone's age.
        let woman_age = if children > 0 {
            let least = 18.5 + 0.95 * (children as f64 - 1.0);
            let age = self.triangular(18.5, 40.0, 62.0);
            if age < least {
                least + self.uniform(0.0, 6.0)
            } else {
                age
            }
        } else if has_spouse {
            if self.chance(0.55) {
                self.uniform(18.5, 32.0)
            } else {
                self.uniform(40.0, 66.0)
            }
        } else {
            self.triangular(18.5, 27.0, 62.0)
        };
        let woman_birth = self.birth_at_age(woman_age);
        let man_birth = self.husband_birth(woman_birth);

        let family_surname = self.surname();
        let own_surname = if self.chance(0.6) {
            family_surname
        } else {
            self.surname()
        };
        let (head, mother, father, kids_surname) = if head_female {
            let head_surname = if has_spouse {
                own_surname
            } else {
                family_surname
            };
            let head = self.member(Sex::Female, woman_birth, Rel::Head, head_surname);
            let father = self.spouse_or_single(
                head,
                has_spouse,
                Sex::Male,
                man_birth,
                family_surname,
                head_surname,
            );
            // Children of a lone mother who never had a husband in the registry carry her name.
            (head, Some(head), father, family_surname)
        } else {
            let head = self.member(Sex::Male, man_birth, Rel::Head, family_surname);
            let mother = self.spouse_or_single(
                head,
                has_spouse,
                Sex::Female,
                woman_birth,
                own_surname,
                own_surname,
            );
            (head, mother, Some(head), family_surname)
        };
        let mut births = std::mem::take(&mut self.births);
        self.child_births(woman_birth, children, 0.0, 30.0, &mut births);
        self.add_children(&births, Rel::Child, mother, father, kids_surname);
        let mut missing = children - births.len();
        self.births = births;

        if parents > 0 {
            let spouse = self.drafts[head as usize].spouse;
            let anchor_is_spouse = has_spouse && self.chance(0.25);
            let anchor = if anchor_is_spouse {
                spouse.unwrap_or(head)
            } else {
                head
            };
            if self.age_of(self.drafts[anchor as usize].birth) <= 52.0 {
                let rel = if anchor == head {
                    Rel::Parent
                } else {
                    Rel::ParentInLaw
                };
                self.parents(anchor, parents, rel);
            } else {
                missing += parents;
            }
        }
        for _ in 0..relatives + missing {
            self.relative(head);
        }
    }

    /// Settles the marital status of a spouseless head; a widowed head gets a deceased spouse
    /// born `partner_birth` with `surname`, returned as the other parent of the head's children.
    /// The head's spouse, married to the head, when `has_spouse`; otherwise the head is
    /// settled as single, widowed or divorced (see [`Self::settle_single_with`]).
    fn spouse_or_single(
        &mut self,
        head: u16,
        has_spouse: bool,
        sex: Sex,
        birth: i32,
        spouse_surname: u16,
        single_surname: u16,
    ) -> Option<u16> {
        if has_spouse {
            let spouse = self.member(sex, birth, Rel::Spouse, spouse_surname);
            self.marry(head, spouse);
            Some(spouse)
        } else {
            self.settle_single_with(head, birth, single_surname)
        }
    }

    fn settle_single_with(&mut self, head: u16, partner_birth: i32, surname: u16) -> Option<u16> {
        let d = self.drafts[head as usize];
        let status = self.single_status(d.sex, d.birth);
        self.drafts[head as usize].marital = status;
        if status == b'W' {
            Some(self.widow(head, partner_birth, surname))
        } else {
            None
        }
    }

    /// An older head with a spouse or widowed, living with adult children, a married son's
    /// family, or grandchildren whose parents are away or dead.
    fn elder(&mut self, size: usize) {
        let head_female = self.chance(0.42);
        let head_age = self.triangular(52.0, 60.0, 95.0);
        let head_birth = self.birth_at_age(head_age);
        let has_spouse = if head_female {
            self.chance(0.08)
        } else {
            self.chance(0.72)
        };
        let family_surname = self.surname();
        let (head, mother, father, mother_birth) = if head_female {
            let head_surname = if self.chance(0.6) {
                family_surname
            } else {
                self.surname()
            };
            let head = self.member(Sex::Female, head_birth, Rel::Head, head_surname);
            let husband_birth = self.husband_birth(head_birth);
            let father = self.spouse_or_single(
                head,
                has_spouse,
                Sex::Male,
                husband_birth,
                family_surname,
                family_surname,
            );
            (head, Some(head), father, head_birth)
        } else {
            let head = self.member(Sex::Male, head_birth, Rel::Head, family_surname);
            let wife_birth = self.wife_birth(head_birth);
            let wife_surname = if self.chance(0.6) {
                family_surname
            } else {
                self.surname()
            };
            let mother = self.spouse_or_single(
                head,
                has_spouse,
                Sex::Female,
                wife_birth,
                wife_surname,
                wife_surname,
            );
            (head, mother, Some(head), wife_birth)
        };

        let mut slots = size - 1 - usize::from(has_spouse);
        let mut births = std::mem::take(&mut self.births);
        if slots >= 3 && self.chance(0.45) {
            // A married son, his wife and their children.
            self.child_births(mother_birth, 1, 20.0, 50.0, &mut births);
            if let Some(&son_birth) = births.first() {
                let son = self.member(Sex::Male, son_birth, Rel::Child, family_surname);
                self.drafts[son as usize].mother = mother;
                self.drafts[son as usize].father = father;
                let wife_birth = self.wife_birth(son_birth);
                let wife_surname = if self.chance(0.6) {
                    family_surname
                } else {
                    self.surname()
                };
                let wife = self.member(Sex::Female, wife_birth, Rel::DaughterInLaw, wife_surname);
                self.marry(son, wife);
                slots -= 2;
                self.child_births(wife_birth, slots, 0.0, 20.0, &mut births);
                slots -= self.add_children(
                    &births,
                    Rel::Grandchild,
                    Some(wife),
                    Some(son),
                    family_surname,
                );
            }
        } else if slots >= 1 && self.chance(0.5) {
            slots -= self.grandchildren(
                slots,
                mother,
                father,
                mother_birth,
                family_surname,
                &mut births,
            );
        }
        if slots > 0 {
            // Unmarried children still at home.
            self.child_births(mother_birth, slots, 10.0, 40.0, &mut births);
            slots -= self.add_children(&births, Rel::Child, mother, father, family_surname);
        }
        if slots > 0 {
            slots -= self.grandchildren(
                slots,
                mother,
                father,
                mother_birth,
                family_surname,
                &mut births,
            );
        }
        self.births = births;
        for _ in 0..slots {
            self.relative(head);
        }
    }

    /// Grandchildren whose parent (a child of the elder couple) is away or dead; returns how
    /// many were added.
    fn grandchildren(
        &mut self,
        count: usize,
        elder_mother: Option<u16>,
        elder_father: Option<u16>,
        elder_mother_birth: i32,
        family_surname: u16,
        births: &mut Vec<i32>,
    ) -> usize {
        self.child_births(elder_mother_birth, 1, 18.0, 55.0, births);
        let Some(&parent_birth) = births.first() else {
            return 0;
        };
        let through_daughter = self.chance(0.65);
        let (mother_birth, other_birth) = if through_daughter {
            (parent_birth, self.husband_birth(parent_birth))
        } else {
            (self.wife_birth(parent_birth), parent_birth)
        };
        let u = self.unit();
        let (mut mother, mut father) = (None, None);
        let surname;
        if u < 0.45 {
            // Parents away: no rows for them.
            surname = if through_daughter {
                self.surname()
            } else {
                family_surname
            };
        } else {
            let child_sex = if through_daughter {
                Sex::Female
            } else {
                Sex::Male
            };
            let child = self.deceased(child_sex, parent_birth, family_surname);
            self.drafts[child as usize].mother = elder_mother;
            self.drafts[child as usize].father = elder_father;
            if u < 0.8 {
                surname = family_surname;
                if through_daughter {
                    mother = Some(child);
                } else {
                    father = Some(child);
                }
            } else {
                // Both parents died.
                let in_law_surname = self.surname();
                let (in_law_sex, in_law_birth) = if through_daughter {
                    (Sex::Male, other_birth)
                } else {
                    (Sex::Female, mother_birth)
                };
                let in_law = self.deceased(in_law_sex, in_law_birth, in_law_surname);
                self.marry(child, in_law);
                if through_daughter {
                    self.drafts[child as usize].surname = in_law_surname;
                    surname = in_law_surname;
                    (mother, father) = (Some(child), Some(in_law));
                } else {
                    surname = family_surname;
                    (mother, father) = (Some(in_law), Some(child));
                }
            }
        }
        self.child_births(mother_birth, count, 0.0, 17.0, births);
        self.add_children(births, Rel::Grandchild, mother, father, surname)
    }

    // ---- finishing a household -------------------------------------------------------------

    /// Sets the death dates of deceased drafts: after they turned 18, after their spouse turned
    /// 16, after the births of their children (a father may die during the pregnancy), within
    /// the last 35 years where possible, and before today. Of a couple who both died, the
    /// first to die was married, the second widowed.
    fn settle_deaths(&mut self) {
        let hi = self.today - 1;
        for i in 0..self.drafts.len() {
            let d = self.drafts[i];
            if d.living {
                continue;
            }
            let mut lo = d.birth + days(18.0);
            if let Some(s) = d.spouse {
                lo = lo.max(self.drafts[s as usize].birth + days(16.0));
            }
            for c in &self.drafts {
                if c.mother == Some(i as u16) {
                    lo = lo.max(c.birth + 1);
                }
                if c.father == Some(i as u16) {
                    lo = lo.max(c.birth - 180);
                }
            }
            lo = lo.max(hi - days(35.0)).min(hi);
            let death = self.day_between(lo, hi);
            self.drafts[i].death = Some(death);
        }
        for i in 0..self.drafts.len() {
            let d = self.drafts[i];
            if let (Some(death), Some(s)) = (d.death, d.spouse)
                && let Some(spouse_death) = self.drafts[s as usize].death
            {
                self.drafts[i].marital = if death > spouse_death { b'W' } else { b'M' };
            }
        }
        // Spouses who died the same day: the later row counts as the widow(er).
        for i in 0..self.drafts.len() {
            let d = self.drafts[i];
            if let (Some(death), Some(s)) = (d.death, d.spouse) {
                let other = self.drafts[s as usize];
                if other.death == Some(death) && d.marital == b'M' && other.marital == b'M' {
                    self.drafts[i.max(s as usize)].marital = b'W';
                }
            }
        }
    }

    /// Education, employment, disability and phone ownership of the living members.
    fn attributes(&mut self, ctx: &Context) {
        for i in 0..self.drafts.len() {
            let d = self.drafts[i];
            if !d.living {
                continue;
            }
            let age = f64::from(self.years(d.birth));
            let education = self.education(age, ctx);
            let employment = if age >= 15.0 {
                Some(self.employment(d.sex, age, education.unwrap_or(0)))
            } else {
                None
            };
            // "A lot of difficulty" or worse in a functional domain (the Washington Group's
            // threshold): about 5 % of everyone, a fifth of those aged 65 or more.
            let disabled_rate = match age {
                a if a < 15.0 => 0.02,
                a if a < 45.0 => 0.045,
                a if a < 65.0 => 0.10,
                a if a < 75.0 => 0.16,
                _ => 0.28,
            };
            let phone_rate = match age {
                a if a < 15.0 => 0.0,
                a if a < 18.0 => 0.25,
                a if a < 65.0 => 0.85,
                _ => 0.55,
            };
            let disabled = self.chance(disabled_rate);
            let phone = self.chance(phone_rate);
            let d = &mut self.drafts[i];
            d.education = education;
            d.employment = employment;
            d.disabled = disabled;
            d.phone = phone;
        }
    }

    fn education(&mut self, age: f64, ctx: &Context) -> Option<u8> {
        if age < 3.0 {
            return None;
        }
        if age < 6.0 {
            return Some(0);
        }
        if age < 18.0 {
            let expected = match age {
                a if a < 12.0 => 1,
                a if a < 15.0 => 2,
                _ => 3,
            };
            let mut out_of_school = 0.05 + 0.05 * (ctx.effect - ctx.welfare).max(0.0);
            if expected == 3 {
                out_of_school += 0.12;
            }
            if self.chance(out_of_school) {
                return Some(self.index(expected as usize) as u8);
            }
            return Some(expected);
        }
        let latent = 0.7 * ctx.welfare - 0.6 * ctx.effect - 0.025 * (age - 35.0) + self.normal();
        // Cut points for ≈ 17/30/18/18/5/4/5/2/0.5 % of adults at mean welfare.
        const CUTS: [f64; 8] = [-1.15, -0.10, 0.48, 1.2, 1.48, 1.77, 2.45, 3.2];
        let mut level = CUTS.iter().filter(|&&c| latent > c).count() as u8;
        // Nobody finishes a degree before the age to do so.
        let cap = match age {
            a if a < 20.0 => 4,
            a if a < 22.0 => 5,
            a if a < 24.0 => 6,
            a if a < 28.0 => 7,
            _ => 8,
        };
        level = level.min(cap);
        Some(level)
    }

    fn employment(&mut self, sex: Sex, age: f64, education: u8) -> u8 {
        let u = self.unit();
        let pick = |table: &[(u8, f64)]| {
            let mut acc = 0.0;
            for &(code, p) in table {
                acc += p;
                if u < acc {
                    return code;
                }
            }
            table[table.len() - 1].0
        };
        if age < 18.0 {
            let in_school = education >= 2;
            return if in_school {
                pick(&[(2, 0.85), (8, 0.15)])
            } else {
                pick(&[(8, 0.45), (6, 0.2), (2, 0.35)])
            };
        }
        if age >= 65.0 {
            return pick(&[(2, 0.65), (6, 0.25), (8, 0.05), (3, 0.05)]);
        }
        if age < 23.0 && education >= 3 && u < 0.5 {
            return 2;
        }
        if education >= 5 {
            return pick(&[
                (4, 0.55),
                (5, 0.05),
                (6, 0.15),
                (1, 0.1),
                (2, 0.12),
                (3, 0.03),
            ]);
        }
        match sex {
            Sex::Male => pick(&[
                (4, 0.25),
                (6, 0.35),
                (8, 0.05),
                (5, 0.03),
                (7, 0.01),
                (1, 0.06),
                (2, 0.20),
                (3, 0.05),
            ]),
            Sex::Female => pick(&[
                (4, 0.15),
                (6, 0.25),
                (8, 0.15),
                (5, 0.01),
                (7, 0.01),
                (1, 0.05),
                (2, 0.33),
                (3, 0.05),
            ]),
        }
    }

    /// The proxy-means-test score: deprivation from low welfare, a poor location, a large
    /// household, many dependants, an uneducated head, a lone female head and shocks (the long
    /// poor tail), mapped onto 0–100 where lower is poorer.
    fn poverty_score(&mut self, ctx: &Context) -> f64 {
        let living = self.drafts.iter().filter(|d| d.living);
        let (mut size, mut dependants) = (0.0f64, 0.0f64);
        for d in living {
            size += 1.0;
            let age = self.age_of(d.birth);
            if !(15.0..65.0).contains(&age) {
                dependants += 1.0;
            }
        }
        let dependency = dependants / (size - dependants).max(1.0);
        let head = self.drafts[0];
        let lone_woman =
            head.sex == Sex::Female && head.spouse.is_none_or(|s| !self.drafts[s as usize].living);
        let mut deprivation = -0.8 * ctx.welfare
            + ctx.effect
            + 0.07 * (size - 4.5)
            + 0.2 * (dependency.min(4.0) - 0.9)
            - 0.12 * (f64::from(head.education.unwrap_or(0)) - 2.0)
            + if lone_woman { 0.15 } else { 0.0 }
            + 0.3 * self.normal();
        if self.chance(0.2) {
            deprivation += -(1.0 - self.unit()).ln();
        }
        // Steeper on the poor side: a long poor tail, few households near 100.
        let slope = if deprivation < 0.0 { 0.3 } else { 0.5 };
        let x = 0.95 * (-slope * deprivation).exp();
        let score = 100.0 * (1.0 - (-x).exp());
        (score * 100.0).round().clamp(0.0, 10_000.0) / 100.0
    }

    /// Builds one household of `size` living members and appends it and its persons.
    fn household(&mut self, size: usize, leaf: &Leaf, locations: &[Location]) {
        self.drafts.clear();
        let ctx = Context {
            welfare: self.normal(),
            effect: leaf.effect,
        };
        if size == 1 {
            self.single();
        } else if self.chance(if size == 2 { 0.3 } else { 0.2 }) {
            self.elder(size);
        } else {
            self.family(size);
        }
        debug_assert_eq!(self.drafts.iter().filter(|d| d.living).count(), size);
        self.settle_deaths();
        self.attributes(&ctx);
        let poverty_score = self.poverty_score(&ctx);
        self.commit(size, poverty_score, leaf, locations);
    }

    fn commit(&mut self, size: usize, poverty_score: f64, leaf: &Leaf, locations: &[Location]) {
        let household_id = format!("HH{:08}", self.households.len() + 1);
        let base = self.persons.len() as u64;
        let head_birth = self.drafts[0].birth;
        let earliest = (head_birth + days(18.0)).max(self.today - days(6.0));
        let registered = self.day_between(earliest, self.today - 1);
        self.households.push(Household {
            household_id: household_id.clone(),
            group_type: "2".to_owned(),
            poverty_score,
            poverty_score_type: "pmt".to_owned(),
            region_code: locations[leaf.region].code.clone(),
            district_code: locations[leaf.district].code.clone(),
            location_code: locations[leaf.subcounty].code.clone(),
            head_uin: self.mint.uin(base),
            size: size as u32,
            registration_date: date(registered),
        });
        let uin = |mint: &UinMint, i: Option<u16>| i.map(|i| mint.uin(base + u64::from(i)));
        for (i, d) in self.drafts.iter().enumerate() {
            let index = base + i as u64;
            let relationship = match (d.rel, d.sex) {
                (Rel::Head, _) => "SELF",
                (Rel::Spouse, _) => "PRIMSPOUS",
                (Rel::Child, Sex::Male) => "SON",
                (Rel::Child, Sex::Female) => "DAU",
                (Rel::Grandchild, _) => "GRNDCHILD",
                (Rel::Parent, _) => "PRN",
                (Rel::ParentInLaw, _) => "PRNINLAW",
                (Rel::DaughterInLaw, _) => "DAUINLAW",
                (Rel::Extended, _) => "EXT",
                (Rel::None, _) => "",
            };
            let phone_number = d.phone.then(|| {
                let n = self.phones.apply(index);
                format!("+999{}{:08}", 6 + n / 100_000_000, n % 100_000_000)
            });
            self.persons.push(Person {
                uin: self.mint.uin(index),
                given_name: match d.sex {
                    Sex::Male => MALE[d.given as usize],
                    Sex::Female => FEMALE[d.given as usize],
                }
                .to_owned(),
                surname: SURNAMES[d.surname as usize].to_owned(),
                sex: match d.sex {
                    Sex::Male => "male",
                    Sex::Female => "female",
                }
                .to_owned(),
                birth_date: date(d.birth),
                death_date: d.death.map(date),
                marital_status: char::from(d.marital).to_string(),
                household_id: d.living.then(|| household_id.clone()),
                relationship_to_head: d.living.then(|| relationship.to_owned()),
                education_level: d.education.map(|e| char::from(b'0' + e).to_string()),
                employment_status: d.employment.map(|e| char::from(b'0' + e).to_string()),
                is_disabled: d.disabled,
                mother_uin: uin(&self.mint, d.mother),
                father_uin: uin(&self.mint, d.father),
                spouse_uin: uin(&self.mint, d.spouse),
                phone_number,
            });
        }
    }
}

fn date(julian_day: i32) -> time::Date {
    time::Date::from_julian_day(julian_day).expect("generated dates are in range")
}
