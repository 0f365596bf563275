//! Pilots of the proactive programmes (UC-06, UC-07, UC-08/11/13, UC-14): a shipped programme
//! launched in one district under its own code (`UCT-R03-D02`, created through
//! [`mis::Mis::create_programme`] unless the SP-MIS runs it already), its candidates found by
//! the registry search and decided, then its first cycle paid; every outcome checked against
//! what the population says of each candidate.
//!
//! A pilot keeps each run small (the sandbox's 100,000 people included: the district with the
//! fewest candidates above a floor), and a pilot run again on the same services finds its
//! enrolled candidates already in and its cycle already paid: the checks read the SP-MIS's
//! enrolments and entitlements, the payments service's account of each transaction and the
//! IBR's receipts, which are the same after every run.
//!
//! The payments service resolves payees by UIN through its mapper, which knows nobody's
//! account until a bank links it: before the cycle, the pilot links the account of every payee
//! but one over DCI (`/mapper/sync/link`, as a bank or the SP-MIS's onboarding would), and the
//! payment of that one must fail with the payments service's reason.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use client::SearchItem;
use dci::mapper::{Link, MapperRequest, MapperRequestItem};
use mis::{EnrolmentReport, EntitlementState, Status};
use serde_json::Value;

use crate::{Report, World, ibr_programmes, ibr_shows};

/// The payments service's reason for a payee it cannot resolve.
const UNRESOLVED: &str = "rjct.payee_fa.invalid: unknown payee: ";

/// How long the IBR's receipts of a cycle's payments may take to arrive.
const RECEIPTS_WITHIN: Duration = Duration::from_secs(30);

/// What the population says should become of a candidate of a pilot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// Enrolled (now, or by an earlier run).
    Enrolled,
    /// Rejected with this reason.
    Rejected(String),
    /// Rejected by the IBR check, which names these programmes.
    Covered(BTreeSet<String>),
}

impl Expected {
    /// What becomes of `candidate`, whose other rules pass: rejected as dead, rejected by the
    /// IBR check naming the programmes that cover them (`covered`), or enrolled.
    pub fn alive_and_uncovered(
        candidate: &synth::Person,
        covered: &BTreeMap<String, BTreeSet<String>>,
    ) -> Self {
        if candidate.death_date.is_some() {
            return Expected::Rejected("alive: deceased = false failed on deceased true".into());
        }
        match covered.get(&candidate.uin) {
            Some(programmes) => Expected::Covered(programmes.clone()),
            None => Expected::Enrolled,
        }
    }
}

impl Expected {
    /// What becomes of `candidate`, whose other rules pass but the rule `name`
    /// (`poverty_score <= threshold`) on their household's `score`: rejected as dead, on that
    /// rule (failed, or unknown without a score), by the IBR check, or enrolled.
    pub fn poor_enough(
        name: &str,
        threshold: f64,
        candidate: &synth::Person,
        score: Option<f64>,
        covered: &BTreeMap<String, BTreeSet<String>>,
    ) -> Self {
        let rule = format!("{name}: poverty_score <= {threshold}");
        match score {
            _ if candidate.death_date.is_some() => {
                Expected::alive_and_uncovered(candidate, covered)
            }
            None => Expected::Rejected(format!("{rule} unknown on no poverty_score")),
            Some(score) if score > threshold => {
                Expected::Rejected(format!("{rule} failed on poverty_score {score}"))
            }
            Some(_) => Expected::alive_and_uncovered(candidate, covered),
        }
    }
}

/// The programmes named by an IBR check's rejection of `uin` for benefit type `benefit_type`
/// (`... failed on enrolled yes in A, B`).
pub fn named_by_ibr_check(reason: &str, uin: &str, benefit_type: &str) -> Option<BTreeSet<String>> {
    let prefix = format!(
        "no other benefit of type {benefit_type}: enrolled(person_identifier = \"{uin}\" AND benefit_type = \"{benefit_type}\") = no failed on enrolled yes in "
    );
    reason
        .strip_prefix(&prefix)
        .map(|list| list.split(", ").map(str::to_string).collect())
}

