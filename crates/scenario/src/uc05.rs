//! UC-05, proactive child benefit: the civil registry registers two births, one to a mother in
//! a household scoring 40 or less in the social registry, one to a mother above. The SP-MIS,
//! subscribed to the civil registry's births, decides each child's benefit without an
//! application: the first child is enrolled (and the IBR told), the second rejected on the
//! mother's score.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use mis::Status;

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
    // New UINs on every run: a newborn's is new.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let child = truth.new_uin(seed);
    let other_child = truth.new_uin(seed + 7);
    let birth = |uin: &str, mother: &synth::Person| -> Result<serde_json::Value> {
        let home = truth
            .household_of(mother)
            .context("the mother's household")?;
        Ok(
            serde_json::json!({"uin": uin, "given_name": "Amani", "surname": "Otieno",
            "sex": "female", "birth_date": today.to_string(),
            "birth_place": home.location_code, "mother_uin": mother.uin}),
        )
    };
    let births =
        serde_json::json!({"births": [birth(&child, poor)?, birth(&other_child, better_off)?]});
    let registered = Instant::now();
    let answer: serde_json::Value = world
        .registries
        .crvs
        .send("/registrar/crvs/records", &births)
        .await
        .context("registering the births at the civil registry")?;
    world.timeline.line(format!(
        "  CRVS registrar registered the births of {child} (mother {}, household score {}) and {other_child} (mother {}, score {}): {} ({:.1} ms)",
        poor.uin,
        truth.poverty(poor).unwrap_or_default(),
        better_off.uin,
        truth.poverty(better_off).unwrap_or_default(),
        answer["births"],
        registered.elapsed().as_secs_f64() * 1000.0
    ));
    let decided = loop {
        let first = world.mis.enrolments().status("CB", &child).await?;
        let second = world.mis.enrolments().status("CB", &other_child).await?;
        if first == Some(Status::Enrolled) && second == Some(Status::Rejected) {
            break Some(registered.elapsed());
        }
        if registered.elapsed() > WAIT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
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
    let Some(enrolled) = world.mis.enrolments().history("CB", &child).await?.pop() else {
        bail!("no decision for {child}");
    };
    let decision: mis::Decision =
        serde_json::from_value(enrolled.decision.context("the enrolment's decision")?)?;
    let mother_fact = decision
        .rules
        .iter()
        .flat_map(|r| &r.facts)
        .find(|f| f.fact == "mother_poverty_score");
    report.equal(
        "the enrolment rests on the mother's household score from the social registry",
        Some((
            truth.poverty(poor).map(|s| s.to_string()),
            format!("Group UIN={}", poor.uin),
        )),
        mother_fact.map(|f| {
            (
                f.value.clone(),
                f.source
                    .as_ref()
                    .map(|s| s.query.clone())
                    .unwrap_or_default(),
            )
        }),
    );
    let rejected = world
        .mis
        .enrolments()
        .history("CB", &other_child)
        .await?
        .pop();
    let rule = rejected
        .and_then(|c| c.decision)
        .and_then(|d| serde_json::from_value::<mis::Decision>(d).ok())
        .and_then(|d| failed_rule(&d).map(str::to_string));
    report.equal(
        "the child of the better-off mother is rejected on her score",
        Some("mother in a poorer household".to_string()),
        rule,
    );
    report.equal(
        "the IBR holds the enrolled child in CB, and nothing of the other",
        (vec![("CB".to_string(), "1".to_string())], Vec::new()),
        (
            ibr_shows(world, &child, "CB", Some("1")).await?,
            ibr_programmes(world, &other_child).await?,
        ),
    );
    let again = world.mis.apply("CB", &child, today).await;
    report.that(
        "a second application for the child is refused",
        matches!(again, Err(mis::MisError::Transition { .. })),
        format!("{again:?}"),
    );
    Ok(report)
}
