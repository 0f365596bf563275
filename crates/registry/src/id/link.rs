//! The ID service's link to the civil registry: the MOSIP ↔ CRVS pattern of dci-spec §7.5,
//! where the identity system subscribes to the civil registry's death registrations.
//!
//! The ID service is a participant of the civil registry. At start it subscribes there to
//! `DEATH_REGISTERED` events of `Person` records (filter `is_deceased = true`: every death),
//! with its own base URL as the callback, unless it already holds that subscription: the
//! civil registry refuses a second subscription with the same criteria and notify URL
//! (`rjct.event.already_subscribed`), which tells the link the one it holds is active. The
//! code is kept in `upstream_subscription`. Should the civil registry be unreachable, the link
//! tries again, less and less often, until it succeeds (see [`client::upstream`], shared with
//! the SP-MIS's subscriptions).
//!
//! The notifications come to `POST /registry/notify` on the ID service itself (a
//! [`client::Receiver`] served beside the registry's endpoints, see [`CrvsLink::router`]),
//! must be signed by the civil registry, and are applied before they are acknowledged: each
//! death marks its identity deceased ([`super::mark_deceased`]) and raises the ID registry's
//! own events, so its subscribers are notified in turn. A notification the store cannot take
//! is refused (`err.service.unavailable`), and the civil registry's outbox sends it again; a
//! death notified twice (a retry, a second subscription) is applied once.

use std::sync::Arc;

use client::upstream::{self, SubscribeError};
use client::{Callback, Client, Receiver, RegistryQuery, SubscribeItem};
use dci::{Action, ReasonCode, Rejection, Timestamp};
use serde_json::Value;
use store::{SqlValue, Statement, StoreError, numbered};

use super::{Death, Marked, mark_deceased};
use crate::Registry;
use crate::crvs;

/// The event the link subscribes to: the MOSIP flow's name for a registered death.
pub const EVENT: &str = crvs::DEATH_REGISTERED;
/// The record type its notifications carry: the deceased person.
pub const RECORD_TYPE: &str = dci::records::crvs::PERSON;
/// Its filter: every person whose death is registered.
pub const FILTER: &str = "is_deceased = true";

/// Where the civil registry is and how the ID service talks to it.
#[derive(Clone)]
pub struct LinkSettings {
    /// The civil registry's base URL, e.g. `http://127.0.0.1:8402`.
    pub crvs_url: String,
    /// The civil registry's participant id: `receiver_id` of the link's requests, and the
    /// signer its notifications must carry.
    pub crvs_id: String,
    /// The ID service's client id and secret at the civil registry, for its access tokens;
    /// `None` sends no token.
    pub credentials: Option<(String, String)>,
    /// The ID service's base URL as the civil registry reaches it: its callbacks and
    /// notifications go under it.
    pub public_url: String,
    /// Signs the link's requests (the ID service's own signer); `None` sends them unsigned.
    pub signer: Option<Arc<trust::Signer>>,
    /// Finds the civil registry's keys, to verify its callbacks and notifications; `None`
    /// accepts them unsigned (tests of other behaviour only).
    pub crvs_keys: Option<Arc<dyn trust::KeyResolver>>,
}

impl std::fmt::Debug for LinkSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkSettings")
            .field("crvs_url", &self.crvs_url)
            .field("crvs_id", &self.crvs_id)
            .field("public_url", &self.public_url)
            .finish_non_exhaustive()
    }
}

/// Why the link could not subscribe.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The civil registry could not be reached, or refused the request or the subscription.
    #[error("civil registry: {0}")]
    Subscribe(#[from] SubscribeError),
    /// The subscription could not be kept in the store.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What [`CrvsLink::subscribe`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription, with its code.
    New(String),
    /// The one held is active (its code, when this store knows it).
    AlreadyActive(Option<String>),
}

/// The ID service's subscription to the civil registry's deaths, and the endpoint their
/// notifications come to.
pub struct CrvsLink {
    registry: Arc<Registry>,
    settings: LinkSettings,
    receiver: Receiver,
    client: Client,
}

