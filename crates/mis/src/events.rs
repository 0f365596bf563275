//! Registry events the SP-MIS acts on: its subscriptions, and the notifications they bring.
//!
//! At start the SP-MIS subscribes at the civil registry to `DEATH_REGISTERED` events of
//! `Person` records (filter `is_deceased = true`: every death; the subscription the ID service
//! holds too, [`registry::id::link::death_subscription`]), with its own base URL as the
//! callback ([`Events::spawn`] tries until the civil registry takes it). A subscription it
//! already holds is refused by the civil registry as `rjct.event.already_subscribed`, which
//! tells it the one held is active: a restarted SP-MIS keeps its subscription.
//!
//! The notifications come to `POST /registry/notify` ([`Events::router`]), must be signed by
//! the registry that sends them (verified with its published keys), and are applied before
//! they are acknowledged, so that the registry's outbox sends them again while the SP-MIS is
//! down or cannot write:
//!
//! - UC-02, a death: every enrolment of the deceased that is active or suspended is exited
//!   (IBR status `6`) on the date of death, with the reason `died on <date> (<source>)`, and
//!   the IBR told ([`Mis::died`]). A death notified again changes nothing.
//! - UC-09, a child's death: its mother's enrolments in programmes whose conditions read her
//!   youngest child are reviewed ([`Mis::child_died`]): a condition that no longer holds
//!   ends them as it says (the lactating mothers' transfer exits her).
//! - UC-05 and UC-09, a birth: the child, or its mother, applies to each programme that enrols
//!   on a birth, on the day of the notification.
//! - UC-10, a certification (`DisabilityApproved`, when a programme enrols on it): the SP-MIS
//!   subscribes at the disability registry too, and the certified person applies to each
//!   programme that enrols on a certification.
//!
//! Deaths and births are taken from the civil registry only, certifications from the
//! disability registry only (the header's `sender_id`, whose signature the receiver checked).

use std::sync::Arc;

use client::upstream::{self, Subscribed};
use client::{Callback, Receiver, RegistryQuery, SubscribeItem};
use dci::{ReasonCode, Rejection};

use crate::programme::{Applicant, Trigger};
use crate::{Mis, MisError};

/// Where the SP-MIS takes notifications, and whose.
#[derive(Clone)]
pub struct EventSettings {
    /// The SP-MIS's base URL as the registries reach it: notifications go under it.
    pub public_url: String,
    /// The civil registry's participant id: its notifications tell of deaths and births.
    pub crvs_id: String,
    /// The disability registry's participant id: its notifications tell of certifications.
    pub dr_id: String,
    /// Finds the registries' keys, to verify their notifications; `None` accepts them
    /// unsigned (tests of other behaviour only).
    pub keys: Option<Arc<dyn trust::KeyResolver>>,
}

/// The SP-MIS's subscriptions and the endpoint their notifications come to.
pub struct Events {
    mis: Mis,
    receiver: Receiver,
}

impl Events {
    /// The events of `mis`: its receiver applies every notification; nothing is subscribed
    /// until [`Events::subscribe`].
    pub fn new(mis: Mis, settings: EventSettings) -> Self {
        let applier = Applier {
            mis: mis.clone(),
            crvs_id: settings.crvs_id.clone(),
            dr_id: settings.dr_id.clone(),
        };
        let receiver = upstream::durable(
            mis.registries.crvs.sender_id(),
            &settings.public_url,
            settings.keys,
            move |callback| {
                let applier = applier.clone();
                async move { applier.apply(callback).await }
            },
        );
        Events { mis, receiver }
    }

    /// The endpoints the registries post to (`/registry/notify`, `/registry/on-subscribe`
    /// ...), to serve under [`EventSettings::public_url`].
    pub fn router(&self) -> axum::Router {
        self.receiver.router()
    }

    /// Subscribes to the civil registry's deaths, once: a new subscription, or the one held
    /// confirmed.
    pub async fn subscribe(&self) -> Result<Subscribed, MisError> {
        self.subscribe_to(registry::id::link::death_subscription(), "deaths")
            .await
    }