/// Where a pilot runs: a district, or a region when no district has candidates enough.
pub(crate) struct Area {
    /// The registries' search field: `district_code` or `region_code`.
    field: &'static str,
    /// The district's or region's code.
    pub(crate) code: String,
}

impl Area {
    /// Whether a household of `district` in `region` is in the area.
    pub(crate) fn holds(&self, household: &synth::Household) -> bool {
        match self.field {
            "district_code" => household.district_code == self.code,
            _ => household.region_code == self.code,
        }
    }
}

/// The district among the `households` of the candidates (one per candidate) with the fewest
/// candidates, `least` or more, the first in code order among equals; or the region so chosen
/// when no district has enough; or the region with the most when none has.
fn area(households: &[&synth::Household], least: usize) -> Result<Area> {
    let fewest = |of: fn(&synth::Household) -> &str| {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for household in households {
            *counts.entry(of(household)).or_default() += 1;
        }
        counts
            .into_iter()
            .filter(|(_, n)| *n >= least)
            .min_by_key(|(code, n)| (*n, *code))
            .map(|(code, _)| code.to_string())
    };
    if let Some(code) = fewest(|h| &h.district_code) {
        return Ok(Area {
            field: "district_code",
            code,
        });
    }
    let code = match fewest(|h| &h.region_code) {
        Some(code) => code,
        // Too few candidates anywhere: the region with the most.
        None => {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for household in households {
                *counts.entry(&household.region_code).or_default() += 1;
            }
            counts
                .into_iter()
                .max_by_key(|(code, n)| (*n, std::cmp::Reverse(*code)))
                .map(|(code, _)| code.to_string())
                .context("no candidate anywhere")?
        }
    };
    Ok(Area {
        field: "region_code",
        code,
    })
}

/// A pilot launched.
pub(crate) struct Launched<'p> {
    /// Its code.
    pub(crate) code: String,
    /// Where it runs.
    pub(crate) area: Area,
    /// The candidates its search should find: those of the area.
    pub(crate) found: Vec<&'p synth::Person>,
    /// The programmes of its benefit type that cover each of them, by UIN: the population's
    /// and the SP-MIS's own.
    pub(crate) covered: BTreeMap<String, BTreeSet<String>>,
}

/// Launches the shipped programme `shipped`, of `benefit_type` ([`create`]), in the [`area`]
/// where the fewest of the `candidates` (each with their household) who are alive, covered by
/// no benefit of that type in the population, and `eligible` number `least` or more; of the
/// candidates, those of the area, and what covers them.
pub(crate) async fn launch<'p>(
    world: &World<'_>,
    (shipped, benefit_type): (&str, &str),
    candidates: &[(&'p synth::Person, &synth::Household)],
    least: usize,
    eligible: impl Fn(&synth::Person) -> bool,
) -> Result<Launched<'p>> {
    let population = world.truth.covered(benefit_type);
    let area = area(
        &candidates
            .iter()
            .filter(|(p, _)| {
                p.death_date.is_none() && !population.contains_key(p.uin.as_str()) && eligible(p)
            })
            .map(|(_, h)| *h)
            .collect::<Vec<_>>(),
        least,
    )?;
    let code = create(world, shipped, &area).await?;
    let found: Vec<&synth::Person> = candidates
        .iter()
        .filter(|(_, h)| area.holds(h))
        .map(|(p, _)| *p)
        .collect();
    let uins: Vec<&str> = found.iter().map(|p| p.uin.as_str()).collect();
    let covered = with_held(world, &code, benefit_type, &population, &uins).await?;
    Ok(Launched {
        code,
        area,
        found,
        covered,
    })
}