impl CrvsLink {
    /// The link of the ID `registry` to the civil registry of `settings`: its receiver applies
    /// every death notified; nothing is sent until [`CrvsLink::subscribe`].
    pub fn new(registry: Arc<Registry>, settings: LinkSettings) -> Self {
        let service_id = registry.config.service_id.clone();
        let applier = Applier {
            registry: registry.clone(),
            crvs_id: settings.crvs_id.clone(),
        };
        let receiver = upstream::durable(
            &service_id,
            &settings.public_url,
            settings.crvs_keys.clone(),
            move |callback| {
                let applier = applier.clone();
                async move { applier.apply(callback).await }
            },
        );
        let mut client = Client::new(&settings.crvs_url, &service_id, Some(&settings.crvs_id));
        if let Some((client_id, secret)) = &settings.credentials {
            client = client.with_credentials(client_id, secret);
        }
        if let Some(signer) = &settings.signer {
            client = client.with_signer(signer.clone());
        }
        CrvsLink {
            registry,
            settings,
            receiver,
            client,
        }
    }

    /// The endpoints the civil registry posts to (`/registry/notify`, `/registry/on-subscribe`
    /// ...), to serve beside the registry's own ([`crate::http::router`]) under
    /// [`LinkSettings::public_url`].
    pub fn router(&self) -> axum::Router {
        self.receiver.router()
    }

    /// Subscribes to the civil registry's deaths, once: a new subscription is kept with its
    /// code; one already held is confirmed.
    pub async fn subscribe(&self) -> Result<Subscribed, LinkError> {
        let item = death_subscription();
        let now = Timestamp::now().to_string();
        match upstream::subscribe_once(&self.client, item, &self.receiver).await? {
            upstream::Subscribed::New(code) => {
                self.keep(&code, &now).await?;
                Ok(Subscribed::New(code))
            }
            upstream::Subscribed::AlreadyActive => {
                Ok(Subscribed::AlreadyActive(self.confirm(&now).await?))
            }
        }
    }

    /// Subscribes in the background, trying again (after 1 s, then twice as long each time,
    /// up to a minute) until the civil registry takes the subscription or confirms it.
    pub fn spawn(self: Arc<Self>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let subscribed = upstream::until_ok("subscribe to the civil registry's deaths", || {
                self.subscribe()
            })
            .await;
            let crvs = &self.settings.crvs_url;
            match subscribed {
                Subscribed::New(code) => {
                    tracing::info!(%code, %crvs, "subscribed to the civil registry's deaths");
                }
                Subscribed::AlreadyActive(code) => {
                    tracing::info!(code = code.as_deref().unwrap_or("unknown here"), %crvs, "the subscription to the civil registry's deaths is active");
                }
            }
        })
    }

    fn notify_url(&self) -> String {
        self.receiver
            .callback_url("/registry/notify")
            .unwrap_or_default()
    }

    /// Keeps the code of a new subscription.
    async fn keep(&self, code: &str, now: &str) -> Result<(), StoreError> {
        let dialect = self.registry.store.dialect();
        let text = |s: &str| SqlValue::Text(s.to_string());
        self.registry
            .store
            .write(vec![Statement::new(
                numbered(
                    dialect,
                    "INSERT INTO upstream_subscription (registry_url, reg_event_type, record_type, registry_id, code, filter, notify_url, subscribed_at, confirmed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)
                     ON CONFLICT (registry_url, reg_event_type, record_type) DO UPDATE SET registry_id = excluded.registry_id,
                     code = excluded.code, filter = excluded.filter, notify_url = excluded.notify_url,
                     subscribed_at = excluded.subscribed_at, confirmed_at = excluded.confirmed_at",
                ),
                vec![
                    text(&self.settings.crvs_url),
                    text(EVENT),
                    text(RECORD_TYPE),
                    text(&self.settings.crvs_id),
                    text(code),
                    text(FILTER),
                    text(&self.notify_url()),
                    text(now),
                ],
                &[],
            )])
            .await?;
        Ok(())
    }

    /// Notes that the subscription held is active; its code, when kept here.
    async fn confirm(&self, now: &str) -> Result<Option<String>, StoreError> {
        let dialect = self.registry.store.dialect();
        let key = vec![
            SqlValue::Text(self.settings.crvs_url.clone()),
            SqlValue::Text(EVENT.into()),
            SqlValue::Text(RECORD_TYPE.into()),
        ];
        let mut confirm = key.clone();
        confirm.push(SqlValue::Text(now.to_string()));
        self.registry
            .store
            .write(vec![Statement::new(
                numbered(
                    dialect,
                    "UPDATE upstream_subscription SET confirmed_at = ?4
                     WHERE registry_url = ?1 AND reg_event_type = ?2 AND record_type = ?3",
                ),
                confirm,
                &[],
            )])
            .await?;
        let rows = self
            .registry
            .store
            .read(vec![Statement::new(
                numbered(
                    dialect,
                    "SELECT code FROM upstream_subscription
                     WHERE registry_url = ?1 AND reg_event_type = ?2 AND record_type = ?3",
                ),
                key,
                &[store::ColumnType::Text],
            )])
            .await?;
        Ok(rows[0].first().map(|row| crate::search::text_cell(row, 0)))
    }
}

