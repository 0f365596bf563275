//! Applications: facts fetched from the registries, rules checked, the IBR asked, and the
//! enrolment published; status changes, published the same way.
//!
//! The IBR `enrolled` check is a sync search made before enrolling. Publication is not: an
//! enrolment or a status change is committed with its `enrollment/updates` message in the
//! SP-MIS's outbox ([`crate::store::Enrolments::record_published`]), and the SP-MIS's
//! dispatcher delivers it, signed, with the IBR's token, retried until the IBR takes it.

use std::sync::{Arc, RwLock};

use client::{Client, SearchItem};
use dci::RequestStatus;
use dci::criteria::YesNo;
use dci::search::SearchResponseItem;
use expr::Value;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::Date;

use crate::MisError;
use crate::lifecycle::Status;
use crate::programme::Programme;
use crate::programme::{Definition, Target};
use crate::rules::{
    FactUsed, Facts, HOUSEHOLD_FACTS, Outcome, Registry, Rule, RuleResult, Source, registry_of,
};
use crate::store::{Change, Enrolments, Publication};

/// The registries an SP-MIS talks to, each through its DCI client.
#[derive(Debug, Clone)]
pub struct Registries {
    /// The civil registry: birth dates, sex, marital status, deaths.
    pub crvs: Client,
    /// The foundational identity registry: identity verification.
    pub id: Client,
    /// The social registry: households' poverty scores.
    pub social: Client,
    /// The integrated beneficiary registry: the `enrolled` check, enrolment updates.
    pub ibr: Client,
    /// The farmer registry: farms and their land (farmer support).
    pub fr: Client,
    /// The disability registry: certificates (disability allowance).
    pub dr: Client,
    /// The payments service: disbursement of each cycle's entitlements.
    pub pay: Client,
}

/// The outcome of an application, with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The programme's code.
    pub programme: String,
    /// The applicant.
    pub uin: String,
    /// The day of the decision (ages are counted on it).
    #[serde(with = "crate::calendar_date")]
    pub date: Date,
    /// [`Status::Enrolled`] or [`Status::Rejected`].
    pub status: Status,
    /// Why the applicant was rejected.
    pub reason: Option<String>,
    /// Each eligibility rule, then the IBR check, as far as the decision went.
    pub rules: Vec<RuleResult>,
    /// The IBR `transaction_id` that published the enrolment.
    pub ibr_transaction: Option<String>,
}

/// How the SP-MIS delivers its IBR updates from its outbox.
#[derive(Clone)]
pub struct Delivery {
    /// The dispatcher's settings; by default it retries until the IBR takes the update
    /// (backoff up to a minute), since an enrolment the IBR never hears of is a gap.
    pub dispatch: dispatch::DispatchConfig,
    /// Signs each update as it is sent; `None` sends them unsigned.
    pub signer: Option<Arc<trust::Signer>>,
    /// Whether updates carry a bearer token of the IBR client's credentials (set them with
    /// [`client::Client::with_credentials`]).
    pub ibr_token: bool,
    /// How long a payment cycle waits for the IBR to take its beneficiaries' enrolments
    /// before paying the others ([`Mis::pay_cycle`]); 10 s by default.
    pub ibr_wait: std::time::Duration,
}

impl Default for Delivery {
    fn default() -> Self {
        Delivery {
            dispatch: dispatch::DispatchConfig {
                max_attempts: i64::MAX,
                max_backoff: std::time::Duration::from_secs(60),
                ..dispatch::DispatchConfig::default()
            },
            signer: None,
            ibr_token: false,
            ibr_wait: std::time::Duration::from_secs(10),
        }
    }
}

/// An SP-MIS: its programmes, its enrolments, the registries it asks, and the dispatcher of
/// its IBR updates.
#[derive(Clone)]
pub struct Mis {
    programmes: Arc<RwLock<Vec<Programme>>>,
    enrolments: Enrolments,
    pub(crate) registries: Registries,
    dispatcher: Arc<dispatch::Dispatcher>,
    pub(crate) ibr_wait: std::time::Duration,
}

pub(crate) fn unreadable(registry: &'static str, message: impl ToString) -> MisError {
    MisError::Registry {
        registry,
        message: message.to_string(),
    }
}

/// The message of a registry's answer, or what went wrong getting it.
pub(crate) fn answered<M>(
    registry: &'static str,
    answer: Result<dci::Envelope<dci::MsgCallbackHeader, M>, client::ClientError>,
) -> Result<M, MisError> {
    answer
        .map_err(|e| unreadable(registry, e))?
        .message
        .ok_or_else(|| unreadable(registry, "an answer without a message"))
}

