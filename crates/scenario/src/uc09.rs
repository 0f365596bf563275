//! UC-09, the lactating mothers' transfer: the civil registry registers two births, one to a
//! mother in a household scoring 35 or less in the social registry whom the IBR shows in no
//! cash programme, one to a mother above. The SP-MIS, subscribed to the civil registry's
//! births, decides each mother's transfer without an application: the first is enrolled on her
//! youngest child's birth record (found in the civil registry by her UIN) and the IBR told,
//! the second rejected on her household's score. Then the first child's death is registered:
//! the SP-MIS, notified, checks the mother's conditions again and exits her (the child the
//! transfer is for has died), the IBR told.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use futures::future::BoxFuture;
use mis::Status;
use serde_json::json;

use crate::applications::{fact_of, last_decision, register_births, within};
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
    let (children, registered) = register_births(world, &[poor, better_off]).await?;
    let child = children.first().context("a birth registered")?;
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
    let enrolled = last_decision(world, "LMCCT", &poor.uin).await?;
    report.equal(
        "the enrolment rests on her youngest child's birth, found in the CRVS by her UIN",
        Some((
            Some(today.to_string()),
            format!("Person mother_uin = \"{}\"", poor.uin),
        )),
        fact_of(enrolled.as_ref(), "youngest_child_birth_date"),
    );
    let rejected = last_decision(world, "LMCCT", &better_off.uin).await?;
    report.equal(
        "the better-off mother is rejected on her household's score",
        Some("poor household"),
        rejected.as_ref().and_then(failed_rule),
    );
    report.equal(
        "the IBR holds the enrolled mother in LMCCT",
        vec![("LMCCT".to_string(), "1".to_string())],
        ibr_shows(world, &poor.uin, "LMCCT", Some("1")).await?,
    );

    // The child dies: the transfer for it ends.
    let home = truth.household_of(poor).context("the mother's household")?;
    let registered = Instant::now();
    world
        .registries
        .crvs
        .send::<serde_json::Value>(
            "/registrar/crvs/records",
            &json!({"deaths": [{"uin": child, "death_date": today.to_string(),
                                "death_place": home.location_code}]}),
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
