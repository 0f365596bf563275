//! The delivery-chain scenarios of `usecases.md` (UC-01 ...), each run against live services
//! over DCI (the registries, and an SP-MIS asking them) and checked against the ground truth of
//! the population those registries were loaded with ([`Truth`]).
//!
//! The same scenarios run in the integration tests, on each backend, and in `spx sandbox` on a
//! population of 100,000, where their [`Timeline`] shows which registry the SP-MIS asked what,
//! each decision, and how long each step took. A scenario never reads a registry's store: it
//! sees what a programme officer sees, through DCI and the SP-MIS.
//!
//! Scenarios can run again on the same services (`spx scenario UC-01` against a running
//! sandbox): each picks people the SP-MIS has not yet seen, and computes what it expects of them
//! from the population alone.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mis::{Mis, Registries};

mod applications;
mod ecct;
mod pilot;
mod uc01;
mod uc02;
mod uc03;
mod uc04;
mod uc05;

pub use applications::{apply_all, failed_rule, ibr_programmes, ibr_shows};
mod uc06;
mod uc07;
mod uc09;
mod uc10;
mod uc14;

pub use pilot::{Expected, named_by_ibr_check};

/// The population the registries hold, with the indexes scenarios look people up by: what a
/// scenario expects is computed from here, never from the services it checks.
pub struct Truth {
    /// The population and what each registry derives from it.
    pub data: synth::Dataset,
    /// UINs with an enrolment (any status) in a programme of the population's IBR.
    in_programmes: HashSet<String>,
    /// UIN → index of the person.
    by_uin: HashMap<String, usize>,
    /// Household id → index of the household.
    by_household: HashMap<String, usize>,
}

impl Truth {
    /// The ground truth of `data`.
    pub fn new(data: synth::Dataset) -> Self {
        let in_programmes = data
            .benefits
            .enrolments
            .iter()
            .map(|e| e.uin.clone())
            .collect();
        let by_uin = data
            .population
            .persons
            .iter()
            .enumerate()
            .map(|(i, p)| (p.uin.clone(), i))
            .collect();
        let by_household = data
            .population
            .households
            .iter()
            .enumerate()
            .map(|(i, h)| (h.household_id.clone(), i))
            .collect();
        Truth {
            data,
            in_programmes,
            by_uin,
            by_household,
        }
    }

    /// The person of `uin`.
    pub fn person(&self, uin: &str) -> Option<&synth::Person> {
        Some(&self.data.population.persons[*self.by_uin.get(uin)?])
    }

    /// The household of `id`.
    pub fn household(&self, id: &str) -> Option<&synth::Household> {
        Some(&self.data.population.households[*self.by_household.get(id)?])
    }

    /// `person`'s household.
    pub fn household_of(&self, person: &synth::Person) -> Option<&synth::Household> {
        self.household(person.household_id.as_deref()?)
    }

    /// The programmes of the population's IBR of benefit type `benefit_type` in which each UIN
    /// is active.
    pub fn covered(&self, benefit_type: &str) -> BTreeMap<&str, BTreeSet<&str>> {
        let of_type: BTreeSet<String> = synth::benefits::programmes()
            .into_iter()
            .filter(|p| p.benefit_type == benefit_type)
            .map(|p| p.code)
            .collect();
        let mut covered: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for e in &self.data.benefits.enrolments {
            if e.status == synth::benefits::ACTIVE && of_type.contains(&e.programme) {
                covered.entry(&e.uin).or_default().insert(&e.programme);
            }
        }
        covered
    }

    /// The hectares of each farmer's parcels, by farmer id.
    pub fn land(&self) -> BTreeMap<&str, f64> {
        let mut land: BTreeMap<&str, f64> = BTreeMap::new();
        for parcel in &self.data.farms.parcels {
            *land.entry(&parcel.fid).or_default() += parcel.land_size;
        }
        land
    }

    /// Whether the spouse of `uin`'s latest marriage has died (none without a marriage).
    pub fn spouse_died(&self, uin: &str) -> Option<bool> {
        let marriage = self
            .data
            .marriages
            .iter()
            .filter(|m| m.spouse1_uin == uin || m.spouse2_uin == uin)
            .max_by_key(|m| m.marriage_date)?;
        let spouse = if marriage.spouse1_uin == uin {
            &marriage.spouse2_uin
        } else {
            &marriage.spouse1_uin
        };
        Some(self.person(spouse)?.death_date.is_some())
    }

    /// Whether `child` is at the education level expected at their age (6 to 11 primary, 12
    /// to 14 lower and 15 to 17 upper secondary); none out of school ages or without a level.
    pub fn attends_school(&self, child: &synth::Person) -> Option<bool> {
        let expected = match self.age(child) {
            6..=11 => 1,
            12..=14 => 2,
            15..=17 => 3,
            _ => return None,
        };
        let level: u32 = child.education_level.as_deref()?.parse().ok()?;
        Some(level >= expected)
    }

