//! The SP-MIS's proactive enrolment and payment cycles, on each backend, with the civil, ID,
//! social, farmer and beneficiary registries and the payments service as separate HTTP
//! services loaded with the shared population. Each outcome is checked against the ground
//! truth worked out here from the population's synthetic data: who is enrolled, who is
//! rejected and why, what the IBR holds, which payments went out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use client::Client;
use mis::{CycleReport, EntitlementState, Mis, Programme, Registries, Status};
use scenario::{Expected, named_by_ibr_check};
use serde_json::{Value, json};

use crate::crvs::persons;
use crate::mis::{MIS, poverty, years};
use crate::pay::{PAY_ID, TestPay, engine_config, reliable, test_settings};
use crate::support::{Backend, Place, TestRegistry, fixture, post_json, runtime};

pub const TESTS: &[(&str, crate::BackendTest)] = &[
    (
        "mis_cycles::uc06_uct_enrols_exactly_the_poor_households_searched_and_pays_each_once",
        uc06_uct_enrols_exactly_the_poor_households_searched_and_pays_each_once,
    ),
    (
        "mis_cycles::uc11_uc08_uc13_ecct_enrols_the_uncovered_pays_the_compliant_and_reconciles",
        uc11_uc08_uc13_ecct_enrols_the_uncovered_pays_the_compliant_and_reconciles,
    ),
    (
        "mis_cycles::uc07_widow_allowance_enrols_exactly_the_qualifying_widows_found",
        uc07_widow_allowance_enrols_exactly_the_qualifying_widows_found,
    ),
    (
        "mis_cycles::uc14_farmer_support_enrols_the_small_poor_farmers_found",
        uc14_farmer_support_enrols_the_small_poor_farmers_found,
    ),
    (
        "mis_cycles::uc12_the_ibr_shows_programmes_and_payments_of_two_sp_mis",
        uc12_the_ibr_shows_programmes_and_payments_of_two_sp_mis,
    ),
    (
        "mis_cycles::programmes_are_created_over_http_checked_and_kept",
        programmes_are_created_over_http_checked_and_kept,
    ),
    (
        "mis_cycles::leaving_the_programme_cancels_pending_entitlements",
        leaving_the_programme_cancels_pending_entitlements,
    ),
    (
        "mis_cycles::a_cycle_cut_short_is_finished_by_the_next_run_paying_each_once",
        a_cycle_cut_short_is_finished_by_the_next_run_paying_each_once,
    ),
    (
        "mis_cycles::a_cycle_pays_nobody_whose_enrolment_the_ibr_has_not_taken",
        a_cycle_pays_nobody_whose_enrolment_the_ibr_has_not_taken,
    ),
];

/// The registries and the payments service (publishing its receipts to the IBR), each its
/// own HTTP service with its own store.
pub(crate) struct World {
    crvs: TestRegistry,
    id: TestRegistry,
    social: TestRegistry,
    fr: TestRegistry,
    pub(crate) dr: TestRegistry,
    ibr: TestRegistry,
    pay: TestPay,
}

/// An SP-MIS with its own store.
pub(crate) struct SpMis {
    pub(crate) mis: Mis,
    store: Arc<dyn store::Store>,
    _place: Place,
}

impl World {
    pub(crate) async fn spawn(backend: Backend) -> Result<Self> {
        let ibr = TestRegistry::spawn_as(backend, &registry::ibr::PROFILE, "ibr.test").await?;
        let receipts = Arc::new(pay::receipts::IbrReceipts::new(
            &format!("http://{}", ibr.addr),
            PAY_ID,
            "ibr.test",
        ));
        let pay = TestPay::spawn_publishing(
            backend,
            engine_config(),
            test_settings(),
            |store| Arc::new(pay::switch::Simulator::new(store, reliable())),
            receipts,
        )
        .await?;
        Ok(World {
            crvs: TestRegistry::spawn_as(backend, &registry::crvs::PROFILE, "crvs.test").await?,
            id: TestRegistry::spawn_as(backend, &registry::id::PROFILE, "id.test").await?,
            social: TestRegistry::spawn_as(backend, &registry::social::PROFILE, "social.test")
                .await?,
            fr: TestRegistry::spawn_as(backend, &registry::fr::PROFILE, "fr.test").await?,
            dr: TestRegistry::spawn_as(backend, &registry::dr::PROFILE, "dr.test").await?,
            ibr,
            pay,
        })
    }

    /// The registries as the participant `sender` reaches them.
    pub(crate) fn registries(&self, sender: &str) -> Registries {
        let client = |r: &TestRegistry| {
            Client::new(
                format!("http://{}", r.addr),
                sender,
                Some(&r.registry.config.service_id),
            )
        };
        Registries {
            crvs: client(&self.crvs),
            id: client(&self.id),
            social: client(&self.social),
            ibr: client(&self.ibr),
            fr: client(&self.fr),
            dr: client(&self.dr),
            pay: Client::new(format!("http://{}", self.pay.addr), sender, Some(PAY_ID)),
        }
    }

