//! UC-10, the disability allowance, both ways a person comes to it:
//!
//! - as a pilot of `DA` in one district: the SP-MIS searches the disability registry for the
//!   certified persons of working age there and decides each on the registries' facts (alive
//!   in the civil registry, a certificate valid today by the DR's `disabled` check, the
//!   household's score in the social registry) and the IBR's enrolled check;
//! - on the disability registry's event: the registry certifies two persons it did not hold,
//!   and the SP-MIS, subscribed to its `DisabilityApproved` events, decides on each without an
//!   application: one is enrolled, the other, who already receives a cash benefit, is refused
//!   by the IBR check naming the programme (no duplicate benefit).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use mis::Status;
use serde_json::json;

use crate::applications::{fact_of, last_decision, within};
use crate::pilot::{self, Expected};
use crate::{Report, World, named_by_ibr_check};

/// The programme's poverty threshold (`da.toml`).
const POOR: f64 = 60.0;

/// The working ages (`da.toml`).
const WORKING: std::ops::Range<i32> = 18..65;

/// The fewest certified persons, eligible and uncovered, the pilot's district has.
const LEAST: usize = 2;

/// How long a certification may take to be decided before the scenario stops waiting.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc10(world, report))
}

async fn uc10<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    pilot_in_a_district(world, &mut report).await?;
    certified_now(world, &mut report).await?;
    Ok(report)
}

async fn pilot_in_a_district(world: &World<'_>, report: &mut Report<'_>) -> Result<()> {
    let truth = world.truth;
    let today = truth.today();
    let approved = synth::disability::APPROVED;
    // The search finds the approved persons of working age, valid certificate or not.
    let mut valid = BTreeMap::new();
    let certified: Vec<(&synth::Person, &synth::Household)> = truth
        .data
        .disabilities
        .iter()
        .filter(|d| d.status == approved)
        .filter_map(|d| {
            let person = truth.person(&d.uin)?;
            valid.insert(d.uin.as_str(), d.expiry_date.is_none_or(|e| e >= today));
            Some((person, truth.household_of(person)?))
        })
        .filter(|(p, _)| WORKING.contains(&truth.age(p)))
        .collect();
    let pilot::Launched {
        code,
        area,
        found,
        covered,
    } = pilot::launch(world, ("DA", "1"), &certified, LEAST, |p| {
        valid[p.uin.as_str()] && truth.poverty(p).is_some_and(|s| s <= POOR)
    })
    .await?;
    let expected: BTreeMap<String, Expected> = found
        .iter()
        .map(|person| {
            let outcome = match valid[person.uin.as_str()] {
                false if person.death_date.is_none() => {
                    Expected::Rejected("certified: disabled = true failed on disabled false".into())
                }
                _ => Expected::poor_enough(
                    "not well off",
                    POOR,
                    person,
                    truth.poverty(person),
                    &covered,
                ),
            };
            (person.uin.clone(), outcome)
        })
        .collect();
    world.timeline.line(format!(
        "  {} certified persons of working age in {} are the candidates",
        found.len(),
        area.code
    ));
    pilot::enrol(world, report, &code, "1", &expected).await?;
    Ok(())
}

async fn certified_now(world: &World<'_>, report: &mut Report<'_>) -> Result<()> {
    let truth = world.truth;
    let in_dr: BTreeSet<&str> = truth
        .data
        .disabilities
        .iter()
        .map(|d| d.uin.as_str())
        .collect();
    let cash = truth.covered("1");
    let eligible = |p: &&synth::Person| {
        p.death_date.is_none()
            && WORKING.contains(&truth.age(p))
            && truth.poverty(p).is_some_and(|s| s <= POOR)
            && !in_dr.contains(p.uin.as_str())
    };
    let uncovered = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(eligible)
                .filter(|p| !cash.contains_key(p.uin.as_str())),
            1,
        )
        .await?
        .pop()
        .context("an eligible person in no cash programme, not in the disability registry")?;
    let receiving = world
        .fresh(
            truth
                .persons()
                .iter()
                .filter(eligible)
                .filter(|p| cash.contains_key(p.uin.as_str())),
            1,
        )
        .await?
        .pop()
        .context(
            "an eligible person who receives a cash benefit, not in the disability registry",
        )?;
    let application = |person: &synth::Person| -> Result<serde_json::Value> {
        let home = truth
            .household_of(person)
            .context("the person's household")?;
        Ok(json!({"uin": person.uin, "given_name": person.given_name,
            "surname": person.surname, "sex": person.sex,
            "birth_date": person.birth_date.to_string(), "home": home.location_code,
            "difficulties": [{"type": "MOB_SS", "severity": 3}],
            "impairment_cause": "1", "age_on_set": "2"}))
    };
    let decision = |person: &synth::Person| json!({"uin": person.uin, "status": "Approved", "disability_level": "2"});
    let changes = json!({
        "registrations": [application(uncovered)?, application(receiving)?],
        "decisions": [decision(uncovered), decision(receiving)],
    });
    let registered = Instant::now();
    let answer: serde_json::Value = world
        .registries
        .dr
        .send("/registrar/dr/records", &changes)
        .await
        .context("certifying at the disability registry")?;
    world.timeline.line(format!(
        "  DR registrar registered and certified {} (in no cash programme) and {} (in {}): {} events ({:.1} ms)",
        uncovered.uin,
        receiving.uin,
        cash[receiving.uin.as_str()].iter().copied().collect::<Vec<_>>().join(", "),
        answer["events"],
        registered.elapsed().as_secs_f64() * 1000.0
    ));
    let enrolments = world.mis.enrolments();
    let decided = within(registered, WAIT, || async {
        Ok(
            enrolments.status("DA", &uncovered.uin).await? == Some(Status::Enrolled)
                && enrolments.status("DA", &receiving.uin).await? == Some(Status::Rejected),
        )
    })
    .await?;
    if let Some(took) = decided {
        world.timeline.line(format!(
            "  SP-MIS notified by the DR: decided both allowances without an application, {:.0} ms after the certification",
            took.as_secs_f64() * 1000.0
        ));
    }
    report.that(
        "both certifications are decided within seconds, without an application",
        decided.is_some_and(|took| took < Duration::from_secs(5)),
        format!("{decided:?}"),
    );
    let enrolled = last_decision(world, "DA", &uncovered.uin).await?;
    report.equal(
        "the enrolment rests on the DR's disabled check of the person",
        Some((
            Some("true".to_string()),
            format!("disabled UIN={}", uncovered.uin),
        )),
        fact_of(enrolled.as_ref(), "disabled"),
    );
    let refused = last_decision(world, "DA", &receiving.uin)
        .await?
        .and_then(|d| d.reason)
        .and_then(|r| named_by_ibr_check(&r, &receiving.uin, "1"));
    report.equal(
        "the person who receives a cash benefit is refused by the IBR check, which names the programmes",
        Some(
            cash[receiving.uin.as_str()]
                .iter()
                .map(|p| p.to_string())
                .collect::<BTreeSet<_>>(),
        ),
        refused,
    );
    Ok(())
}
