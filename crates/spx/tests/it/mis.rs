//! The SP-MIS over DCI, on each backend: UC-01 (old-age allowance on application) with the
//! civil registry, the ID registry and the IBR as separate HTTP services loaded with the shared
//! population, and the SP-MIS asking them through the `client` crate.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, ensure};
use axum::response::IntoResponse;
use client::Client;
use mis::rules::{FactUsed, Outcome, Registry, Source};
use mis::{Decision, Mis, Programme, Registries, Status};
use serde_json::json;

use crate::crvs::persons;
use crate::support::{Backend, Place, TestRegistry, age, fixture, post_json, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "mis::uc01_old_age_allowance_enrols_the_old_rejects_the_rest_with_reasons_and_tells_the_ibr_of_each_change",
        uc01_old_age_allowance_enrols_the_old_rejects_the_rest_with_reasons_and_tells_the_ibr_of_each_change,
    ),
    (
        "mis::uc03_widow_allowance_enrols_poor_widows_under_65_whose_spouse_died",
        uc03_widow_allowance_enrols_poor_widows_under_65_whose_spouse_died,
    ),
    (
        "mis::the_http_api_lists_programmes_takes_applications_and_shows_a_history",
        the_http_api_lists_programmes_takes_applications_and_shows_a_history,
    ),
    (
        "mis::an_application_while_the_ibr_is_down_enrols_and_reaches_the_ibr_when_it_returns",
        an_application_while_the_ibr_is_down_enrols_and_reaches_the_ibr_when_it_returns,
    ),
    (
        "mis::uc01_a_higher_age_threshold_enrols_exactly_those_old_enough_for_it",
        uc01_a_higher_age_threshold_enrols_exactly_those_old_enough_for_it,
    ),
];

pub const MIS: &str = "spmis.test";

/// The settings of a registry under `service_id` whose notifications wait for a subscriber
/// that is down for a while (attempts enough for a minute), as a production outbox would.
pub fn patient(service_id: &str) -> registry::RegistryConfig {
    let mut config = crate::support::registry_config();
    config.service_id = service_id.into();
    config.header.service_id = service_id.into();
    config.dispatch.max_attempts = 200;
    config
}

/// The registries of UC-01 and UC-03, each its own HTTP service with its own store.
pub struct Registers {
    pub crvs: TestRegistry,
    pub id: TestRegistry,
    pub social: TestRegistry,
}

impl Registers {
    pub async fn spawn(backend: Backend) -> Result<Self> {
        Ok(Registers {
            crvs: TestRegistry::spawn_profile(
                backend,
                &registry::crvs::PROFILE,
                patient("crvs.test"),
            )
            .await?,
            id: TestRegistry::spawn_as(backend, &registry::id::PROFILE, "id.test").await?,
            social: TestRegistry::spawn_as(backend, &registry::social::PROFILE, "social.test")
                .await?,
        })
    }
}

/// Delivery of IBR updates as fast as tests want it, retried until the IBR takes them.
pub fn delivery() -> mis::Delivery {
    mis::Delivery {
        dispatch: dispatch::DispatchConfig {
            base_backoff: std::time::Duration::from_millis(50),
            max_backoff: std::time::Duration::from_millis(400),
            breaker_cooldown: std::time::Duration::from_millis(200),
            poll_interval: std::time::Duration::from_millis(50),
            ..mis::Delivery::default().dispatch
        },
        ..mis::Delivery::default()
    }
}

/// How long an IBR update may take to be delivered from the outbox.
pub const DELIVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// An SP-MIS with its own store and its own IBR, running `programmes`.
pub struct SpMis {
    pub mis: Mis,
    pub ibr: TestRegistry,
    pub store: std::sync::Arc<dyn store::Store>,
    pub registries: Registries,
    _place: Place,
}

/// A client of a service nobody serves (port 9, discard, is closed on loopback).
pub(crate) fn unreachable_client(receiver: &str) -> Client {
    Client::new("http://127.0.0.1:9", MIS, Some(receiver))
}

pub(crate) fn client_of(registry: &TestRegistry) -> Client {
    Client::new(
        format!("http://{}", registry.addr),
        MIS,
        Some(&registry.registry.config.service_id),
    )
}