    /// An SP-MIS of participant `sender` with a fresh store, running `programmes`.
    pub(crate) async fn mis(
        &self,
        backend: Backend,
        sender: &str,
        programmes: Vec<Programme>,
    ) -> Result<SpMis> {
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), mis::store::MIGRATIONS).await?;
        Ok(SpMis {
            mis: Mis::start(
                programmes,
                store.clone(),
                self.registries(sender),
                crate::mis::delivery(),
            )
            .await?,
            store,
            _place: place,
        })
    }

    /// Links each UIN to an account at the payments service's mapper, as the banks do.
    async fn link(&self, uins: &[&str]) -> Result<()> {
        for chunk in uins.chunks(1000) {
            let items = chunk
                .iter()
                .enumerate()
                .map(|(i, uin)| {
                    crate::pay::item(
                        &i.to_string(),
                        json!({"id": format!("uin:{uin}@nid"), "fa": format!("account:{uin}@bank.test")}),
                    )
                })
                .collect();
            let answers = self.pay.mapper("link", items).await?;
            ensure!(answers.iter().all(|a| a["status"] == "succ"), "{answers:?}");
        }
        Ok(())
    }

    /// An SP-MIS running the shipped programmes, with `n` old people in no programme enrolled
    /// in the old-age allowance, their accounts linked, and the allowance of each for the
    /// cycle of today stored pending.
    async fn oaa_due(&self, backend: Backend, n: usize) -> Result<(SpMis, Vec<String>)> {
        let today = fixture().today;
        let sp = self.mis(backend, MIS, mis::programme::shipped()?).await?;
        let uins: Vec<String> = persons()
            .iter()
            .filter(|p| p.death_date.is_none() && years(p) >= 65 && crate::mis::in_no_programme(p))
            .take(n)
            .map(|p| p.uin.clone())
            .collect();
        ensure!(uins.len() == n, "{n} old people in no programme");
        for uin in &uins {
            ensure!(sp.mis.apply("OAA", uin, today).await?.status == Status::Enrolled);
        }
        // Paid only once the IBR holds the enrolments (a cycle waits for them too).
        for uin in &uins {
            crate::mis::delivered(&sp.mis, "OAA", uin).await?;
        }
        self.link(&uins.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;
        let due: Vec<mis::Entitlement> = uins
            .iter()
            .map(|uin| mis::Entitlement {
                programme: "OAA".into(),
                cycle: today,
                beneficiary: uin.clone(),
                uin: uin.clone(),
                amount_minor: 2_500,
                currency: "USD".into(),
                state: EntitlementState::Pending,
                reason: None,
                pay_transaction: None,
            })
            .collect();
        sp.mis.enrolments().entitlements().add_pending(&due).await?;
        Ok((sp, uins))
    }

    /// The benefits the IBR holds for `uin`.
    async fn ibr_benefits(&self, uin: &str) -> Result<Vec<Value>> {
        self.benefits_of("UIN", uin).await
    }

    /// The benefits the IBR holds for the person or household `id` of type `kind`.
    async fn benefits_of(&self, kind: &str, id: &str) -> Result<Vec<Value>> {
        let found = self
            .ibr
            .one(
                json!({"reg_record_type": "Benefit", "query_type": "idtype-value",
                        "query": {"type": kind, "value": id},
                        "pagination": {"page_size": 100, "page_number": 1}}),
            )
            .await?;
        Ok(found["data"]["reg_records"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }

    /// Waits until the IBR holds, for each `(uin, reference)`, the receipt of the payment of
    /// `sender`'s `transaction` with that reference; fails after 30 s.
    async fn receipts(
        &self,
        sender: &str,
        transaction: &str,
        (kind, paid): (&str, &[(String, String)]),
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        for (uin, reference) in paid {
            let id = pay::worker::payment_id(sender, transaction, reference);
            loop {
                let benefits = self.benefits_of(kind, uin).await?;
                if benefits
                    .iter()
                    .any(|b| b["benefit_identifier"] == id.as_str() && b["payment_status"] == "1")
                {
                    break;
                }
                ensure!(
                    Instant::now() < deadline,
                    "no receipt {id} at the IBR for {uin}: {benefits:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    }
}

/// The population's ground truth (the scenarios' indexes and helpers).
fn truth() -> &'static scenario::Truth {
    crate::scenarios::truth()
}

fn person(uin: &str) -> Option<&'static synth::Person> {
    truth().person(uin)
}

/// The programmes of each benefit type in which a UIN is active at the population's IBR.
fn covered(benefit_type: &str) -> BTreeMap<String, BTreeSet<String>> {
    truth()
        .covered(benefit_type)
        .into_iter()
        .map(|(uin, by)| {
            (
                uin.to_string(),
                by.into_iter().map(str::to_string).collect(),
            )
        })
        .collect()
}

/// Checks a proactive run's outcome against `expected`, what becomes of each candidate.
fn check_outcome(
    report: &mis::EnrolmentReport,
    expected: &BTreeMap<String, Expected>,
    benefit_type: &str,
) -> Result<()> {
    let enrolled: BTreeSet<&str> = report.enrolled.iter().map(String::as_str).collect();
    let want: BTreeSet<&str> = expected
        .iter()
        .filter(|(_, o)| **o == Expected::Enrolled)
        .map(|(u, _)| u.as_str())
        .collect();
    ensure!(enrolled == want, "enrolled {enrolled:?}, expected {want:?}");
    ensure!(
        report.candidates == expected.len(),
        "{} candidates, expected {}",
        report.candidates,
        expected.len()
    );
    let rejected: BTreeMap<&str, &str> = report
        .rejected
        .iter()
        .map(|(u, r)| (u.as_str(), r.as_str()))
        .collect();
    ensure!(
        rejected.len() + enrolled.len() == expected.len() && report.unchanged.is_empty(),
        "{report:?}"
    );
    for (uin, outcome) in expected {
        match outcome {
            Expected::Enrolled => {}
            Expected::Rejected(reason) => ensure!(
                rejected.get(uin.as_str()) == Some(&reason.as_str()),
                "{uin}: {:?} != {reason}",
                rejected.get(uin.as_str())
            ),
            Expected::Covered(programmes) => {
                let named = rejected
                    .get(uin.as_str())
                    .and_then(|r| named_by_ibr_check(r, uin, benefit_type));
                ensure!(
                    named.as_ref() == Some(programmes),
                    "{uin}: {:?} does not name {programmes:?}",
                    rejected.get(uin.as_str())
                );
            }
        }
    }
    Ok(())
}

/// A shipped programme file with `from` replaced by `to`.
fn variant(file: &str, from: &str, to: &str) -> Result<Programme> {
    let text = mis::programme::SHIPPED
        .iter()
        .find(|(name, _)| *name == file)
        .context("a shipped file")?
        .1;
    ensure!(text.contains(from), "{file} has no {from}");
    Ok(Programme::parse(&text.replace(from, to), file)?)
}

/// Pages a candidate search of `n` records takes, `size` a page.
fn pages(n: usize, size: usize) -> usize {
    n.div_ceil(size).max(1)
}

fn uc06_uct_enrols_exactly_the_poor_households_searched_and_pays_each_once(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let (low, high) = (2, 6);
        let poor = |h: &&synth::Household| h.poverty_score <= 20.0 && (low..=high).contains(&h.size);
        // The regions with the most such households, until there are four or more: pages of
        // two make the search go over several.
        let mut by_region: BTreeMap<&str, usize> = BTreeMap::new();
        for h in fixture().population.households.iter().filter(poor) {
            *by_region.entry(&h.region_code).or_default() += 1;
        }
        let mut regions: Vec<(&str, usize)> = by_region.into_iter().collect();
        regions.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let mut chosen: Vec<&str> = Vec::new();
        let mut count = 0;
        for (region, n) in &regions {
            if count >= 4 {
                break;
            }
            chosen.push(region);
            count += n;
        }
        let list: Vec<String> = chosen.iter().map(|r| format!("\\\"{r}\\\"")).collect();
        let query = format!(
            "query = \"poverty_score <= 20 AND region_code IN [{}] AND group_size >= {low} AND group_size <= {high}\"\npage_size = 2",
            list.join(", ")
        );
        let uct = variant("uct.toml", "query = \"poverty_score <= 20\"", &query)?;
        let world = World::spawn(backend).await?;
        let sp = world.mis(backend, MIS, vec![uct]).await?;

        let households: Vec<&synth::Household> = fixture()
            .population
            .households
            .iter()
            .filter(poor)
            .filter(|h| chosen.contains(&h.region_code.as_str()))
            .collect();
        let cash = covered("1");
        let mut expected = BTreeMap::new();
        for h in &households {
            let head = person(&h.head_uin).context("the head")?;
            let outcome = Expected::alive_and_uncovered(head, &cash);
            expected.insert(head.uin.clone(), outcome);
        }
        let started = Instant::now();
        let report = sp.mis.enrol_eligible("UCT", today).await?;
        let enrolling = started.elapsed();
        check_outcome(&report, &expected, "1")?;
        ensure!(report.pages == pages(households.len(), 2) && report.pages > 1, "{} pages for {}", report.pages, households.len());
        ensure!(report.rejected.iter().any(|(_, r)| r.contains("yes in UCT")), "some households are already covered");
        println!("UC-06: {} households searched over {} pages, {} enrolled, {} rejected in {enrolling:?} ({backend:?})",
            report.candidates, report.pages, report.enrolled.len(), report.rejected.len());
        // The IBR holds each household's enrolment under its head.
        let first = report.enrolled.first().context("someone enrolled")?;
        crate::mis::ibr_shows(&world.ibr, first, &[("UCT", "1")], false).await?;
        // Proactive enrolment run again leaves the enrolled as they are.
        let again = sp.mis.enrol_eligible("UCT", today).await?;
        ensure!(again.enrolled.is_empty() && again.unchanged.len() == report.enrolled.len(), "{again:?}");

        // The cycle: every head's account is linked but one; one payment per household.
        let unlinked = first.clone();
        let linked: Vec<&str> = report.enrolled.iter().filter(|u| **u != unlinked).map(String::as_str).collect();
        world.link(&linked).await?;
        let started = Instant::now();
        let cycle = sp.mis.run_cycle("UCT", today).await?;
        let took = started.elapsed();
        let household_of = |uin: &str| households.iter().find(|h| h.head_uin == uin).map(|h| h.household_id.clone());
        let paid: BTreeSet<String> = linked.iter().filter_map(|u| household_of(u)).collect();
        let unlinked_household = household_of(&unlinked).context("a household")?;
        check_paid(&cycle, &paid, &unlinked_household, 4_000)?;
        ensure!(cycle.beneficiaries == report.enrolled.len() && cycle.suspended.is_empty() && cycle.same_household.is_empty(), "{cycle:?}");
        let failure = &cycle.failed[0].1;
        ensure!(failure.starts_with("rjct.payee_fa.invalid: "), "{failure}");
        reconciled(&world, MIS, &cycle).await?;
        let stored = sp.mis.enrolments().entitlements().of_cycle("UCT", today).await?;
        let states: BTreeMap<&str, EntitlementState> = stored.iter().map(|e| (e.beneficiary.as_str(), e.state)).collect();
        ensure!(states.len() == report.enrolled.len(), "one entitlement per household");
        ensure!(states.get(unlinked_household.as_str()) == Some(&EntitlementState::Failed), "{states:?}");
        // Each receipt is the household's, filed under its enrolment (the head has no other).
        let households_paid: Vec<(String, String)> = paid.iter().map(|h| (h.clone(), h.clone())).collect();
        world.receipts(MIS, cycle.pay_transaction.as_deref().unwrap_or_default(), ("HHID", &households_paid)).await?;
        crate::mis::ibr_shows(&world.ibr, linked[0], &[("UCT", "1")], true).await?;
        println!("UC-06 cycle: {} households paid in {took:?} ({backend:?})", cycle.paid.len());
        // The same cycle again pays nobody twice.
        let again = sp.mis.run_cycle("UCT", today).await?;
        ensure!(again.pay_transaction.is_none() && again.paid.is_empty(), "{again:?}");
        Ok(())
    })
}

/// The cycle paid exactly `paid`, `amount` each, and failed only `failed`.
fn check_paid(
    cycle: &CycleReport,
    paid: &BTreeSet<String>,
    failed: &str,
    amount: i64,
) -> Result<()> {
    let got: BTreeSet<String> = cycle.paid.iter().cloned().collect();
    ensure!(
        &got == paid && got.len() == cycle.paid.len(),
        "paid {got:?}, expected {paid:?}"
    );
    let got_failed: Vec<&String> = cycle.failed.iter().map(|(b, _)| b).collect();
    ensure!(got_failed == [failed], "failed {:?}", cycle.failed);
    ensure!(
        cycle.paid_minor == amount * paid.len() as i64 && cycle.pending.is_empty(),
        "{cycle:?}"
    );
    Ok(())
}

/// The payments service's reconciliation of the cycle agrees with what the SP-MIS recorded.
async fn reconciled(world: &World, sender: &str, cycle: &CycleReport) -> Result<()> {
    let transaction = cycle.pay_transaction.as_deref().context("a disbursement")?;
    let report = pay::report::reconcile(world.pay.pay.store(), sender, transaction).await?;
    let paid = report.total(pay::disburse::PaymentState::Paid, "USD");
    ensure!(
        report.reconciled
            && report.payments == (cycle.paid.len() + cycle.failed.len()) as i64
            && paid.count == cycle.paid.len() as i64
            && paid.amount_minor == cycle.paid_minor,
        "{report:?} vs {cycle:?}"
    );
    Ok(())
}

fn uc11_uc08_uc13_ecct_enrols_the_uncovered_pays_the_compliant_and_reconciles(
    backend: Backend,
) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let school_age = |p: &&synth::Person| {
            (6..=17).contains(&years(p)) && poverty(p).is_some_and(|s| s <= 30.0)
        };
        // One region, the one with the most poor children.
        let mut by_region: BTreeMap<&str, usize> = BTreeMap::new();
        for p in persons().iter().filter(school_age) {
            if let Some(h) = p.household_id.as_deref().and_then(|h| truth().household(h)) {
                *by_region.entry(&h.region_code).or_default() += 1;
            }
        }
        let region = by_region.iter().max_by_key(|(r, n)| (**n, std::cmp::Reverse(**r))).map(|(r, _)| *r).context("a region")?;
        let in_region = |p: &&synth::Person| p.household_id.as_deref().and_then(|h| truth().household(h)).is_some_and(|h| h.region_code == region);
        let ecct = variant(
            "ecct.toml",
            "poverty_score <= 30\"",
            &format!("poverty_score <= 30 AND region_code = \\\"{region}\\\"\""),
        )?;
        let world = World::spawn(backend).await?;
        let sp = world.mis(backend, MIS, vec![ecct]).await?;

        // UC-11: the IBR already covers some of them (ECCT, or another cash benefit): only the
        // gaps are enrolled.
        let children: Vec<&synth::Person> = persons().iter().filter(school_age).filter(in_region).collect();
        let cash = covered("1");
        let mut expected = BTreeMap::new();
        for child in &children {
            expected.insert(child.uin.clone(), Expected::alive_and_uncovered(child, &cash));
        }
        let report = sp.mis.enrol_eligible("ECCT", today).await?;
        check_outcome(&report, &expected, "1")?;
        ensure!(report.pages == pages(children.len(), 100), "{} pages", report.pages);
        ensure!(report.rejected.iter().any(|(_, r)| r.ends_with("yes in ECCT")), "some children are covered already");
        println!("UC-11: {} school-age children, {} already covered, {} gaps enrolled ({backend:?})",
            report.candidates, report.rejected.len(), report.enrolled.len());

        // UC-08: at the cycle, only children at school are paid; the others are suspended,
        // and the IBR told in one batch.
        let attends = |uin: &str| truth().attends_school(person(uin)?);
        let (compliant, truant): (Vec<&String>, Vec<&String>) =
            report.enrolled.iter().partition(|u| attends(u) == Some(true));
        ensure!(!compliant.is_empty() && !truant.is_empty(), "{} compliant, {} not", compliant.len(), truant.len());
        // UC-13: every account linked but one; that payment fails with the payments service's reason.
        let unlinked = compliant[0].clone();
        let linked: Vec<&str> = report.enrolled.iter().filter(|u| **u != unlinked).map(String::as_str).collect();
        world.link(&linked).await?;
        let started = Instant::now();
        let cycle = sp.mis.run_cycle("ECCT", today).await?;
        let took = started.elapsed();
        let paid: BTreeSet<String> = compliant.iter().filter(|u| ***u != unlinked).map(|u| u.to_string()).collect();
        check_paid(&cycle, &paid, &unlinked, 800)?;
        let suspended: BTreeMap<&str, &str> = cycle.suspended.iter().map(|(u, r)| (u.as_str(), r.as_str())).collect();
        ensure!(suspended.keys().copied().collect::<BTreeSet<_>>() == truant.iter().map(|u| u.as_str()).collect(), "{suspended:?}");
        ensure!(
            suspended.values().all(|r| *r == "attends school: attends_school = true failed on attends_school false"),
            "{suspended:?}"
        );
        for uin in &truant {
            crate::mis::ibr_shows(&world.ibr, uin, &[("ECCT", "4")], false).await?;
            ensure!(sp.mis.enrolments().status("ECCT", uin).await? == Some(Status::Suspended));
            let last = sp.mis.enrolments().history("ECCT", uin).await?.pop().context("history")?;
            ensure!(last.ibr_transaction == cycle.ibr_transaction, "{last:?}");
        }
        reconciled(&world, MIS, &cycle).await?;
        // The IBR's receipts are the successful payments: each paid child has one, the child
        // whose payment failed none.
        let transaction = cycle.pay_transaction.clone().unwrap_or_default();
        let receipts: Vec<(String, String)> = paid.iter().map(|u| (u.clone(), u.clone())).collect();
        world.receipts(MIS, &transaction, ("UIN", &receipts)).await?;
        let failed_id = pay::worker::payment_id(MIS, &transaction, &unlinked);
        ensure!(!world.ibr_benefits(&unlinked).await?.iter().any(|b| b["benefit_identifier"] == failed_id.as_str()));
        println!("UC-08/13: {} children, {} paid, {} suspended, 1 failed, cycle in {took:?} ({backend:?})",
            cycle.beneficiaries, cycle.paid.len(), cycle.suspended.len());
        Ok(())
    })
}

