//! The education conditional cash transfer (`ECCT`) as a pilot in one district, for three
//! scenarios on the same pilot: UC-11 finds the school-age children of poor households the IBR
//! does not cover yet and enrols them; UC-08 pays at the cycle only the children at school,
//! suspending the others (the IBR told); UC-13 reconciles that cycle: each payment final,
//! the failed one with the payments service's reason, the IBR's receipts the successful ones.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use mis::Status;

use crate::pilot::{self, Cycle, Expected};
use crate::{Report, World, ibr_programmes};

/// The programme's poverty threshold (`ecct.toml`).
const POOR: f64 = 30.0;

/// The fewest children at school the IBR does not cover the pilot's district has.
const LEAST: usize = 3;

/// The transfer per child and cycle (`ecct.toml`).
const AMOUNT: i64 = 800;

pub(crate) fn uc08<'w>(
    world: &'w World<'w>,
    mut report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(async move {
        let (code, expected, _) = paid(world, &mut report).await?;
        suspended(world, &mut report, &code, &expected).await?;
        Ok(report)
    })
}

pub(crate) fn uc11<'w>(
    world: &'w World<'w>,
    mut report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(async move {
        enrol(world, &mut report).await?;
        Ok(report)
    })
}

pub(crate) fn uc13<'w>(
    world: &'w World<'w>,
    mut report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(async move {
        let (_, _, cycle) = paid(world, &mut report).await?;
        cycle.check_reconciled(world, &mut report).await?;
        cycle.check_receipts(world, &mut report).await?;
        Ok(report)
    })
}

/// Launches the pilot and runs its proactive enrolment, checked: the pilot's code and what
/// becomes of each candidate.
async fn enrol(
    world: &World<'_>,
    report: &mut Report<'_>,
) -> Result<(String, BTreeMap<String, Expected>)> {
    let truth = world.truth;
    let children: Vec<(&synth::Person, &synth::Household)> = truth
        .persons()
        .iter()
        .filter(|p| (6..=17).contains(&truth.age(p)))
        .filter_map(|p| {
            let household = truth.household_of(p)?;
            (household.poverty_score <= POOR).then_some((p, household))
        })
        .collect();
    let pilot::Launched {
        code,
        area,
        found,
        covered,
    } = pilot::launch(world, ("ECCT", "1"), &children, LEAST, |p| {
        truth.attends_school(p) == Some(true)
    })
    .await?;
    let expected: BTreeMap<String, Expected> = found
        .iter()
        .map(|p| (p.uin.clone(), Expected::alive_and_uncovered(p, &covered)))
        .collect();
    world.timeline.line(format!(
        "  {} children of 6 to 17 in households of {} scoring {POOR} or less, {} covered by the IBR already",
        found.len(),
        area.code,
        covered.len()
    ));
    pilot::enrol(world, report, &code, "1", &expected).await?;
    Ok((code, expected))
}

/// The pilot enrolled ([`enrol`]) and its first cycle paid, each payee with an account once
/// (checked): the pilot's code, what becomes of each candidate, the cycle.
async fn paid(
    world: &World<'_>,
    report: &mut Report<'_>,
) -> Result<(String, BTreeMap<String, Expected>, Cycle)> {
    let (code, expected) = enrol(world, report).await?;
    let cycle = cycle(world, &code, &expected).await?;
    cycle.check_paid(report, AMOUNT);
    Ok((code, expected, cycle))
}

/// The pilot's first cycle: the enrolled children at school are its payees.
async fn cycle(
    world: &World<'_>,
    code: &str,
    expected: &BTreeMap<String, Expected>,
) -> Result<Cycle> {
    let truth = world.truth;
    let payees = expected
        .iter()
        .filter(|(uin, e)| {
            **e == Expected::Enrolled
                && truth
                    .person(uin)
                    .is_some_and(|p| truth.attends_school(p) == Some(true))
        })
        .map(|(uin, _)| (uin.clone(), uin.clone()))
        .collect();
    pilot::cycle(world, code, payees).await
}

/// Checks that the enrolled children not at school are suspended, each for the condition not
/// met, with the IBR told.
async fn suspended(
    world: &World<'_>,
    report: &mut Report<'_>,
    code: &str,
    expected: &BTreeMap<String, Expected>,
) -> Result<()> {
    let truth = world.truth;
    let mut want = BTreeMap::new();
    let mut got = BTreeMap::new();
    for (uin, _) in expected.iter().filter(|(_, e)| **e == Expected::Enrolled) {
        let child = truth.person(uin).context("a candidate")?;
        let reason = match truth.attends_school(child) {
            Some(true) => continue,
            Some(false) => "attends school: attends_school = true failed on attends_school false",
            None => "attends school: attends_school = true unknown on no attends_school",
        };
        want.insert(
            uin.as_str(),
            (Some(Status::Suspended), Some(reason.to_string()), true),
        );
        let status = world.mis.enrolments().status(code, uin).await?;
        let last = world.mis.enrolments().history(code, uin).await?.pop();
        let at_ibr = ibr_programmes(world, uin)
            .await?
            .contains(&(code.to_string(), "4".to_string()));
        got.insert(
            uin.as_str(),
            (
                status,
                last.as_ref().and_then(|c| c.reason.clone()),
                at_ibr && last.is_some_and(|c| c.ibr_transaction.is_some()),
            ),
        );
    }
    report.equal(
        format!(
            "the {} children not at school are suspended for it, the IBR told",
            want.len()
        ),
        want,
        got,
    );
    Ok(())
}