/// The subscription to every death the civil registry registers: [`EVENT`] of [`RECORD_TYPE`]
/// records matching [`FILTER`].
pub fn death_subscription() -> SubscribeItem {
    SubscribeItem::new(
        EVENT,
        RECORD_TYPE,
        RegistryQuery::expression(Value::String(FILTER.into())),
    )
    .reg_type(crvs::PROFILE.reg_type)
}

/// The notification `callback` is, when it notifies one of `events` (compared without
/// case); `None` for other callbacks (the `on-subscribe` ...) and events. A notification that
/// cannot be read is refused.
pub fn notified(
    callback: &Callback,
    events: &[&str],
) -> Result<Option<client::Notification>, Rejection> {
    if callback.action != Action::Notify {
        return Ok(None);
    }
    let notification = callback
        .notification()
        .map_err(|e| Rejection::new(ReasonCode::RequestBad, e.to_string()))?;
    let event = notification.reg_event_type.as_deref().unwrap_or_default();
    if !events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
        tracing::debug!(%event, "an event not applied here");
        return Ok(None);
    }
    Ok(Some(notification))
}

/// The deaths a civil registry's `callback` notifies (`Death` or `DEATH_REGISTERED` events),
/// with a description of the notification to record as their source (`<crvs_id> <event>
/// notify <message id> (subscription <code>)`); `None` for other callbacks (the
/// `on-subscribe` ...) and events. A record without the deceased's UIN and date of death is
/// logged and left out; a notification that cannot be read is refused.
pub fn notified_deaths(
    callback: &Callback,
    crvs_id: &str,
) -> Result<Option<(String, Vec<Death>)>, Rejection> {
    let Some(notification) = notified(callback, &[crvs::DEATH, crvs::DEATH_REGISTERED])? else {
        return Ok(None);
    };
    let event = notification.reg_event_type.as_deref().unwrap_or_default();
    let source = format!(
        "{crvs_id} {event} notify {} (subscription {})",
        notification.header.message_id,
        notification.subscription_code.as_deref().unwrap_or("?")
    );
    let deaths = notification
        .message
        .notify_event
        .iter()
        .filter_map(|notified| {
            let death = Death::from_record(&notified.data.reg_records);
            if death.is_none() {
                tracing::warn!(%source, "a death notification without the deceased's UIN and date of death");
            }
            death
        })
        .collect();
    Ok(Some((source, deaths)))
}

/// Applies the civil registry's notifications to the ID registry.
#[derive(Clone)]
struct Applier {
    registry: Arc<Registry>,
    crvs_id: String,
}

impl Applier {
    /// Marks deceased the identity of every death `callback` notifies; other callbacks (the
    /// `on-subscribe` ...) and events pass. Refused, to be sent again, when the store cannot
    /// take it.
    async fn apply(&self, callback: Callback) -> Result<(), Rejection> {
        let Some((source, deaths)) = notified_deaths(&callback, &self.crvs_id)? else {
            return Ok(());
        };
        for death in deaths {
            match mark_deceased(&self.registry, &death, &source).await {
                Ok(Marked::Deceased) => {
                    tracing::info!(uin = %death.uin, death_date = %death.death_date, "identity marked deceased");
                }
                Ok(Marked::AlreadyDeceased) => {
                    tracing::debug!(uin = %death.uin, %source, "identity already deceased");
                }
                Ok(Marked::Unknown) => {
                    tracing::warn!(uin = %death.uin, %source, "the civil registry notified the death of a UIN this registry does not hold");
                }
                Err(e) => {
                    tracing::error!(error = %e, uin = %death.uin, "cannot mark the identity deceased; the civil registry will send it again");
                    return Err(Rejection::new(
                        ReasonCode::ServiceUnavailable,
                        "the identity registry cannot write now; send it again",
                    ));
                }
            }
        }
        Ok(())
    }
}
