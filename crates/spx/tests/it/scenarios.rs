//! The scenarios of `usecases.md` (the `scenario` crate, which `spx sandbox` also runs), each
//! on each backend: the registries and the SP-MIS as separate HTTP services loaded with the
//! shared population, every check of the scenario passing.

use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use scenario::{Timeline, Truth, World};

use crate::mis::MIS;
use crate::mis_events::events_of;
use crate::support::{Backend, fixture, runtime, serve_until_stopped};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    ("scenario::uc01_old_age_allowance", uc01),
    ("scenario::uc02_stop_on_death", uc02),
    ("scenario::uc03_widow_allowance", uc03),
    ("scenario::uc04_child_benefit_by_brn", uc04),
    ("scenario::uc05_proactive_child_benefit", uc05),
    ("scenario::uc06_cash_transfer_pilot", uc06),
    ("scenario::uc07_widow_allowance_pilot", uc07),
    ("scenario::uc08_education_transfer_conditions", uc08),
    ("scenario::uc09_lactating_mothers_transfer", uc09),
    ("scenario::uc10_disability_allowance", uc10),
    ("scenario::uc11_education_transfer_gaps", uc11),
    ("scenario::uc12_ibr_programmes_and_payments", uc12),
    ("scenario::uc13_education_transfer_reconciled", uc13),
    ("scenario::uc14_farmer_support_pilot", uc14),
];

fn uc01(backend: Backend) -> Result<()> {
    play("UC-01", 1, backend)
}

fn uc02(backend: Backend) -> Result<()> {
    play("UC-02", 2, backend)
}

fn uc03(backend: Backend) -> Result<()> {
    play("UC-03", 1, backend)
}

fn uc04(backend: Backend) -> Result<()> {
    play("UC-04", 1, backend)
}

fn uc05(backend: Backend) -> Result<()> {
    play("UC-05", 2, backend)
}

fn uc06(backend: Backend) -> Result<()> {
    play("UC-06", 2, backend)
}

fn uc07(backend: Backend) -> Result<()> {
    play("UC-07", 2, backend)
}

fn uc08(backend: Backend) -> Result<()> {
    play("UC-08", 2, backend)
}

fn uc09(backend: Backend) -> Result<()> {
    play("UC-09", 2, backend)
}

fn uc10(backend: Backend) -> Result<()> {
    play("UC-10", 2, backend)
}

fn uc11(backend: Backend) -> Result<()> {
    play("UC-11", 2, backend)
}

fn uc12(backend: Backend) -> Result<()> {
    play("UC-12", 2, backend)
}

fn uc13(backend: Backend) -> Result<()> {
    play("UC-13", 2, backend)
}

fn uc14(backend: Backend) -> Result<()> {
    play("UC-14", 2, backend)
}

/// The population's ground truth, shared by the scenarios and the SP-MIS's tests.
pub(crate) fn truth() -> &'static Truth {
    static TRUTH: OnceLock<Truth> = OnceLock::new();
    TRUTH.get_or_init(|| Truth::new(fixture().data.clone()))
}

/// Runs scenario `id` against fresh services on `backend` (the registries, the payments
/// service publishing its receipts to the IBR, and the SP-MIS subscribed to the civil
/// registry's deaths and births and the disability registry's certifications), `runs` times: a pilot's second run, on the same
/// services, finds everything done already and must pass as well. Fails with the failed checks and the
/// timeline.
fn play(id: &str, runs: usize, backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let scenario = scenario::find(id).with_context(|| format!("no scenario {id}"))?;
        let services = crate::mis_cycles::World::spawn(backend).await?;
        let sp = services
            .mis(backend, MIS, mis::programme::shipped()?)
            .await?;
        let registries = services.registries(MIS);
        // The SP-MIS takes the civil registry's notifications of deaths and births, and the
        // disability registry's of certifications.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let events = events_of(&sp.mis, &format!("http://{}", listener.local_addr()?));
        let (_stop, _server) = serve_until_stopped(events.router(), listener);
        events.subscribe().await?;
        events.subscribe_births().await?;
        events.subscribe_certifications().await?;
        let timeline = Timeline::kept();
        let world = World {
            truth: truth(),
            mis: &sp.mis,
            registries: &registries,
            timeline: &timeline,
        };
        for _ in 0..runs {
            let outcome = scenario.run(&world).await?;
            ensure!(
                outcome.passed(),
                "{}\n\ntimeline:\n{}",
                outcome.failures(),
                timeline.lines().join("\n")
            );
        }
        Ok(())
    })
}