fn uc07_widow_allowance_enrols_exactly_the_qualifying_widows_found(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let world = World::spawn(backend).await?;
        let wa = mis::programme::shipped()?
            .into_iter()
            .find(|p| p.code == "WA")
            .context("WA")?;
        let sp = world.mis(backend, MIS, vec![wa]).await?;
        let cash = covered("1");
        let mut expected = BTreeMap::new();
        for widow in persons().iter().filter(|p| {
            p.household_id.is_some()
                && p.sex == "female"
                && p.marital_status == "W"
                && poverty(p).is_some_and(|s| s <= 40.0)
        }) {
            let outcome = match truth().spouse_died(&widow.uin) {
                _ if widow.death_date.is_some() => continue,
                None => Expected::Rejected(
                    "spouse deceased: spouse_deceased = true unknown on no spouse_deceased"
                        .to_string(),
                ),
                Some(false) => Expected::Rejected(
                    "spouse deceased: spouse_deceased = true failed on spouse_deceased false"
                        .to_string(),
                ),
                Some(true) if years(widow) >= 65 => Expected::Rejected(format!(
                    "under 65: age < 65 failed on birth_date {}",
                    widow.birth_date
                )),
                Some(true) => Expected::alive_and_uncovered(widow, &cash),
            };
            expected.insert(widow.uin.clone(), outcome);
        }
        let report = sp.mis.enrol_eligible("WA", today).await?;
        check_outcome(&report, &expected, "1")?;
        ensure!(
            !report.enrolled.is_empty()
                && report
                    .rejected
                    .iter()
                    .any(|(_, r)| r.starts_with("under 65")),
            "{report:?}"
        );
        // Each enrolment rests on the CRVS death record of the spouse.
        let uin = &report.enrolled[0];
        let history = sp.mis.enrolments().history("WA", uin).await?;
        let decision = history
            .last()
            .and_then(|c| c.decision.clone())
            .context("a decision")?;
        let spouse = decision["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["name"] == "spouse deceased")
            .context("the rule")?;
        ensure!(
            spouse["outcome"] == "passed"
                && spouse["facts"][0]["source"]["query"]
                    .as_str()
                    .is_some_and(|q| q.starts_with("DeathRecord UIN=")),
            "{spouse}"
        );
        println!(
            "UC-07: {} widows found, {} enrolled ({backend:?})",
            report.candidates,
            report.enrolled.len()
        );
        Ok(())
    })
}

