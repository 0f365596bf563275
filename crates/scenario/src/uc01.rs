//! UC-01, enrolment in the old-age allowance: applicants give their UIN; the SP-MIS asks the
//! ID registry to verify the identity, the civil registry for the birth record (and a death),
//! and the IBR whether they already receive a cash benefit. The old are enrolled and the IBR
//! told; the others are rejected, each with the rule that stopped them.

use std::collections::BTreeSet;

use anyhow::Result;
use futures::future::BoxFuture;
use mis::Status;

use crate::{Report, World, apply_all, failed_rule, ibr_programmes};

/// Applicants of each kind.
const OLD: usize = 10;
const YOUNG: usize = 5;
const DEAD: usize = 3;
const COVERED: usize = 3;

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc01(world, report))
}

async fn uc01<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let living = |p: &&synth::Person| p.death_date.is_none();
    // Older than 90 is left out: the sandbox's demonstrations register the deaths of the
    // oldest living people, which the population file does not know of.
    let old = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(living)
                .filter(|p| (65..=90).contains(&truth.age(p)) && truth.in_no_programme(p)),
            OLD,
        )
        .await?;
    let young = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(living)
                .filter(|p| (30..65).contains(&truth.age(p)) && truth.in_no_programme(p)),
            YOUNG,
        )
        .await?;
    let dead = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(|p| p.death_date.is_some() && truth.age(p) >= 65),
            DEAD,
        )
        .await?;
    let in_oaa = |active: bool| -> BTreeSet<&str> {
        truth
            .data
            .benefits
            .enrolments
            .iter()
            .filter(|e| e.programme == "OAA" && (!active || e.status == synth::benefits::ACTIVE))
            .map(|e| e.uin.as_str())
            .collect()
    };
    let drawing = in_oaa(true);
    let covered = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(living)
                .filter(|p| truth.age(p) <= 90 && drawing.contains(p.uin.as_str())),
            COVERED,
        )
        .await?;
    let applicants: Vec<&synth::Person> = [&old, &young, &dead, &covered]
        .into_iter()
        .flatten()
        .copied()
        .collect();
    world.timeline.line(format!(
        "  {} people apply for the old-age allowance: {} of 65 to 90 in no programme, {} of 30 to 64, {} dead, {} already drawing it",
        applicants.len(),
        old.len(),
        young.len(),
        dead.len(),
        covered.len()
    ));
    report.equal(
        "the population has applicants of each kind",
        [OLD, YOUNG, DEAD, COVERED],
        [old.len(), young.len(), dead.len(), covered.len()],
    );
    let decisions = apply_all(world, "OAA", &applicants).await?;

    let enrolled: BTreeSet<&str> = decisions
        .iter()
        .filter(|d| d.status == Status::Enrolled)
        .map(|d| d.uin.as_str())
        .collect();
    let expected: BTreeSet<&str> = old.iter().map(|p| p.uin.as_str()).collect();
    report.equal(
        format!(
            "exactly the {} applicants of 65 or more are enrolled",
            old.len()
        ),
        expected,
        enrolled.clone(),
    );
    let stopped_by = |group: &[&synth::Person]| -> Vec<(String, Option<String>)> {
        group
            .iter()
            .map(|p| {
                let rule = decisions
                    .iter()
                    .find(|d| d.uin == p.uin)
                    .and_then(failed_rule)
                    .map(str::to_string);
                (p.uin.clone(), rule)
            })
            .collect()
    };
    let each = |group: &[&synth::Person], rule: &str| -> Vec<(String, Option<String>)> {
        group
            .iter()
            .map(|p| (p.uin.clone(), Some(rule.to_string())))
            .collect()
    };
    report.equal(
        format!(
            "the {} younger applicants are rejected on their age",
            young.len()
        ),
        each(&young, "aged 65 or more"),
        stopped_by(&young),
    );
    report.equal(
        format!(
            "the {} dead applicants are rejected on their death record",
            dead.len()
        ),
        each(&dead, "alive"),
        stopped_by(&dead),
    );
    report.equal(
        format!(
            "the {} already drawing it are stopped by the IBR's enrolled check",
            covered.len()
        ),
        each(&covered, "no other benefit of type 1"),
        stopped_by(&covered),
    );
    let mut told = 0;
    let mut silent = 0;
    for decision in &decisions {
        let held = ibr_programmes(world, &decision.uin).await?;
        let oaa = held
            .iter()
            .any(|(programme, status)| programme == "OAA" && status == "1");
        if decision.status == Status::Enrolled && oaa {
            told += 1;
        }
        if decision.status == Status::Rejected && !held.iter().any(|(p, _)| p == "OAA") {
            silent += 1;
        }
    }
    report.equal(
        "the IBR holds each enrolment as active in OAA",
        enrolled.len(),
        told,
    );
    // Those the population's OAA already had (those drawing it, and deaths it never heard of)
    // it still has; of the others, it hears nothing.
    let had = in_oaa(false);
    report.equal(
        "the IBR never hears of a rejected applicant",
        applicants
            .iter()
            .filter(|p| !enrolled.contains(p.uin.as_str()) && !had.contains(p.uin.as_str()))
            .count(),
        silent,
    );
    let explained = decisions
        .iter()
        .filter(|d| d.status == Status::Enrolled)
        .filter(|d| {
            let registries: BTreeSet<&str> = d
                .rules
                .iter()
                .flat_map(|r| &r.facts)
                .filter_map(|f| f.source.as_ref())
                .filter(|s| !s.transaction_id.is_empty())
                .map(|s| s.registry.as_str())
                .collect();
            registries == BTreeSet::from(["crvs", "ibr", "id"]) && d.ibr_transaction.is_some()
        })
        .count();
    report.equal(
        "each enrolment names the CRVS, ID and IBR exchanges behind it",
        enrolled.len(),
        explained,
    );
    Ok(report)
}