/// Creates the pilot of the shipped programme `shipped` in `area`: `<shipped>-<area>`, its
/// candidate search limited to the area, unless the SP-MIS runs it already. The pilot's code.
async fn create(world: &World<'_>, shipped: &str, area: &Area) -> Result<String> {
    let code = format!("{shipped}-{}", area.code);
    if world.mis.programme(&code).is_ok() {
        world
            .timeline
            .line(format!("  SP-MIS runs the pilot {code} already"));
        return Ok(code);
    }
    let mut definition = world.mis.programme(shipped)?.definition().clone();
    definition.code = code.clone();
    definition.name = format!("{} (pilot in {})", definition.name, area.code);
    // The pilot enrols the candidates of its area only: the shipped programme takes the
    // registries' events.
    definition.enrol_on = None;
    definition.applicant = mis::programme::Applicant::default();
    let candidates = definition
        .candidates
        .as_mut()
        .with_context(|| format!("{shipped} enrols on application only"))?;
    candidates.query = format!(
        "{} AND {} = \"{}\"",
        candidates.query, area.field, area.code
    );
    let query = candidates.query.clone();
    world.mis.create_programme(definition).await?;
    world.timeline.line(format!(
        "  SP-MIS created the pilot {code}: candidates {query}"
    ));
    Ok(code)
}

/// `covered` (the population's IBR, by UIN) with the programmes of `benefit_type` the SP-MIS
/// itself has enrolled each of `uins` in, other than `pilot`: what the IBR check will find.
async fn with_held(
    world: &World<'_>,
    pilot: &str,
    benefit_type: &str,
    covered: &BTreeMap<&str, BTreeSet<&str>>,
    uins: &[&str],
) -> Result<BTreeMap<String, BTreeSet<String>>> {
    let programmes: Vec<String> = world
        .mis
        .programmes()
        .into_iter()
        .filter(|p| p.benefit_type == benefit_type && p.code != pilot)
        .map(|p| p.code)
        .collect();
    let mut held: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for uin in uins.iter().copied() {
        let mut by: BTreeSet<String> = covered
            .get(uin)
            .into_iter()
            .flatten()
            .map(|p| p.to_string())
            .collect();
        for code in &programmes {
            let status = world.mis.enrolments().status(code, uin).await?;
            if matches!(status, Some(Status::Enrolled | Status::Resumed)) {
                by.insert(code.clone());
            }
        }
        if !by.is_empty() {
            held.insert(uin.to_string(), by);
        }
    }
    Ok(held)
}

