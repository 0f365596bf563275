//! UC-04, child benefit on application: a parent applies with the child's birth registration
//! number. The SP-MIS finds the child's birth record at the civil registry (the child's UIN,
//! the mother), and the mother's household score at the social registry. Children under 6 of
//! poorer mothers are enrolled; a second application for the same child is refused.

use anyhow::Result;
use futures::future::BoxFuture;
use mis::Status;

use crate::{Report, World, failed_rule, ibr_shows};

/// The child benefit's poverty threshold (`cb.toml`).
const POOR: f64 = 40.0;

/// Children applied for: of poorer mothers, and of better-off mothers.
const EACH: usize = 2;

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc04(world, report))
}

async fn uc04<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let today = truth.today();
    let mother_score = |child: &synth::Person| {
        let mother = truth.person(child.mother_uin.as_deref()?)?;
        truth.poverty(mother)
    };
    let young = || {
        truth
            .persons()
            .iter()
            .filter(|p| p.death_date.is_none() && truth.age(p) < 6 && truth.in_no_programme(p))
    };
    let poorer = world
        .fresh(
            young().filter(|c| mother_score(c).is_some_and(|s| s <= POOR)),
            EACH,
        )
        .await?;
    let better_off = world
        .fresh(
            young().filter(|c| mother_score(c).is_some_and(|s| s > POOR)),
            EACH,
        )
        .await?;
    report.equal(
        "the population has children of each kind",
        [EACH, EACH],
        [poorer.len(), better_off.len()],
    );
    let mut outcomes = Vec::new();
    for child in poorer.iter().chain(&better_off) {
        let brn = synth::vital::brn(&child.uin, child.birth_date);
        let decision = world.mis.apply_for_child("CB", &brn, today).await?;
        if outcomes.is_empty() {
            world.timeline.line(format!(
                "  SP-MIS CB application for the child registered as {brn}: {} {} ({})",
                decision.uin,
                decision.status.as_str(),
                decision.reason.as_deref().unwrap_or("every rule passed")
            ));
        }
        outcomes.push((
            decision.uin.clone(),
            decision.status,
            failed_rule(&decision).map(str::to_string),
        ));
    }
    let expected: Vec<(String, Status, Option<String>)> = poorer
        .iter()
        .map(|c| (c.uin.clone(), Status::Enrolled, None))
        .chain(better_off.iter().map(|c| {
            (
                c.uin.clone(),
                Status::Rejected,
                Some("mother in a poorer household".to_string()),
            )
        }))
        .collect();
    report.equal(
        "children of poorer mothers enrolled, the others rejected on the mother's score",
        expected,
        outcomes,
    );
    let mut held = Vec::new();
    for child in &poorer {
        held.push(ibr_shows(world, &child.uin, "CB", Some("1")).await?);
    }
    report.equal(
        "the IBR holds each enrolled child in CB",
        vec![vec![("CB".to_string(), "1".to_string())]; poorer.len()],
        held,
    );
    if let Some(first) = poorer.first() {
        let brn = synth::vital::brn(&first.uin, first.birth_date);
        let again = world.mis.apply_for_child("CB", &brn, today).await;
        report.that(
            "a second application for the same child is refused",
            matches!(again, Err(mis::MisError::Transition { .. })),
            format!("{again:?}"),
        );
    }
    let unknown = world
        .mis
        .apply_for_child("CB", "1999000000000", today)
        .await;
    report.that(
        "an unknown birth registration number is refused",
        matches!(unknown, Err(mis::MisError::UnknownChild(_))),
        format!("{unknown:?}"),
    );
    Ok(report)
}
