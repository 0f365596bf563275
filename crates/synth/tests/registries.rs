//! The disability and farmer registries' views of the population: who is in them, plausible
//! shares, consistency with the persons, determinism, and the files' round trip.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use synth::disability::{self, Disability};
use synth::farming::{self, Farms};
use synth::{Config, Format, Person, Population};
use time::Date;
use time::macros::date;

const TODAY: Date = date!(2025 - 06 - 30);

fn population() -> &'static Population {
    static POPULATION: OnceLock<Population> = OnceLock::new();
    POPULATION.get_or_init(|| {
        synth::generate(&Config {
            people: 20_000,
            seed: 2024,
            today: TODAY,
        })
    })
}

fn age(p: &Person) -> i32 {
    let mut years = TODAY.year() - p.birth_date.year();
    if (TODAY.month() as u8, TODAY.day()) < (p.birth_date.month() as u8, p.birth_date.day()) {
        years -= 1;
    }
    years
}

fn living() -> Vec<&'static Person> {
    population()
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .collect()
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("registries-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_disabled_are_registered_and_certified_consistently() {
    let pop = population();
    let registrations = disability::registrations(pop, TODAY);
    assert_eq!(
        registrations,
        disability::registrations(&pop.clone(), TODAY),
        "deterministic"
    );
    let by_uin: HashMap<&str, &Person> = pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let mut dcns = HashSet::new();
    let mut registered = HashSet::new();
    for d in &registrations {
        let person = by_uin[d.uin.as_str()];
        assert!(person.death_date.is_none(), "only the living");
        assert!(dcns.insert(d.dcn.as_str()) && registered.insert(d.uin.as_str()));
        assert_eq!(d.dcn, disability::dcn(&d.uin, d.application_date));
        assert!(d.application_date > person.birth_date && d.application_date <= TODAY);
        let worst = d.difficulties.iter().map(|x| x.severity).max().unwrap();
        match d.status.as_str() {
            disability::REJECTED => {
                assert!(!person.is_disabled && worst == 2 && d.supports.is_empty());
                assert!(d.disability_level.is_none() && d.expiry_date.is_none());
            }
            status => {
                assert!(person.is_disabled && worst >= 3, "{d:?}");
                let certified = status != disability::PENDING;
                assert_eq!(d.disability_level.is_some(), certified, "{d:?}");
                assert_eq!(d.expiry_date.is_some(), certified, "{d:?}");
                if let Some(expiry) = d.expiry_date {
                    assert_eq!(expiry > TODAY, status == disability::APPROVED, "{d:?}");
                }
            }
        }
    }
    // Every person the population marks disabled is registered, once a month old.
    let disabled: Vec<&Person> = living()
        .into_iter()
        .filter(|p| p.is_disabled && p.birth_date + time::Duration::days(30) < TODAY)
        .collect();
    assert!(disabled.iter().all(|p| registered.contains(p.uin.as_str())));
    let share = |filter: &dyn Fn(&Disability) -> bool| {
        registrations.iter().filter(|d| filter(d)).count() as f64 / registrations.len() as f64
    };
    let approved = share(&|d| d.status == disability::APPROVED);
    assert!((0.7..0.9).contains(&approved), "approved {approved}");
    assert!(share(&|d| d.status == disability::REJECTED) > 0.02);
    assert!(share(&|d| d.status == disability::PENDING) > 0.05);
    assert!(share(&|d| d.status == disability::EXPIRED) > 0.05);
    assert!(share(&|d| !d.supports.is_empty()) > 0.5);
    // More among the old; mobility the commonest difficulty of the old, cognition and
    // communication of children.
    let rate = |lo: i32, hi: i32| {
        let group: Vec<_> = living()
            .into_iter()
            .filter(|p| (lo..hi).contains(&age(p)))
            .collect();
        group.iter().filter(|p| p.is_disabled).count() as f64 / group.len() as f64
    };
    assert!(
        rate(65, 200) > 3.0 * rate(0, 45),
        "{} {}",
        rate(65, 200),
        rate(0, 45)
    );
    let primary = |lo: i32, hi: i32, domain: &str| {
        registrations
            .iter()
            .filter(|d| (lo..hi).contains(&age(by_uin[d.uin.as_str()])))
            .filter(|d| d.difficulties[0].domain == domain)
            .count()
    };
    assert!(primary(60, 200, "MOB_SS") > primary(60, 200, "COM_SS"));
    assert!(primary(0, 15, "COG_SS") > primary(0, 15, "HEAR_SS"));
}