impl SpMis {
    async fn spawn(
        backend: Backend,
        registers: &Registers,
        programmes: Vec<Programme>,
    ) -> Result<Self> {
        let ibr = TestRegistry::spawn_as(backend, &registry::ibr::PROFILE, "ibr.test").await?;
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), mis::store::MIGRATIONS).await?;
        let registries = Registries {
            crvs: client_of(&registers.crvs),
            id: client_of(&registers.id),
            social: client_of(&registers.social),
            ibr: client_of(&ibr),
            // Not asked by the programmes of these tests (no farm or disability facts, no
            // cycles).
            fr: unreachable_client("fr.test"),
            dr: unreachable_client("dr.test"),
            pay: unreachable_client("pay.test"),
        };
        Ok(SpMis {
            mis: Mis::start(programmes, store.clone(), registries.clone(), delivery()).await?,
            ibr,
            store,
            registries,
            _place: place,
        })
    }

    /// Waits until the last change of `uin` in `programme` is known delivered to the IBR;
    /// returns the history then.
    pub async fn delivered(&self, programme: &str, uin: &str) -> Result<Vec<mis::store::Change>> {
        delivered(&self.mis, programme, uin).await
    }
}

/// Waits until the last change of `uin` in `programme` at `mis` is known delivered to the IBR;
/// returns the history then.
pub(crate) async fn delivered(
    mis: &Mis,
    programme: &str,
    uin: &str,
) -> Result<Vec<mis::store::Change>> {
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let history = mis.enrolments().history(programme, uin).await?;
        let last = history.last().and_then(|c| c.ibr_delivery.as_deref());
        if last == Some("delivered") {
            return Ok(history);
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the last change of {uin} in {programme} is {last:?} after {DELIVERY_WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// `ibr` served again at an address of its own that refuses enrolment updates (503) while the
/// flag returned is set (it starts set), and answers everything else.
pub(crate) async fn refusing_updates(
    ibr: &TestRegistry,
) -> Result<(std::net::SocketAddr, Arc<AtomicBool>)> {
    let down = Arc::new(AtomicBool::new(true));
    let gate = down.clone();
    let app = registry::http::router(ibr.registry.clone()).layer(axum::middleware::from_fn(
        move |request: axum::extract::Request, next: axum::middleware::Next| {
            let refused = gate.load(Ordering::SeqCst)
                && request.uri().path() == "/registry/sync/enrollment/updates";
            async move {
                if refused {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response();
                }
                next.run(request).await
            }
        },
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    tokio::spawn(axum::serve(listener, app).into_future());
    Ok((address, down))
}

/// `ibr`'s programmes for `uin` with their status, as its `enrolled` check answers.
pub async fn ibr_enrolments(ibr: &TestRegistry, uin: &str) -> Result<Vec<(String, String)>> {
    let criteria = serde_json::from_value(json!({"query_type": "expression",
        "query": {"person_identifier": {"eq": uin}}}))?;
    let answer = client_of(ibr).enrolled(vec![criteria]).await?;
    let item = answer
        .message
        .context("no message")?
        .enrolled_response
        .remove(0);
    let mut got: Vec<(String, String)> = item
        .enrollments
        .into_iter()
        .map(|e| (e.programme_identifier, e.enrollment_status))
        .collect();
    got.sort();
    Ok(got)
}

/// Waits until `ibr` holds exactly `expected` (programme, status) for `uin`: the
/// SP-MIS's updates reach it from the outbox.
pub async fn ibr_holds(ibr: &TestRegistry, uin: &str, expected: &[(&str, &str)]) -> Result<()> {
    ibr_shows(ibr, uin, expected, true).await
}

/// Waits until `ibr` holds `expected` (programme, status) for `uin`, and exactly that when
/// `only`: the SP-MIS's updates reach it from the outbox.
pub async fn ibr_shows(
    ibr: &TestRegistry,
    uin: &str,
    expected: &[(&str, &str)],
    only: bool,
) -> Result<()> {
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(p, s)| (p.to_string(), s.to_string()))
        .collect();
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    loop {
        let got = ibr_enrolments(ibr, uin).await?;
        let held = expected.iter().all(|e| got.contains(e));
        if held && (!only || got.len() == expected.len()) {
            return Ok(());
        }
        ensure!(
            tokio::time::Instant::now() < deadline,
            "the IBR holds {got:?} for {uin}, not {expected:?}, after {DELIVERY_WAIT:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The registries and an SP-MIS running the shipped programmes.
pub async fn shipped(backend: Backend) -> Result<(Registers, SpMis)> {
    let registers = Registers::spawn(backend).await?;
    let sp = SpMis::spawn(backend, &registers, mis::programme::shipped()?).await?;
    Ok((registers, sp))
}

/// People in no programme at all, so that no enrolment of the population stands in their way.
pub fn in_no_programme(person: &synth::Person) -> bool {
    !fixture()
        .benefits
        .enrolments
        .iter()
        .any(|e| e.uin == person.uin)
}

pub fn years(person: &synth::Person) -> i32 {
    age(person.birth_date, fixture().today)
}

fn source_of<'d>(decision: &'d Decision, rule: &str) -> Result<&'d FactUsed> {
    decision
        .rules
        .iter()
        .find(|r| r.name == rule)
        .and_then(|r| r.facts.first())
        .with_context(|| format!("no rule {rule} in {decision:?}"))
}

fn uc01_old_age_allowance_enrols_the_old_rejects_the_rest_with_reasons_and_tells_the_ibr_of_each_change(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let (registers, sp) = shipped(backend).await?;
        let living = |p: &&synth::Person| p.death_date.is_none();
        let old = persons()
            .iter()
            .filter(living)
            .find(|p| years(p) >= 65 && in_no_programme(p))
            .context("an old person in no programme")?;
        let young = persons()
            .iter()
            .filter(living)
            .find(|p| (30..65).contains(&years(p)) && in_no_programme(p))
            .context("a young person in no programme")?;
        let covered = fixture()
            .benefits
            .enrolments
            .iter()
            .find(|e| {
                e.programme == "OAA"
                    && e.status == synth::benefits::ACTIVE
                    && persons().iter().any(|p| p.uin == e.uin && p.death_date.is_none())
            })
            .context("a living OAA beneficiary")?;
        let dead = persons()
            .iter()
            .find(|p| p.death_date.is_some() && years(p) >= 65)
            .context("a deceased old person")?;

        // Old enough, alive, verified, in no cash programme: enrolled, and the IBR told.
        let decision = sp.mis.apply("OAA", &old.uin, today).await?;
        ensure!(decision.status == Status::Enrolled && decision.reason.is_none(), "{decision:?}");
        let outcomes: Vec<(&str, Outcome)> =
            decision.rules.iter().map(|r| (r.name.as_str(), r.outcome)).collect();
        ensure!(
            outcomes
                == [
                    ("identity verified", Outcome::Passed),
                    ("alive", Outcome::Passed),
                    ("aged 65 or more", Outcome::Passed),
                    ("no other benefit of type 1", Outcome::Passed),
                ],
            "{outcomes:?}"
        );
        // The explanation names each fact, its value and the exchange that gave it, and each
        // registry's audit trail holds that exchange.
        let birth = source_of(&decision, "aged 65 or more")?;
        ensure!(birth.fact == "birth_date" && birth.value == Some(old.birth_date.to_string()), "{birth:?}");
        ensure!(
            birth.source.as_ref().map(|s| (s.registry, s.query.clone()))
                == Some((Registry::Crvs, format!("Person UIN={}", old.uin))),
            "{birth:?}"
        );
        let verified = source_of(&decision, "identity verified")?;
        ensure!(verified.fact == "identity_verified" && verified.value.as_deref() == Some("true"), "{verified:?}");
        let id_source = verified.source.as_ref().context("an ID source")?;
        ensure!(
            id_source.registry == Registry::Id
                && id_source.query == format!("Identity uin = \"{}\" AND birth_date = \"{}\"", old.uin, old.birth_date),
            "{id_source:?}"
        );
        audited(&registers.crvs, &old.uin, birth.source.as_ref()).await?;
        audited(&registers.id, &old.uin, verified.source.as_ref()).await?;
        let ibr_check = source_of(&decision, "no other benefit of type 1")?;
        ensure!(ibr_check.value.as_deref() == Some("no"), "{ibr_check:?}");
        ibr_holds(&sp.ibr, &old.uin, &[("OAA", "1")]).await?;
        let history: Vec<Status> =
            sp.mis.enrolments().history("OAA", &old.uin).await?.into_iter().map(|c| c.status).collect();
        ensure!(history == [Status::Applied, Status::Verified, Status::Enrolled], "{history:?}");
        let stored = sp.mis.enrolments().history("OAA", &old.uin).await?.pop().context("history")?;
        ensure!(
            stored.ibr_transaction == decision.ibr_transaction
                && stored.decision == Some(serde_json::to_value(&decision)?),
            "{stored:?}"
        );
        // Applying again while enrolled is refused by the lifecycle.
        let again = sp.mis.apply("OAA", &old.uin, today).await.unwrap_err().to_string();
        ensure!(again == format!("{} in OAA: enrolled cannot become applied", old.uin), "{again}");

        // Each later change reaches the IBR, with its reason; the lifecycle refuses the rest.
        for (status, reason, code) in [
            (Status::Suspended, "conditions not met", "4"),
            (Status::Resumed, "conditions met again", "1"),
            (Status::Exited, "moved abroad", "6"),
        ] {
            let transaction = sp.mis.change_status("OAA", &old.uin, status, today, reason).await?;
            ibr_holds(&sp.ibr, &old.uin, &[("OAA", code)]).await?;
            let last = sp.delivered("OAA", &old.uin).await?.pop().context("history")?;
            ensure!(
                last.status == status
                    && last.reason.as_deref() == Some(reason)
                    && last.ibr_transaction == Some(transaction),
                "{last:?}"
            );
        }
        let refused = sp.mis.change_status("OAA", &old.uin, Status::Suspended, today, "late").await;
        ensure!(
            refused.unwrap_err().to_string() == format!("{} in OAA: exited cannot become suspended", old.uin)
                && ibr_enrolments(&sp.ibr, &old.uin).await? == [("OAA".into(), "6".into())]
        );
        let refused = sp.mis.change_status("OAA", &young.uin, Status::Suspended, today, "never enrolled").await;
        ensure!(refused.unwrap_err().to_string() == format!("{} in OAA: nothing cannot become suspended", young.uin));

        // Too young: rejected on the birth date, and the IBR never hears of it.
        let decision = sp.mis.apply("OAA", &young.uin, today).await?;
        ensure!(
            decision.status == Status::Rejected
                && decision.reason
                    == Some(format!("aged 65 or more: age >= 65 failed on birth_date {}", young.birth_date)),
            "{decision:?}"
        );
        ensure!(ibr_enrolments(&sp.ibr, &young.uin).await?.is_empty());

        // Already drawing the old-age allowance: the IBR check stops a second cash benefit.
        let decision = sp.mis.apply("OAA", &covered.uin, today).await?;
        let check = format!(
            "no other benefit of type 1: enrolled(person_identifier = \"{}\" AND benefit_type = \"1\") = no failed on enrolled yes in OAA",
            covered.uin
        );
        ensure!(decision.status == Status::Rejected && decision.reason == Some(check), "{decision:?}");

        // Dead: the civil registry's death record rejects them.
        let decision = sp.mis.apply("OAA", &dead.uin, today).await?;
        ensure!(
            decision.status == Status::Rejected
                && decision.reason == Some("alive: deceased = false failed on deceased true".into()),
            "{decision:?}"
        );

        // Nobody with this UIN: no birth record, nothing to verify.
        let decision = sp.mis.apply("OAA", "0000000000", today).await?;
        ensure!(
            decision.status == Status::Rejected
                && decision.reason
                    == Some("identity verified: identity_verified = true unknown on no identity_verified".into()),
            "{decision:?}"
        );
        let unknown = sp.mis.apply("XYZ", &young.uin, today).await.unwrap_err().to_string();
        ensure!(unknown == "no programme has the code XYZ", "{unknown}");
        Ok(())
    })
}

fn uc01_a_higher_age_threshold_enrols_exactly_those_old_enough_for_it(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let registers = Registers::spawn(backend).await?;
        // Living people of 60 to 79 in no programme, a few of each age band.
        let mut applicants: Vec<&synth::Person> = Vec::new();
        for band in [60..65, 65..70, 70..80] {
            applicants.extend(
                persons()
                    .iter()
                    .filter(|p| p.death_date.is_none() && band.contains(&years(p)) && in_no_programme(p))
                    .take(3),
            );
        }
        ensure!(applicants.len() == 9, "{}", applicants.len());
        let oaa = include_str!("../../../mis/programmes/oaa.toml");
        let mut enrolled_at = Vec::new();
        for threshold in [65, 70] {
            let text = oaa
                .replace("age >= 65", &format!("age >= {threshold}"))
                .replace("aged 65 or more", &format!("aged {threshold} or more"));
            let programme = Programme::parse(&text, "oaa.toml")?;
            let sp = SpMis::spawn(backend, &registers, vec![programme]).await?;
            let mut enrolled = BTreeSet::new();
            let mut deciding = std::time::Duration::ZERO;
            for person in &applicants {
                let started = std::time::Instant::now();
                let decision = sp.mis.apply("OAA", &person.uin, today).await?;
                deciding += started.elapsed();
                if decision.status == Status::Enrolled {
                    enrolled.insert(person.uin.clone());
                } else {
                    ensure!(
                        decision.reason
                            == Some(format!(
                                "aged {threshold} or more: age >= {threshold} failed on birth_date {}",
                                person.birth_date
                            )),
                        "{decision:?}"
                    );
                }
                if decision.status == Status::Enrolled {
                    ibr_holds(&sp.ibr, &person.uin, &[("OAA", "1")]).await?;
                } else {
                    let in_ibr = ibr_enrolments(&sp.ibr, &person.uin).await?;
                    ensure!(in_ibr.is_empty(), "{in_ibr:?}");
                }
            }
            let expected: BTreeSet<String> = applicants
                .iter()
                .filter(|p| years(p) >= threshold)
                .map(|p| p.uin.clone())
                .collect();
            ensure!(enrolled == expected, "threshold {threshold}: {enrolled:?} != {expected:?}");
            println!(
                "threshold {threshold}: {} applications decided in {deciding:?} ({} enrolled)",
                applicants.len(),
                enrolled.len()
            );
            enrolled_at.push(enrolled);
        }
        // Raising the threshold to 70 drops exactly the three aged 65 to 69.
        ensure!(enrolled_at[0].len() == 6 && enrolled_at[1].len() == 3 && enrolled_at[1].is_subset(&enrolled_at[0]));
        Ok(())
    })
}

/// `registry`'s audit trail holds the sync search about `uin` that `source` names, made by the
/// SP-MIS, with its transaction and correlation ids.
async fn audited(registry: &TestRegistry, uin: &str, source: Option<&Source>) -> Result<()> {
    let source = source.context("no source")?;
    let seen = store::audit::who_saw(registry.store.as_ref(), &format!("UIN:{uin}")).await?;
    ensure!(
        seen.iter()
            .any(|r| r.entry.participant.as_deref() == Some(MIS)
                && r.entry.endpoint == "/registry/sync/search"
                && r.entry.transaction_id.as_ref() == Some(&source.transaction_id)
                && r.entry.correlation_id.as_ref() == Some(&source.correlation_id)),
        "{source:?} not in {seen:?}"
    );
    Ok(())
}

/// The poverty score of `person`'s household.
pub fn poverty(person: &synth::Person) -> Option<f64> {
    let household = person.household_id.as_deref()?;
    fixture()
        .population
        .households
        .iter()
        .find(|h| h.household_id == household)
        .map(|h| h.poverty_score)
}

fn uc03_widow_allowance_enrols_poor_widows_under_65_whose_spouse_died(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let (registers, sp) = shipped(backend).await?;
        let widows: Vec<&synth::Person> = persons()
            .iter()
            .filter(|p| {
                p.death_date.is_none()
                    && p.sex == "female"
                    && p.marital_status == "W"
                    && years(p) < 65
                    && in_no_programme(p)
            })
            .collect();
        let poor = widows
            .iter()
            .find(|p| poverty(p).is_some_and(|s| s <= 40.0))
            .context("a poor widow")?;
        let better_off = widows
            .iter()
            .find(|p| poverty(p).is_some_and(|s| s > 40.0))
            .context("a better-off widow")?;
        let married = persons()
            .iter()
            .find(|p| {
                p.death_date.is_none()
                    && p.sex == "female"
                    && p.marital_status == "M"
                    && years(p) < 65
                    && in_no_programme(p)
            })
            .context("a married woman")?;

        let decision = sp.mis.apply("WA", &poor.uin, today).await?;
        ensure!(decision.status == Status::Enrolled, "{decision:?}");
        // The spouse's death comes from the civil registry's death record, found through the
        // marriage record; the poverty score from the social registry.
        let spouse = source_of(&decision, "spouse deceased")?;
        let spouse_uin = poor
            .spouse_uin
            .as_deref()
            .context("the widow's late spouse")?;
        ensure!(
            spouse.value.as_deref() == Some("true")
                && spouse
                    .source
                    .as_ref()
                    .map(|s| (s.registry, s.query.clone()))
                    == Some((Registry::Crvs, format!("DeathRecord UIN={spouse_uin}"))),
            "{spouse:?}"
        );
        let score = source_of(&decision, "poor enough")?;
        ensure!(
            score.value == poverty(poor).map(|s| s.to_string())
                && score.source.as_ref().map(|s| (s.registry, s.query.clone()))
                    == Some((Registry::Social, format!("Group UIN={}", poor.uin))),
            "{score:?}"
        );
        audited(&registers.social, &poor.uin, score.source.as_ref()).await?;
        ibr_holds(&sp.ibr, &poor.uin, &[("WA", "1")]).await?;

        let decision = sp.mis.apply("WA", &better_off.uin, today).await?;
        ensure!(
            decision.status == Status::Rejected
                && decision.reason
                    == Some(format!(
                        "poor enough: poverty_score <= 40 failed on poverty_score {}",
                        poverty(better_off).unwrap_or_default()
                    )),
            "{decision:?}"
        );
        let decision = sp.mis.apply("WA", &married.uin, today).await?;
        ensure!(
            decision.status == Status::Rejected
                && decision.reason
                    == Some("widowed: marital_status = \"W\" failed on marital_status M".into()),
            "{decision:?}"
        );
        ensure!(
            ibr_enrolments(&sp.ibr, &better_off.uin).await?.is_empty()
                && ibr_enrolments(&sp.ibr, &married.uin).await?.is_empty()
        );
        Ok(())
    })
}