    /// The day the population was generated for: the day of every decision.
    pub fn today(&self) -> time::Date {
        self.data.today
    }

    /// Everyone, living and dead.
    pub fn persons(&self) -> &[synth::Person] {
        &self.data.population.persons
    }

    /// `person`'s age in whole years today.
    pub fn age(&self, person: &synth::Person) -> i32 {
        let today = self.today();
        let mut years = today.year() - person.birth_date.year();
        if (today.month() as u8, today.day())
            < (person.birth_date.month() as u8, person.birth_date.day())
        {
            years -= 1;
        }
        years
    }

    /// Whether `person` is enrolled in no programme at all (so no enrolment of the population
    /// stands in the way of a new one).
    pub fn in_no_programme(&self, person: &synth::Person) -> bool {
        !self.in_programmes.contains(&person.uin)
    }

    /// A valid UIN no one in the population has, from `seed` (a newborn's, say).
    pub fn new_uin(&self, seed: u64) -> String {
        let taken: HashSet<&str> = self.persons().iter().map(|p| p.uin.as_str()).collect();
        (0..)
            .flat_map(|n| {
                (0..10).map(move |d| format!("{:09}{d}", 800_000_000 + seed % 99_000_000 + n))
            })
            .find(|uin| synth::uin_is_valid(uin) && !taken.contains(uin.as_str()))
            .expect("some UIN is free")
    }

    /// The poverty score of `person`'s household.
    pub fn poverty(&self, person: &synth::Person) -> Option<f64> {
        self.household_of(person).map(|h| h.poverty_score)
    }
}

/// What a scenario runs against.
pub struct World<'w> {
    /// The population the registries were loaded with.
    pub truth: &'w Truth,
    /// The SP-MIS, asking the registries over DCI.
    pub mis: &'w Mis,
    /// The registries' DCI clients, to check what they hold.
    pub registries: &'w Registries,
    /// Where the steps are told.
    pub timeline: &'w Timeline,
}

impl World<'_> {
    /// Up to `count` of `candidates` the SP-MIS has never seen in any programme: people a run
    /// of the scenario can apply for, however often it ran before on the same services.
    pub async fn fresh<'p>(
        &self,
        candidates: impl Iterator<Item = &'p synth::Person>,
        count: usize,
    ) -> Result<Vec<&'p synth::Person>> {
        let mut chosen = Vec::with_capacity(count);
        for person in candidates {
            if chosen.len() == count {
                break;
            }
            if self.mis.enrolments().of(&person.uin).await?.is_empty() {
                chosen.push(person);
            }
        }
        Ok(chosen)
    }
}

/// A scenario of `usecases.md`.
pub struct Scenario {
    /// `UC-01`.
    pub id: &'static str,
    /// What it shows.
    pub title: &'static str,
    run: for<'w> fn(&'w World<'w>, Report<'w>) -> BoxFuture<'w, Result<Report<'w>>>,
}

/// Every scenario, in `usecases.md` order.
pub fn all() -> &'static [Scenario] {
    &[
        Scenario {
            id: "UC-01",
            title: "Enrolment in old-age allowance",
            run: uc01::run,
        },
        Scenario {
            id: "UC-02",
            title: "Stop old-age allowance on death",
            run: uc02::run,
        },
        Scenario {
            id: "UC-03",
            title: "Widow allowance enrolment",
            run: uc03::run,
        },
        Scenario {
            id: "UC-04",
            title: "Child benefit enrolment on application",
            run: uc04::run,
        },
        Scenario {
            id: "UC-05",
            title: "Proactive child benefit",
            run: uc05::run,
        },
        Scenario {
            id: "UC-06",
            title: "Cash transfer to the poor households of a district, found and paid",
            run: uc06::run,
        },
        Scenario {
            id: "UC-07",
            title: "Widow allowance for the qualifying widows of a district, found",
            run: uc07::run,
        },
        Scenario {
            id: "UC-08",
            title: "Education transfer paid to the children at school only",
            run: ecct::uc08,
        },
        Scenario {
            id: "UC-09",
            title: "Lactating mothers' transfer from the birth to the child's death",
            run: uc09::run,
        },
        Scenario {
            id: "UC-10",
            title: "Disability allowance for the certified, found and notified, never twice",
            run: uc10::run,
        },
        Scenario {
            id: "UC-11",
            title: "Education transfer for the school-age children the IBR does not cover",
            run: ecct::uc11,
        },
        Scenario {
            id: "UC-12",
            title: "The IBR shows each farmer's programmes and payments",
            run: uc14::uc12,
        },
        Scenario {
            id: "UC-13",
            title: "Education transfer cycle reconciled",
            run: ecct::uc13,
        },
        Scenario {
            id: "UC-14",
            title: "Farmer support for the small poor farmers of a district, found and paid",
            run: uc14::uc14,
        },
    ]
}