#[test]
fn a_quarter_of_rural_adults_farm_small_plots_near_home() {
    let pop = population();
    let farms = farming::farms(pop, TODAY);
    assert_eq!(farms, farming::farms(&pop.clone(), TODAY), "deterministic");
    let by_uin: HashMap<&str, &Person> = pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let households: HashMap<&str, &synth::Household> = pop
        .households
        .iter()
        .map(|h| (h.household_id.as_str(), h))
        .collect();
    let mut fids = HashSet::new();
    for f in &farms.farmers {
        let person = by_uin[f.uin.as_str()];
        assert!(person.death_date.is_none() && age(person) >= 18);
        assert_eq!(
            person.household_id.as_deref(),
            Some(f.household_id.as_str())
        );
        assert!(fids.insert(f.fid.as_str()));
        assert!(f.registration_date < TODAY);
    }
    let farmer_of: HashMap<&str, &synth::farming::Farmer> =
        farms.farmers.iter().map(|f| (f.fid.as_str(), f)).collect();
    let mut lpis = HashSet::new();
    let mut total: HashMap<&str, f64> = HashMap::new();
    for p in &farms.parcels {
        assert!(lpis.insert(p.lpi.as_str()) && p.lpi.starts_with(&p.fid));
        let farmer = farmer_of[p.fid.as_str()];
        let home = households[farmer.household_id.as_str()];
        assert!(
            p.location_code
                .starts_with(&format!("{}-", home.district_code))
        );
        assert!(!p.crops.is_empty() && p.land_size > 0.0);
        *total.entry(p.fid.as_str()).or_default() += p.land_size;
    }
    assert_eq!(total.len(), farms.farmers.len(), "every farmer has land");

    let adults = |urban: bool| -> Vec<&Person> {
        living()
            .into_iter()
            .filter(|p| age(p) >= 18)
            .filter(|p| {
                let home = households[p.household_id.as_deref().unwrap()];
                farming::is_urban(&home.location_code) == urban
            })
            .collect()
    };
    let farming = |group: &[&Person]| {
        group
            .iter()
            .filter(|p| farms.farmers.iter().any(|f| f.uin == p.uin))
            .count() as f64
            / group.len() as f64
    };
    let (rural, urban) = (farming(&adults(false)), farming(&adults(true)));
    assert!(
        (0.2..0.32).contains(&rural),
        "rural adults farming: {rural}"
    );
    assert!(urban < 0.05, "urban adults farming: {urban}");
    let small = total.values().filter(|ha| **ha < 2.0).count() as f64 / total.len() as f64;
    assert!((0.65..0.95).contains(&small), "under 2 ha: {small}");
    let maize = farms
        .parcels
        .iter()
        .filter(|p| p.crops.iter().any(|c| c == "maize"))
        .count() as f64
        / farms.parcels.len() as f64;
    assert!((0.3..0.7).contains(&maize), "maize on {maize} of parcels");
    let keep_animals = farms
        .farmers
        .iter()
        .filter(|f| !f.livestock.is_empty())
        .count() as f64
        / farms.farmers.len() as f64;
    assert!(
        (0.4..0.9).contains(&keep_animals),
        "keep animals: {keep_animals}"
    );
}