fn uc14_farmer_support_enrols_the_small_poor_farmers_found(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let farms = &fixture().farms;
        let land = truth().land();
        let mut crops: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for parcel in &farms.parcels {
            crops
                .entry(&parcel.fid)
                .or_default()
                .extend(parcel.crops.iter().map(String::as_str));
        }
        // The crop small farmers grow most.
        let mut growers: BTreeMap<&str, usize> = BTreeMap::new();
        for farmer in &farms.farmers {
            if land.get(farmer.fid.as_str()).copied().unwrap_or(0.0) < 2.0 {
                for crop in crops.get(farmer.fid.as_str()).into_iter().flatten() {
                    *growers.entry(crop).or_default() += 1;
                }
            }
        }
        let crop = growers
            .iter()
            .max_by_key(|(c, n)| (**n, std::cmp::Reverse(**c)))
            .map(|(c, _)| *c)
            .context("a crop")?;
        let fsp = variant(
            "fsp.toml",
            "query = \"land_size < 2\"",
            &format!("query = \"land_size < 2 AND crop = \\\"{crop}\\\"\""),
        )?;
        let world = World::spawn(backend).await?;
        let sp = world.mis(backend, MIS, vec![fsp]).await?;
        let vouchers = covered("2");
        let mut expected = BTreeMap::new();
        for farmer in &farms.farmers {
            let size = land.get(farmer.fid.as_str()).copied().unwrap_or(0.0);
            if size >= 2.0
                || !crops
                    .get(farmer.fid.as_str())
                    .is_some_and(|c| c.contains(crop))
            {
                continue;
            }
            let who = person(&farmer.uin).context("the farmer")?;
            let score = poverty(who);
            let outcome = match score {
                _ if who.death_date.is_some() => Expected::alive_and_uncovered(who, &vouchers),
                None => Expected::Rejected(
                    "poor household: poverty_score <= 60 unknown on no poverty_score".to_string(),
                ),
                Some(score) if score > 60.0 => Expected::Rejected(format!(
                    "poor household: poverty_score <= 60 failed on poverty_score {score}"
                )),
                Some(_) => Expected::alive_and_uncovered(who, &vouchers),
            };
            expected.insert(farmer.uin.clone(), outcome);
        }
        let started = Instant::now();
        let report = sp.mis.enrol_eligible("FSP", today).await?;
        let deciding = started.elapsed();
        check_outcome(&report, &expected, "2")?;
        ensure!(
            !report.enrolled.is_empty()
                && report
                    .rejected
                    .iter()
                    .any(|(_, r)| r.starts_with("poor household")),
            "{report:?}"
        );
        // Their vouchers: a cycle pays each of them, and reconciles.
        let enrolled: Vec<&str> = report.enrolled.iter().map(String::as_str).collect();
        world.link(&enrolled).await?;
        let started = Instant::now();
        let cycle = sp.mis.run_cycle("FSP", today).await?;
        let took = started.elapsed();
        let all: BTreeSet<String> = report.enrolled.iter().cloned().collect();
        ensure!(
            cycle.paid.iter().cloned().collect::<BTreeSet<_>>() == all
                && cycle.failed.is_empty()
                && cycle.paid_minor == 5_000 * all.len() as i64,
            "{cycle:?}"
        );
        reconciled(&world, MIS, &cycle).await?;
        println!(
            "UC-14: {} small {crop} farmers found and decided in {deciding:?}, {} enrolled; their cycle paid in {took:?} ({backend:?})",
            report.candidates,
            report.enrolled.len()
        );
        Ok(())
    })
}

