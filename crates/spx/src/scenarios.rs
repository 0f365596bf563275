//! The scenarios of `usecases.md` against the sandbox's services: run by `spx sandbox` after
//! its demonstrations, and one by one by `spx scenario UC-05` against a running sandbox.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Args;
use client::Client;
use scenario::{Outcome, Scenario, Timeline, Truth, World};

use crate::config::Config;
use crate::sandbox::{Addresses, Marker, SENDER};

/// Options of `spx scenario`.
#[derive(Debug, Args)]
pub struct ScenarioArgs {
    /// The scenarios to run (`UC-05`, `uc5`); every one when none is named.
    pub ids: Vec<String>,
    /// The running sandbox's data directory (its population, client secret and SP-MIS store).
    #[arg(long, default_value = "spx-sandbox")]
    pub data_dir: PathBuf,
    #[command(flatten)]
    pub at: Addresses,
}

/// The sandbox's SP-MIS, running the shipped programmes with its store in the data directory,
/// asking the registries at `bases` as the sandbox's participant (`secret`): the SP-MIS and its
/// registries' clients.
pub async fn sp_mis(
    config: &Config,
    bases: &Bases,
    secret: &str,
) -> Result<(mis::Mis, mis::Registries)> {
    let client = |base: &str, role: &str| {
        Client::new(base, SENDER, Some(&config.service_id(role))).with_credentials(SENDER, secret)
    };
    let registries = mis::Registries {
        crvs: client(&bases.crvs, "crvs"),
        id: client(&bases.id, "id"),
        social: client(&bases.social, "social"),
        ibr: client(&bases.ibr, "ibr"),
        fr: client(&bases.fr, "fr"),
        pay: client(&bases.pay, pay::ROLE),
    };
    let store = store::open(&config.store("mis"), mis::store::MIGRATIONS).await?;
    let mis = mis::Mis::open(mis::programme::shipped()?, store, registries.clone()).await?;
    Ok((mis, registries))
}

/// Where the sandbox's registries answer.
pub struct Bases {
    /// The social registry.
    pub social: String,
    /// The civil registry.
    pub crvs: String,
    /// The foundational identity registry.
    pub id: String,
    /// The integrated beneficiary registry.
    pub ibr: String,
    /// The farmer registry.
    pub fr: String,
    /// The payments service.
    pub pay: String,
}

impl Bases {
    /// The registries at `at`'s addresses.
    fn at(at: &Addresses) -> Self {
        let base = |listen: &str| format!("http://{listen}");
        Bases {
            social: base(&at.listen),
            crvs: base(&at.crvs_listen),
            id: base(&at.id_listen),
            ibr: base(&at.ibr_listen),
            fr: base(&at.fr_listen),
            pay: base(&at.pay_listen),
        }
    }
}

/// Runs `scenarios` in order, printing their timeline and a summary; the outcomes.
pub async fn play(
    scenarios: &[&Scenario],
    truth: &Truth,
    mis: &mis::Mis,
    registries: &mis::Registries,
) -> Result<Vec<Outcome>> {
    let timeline = Timeline::printing();
    let world = World {
        truth,
        mis,
        registries,
        timeline: &timeline,
    };
    let mut outcomes = Vec::with_capacity(scenarios.len());
    for scenario in scenarios {
        outcomes.push(scenario.run(&world).await?);
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| o.id)
        .collect();
    let took: f64 = outcomes.iter().map(|o| o.took.as_secs_f64()).sum();
    if failed.is_empty() {
        println!(
            "[scenarios] all {} scenarios passed in {took:.1} s",
            outcomes.len()
        );
    } else {
        println!(
            "[scenarios] {} of {} scenarios FAILED: {}",
            failed.len(),
            outcomes.len(),
            failed.join(", ")
        );
    }
    Ok(outcomes)
}

/// Whether every outcome passed, as an error naming those that did not.
pub fn passed(outcomes: &[Outcome]) -> Result<()> {
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.passed())
        .map(|o| format!("{}:\n{}", o.id, o.failures()))
        .collect();
    if !failed.is_empty() {
        bail!("scenarios failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// `spx scenario`: the scenarios named, against the sandbox running on `args.data_dir`.
pub async fn run(args: ScenarioArgs, mut config: Config) -> Result<()> {
    let scenarios = chosen(&args.ids)?;
    config.service.data_dir = args.data_dir.clone();
    let marker = Marker::read(&args.data_dir)?.with_context(|| {
        format!(
            "no sandbox in {}: start one with `spx sandbox` first",
            args.data_dir.display()
        )
    })?;
    let secret = client_secret(&args.data_dir)?;
    let truth = Truth::new(synth::Dataset::generate(&marker.population()?));
    let (mis, registries) = sp_mis(&config, &Bases::at(&args.at), &secret).await?;
    let outcomes = play(&scenarios, &truth, &mis, &registries).await?;
    passed(&outcomes)
}

/// The scenarios `ids` name, or every one.
fn chosen(ids: &[String]) -> Result<Vec<&'static Scenario>> {
    if ids.is_empty() {
        return Ok(scenario::all().iter().collect());
    }
    ids.iter()
        .map(|id| {
            scenario::find(id).with_context(|| {
                let known: Vec<&str> = scenario::all().iter().map(|s| s.id).collect();
                format!("no scenario '{id}'; there are {}", known.join(", "))
            })
        })
        .collect()
}

/// The client secret the sandbox wrote in `dir`.
fn client_secret(dir: &Path) -> Result<String> {
    let file = dir.join("client-secret.txt");
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {}: is the sandbox running?", file.display()))?;
    Ok(text.trim().to_string())
}