fn the_http_api_lists_programmes_takes_applications_and_shows_a_history(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let (_registers, sp) = shipped(backend).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, mis::http::router(sp.mis.clone())).into_future());
        let http = reqwest::Client::new();
        let get = |path: String| {
            let request = http.get(format!("{base}{path}"));
            async move {
                let answer = request.send().await?;
                anyhow::Ok((answer.status().as_u16(), answer.json::<serde_json::Value>().await?))
            }
        };

        let (status, programmes) = get("/mis/programmes".into()).await?;
        ensure!(status == 200, "{programmes}");
        let codes: Vec<&str> = programmes.as_array().into_iter().flatten().filter_map(|p| p["code"].as_str()).collect();
        ensure!(codes == ["CB", "DA", "ECCT", "FSP", "LMCCT", "OAA", "UCT", "WA"], "{codes:?}");
        let oaa = &programmes[codes.iter().position(|c| *c == "OAA").context("OAA")?];
        ensure!(
            oaa["amount"] == json!({"currency": "USD", "per_cycle": 2500})
                && oaa["eligibility"][2] == json!({"name": "aged 65 or more", "rule": "age >= 65"})
                && oaa["conditions"][0] == json!({"name": "alive", "rule": "deceased = false", "otherwise": "exit"}),
            "{programmes}"
        );

        let old = persons()
            .iter()
            .find(|p| p.death_date.is_none() && years(p) >= 65 && in_no_programme(p))
            .context("an old person in no programme")?;
        let apply = |programme: &str, uin: &str| json!({"programme": programme, "uin": uin});
        let (status, decision) = post_json(&http, &format!("{base}/mis/applications"), &apply("OAA", &old.uin)).await?;
        ensure!(status == 200 && decision["status"] == "enrolled" && decision["reason"].is_null(), "{decision}");
        // Dates are calendar dates, as the registries write them.
        ensure!(decision["date"] == fixture().today.to_string(), "{decision}");
        ensure!(decision["rules"][2]["facts"][0]["value"] == old.birth_date.to_string(), "{decision}");
        ensure!(decision["rules"][2]["facts"][0]["source"]["registry"] == "crvs", "{decision}");

        let (status, again) = post_json(&http, &format!("{base}/mis/applications"), &apply("OAA", &old.uin)).await?;
        ensure!(
            status == 409 && again == json!({"error": format!("{} in OAA: enrolled cannot become applied", old.uin)}),
            "{again}"
        );
        let (status, unknown) = post_json(&http, &format!("{base}/mis/applications"), &apply("XYZ", &old.uin)).await?;
        ensure!(status == 404 && unknown == json!({"error": "no programme has the code XYZ"}), "{unknown}");

        let (status, history) = get(format!("/mis/programmes/OAA/beneficiaries/{}", old.uin)).await?;
        let statuses: Vec<&str> = history["history"].as_array().into_iter().flatten().filter_map(|c| c["status"].as_str()).collect();
        ensure!(
            status == 200 && history["status"] == "enrolled" && statuses == ["applied", "verified", "enrolled"]
                && history["history"][2]["decision"] == decision
                && history["history"][2]["ibr_transaction"] == decision["ibr_transaction"],
            "{history}"
        );
        let (status, none) = get("/mis/programmes/WA/beneficiaries/0000000000".into()).await?;
        ensure!(status == 404 && none == json!({"error": "0000000000 never applied to WA"}), "{none}");
        Ok(())
    })
}