fn uc12_the_ibr_shows_programmes_and_payments_of_two_sp_mis(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let farms = &fixture().farms;
        let land = truth().land();
        let (cash, vouchers) = (covered("1"), covered("2"));
        // A living farmer of 65 or more on less than 2 ha in a household scoring 60 or less,
        // in no cash or voucher programme: old-age allowance from the social protection
        // ministry's SP-MIS, farmer support from the agriculture ministry's.
        let farmer = farms
            .farmers
            .iter()
            .find(|f| {
                let who = person(&f.uin);
                land.get(f.fid.as_str()).copied().unwrap_or(0.0) < 2.0
                    && who.is_some_and(|p| {
                        p.death_date.is_none()
                            && years(p) >= 65
                            && poverty(p).is_some_and(|s| s <= 60.0)
                    })
                    && !cash.contains_key(f.uin.as_str())
                    && !vouchers.contains_key(f.uin.as_str())
            })
            .context("an old, poor small farmer in no programme")?;
        let uin = farmer.uin.clone();
        let world = World::spawn(backend).await?;
        let shipped = mis::programme::shipped()?;
        let pick = |code: &str| {
            shipped
                .iter()
                .find(|p| p.code == code)
                .cloned()
                .context("a programme")
        };
        let social = world.mis(backend, MIS, vec![pick("OAA")?]).await?;
        let agriculture = world.mis(backend, "agri.test", vec![pick("FSP")?]).await?;
        ensure!(social.mis.apply("OAA", &uin, today).await?.status == Status::Enrolled);
        ensure!(agriculture.mis.apply("FSP", &uin, today).await?.status == Status::Enrolled);
        world.link(&[uin.as_str()]).await?;
        let oaa = social.mis.run_cycle("OAA", today).await?;
        let fsp = agriculture.mis.run_cycle("FSP", today).await?;
        ensure!(
            oaa.paid == [uin.clone()] && fsp.paid == [uin.clone()],
            "{oaa:?} {fsp:?}"
        );
        let paid = [(uin.clone(), uin.clone())];
        let oaa_transaction = oaa.pay_transaction.clone().unwrap_or_default();
        let fsp_transaction = fsp.pay_transaction.clone().unwrap_or_default();
        world
            .receipts(MIS, &oaa_transaction, ("UIN", &paid))
            .await?;
        world
            .receipts("agri.test", &fsp_transaction, ("UIN", &paid))
            .await?;
        // One search by UIN: both programmes, from both SP-MIS, and both payments.
        crate::mis::ibr_holds(&world.ibr, &uin, &[("FSP", "1"), ("OAA", "1")]).await?;
        let mut benefits: Vec<(String, String, String)> = world
            .ibr_benefits(&uin)
            .await?
            .iter()
            .map(|b| {
                (
                    b["programme_identifier"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    b["benefit_identifier"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    b["benefit_type"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        benefits.sort();
        // Each payment's benefit type is its programme's: the voucher is `2`.
        let expected = [
            (
                "FSP".to_string(),
                pay::worker::payment_id("agri.test", &fsp_transaction, &uin),
                "2".to_string(),
            ),
            (
                "OAA".to_string(),
                pay::worker::payment_id(MIS, &oaa_transaction, &uin),
                "1".to_string(),
            ),
        ];
        ensure!(benefits == expected, "{benefits:?}");
        Ok(())
    })
}

fn programmes_are_created_over_http_checked_and_kept(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let world = World::spawn(backend).await?;
        let sp = world.mis(backend, MIS, mis::programme::shipped()?).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let base = format!("http://{}", listener.local_addr()?);
        tokio::spawn(axum::serve(listener, mis::http::router(sp.mis.clone())).into_future());
        let http = reqwest::Client::new();
        let programme = json!({
            "code": "PWP", "name": "Public works", "description": "Cash for work in poor households",
            "institution": "Ministry of Labour", "benefit_type": "1", "target": "household",
            "frequency": "MONTHLY", "budget": 10_000_000, "amount": {"currency": "USD", "per_cycle": 3_000},
            "eligibility": [{"name": "poor household", "rule": "poverty_score <= 25"}],
            "conditions": [{"name": "alive", "rule": "deceased = false"}],
            "candidates": {"registry": "social", "record_type": "Group", "query": "poverty_score <= 25", "page_size": 50},
        });
        let url = format!("{base}/mis/programmes");
        let (status, created) = post_json(&http, &url, &programme).await?;
        ensure!(status == 201 && created == programme, "HTTP {status}: {created}");
        let listed: Value = http.get(&url).send().await?.json().await?;
        ensure!(listed.as_array().is_some_and(|l| l.contains(&programme)), "{listed}");
        let (status, again) = post_json(&http, &url, &programme).await?;
        ensure!(status == 409 && again == json!({"error": "a programme with the code PWP exists already"}), "{again}");
        // Refused as a file would be: an unknown fact, an unknown field, a bad amount.
        for (change, fault) in [
            (json!({"eligibility": [{"name": "rich", "rule": "income > 5"}]}), "income"),
            (json!({"colour": "blue"}), "unknown field `colour`"),
            (json!({"amount": {"currency": "USD", "per_cycle": 0}}), "amount.per_cycle must be more than 0"),
            (json!({"candidates": {"registry": "crvs", "record_type": "Person", "query": "age > 1"}}), "crvs Person cannot be searched"),
        ] {
            let mut bad = programme.clone();
            bad["code"] = json!("BAD");
            bad.as_object_mut().context("an object")?.extend(change.as_object().cloned().unwrap_or_default());
            let (status, refused) = post_json(&http, &url, &bad).await?;
            let error = refused["error"].as_str().unwrap_or_default();
            ensure!(status == 400 && error.starts_with("programme the programme sent: ") && error.contains(fault), "HTTP {status}: {refused}");
        }
        let answer = http.post(&url).body("{\"code\": ").send().await?;
        let (status, refused) = (answer.status().as_u16(), answer.json::<Value>().await?);
        ensure!(
            status == 400
                && refused["error"].as_str().is_some_and(|e| e.starts_with("programme the programme sent: EOF")),
            "HTTP {status}: {refused}"
        );
        // Run over the API: proactive enrolment, then the cycle (nobody has an account, so
        // every payment fails with the payments service's reason).
        let (status, refused) =
            post_json(&http, &format!("{base}/mis/programmes/OAA/enrolments"), &json!({})).await?;
        ensure!(
            status == 400
                && refused == json!({"error": "programme OAA has no candidates search: it enrols on application only"}),
            "{refused}"
        );
        let (status, enrolled) =
            post_json(&http, &format!("{base}/mis/programmes/PWP/enrolments"), &json!({})).await?;
        let count = enrolled["enrolled"].as_array().map_or(0, Vec::len);
        ensure!(status == 200 && count > 0, "{enrolled}");
        let (status, cycle) =
            post_json(&http, &format!("{base}/mis/programmes/PWP/cycles"), &json!({})).await?;
        let failed = cycle["failed"].as_array().cloned().unwrap_or_default();
        ensure!(
            status == 200
                && cycle["beneficiaries"] == count
                && cycle["paid"] == json!([])
                && failed.len() == count
                && failed.iter().all(|f| f[1].as_str().is_some_and(|r| r.starts_with("rjct.payee_fa.invalid: "))),
            "{cycle}"
        );
        // Kept: an SP-MIS opened on the same store runs it.
        let reopened = Mis::start(mis::programme::shipped()?, sp.store.clone(), world.registries(MIS), crate::mis::delivery()).await?;
        let kept = reopened.programme("PWP")?;
        ensure!(serde_json::to_value(kept.definition())? == programme && reopened.programme("BAD").is_err());
        Ok(())
    })
}

fn leaving_the_programme_cancels_pending_entitlements(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let world = World::spawn(backend).await?;
        // Due this cycle, not yet sent, when one of them dies (UC-02's path).
        let (sp, uins) = world.oaa_due(backend, 2).await?;
        let entitlements = sp.mis.enrolments().entitlements();
        sp.mis
            .change_status("OAA", &uins[0], Status::Exited, today, "death registered")
            .await?;
        let cancelled = entitlements.of_payee("OAA", &uins[0]).await?;
        ensure!(
            cancelled.len() == 1
                && cancelled[0].state == EntitlementState::Cancelled
                && cancelled[0].reason.as_deref() == Some("exited: death registered"),
            "{cancelled:?}"
        );
        // The cycle pays the other one only.
        let cycle = sp.mis.run_cycle("OAA", today).await?;
        ensure!(
            cycle.paid == [uins[1].clone()] && cycle.beneficiaries == 1,
            "{cycle:?}"
        );
        let after = entitlements.of_payee("OAA", &uins[0]).await?;
        ensure!(after == cancelled, "{after:?}");
        reconciled(&world, MIS, &cycle).await?;
        Ok(())
    })
}

