//! UC-03, widow allowance on application: the SP-MIS finds the applicant's marriage in the
//! civil registry, the spouse's death record, and her household's poverty score in the social
//! registry. Poor widows under 65 are enrolled; better-off widows and married women are not.

use std::collections::BTreeSet;

use anyhow::Result;
use futures::future::BoxFuture;
use mis::Status;

use crate::{Report, World, apply_all, failed_rule, ibr_programmes};

/// The programme's poverty threshold (`wa.toml`).
const POOR: f64 = 40.0;

/// Poor widows applying, and better-off widows and married women.
const POOR_WIDOWS: usize = 2;
const OTHERS: usize = 3;

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc03(world, report))
}

async fn uc03<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let women = |status: &'static str| {
        truth.persons().iter().filter(move |p| {
            p.death_date.is_none()
                && p.sex == "female"
                && p.marital_status == status
                && truth.age(p) < 65
                && truth.in_no_programme(p)
        })
    };
    let poor = world
        .fresh(
            women("W").filter(|p| truth.poverty(p).is_some_and(|s| s <= POOR)),
            POOR_WIDOWS,
        )
        .await?;
    let better_off = world
        .fresh(
            women("W").filter(|p| truth.poverty(p).is_some_and(|s| s > POOR)),
            OTHERS,
        )
        .await?;
    let married = world.fresh(women("M"), OTHERS).await?;
    report.equal(
        "the population has applicants of each kind",
        [POOR_WIDOWS, OTHERS, OTHERS],
        [poor.len(), better_off.len(), married.len()],
    );
    world.timeline.line(format!(
        "  {} women under 65 apply for the widow allowance: {} widows in households scoring {POOR} or less, {} widows above, {} married",
        poor.len() + better_off.len() + married.len(),
        poor.len(),
        better_off.len(),
        married.len()
    ));
    let applicants: Vec<&synth::Person> = [&poor, &better_off, &married]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    let decisions = apply_all(world, "WA", &applicants).await?;
    let outcome = |group: &[&synth::Person]| -> Vec<(String, Option<String>)> {
        group
            .iter()
            .map(|p| {
                let decision = decisions.iter().find(|d| d.uin == p.uin);
                let rule = decision.and_then(failed_rule).map(str::to_string);
                (p.uin.clone(), rule)
            })
            .collect()
    };
    let each = |group: &[&synth::Person], rule: Option<&str>| -> Vec<(String, Option<String>)> {
        group
            .iter()
            .map(|p| (p.uin.clone(), rule.map(str::to_string)))
            .collect()
    };
    report.equal(
        format!("the {} poor widows pass every rule", poor.len()),
        each(&poor, None),
        outcome(&poor),
    );
    report.equal(
        format!(
            "the {} better-off widows are rejected on their poverty score",
            better_off.len()
        ),
        each(&better_off, Some("poor enough")),
        outcome(&better_off),
    );
    report.equal(
        format!(
            "the {} married women are rejected as not widowed",
            married.len()
        ),
        each(&married, Some("widowed")),
        outcome(&married),
    );
    let enrolled: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d.status == Status::Enrolled)
        .map(|d| d.uin.as_str())
        .collect();
    let mut in_ibr = BTreeSet::new();
    for person in &applicants {
        let held = ibr_programmes(world, &person.uin).await?;
        if held.iter().any(|(p, s)| p == "WA" && s == "1") {
            in_ibr.insert(person.uin.as_str());
        }
    }
    report.equal(
        "the IBR holds exactly the enrolled widows as active in WA",
        enrolled,
        in_ibr,
    );
    let evidence = decisions
        .iter()
        .filter(|d| d.status == Status::Enrolled)
        .filter(|d| {
            d.rules.iter().flat_map(|r| &r.facts).any(|f| {
                f.fact == "spouse_deceased"
                    && f.source
                        .as_ref()
                        .is_some_and(|s| s.query.starts_with("DeathRecord UIN="))
            })
        })
        .count();
    report.equal(
        "each enrolment rests on the spouse's death record from the CRVS",
        poor.len(),
        evidence,
    );
    Ok(report)
}