/// `Ok` for an item the registry answered with `succ`, its reason as an error otherwise.
pub(crate) fn succeeded(
    registry: &'static str,
    status: RequestStatus,
    reason: &Option<String>,
) -> Result<(), MisError> {
    match status {
        RequestStatus::Succ => Ok(()),
        _ => Err(unreadable(registry, reason.clone().unwrap_or_default())),
    }
}

/// The applicant's household's poverty score.
const POVERTY: &str = "poverty_score";
/// A child's mother's household's poverty score.
const MOTHER_POVERTY: &str = "mother_poverty_score";
/// The facts of the civil registry's record of the person.
const BIRTH_FACTS: &[&str] = &["birth_date", "sex", "marital_status", "deceased"];
/// The facts of the person's youngest child, in the civil registry.
const CHILD_FACTS: &[&str] = &["youngest_child_birth_date", "youngest_child_deceased"];

/// Children of one mother read at most (the youngest is among them).
const CHILDREN_PAGE: i64 = 100;

/// What the civil registry's record of a person tells beyond the facts.
struct Born {
    birth_date: Date,
    /// The mother's UIN, when registered.
    mother: Option<String>,
}

/// What one search asks a registry, and the facts it answers.
struct Ask<'c> {
    registry: Registry,
    client: &'c Client,
    item: SearchItem,
    /// What was asked, as the explanation shows it.
    query: String,
    provides: &'static [&'static str],
}

impl<'c> Ask<'c> {
    /// A search of `registry`'s `record_type` records by one identifier (`Person UIN=…`).
    fn by_id(
        registry: Registry,
        client: &'c Client,
        record_type: &str,
        (kind, value): (&str, &str),
        provides: &'static [&'static str],
    ) -> Self {
        Ask {
            registry,
            client,
            item: SearchItem::by_identifier(record_type, kind, value),
            query: format!("{record_type} {kind}={value}"),
            provides,
        }
    }
}

/// One sync search, recorded in `facts` as the source of the facts it provides; the answer to
/// the item.
async fn search(ask: Ask<'_>, facts: &mut Facts) -> Result<SearchResponseItem, MisError> {
    let name = ask.registry.as_str();
    let message = answered(name, ask.client.sync_search(vec![ask.item]).await)?;
    let source = Source {
        registry: ask.registry,
        query: ask.query,
        transaction_id: message.transaction_id,
        correlation_id: message.correlation_id,
    };
    facts.asked(&source, ask.provides);
    let item = message
        .search_response
        .into_iter()
        .next()
        .ok_or_else(|| unreadable(name, "no answer to the search"))?;
    succeeded(name, item.status, &item.status_reason_message)?;
    Ok(item)
}

/// The records of a search's answer, read as `T`.
pub(crate) fn records<T: serde::de::DeserializeOwned>(
    registry: &'static str,
    item: &SearchResponseItem,
) -> Result<Vec<T>, MisError> {
    item.data
        .iter()
        .flat_map(|data| &data.reg_records)
        .map(|raw| serde_json::from_str(raw.get()).map_err(|e| unreadable(registry, e)))
        .collect()
}

/// A `YYYY-MM-DD` date of a registry's record.
fn date(registry: &'static str, text: &str) -> Result<Date, MisError> {
    Date::parse(text, &time::format_description::well_known::Iso8601::DATE)
        .map_err(|e| unreadable(registry, e))
}

impl Mis {
    /// An SP-MIS running `programmes` and those created over the API since (kept in `store`,
    /// with [`crate::store::MIGRATIONS`] applied), keeping its enrolments there; starts the
    /// dispatcher that delivers its IBR updates (first those a previous run left undelivered)
    /// on the current runtime.
    pub async fn start(
        programmes: Vec<Programme>,
        store: Arc<dyn ::store::Store>,
        registries: Registries,
        delivery: Delivery,
    ) -> Result<Self, MisError> {
        let dispatcher = dispatch::Dispatcher::new(store.clone(), delivery.dispatch)
            .map_err(|e| MisError::Delivery(e.to_string()))?;
        if let Some(signer) = delivery.signer {
            dispatcher.sign_with(signer);
        }
        if delivery.ibr_token {
            dispatcher.authorize(
                registries.ibr.base_url(),
                Arc::new(dispatch::ClientBearer(registries.ibr.clone())),
            );
        }
        let mis = Mis {
            programmes: Arc::new(RwLock::new(programmes)),
            enrolments: Enrolments::new(store),
            registries,
            dispatcher,
            ibr_wait: delivery.ibr_wait,
        };
        for (code, text) in mis.enrolments.stored_programmes().await? {
            let origin = format!("stored programme {code}");
            let definition: Definition =
                serde_json::from_str(&text).map_err(|e| MisError::Programme {
                    origin: origin.clone(),
                    message: e.to_string(),
                })?;
            let programme = Programme::define(definition, &origin)?;
            // A programme shipped since it was created takes its code: refuse to guess.
            if mis.programme(&programme.code).is_ok() {
                return Err(MisError::ProgrammeExists(programme.code));
            }
            mis.programmes
                .write()
                .expect("programmes lock")
                .push(programme);
        }
        mis.dispatcher.spawn();
        Ok(mis)
    }

