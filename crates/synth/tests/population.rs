//! Invariants of the generated population, determinism, and the file round trip.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use synth::{
    Config, EDUCATION_LEVELS, EMPLOYMENT_STATUSES, Format, GROUP_TYPES, MARITAL_STATUSES, Person,
    Population, RELATIONSHIPS, SEXES,
};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2025 - 06 - 30);
const PEOPLE: usize = 20_000;

fn config(people: usize, seed: u64) -> Config {
    Config {
        people,
        seed,
        today: TODAY,
    }
}

fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    // SYNTH_SEED explores other seeds: `SYNTH_SEED=7 cargo test -p synth`.
    let seed = std::env::var("SYNTH_SEED").map_or(2024, |s| s.parse().expect("SYNTH_SEED"));
    POPULATION.get_or_init(|| synth::generate(&config(PEOPLE, seed)))
}

/// Completed years of age on `on`.
fn age_on(birth: Date, on: Date) -> i32 {
    let mut years = on.year() - birth.year();
    if (on.month() as u8, on.day()) < (birth.month() as u8, birth.day()) {
        years -= 1;
    }
    years
}

fn age(p: &Person) -> i32 {
    age_on(p.birth_date, TODAY)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("synth-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn same_seed_same_population_and_bytes() {
    let a = synth::generate(&config(3_000, 9));
    let b = synth::generate(&config(3_000, 9));
    assert_eq!(a, b);
    let c = synth::generate(&config(3_000, 10));
    assert_ne!(a.persons, c.persons);
    assert_ne!(a.households, c.households);

    for format in [Format::Csv, Format::JsonLines] {
        let first = synth::write(&a, &scratch("bytes-a"), format).unwrap();
        let second = synth::write(&b, &scratch("bytes-b"), format).unwrap();
        assert_eq!(first.len(), 3);
        for (x, y) in first.iter().zip(&second) {
            assert_eq!(
                std::fs::read(x).unwrap(),
                std::fs::read(y).unwrap(),
                "{x:?}"
            );
        }
    }
}

#[test]
fn counts_and_households() {
    let pop = population();
    let living: Vec<&Person> = pop
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .collect();
    assert_eq!(living.len(), PEOPLE);
    assert!(
        pop.persons.len() > PEOPLE,
        "deceased persons are extra rows"
    );

    let by_uin: HashMap<&str, &Person> = pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let mut members: HashMap<&str, Vec<&Person>> = HashMap::new();
    for p in &living {
        let household = p
            .household_id
            .as_deref()
            .expect("living persons have a household");
        members.entry(household).or_default().push(p);
    }
    let mut ids = HashSet::new();
    for h in &pop.households {
        assert!(
            ids.insert(h.household_id.as_str()),
            "duplicate {}",
            h.household_id
        );
        assert!(h.household_id.starts_with("HH") && h.household_id.len() == 10);
        assert!(GROUP_TYPES.contains(&h.group_type.as_str()));
        assert_eq!(h.poverty_score_type, "pmt");
        assert!((0.0..=100.0).contains(&h.poverty_score));
        assert_eq!((h.poverty_score * 100.0).round() / 100.0, h.poverty_score);
        assert!(h.registration_date <= TODAY);
        let list = &members[h.household_id.as_str()];
        assert_eq!(h.size as usize, list.len(), "{}", h.household_id);
        assert!((1..=12).contains(&h.size));
        let heads: Vec<_> = list
            .iter()
            .filter(|p| p.relationship_to_head.as_deref() == Some("SELF"))
            .collect();
        assert_eq!(heads.len(), 1, "{}", h.household_id);
        assert_eq!(heads[0].uin, h.head_uin);
        assert!(age(heads[0]) >= 18, "head aged {}", age(heads[0]));
        assert!(by_uin.contains_key(h.head_uin.as_str()));
    }
    assert_eq!(members.len(), pop.households.len());
}

#[test]
fn uins_are_unique_valid_and_links_resolve() {
    let pop = population();
    let mut seen = HashSet::new();
    for p in &pop.persons {
        assert!(synth::uin_is_valid(&p.uin), "{}", p.uin);
        assert!(seen.insert(p.uin.as_str()), "duplicate UIN {}", p.uin);
    }
    for p in &pop.persons {
        for link in [&p.mother_uin, &p.father_uin, &p.spouse_uin]
            .into_iter()
            .flatten()
        {
            assert!(seen.contains(link.as_str()), "dangling link {link}");
        }
    }
    let phones: Vec<_> = pop
        .persons
        .iter()
        .filter_map(|p| p.phone_number.as_ref())
        .collect();
    let unique: HashSet<_> = phones.iter().collect();
    assert_eq!(phones.len(), unique.len());
    assert!(
        phones
            .iter()
            .all(|n| n.starts_with("+999") && n.len() == 13)
    );
}

#[test]
fn family_links_are_consistent() {
    let pop = population();
    let by_uin: HashMap<&str, &Person> = pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let (mut with_mother, mut deceased_parents) = (0, 0);
    for p in &pop.persons {
        if let Some(s) = &p.spouse_uin {
            let spouse = by_uin[s.as_str()];
            assert_eq!(
                spouse.spouse_uin.as_deref(),
                Some(p.uin.as_str()),
                "spouse of {}",
                p.uin
            );
            assert_ne!(spouse.sex, p.sex);
        }
        match p.marital_status.as_str() {
            "M" if p.death_date.is_none() => {
                // A living married person lives with a living spouse.
                let spouse = by_uin[p.spouse_uin.as_deref().expect("married has a spouse")];
                assert!(spouse.death_date.is_none());
                assert_eq!(spouse.household_id, p.household_id);
            }
            "W" => {
                let spouse = by_uin[p.spouse_uin.as_deref().expect("widow has a spouse")];
                let died = spouse.death_date.expect("widow's spouse is dead");
                assert!(died <= p.death_date.unwrap_or(TODAY));
                assert!(died <= TODAY);
            }
            _ => {}
        }
        if let Some(m) = &p.mother_uin {
            let mother = by_uin[m.as_str()];
            assert_eq!(mother.sex, "female");
            let at_birth = age_on(mother.birth_date, p.birth_date);
            assert!(
                (15..=49).contains(&at_birth),
                "mother aged {at_birth} at birth"
            );
            if let Some(died) = mother.death_date {
                assert!(died >= p.birth_date, "mother died before the birth");
                deceased_parents += 1;
            }
            with_mother += 1;
        }
        if let Some(f) = &p.father_uin {
            let father = by_uin[f.as_str()];
            assert_eq!(father.sex, "male");
            assert!(age_on(father.birth_date, p.birth_date) >= 15);
            if father.death_date.is_some() {
                deceased_parents += 1;
            }
            // Children and grandchildren carry their father's surname, dead or alive.
            if matches!(
                p.relationship_to_head.as_deref(),
                Some("SON" | "DAU" | "GRNDCHILD")
            ) {
                assert_eq!(p.surname, father.surname);
            }
        }
        if let Some(died) = p.death_date {
            assert!(p.household_id.is_none() && p.relationship_to_head.is_none());
            assert!(died <= TODAY && died >= p.birth_date);
        } else {
            assert!(p.birth_date <= TODAY);
            assert!(p.household_id.is_some() && p.relationship_to_head.is_some());
        }
    }
    assert!(
        with_mother > PEOPLE / 3,
        "{with_mother} persons with a mother"
    );
    assert!(
        deceased_parents > 100,
        "{deceased_parents} links to deceased parents"
    );
}

#[test]
fn codes_are_in_their_directories() {
    let pop = population();
    for p in &pop.persons {
        assert!(SEXES.contains(&p.sex.as_str()));
        assert!(MARITAL_STATUSES.contains(&p.marital_status.as_str()));
        if let Some(r) = &p.relationship_to_head {
            assert!(RELATIONSHIPS.contains(&r.as_str()), "{r}");
        }
        if let Some(e) = &p.education_level {
            assert!(EDUCATION_LEVELS.contains(&e.as_str()));
        }
        if let Some(e) = &p.employment_status {
            assert!(EMPLOYMENT_STATUSES.contains(&e.as_str()));
        }
        if p.death_date.is_none() {
            let a = age(p);
            assert_eq!(p.education_level.is_none(), a < 3, "education at {a}");
            assert_eq!(p.employment_status.is_some(), a >= 15, "employment at {a}");
            if a < 18 {
                assert_eq!(p.marital_status, "S");
            }
        }
    }
}

#[test]
fn distributions_are_plausible() {
    let pop = population();
    let living: Vec<&Person> = pop
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .collect();
    let share = |f: &dyn Fn(&Person) -> bool| {
        living.iter().filter(|p| f(p)).count() as f64 / living.len() as f64
    };
    let under_18 = share(&|p| age(p) < 18);
    let over_65 = share(&|p| age(p) >= 65);
    assert!((0.35..0.47).contains(&under_18), "under 18: {under_18}");
    assert!((0.04..0.09).contains(&over_65), "65+: {over_65}");

    let mean_size = pop
        .households
        .iter()
        .map(|h| f64::from(h.size))
        .sum::<f64>()
        / pop.households.len() as f64;
    assert!((4.2..4.8).contains(&mean_size), "mean size {mean_size}");
    let big = pop.households.iter().filter(|h| h.size >= 10).count();
    let single = pop.households.iter().filter(|h| h.size == 1).count();
    assert!(big > 0 && big * 10 < pop.households.len());
    assert!(single * 20 > pop.households.len());

    let rate = |sex: &str, lo: i32, hi: i32| {
        let band: Vec<_> = living
            .iter()
            .filter(|p| p.sex == sex && (lo..hi).contains(&age(p)))
            .collect();
        band.iter().filter(|p| p.marital_status == "W").count() as f64 / band.len() as f64
    };
    let widows = rate("female", 18, 200);
    assert!((0.03..0.15).contains(&widows), "widows {widows}");
    assert!(rate("female", 65, 200) > 4.0 * rate("female", 18, 45));
    assert!(rate("male", 18, 200) < widows);
    let married = share(&|p| age(p) >= 18 && p.marital_status == "M");
    assert!(married > share(&|p| age(p) >= 18) * 0.4);

    let disabled = share(&|p| p.is_disabled);
    let disabled_old = living
        .iter()
        .filter(|p| age(p) >= 65 && p.is_disabled)
        .count() as f64
        / living.iter().filter(|p| age(p) >= 65).count() as f64;
    assert!((0.01..0.07).contains(&disabled), "disabled {disabled}");
    assert!(
        (0.08..0.25).contains(&disabled_old),
        "disabled 65+ {disabled_old}"
    );

    // School-age children mostly at the level for their age, some behind.
    let primary: Vec<_> = living
        .iter()
        .filter(|p| (7..=10).contains(&age(p)))
        .collect();
    let in_primary = primary
        .iter()
        .filter(|p| p.education_level.as_deref() == Some("1"))
        .count() as f64
        / primary.len() as f64;
    assert!((0.8..0.99).contains(&in_primary), "primary {in_primary}");
    let teens: Vec<_> = living
        .iter()
        .filter(|p| (16..=17).contains(&age(p)))
        .collect();
    let behind = teens
        .iter()
        .filter(|p| p.education_level.as_deref() != Some("3"))
        .count();
    assert!(behind > 0 && behind < teens.len() / 2);

    let mut scores: Vec<f64> = pop.households.iter().map(|h| h.poverty_score).collect();
    scores.sort_by(f64::total_cmp);
    let q = |f: f64| scores[((scores.len() - 1) as f64 * f) as usize];
    let (p1, p10, p50, p90, p99) = (q(0.01), q(0.1), q(0.5), q(0.9), q(0.99));
    assert!((40.0..70.0).contains(&p50), "median {p50}");
    // A long poor tail: the poor end is further from the median than the rich end.
    assert!(p50 - p1 > p99 - p50, "p1 {p1} p50 {p50} p99 {p99}");
    assert!(p50 - p10 > p90 - p50, "p10 {p10} p50 {p50} p90 {p90}");

    // Larger households are poorer on average.
    let mean = |f: &dyn Fn(u32) -> bool| {
        let v: Vec<f64> = pop
            .households
            .iter()
            .filter(|h| f(h.size))
            .map(|h| h.poverty_score)
            .collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    assert!(mean(&|s| s >= 8) < mean(&|s| s <= 3));
}

#[test]
fn location_hierarchy_is_well_formed() {
    let pop = population();
    let by_code: HashMap<&str, &synth::Location> =
        pop.locations.iter().map(|l| (l.code.as_str(), l)).collect();
    assert_eq!(by_code.len(), pop.locations.len(), "codes are unique");
    let names: HashSet<_> = pop.locations.iter().map(|l| l.name.as_str()).collect();
    assert_eq!(names.len(), pop.locations.len(), "names are unique");
    let mut children: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &pop.locations {
        assert!((1..=3).contains(&l.level));
        assert!(!l.name.is_empty());
        match &l.parent {
            None => assert_eq!(l.level, 1),
            Some(parent) => {
                let parent = by_code[parent.as_str()];
                assert_eq!(parent.level + 1, l.level);
                assert!(l.code.starts_with(&format!("{}-", parent.code)));
                *children.entry(parent.code.as_str()).or_default() += 1;
            }
        }
    }
    let regions: Vec<_> = pop.locations.iter().filter(|l| l.level == 1).collect();
    assert_eq!(regions.len(), 10);
    for l in &pop.locations {
        let n = children.get(l.code.as_str()).copied().unwrap_or(0);
        match l.level {
            1 => assert!((4..=8).contains(&n), "{} has {n} districts", l.code),
            2 => assert!((3..=8).contains(&n), "{} has {n} sub-counties", l.code),
            _ => assert_eq!(n, 0),
        }
    }
    let mut per_region: HashMap<&str, usize> = HashMap::new();
    for h in &pop.households {
        assert_eq!(by_code[h.region_code.as_str()].level, 1);
        assert_eq!(
            by_code[h.district_code.as_str()].parent.as_deref(),
            Some(h.region_code.as_str())
        );
        assert_eq!(
            by_code[h.location_code.as_str()].parent.as_deref(),
            Some(h.district_code.as_str())
        );
        *per_region.entry(h.region_code.as_str()).or_default() += 1;
    }
    // Uneven: the largest region is several times the smallest.
    let (min, max) = (
        per_region.values().min().unwrap(),
        per_region.values().max().unwrap(),
    );
    assert!(*max > 3 * *min, "regions from {min} to {max} households");
}

#[test]
fn truncation_keeps_the_exact_count() {
    for people in [0, 1, 2, 7, 101] {
        let pop = synth::generate(&config(people, 5));
        let living = pop
            .persons
            .iter()
            .filter(|p| p.death_date.is_none())
            .count();
        assert_eq!(living, people);
        let sizes: u32 = pop.households.iter().map(|h| h.size).sum();
        assert_eq!(sizes as usize, people);
        assert_eq!(pop.locations.iter().filter(|l| l.level == 1).count(), 10);
    }
}

fn read_all(dir: &Path, ext: &str) -> Population {
    let households = synth::read_households(&dir.join(format!("households.{ext}")))
        .unwrap()
        .map(|row| row.unwrap().1)
        .collect();
    let persons = synth::read_persons(&dir.join(format!("persons.{ext}")))
        .unwrap()
        .map(|row| row.unwrap().1)
        .collect();
    let locations =
        serde_json::from_slice(&std::fs::read(dir.join("locations.json")).unwrap()).unwrap();
    Population {
        locations,
        households,
        persons,
    }
}

#[test]
fn write_then_read_round_trips() {
    let pop = synth::generate(&config(4_000, 77));
    for (format, ext) in [(Format::Csv, "csv"), (Format::JsonLines, "jsonl")] {
        let dir = scratch(&format!("round-trip-{ext}"));
        let paths = synth::write(&pop, &dir, format).unwrap();
        assert_eq!(
            paths,
            vec![
                dir.join("locations.json"),
                dir.join(format!("households.{ext}")),
                dir.join(format!("persons.{ext}"))
            ]
        );
        assert_eq!(read_all(&dir, ext), pop, "{ext}");
        // Line numbers: CSV data starts on line 2, JSON lines on line 1.
        let first_line = synth::read_persons(&paths[2])
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .0;
        assert_eq!(first_line, if ext == "csv" { 2 } else { 1 });
    }
}

#[test]
fn empty_population_round_trips() {
    let pop = synth::generate(&config(0, 1));
    let dir = scratch("empty");
    synth::write(&pop, &dir, Format::Csv).unwrap();
    assert_eq!(read_all(&dir, "csv"), pop);
}

#[test]
fn corrupted_csv_rows_are_reported_and_skipped() {
    let pop = synth::generate(&config(300, 3));
    let dir = scratch("corrupt");
    synth::write(&pop, &dir, Format::Csv).unwrap();
    let path = dir.join("persons.csv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    // Line 5: change the check digit of the UIN.
    let uin = &pop.persons[3].uin;
    let last = uin.as_bytes()[9];
    let bad_uin = format!(
        "{}{}",
        &uin[..9],
        if last == b'9' {
            '0'
        } else {
            char::from(last + 1)
        }
    );
    lines[4] = lines[4].replacen(uin.as_str(), &bad_uin, 1);
    // Line 9: an impossible birth date.
    let birth = pop.persons[7].birth_date.to_string();
    lines[8] = lines[8].replacen(&birth, "2001-02-30", 1);
    // Line 12: a missing field.
    lines[11] = lines[11].rsplit_once(',').unwrap().0.to_owned();
    // Line 15: a code outside the directory.
    let row = pop.persons[13].clone();
    lines[14] = lines[14].replacen(&format!(",{},", row.sex), ",F,", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();

    let rows: Vec<_> = synth::read_persons(&path).unwrap().collect();
    assert_eq!(rows.len(), pop.persons.len());
    let errors: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    let lines: Vec<u64> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![5, 9, 12, 15], "{errors:?}");
    assert!(errors[0].message.contains("uin"), "{}", errors[0]);
    assert!(errors[1].message.contains("birth_date"), "{}", errors[1]);
    assert!(errors[1].to_string().starts_with("line 9: "));
    assert!(errors[3].message.contains("sex"), "{}", errors[3]);
    for (i, row) in rows.iter().enumerate() {
        if let Ok((line, person)) = row {
            assert_eq!(*line, i as u64 + 2);
            assert_eq!(person, &pop.persons[i]);
        }
    }
}

#[test]
fn corrupted_rows_in_other_files_are_reported() {
    let pop = synth::generate(&config(300, 4));
    let dir = scratch("corrupt-jsonl");
    synth::write(&pop, &dir, Format::JsonLines).unwrap();
    let path = dir.join("households.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[2] = "{not json".to_owned();
    let score = format!("\"poverty_score\":{:?}", pop.households[5].poverty_score);
    assert!(lines[5].contains(&score), "{}", lines[5]);
    lines[5] = lines[5].replace(&score, "\"poverty_score\":140.5");
    lines.insert(7, String::new());
    std::fs::write(&path, lines.join("\n")).unwrap();
    let rows: Vec<_> = synth::read_households(&path).unwrap().collect();
    assert_eq!(
        rows.len(),
        pop.households.len(),
        "the blank line is skipped"
    );
    let errors: Vec<_> = rows.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        errors.iter().map(|e| e.line).collect::<Vec<_>>(),
        vec![3, 6]
    );
    assert!(errors[1].message.contains("poverty_score"));
    let last = rows.last().unwrap().as_ref().unwrap();
    assert_eq!(last.0, pop.households.len() as u64 + 1);

    let missing = synth::read_persons(&dir.join("nothing.csv")).err().unwrap();
    assert_eq!(missing.line, 0);
    assert!(synth::read_persons(&dir.join("locations.json")).is_err());

    let csv = dir.join("bad-header.csv");
    std::fs::write(&csv, "uin,given_name\n1234567890,Ann\n").unwrap();
    let error = synth::read_persons(&csv).err().unwrap();
    assert_eq!(error.line, 1);
    assert!(error.message.contains("surname"));
}
