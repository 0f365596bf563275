//! The civil register's view of the population: marriages, registration numbers and places.

use std::collections::{HashMap, HashSet};

use synth::vital::{self, Homes};
use synth::{Config, Format, Marriage, Population};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2025 - 06 - 30);

fn population(people: usize, seed: u64) -> Population {
    synth::generate(&Config {
        people,
        seed,
        today: TODAY,
    })
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("vital-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_linked_couple_has_one_marriage_at_a_plausible_date() {
    let pop = population(10_000, 5);
    let marriages = vital::marriages(&pop, TODAY);
    assert_eq!(
        marriages,
        vital::marriages(&pop.clone(), TODAY),
        "deterministic"
    );
    let by_uin: HashMap<&str, &synth::Person> =
        pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let couples = pop
        .persons
        .iter()
        .filter(|p| p.spouse_uin.is_some())
        .count();
    assert_eq!(
        marriages.len() * 2,
        couples,
        "one marriage per linked couple"
    );
    let mut married = HashSet::new();
    for m in &marriages {
        assert!(married.insert(m.spouse1_uin.as_str()) && married.insert(m.spouse2_uin.as_str()));
        let (a, b) = (
            by_uin[m.spouse1_uin.as_str()],
            by_uin[m.spouse2_uin.as_str()],
        );
        assert_eq!(a.spouse_uin.as_deref(), Some(b.uin.as_str()));
        assert!(m.marriage_date < TODAY);
        for spouse in [a, b] {
            assert!(spouse.death_date.is_none_or(|d| m.marriage_date <= d));
            // 16 at least, unless a child came earlier (mothers are 15 or more at a birth).
            let age_days = (m.marriage_date - spouse.birth_date).whole_days();
            assert!(age_days >= 15 * 365, "married at {age_days} days old");
        }
        for child in &pop.persons {
            if child.mother_uin.is_some()
                && [&child.mother_uin, &child.father_uin]
                    .iter()
                    .all(|parent| parent.as_deref().is_some_and(|u| u == a.uin || u == b.uin))
            {
                assert!(
                    m.marriage_date <= child.birth_date,
                    "married after a common child's birth"
                );
            }
        }
        assert!(m.marriage_place.is_some());
        assert_eq!(
            m.mrn,
            vital::mrn(&m.spouse1_uin, &m.spouse2_uin, m.marriage_date)
        );
    }
    let mrns: HashSet<&str> = marriages.iter().map(|m| m.mrn.as_str()).collect();
    assert_eq!(mrns.len(), marriages.len());
}

#[test]
fn registration_numbers_are_unique() {
    let pop = population(10_000, 6);
    let brns: HashSet<String> = pop
        .persons
        .iter()
        .map(|p| vital::brn(&p.uin, p.birth_date))
        .collect();
    assert_eq!(brns.len(), pop.persons.len());
    let deceased: Vec<_> = pop
        .persons
        .iter()
        .filter_map(|p| Some(vital::drn(&p.uin, p.death_date?)))
        .collect();
    assert!(!deceased.is_empty());
    assert_eq!(
        deceased.iter().collect::<HashSet<_>>().len(),
        deceased.len()
    );
}

#[test]
fn the_deceased_are_placed_with_the_household_they_are_listed_with() {
    let pop = population(2_000, 7);
    let mut homes = Homes::default();
    let mut current = None;
    for p in &pop.persons {
        if p.household_id.is_some() {
            current = p.household_id.clone();
        }
        assert_eq!(homes.of(p), current.as_deref());
        if let Some(spouse) = &p.spouse_uin
            && p.household_id.is_none()
        {
            // A deceased spouse of a living person is placed in the survivor's household.
            let survivor = pop.persons.iter().find(|q| &q.uin == spouse).unwrap();
            if survivor.household_id.is_some() {
                assert_eq!(survivor.household_id, current);
            }
        }
    }
}

#[test]
fn marriages_round_trip_through_files_and_leave_the_population_files_alone() {
    let pop = population(3_000, 8);
    let marriages = vital::marriages(&pop, TODAY);
    for format in [Format::Csv, Format::JsonLines] {
        let dir = scratch(format.extension());
        let files = synth::write(&pop, &dir, format).unwrap();
        assert_eq!(files.len(), 3);
        let path = synth::write_marriages(&marriages, &dir, format).unwrap();
        assert_eq!(path, dir.join(format!("marriages.{}", format.extension())));
        let back: Vec<Marriage> = synth::read_marriages(&path)
            .unwrap()
            .map(|row| row.unwrap().1)
            .collect();
        assert_eq!(back, marriages);
        let again = scratch(&format!("{}-again", format.extension()));
        let second =
            synth::write_marriages(&vital::marriages(&pop, TODAY), &again, format).unwrap();
        assert_eq!(
            std::fs::read(&path).unwrap(),
            std::fs::read(second).unwrap()
        );
    }
}

#[test]
fn bad_marriage_rows_are_reported() {
    let dir = scratch("bad");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("marriages.csv");
    std::fs::write(
        &path,
        "mrn,spouse1_uin,spouse2_uin,marriage_date,marriage_place\n\
         1,1234567890,1234567890,2001-01-01,\n\
         2,not-a-uin,1234567890,2001-01-01,R01\n\
         3,1234567890,1234567891,2001-02-30,R01\n",
    )
    .unwrap();
    let errors: Vec<String> = synth::read_marriages(&path)
        .unwrap()
        .filter_map(|row| row.err().map(|e| e.to_string()))
        .collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[1].starts_with("line 3: spouse1_uin"), "{errors:?}");
    assert!(errors[2].contains("marriage_date"), "{errors:?}");
}
