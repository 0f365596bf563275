//! The scenarios of `usecases.md` (the `scenario` crate, which `spx sandbox` also runs), each
//! on each backend: the registries and the SP-MIS as separate HTTP services loaded with the
//! shared population, every check of the scenario passing.

use std::sync::OnceLock;

use anyhow::{Context, Result, ensure};
use scenario::{Timeline, Truth, World};

use crate::mis::shipped;
use crate::support::{Backend, fixture, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    ("scenario::uc01_old_age_allowance", uc01),
    ("scenario::uc03_widow_allowance", uc03),
];

fn uc01(backend: Backend) -> Result<()> {
    play("UC-01", backend)
}

fn uc03(backend: Backend) -> Result<()> {
    play("UC-03", backend)
}

fn truth() -> &'static Truth {
    static TRUTH: OnceLock<Truth> = OnceLock::new();
    TRUTH.get_or_init(|| Truth::new(fixture().data.clone()))
}

/// Runs scenario `id` against fresh services on `backend`; fails with the failed checks and
/// the timeline.
fn play(id: &str, backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let scenario = scenario::find(id).with_context(|| format!("no scenario {id}"))?;
        let (_registers, sp) = shipped(backend).await?;
        let timeline = Timeline::kept();
        let world = World {
            truth: truth(),
            mis: &sp.mis,
            registries: &sp.registries,
            timeline: &timeline,
        };
        let outcome = scenario.run(&world).await?;
        ensure!(
            outcome.passed(),
            "{}\n\ntimeline:\n{}",
            outcome.failures(),
            timeline.lines().join("\n")
        );
        Ok(())
    })
}
