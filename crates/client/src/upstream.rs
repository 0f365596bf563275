//! A service's standing subscription at another registry, whose notifications it applies
//! (the ID service's to the civil registry's deaths, the SP-MIS's to its registries' events).
//!
//! The service subscribes at start ([`subscribe_once`]), and keeps trying until the registry
//! takes it ([`until_ok`]). A registry refuses a second subscription with the same criteria
//! and notify URL (`rjct.event.already_subscribed`), which tells the service the one it holds
//! is active: a restarted service keeps its subscription. The notifications come to a
//! [`durable`] receiver, whose handler applies each one before it is acknowledged, so that the
//! registry's outbox sends it again while the service is down or cannot apply it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dci::{ReasonCode, Rejection};

use crate::{Callback, Client, ClientError, Receiver, ReceiverConfig, SubscribeItem};

/// How long a subscription waits for the registry's `on-subscribe` (then asks its status).
pub const SUBSCRIBE_WAIT: Duration = Duration::from_secs(10);
/// Longest pause between two attempts of [`until_ok`].
pub const MAX_PAUSE: Duration = Duration::from_secs(60);
/// Callbacks a durable receiver keeps for waiters that have not asked yet: notifications are
/// applied as they come; only an `on-subscribe` arriving before its waiter needs keeping.
const KEPT_CALLBACKS: usize = 64;

/// What [`subscribe_once`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subscribed {
    /// A new subscription, with its code.
    New(String),
    /// The registry holds this subscription already, active.
    AlreadyActive,
}

/// Why a subscription was not made.
#[derive(Debug, thiserror::Error)]
pub enum SubscribeError {
    /// The registry could not be reached, or refused the request.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The registry refused the subscription.
    #[error("the registry refused the subscription: {0}")]
    Refused(String),
}

/// Subscribes at `client`'s registry with `item`, its callbacks to `receiver`: a new
/// subscription, or the one already held.
pub async fn subscribe_once(
    client: &Client,
    item: SubscribeItem,
    receiver: &Receiver,
) -> Result<Subscribed, SubscribeError> {
    let outcome = client
        .subscribe_and_wait(vec![item], receiver, SUBSCRIBE_WAIT, Duration::from_secs(1))
        .await?;
    let answer = outcome
        .response
        .subscribe_response
        .first()
        .ok_or_else(|| SubscribeError::Refused("the answer has no item".into()))?;
    match (answer.subscriptions.first(), answer.status_reason_code) {
        (Some(subscription), _) => Ok(Subscribed::New(subscription.code.clone())),
        (None, Some(ReasonCode::EventAlreadySubscribed)) => Ok(Subscribed::AlreadyActive),
        (None, code) => Err(SubscribeError::Refused(format!(
            "{}: {}",
            code.map_or("rjct", ReasonCode::as_str),
            answer.status_reason_message.as_deref().unwrap_or_default()
        ))),
    }
}

/// Runs `attempt` until it succeeds, pausing 1 s after the first failure, then twice as long
/// each time up to [`MAX_PAUSE`]; each failure is logged as `what`.
pub async fn until_ok<T, E, F, Fut>(what: &str, mut attempt: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut pause = Duration::from_secs(1);
    loop {
        match attempt().await {
            Ok(done) => return done,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?pause, "cannot {what}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_PAUSE);
            }
        }
    }
}

/// A receiver for `participant_id`, reached at `public_url`, whose `handler` applies each
/// callback before it is acknowledged; it verifies the senders' signatures with `keys`, or
/// accepts callbacks unsigned without them (tests of other behaviour only).
pub fn durable<F, Fut>(
    participant_id: &str,
    public_url: &str,
    keys: Option<Arc<dyn trust::KeyResolver>>,
    handler: F,
) -> Receiver
where
    F: Fn(Callback) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), Rejection>> + Send + 'static,
{
    let receiver = Receiver::new(ReceiverConfig {
        participant_id: Some(participant_id.to_string()),
        max_kept_callbacks: KEPT_CALLBACKS,
        ..ReceiverConfig::default()
    })
    .with_base_url(public_url)
    .handle_with(handler);
    match keys {
        Some(keys) => receiver.verify_with(keys),
        None => receiver,
    }
}