/// Runs the proactive enrolment of `code` and checks it against `expected` (by UIN, every
/// candidate the search should find): the candidates found, those enrolled now or before,
/// each rejection's reason, and what the IBR holds of them. The run's report.
pub(crate) async fn enrol(
    world: &World<'_>,
    report: &mut Report<'_>,
    code: &str,
    benefit_type: &str,
    expected: &BTreeMap<String, Expected>,
) -> Result<EnrolmentReport> {
    let started = Instant::now();
    let run = world.mis.enrol_eligible(code, world.truth.today()).await?;
    world.timeline.line(format!(
        "  SP-MIS searched {} candidates of {code} over {} pages and decided them in {:.0} ms: {} enrolled, {} rejected, {} already in",
        run.candidates,
        run.pages,
        started.elapsed().as_secs_f64() * 1000.0,
        run.enrolled.len(),
        run.rejected.len(),
        run.unchanged.len()
    ));
    let found: BTreeSet<&str> = run
        .enrolled
        .iter()
        .chain(run.rejected.iter().map(|(u, _)| u))
        .chain(run.unchanged.iter().map(|(u, _)| u))
        .map(String::as_str)
        .collect();
    report.equal(
        format!(
            "the search finds exactly the {} candidates of the population",
            expected.len()
        ),
        (
            expected.len(),
            expected.keys().map(String::as_str).collect(),
        ),
        (run.candidates, found),
    );
    let want = |which: fn(&Expected) -> bool| -> BTreeSet<&str> {
        expected
            .iter()
            .filter(|(_, e)| which(e))
            .map(|(u, _)| u.as_str())
            .collect()
    };
    let enrolled = want(|e| *e == Expected::Enrolled);
    let in_now: BTreeSet<&str> = run
        .enrolled
        .iter()
        .chain(run.unchanged.iter().map(|(u, _)| u))
        .map(String::as_str)
        .collect();
    report.equal(
        format!(
            "exactly the {} eligible and uncovered are in ({} now, {} before)",
            enrolled.len(),
            run.enrolled.len(),
            run.unchanged.len()
        ),
        enrolled.clone(),
        in_now,
    );
    let reasons: BTreeMap<&str, &str> = run
        .rejected
        .iter()
        .map(|(u, r)| (u.as_str(), r.as_str()))
        .collect();
    let ruled: BTreeMap<&str, &str> = expected
        .iter()
        .filter_map(|(u, e)| match e {
            Expected::Rejected(reason) => Some((u.as_str(), reason.as_str())),
            _ => None,
        })
        .collect();
    report.equal(
        format!(
            "the {} rejected on a rule are rejected on that rule",
            ruled.len()
        ),
        ruled.clone(),
        ruled
            .keys()
            .filter_map(|u| Some((*u, *reasons.get(u)?)))
            .collect(),
    );
    let covered: BTreeMap<&str, &BTreeSet<String>> = expected
        .iter()
        .filter_map(|(u, e)| match e {
            Expected::Covered(by) => Some((u.as_str(), by)),
            _ => None,
        })
        .collect();
    let named: BTreeMap<&str, BTreeSet<String>> = covered
        .keys()
        .filter_map(|u| Some((*u, named_by_ibr_check(reasons.get(u)?, u, benefit_type)?)))
        .collect();
    report.equal(
        format!(
            "the {} already covered are stopped by the IBR check naming their programmes",
            covered.len()
        ),
        covered.iter().map(|(u, by)| (*u, (*by).clone())).collect(),
        named,
    );
    let mut at_ibr = BTreeSet::new();
    for uin in expected.keys() {
        // The enrolled reach the IBR from the SP-MIS's outbox: wait for them.
        let held = if enrolled.contains(uin.as_str()) {
            ibr_shows(world, uin, code, None).await?
        } else {
            ibr_programmes(world, uin).await?
        };
        if held.iter().any(|(p, _)| p == code) {
            at_ibr.insert(uin.as_str());
        }
    }
    report.equal(
        format!("the IBR holds exactly the enrolled in {code}"),
        enrolled,
        at_ibr,
    );
    Ok(run)
}

/// A pilot's first cycle, as the SP-MIS stored it.
pub(crate) struct Cycle {
    /// The pilot's code.
    code: String,
    /// Beneficiary → the UIN paid.
    payees: BTreeMap<String, String>,
    /// The beneficiary whose account was left unlinked.
    unlinked: String,
    /// The cycle's entitlements.
    stored: Vec<mis::Entitlement>,
}

/// Pays the first cycle of `code` (the population's day), run now unless an earlier run paid
/// it: every account of `payees` (beneficiary → the UIN paid) linked but one first.
pub(crate) async fn cycle(
    world: &World<'_>,
    code: &str,
    payees: BTreeMap<String, String>,
) -> Result<Cycle> {
    let truth = world.truth;
    // Left unlinked: a payee the population's old-age allowance does not pay (the sandbox's
    // demonstrations link the accounts of its beneficiaries).
    let oaa = truth.covered("1");
    let (unlinked, unlinked_uin) = payees
        .iter()
        .find(|(_, uin)| !oaa.get(uin.as_str()).is_some_and(|by| by.contains("OAA")))
        .map(|(b, u)| (b.clone(), u.clone()))
        .context("a payee outside the old-age allowance")?;
    let linked: Vec<&str> = payees
        .values()
        .filter(|u| **u != unlinked_uin)
        .map(String::as_str)
        .collect();
    link(world, &linked).await?;
    world.timeline.line(format!(
        "  linked the accounts of {} payees at the payments service's mapper; {unlinked_uin} left unlinked",
        linked.len()
    ));
    let started = Instant::now();
    let run = world.mis.run_cycle(code, truth.today()).await?;
    world.timeline.line(format!(
        "  SP-MIS cycle {code} {}: {} beneficiaries, {} suspended, {} paid, {} failed, {} pending in {:.0} ms{}",
        truth.today(),
        run.beneficiaries,
        run.suspended.len(),
        run.paid.len(),
        run.failed.len(),
        run.pending.len(),
        started.elapsed().as_secs_f64() * 1000.0,
        run.pay_transaction
            .as_ref()
            .map_or(String::new(), |t| format!(" (transaction {t})"))
    ));
    let stored = world
        .mis
        .enrolments()
        .entitlements()
        .of_cycle(code, truth.today())
        .await?;
    Ok(Cycle {
        code: code.to_string(),
        payees,
        unlinked,
        stored,
    })
}