    /// Subscribes to the civil registry's births (every living person registered), once,
    /// when a programme enrols on a birth; `None` when none does.
    pub async fn subscribe_births(&self) -> Result<Option<Subscribed>, MisError> {
        if !self.enrols_on(Trigger::Birth) {
            return Ok(None);
        }
        let item = SubscribeItem::new(
            registry::crvs::BIRTH_REGISTERED,
            dci::records::crvs::PERSON,
            RegistryQuery::expression(serde_json::Value::String("is_deceased = false".into())),
        )
        .reg_type(registry::crvs::PROFILE.reg_type);
        self.subscribe_to(item, "births").await.map(Some)
    }

    /// Subscribes to the disability registry's certifications (`DisabilityApproved`), once,
    /// when a programme enrols on one and the disability registry is known; `None` otherwise.
    pub async fn subscribe_certifications(&self) -> Result<Option<Subscribed>, MisError> {
        if !self.enrols_on(Trigger::Disability) || self.mis.registries.dr.base_url().is_empty() {
            return Ok(None);
        }
        let item = SubscribeItem::new(
            registry::dr::APPROVED,
            registry::dr::DISABLED_PERSON,
            RegistryQuery::expression(serde_json::Value::String(
                "disability_status = \"0\"".into(),
            )),
        )
        .reg_type(registry::dr::PROFILE.reg_type);
        self.subscribe_to(item, "certifications").await.map(Some)
    }

    fn enrols_on(&self, trigger: Trigger) -> bool {
        self.mis
            .programmes()
            .iter()
            .any(|p| p.enrol_on == Some(trigger))
    }

    async fn subscribe_to(&self, item: SubscribeItem, what: &str) -> Result<Subscribed, MisError> {
        let (registry, client) = match what {
            "certifications" => ("dr", &self.mis.registries.dr),
            _ => ("crvs", &self.mis.registries.crvs),
        };
        upstream::subscribe_once(client, item, &self.receiver)
            .await
            .map_err(|e| MisError::Registry {
                registry,
                message: format!("cannot subscribe to {what}: {e}"),
            })
    }

    /// Subscribes in the background, trying again (after 1 s, then twice as long each time,
    /// up to a minute) until the civil registry takes the subscriptions or confirms them.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let deaths = upstream::until_ok("subscribe to the civil registry's deaths", || {
                self.subscribe()
            })
            .await;
            let births = upstream::until_ok("subscribe to the civil registry's births", || {
                self.subscribe_births()
            })
            .await;
            let certifications = upstream::until_ok(
                "subscribe to the disability registry's certifications",
                || self.subscribe_certifications(),
            )
            .await;
            tracing::info!(
                ?deaths,
                ?births,
                ?certifications,
                "subscribed to the registries' events"
            );
        })
    }
}

/// Applies the registries' notifications to the SP-MIS.
#[derive(Clone)]
struct Applier {
    mis: Mis,
    crvs_id: String,
    dr_id: String,
}

/// The refusal that makes a registry send a notification again.
fn again(what: &str) -> Rejection {
    Rejection::new(
        ReasonCode::ServiceUnavailable,
        format!("the SP-MIS cannot apply the {what} now; send it again"),
    )
}

