//! UC-07, financial assistance to poor widows: the SP-MIS searches the social registry for
//! widows in households scoring 40 or less and enrols those the civil registry shows widowed
//! (the spouse's death record) and under 65. Run as a pilot of `WA` in one district.

use std::collections::BTreeMap;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::pilot::{self, Expected};
use crate::{Report, World};

/// The programme's poverty threshold (`wa.toml`).
const POOR: f64 = 40.0;

/// The fewest qualifying widows the IBR does not cover the pilot's district has.
const LEAST: usize = 2;

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc07(world, report))
}

async fn uc07<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    // The search finds the living poor widows (the dead are no longer members).
    let widows: Vec<(&synth::Person, &synth::Household)> = truth
        .persons()
        .iter()
        .filter(|p| p.death_date.is_none() && p.sex == "female" && p.marital_status == "W")
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
    } = pilot::launch(world, ("WA", "1"), &widows, LEAST, |p| {
        truth.spouse_died(&p.uin) == Some(true) && truth.age(p) < 65
    })
    .await?;
    let expected: BTreeMap<String, Expected> = found
        .iter()
        .map(|widow| {
            let outcome = match truth.spouse_died(&widow.uin) {
                None => Expected::Rejected(
                    "spouse deceased: spouse_deceased = true unknown on no spouse_deceased".into(),
                ),
                Some(false) => Expected::Rejected(
                    "spouse deceased: spouse_deceased = true failed on spouse_deceased false"
                        .into(),
                ),
                Some(true) if truth.age(widow) >= 65 => Expected::Rejected(format!(
                    "under 65: age < 65 failed on birth_date {}",
                    widow.birth_date
                )),
                Some(true) => Expected::alive_and_uncovered(widow, &covered),
            };
            (widow.uin.clone(), outcome)
        })
        .collect();
    world.timeline.line(format!(
        "  {} widows of {} in households scoring {POOR} or less are the candidates",
        found.len(),
        area.code
    ));
    pilot::enrol(world, &mut report, &code, "1", &expected).await?;
    // Each enrolment rests on the spouse's death record from the CRVS.
    let mut evidence = 0;
    let mut enrolled = 0;
    for (uin, _) in expected.iter().filter(|(_, e)| **e == Expected::Enrolled) {
        enrolled += 1;
        let history = world.mis.enrolments().history(&code, uin).await?;
        let decision = history.iter().rev().find_map(|c| c.decision.clone());
        let rests = decision.is_some_and(|d| {
            d["rules"].as_array().into_iter().flatten().any(|r| {
                r["name"] == "spouse deceased"
                    && r["outcome"] == "passed"
                    && r["facts"][0]["source"]["query"]
                        .as_str()
                        .is_some_and(|q| q.starts_with("DeathRecord UIN="))
            })
        });
        evidence += usize::from(rests);
    }
    report.equal(
        "each enrolment rests on the spouse's death record from the CRVS",
        enrolled,
        evidence,
    );
    Ok(report)
}