/// The scenario `id` names: `UC-05`, `uc05` or `5`.
pub fn find(id: &str) -> Option<&'static Scenario> {
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    let number: u32 = digits.parse().ok()?;
    all()
        .iter()
        .find(|s| s.id.trim_start_matches("UC-").parse() == Ok(number))
}

impl Scenario {
    /// Runs the scenario in `world`, telling its steps and checks on the world's timeline.
    pub async fn run(&self, world: &World<'_>) -> Result<Outcome> {
        let started = Instant::now();
        world.timeline.line(format!("{} {}", self.id, self.title));
        let report = (self.run)(world, Report::new(world.timeline))
            .await
            .with_context(|| format!("{} stopped", self.id))?;
        let outcome = Outcome {
            id: self.id,
            checks: report.checks,
            took: started.elapsed(),
        };
        world.timeline.line(format!(
            "{} {}: {} of {} checks passed in {:.2} s",
            self.id,
            if outcome.passed() { "passed" } else { "FAILED" },
            outcome.checks.iter().filter(|c| c.passed).count(),
            outcome.checks.len(),
            outcome.took.as_secs_f64()
        ));
        Ok(outcome)
    }
}

/// What a scenario found.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario.
    pub id: &'static str,
    /// Each check, in order.
    pub checks: Vec<Check>,
    /// How long it ran.
    pub took: Duration,
}

impl Outcome {
    /// Whether every check passed (and there was at least one).
    pub fn passed(&self) -> bool {
        !self.checks.is_empty() && self.checks.iter().all(|c| c.passed)
    }

    /// The checks that failed, one a line.
    pub fn failures(&self) -> String {
        self.checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| format!("{}: {}", c.what, c.detail))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// One expectation of a scenario, met or not.
#[derive(Debug, Clone)]
pub struct Check {
    /// What was expected, in words.
    pub what: String,
    /// Whether it held.
    pub passed: bool,
    /// What was seen (and expected, when it failed).
    pub detail: String,
}

/// The checks of a running scenario, each told on the timeline as it is made.
pub struct Report<'w> {
    timeline: &'w Timeline,
    checks: Vec<Check>,
}

impl<'w> Report<'w> {
    fn new(timeline: &'w Timeline) -> Self {
        Report {
            timeline,
            checks: Vec::new(),
        }
    }

    /// Checks that `got` is `expected`.
    pub fn equal<T: PartialEq + Debug>(&mut self, what: impl Into<String>, expected: T, got: T) {
        let passed = expected == got;
        let detail = if passed {
            format!("{got:?}")
        } else {
            format!("expected {expected:?}, got {got:?}")
        };
        self.record(what.into(), passed, detail);
    }

    /// Checks that `holds`, saying why with `detail`.
    pub fn that(&mut self, what: impl Into<String>, holds: bool, detail: impl Into<String>) {
        self.record(what.into(), holds, detail.into());
    }

    fn record(&mut self, what: String, passed: bool, detail: String) {
        let shown: String = if detail.chars().count() > 160 {
            detail.chars().take(157).chain("...".chars()).collect()
        } else {
            detail.clone()
        };
        self.timeline.line(format!(
            "  {} {what}{}",
            if passed { "✓" } else { "✗" },
            if passed && shown.len() > 60 {
                String::new()
            } else {
                format!(" ({shown})")
            }
        ));
        self.checks.push(Check {
            what,
            passed,
            detail,
        });
    }
}

/// The scenarios' log: each line stamped with the time since the timeline began, printed as it
/// comes (the sandbox) or kept (the tests, which show it when a scenario fails).
pub struct Timeline {
    started: Instant,
    print: bool,
    lines: Mutex<Vec<String>>,
}

impl Timeline {
    /// A timeline printed on standard output, with progress bars on a terminal.
    pub fn printing() -> Self {
        Timeline {
            started: Instant::now(),
            print: true,
            lines: Mutex::new(Vec::new()),
        }
    }

    /// A timeline kept for [`Timeline::lines`].
    pub fn kept() -> Self {
        Timeline {
            print: false,
            ..Timeline::printing()
        }
    }

    /// Adds a line.
    pub fn line(&self, text: impl Into<String>) {
        let line = format!(
            "[{:>8.3} s] {}",
            self.started.elapsed().as_secs_f64(),
            text.into()
        );
        if self.print {
            println!("{line}");
        }
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(line);
    }

    /// Every line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// A progress bar for a long step of `len` items: drawn on a terminal when the timeline
    /// prints, hidden otherwise (CI logs, tests).
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        let target = if self.print {
            ProgressDrawTarget::stdout()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len), target);
        bar.set_style(
            ProgressStyle::with_template("             {msg} [{bar:30}] {pos}/{len} {per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar.set_message(what.to_string());
        bar
    }
}