fn a_cycle_cut_short_is_finished_by_the_next_run_paying_each_once(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let world = World::spawn(backend).await?;
        // A run stopped after claiming the entitlements, before sending them.
        let (sp, uins) = world.oaa_due(backend, 3).await?;
        let entitlements = sp.mis.enrolments().entitlements();
        let cut = "OAA-cut-short";
        ensure!(entitlements.claim("OAA", today, cut).await?.len() == 3);
        // The next run sends them under the transaction they were claimed in.
        let cycle = sp.mis.run_cycle("OAA", today).await?;
        let mut resumed = cycle.resumed.clone();
        resumed.sort();
        let mut all = uins.clone();
        all.sort();
        let mut paid = cycle.paid.clone();
        paid.sort();
        ensure!(
            cycle.pay_transaction.is_none() && resumed == all && paid == all,
            "{cycle:?}"
        );
        let report = pay::report::reconcile(world.pay.pay.store(), MIS, cut).await?;
        ensure!(
            report.total(pay::disburse::PaymentState::Paid, "USD").count == 3,
            "{report:?}"
        );
        // A run stopped after the payments service had them, before settling: the next run
        // learns their outcome and sends nothing again.
        sp.store
            .write(vec![store::Statement::new(
                "UPDATE mis_entitlement SET state = 'sent'",
                vec![],
                &[],
            )])
            .await?;
        let again = sp.mis.run_cycle("OAA", today).await?;
        let mut paid = again.paid.clone();
        paid.sort();
        ensure!(paid == all && again.resumed.len() == 3, "{again:?}");
        let ledger = world
            .pay
            .count("SELECT COUNT(*) FROM switch_ledger")
            .await?;
        ensure!(ledger == 3, "{ledger} payments reached the switch");
        let stored = entitlements.of_cycle("OAA", today).await?;
        ensure!(
            stored
                .iter()
                .all(|e| e.state == EntitlementState::Paid
                    && e.pay_transaction.as_deref() == Some(cut)),
            "{stored:?}"
        );
        Ok(())
    })
}

