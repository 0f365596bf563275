//! UC-09, the lactating mothers' transfer: the civil registry registers two births, one to a
//! mother in a household scoring 35 or less in the social registry whom the IBR shows in no
//! cash programme, one to a mother above. The SP-MIS, subscribed to the civil registry's
//! births, decides each mother's transfer without an application: the first is enrolled on her
//! youngest child's birth record (found in the civil registry by her UIN) and the IBR told,
//! the second rejected on her household's score. Then the first child's death is registered:
//! the SP-MIS, notified, checks the mother's conditions again and exits her (the child the
//! transfer is for has died), the IBR told.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use mis::Status;
use serde_json::json;

use crate::applications::within;
use crate::{Report, World, failed_rule, ibr_shows};

/// The programme's poverty threshold (`lmcct.toml`).
const POOR: f64 = 35.0;

/// How long a notification may take to be acted on before the scenario stops waiting.
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc09(world, report))
}

async fn uc09<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let today = truth.today();
    let cash = truth.covered("1");
    let mothers = || {
        truth.persons().iter().filter(|p| {
            p.death_date.is_none()
                && p.sex == "female"
                && (18..45).contains(&truth.age(p))
                && !cash.contains_key(p.uin.as_str())
        })
    };
    let poor = world
        .fresh(
            mothers().filter(|p| truth.poverty(p).is_some_and(|s| s <= POOR)),
            1,
        )
        .await?
        .pop()
        .context("a mother in a poor household the IBR does not cover")?;
    let better_off = world
        .fresh(
            mothers().filter(|p| truth.poverty(p).is_some_and(|s| s > POOR)),
            1,
        )
        .await?
        .pop()
        .context("a mother in a better-off household")?;
    // New UINs on every run: a newborn's is new.
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let (child, other_child) = (truth.new_uin(seed), truth.new_uin(seed + 7));
    let place = |mother: &synth::Person| -> Result<String> {
        Ok(truth
            .household_of(mother)
            .context("the mother's household")?
            .location_code
            .clone())
    };
    let birth = |uin: &str, mother: &synth::Person| -> Result<serde_json::Value> {
        Ok(
            json!({"uin": uin, "given_name": "Neema", "surname": "Achieng",
            "sex": "female", "birth_date": today.to_string(),
            "birth_place": place(mother)?, "mother_uin": mother.uin}),
        )
    };
    let births = json!({"births": [birth(&child, poor)?, birth(&other_child, better_off)?]});
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
    let enrolments = world.mis.enrolments();
    let decided = within(registered, WAIT, || async {
        Ok(
            enrolments.status("LMCCT", &poor.uin).await? == Some(Status::Enrolled)
                && enrolments.status("LMCCT", &better_off.uin).await? == Some(Status::Rejected),
        )
    })
    .await?;
    if let Some(took) = decided {
        world.timeline.line(format!(
            "  SP-MIS notified by the CRVS: decided both mothers' transfer without an application, {:.0} ms after the registration",
            took.as_secs_f64() * 1000.0
        ));
    }
    report.that(
        "both mothers' transfers are decided within seconds, without an application",
        decided.is_some_and(|took| took < Duration::from_secs(5)),
        format!("{decided:?}"),
    );
    let Some(enrolled) = enrolments.history("LMCCT", &poor.uin).await?.pop() else {
        bail!("no decision for {}", poor.uin);
    };
    let decision: mis::Decision =
        serde_json::from_value(enrolled.decision.context("the enrolment's decision")?)?;
    let child_fact = decision
        .rules
        .iter()
        .flat_map(|r| &r.facts)
        .find(|f| f.fact == "youngest_child_birth_date");
    report.equal(
        "the enrolment rests on her youngest child's birth, found in the CRVS by her UIN",
        Some((
            Some(today.to_string()),
            format!("Person mother_uin = \"{}\"", poor.uin),
        )),
        child_fact.map(|f| {
            (
                f.value.clone(),
                f.source
                    .as_ref()
                    .map(|s| s.query.clone())
                    .unwrap_or_default(),
            )
        }),
    );
    let rejected = enrolments.history("LMCCT", &better_off.uin).await?.pop();
    let rule = rejected
        .and_then(|c| c.decision)
        .and_then(|d| serde_json::from_value::<mis::Decision>(d).ok())
        .and_then(|d| failed_rule(&d).map(str::to_string));
    report.equal(
        "the better-off mother is rejected on her household's score",
        Some("poor household".to_string()),
        rule,
    );
    report.equal(
        "the IBR holds the enrolled mother in LMCCT",
        vec![("LMCCT".to_string(), "1".to_string())],
        ibr_shows(world, &poor.uin, "LMCCT", Some("1")).await?,
    );

    // The child dies: the transfer for it ends.
    let registered = Instant::now();
    world
        .registries
        .crvs
        .send::<serde_json::Value>(
            "/registrar/crvs/records",
            &json!({"deaths": [{"uin": child, "death_date": today.to_string(),
                                "death_place": place(poor)?}]}),
        )
        .await
        .context("registering the child's death at the civil registry")?;
    let ended = within(registered, WAIT, || async {
        Ok(enrolments.status("LMCCT", &poor.uin).await? == Some(Status::Exited))
    })
    .await?;
    if let Some(took) = ended {
        world.timeline.line(format!(
            "  CRVS registered the death of {child}; the SP-MIS, notified, exited the mother {} from LMCCT {:.0} ms after the registration",
            poor.uin,
            took.as_secs_f64() * 1000.0
        ));
    }
    report.that(
        "the child's death exits the mother within seconds",
        ended.is_some_and(|took| took < Duration::from_secs(5)),
        format!("{ended:?}"),
    );
    let reason = enrolments
        .history("LMCCT", &poor.uin)
        .await?
        .pop()
        .and_then(|c| c.reason)
        .unwrap_or_default();
    report.that(
        "the exit names the condition and the child's death",
        reason.starts_with("the child alive: youngest_child_deceased = false failed on youngest_child_deceased true (her child died on"),
        reason,
    );
    report.equal(
        "the IBR shows the mother exited from LMCCT",
        vec![("LMCCT".to_string(), "6".to_string())],
        ibr_shows(world, &poor.uin, "LMCCT", Some("6")).await?,
    );
    Ok(report)
}
