//! [`Receiver`]: the requester's side of the async pattern, the `on-*` and `notify` endpoints a
//! registry posts its callbacks to.
//!
//! Every endpoint answers with the standard acknowledgement. Bad input is an `ERR` ACK with an
//! `err.*` code and the code's HTTP status. A callback whose `header.action` does not match the
//! endpoint is `err.request.bad` (HTTP 400) with a message naming both actions and the header
//! code `rjct.action.invalid`: the ACK's `error.code` may only hold `err.*` codes (dci-spec §9.2),
//! and the header-level `rjct.*` codes belong to response headers, which an ACK does not have.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use dci::subscribe::NotifyEventRequest;
use dci::{
    Ack, AckResponse, AckStatus, Action, MsgCallbackHeader, MsgHeader, RawEnvelope, ReasonCode,
    Rejection, RequestStatus, Timestamp,
};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};

use crate::error::ClientError;

/// The paths the receiver serves, with the action each one takes.
pub const ENDPOINTS: &[(&str, Action)] = &[
    ("/registry/on-search", Action::OnSearch),
    ("/registry/on-subscribe", Action::OnSubscribe),
    ("/registry/on-unsubscribe", Action::OnUnsubscribe),
    ("/registry/txn/on-status", Action::TxnOnStatus),
    ("/registry/notify", Action::Notify),
];

/// Limits of a [`Receiver`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiverConfig {
    /// This requester's participant id; a callback naming another `receiver_id` is refused
    /// with `err.receiver_id.invalid`. `None` accepts any.
    pub participant_id: Option<String>,
    /// Callbacks the application channel holds before callbacks are refused with 503.
    pub channel_capacity: usize,
    /// `(sender, message_id)` pairs remembered for deduplication.
    pub max_remembered_messages: usize,
    /// Callbacks kept for [`Receiver::wait_for`] calls that have not been made yet.
    pub max_kept_callbacks: usize,
    /// Largest body accepted.
    pub max_body_bytes: usize,
}

impl Default for ReceiverConfig {
    fn default() -> Self {
        ReceiverConfig {
            participant_id: None,
            channel_capacity: 1024,
            max_remembered_messages: 100_000,
            max_kept_callbacks: 10_000,
            max_body_bytes: 16 * 1024 * 1024,
        }
    }
}

/// The header of an accepted callback: a callback header, or, on `on-subscribe` and
/// `on-unsubscribe` where the standard uses it (dci-spec §12.1 E1), a request header.
#[derive(Debug, Clone, PartialEq)]
pub enum CallbackHeader {
    /// `MsgCallbackHeader`.
    Callback(MsgCallbackHeader),
    /// `MsgHeader`.
    Request(MsgHeader),
}

impl CallbackHeader {
    /// The callback's `message_id`.
    pub fn message_id(&self) -> &str {
        match self {
            CallbackHeader::Callback(h) => &h.message_id,
            CallbackHeader::Request(h) => &h.message_id,
        }
    }

    /// The sending registry's id, when given.
    pub fn sender_id(&self) -> Option<&str> {
        match self {
            CallbackHeader::Callback(h) => h.sender_id.as_deref(),
            CallbackHeader::Request(h) => Some(h.sender_id.as_str()).filter(|s| !s.is_empty()),
        }
    }

    /// The `receiver_id`, when given.
    pub fn receiver_id(&self) -> Option<&str> {
        match self {
            CallbackHeader::Callback(h) => h.receiver_id.as_deref(),
            CallbackHeader::Request(h) => h.receiver_id.as_deref(),
        }
    }

    /// The overall status (a request header has none).
    pub fn status(&self) -> Option<RequestStatus> {
        match self {
            CallbackHeader::Callback(h) => Some(h.status),
            CallbackHeader::Request(_) => None,
        }
    }

    /// The header-level rejection code, when there is one.
    pub fn status_reason_code(&self) -> Option<&'static str> {
        match self {
            CallbackHeader::Callback(h) => h.status_reason_code.map(ReasonCode::as_str),
            CallbackHeader::Request(_) => None,
        }
    }

    /// The header-level rejection message, when there is one.
    pub fn status_reason_message(&self) -> Option<&str> {
        match self {
            CallbackHeader::Callback(h) => h.status_reason_message.as_deref(),
            CallbackHeader::Request(_) => None,
        }
    }

    /// `header.meta`, when given.
    pub fn meta(&self) -> Option<&Map<String, Value>> {
        match self {
            CallbackHeader::Callback(h) => h.meta.as_ref(),
            CallbackHeader::Request(h) => h.meta.as_ref(),
        }
    }
}

