//! Applications made in a scenario, shown on its timeline, and what the IBR holds of them.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mis::rules::Outcome;
use mis::{Decision, Status};

use crate::World;

/// The name of the first rule that did not pass: why `decision` rejected its applicant.
pub fn failed_rule(decision: &Decision) -> Option<&str> {
    decision
        .rules
        .iter()
        .find(|r| r.outcome != Outcome::Passed)
        .map(|r| r.name.as_str())
}

/// Applies each of `applicants` to `programme` on the population's day, with a progress bar.
/// The timeline shows the first decision of each kind (enrolled, or rejected by a rule) in full:
/// every registry exchange behind it, with its DCI transaction; then how many were decided and
/// how long they took. The decisions, in `applicants` order.
pub async fn apply_all(
    world: &World<'_>,
    programme: &str,
    applicants: &[&synth::Person],
) -> Result<Vec<Decision>> {
    let bar = world.timeline.progress(
        applicants.len() as u64,
        &format!("{programme} applications"),
    );
    let mut shown = std::collections::HashSet::new();
    let mut decisions = Vec::with_capacity(applicants.len());
    let started = Instant::now();
    for person in applicants {
        let one = Instant::now();
        let decision = world
            .mis
            .apply(programme, &person.uin, world.truth.today())
            .await
            .with_context(|| format!("{programme} application of {}", person.uin))?;
        let took = one.elapsed();
        bar.inc(1);
        if shown.insert(failed_rule(&decision).map(str::to_string)) {
            bar.suspend(|| show(world, &decision, took));
        }
        decisions.push(decision);
    }
    bar.finish_and_clear();
    let mut by_status: BTreeMap<&str, usize> = BTreeMap::new();
    for decision in &decisions {
        *by_status.entry(decision.status.as_str()).or_default() += 1;
    }
    let counts: Vec<String> = by_status.iter().map(|(s, n)| format!("{n} {s}")).collect();
    world.timeline.line(format!(
        "  SP-MIS decided {} {programme} applications in {:.0} ms ({})",
        decisions.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        counts.join(", ")
    ));
    Ok(decisions)
}

/// One decision on the timeline: the outcome, then each exchange it rests on.
fn show(world: &World<'_>, decision: &Decision, took: std::time::Duration) {
    let why = match (&decision.status, &decision.reason) {
        (Status::Rejected, Some(reason)) => format!(": {reason}"),
        _ => String::new(),
    };
    world.timeline.line(format!(
        "  SP-MIS {} application of {}: {}{why} ({:.1} ms)",
        decision.programme,
        decision.uin,
        decision.status.as_str(),
        took.as_secs_f64() * 1000.0
    ));
    let mut seen = std::collections::HashSet::new();
    for rule in &decision.rules {
        for source in rule.facts.iter().filter_map(|f| f.source.as_ref()) {
            if seen.insert(&source.transaction_id) {
                world.timeline.line(format!(
                    "      asked {:<6} {} (transaction {})",
                    source.registry.as_str().to_uppercase(),
                    source.query,
                    source.transaction_id
                ));
            }
        }
    }
    if let Some(transaction) = &decision.ibr_transaction {
        world.timeline.line(format!(
            "      told  IBR    enrollment/updates {} {} (transaction {transaction})",
            decision.programme,
            decision.status.as_str()
        ));
    }
}

/// The IBR's enrolments of `uin`: each programme's code with its EnrollmentStatusEnum code,
/// sorted, as its `enrolled` check answers.
pub async fn ibr_programmes(world: &World<'_>, uin: &str) -> Result<Vec<(String, String)>> {
    let criteria = serde_json::from_value(serde_json::json!({"query_type": "expression",
        "query": {"person_identifier": {"eq": uin}}}))?;
    let answer = world.registries.ibr.enrolled(vec![criteria]).await?;
    let item = answer
        .message
        .context("the IBR answered without a message")?
        .enrolled_response
        .into_iter()
        .next()
        .context("the IBR answered no criteria")?;
    let mut got: Vec<(String, String)> = item
        .enrollments
        .into_iter()
        .map(|e| (e.programme_identifier, e.enrollment_status))
        .collect();
    got.sort();
    Ok(got)
}