fn an_application_while_the_ibr_is_down_enrols_and_reaches_the_ibr_when_it_returns(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let (_registers, sp) = shipped(backend).await?;
        let old = persons()
            .iter()
            .find(|p| p.death_date.is_none() && years(p) >= 65 && in_no_programme(p))
            .context("an old person in no programme")?;
        // The same SP-MIS (its store) with its IBR at `ibr`.
        let shipped = mis::programme::shipped()?;
        let reaching = |ibr: std::net::SocketAddr| {
            Mis::start(
                shipped.clone(),
                sp.store.clone(),
                Registries {
                    ibr: Client::new(format!("http://{ibr}"), MIS, Some("ibr.test")),
                    ..sp.registries.clone()
                },
                delivery(),
            )
        };

        // Nothing answers at the IBR's address: the enrolled check, needed before enrolling,
        // cannot be made, and the application stops at verified.
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await?
            .local_addr()?;
        let error = reaching(closed)
            .await?
            .apply("OAA", &old.uin, today)
            .await
            .unwrap_err()
            .to_string();
        ensure!(error.starts_with("ibr: POST http://"), "{error}");
        ensure!(sp.mis.enrolments().status("OAA", &old.uin).await? == Some(Status::Verified));

        // The IBR answers the check but is down for updates (503): the application is made
        // again and enrols, the enrolment committed with its update, which waits in the outbox,
        // and so does a suspension after it.
        let (flaky_ibr, down) = refusing_updates(&sp.ibr).await?;
        let flaky = reaching(flaky_ibr).await?;
        let decision = flaky.apply("OAA", &old.uin, today).await?;
        ensure!(decision.status == Status::Enrolled, "{decision:?}");
        let suspended = flaky
            .change_status("OAA", &old.uin, Status::Suspended, today, "review")
            .await?;
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        ensure!(ibr_enrolments(&sp.ibr, &old.uin).await?.is_empty());
        let waiting: Vec<(Status, Option<String>)> = sp
            .mis
            .enrolments()
            .history("OAA", &old.uin)
            .await?
            .into_iter()
            .map(|c| (c.status, c.ibr_delivery))
            .collect();
        ensure!(
            waiting
                == [
                    (Status::Applied, None),
                    (Status::Verified, None),
                    (Status::Applied, None),
                    (Status::Verified, None),
                    (Status::Enrolled, Some("pending".into())),
                    (Status::Suspended, Some("pending".into())),
                ],
            "{waiting:?}"
        );

        // The IBR takes updates again: both arrive, in order, and are recorded delivered.
        down.store(false, Ordering::SeqCst);
        ibr_holds(&sp.ibr, &old.uin, &[("OAA", "4")]).await?;
        let history = sp.delivered("OAA", &old.uin).await?;
        ensure!(
            history[4].ibr_transaction == decision.ibr_transaction
                && history[4].ibr_delivery.as_deref() == Some("delivered")
                && history[5].ibr_transaction.as_deref() == Some(suspended.as_str()),
            "{history:?}"
        );
        Ok(())
    })
}