#[test]
fn files_round_trip_in_both_formats() {
    let pop = synth::generate(&Config {
        people: 3_000,
        seed: 5,
        today: TODAY,
    });
    let registrations = disability::registrations(&pop, TODAY);
    let farms: Farms = farming::farms(&pop, TODAY);
    assert!(!registrations.is_empty() && !farms.parcels.is_empty());
    for format in [Format::Csv, Format::JsonLines] {
        let dir = scratch(format.extension());
        let path = synth::write_disabilities(&registrations, &dir, format).unwrap();
        let read: Vec<Disability> = synth::read_disabilities(&path)
            .unwrap()
            .map(|row| row.unwrap().1)
            .collect();
        assert_eq!(read, registrations, "{format:?}");
        let paths = synth::write_farms(&farms, &dir, format).unwrap();
        let farmers: Vec<_> = synth::read_farmers(&paths[0])
            .unwrap()
            .map(|row| row.unwrap().1)
            .collect();
        let parcels: Vec<_> = synth::read_parcels(&paths[1])
            .unwrap()
            .map(|row| row.unwrap().1)
            .collect();
        assert_eq!(
            (farmers, parcels),
            (farms.farmers.clone(), farms.parcels.clone())
        );
    }
    // A bad row names its line and field; the rows after it are still read.
    let dir = scratch("bad");
    let path = dir.join("parcels.csv");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &path,
        "lpi,fid,location_code,land_size,land_tenure,crops,irrigated,registration_date\n\
         1-1,1,R01-D02-S03,0.5,1,maize;tobacco,false,2024-01-01\n\
         1-2,1,R01-D02-S03,0.5,1,maize;beans,false,2024-01-01\n",
    )
    .unwrap();
    let rows: Vec<_> = synth::read_parcels(&path).unwrap().collect();
    assert_eq!(
        rows[0].as_ref().unwrap_err().to_string(),
        "line 2: crops: `tobacco` is not a crop of the directory"
    );
    assert_eq!(rows[1].as_ref().unwrap().1.crops, ["maize", "beans"]);
}

#[test]
fn about_one_in_twenty_is_disabled_and_the_registry_holds_them() {
    let living = living();
    let disabled = living.iter().filter(|p| p.is_disabled).count() as f64 / living.len() as f64;
    assert!((0.045..0.08).contains(&disabled), "disabled {disabled}");
    let registered =
        disability::registrations(population(), TODAY).len() as f64 / living.len() as f64;
    assert!(
        registered > disabled && registered < disabled + 0.01,
        "registered {registered}"
    );
}