    /// The registries it asks, as it reaches them (its participant id is each client's
    /// sender).
    pub fn registries(&self) -> &Registries {
        &self.registries
    }

    /// The programmes it runs.
    pub fn programmes(&self) -> Vec<Programme> {
        self.programmes.read().expect("programmes lock").clone()
    }

    /// The programme with `code`.
    pub fn programme(&self, code: &str) -> Result<Programme, MisError> {
        self.programmes
            .read()
            .expect("programmes lock")
            .iter()
            .find(|p| p.code == code)
            .cloned()
            .ok_or_else(|| MisError::UnknownProgramme(code.to_string()))
    }

    /// Creates a programme from `definition`, checked as a programme file is, and keeps it in
    /// the store so that it is run again after a restart ([`Mis::open`]). Refused when a
    /// programme has its code.
    pub async fn create_programme(&self, definition: Definition) -> Result<Programme, MisError> {
        let programme = Programme::define(definition, "the programme sent")?;
        if self.programme(&programme.code).is_ok() {
            return Err(MisError::ProgrammeExists(programme.code));
        }
        let text = serde_json::to_string(programme.definition()).expect("a definition serializes");
        if !self
            .enrolments
            .store_programme(&programme.code, &text)
            .await?
        {
            return Err(MisError::ProgrammeExists(programme.code));
        }
        self.programmes
            .write()
            .expect("programmes lock")
            .push(programme.clone());
        Ok(programme)
    }

    /// The enrolments.
    pub fn enrolments(&self) -> &Enrolments {
        &self.enrolments
    }

    /// `uin` applies to programme `code` on `today`: the application is recorded, the facts
    /// its rules read are fetched, the IBR is asked whether the applicant already receives a
    /// benefit of the programme's type, and the applicant is enrolled (and the IBR told) or
    /// rejected with the reason.
    pub async fn apply(&self, code: &str, uin: &str, today: Date) -> Result<Decision, MisError> {
        let programme = self.programme(code)?;
        self.enrolments
            .record(Change::new(code, uin, Status::Applied, today))
            .await?;
        let mut decision = Decision {
            programme: programme.code.clone(),
            uin: uin.to_string(),
            date: today,
            status: Status::Rejected,
            reason: None,
            rules: Vec::new(),
            ibr_transaction: None,
        };
        let facts = self
            .facts(&needed(&programme, &programme.eligibility), uin, today)
            .await?;
        decision.rules = programme
            .eligibility
            .iter()
            .map(|rule| rule.check(&facts, today))
            .collect();
        if let Some(failed) = decision.rules.iter().find(|r| r.outcome != Outcome::Passed) {
            decision.reason = Some(failed.reason());
            return self.decided(&programme, decision, None, None).await;
        }
        self.enrolments
            .record(Change::new(code, uin, Status::Verified, today))
            .await?;
        let check = self.not_yet_covered(&programme, uin).await?;
        let covered = check.outcome != Outcome::Passed;
        decision.rules.push(check);
        if covered {
            decision.reason = decision.rules.last().map(RuleResult::reason);
            return self.decided(&programme, decision, None, None).await;
        }
        let household = household_of(&programme, &facts)?;
        let publication = self.ibr_update(
            &programme,
            uin,
            household.as_deref(),
            Status::Enrolled,
            today,
            None,
        );
        decision.ibr_transaction = Some(publication.transaction_id.clone());
        decision.status = Status::Enrolled;
        self.decided(&programme, decision, household, Some(publication))
            .await
    }

    /// UC-04: a parent applies to programme `code` for the child whose birth registration
    /// number is `brn`: the civil registry's record of the child gives their UIN, and the
    /// child applies (a child benefit's rules read the mother from the same record). Refused
    /// as an unknown child when the civil registry has no such birth, and by the lifecycle
    /// when the child applied already.
    pub async fn apply_for_child(
        &self,
        code: &str,
        brn: &str,
        today: Date,
    ) -> Result<Decision, MisError> {
        self.programme(code)?;
        let ask = Ask::by_id(
            Registry::Crvs,
            &self.registries.crvs,
            dci::records::crvs::PERSON,
            (dci::records::crvs::BRN, brn),
            &[],
        );
        let item = search(ask, &mut Facts::default()).await?;
        let child = records::<dci::records::crvs::CrvsPerson>("crvs", &item)?
            .pop()
            .and_then(|person| person.identifier("UIN").map(str::to_string))
            .ok_or_else(|| MisError::UnknownChild(brn.to_string()))?;
        self.apply(code, &child, today).await
    }