/// One accepted callback, as handed to the application.
#[derive(Debug, Clone)]
pub struct Callback {
    /// Which endpoint it came to.
    pub action: Action,
    /// Its header.
    pub header: CallbackHeader,
    /// Its `message` (`Value::Null` when it had none, as with header-level rejections).
    pub message: Value,
    /// When the receiver accepted it.
    pub received_at: Timestamp,
}

impl Callback {
    /// `message.transaction_id`.
    pub fn transaction_id(&self) -> Option<&str> {
        self.message.get("transaction_id").and_then(Value::as_str)
    }

    /// `message.correlation_id`.
    pub fn correlation_id(&self) -> Option<&str> {
        self.message.get("correlation_id").and_then(Value::as_str)
    }

    /// The message as a typed payload (`SearchResponse`, `TxnStatusResponse` ...).
    pub fn message_as<T: DeserializeOwned>(&self) -> Result<T, ClientError> {
        serde_json::from_value(self.message.clone()).map_err(|e| ClientError::Decode {
            url: self.action.as_str().to_string(),
            message: e.to_string(),
        })
    }

    /// The subscription a `notify` callback belongs to: `header.meta.subscription_code`, where
    /// spx registries put it (dci-spec §7.2: the payload itself names no subscription).
    pub fn subscription_code(&self) -> Option<&str> {
        meta_text(&self.header, "subscription_code")
    }

    /// A `notify` callback as a [`Notification`]; any other callback, or a notification whose
    /// message is not a `NotifyEventRequest`, is [`ClientError::Decode`].
    pub fn notification(&self) -> Result<Notification, ClientError> {
        let decode = |message: String| ClientError::Decode {
            url: Action::Notify.as_str().to_string(),
            message,
        };
        let CallbackHeader::Callback(header) = &self.header else {
            return Err(decode("a notification has a callback header".into()));
        };
        if self.action != Action::Notify {
            return Err(decode(format!(
                "a {} callback is not a notification",
                self.action.as_str()
            )));
        }
        let message: NotifyEventRequest = self.message_as()?;
        let reg_event_type = meta_text(&self.header, "reg_event_type")
            .map(str::to_string)
            .or_else(|| {
                message
                    .notify_event
                    .iter()
                    .find_map(|event| event.data.reg_event_type.clone())
            });
        Ok(Notification {
            subscription_code: self.subscription_code().map(str::to_string),
            reg_event_type,
            header: header.clone(),
            message,
            received_at: self.received_at,
        })
    }
}

fn meta_text<'a>(header: &'a CallbackHeader, key: &str) -> Option<&'a str> {
    header.meta()?.get(key)?.as_str()
}

/// A `notify` callback, typed: the events pushed for a subscription.
#[derive(Debug, Clone)]
pub struct Notification {
    /// The subscription whose criteria the events matched (`header.meta.subscription_code`).
    pub subscription_code: Option<String>,
    /// The event type (`header.meta.reg_event_type`, else the events' `data.reg_event_type`).
    pub reg_event_type: Option<String>,
    /// The callback header.
    pub header: MsgCallbackHeader,
    /// The events (`transaction_id` is the subscribe request's).
    pub message: NotifyEventRequest,
    /// When the receiver accepted it.
    pub received_at: Timestamp,
}

/// What a waiter waits for.
#[derive(Debug, Clone)]
enum Wanted {
    /// The answer to a transaction: a callback other than `notify` whose
    /// `message.transaction_id` or `message.correlation_id` is `key`, of `action` if given.
    Answer { key: String, action: Option<Action> },
    /// A notification of subscription `code`, or of any subscription.
    Notification { code: Option<String> },
}

impl Wanted {
    fn matches(&self, callback: &Callback) -> bool {
        match self {
            Wanted::Answer { key, action } => {
                callback.action != Action::Notify
                    && action.is_none_or(|a| a == callback.action)
                    && (callback.transaction_id() == Some(key)
                        || callback.correlation_id() == Some(key))
            }
            Wanted::Notification { code } => {
                callback.action == Action::Notify
                    && code
                        .as_deref()
                        .is_none_or(|code| callback.subscription_code() == Some(code))
            }
        }
    }

    fn describe(&self) -> String {
        match self {
            Wanted::Answer { key, .. } => key.clone(),
            Wanted::Notification { code: Some(code) } => {
                format!("a notification of subscription {code}")
            }
            Wanted::Notification { code: None } => "a notification".into(),
        }
    }
}