fn a_cycle_pays_nobody_whose_enrolment_the_ibr_has_not_taken(backend: Backend) -> Result<()> {
    runtime().block_on(async {
        let today = fixture().today;
        let world = World::spawn(backend).await?;
        // The SP-MIS reaches the IBR at an address that refuses its updates for now.
        let (flaky, down) = crate::mis::refusing_updates(&world.ibr).await?;
        let place = Place::new(backend).await?;
        let store = store::open(&place.config(), mis::store::MIGRATIONS).await?;
        let delivery = mis::Delivery {
            ibr_wait: Duration::from_millis(300),
            ..crate::mis::delivery()
        };
        let registries = Registries {
            ibr: Client::new(format!("http://{flaky}"), MIS, Some("ibr.test")),
            ..world.registries(MIS)
        };
        let sp = Mis::start(mis::programme::shipped()?, store, registries, delivery).await?;
        let uins: Vec<String> = persons()
            .iter()
            .filter(|p| p.death_date.is_none() && years(p) >= 65 && crate::mis::in_no_programme(p))
            .take(2)
            .map(|p| p.uin.clone())
            .collect();
        for uin in &uins {
            ensure!(sp.apply("OAA", uin, today).await?.status == Status::Enrolled);
        }
        world
            .link(&uins.iter().map(String::as_str).collect::<Vec<_>>())
            .await?;

        // Their enrolments wait in the outbox: the cycle holds their allowances.
        let mut cycle = sp.close_cycle("OAA", today).await?;
        sp.pay_cycle(&mut cycle).await?;
        ensure!(
            cycle.held == uins && cycle.paid.is_empty() && cycle.pay_transaction.is_none(),
            "{cycle:?}"
        );
        let pending = sp
            .enrolments()
            .entitlements()
            .of_cycle("OAA", today)
            .await?;
        ensure!(
            pending.iter().all(|e| e.state == EntitlementState::Pending),
            "{pending:?}"
        );

        // The IBR takes them (at the dispatcher's next attempt): the cycle run again pays
        // both, and the IBR files each receipt under the enrolment it now holds.
        down.store(false, std::sync::atomic::Ordering::SeqCst);
        for uin in &uins {
            crate::mis::delivered(&sp, "OAA", uin).await?;
        }
        let mut cycle = sp.close_cycle("OAA", today).await?;
        sp.pay_cycle(&mut cycle).await?;
        ensure!(cycle.held.is_empty() && cycle.paid == uins, "{cycle:?}");
        reconciled(&world, MIS, &cycle).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        for uin in &uins {
            while world.ibr_benefits(uin).await?.is_empty() {
                ensure!(Instant::now() < deadline, "no receipt of {uin} at the IBR");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Ok(())
    })
}