    /// A beneficiary of programme `code` changes status on `date` for `reason` (suspended,
    /// resumed, graduated, exited): refused unless the lifecycle allows it, and recorded with
    /// its IBR update, which the dispatcher delivers. Returns the update's `transaction_id`.
    pub async fn change_status(
        &self,
        code: &str,
        uin: &str,
        status: Status,
        date: Date,
        reason: &str,
    ) -> Result<String, MisError> {
        let programme = self.programme(code)?;
        let change = Change {
            reason: Some(reason.to_string()),
            ..Change::new(code, uin, status, date)
        };
        if status.ibr_code().is_none() {
            return Err(MisError::Transition {
                from: self.enrolments.status(code, uin).await?,
                uin: change.uin,
                programme: change.programme,
                to: status,
            });
        }
        let household = self.enrolments.household(code, uin).await?;
        let publication = self.ibr_update(
            &programme,
            uin,
            household.as_deref(),
            status,
            date,
            Some(reason),
        );
        let transaction = publication.transaction_id.clone();
        self.enrolments
            .record_published(change, publication)
            .await?;
        self.dispatcher.wake();
        Ok(transaction)
    }

    /// `uin` died on `date` (as `source`, the civil registry's notification, tells): each of
    /// their enrolments that is active or suspended is exited on that date, the IBR told.
    /// Returns the programmes they left; none when told again.
    pub async fn died(&self, uin: &str, date: Date, source: &str) -> Result<Vec<String>, MisError> {
        let reason = format!("died on {} ({source})", expr::iso_date(date));
        let mut exited = Vec::new();
        for (code, status) in self.enrolments.of(uin).await? {
            if !status.can_become(Status::Exited) {
                continue;
            }
            match self
                .change_status(&code, uin, Status::Exited, date, &reason)
                .await
            {
                Ok(_) => exited.push(code),
                // Exited meanwhile, by the same death notified twice at once.
                Err(MisError::Transition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(exited)
    }

    /// Checks again, on `date`, the conditions of `uin`'s enrolment in programme `code`
    /// because of `why` (a notification); the first one no longer met changes the status as
    /// it says (graduated, exited, suspended), the IBR told. Returns the new status; `None`
    /// when every condition holds or the status is already the one it would give.
    pub async fn review(
        &self,
        code: &str,
        uin: &str,
        date: Date,
        why: &str,
    ) -> Result<Option<Status>, MisError> {
        let programme = self.programme(code)?;
        let needed = needed(&programme, programme.conditions.iter().map(|c| &c.rule));
        let facts = self.facts(&needed, uin, date).await?;
        let Some((status, failed)) = unmet(&programme, &facts, date) else {
            return Ok(None);
        };
        if self.enrolments.status(code, uin).await? == Some(status) {
            return Ok(None);
        }
        let reason = format!("{} ({why})", failed.reason());
        self.change_status(code, uin, status, date, &reason).await?;
        Ok(Some(status))
    }

    /// The child of `mother` died on `date` (as `source` tells): her enrolments that are
    /// active or suspended in programmes whose conditions read her youngest child are
    /// reviewed ([`Mis::review`]). Returns the programmes and the status each gave.
    pub async fn child_died(
        &self,
        mother: &str,
        date: Date,
        source: &str,
    ) -> Result<Vec<(String, Status)>, MisError> {
        let why = format!("her child died on {} ({source})", expr::iso_date(date));
        let mut changed = Vec::new();
        for (code, status) in self.enrolments.of(mother).await? {
            let about_the_child = self
                .programme(&code)?
                .conditions
                .iter()
                .any(|c| c.rule.facts().iter().any(|f| CHILD_FACTS.contains(f)));
            if !about_the_child || !status.can_become(Status::Exited) {
                continue;
            }
            match self.review(&code, mother, date, &why).await {
                Ok(Some(status)) => changed.push((code, status)),
                Ok(None) | Err(MisError::Transition { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(changed)
    }

    /// Records the decision as the applicant's new status, with the IBR update that publishes
    /// an enrolment.
    async fn decided(
        &self,
        programme: &Programme,
        decision: Decision,
        household_id: Option<String>,
        publication: Option<Publication>,
    ) -> Result<Decision, MisError> {
        let explained = serde_json::to_value(&decision).expect("a decision serializes");
        let change = Change {
            reason: decision.reason.clone(),
            decision: Some(explained),
            household_id,
            ..Change::new(
                &programme.code,
                &decision.uin,
                decision.status,
                decision.date,
            )
        };
        match publication {
            Some(publication) => {
                self.enrolments
                    .record_published(change, publication)
                    .await?;
                self.dispatcher.wake();
            }
            None => self.enrolments.record(change).await?,
        }
        Ok(decision)
    }

    /// The `needed` facts of `uin` on `today`, from the registries that hold them.
    pub(crate) async fn facts(
        &self,
        needed: &[&'static str],
        uin: &str,
        today: Date,
    ) -> Result<Facts, MisError> {
        let mut facts = Facts::default();
        let from = |registry| needed.iter().any(|f| registry_of(f) == registry);
        let wants = |fact: &str| needed.contains(&fact);
        let mut person = None;
        if BIRTH_FACTS.iter().any(|f| wants(f)) || from(Registry::Id) || wants(MOTHER_POVERTY) {
            person = self.birth_record(uin, &mut facts).await?;
        }
        if let (true, Some(person)) = (from(Registry::Id), &person) {
            self.verify_identity(uin, person.birth_date, &mut facts)
                .await?;
        }
        if needed.iter().any(|f| f.starts_with("spouse_")) {
            self.spouse(uin, &mut facts).await?;
        }
        if needed.iter().any(|f| HOUSEHOLD_FACTS.contains(f)) {
            self.household(uin, false, &mut facts).await?;
        }
        if let (true, Some(mother)) = (wants(MOTHER_POVERTY), person.and_then(|p| p.mother)) {
            self.household(&mother, true, &mut facts).await?;
        }
        if needed.contains(&"attends_school") {
            self.schooling(uin, today, &mut facts).await?;
        }
        if from(Registry::Fr) {
            self.farm(uin, &mut facts).await?;
        }
        if CHILD_FACTS.iter().any(|f| wants(f)) {
            self.youngest_child(uin, &mut facts).await?;
        }
        if from(Registry::Dr) {
            self.certified(uin, &mut facts).await?;
        }
        Ok(facts)
    }

    /// CRVS: the children the person is registered as the mother of; the youngest one's birth
    /// date and death (of twins, one who lives). Nothing when she has none.
    async fn youngest_child(&self, uin: &str, facts: &mut Facts) -> Result<(), MisError> {
        let expression = format!("mother_uin = \"{uin}\"");
        let ask = Ask {
            registry: Registry::Crvs,
            client: &self.registries.crvs,
            item: SearchItem::by_expression(dci::records::crvs::PERSON, json!(expression))
                .page(CHILDREN_PAGE, 1),
            query: format!("Person {expression}"),
            provides: CHILD_FACTS,
        };
        let item = search(ask, facts).await?;
        let mut youngest: Option<(Date, bool)> = None;
        for child in records::<dci::records::crvs::CrvsPerson>("crvs", &item)? {
            let born = (date("crvs", &child.birth_date)?, child.death_date.is_none());
            if youngest.is_none_or(|y| born > y) {
                youngest = Some(born);
            }
        }
        if let Some((birth_date, alive)) = youngest {
            facts.set("youngest_child_birth_date", Value::Date(birth_date));
            facts.set("youngest_child_deceased", Value::Bool(!alive));
        }
        Ok(())
    }

    /// DR `disabled`: whether the person holds a certificate valid today.
    async fn certified(&self, uin: &str, facts: &mut Facts) -> Result<(), MisError> {
        let criteria = serde_json::from_value(json!({
            "query_type": "expression",
            "query": {"personal_details.member_identifier": {"eq": uin}},
        }))
        .expect("disabled criteria");
        let dr = &self.registries.dr;
        let message = dci::disability::DisabledRequest {
            transaction_id: format!("mis-{}", uuid::Uuid::now_v7()),
            disabled_criteria: vec![criteria],
        };
        let transaction_id = message.transaction_id.clone();
        let envelope = dr.envelope(dci::Action::Search, 1, None, message);
        let answer = dr.send("/registry/sync/disabled", &envelope).await;
        let message: dci::disability::DisabledResponse = answered("dr", answer)?;
        facts.asked(
            &Source {
                registry: Registry::Dr,
                query: format!("disabled UIN={uin}"),
                transaction_id,
                correlation_id: message.correlation_id.clone(),
            },
            &["disabled"],
        );
        let item = message
            .disabled_response
            .first()
            .ok_or_else(|| unreadable("dr", "no answer to the disabled check"))?;
        succeeded("dr", item.answer.status, &item.answer.status_reason_message)?;
        facts.set("disabled", Value::Bool(item.disabled_status == YesNo::Yes));
        Ok(())
    }

    /// SR: whether the member's education level (ISCED) is the one expected at their age on
    /// `today` (1 from 6, 2 from 12, 3 from 15): a child behind it has left school. False
    /// outside the school ages (6 to 17).
    async fn schooling(&self, uin: &str, today: Date, facts: &mut Facts) -> Result<(), MisError> {
        let ask = Ask::by_id(
            Registry::Social,
            &self.registries.social,
            "Member",
            ("UIN", uin),
            &["attends_school"],
        );
        let item = search(ask, facts).await?;
        let Some(member) = records::<dci::records::social::Member>("social", &item)?.pop() else {
            return Ok(());
        };
        let birth = date("social", &member.demographic_info.birth_date)?;
        let aged = |years| expr::years_before(today, years).is_some_and(|d| birth <= d);
        let expected = match () {
            _ if aged(18) || !aged(6) => None,
            _ if aged(15) => Some(3),
            _ if aged(12) => Some(2),
            _ => Some(1),
        };
        let level = member
            .education_level
            .as_deref()
            .and_then(|l| l.parse::<u32>().ok());
        let attends = matches!((expected, level), (Some(e), Some(l)) if l >= e);
        facts.set("attends_school", Value::Bool(attends));
        Ok(())
    }

    /// FR: the total land of the person's farm.
    async fn farm(&self, uin: &str, facts: &mut Facts) -> Result<(), MisError> {
        let ask = Ask::by_id(
            Registry::Fr,
            &self.registries.fr,
            "Farmer",
            ("UIN", uin),
            &["land_size"],
        );
        let item = search(ask, facts).await?;
        if let Some(farmer) = records::<dci::records::fr::FarmerPerson>("fr", &item)?.pop() {
            let land = farmer
                .total_land_size
                .unwrap_or_else(|| farmer.farm_details.iter().map(|f| f.land_size).sum());
            facts.set("land_size", Value::Float(land));
        }
        Ok(())
    }

    /// CRVS: the spouse of the person's latest marriage not dissolved, and their death.
    async fn spouse(&self, uin: &str, facts: &mut Facts) -> Result<(), MisError> {
        let ask = Ask::by_id(
            Registry::Crvs,
            &self.registries.crvs,
            "MarriageRecord",
            ("UIN", uin),
            &["spouse_deceased", "spouse_death_date"],
        );
        let item = search(ask, facts).await?;
        let marriages = records::<dci::records::crvs::MarriageRecord>("crvs", &item)?;
        let Some(marriage) = marriages
            .iter()
            .filter(|m| m.divorce_date.is_none())
            .max_by(|a, b| a.marriage_date.cmp(&b.marriage_date))
        else {
            return Ok(());
        };
        let spouse = if marriage.spouse1_identifier.identifier_value == uin {
            &marriage.spouse2_identifier.identifier_value
        } else {
            &marriage.spouse1_identifier.identifier_value
        };
        let ask = Ask::by_id(
            Registry::Crvs,
            &self.registries.crvs,
            "DeathRecord",
            ("UIN", spouse.as_str()),
            &["spouse_deceased", "spouse_death_date"],
        );
        let item = search(ask, facts).await?;
        let death = records::<dci::records::crvs::DeathRecord>("crvs", &item)?.pop();
        facts.set("spouse_deceased", Value::Bool(death.is_some()));
        if let Some(death) = death {
            facts.set(
                "spouse_death_date",
                Value::Date(date("crvs", &death.death_date)?),
            );
        }
        Ok(())
    }

    /// SR: the household `uin` belongs to: its poverty score, size, id and region (the
    /// [`HOUSEHOLD_FACTS`]), or, for a child's `mother`, her household's score as
    /// `mother_poverty_score`.
    async fn household(&self, uin: &str, mother: bool, facts: &mut Facts) -> Result<(), MisError> {
        let provides = if mother {
            &[MOTHER_POVERTY][..]
        } else {
            HOUSEHOLD_FACTS
        };
        let ask = Ask::by_id(
            Registry::Social,
            &self.registries.social,
            "Group",
            ("UIN", uin),
            provides,
        );
        let item = search(ask, facts).await?;
        if let Some(group) = records::<dci::records::social::Group>("social", &item)?.pop() {
            if mother {
                facts.set(MOTHER_POVERTY, Value::Float(group.poverty_score));
                return Ok(());
            }
            facts.set(POVERTY, Value::Float(group.poverty_score));
            facts.set("household_size", Value::Integer(group.group_size));
            let id = group
                .group_identifier
                .iter()
                .find(|i| i.identifier_type.eq_ignore_ascii_case("HHID"))
                .or(group.group_identifier.first());
            if let Some(id) = id {
                facts.set("household_id", Value::Text(id.identifier_value.clone()));
            }
            let region = group.address.iter().find_map(|a| a.region_code.clone());
            if let Some(region) = region {
                facts.set("region_code", Value::Text(region));
            }
        }
        Ok(())
    }

    /// CRVS: the person's birth date, sex, marital status and whether they died. Returns the
    /// birth date, which identity verification needs, and the mother, when registered.
    async fn birth_record(&self, uin: &str, facts: &mut Facts) -> Result<Option<Born>, MisError> {
        let ask = Ask::by_id(
            Registry::Crvs,
            &self.registries.crvs,
            "Person",
            ("UIN", uin),
            BIRTH_FACTS,
        );
        let item = search(ask, facts).await?;
        let Some(person) = records::<dci::records::crvs::CrvsPerson>("crvs", &item)?.pop() else {
            return Ok(None);
        };
        let birth_date = date("crvs", &person.birth_date)?;
        facts.set("birth_date", Value::Date(birth_date));
        facts.set("sex", Value::Text(person.sex));
        if let Some(status) = person.marital_status {
            facts.set("marital_status", Value::Text(status));
        }
        facts.set("deceased", Value::Bool(person.death_date.is_some()));
        Ok(Some(Born {
            birth_date,
            mother: person.parent1_identifier.map(|m| m.identifier_value),
        }))
    }

    /// ID: whether an identity with this UIN and the civil registry's birth date exists.
    async fn verify_identity(
        &self,
        uin: &str,
        birth_date: Date,
        facts: &mut Facts,
    ) -> Result<(), MisError> {
        let expression = format!(
            "uin = \"{uin}\" AND birth_date = \"{}\"",
            expr::iso_date(birth_date)
        );
        let ask = Ask {
            registry: Registry::Id,
            client: &self.registries.id,
            item: SearchItem::by_expression("Identity", json!(expression)),
            query: format!("Identity {expression}"),
            provides: &["identity_verified"],
        };
        let item = search(ask, facts).await?;
        let found = item.pagination.as_ref().map_or(0, |p| p.total_count);
        facts.set("identity_verified", Value::Bool(found == 1));
        Ok(())
    }

    /// IBR `enrolled`: passes when `uin` has no active enrolment giving `programme`'s benefit
    /// type.
    async fn not_yet_covered(
        &self,
        programme: &Programme,
        uin: &str,
    ) -> Result<RuleResult, MisError> {
        let criteria = serde_json::from_value(json!({
            "query_type": "expression",
            "query": {"person_identifier": {"eq": uin},
                      "benefit_type": {"eq": programme.benefit_type}},
        }))
        .expect("enrolled criteria");
        let answer = self.registries.ibr.enrolled(vec![criteria]).await;
        let message = answered(Registry::Ibr.as_str(), answer)?;
        let item = message
            .enrolled_response
            .first()
            .ok_or_else(|| unreadable("ibr", "no answer to the enrolled check"))?;
        succeeded(
            Registry::Ibr.as_str(),
            item.answer.status,
            &item.answer.status_reason_message,
        )?;
        let (outcome, value) = match item.enrolled_status {
            YesNo::No => (Outcome::Passed, "no".to_string()),
            YesNo::Yes => {
                let active: Vec<&str> = item
                    .enrollments
                    .iter()
                    .filter(|e| e.enrollment_status == "1")
                    .map(|e| e.programme_identifier.as_str())
                    .collect();
                (Outcome::Failed, format!("yes in {}", active.join(", ")))
            }
        };
        Ok(RuleResult {
            name: format!("no other benefit of type {}", programme.benefit_type),
            rule: format!(
                "enrolled(person_identifier = \"{uin}\" AND benefit_type = \"{}\") = no",
                programme.benefit_type
            ),
            outcome,
            facts: vec![FactUsed {
                fact: "enrolled".into(),
                value: Some(value),
                source: Some(Source {
                    registry: Registry::Ibr,
                    query: "enrolled".into(),
                    transaction_id: message.transaction_id.clone(),
                    correlation_id: message.correlation_id.clone(),
                }),
            }],
        })
    }

    /// Sends `updates` to the IBR in one `enrollment/updates` message; returns its
    /// `transaction_id`. Refused whole if the IBR refuses any of them.
    pub(crate) async fn publish(
        &self,
        updates: Vec<dci::records::ibr::Beneficiary>,
    ) -> Result<String, MisError> {
        let transaction_id = format!("mis-{}", uuid::Uuid::now_v7());
        let answer = self
            .registries
            .ibr
            .publish_enrolments(&transaction_id, updates)
            .await;
        let items = answered(Registry::Ibr.as_str(), answer)?.enrolled_response;
        if items.is_empty() {
            return Err(unreadable("ibr", "no answer to the enrolment update"));
        }
        for item in items {
            succeeded("ibr", item.status, &item.status_reason_message)?;
        }
        Ok(transaction_id)
    }

    /// The IBR update that tells it `uin` (the head of `household`, for a household programme)
    /// has `status` in `programme` since `date`: an `enrollment/updates` envelope under a fresh
    /// transaction id, to go out from the outbox.
    fn ibr_update(
        &self,
        programme: &Programme,
        uin: &str,
        household: Option<&str>,
        status: Status,
        date: Date,
        reason: Option<&str>,
    ) -> Publication {
        let beneficiary = enrolment_update(programme, uin, household, status, date, reason);
        let beneficiary = serde_json::to_value(beneficiary).expect("a beneficiary serializes");
        let transaction_id = format!("mis-{}", uuid::Uuid::now_v7());
        let message = dci::ibr::EnrollmentUpdatesRequest {
            transaction_id: transaction_id.clone(),
            enrolled_updates: dci::ibr::ReceiptInformation {
                receipt_type: None,
                beneficiaries: vec![beneficiary],
            },
        };
        let mut envelope = self
            .registries
            .ibr
            .envelope(dci::Action::Notify, 1, None, message);
        // The message id is the transaction's, so that the history finds its delivery.
        envelope.header.message_id = transaction_id.clone();
        Publication {
            destination: format!(
                "{}/registry/sync/enrollment/updates",
                self.registries.ibr.base_url()
            ),
            body: serde_json::to_string(&envelope).expect("an envelope serializes"),
            transaction_id,
        }
    }
}

/// The facts `rules` of `programme` read, and the household's id for a household programme.
pub(crate) fn needed<'r>(
    programme: &Programme,
    rules: impl IntoIterator<Item = &'r Rule>,
) -> Vec<&'static str> {
    let mut needed: Vec<&'static str> = rules.into_iter().flat_map(|rule| rule.facts()).collect();
    if programme.target == Target::Household {
        needed.push("household_id");
    }
    needed
}

/// The first of `programme`'s conditions `facts` do not meet on `date`, and the status failing
/// it gives.
pub(crate) fn unmet(
    programme: &Programme,
    facts: &Facts,
    date: Date,
) -> Option<(Status, RuleResult)> {
    programme.conditions.iter().find_map(|condition| {
        let result = condition.rule.check(facts, date);
        (result.outcome != Outcome::Passed).then(|| (condition.otherwise.status(), result))
    })
}

/// The household of a household programme's beneficiary, which the social registry must know.
pub(crate) fn household_of(
    programme: &Programme,
    facts: &Facts,
) -> Result<Option<String>, MisError> {
    if programme.target != Target::Household {
        return Ok(None);
    }
    match expr::Record::get(facts, "household_id") {
        Some(Value::Text(id)) => Ok(Some(id)),
        _ => Err(unreadable(
            "social",
            "a household programme's beneficiary belongs to no household in the social registry",
        )),
    }
}

/// The IBR update saying that `uin` (the head of `household`, for a household programme) has
/// `status` in `programme` since `date`.
pub(crate) fn enrolment_update(
    programme: &Programme,
    uin: &str,
    household: Option<&str>,
    status: Status,
    date: Date,
    reason: Option<&str>,
) -> dci::records::ibr::Beneficiary {
    let code = status.ibr_code().expect("only published statuses");
    let date = expr::iso_date(date);
    let mut beneficiary = json!({
        "reference_id": household.unwrap_or(uin),
        "assistance_unit": programme.target.assistance_unit(),
        "member": {"member_identifier": [{"identifier_type": "UIN", "identifier_value": uin}]},
        "programme_identifier": [{
            "programme_identifier": programme.code,
            "programme_name": programme.name,
            "implementing_institution": programme.institution,
            "benefit_frequency": programme.frequency,
            "benefit": [{"benefit_type": programme.benefit_type}],
        }],
        "enrollment_status": code,
        "status_change_date": [date],
    });
    if let Some(household) = household {
        beneficiary["group"] = json!({"group_identifier": [{"identifier_type": "HHID", "identifier_value": household}]});
    }
    if status == Status::Enrolled {
        beneficiary["enrollment_date"] = json!(date);
    }
    if let Some(reason) = reason {
        beneficiary["status_reason"] = json!(reason);
    }
    serde_json::from_value(beneficiary).expect("a beneficiary")
}
