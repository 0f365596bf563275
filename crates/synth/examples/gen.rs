//! Generates a population, writes it, and prints timings and distribution facts.
//!
//! `cargo run --release -p synth --example gen -- [people] [seed] [out-dir] [csv|jsonl]`

use std::collections::BTreeMap;
use std::time::Instant;

use synth::{Config, Format, Person};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let people = args
        .get(1)
        .map_or(1_000_000, |a| a.parse().expect("people"));
    let seed = args.get(2).map_or(42, |a| a.parse().expect("seed"));
    let out = args
        .get(3)
        .map_or_else(|| std::env::temp_dir().join("synth-gen"), Into::into);
    let format = match args.get(4).map(String::as_str) {
        Some("jsonl") => Format::JsonLines,
        _ => Format::Csv,
    };
    let today = time::macros::date!(2025 - 06 - 30);
    let config = Config {
        people,
        seed,
        today,
    };

    let started = Instant::now();
    let population = synth::generate(&config);
    let generated = started.elapsed();
    let paths = synth::write(&population, &out, format).expect("write");
    let total = started.elapsed();
    println!(
        "generate {:.2?}, write {:.2?}, total {:.2?} ({} households, {} person rows)",
        generated,
        total - generated,
        total,
        population.households.len(),
        population.persons.len()
    );
    for path in &paths {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        println!("  {} {:.1} MB", path.display(), len as f64 / 1e6);
    }
    let started = Instant::now();
    let (mut rows, mut errors) = (0usize, 0usize);
    for row in synth::read_persons(&paths[2]).expect("open persons") {
        match row {
            Ok(_) => rows += 1,
            Err(_) => errors += 1,
        }
    }
    println!(
        "read back {rows} persons ({errors} errors) in {:.2?}",
        started.elapsed()
    );

    let age = |p: &Person| (today - p.birth_date).whole_days() as f64 / 365.2425;
    let living: Vec<&Person> = population
        .persons
        .iter()
        .filter(|p| p.death_date.is_none())
        .collect();
    let n = living.len() as f64;
    let pct = |count: usize| 100.0 * count as f64 / n;
    println!(
        "living {}, deceased {}",
        living.len(),
        population.persons.len() - living.len()
    );
    let sizes: Vec<u32> = population.households.iter().map(|h| h.size).collect();
    let mean = sizes.iter().map(|&s| f64::from(s)).sum::<f64>() / sizes.len() as f64;
    let mut size_hist = BTreeMap::new();
    for s in &sizes {
        *size_hist.entry(*s).or_insert(0usize) += 1;
    }
    println!("household size mean {mean:.2}; histogram %:");
    for (s, c) in &size_hist {
        print!(" {s}:{:.1}", 100.0 * *c as f64 / sizes.len() as f64);
    }
    println!();
    println!(
        "under 18 {:.1}%, 65+ {:.1}%",
        pct(living.iter().filter(|p| age(p) < 18.0).count()),
        pct(living.iter().filter(|p| age(p) >= 65.0).count())
    );
    let mut pyramid = [0usize; 11];
    for p in &living {
        pyramid[((age(p) / 10.0) as usize).min(10)] += 1;
    }
    print!("age by decade %:");
    for (i, c) in pyramid.iter().enumerate() {
        print!(" {}0s:{:.1}", i, pct(*c));
    }
    println!();
    for sex in ["female", "male"] {
        let adults: Vec<&&Person> = living
            .iter()
            .filter(|p| p.sex == sex && age(p) >= 18.0)
            .collect();
        let w = adults.iter().filter(|p| p.marital_status == "W").count();
        print!(
            "{sex} adults widowed {:.1}%;",
            100.0 * w as f64 / adults.len() as f64
        );
        for (lo, hi) in [
            (18.0, 30.0),
            (30.0, 45.0),
            (45.0, 60.0),
            (60.0, 75.0),
            (75.0, 200.0),
        ] {
            let band: Vec<_> = adults
                .iter()
                .filter(|p| (lo..hi).contains(&age(p)))
                .collect();
            let w = band.iter().filter(|p| p.marital_status == "W").count();
            print!(
                " {lo}-{hi}:{:.1}",
                100.0 * w as f64 / band.len().max(1) as f64
            );
        }
        println!();
    }
    let mut marital = BTreeMap::new();
    for p in living.iter().filter(|p| age(p) >= 18.0) {
        *marital.entry(p.marital_status.as_str()).or_insert(0usize) += 1;
    }
    println!("adult marital statuses: {marital:?}");
    let mut scores: Vec<f64> = population
        .households
        .iter()
        .map(|h| h.poverty_score)
        .collect();
    scores.sort_by(f64::total_cmp);
    let q = |f: f64| scores[((scores.len() - 1) as f64 * f) as usize];
    println!(
        "poverty score p1 {:.2} p5 {:.2} p10 {:.2} p25 {:.2} p50 {:.2} p75 {:.2} p90 {:.2} p99 {:.2}",
        q(0.01),
        q(0.05),
        q(0.10),
        q(0.25),
        q(0.5),
        q(0.75),
        q(0.9),
        q(0.99)
    );
    let mut regions: BTreeMap<&str, (usize, f64)> = BTreeMap::new();
    for h in &population.households {
        let e = regions.entry(h.region_code.as_str()).or_default();
        e.0 += 1;
        e.1 += h.poverty_score;
    }
    print!("regions (share %, mean score):");
    for (r, (c, s)) in &regions {
        print!(
            " {r}:{:.1}/{:.1}",
            100.0 * *c as f64 / sizes.len() as f64,
            s / *c as f64
        );
    }
    println!();
    let mut by_size: BTreeMap<u32, (usize, f64)> = BTreeMap::new();
    for h in &population.households {
        let e = by_size.entry(h.size).or_default();
        e.0 += 1;
        e.1 += h.poverty_score;
    }
    print!("mean score by size:");
    for (s, (c, t)) in &by_size {
        print!(" {s}:{:.1}", t / *c as f64);
    }
    println!();
    let old: Vec<_> = living.iter().filter(|p| age(p) >= 65.0).collect();
    println!(
        "disabled {:.1}% (65+: {:.1}%), phone {:.1}% of 18+",
        pct(living.iter().filter(|p| p.is_disabled).count()),
        100.0 * old.iter().filter(|p| p.is_disabled).count() as f64 / old.len().max(1) as f64,
        100.0
            * living
                .iter()
                .filter(|p| age(p) >= 18.0 && p.phone_number.is_some())
                .count() as f64
            / living.iter().filter(|p| age(p) >= 18.0).count() as f64
    );
    let mut rel = BTreeMap::new();
    for p in &living {
        *rel.entry(p.relationship_to_head.as_deref().unwrap_or(""))
            .or_insert(0usize) += 1;
    }
    println!("relationships: {rel:?}");
    let mut edu = BTreeMap::new();
    for p in living.iter().filter(|p| age(p) >= 25.0) {
        *edu.entry(p.education_level.as_deref().unwrap_or(""))
            .or_insert(0usize) += 1;
    }
    println!("education 25+: {edu:?}");
    let school: Vec<_> = living
        .iter()
        .filter(|p| (6.0..18.0).contains(&age(p)))
        .collect();
    let mut by_age: BTreeMap<u32, BTreeMap<&str, usize>> = BTreeMap::new();
    for p in &school {
        *by_age
            .entry(age(p) as u32)
            .or_default()
            .entry(p.education_level.as_deref().unwrap_or(""))
            .or_insert(0) += 1;
    }
    println!("education by school age: {by_age:?}");
    let mut emp = BTreeMap::new();
    for p in living.iter().filter(|p| age(p) >= 15.0) {
        *emp.entry(p.employment_status.as_deref().unwrap_or(""))
            .or_insert(0usize) += 1;
    }
    println!("employment 15+: {emp:?}");
    let heads: Vec<_> = living
        .iter()
        .filter(|p| p.relationship_to_head.as_deref() == Some("SELF"))
        .collect();
    let mut head_ages = [0usize; 10];
    for p in &heads {
        head_ages[((age(p) / 10.0) as usize).min(9)] += 1;
    }
    println!(
        "heads: female {:.1}%, age by decade {:?}",
        100.0 * heads.iter().filter(|p| p.sex == "female").count() as f64 / heads.len() as f64,
        head_ages
    );
}