/// What the IBR holds of `uin` once it shows `programme` (with `status`, when given: the
/// SP-MIS's updates reach it from its outbox), or after ten seconds of waiting.
pub async fn ibr_shows(
    world: &World<'_>,
    uin: &str,
    programme: &str,
    status: Option<&str>,
) -> Result<Vec<(String, String)>> {
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let held = ibr_programmes(world, uin).await?;
        let shown = held
            .iter()
            .any(|(p, s)| p == programme && status.is_none_or(|status| s == status));
        if shown || Instant::now() > deadline {
            return Ok(held);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Polls `done` every 5 ms until it holds or `limit` has passed since `since`: how long after
/// `since` it held, `None` when it did not in time.
pub(crate) async fn within<F, Fut>(
    since: Instant,
    limit: Duration,
    mut done: F,
) -> Result<Option<Duration>>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<bool>>,
{
    loop {
        if done().await? {
            return Ok(Some(since.elapsed()));
        }
        if since.elapsed() > limit {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The decision recorded last for `uin` in programme `code`, if any.
pub(crate) async fn last_decision(
    world: &World<'_>,
    code: &str,
    uin: &str,
) -> Result<Option<Decision>> {
    let change = world.mis.enrolments().history(code, uin).await?.pop();
    Ok(change
        .and_then(|c| c.decision)
        .map(serde_json::from_value)
        .transpose()?)
}

/// The value of `fact` a decision read, and what was asked of which registry for it.
pub(crate) fn fact_of(decision: Option<&Decision>, fact: &str) -> Option<(Option<String>, String)> {
    decision?
        .rules
        .iter()
        .flat_map(|r| &r.facts)
        .find(|f| f.fact == fact)
        .map(|f| {
            (
                f.value.clone(),
                f.source
                    .as_ref()
                    .map(|s| s.query.clone())
                    .unwrap_or_default(),
            )
        })
}

/// Registers at the civil registry, today, the birth of a child to each of `mothers`, under
/// UINs new on every run, and tells the timeline; the children's UINs and when the
/// registration was made.
pub(crate) async fn register_births(
    world: &World<'_>,
    mothers: &[&synth::Person],
) -> Result<(Vec<String>, Instant)> {
    let truth = world.truth;
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_micros() as u64;
    let mut children = Vec::new();
    let mut births = Vec::new();
    for (i, mother) in mothers.iter().enumerate() {
        let child = truth.new_uin(seed + 7 * i as u64);
        let home = truth
            .household_of(mother)
            .context("the mother's household")?;
        births.push(
            serde_json::json!({"uin": child, "given_name": "Amani", "surname": "Otieno",
            "sex": "female", "birth_date": truth.today().to_string(),
            "birth_place": home.location_code, "mother_uin": mother.uin}),
        );
        children.push(child);
    }
    let registered = Instant::now();
    let answer: serde_json::Value = world
        .registries
        .crvs
        .send(
            "/registrar/crvs/records",
            &serde_json::json!({ "births": births }),
        )
        .await
        .context("registering the births at the civil registry")?;
    let told: Vec<String> = children
        .iter()
        .zip(mothers)
        .map(|(child, mother)| {
            format!(
                "{child} (mother {}, household score {})",
                mother.uin,
                truth.poverty(mother).unwrap_or_default()
            )
        })
        .collect();
    world.timeline.line(format!(
        "  CRVS registrar registered the births of {}: {} ({:.1} ms)",
        told.join(" and "),
        answer["births"],
        registered.elapsed().as_secs_f64() * 1000.0
    ));
    Ok((children, registered))
}