impl Cycle {
    /// The pilot's code.
    pub(crate) fn code(&self) -> &str {
        &self.code
    }

    /// The UINs paid.
    pub(crate) fn paid(&self) -> Vec<&str> {
        let paid = self.in_state(EntitlementState::Paid);
        self.payees
            .iter()
            .filter(|(b, _)| paid.contains(b.as_str()))
            .map(|(_, u)| u.as_str())
            .collect()
    }

    /// The beneficiaries whose entitlement is in `state`.
    fn in_state(&self, state: EntitlementState) -> BTreeSet<&str> {
        self.stored
            .iter()
            .filter(|e| e.state == state)
            .map(|e| e.beneficiary.as_str())
            .collect()
    }

    /// Checks that each payee with an account was paid `amount`, once.
    pub(crate) fn check_paid(&self, report: &mut Report<'_>, amount: i64) {
        let expected: BTreeSet<&str> = self
            .payees
            .keys()
            .filter(|b| **b != self.unlinked)
            .map(String::as_str)
            .collect();
        // The sandbox's switch fails some payments as a bank would (an account closed ...):
        // those reach the switch, so fail with a reason other than the mapper's.
        let unresolved = |e: &&mis::Entitlement| {
            e.reason
                .as_deref()
                .is_some_and(|r| r.starts_with(UNRESOLVED))
        };
        let reached: BTreeSet<&str> = self
            .stored
            .iter()
            .filter(|e| {
                e.state == EntitlementState::Paid
                    || (e.state == EntitlementState::Failed && !unresolved(e))
            })
            .map(|e| e.beneficiary.as_str())
            .collect();
        report.equal(
            format!(
                "exactly the {} payees with an account are paid once each, or failed by the switch ({} paid)",
                expected.len(),
                self.in_state(EntitlementState::Paid).len()
            ),
            (expected.clone(), expected.len()),
            (reached, self.stored.iter().filter(|e| !unresolved(e)).count()),
        );
        report.that(
            format!("each payment is {amount} minor units"),
            self.stored.iter().all(|e| e.amount_minor == amount),
            format!("{} entitlements", self.stored.len()),
        );
    }

    /// Checks the cycle's reconciliation: the payment to the unlinked account failed with the
    /// payments service's reason, and the payments service's account of the transactions is
    /// the SP-MIS's.
    pub(crate) async fn check_reconciled(
        &self,
        world: &World<'_>,
        report: &mut Report<'_>,
    ) -> Result<()> {
        let paid = self.in_state(EntitlementState::Paid);
        let failed = self.in_state(EntitlementState::Failed);
        let reason = self
            .stored
            .iter()
            .find(|e| e.beneficiary == self.unlinked)
            .and_then(|e| e.reason.clone())
            .unwrap_or_default();
        report.that(
            "the payment to the unlinked account fails with the payments service's reason",
            failed.contains(self.unlinked.as_str()) && reason.starts_with(UNRESOLVED),
            format!("failed {failed:?}: {reason}"),
        );
        let transactions: BTreeSet<&str> = self
            .stored
            .iter()
            .filter_map(|e| e.pay_transaction.as_deref())
            .collect();
        let (mut succ, mut rjct) = (BTreeSet::new(), BTreeSet::new());
        for transaction in &transactions {
            for status in world.mis.payments(transaction).await? {
                match status.status {
                    dci::RequestStatus::Succ => succ.insert(status.reference_id),
                    _ => rjct.insert(status.reference_id),
                };
            }
        }
        report.equal(
            "the payments service's account of the cycle is the SP-MIS's (paid, failed)",
            (paid.clone(), failed.clone()),
            (
                succ.iter().map(String::as_str).collect(),
                rjct.iter().map(String::as_str).collect(),
            ),
        );
        Ok(())
    }