impl Applier {
    /// Applies what `callback` notifies; other callbacks (the `on-subscribe` ...) and events
    /// pass. Refused, to be sent again, when the SP-MIS cannot apply it now.
    async fn apply(&self, callback: Callback) -> Result<(), Rejection> {
        let sender = callback.header.sender_id().unwrap_or_default();
        if sender == self.dr_id {
            return self.certifications(&callback).await;
        }
        if sender != self.crvs_id {
            tracing::debug!(%sender, "a callback of no registry the SP-MIS follows");
            return Ok(());
        }
        self.births(&callback).await?;
        let Some((source, deaths)) = registry::id::link::notified_deaths(&callback, &self.crvs_id)?
        else {
            return Ok(());
        };
        for death in deaths {
            if let Some(mother) = &death.mother {
                match self.mis.child_died(mother, death.death_date, &source).await {
                    Ok(changed) if changed.is_empty() => {}
                    Ok(changed) => {
                        tracing::info!(child = %death.uin, %mother, ?changed, "a beneficiary's child died: her enrolments reviewed");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, child = %death.uin, %mother, "cannot review the mother's enrolments; the civil registry will send it again");
                        return Err(again("death"));
                    }
                }
            }
            match self.mis.died(&death.uin, death.death_date, &source).await {
                Ok(exited) if exited.is_empty() => {
                    tracing::debug!(uin = %death.uin, "a death of no active beneficiary");
                }
                Ok(exited) => {
                    tracing::info!(uin = %death.uin, death_date = %death.death_date, programmes = ?exited, "beneficiary died: exited");
                }
                Err(e) => {
                    tracing::error!(error = %e, uin = %death.uin, "cannot exit the deceased; the civil registry will send it again");
                    return Err(again("death"));
                }
            }
        }
        Ok(())
    }

    /// UC-05, UC-09: for each birth `callback` notifies, the child (or its mother, where the
    /// programme says so) applies, without an application, to every programme that enrols on
    /// a birth, on the day of the notification; one who applied already (the notification
    /// sent again, a mother enrolled for an earlier child) is left as they are.
    async fn births(&self, callback: &Callback) -> Result<(), Rejection> {
        let events = [registry::crvs::LIVE_BIRTH, registry::crvs::BIRTH_REGISTERED];
        let Some(notification) = registry::id::link::notified(callback, &events)? else {
            return Ok(());
        };
        for notified in &notification.message.notify_event {
            let Ok(child) = serde_json::from_value::<dci::records::crvs::CrvsPerson>(
                notified.data.reg_records.clone(),
            ) else {
                tracing::warn!(message_id = %notification.header.message_id, "a birth notification without a person");
                continue;
            };
            let child_uin = child.identifier("UIN").map(str::to_string);
            let mother = child.parent1_identifier.map(|m| m.identifier_value);
            self.enrol_on(Trigger::Birth, |applicant| match applicant {
                Applicant::Subject => child_uin.clone(),
                Applicant::Mother => mother.clone(),
            })
            .await
            .map_err(|()| again("birth"))?;
        }
        Ok(())
    }

    /// UC-10: each person whose certification `callback` notifies applies to every programme
    /// that enrols on a certification.
    async fn certifications(&self, callback: &Callback) -> Result<(), Rejection> {
        let Some(notification) = registry::id::link::notified(callback, &[registry::dr::APPROVED])?
        else {
            return Ok(());
        };
        for notified in &notification.message.notify_event {
            let person = serde_json::from_value::<dci::records::dr::PwdPerson>(
                notified.data.reg_records.clone(),
            )
            .ok()
            .and_then(|p| p.personal_details.identifier("UIN").map(str::to_string));
            self.enrol_on(Trigger::Disability, |_| person.clone())
                .await
                .map_err(|()| again("certification"))?;
        }
        Ok(())
    }

    /// The applicant `who` names applies to each programme enrolling on `trigger`, today.
    /// `Err` when a decision could not be made (the registry sends the event again).
    async fn enrol_on(
        &self,
        trigger: Trigger,
        who: impl Fn(Applicant) -> Option<String>,
    ) -> Result<(), ()> {
        let today = time::OffsetDateTime::now_utc().date();
        let programmes = self.mis.programmes();
        for programme in programmes.iter().filter(|p| p.enrol_on == Some(trigger)) {
            let code = &programme.code;
            let Some(uin) = who(programme.applicant) else {
                tracing::warn!(programme = %code, ?trigger, "an event that names no applicant");
                continue;
            };
            match self.mis.apply(code, &uin, today).await {
                Ok(decision) => {
                    tracing::info!(%uin, programme = %code, ?trigger, status = decision.status.as_str(), reason = decision.reason.as_deref().unwrap_or(""), "proactive enrolment decided; the applicant is told");
                }
                Err(MisError::Transition { .. }) => {
                    tracing::debug!(%uin, programme = %code, ?trigger, "already applied");
                }
                Err(e) => {
                    tracing::error!(error = %e, %uin, programme = %code, ?trigger, "cannot decide; the registry will send the event again");
                    return Err(());
                }
            }
        }
        Ok(())
    }
}
