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

use std::sync::Arc;

use client::upstream::{self, Subscribed};
use client::{Callback, Receiver, RegistryQuery, SubscribeItem};
use dci::{ReasonCode, Rejection};

use crate::programme::Trigger;
use crate::{Mis, MisError};

/// Where the SP-MIS takes notifications, and whose.
#[derive(Clone)]
pub struct EventSettings {
    /// The SP-MIS's base URL as the registries reach it: notifications go under it.
    pub public_url: String,
    /// The civil registry's participant id: its notifications tell of deaths.
    pub crvs_id: String,
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
        if !self
            .mis
            .programmes()
            .iter()
            .any(|p| p.enrol_on == Some(Trigger::Birth))
        {
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

    async fn subscribe_to(&self, item: SubscribeItem, what: &str) -> Result<Subscribed, MisError> {
        upstream::subscribe_once(&self.mis.registries.crvs, item, &self.receiver)
            .await
            .map_err(|e| MisError::Registry {
                registry: "crvs",
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
            tracing::info!(
                ?deaths,
                ?births,
                "subscribed to the civil registry's events"
            );
        })
    }
}

/// Applies the registries' notifications to the SP-MIS.
#[derive(Clone)]
struct Applier {
    mis: Mis,
    crvs_id: String,
}

impl Applier {
    /// Applies what `callback` notifies; other callbacks (the `on-subscribe` ...) and events
    /// pass. Refused, to be sent again, when the SP-MIS cannot apply it now.
    async fn apply(&self, callback: Callback) -> Result<(), Rejection> {
        self.births(&callback).await?;
        let Some((source, deaths)) = registry::id::link::notified_deaths(&callback, &self.crvs_id)?
        else {
            return Ok(());
        };
        for death in deaths {
            match self.mis.died(&death.uin, death.death_date, &source).await {
                Ok(exited) if exited.is_empty() => {
                    tracing::debug!(uin = %death.uin, "a death of no active beneficiary");
                }
                Ok(exited) => {
                    tracing::info!(uin = %death.uin, death_date = %death.death_date, programmes = ?exited, "beneficiary died: exited");
                }
                Err(e) => {
                    tracing::error!(error = %e, uin = %death.uin, "cannot exit the deceased; the civil registry will send it again");
                    return Err(Rejection::new(
                        ReasonCode::ServiceUnavailable,
                        "the SP-MIS cannot apply the death now; send it again",
                    ));
                }
            }
        }
        Ok(())
    }

    /// UC-05: each child whose birth `callback` notifies applies, without an application, to
    /// every programme that enrols on a birth, on the day of the notification; a child who
    /// applied already (the notification sent again) is left as they are.
    async fn births(&self, callback: &Callback) -> Result<(), Rejection> {
        let events = [registry::crvs::LIVE_BIRTH, registry::crvs::BIRTH_REGISTERED];
        let Some(notification) = registry::id::link::notified(callback, &events)? else {
            return Ok(());
        };
        let today = time::OffsetDateTime::now_utc().date();
        let programmes: Vec<String> = self
            .mis
            .programmes()
            .iter()
            .filter(|p| p.enrol_on == Some(Trigger::Birth))
            .map(|p| p.code.clone())
            .collect();
        for notified in &notification.message.notify_event {
            let child = serde_json::from_value::<dci::records::crvs::CrvsPerson>(
                notified.data.reg_records.clone(),
            )
            .ok()
            .and_then(|person| person.identifier("UIN").map(str::to_string));
            let Some(child) = child else {
                tracing::warn!(message_id = %notification.header.message_id, "a birth notification without the child's UIN");
                continue;
            };
            for code in &programmes {
                match self.mis.apply(code, &child, today).await {
                    Ok(decision) => {
                        tracing::info!(%child, programme = %code, status = decision.status.as_str(), reason = decision.reason.as_deref().unwrap_or(""), "birth: proactive enrolment decided; the mother is told");
                    }
                    Err(MisError::Transition { .. }) => {
                        tracing::debug!(%child, programme = %code, "birth notified again: already applied");
                    }
                    Err(e) => {
                        tracing::error!(error = %e, %child, "cannot decide on a birth; the civil registry will send it again");
                        return Err(Rejection::new(
                            ReasonCode::ServiceUnavailable,
                            "the SP-MIS cannot apply the birth now; send it again",
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}