struct Waiter {
    wanted: Wanted,
    reply: oneshot::Sender<Callback>,
}

#[derive(Default)]
struct Memory {
    /// `(sender, message_id)` → the correlation id the first ACK gave.
    seen: HashMap<(String, String), String>,
    seen_order: VecDeque<(String, String)>,
    kept: VecDeque<Callback>,
    waiters: Vec<Waiter>,
}

/// What the application does with a callback before it is acknowledged (see
/// [`Receiver::handle_with`]).
type Handler = Arc<
    dyn Fn(Callback) -> Pin<Box<dyn Future<Output = Result<(), Rejection>> + Send>> + Send + Sync,
>;

struct Inner {
    config: ReceiverConfig,
    state: Mutex<Memory>,
    sender: mpsc::Sender<Callback>,
    channel: Mutex<Option<mpsc::Receiver<Callback>>>,
    channel_taken: AtomicBool,
    base_url: Mutex<Option<String>>,
    server: Mutex<Option<tokio::task::AbortHandle>>,
    /// Where senders' keys are found, when callbacks must be signed.
    verifier: Mutex<Option<Arc<dyn trust::KeyResolver>>>,
    /// Takes each callback before it is acknowledged, when the application keeps them.
    handler: Mutex<Option<Handler>>,
}

/// The callback endpoints of a requester: an axum [`Router`] to mount (see [`Receiver::router`]),
/// the application channel of accepted callbacks ([`Receiver::take_callbacks`]), waiters for
/// one transaction's callback ([`Receiver::wait_for`]) and for a subscription's notifications
/// ([`Receiver::next_notification`], [`Receiver::wait_for_notifications`]). Cloning shares the
/// same state.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl Default for Receiver {
    fn default() -> Self {
        Receiver::new(ReceiverConfig::default())
    }
}

impl Receiver {
    /// A receiver with `config`, not yet serving.
    pub fn new(config: ReceiverConfig) -> Self {
        let (sender, channel) = mpsc::channel(config.channel_capacity.max(1));
        Receiver {
            inner: Arc::new(Inner {
                config,
                state: Mutex::default(),
                sender,
                channel: Mutex::new(Some(channel)),
                channel_taken: AtomicBool::new(false),
                base_url: Mutex::default(),
                server: Mutex::default(),
                verifier: Mutex::default(),
                handler: Mutex::default(),
            }),
        }
    }

