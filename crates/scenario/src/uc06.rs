//! UC-06, unconditional cash transfer to poor households: the SP-MIS searches the social
//! registry for the households scoring 20 or less (every page), verifies each head and enrols
//! them, then pays one transfer per household. Run as a pilot of `UCT` in one district.

use std::collections::BTreeMap;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::pilot::{self, Expected};
use crate::{Report, World};

/// The programme's poverty threshold (`uct.toml`).
const POOR: f64 = 20.0;

/// The fewest households the IBR does not cover the pilot's district has.
const LEAST: usize = 2;

/// The transfer per household and cycle (`uct.toml`).
const AMOUNT: i64 = 4_000;

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc06(world, report))
}

async fn uc06<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let poor: Vec<&synth::Household> = truth
        .data
        .population
        .households
        .iter()
        .filter(|h| h.poverty_score <= POOR)
        .collect();
    let heads: Vec<(&synth::Person, &synth::Household)> = poor
        .iter()
        .filter_map(|h| Some((truth.person(&h.head_uin)?, *h)))
        .collect();
    let pilot::Launched {
        code,
        area,
        found,
        covered,
    } = pilot::launch(world, ("UCT", "1"), &heads, LEAST, |_| true).await?;
    let expected: BTreeMap<String, Expected> = found
        .iter()
        .map(|p| (p.uin.clone(), Expected::alive_and_uncovered(p, &covered)))
        .collect();
    world.timeline.line(format!(
        "  {} households of {} score {POOR} or less: their heads are the candidates",
        found.len(),
        area.code
    ));
    pilot::enrol(world, &mut report, &code, "1", &expected).await?;
    let payees: BTreeMap<String, String> = heads
        .iter()
        .filter(|(p, h)| area.holds(h) && expected.get(&p.uin) == Some(&Expected::Enrolled))
        .map(|(p, h)| (h.household_id.clone(), p.uin.clone()))
        .collect();
    let cycle = pilot::cycle(world, &code, payees).await?;
    cycle.check_paid(&mut report, AMOUNT);
    cycle.check_reconciled(world, &mut report).await?;
    cycle.check_receipts(world, &mut report).await?;
    Ok(report)
}
