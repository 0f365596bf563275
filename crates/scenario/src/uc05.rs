//! UC-05, proactive child benefit: the civil registry registers two births, one to a mother in
//! a household scoring 40 or less in the social registry, one to a mother above. The SP-MIS,
//! subscribed to the civil registry's births, decides each child's benefit without an
//! application: the first child is enrolled (and the IBR told), the second rejected on the
//! mother's score.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use mis::Status;

use crate::applications::{fact_of, last_decision, register_births, within};
use crate::{Report, World, failed_rule, ibr_programmes, ibr_shows};

/// The child benefit's poverty threshold (`cb.toml`).
const POOR: f64 = 40.0;

/// How long a birth may take to be decided before the scenario stops waiting.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc05(world, report))
}

async fn uc05<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let today = truth.today();
    let mothers = || {
        truth.persons().iter().filter(|p| {
            p.death_date.is_none() && p.sex == "female" && (18..45).contains(&truth.age(p))
        })
    };
    let poor = mothers()
        .find(|p| truth.poverty(p).is_some_and(|s| s <= POOR))
        .context("a mother in a poorer household")?;
    let better_off = mothers()
        .find(|p| truth.poverty(p).is_some_and(|s| s > POOR))
        .context("a mother in a better-off household")?;
    let (children, registered) = register_births(world, &[poor, better_off]).await?;
    let [child, other_child] = &children[..] else {
        bail!("two births registered: {children:?}");
    };
    let enrolments = world.mis.enrolments();
    let decided = within(registered, WAIT, || async {
        Ok(
            enrolments.status("CB", child).await? == Some(Status::Enrolled)
                && enrolments.status("CB", other_child).await? == Some(Status::Rejected),
        )
    })
    .await?;
    if let Some(took) = decided {
        world.timeline.line(format!(
            "  SP-MIS notified by the CRVS: decided both children's benefit without an application, {:.0} ms after the registration; mother {} notified (logged)",
            took.as_secs_f64() * 1000.0,
            poor.uin
        ));
    }
    report.that(
        "both births are decided within seconds, without an application",
        decided.is_some_and(|took| took < Duration::from_secs(5)),
        format!("{decided:?}"),
    );
    let enrolled = last_decision(world, "CB", child).await?;
    report.equal(
        "the enrolment rests on the mother's household score from the social registry",
        Some((
            truth.poverty(poor).map(|s| s.to_string()),
            format!("Group UIN={}", poor.uin),
        )),
        fact_of(enrolled.as_ref(), "mother_poverty_score"),
    );
    let rejected = last_decision(world, "CB", other_child).await?;
    report.equal(
        "the child of the better-off mother is rejected on her score",
        Some("mother in a poorer household"),
        rejected.as_ref().and_then(failed_rule),
    );
    report.equal(
        "the IBR holds the enrolled child in CB, and nothing of the other",
        (vec![("CB".to_string(), "1".to_string())], Vec::new()),
        (
            ibr_shows(world, child, "CB", Some("1")).await?,
            ibr_programmes(world, other_child).await?,
        ),
    );
    let again = world.mis.apply("CB", child, today).await;
    report.that(
        "a second application for the child is refused",
        matches!(again, Err(mis::MisError::Transition { .. })),
        format!("{again:?}"),
    );
    Ok(report)
}