    /// Checks that the IBR holds a receipt of each successful payment and of no other.
    pub(crate) async fn check_receipts(
        &self,
        world: &World<'_>,
        report: &mut Report<'_>,
    ) -> Result<()> {
        let paid = self.in_state(EntitlementState::Paid);
        let deadline = Instant::now() + RECEIPTS_WITHIN;
        let mut receipts = BTreeMap::new();
        for (beneficiary, uin) in &self.payees {
            // The payments service's id of each payment to the beneficiary.
            let ids: BTreeSet<String> = self
                .stored
                .iter()
                .filter(|e| e.beneficiary == *beneficiary)
                .filter_map(|e| e.pay_transaction.as_deref())
                .map(|t| {
                    // Its disburser: the SP-MIS.
                    let sender = world.mis.registries().pay.sender_id();
                    format!("{sender}/{t}/{beneficiary}")
                })
                .collect();
            let want = usize::from(paid.contains(beneficiary.as_str()));
            // A household's payment is filed under the household's enrolment.
            let holder = match beneficiary == uin {
                true => ("UIN", uin.as_str()),
                false => ("HHID", beneficiary.as_str()),
            };
            let mut got = ibr_receipts(world, holder, &ids).await?;
            while got < want && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(100)).await;
                got = ibr_receipts(world, holder, &ids).await?;
            }
            receipts.insert(beneficiary.as_str(), got);
        }
        report.equal(
            "the IBR holds a receipt of each successful payment and of no other",
            self.payees
                .keys()
                .map(|b| (b.as_str(), usize::from(paid.contains(b.as_str()))))
                .collect::<BTreeMap<_, _>>(),
            receipts,
        );
        Ok(())
    }
}

/// Links each UIN to an account at the payments service's mapper over DCI.
async fn link(world: &World<'_>, uins: &[&str]) -> Result<()> {
    let pay = &world.registries.pay;
    for chunk in uins.chunks(500) {
        let items = chunk
            .iter()
            .enumerate()
            .map(|(i, uin)| MapperRequestItem {
                reference_id: Some(i.to_string()),
                timestamp: Some(dci::Timestamp::now().to_string()),
                id: Some(format!("uin:{uin}@nid")),
                fa: Some(format!("account:{uin}@bank.pilot")),
                ..Default::default()
            })
            .collect();
        let request: MapperRequest<Link> =
            MapperRequest::new(uuid::Uuid::now_v7().to_string(), items);
        let _: Value = pay
            .send(
                "/mapper/sync/link",
                &pay.envelope(dci::Action::Link, chunk.len(), None, request),
            )
            .await?;
    }
    Ok(())
}

/// The receipts (payment_status 1) of the payments `ids` the IBR holds for the person or household `(kind, id)` (`UIN`, `HHID`).
async fn ibr_receipts(
    world: &World<'_>,
    (kind, id): (&str, &str),
    ids: &BTreeSet<String>,
) -> Result<usize> {
    let item = SearchItem::by_identifier("Benefit", kind, id).page(100, 1);
    let answer = world.registries.ibr.sync_search(vec![item]).await?;
    let records = answer
        .message
        .context("the IBR answered without a message")?
        .search_response
        .into_iter()
        .next()
        .and_then(|i| i.data)
        .map(|d| d.reg_records)
        .unwrap_or_default();
    let mut count = 0;
    for record in records {
        let benefit: Value = serde_json::from_str(record.get())?;
        let id = benefit["benefit_identifier"].as_str().unwrap_or_default();
        if ids.contains(id) && benefit["payment_status"] == "1" {
            count += 1;
        }
    }
    Ok(count)
}
