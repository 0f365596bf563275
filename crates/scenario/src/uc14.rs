//! The farmer support programme (`FSP`) as a pilot in one district, for two scenarios: UC-14
//! finds the farmers on less than 2 ha in the farmer registry, enrols those of poorer
//! households (the social registry's poverty score) and pays their vouchers; UC-12 then asks
//! the IBR, by UIN, what each paid farmer has: every programme any SP-MIS published for them
//! (the population's, the sandbox SP-MIS's) and the receipt of the voucher.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use futures::future::BoxFuture;

use crate::pilot::{self, Cycle, Expected};
use crate::{Report, World, ibr_programmes};

/// The programme's land and poverty thresholds (`fsp.toml`).
const SMALL: f64 = 2.0;
const POOR: f64 = 60.0;

/// The fewest small, poor farmers the IBR does not cover the pilot's district has.
const LEAST: usize = 3;

/// The voucher per farmer and cycle (`fsp.toml`).
const AMOUNT: i64 = 5_000;

pub(crate) fn uc12<'w>(
    world: &'w World<'w>,
    mut report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(async move {
        let cycle = vouchers(world, &mut report).await?;
        let (code, paid) = (cycle.code(), cycle.paid());
        let mut want = BTreeMap::new();
        let mut got = BTreeMap::new();
        for uin in &paid {
            let mut programmes: BTreeSet<String> = world
                .truth
                .data
                .benefits
                .enrolments
                .iter()
                .filter(|e| e.uin == *uin)
                .map(|e| e.programme.clone())
                .collect();
            for programme in world.mis.programmes() {
                if world
                    .mis
                    .enrolments()
                    .status(&programme.code, uin)
                    .await?
                    .is_some()
                {
                    programmes.insert(programme.code);
                }
            }
            want.insert(uin.to_string(), programmes);
            let held: BTreeSet<String> = ibr_programmes(world, uin)
                .await?
                .into_iter()
                .map(|(p, _)| p)
                .collect();
            got.insert(uin.to_string(), held);
        }
        let others = want.values().filter(|p| p.len() > 1).count();
        report.equal(
            format!(
                "the IBR lists every programme of each of the {} farmers paid ({others} in other programmes too)",
                paid.len()
            ),
            want,
            got,
        );
        report.that(
            format!("each farmer paid is in {code} at the IBR"),
            !paid.is_empty(),
            format!("{} farmers", paid.len()),
        );
        cycle.check_reconciled(world, &mut report).await?;
        cycle.check_receipts(world, &mut report).await?;
        Ok(report)
    })
}

pub(crate) fn uc14<'w>(
    world: &'w World<'w>,
    mut report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(async move {
        let cycle = vouchers(world, &mut report).await?;
        cycle.check_paid(&mut report, AMOUNT);
        cycle.check_reconciled(world, &mut report).await?;
        cycle.check_receipts(world, &mut report).await?;
        Ok(report)
    })
}

/// Launches the pilot, runs its proactive enrolment (checked) and pays its first cycle.
async fn vouchers(world: &World<'_>, report: &mut Report<'_>) -> Result<Cycle> {
    let truth = world.truth;
    let land = truth.land();
    let small: Vec<(&synth::Person, &synth::Household)> = truth
        .data
        .farms
        .farmers
        .iter()
        .filter(|f| land.get(f.fid.as_str()).copied().unwrap_or(0.0) < SMALL)
        .filter_map(|f| {
            let household = truth.household(&f.household_id)?;
            Some((truth.person(&f.uin)?, household))
        })
        .collect();
    let pilot::Launched {
        code,
        area,
        found,
        covered,
    } = pilot::launch(world, ("FSP", "2"), &small, LEAST, |p| {
        truth.poverty(p).is_some_and(|s| s <= POOR)
    })
    .await?;
    let expected: BTreeMap<String, Expected> = found
        .iter()
        .map(|farmer| {
            let outcome = Expected::poor_enough(
                "poor household",
                POOR,
                farmer,
                truth.poverty(farmer),
                &covered,
            );
            (farmer.uin.clone(), outcome)
        })
        .collect();
    world.timeline.line(format!(
        "  {} farmers of {} on less than {SMALL} ha are the candidates",
        found.len(),
        area.code
    ));
    pilot::enrol(world, report, &code, "2", &expected).await?;
    let payees = expected
        .iter()
        .filter(|(_, e)| **e == Expected::Enrolled)
        .map(|(uin, _)| (uin.clone(), uin.clone()))
        .collect();
    pilot::cycle(world, &code, payees).await
}