/// The beneficiary registry's view: programmes reach those they are meant for (not all of
/// them), some people draw two cash benefits, some deaths never reached a programme, and
/// only active enrolments are paid.
#[test]
fn programmes_cover_part_of_those_they_are_for_with_duplicates_and_missed_deaths() {
    use synth::benefits::{self, ACTIVE, DECEASED};
    let pop = population();
    let result = benefits::benefits(pop, TODAY);
    let persons: HashMap<&str, &Person> = pop.persons.iter().map(|p| (p.uin.as_str(), p)).collect();
    let households: HashSet<&str> = pop
        .households
        .iter()
        .map(|h| h.household_id.as_str())
        .collect();
    let catalogue = benefits::programmes();
    let mut per_programme: HashMap<&str, usize> = HashMap::new();
    let mut cash: HashMap<&str, HashSet<&str>> = HashMap::new();
    for e in &result.enrolments {
        *per_programme.entry(e.programme.as_str()).or_default() += 1;
        let person = persons[e.uin.as_str()];
        if e.assistance_unit == "2" {
            assert!(households.contains(e.beneficiary_id.as_str()), "{e:?}");
        } else {
            assert_eq!(e.beneficiary_id, e.uin);
        }
        let age_then = {
            let on = person.death_date.unwrap_or(TODAY);
            on.year()
                - person.birth_date.year()
                - i32::from(
                    (on.month() as u8, on.day())
                        < (person.birth_date.month() as u8, person.birth_date.day()),
                )
        };
        match e.programme.as_str() {
            "OAA" => assert!(age_then >= 65, "{e:?}"),
            "CB" => assert!(age_then < 6, "{e:?}"),
            "WA" => assert_eq!(person.marital_status, "W"),
            _ => {}
        }
        assert!(e.enrolment_date <= TODAY && e.enrolment_date >= person.birth_date);
        if person.death_date.is_some() {
            assert!(e.status == DECEASED || e.status == ACTIVE, "{e:?}");
        }
        if e.status == ACTIVE
            && catalogue
                .iter()
                .any(|p| p.code == e.programme && p.benefit_type == "1")
        {
            cash.entry(e.beneficiary_id.as_str())
                .or_default()
                .insert(e.programme.as_str());
        }
    }
    for programme in &catalogue {
        assert!(
            per_programme
                .get(programme.code.as_str())
                .copied()
                .unwrap_or(0)
                > 0,
            "{} is empty",
            programme.code
        );
    }
    // Old-age allowance covers about three in four of those 65 or more.
    let elderly = living().iter().filter(|p| age(p) >= 65).count();
    let oaa_living = result
        .enrolments
        .iter()
        .filter(|e| e.programme == "OAA" && persons[e.uin.as_str()].death_date.is_none())
        .count();
    let share = oaa_living as f64 / elderly as f64;
    assert!(
        (0.65..0.85).contains(&share),
        "OAA covers {share:.2} of the elderly"
    );
    let duplicates = cash
        .values()
        .filter(|programmes| programmes.len() > 1)
        .count();
    assert!(duplicates > 0, "someone draws two cash benefits");
    assert!(cash.values().all(|p| p.len() < 4));
    let missed_deaths = result
        .enrolments
        .iter()
        .filter(|e| {
            e.status == ACTIVE
                && persons[e.uin.as_str()].death_date.is_some()
                && e.assistance_unit == "1"
        })
        .count();
    let recorded_deaths = result
        .enrolments
        .iter()
        .filter(|e| e.status == DECEASED)
        .count();
    assert!(
        missed_deaths > 0 && recorded_deaths > 2 * missed_deaths,
        "{missed_deaths} missed, {recorded_deaths} recorded"
    );
    // Benefits: only active enrolments are paid, once per cycle, about 3 % failing.
    let active: HashSet<(&str, &str)> = result
        .enrolments
        .iter()
        .filter(|e| e.status == ACTIVE)
        .map(|e| (e.programme.as_str(), e.beneficiary_id.as_str()))
        .collect();
    let mut ids = HashSet::new();
    for b in &result.benefits {
        assert!(
            active.contains(&(b.programme.as_str(), b.beneficiary_id.as_str())),
            "{b:?}"
        );
        assert!(ids.insert(b.benefit_id.as_str()), "{} twice", b.benefit_id);
        assert_eq!(b.benefit_date.day(), 1);
    }
    let failed = result
        .benefits
        .iter()
        .filter(|b| b.payment_status == "2")
        .count() as f64;
    let rate = failed / result.benefits.len() as f64;
    assert!((0.01..0.06).contains(&rate), "failure rate {rate:.3}");
    assert_eq!(result, benefits::benefits(pop, TODAY), "deterministic");
    // The files round trip.
    for format in [Format::Csv, Format::JsonLines] {
        let dir = scratch(&format!("ibr-{}", format.extension()));
        let paths = synth::write_benefits(&catalogue, &result, &dir, format).unwrap();
        assert_eq!(synth::read_programmes(&paths[0]).unwrap(), catalogue);
        let enrolments: Vec<_> = synth::read_enrolments(&paths[1])
            .unwrap()
            .map(|r| r.unwrap().1)
            .collect();
        let paid: Vec<_> = synth::read_benefits(&paths[2])
            .unwrap()
            .map(|r| r.unwrap().1)
            .collect();
        assert_eq!(
            (enrolments, paid),
            (result.enrolments.clone(), result.benefits.clone()),
            "{format:?}"
        );
    }
}
