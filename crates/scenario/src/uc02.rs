//! UC-02, stop the old-age allowance on death: two pensioners are enrolled and the month's
//! cycle is closed, their allowances pending; the civil registry registers the death of one.
//! The SP-MIS, subscribed to the civil registry's deaths, is notified: it exits the deceased
//! on the date of death and cancels the pending allowance, and tells the IBR. The cycle is
//! then paid: nothing goes to the deceased.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::future::BoxFuture;
use mis::{EntitlementState, Status};

use crate::{Report, World, apply_all, ibr_shows};

/// How long the death may take to reach the SP-MIS (the bar is one second; this is when the
/// scenario stops waiting).
const WAIT: Duration = Duration::from_secs(10);

pub(crate) fn run<'w>(
    world: &'w World<'w>,
    report: Report<'w>,
) -> BoxFuture<'w, Result<Report<'w>>> {
    Box::pin(uc02(world, report))
}

async fn uc02<'w>(world: &'w World<'w>, mut report: Report<'w>) -> Result<Report<'w>> {
    let truth = world.truth;
    let today = truth.today();
    let pensioners = world
        .fresh(
            truth.persons().iter().filter(|p| {
                p.death_date.is_none()
                    && (65..=90).contains(&truth.age(p))
                    && truth.in_no_programme(p)
                    && truth.household_of(p).is_some()
            }),
            2,
        )
        .await?;
    let [dies, lives] = pensioners[..] else {
        bail!("the population has no two pensioners the SP-MIS has not seen");
    };
    let decisions = apply_all(world, "OAA", &pensioners).await?;
    report.equal(
        "both pensioners are enrolled in the old-age allowance",
        vec![Status::Enrolled; 2],
        decisions.iter().map(|d| d.status).collect(),
    );
    let started = Instant::now();
    let mut cycle = world.mis.close_cycle("OAA", today).await?;
    world.timeline.line(format!(
        "  SP-MIS closed the OAA cycle of {today}: {} beneficiaries, allowances pending ({:.0} ms)",
        cycle.beneficiaries,
        started.elapsed().as_secs_f64() * 1000.0
    ));
    let entitlements = world.mis.enrolments().entitlements();
    let state_of = |uin: &str| {
        let entitlements = entitlements.clone();
        let uin = uin.to_string();
        async move {
            let of_cycle = entitlements.of_payee("OAA", &uin).await?;
            anyhow::Ok(
                of_cycle
                    .into_iter()
                    .find(|e| e.cycle == today)
                    .map(|e| e.state),
            )
        }
    };
    report.equal(
        "the allowances of both are pending",
        [Some(EntitlementState::Pending); 2],
        [state_of(&dies.uin).await?, state_of(&lives.uin).await?],
    );

    // The death, at the civil registry's registrar.
    let household = truth
        .household_of(dies)
        .context("the pensioner's household")?;
    let registered = Instant::now();
    let answer: serde_json::Value = world
        .registries
        .crvs
        .send(
            "/registrar/crvs/records",
            &serde_json::json!({"deaths": [{"uin": dies.uin, "death_date": today.to_string(),
                                "death_place": household.location_code}]}),
        )
        .await
        .context("registering the death at the civil registry")?;
    world.timeline.line(format!(
        "  CRVS registrar registered the death of {} on {today}: {} ({:.1} ms)",
        dies.uin,
        answer["deaths"][0].as_str().unwrap_or("?"),
        registered.elapsed().as_secs_f64() * 1000.0
    ));
    let stopped = loop {
        let status = world.mis.enrolments().status("OAA", &dies.uin).await?;
        let state = state_of(&dies.uin).await?;
        if status == Some(Status::Exited) && state == Some(EntitlementState::Cancelled) {
            break Some(registered.elapsed());
        }
        if registered.elapsed() > WAIT {
            break None;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    match stopped {
        Some(took) => world.timeline.line(format!(
            "  SP-MIS notified by the CRVS: {} exited, the pending allowance cancelled, {:.0} ms after the registration",
            dies.uin,
            took.as_secs_f64() * 1000.0
        )),
        None => world.timeline.line(format!(
            "  SP-MIS: {} not exited {WAIT:?} after the registration",
            dies.uin
        )),
    }
    report.that(
        "the deceased is exited and the pending allowance cancelled within a second",
        stopped.is_some_and(|took| took < Duration::from_secs(1)),
        format!("{stopped:?}"),
    );
    let last = world
        .mis
        .enrolments()
        .history("OAA", &dies.uin)
        .await?
        .pop()
        .context("the deceased's history")?;
    report.equal(
        "the exit is dated the day of death",
        (Status::Exited, today),
        (last.status, last.date),
    );
    report.equal(
        "the survivor is still enrolled, the allowance pending",
        (Some(Status::Enrolled), Some(EntitlementState::Pending)),
        (
            world.mis.enrolments().status("OAA", &lives.uin).await?,
            state_of(&lives.uin).await?,
        ),
    );

    // The IBR hears of the exit from the SP-MIS's outbox.
    report.equal(
        "the IBR shows the deceased exited from OAA",
        vec![("OAA".to_string(), "6".to_string())],
        ibr_shows(world, &dies.uin, "OAA", Some("6")).await?,
    );

    // The cycle is paid: the survivor's allowance goes out (or fails with the payments
    // service's reason), the deceased's never.
    let started = Instant::now();
    world.mis.pay_cycle(&mut cycle).await?;
    world.timeline.line(format!(
        "  SP-MIS paid the OAA cycle through the payments service: {} paid, {} failed ({:.0} ms)",
        cycle.paid.len(),
        cycle.failed.len(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    let sent: Vec<&str> = cycle
        .paid
        .iter()
        .chain(cycle.failed.iter().map(|(who, _)| who))
        .map(String::as_str)
        .collect();
    report.equal(
        "the payment cycle settles the survivor's allowance and sends nothing for the deceased",
        (true, false),
        (
            sent.contains(&lives.uin.as_str()),
            sent.contains(&dies.uin.as_str()),
        ),
    );
    report.equal(
        "the deceased's allowance stays cancelled",
        Some(EntitlementState::Cancelled),
        state_of(&dies.uin).await?,
    );
    Ok(report)
}