    /// A receiver with the default configuration, served on `addr` (port 0 picks a free
    /// one) in a background task; its base URL is set to `http://<bound address>`.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<(Receiver, SocketAddr)> {
        let receiver = Receiver::default();
        let bound = receiver.serve(addr).await?;
        Ok((receiver, bound))
    }

    /// Serves this receiver's router on `addr` in a background task until
    /// [`Receiver::shutdown`] or the end of the runtime, and sets the base URL.
    pub async fn serve(&self, addr: SocketAddr) -> std::io::Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let bound = listener.local_addr()?;
        let router = self.router();
        let task = tokio::spawn(async move {
            if let Err(error) = axum::serve(listener, router).await {
                tracing::error!(%error, "callback receiver stopped");
            }
        });
        *lock(&self.inner.server) = Some(task.abort_handle());
        *lock(&self.inner.base_url) = Some(format!("http://{bound}"));
        Ok(bound)
    }

    /// Stops the server started by [`Receiver::serve`], if any.
    pub fn shutdown(&self) {
        if let Some(task) = lock(&self.inner.server).take() {
            task.abort();
        }
    }

    /// Requires every callback from now on to carry a valid signature of its sender (the DCI
    /// signature profile of the `trust` crate), with keys found by `keys`; a missing or bad
    /// one is refused with `err.signature.missing` or `err.signature.invalid`.
    pub fn verify_with(self, keys: Arc<dyn trust::KeyResolver>) -> Self {
        *lock(&self.inner.verifier) = Some(keys);
        self
    }

    /// Has `handler` take every accepted callback before it is acknowledged: a durable
    /// receiver, whose application keeps what a callback tells (in its store) before the
    /// sender may forget it. The handler's refusal (e.g. `err.service.unavailable` while its
    /// store cannot write) is the answer instead of the ACK, and the callback is not
    /// remembered, so the sender's retry is handled again; a callback already acknowledged is
    /// acknowledged again without being handled. Handled callbacks then go to the channel and
    /// the waiters as any other. Only this process remembers what it acknowledged, so the
    /// handler must be idempotent across restarts.
    pub fn handle_with<F, Fut>(self, handler: F) -> Self
    where
        F: Fn(Callback) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), Rejection>> + Send + 'static,
    {
        let handler: Handler = Arc::new(move |callback| Box::pin(handler(callback)));
        *lock(&self.inner.handler) = Some(handler);
        self
    }

    /// Sets the URL under which peers reach this receiver (where it is mounted).
    pub fn with_base_url(self, base_url: &str) -> Self {
        *lock(&self.inner.base_url) = Some(base_url.trim_end_matches('/').to_string());
        self
    }

    /// The URL under which peers reach this receiver, when known.
    pub fn base_url(&self) -> Option<String> {
        lock(&self.inner.base_url).clone()
    }

    /// The full URL of one of the receiver's endpoints (e.g. `/registry/on-search`).
    pub fn callback_url(&self, path: &str) -> Option<String> {
        self.base_url().map(|base| format!("{base}{path}"))
    }

    /// The routes: `POST /registry/on-search`, `/registry/on-subscribe`,
    /// `/registry/on-unsubscribe`, `/registry/txn/on-status` and `/registry/notify`.
    pub fn router(&self) -> Router {
        let mut router = Router::new();
        for &(path, action) in ENDPOINTS {
            router = router.route(
                path,
                post(
                    move |State(receiver): State<Receiver>, request: Request| async move {
                        receiver.handle(action, request).await
                    },
                ),
            );
        }
        router
            // The body limit is enforced, with a DCI error, when the body is read.
            .layer(DefaultBodyLimit::disable())
            .with_state(self.clone())
    }

    /// The channel of accepted callbacks, each delivered once. It can be taken once; until it
    /// is, callbacks only go to [`Receiver::wait_for`]. Once taken, a full channel makes the
    /// receiver refuse callbacks with 503 `err.service.unavailable`, so senders retry later.
    pub fn take_callbacks(&self) -> Option<mpsc::Receiver<Callback>> {
        let channel = lock(&self.inner.channel).take();
        if channel.is_some() {
            self.inner.channel_taken.store(true, Ordering::SeqCst);
        }
        channel
    }

    /// Waits for the next callback whose `message.transaction_id` (or `correlation_id`) is
    /// `key`: the answer to a transaction, so never a `notify` (a notification carries its
    /// subscribe request's transaction id). A callback that arrived before the call is returned
    /// at once. Each callback is given to one waiter: a second call waits for the next callback
    /// of the transaction.
    pub async fn wait_for(&self, key: &str, timeout: Duration) -> Result<Callback, ClientError> {
        self.wait(
            Wanted::Answer {
                key: key.to_string(),
                action: None,
            },
            timeout,
        )
        .await
    }

    /// [`Receiver::wait_for`] a callback of `action` only.
    pub(crate) async fn wait_for_answer(
        &self,
        action: Action,
        key: &str,
        timeout: Duration,
    ) -> Result<Callback, ClientError> {
        self.wait(
            Wanted::Answer {
                key: key.to_string(),
                action: Some(action),
            },
            timeout,
        )
        .await
    }

    /// Waits for the next notification of subscription `code` (of any subscription with
    /// `None`), oldest first: notifications that arrived before the call are kept for it (up to
    /// [`ReceiverConfig::max_kept_callbacks`] callbacks in all). Each notification is given to
    /// one waiter.
    pub async fn next_notification(
        &self,
        code: Option<&str>,
        timeout: Duration,
    ) -> Result<Notification, ClientError> {
        let wanted = Wanted::Notification {
            code: code.map(str::to_string),
        };
        self.wait(wanted, timeout).await?.notification()
    }

    /// Waits until `count` notifications of subscription `code` have arrived, and returns them
    /// in order of arrival. Should they not all come within `timeout`, those that did are kept
    /// for the next call and the error says how many there were.
    pub async fn wait_for_notifications(
        &self,
        code: &str,
        count: usize,
        timeout: Duration,
    ) -> Result<Vec<Notification>, ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let wanted = Wanted::Notification {
            code: Some(code.to_string()),
        };
        let mut arrived = Vec::with_capacity(count);
        while arrived.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.wait(wanted.clone(), left).await {
                Ok(callback) => arrived.push(callback),
                Err(_) => {
                    let got = arrived.len();
                    let mut state = lock(&self.inner.state);
                    for callback in arrived.into_iter().rev() {
                        state.kept.push_front(callback);
                    }
                    return Err(ClientError::Timeout {
                        key: format!("{count} notifications of subscription {code} ({got} came)"),
                        waited: timeout,
                        last_poll_error: None,
                    });
                }
            }
        }
        arrived.iter().map(Callback::notification).collect()
    }

    async fn wait(&self, wanted: Wanted, timeout: Duration) -> Result<Callback, ClientError> {
        let mut reply = {
            let mut state = lock(&self.inner.state);
            if let Some(at) = state.kept.iter().position(|c| wanted.matches(c))
                && let Some(callback) = state.kept.remove(at)
            {
                return Ok(callback);
            }
            state.waiters.retain(|w| !w.reply.is_closed());
            let (reply, waiting) = oneshot::channel();
            state.waiters.push(Waiter {
                wanted: wanted.clone(),
                reply,
            });
            waiting
        };
        if let Ok(Ok(callback)) = tokio::time::timeout(timeout, &mut reply).await {
            return Ok(callback);
        }
        // A callback handed over as the time ran out is still ours.
        reply.close();
        reply.try_recv().map_err(|_| ClientError::Timeout {
            key: wanted.describe(),
            waited: timeout,
            last_poll_error: None,
        })
    }

    async fn handle(&self, action: Action, request: Request) -> Response {
        match self.accept(action, request).await {
            Ok(correlation_id) => {
                let ack = AckResponse {
                    message: Ack {
                        ack_status: AckStatus::Ack,
                        timestamp: Timestamp::now(),
                        correlation_id,
                        error: None,
                    },
                };
                (StatusCode::OK, axum::Json(ack)).into_response()
            }
            Err((status, rejection)) => {
                tracing::debug!(action = action.as_str(), code = %rejection.code, message = %rejection.message, "callback refused");
                (status, axum::Json(AckResponse::error(&rejection, new_id()))).into_response()
            }
        }
    }

    /// Validates, deduplicates and delivers one callback; the correlation id for the ACK.
    async fn accept(
        &self,
        action: Action,
        request: Request,
    ) -> Result<String, (StatusCode, Rejection)> {
        let with_status = |rejection: Rejection| (status_of(rejection.code), rejection);
        if !is_json(&request) {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                Rejection::new(
                    ReasonCode::RequestBad,
                    "Content-Type must be application/json",
                ),
            ));
        }
        let limit = self.inner.config.max_body_bytes;
        let body = axum::body::to_bytes(request.into_body(), limit)
            .await
            .map_err(|_| {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    Rejection::new(
                        ReasonCode::RequestBad,
                        format!("the body is larger than this receiver's limit of {limit} bytes"),
                    ),
                )
            })?;
        let (header, message) = parse_callback(action, &body).map_err(with_status)?;
        let verifier = lock(&self.inner.verifier).clone();
        if let Some(keys) = verifier {
            let envelope: Value = serde_json::from_slice(&body)
                .map_err(|e| with_status(Rejection::new(ReasonCode::RequestBad, e.to_string())))?;
            trust::verify_envelope(
                &envelope,
                keys.as_ref(),
                std::time::SystemTime::now(),
                &trust::VerifyPolicy::default(),
            )
            .await
            .map_err(|e| with_status(e.into()))?;
        }
        if let (Some(ours), Some(theirs)) =
            (&self.inner.config.participant_id, header.receiver_id())
            && !theirs.is_empty()
            && theirs != ours
        {
            return Err(with_status(Rejection::new(
                ReasonCode::ReceiverIdInvalid,
                format!("receiver_id '{theirs}' is not this participant ('{ours}')"),
            )));
        }
        let callback = Callback {
            action,
            header,
            message,
            received_at: Timestamp::now(),
        };
        let handler = lock(&self.inner.handler).clone();
        if let Some(handler) = handler {
            if let Some(correlation_id) = lock(&self.inner.state).seen.get(&seen_key(&callback)) {
                return Ok(correlation_id.clone());
            }
            handler(callback.clone()).await.map_err(with_status)?;
        }
        self.deliver(callback).map_err(with_status)
    }

    fn deliver(&self, callback: Callback) -> Result<String, Rejection> {
        let key = seen_key(&callback);
        let mut state = lock(&self.inner.state);
        if let Some(correlation_id) = state.seen.get(&key) {
            tracing::debug!(message_id = %key.1, "repeated callback acknowledged again");
            return Ok(correlation_id.clone());
        }
        if self.inner.channel_taken.load(Ordering::SeqCst) {
            match self.inner.sender.try_send(callback.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => {
                    return Err(Rejection::new(
                        ReasonCode::ServiceUnavailable,
                        "the application has not taken earlier callbacks yet; retry later",
                    ));
                }
                // The application dropped the channel; waiters still get callbacks.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        let correlation_id = new_id();
        let config = &self.inner.config;
        state.seen.insert(key.clone(), correlation_id.clone());
        state.seen_order.push_back(key);
        while state.seen_order.len() > config.max_remembered_messages.max(1) {
            if let Some(old) = state.seen_order.pop_front() {
                state.seen.remove(&old);
            }
        }
        let mut callback = callback;
        while let Some(at) = state
            .waiters
            .iter()
            .position(|w| !w.reply.is_closed() && w.wanted.matches(&callback))
        {
            let waiter = state.waiters.swap_remove(at);
            match waiter.reply.send(callback) {
                Ok(()) => return Ok(correlation_id),
                Err(returned) => callback = returned,
            }
        }
        state.kept.push_back(callback);
        while state.kept.len() > config.max_kept_callbacks.max(1) {
            state.kept.pop_front();
        }
        Ok(correlation_id)
    }
}

/// What a repeated callback is recognised by: its sender and `message_id`.
fn seen_key(callback: &Callback) -> (String, String) {
    (
        callback.header.sender_id().unwrap_or_default().to_string(),
        callback.header.message_id().to_string(),
    )
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stay consistent at every await-free step, so a poisoned lock is usable.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn status_of(code: ReasonCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST)
}

fn is_json(request: &Request) -> bool {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(dci::validate::is_json_media_type)
}

/// Parses and checks a callback envelope posted to the endpoint of `action`.
fn parse_callback(action: Action, body: &[u8]) -> Result<(CallbackHeader, Value), Rejection> {
    let bad = |message: String| Rejection::new(ReasonCode::RequestBad, message);
    let raw = RawEnvelope::parse(body)?;
    let header: Value = raw.header()?;
    let fields = header
        .as_object()
        .ok_or_else(|| bad("header must be an object".into()))?;
    let text = |key: &str| fields.get(key).and_then(Value::as_str);

    if let Some(version) = fields.get("version").filter(|v| !v.is_null()) {
        // The ACK's error code is an `err.*` code: a malformed version is a bad request.
        dci::validate::version(version.as_str().unwrap_or_default())
            .map_err(|r| if r.code.is_error() { r } else { bad(r.message) })?;
    }
    dci::validate::id("header.message_id", text("message_id").unwrap_or_default())?;
    let message_ts = text("message_ts")
        .ok_or_else(|| bad("header.message_ts is required (a date-time with timezone)".into()))?;
    Timestamp::parse(message_ts).map_err(|e| bad(format!("header.message_ts: {e}")))?;
    let sent_action = text("action").unwrap_or_default();
    if sent_action != action.as_str() {
        return Err(bad(format!(
            "header.action '{sent_action}' does not match this endpoint, which takes '{}' (rjct.action.invalid)",
            action.as_str()
        )));
    }
    // on-subscribe and on-unsubscribe are specified with the request header (§12.1 E1).
    let request_header_allowed = matches!(action, Action::OnSubscribe | Action::OnUnsubscribe);
    let typed = if request_header_allowed && !fields.contains_key("status") {
        serde_json::from_value(header.clone()).map(CallbackHeader::Request)
    } else {
        serde_json::from_value(header.clone()).map(CallbackHeader::Callback)
    }
    .map_err(|e| bad(format!("header: {e}")))?;
    let encrypted = match &typed {
        CallbackHeader::Callback(h) => h.is_msg_encrypted,
        CallbackHeader::Request(h) => h.is_msg_encrypted,
    };
    if encrypted {
        return Err(Rejection::new(
            ReasonCode::EncryptionInvalid,
            "this receiver does not accept encrypted messages",
        ));
    }

    let message = match raw.message {
        None => Value::Null,
        Some(raw) => serde_json::from_str(raw.get()).map_err(|e| bad(format!("message: {e}")))?,
    };
    match &message {
        Value::Object(_) => {}
        Value::Null if !request_header_allowed => {}
        Value::Null => {
            return Err(bad(format!(
                "a {} callback must carry a message",
                action.as_str()
            )));
        }
        _ => return Err(bad("message must be an object".into())),
    }
    if let Some(id) = message.get("transaction_id") {
        let id = id
            .as_str()
            .ok_or_else(|| bad("message.transaction_id must be a string".into()))?;
        dci::validate::id("message.transaction_id", id)?;
    }
    Ok((typed, message))
}
