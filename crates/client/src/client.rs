//! [`Client`]: typed requests to one registry (search, subscribe, unsubscribe, txn status), sync
//! and async, with retries that keep the `message_id`, and one way of waiting for any async
//! answer: its callback, or failing that a poll of the transaction status.

use std::sync::Mutex;
use std::time::Duration;

use axum::body::Bytes;
use dci::subscribe::{
    SubscribeRequest, SubscribeResponse, UnSubscribeRequest, UnSubscribeResponse,
};
use dci::txn::{TxnLookup, TxnStatusRequest, TxnStatusResponse};
use dci::{
    AckStatus, Action, Envelope, MsgCallbackHeader, MsgHeader, RequestStatus, SearchRequest,
    SearchResponse, Timestamp,
};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, error_detail, read_ack};
use crate::receiver::{Callback, ENDPOINTS, Receiver};
use crate::request::{SearchItem, SubscribeItem, TxnType, txn_status_query};

/// How long one HTTP exchange may take unless configured otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How [`Client::send_with_retry`] retries: bounded attempts with exponential backoff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Pause before the second attempt; each later pause doubles.
    pub initial_backoff: Duration,
    /// Longest pause between attempts.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The pause after failed attempt number `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
        self.initial_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What a registry's ACK of an async request tells the requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The business transaction the callback will carry.
    pub transaction_id: String,
    /// The `message_id` of the accepted request.
    pub message_id: String,
    /// The registry's correlation id, usable in status queries.
    pub correlation_id: String,
}

/// The payload of an `on-*` callback that the client can wait for: what a status poll returns
/// too, for the kinds of transaction that can be polled.
pub trait Answer: DeserializeOwned {
    /// The callback's action (`on-search` ...); the receiver endpoint follows from it.
    const ACTION: Action;
    /// The `txn_type` to poll `sync/txn/status` with, when the answer can be polled for.
    const POLL_AS: Option<TxnType>;
    /// Whether the answer settles the transaction: no part of it still pending.
    fn is_settled(&self) -> bool;
}

fn settled(status: RequestStatus) -> bool {
    matches!(status, RequestStatus::Succ | RequestStatus::Rjct)
}

impl Answer for SearchResponse {
    const ACTION: Action = Action::OnSearch;
    const POLL_AS: Option<TxnType> = Some(TxnType::Search);
    fn is_settled(&self) -> bool {
        !self.search_response.is_empty() && self.search_response.iter().all(|i| settled(i.status))
    }
}

impl Answer for SubscribeResponse {
    const ACTION: Action = Action::OnSubscribe;
    const POLL_AS: Option<TxnType> = Some(TxnType::Subscribe);
    fn is_settled(&self) -> bool {
        !self.subscribe_response.is_empty()
            && self.subscribe_response.iter().all(|i| settled(i.status))
    }
}

impl Answer for UnSubscribeResponse {
    const ACTION: Action = Action::OnUnsubscribe;
    const POLL_AS: Option<TxnType> = Some(TxnType::Unsubscribe);
    fn is_settled(&self) -> bool {
        settled(self.status)
    }
}

impl Answer for TxnStatusResponse {
    const ACTION: Action = Action::TxnOnStatus;
    // A status answer is itself the poll's answer: there is nothing else to poll.
    const POLL_AS: Option<TxnType> = None;
    fn is_settled(&self) -> bool {
        true
    }
}

/// The answer to one of the `*_and_wait` calls.
#[derive(Debug, Clone)]
pub struct Outcome<A> {
    /// The ACK of the async request.
    pub accepted: Accepted,
    /// The answer, from the callback or from the status poll.
    pub response: A,
    /// Where the answer came from.
    pub source: AnswerSource,
}

/// The answer to [`Client::search_and_wait`].
pub type SearchOutcome = Outcome<SearchResponse>;

impl Outcome<SubscribeResponse> {
    /// The codes of the subscriptions made, in the order of the items (a rejected item has none).
    pub fn codes(&self) -> Vec<String> {
        self.response
            .subscribe_response
            .iter()
            .flat_map(|item| item.subscriptions.iter().map(|s| s.code.clone()))
            .collect()
    }
}

/// Where an [`Outcome`] came from.
#[derive(Debug, Clone)]
pub enum AnswerSource {
    /// The `on-*` callback arrived.
    Callback(Box<Callback>),
    /// No callback in time; a `sync/txn/status` poll returned the final state.
    TxnStatus(Box<Envelope<MsgCallbackHeader, TxnStatusResponse>>),
}

/// A typed DCI client for one registry.
///
/// Holds one `reqwest::Client` (cheap to clone, pooled connections). Every request gets a
/// fresh UUID v7 `message_id` and the current `message_ts`; a retried request is the same bytes.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    signer: Option<std::sync::Arc<trust::Signer>>,
    credentials: Option<std::sync::Arc<Credentials>>,
    base_url: String,
    sender_id: String,
    receiver_id: Option<String>,
    timeout: Duration,
    retry: RetryPolicy,
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

impl Client {
    /// A client of the registry at `base_url` (e.g. `http://127.0.0.1:8080`), sending as
    /// participant `sender_id` to `receiver_id`.
    pub fn new(base_url: impl Into<String>, sender_id: &str, receiver_id: Option<&str>) -> Self {
        let base_url = base_url.into().trim_end_matches('/').to_string();
        Client {
            http: reqwest::Client::new(),
            signer: None,
            credentials: None,
            base_url,
            sender_id: sender_id.to_string(),
            receiver_id: receiver_id.map(str::to_string),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// The same client, signing every request with `signer` (whose participant id must be
    /// this client's `sender_id`).
    pub fn with_signer(mut self, signer: std::sync::Arc<trust::Signer>) -> Self {
        self.signer = Some(signer);
        self
    }

    /// The same client, authenticating as `client_id` with `client_secret`: it gets an access
    /// token at the registry's `POST /oauth2/client/token` (client credentials, dci-spec
    /// §8.2), sends it as `Authorization: Bearer`, and gets a new one shortly before it
    /// expires or when the registry answers 401.
    pub fn with_credentials(mut self, client_id: &str, client_secret: &str) -> Self {
        self.credentials = Some(std::sync::Arc::new(Credentials {
            client_id: client_id.to_owned(),
            client_secret: client_secret.to_owned(),
            token: tokio::sync::Mutex::new(None),
        }));
        self
    }

    /// The same client with another per-request timeout.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same client with another retry policy.
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The same client using `http` (shared pools, proxies, TLS settings).
    pub fn with_http_client(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The registry's base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The participant id this client sends as.
    pub fn sender_id(&self) -> &str {
        &self.sender_id
    }

    /// An access token of this client's credentials at its service (cached until shortly
    /// before it expires), for requests sent by other means (an outbox); `None` without
    /// credentials.
    pub async fn access_token(&self) -> Result<Option<String>, ClientError> {
        match &self.credentials {
            Some(credentials) => credentials
                .token(&self.http, &self.url(TOKEN_PATH), self.timeout)
                .await
                .map(Some),
            None => Ok(None),
        }
    }

    /// Drops the cached access token (the service refused it).
    pub async fn forget_access_token(&self) {
        if let Some(credentials) = &self.credentials {
            credentials.forget().await;
        }
    }

    /// A request envelope: version 1.0.0, a fresh UUID v7 `message_id`, `message_ts` now,
    /// this client's sender and receiver ids, and `sender_uri` for async calls.
    pub fn envelope<M>(
        &self,
        action: Action,
        total_count: usize,
        sender_uri: Option<&str>,
        message: M,
    ) -> Envelope<MsgHeader, M> {
        Envelope {
            signature: None,
            header: MsgHeader {
                version: Some(dci::PROTOCOL_VERSION.into()),
                message_id: new_id(),
                message_ts: Timestamp::now().to_string(),
                action: action.as_str().into(),
                sender_id: self.sender_id.clone(),
                sender_uri: sender_uri.map(str::to_string),
                receiver_id: self.receiver_id.clone(),
                total_count: Some(total_count as i64),
                is_msg_encrypted: false,
                meta: None,
            },
            message: Some(message),
        }
    }

    /// A `SearchRequest` of `items`, numbered `1`, `2`, ... as reference ids, under
    /// `transaction_id` or a fresh one.
    pub fn search_request(items: Vec<SearchItem>, transaction_id: Option<String>) -> SearchRequest {
        SearchRequest {
            transaction_id: transaction_id.unwrap_or_else(new_id),
            search_request: numbered(items, SearchItem::into_wire),
        }
    }

    /// A `SubscribeRequest` of `items`, numbered `1`, `2`, ... as reference ids, under
    /// `transaction_id` or a fresh one.
    pub fn subscribe_request(
        items: Vec<SubscribeItem>,
        transaction_id: Option<String>,
    ) -> SubscribeRequest {
        SubscribeRequest {
            transaction_id: transaction_id.unwrap_or_else(new_id),
            subscribe_request: numbered(items, SubscribeItem::into_wire),
        }
    }

    /// An `UnSubscribeRequest` of `codes` under a fresh transaction id, stamped now.
    pub fn unsubscribe_request(codes: Vec<String>) -> UnSubscribeRequest {
        UnSubscribeRequest {
            transaction_id: new_id(),
            timestamp: Some(Timestamp::now().to_string()),
            subscription_codes: codes,
        }
    }

    /// `POST /registry/sync/search`: the registry's complete answer, in one exchange.
    pub async fn sync_search(
        &self,
        items: Vec<SearchItem>,
    ) -> Result<Envelope<MsgCallbackHeader, SearchResponse>, ClientError> {
        let count = items.len();
        let envelope = self.envelope(
            Action::Search,
            count,
            None,
            Self::search_request(items, None),
        );
        self.send("/registry/sync/search", &envelope).await
    }

    /// `POST /registry/search` under a fresh transaction: the registry ACKs, and later posts
    /// its `on-search` to `callback_url` (sent as `header.sender_uri`).
    pub async fn search(
        &self,
        items: Vec<SearchItem>,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        self.search_in(&new_id(), items, callback_url).await
    }

    /// [`Client::search`] under a transaction id chosen by the caller.
    pub async fn search_in(
        &self,
        transaction_id: &str,
        items: Vec<SearchItem>,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let count = items.len();
        let message = Self::search_request(items, Some(transaction_id.to_string()));
        self.post_async(
            "/registry/search",
            Action::Search,
            count,
            message,
            callback_url,
        )
        .await
    }

    /// `POST /registry/subscribe` under a fresh transaction: the registry ACKs and posts its
    /// `on-subscribe`, with a subscription code per accepted item, to `callback_url`. Spx
    /// registries post the notifications to the same URL with its `/on-subscribe` replaced by
    /// `/notify`, so a [`Receiver`]'s on-subscribe URL gets them at its `/registry/notify`.
    pub async fn subscribe(
        &self,
        items: Vec<SubscribeItem>,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let count = items.len();
        let message = Self::subscribe_request(items, None);
        self.post_async(
            "/registry/subscribe",
            Action::Subscribe,
            count,
            message,
            callback_url,
        )
        .await
    }

    /// `POST /registry/unsubscribe` of `codes`: the registry ACKs and posts its
    /// `on-unsubscribe`, with the state of each code, to `callback_url`.
    pub async fn unsubscribe(
        &self,
        codes: Vec<String>,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let count = codes.len();
        let message = Self::unsubscribe_request(codes);
        self.post_async(
            "/registry/unsubscribe",
            Action::Unsubscribe,
            count,
            message,
            callback_url,
        )
        .await
    }

    fn txn_status_request(txn_type: TxnType, by: &TxnLookup) -> TxnStatusRequest {
        TxnStatusRequest {
            transaction_id: new_id(),
            txnstatus_request: txn_status_query(txn_type, by),
        }
    }

    /// `POST /registry/sync/enrolled` (IBR): per criteria, whether a matching enrolment is
    /// active, with the matching enrolments.
    pub async fn enrolled(
        &self,
        criteria: Vec<dci::criteria::Criteria>,
    ) -> Result<Envelope<MsgCallbackHeader, dci::ibr::EnrolledResponse>, ClientError> {
        let count = criteria.len();
        let message = dci::ibr::EnrolledRequest {
            transaction_id: new_id(),
            enrolled_criteria: criteria,
        };
        let envelope = self.envelope(Action::Search, count, None, message);
        self.send("/registry/sync/enrolled", &envelope).await
    }

    /// `POST /registry/sync/enrollment/updates` (IBR): publishes `beneficiaries` (enrolments,
    /// status changes, benefits paid) under `transaction_id`; the answer has a status per
    /// beneficiary. Retried on transport failures and 429/5xx with the same message: benefits
    /// sent twice count once.
    pub async fn publish_enrolments(
        &self,
        transaction_id: &str,
        beneficiaries: Vec<dci::records::ibr::Beneficiary>,
    ) -> Result<Envelope<MsgCallbackHeader, dci::ibr::EnrollmentUpdatesResponse>, ClientError> {
        let count = beneficiaries.len();
        let beneficiaries = beneficiaries
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<Vec<_>, _>>()?;
        let message = dci::ibr::EnrollmentUpdatesRequest {
            transaction_id: transaction_id.to_string(),
            enrolled_updates: dci::ibr::ReceiptInformation {
                receipt_type: None,
                beneficiaries,
            },
        };
        let envelope = self.envelope(Action::Notify, count, None, message);
        self.send_with_retry("/registry/sync/enrollment/updates", &envelope)
            .await
    }

    /// `POST /registry/sync/txn/status`: the current state of an earlier `txn_type`
    /// transaction.
    pub async fn sync_txn_status(
        &self,
        txn_type: TxnType,
        by: TxnLookup,
    ) -> Result<Envelope<MsgCallbackHeader, TxnStatusResponse>, ClientError> {
        let message = Self::txn_status_request(txn_type, &by);
        let envelope = self.envelope(Action::TxnStatus, 1, None, message);
        self.send("/registry/sync/txn/status", &envelope).await
    }

    /// `POST /registry/txn/status`: the registry ACKs and posts `txn-on-status` to
    /// `callback_url`. [`Accepted::transaction_id`] is the status request's own transaction.
    pub async fn txn_status(
        &self,
        txn_type: TxnType,
        by: TxnLookup,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let message = Self::txn_status_request(txn_type, &by);
        self.post_async(
            "/registry/txn/status",
            Action::TxnStatus,
            1,
            message,
            callback_url,
        )
        .await
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// One POST of `body` to `path`; a success body is decoded as `T`, anything else is a
    /// [`ClientError`] carrying the DCI code found in the answer.
    pub async fn send<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let bytes = self.encode(body)?;
        let answer = self.post_once(&url, bytes).await?;
        decode(&url, &answer)
    }

    /// [`Client::send`] with the client's [`RetryPolicy`]: transport failures and 429/502/503/504
    /// are retried with exponential backoff. The body is serialised once, so every attempt
    /// carries the same `message_id` and the receiver can deduplicate.
    pub async fn send_with_retry<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let bytes = self.encode(body)?;
        let attempts = self.retry.attempts.max(1);
        let mut attempt = 1;
        loop {
            match self.post_once(&url, bytes.clone()).await {
                Ok(answer) => return decode(&url, &answer),
                Err(error) if error.is_retryable() && attempt < attempts => {
                    let pause = self.retry.backoff(attempt);
                    tracing::debug!(%error, attempt, ?pause, "retrying with the same message");
                    tokio::time::sleep(pause).await;
                    attempt += 1;
                }
                Err(error) => return Err(error),
            }
        }
    }

    /// The request body: the envelope as JSON, signed when the client has a signer.
    fn encode(&self, body: &impl Serialize) -> Result<Bytes, ClientError> {
        let Some(signer) = &self.signer else {
            return Ok(Bytes::from(serde_json::to_vec(body)?));
        };
        let mut envelope = serde_json::to_value(body)?;
        signer
            .sign(&mut envelope)
            .map_err(|e| ClientError::Sign(e.to_string()))?;
        Ok(Bytes::from(serde_json::to_vec(&envelope)?))
    }

    async fn post_once(&self, url: &str, body: Bytes) -> Result<Bytes, ClientError> {
        let answer = self.post_with_token(url, body.clone()).await;
        match (&self.credentials, answer) {
            // The token may have been revoked or issued under a rotated-out key: one more try
            // with a new one.
            (Some(credentials), Err(ClientError::Http { status: 401, .. })) => {
                credentials.forget().await;
                self.post_with_token(url, body).await
            }
            (_, answer) => answer,
        }
    }

    async fn post_with_token(&self, url: &str, body: Bytes) -> Result<Bytes, ClientError> {
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body);
        if let Some(credentials) = &self.credentials {
            let token = credentials
                .token(&self.http, &self.url(TOKEN_PATH), self.timeout)
                .await?;
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(transport(url))?;
        read_answer(url, response).await
    }

    /// Sends `message` with `callback_url` as `sender_uri`, retrying, and reads the ACK.
    async fn post_async<M: Serialize + TransactionMessage>(
        &self,
        path: &str,
        action: Action,
        count: usize,
        message: M,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let transaction_id = message.transaction_id().to_string();
        let envelope = self.envelope(action, count, Some(callback_url), message);
        let url = self.url(path);
        let answer: Value = self.send_with_retry(path, &envelope).await?;
        let ack = read_ack(&answer).ok_or_else(|| ClientError::Decode {
            url: url.clone(),
            message: "the answer is not a DCI acknowledgement".into(),
        })?;
        if ack.status != AckStatus::Ack {
            return Err(ClientError::NotAccepted {
                url,
                ack_status: ack.status,
                code: ack.code,
                message: ack.message,
            });
        }
        Ok(Accepted {
            transaction_id,
            message_id: envelope.header.message_id,
            correlation_id: ack.correlation_id,
        })
    }

    /// Searches asynchronously with `receiver` as the callback endpoint and waits for the
    /// `on-search`. When none has come after `poll_every`, polls `sync/txn/status` by
    /// transaction id every `poll_every` until the answer is final (every item `succ` or
    /// `rjct`), while still taking the callback should it arrive; gives up after `timeout`.
    /// A poll refused with a non-retryable error (e.g. 404: the registry has no status
    /// endpoint) stops polling but not waiting.
    pub async fn search_and_wait(
        &self,
        items: Vec<SearchItem>,
        receiver: &Receiver,
        timeout: Duration,
        poll_every: Duration,
    ) -> Result<SearchOutcome, ClientError> {
        let accepted = self
            .search(items, &callback_url::<SearchResponse>(receiver)?)
            .await?;
        self.await_answer(accepted, receiver, timeout, Some(poll_every))
            .await
    }

    /// Subscribes with `receiver` as the callback endpoint and waits for the `on-subscribe`,
    /// polling the status as [`Client::search_and_wait`] does. The receiver's
    /// `/registry/notify` then takes the notifications: see [`Receiver::next_notification`]
    /// and [`Outcome::codes`].
    pub async fn subscribe_and_wait(
        &self,
        items: Vec<SubscribeItem>,
        receiver: &Receiver,
        timeout: Duration,
        poll_every: Duration,
    ) -> Result<Outcome<SubscribeResponse>, ClientError> {
        let accepted = self
            .subscribe(items, &callback_url::<SubscribeResponse>(receiver)?)
            .await?;
        self.await_answer(accepted, receiver, timeout, Some(poll_every))
            .await
    }

    /// Unsubscribes `codes` with `receiver` as the callback endpoint and waits for the
    /// `on-unsubscribe`, polling the status as [`Client::search_and_wait`] does.
    pub async fn unsubscribe_and_wait(
        &self,
        codes: Vec<String>,
        receiver: &Receiver,
        timeout: Duration,
        poll_every: Duration,
    ) -> Result<Outcome<UnSubscribeResponse>, ClientError> {
        let accepted = self
            .unsubscribe(codes, &callback_url::<UnSubscribeResponse>(receiver)?)
            .await?;
        self.await_answer(accepted, receiver, timeout, Some(poll_every))
            .await
    }

    /// Asks the status of an earlier `txn_type` transaction asynchronously, with `receiver`
    /// as the callback endpoint, and waits up to `timeout` for the `txn-on-status`.
    pub async fn txn_status_and_wait(
        &self,
        txn_type: TxnType,
        by: TxnLookup,
        receiver: &Receiver,
        timeout: Duration,
    ) -> Result<Outcome<TxnStatusResponse>, ClientError> {
        let accepted = self
            .txn_status(txn_type, by, &callback_url::<TxnStatusResponse>(receiver)?)
            .await?;
        self.await_answer(accepted, receiver, timeout, None).await
    }

    /// Waits for the answer to `accepted`: the callback, or, after `poll_every` and when the
    /// answer can be polled for, a final `sync/txn/status`, whichever comes first.
    async fn await_answer<A: Answer>(
        &self,
        accepted: Accepted,
        receiver: &Receiver,
        timeout: Duration,
        poll_every: Option<Duration>,
    ) -> Result<Outcome<A>, ClientError> {
        let transaction_id = accepted.transaction_id.clone();
        let last_poll_error: Mutex<Option<String>> = Mutex::default();
        let poll_as = A::POLL_AS.zip(poll_every);
        let mut polling = poll_as.is_some();

        let wait = receiver.wait_for_answer(A::ACTION, &transaction_id, timeout);
        let poll = async {
            match poll_as {
                Some((txn_type, every)) => {
                    self.poll_until_final::<A>(txn_type, &transaction_id, every, &last_poll_error)
                        .await
                }
                None => None,
            }
        };
        tokio::pin!(wait, poll);
        loop {
            tokio::select! {
                callback = &mut wait => {
                    return match callback {
                        Ok(callback) => from_callback(accepted, callback),
                        Err(ClientError::Timeout { key, waited, .. }) => Err(ClientError::Timeout {
                            key,
                            waited,
                            last_poll_error: last_poll_error.lock().map(|e| e.clone()).unwrap_or_default(),
                        }),
                        Err(other) => Err(other),
                    };
                }
                polled = &mut poll, if polling => match polled {
                    Some(envelope) => return from_status(accepted, envelope),
                    None => polling = false,
                },
            }
        }
    }

    /// Polls until a final status (`Some`) or a non-retryable refusal (`None`).
    async fn poll_until_final<A: Answer>(
        &self,
        txn_type: TxnType,
        transaction_id: &str,
        every: Duration,
        last_error: &Mutex<Option<String>>,
    ) -> Option<Envelope<MsgCallbackHeader, TxnStatusResponse>> {
        loop {
            tokio::time::sleep(every).await;
            match self
                .sync_txn_status(
                    txn_type,
                    TxnLookup::TransactionId(transaction_id.to_string()),
                )
                .await
            {
                Ok(envelope) if is_final::<A>(&envelope) => return Some(envelope),
                Ok(envelope) => {
                    tracing::debug!(status = ?envelope.header.status, "transaction not final yet");
                }
                Err(error) => {
                    let stop = !error.is_retryable();
                    tracing::debug!(%error, stop, "status poll failed");
                    if let Ok(mut last) = last_error.lock() {
                        *last = Some(error.to_string());
                    }
                    if stop {
                        return None;
                    }
                }
            }
        }
    }
}

/// The messages sent asynchronously, which carry the transaction their callback will echo.
trait TransactionMessage {
    fn transaction_id(&self) -> &str;
}

impl TransactionMessage for SearchRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl TransactionMessage for SubscribeRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl TransactionMessage for UnSubscribeRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

impl TransactionMessage for TxnStatusRequest {
    fn transaction_id(&self) -> &str {
        &self.transaction_id
    }
}

/// `items` as wire items with reference ids `1`, `2`, ...
fn numbered<I, W>(items: Vec<I>, into_wire: fn(I, String) -> W) -> Vec<W> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| into_wire(item, (i + 1).to_string()))
        .collect()
}

/// The receiver's URL for the callback that carries an `A`.
fn callback_url<A: Answer>(receiver: &Receiver) -> Result<String, ClientError> {
    let path = ENDPOINTS
        .iter()
        .find(|(_, action)| *action == A::ACTION)
        .map(|(path, _)| *path)
        .unwrap_or("/registry/on-search");
    receiver
        .callback_url(path)
        .ok_or(ClientError::NoCallbackUrl)
}

fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// Whether a status answer settles the transaction: a header-level rejection, or an answer
/// of the kind awaited that [`Answer::is_settled`].
fn is_final<A: Answer>(envelope: &Envelope<MsgCallbackHeader, TxnStatusResponse>) -> bool {
    let header = &envelope.header;
    if header.status == RequestStatus::Rjct && header.status_reason_code.is_some() {
        return true;
    }
    settled(header.status)
        && envelope
            .message
            .as_ref()
            .and_then(answer_of::<A>)
            .is_some_and(|answer| answer.is_settled())
}

/// The original transaction's answer, when that is what a status answer carries.
pub(crate) fn answer_of<A: Answer>(status: &TxnStatusResponse) -> Option<A> {
    serde_json::from_value(status.txnstatus_response.txn_status.clone()).ok()
}

fn from_callback<A: Answer>(
    accepted: Accepted,
    callback: Callback,
) -> Result<Outcome<A>, ClientError> {
    if callback.message.is_null() {
        return Err(ClientError::Rejected {
            transaction_id: accepted.transaction_id,
            code: callback.header.status_reason_code().map(str::to_string),
            message: callback.header.status_reason_message().map(str::to_string),
        });
    }
    let response = callback.message_as()?;
    Ok(Outcome {
        accepted,
        response,
        source: AnswerSource::Callback(Box::new(callback)),
    })
}

fn from_status<A: Answer>(
    accepted: Accepted,
    envelope: Envelope<MsgCallbackHeader, TxnStatusResponse>,
) -> Result<Outcome<A>, ClientError> {
    let Some(response) = envelope.message.as_ref().and_then(answer_of::<A>) else {
        return Err(ClientError::Rejected {
            transaction_id: accepted.transaction_id,
            code: envelope
                .header
                .status_reason_code
                .map(|c| c.as_str().to_string()),
            message: envelope.header.status_reason_message.clone(),
        });
    };
    Ok(Outcome {
        accepted,
        response,
        source: AnswerSource::TxnStatus(Box::new(envelope)),
    })
}

/// The error of a request to `url` that got no HTTP answer.
fn transport(url: &str) -> impl FnOnce(reqwest::Error) -> ClientError + '_ {
    move |source| ClientError::Transport {
        url: url.to_string(),
        source,
    }
}

/// The token endpoint of a DCI service (dci-spec §8.2).
pub const TOKEN_PATH: &str = "/oauth2/client/token";

/// A success body, or the [`ClientError`] of a failure status with the DCI code found in it.
async fn read_answer(url: &str, response: reqwest::Response) -> Result<Bytes, ClientError> {
    let status = response.status();
    let answer = response.bytes().await.map_err(transport(url))?;
    if status.is_success() {
        return Ok(answer);
    }
    let (code, message) = error_detail(&answer);
    Err(ClientError::Http {
        url: url.to_string(),
        status: status.as_u16(),
        code,
        message,
    })
}

/// OAuth2 client credentials and the last token they got.
struct Credentials {
    client_id: String,
    client_secret: String,
    token: tokio::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret or the token.
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// A token is renewed when it has less than this left.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

impl Credentials {
    /// A token valid for a while yet, fetched from `url` when the cached one is not.
    async fn token(
        &self,
        http: &reqwest::Client,
        url: &str,
        timeout: Duration,
    ) -> Result<String, ClientError> {
        let mut cached = self.token.lock().await;
        if let Some((token, until)) = cached.as_ref()
            && std::time::Instant::now() + TOKEN_MARGIN < *until
        {
            return Ok(token.clone());
        }
        let form = reqwest::Url::parse_with_params(
            "http://form.invalid/",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &self.client_id),
                ("client_secret", &self.client_secret),
            ],
        )
        .expect("a form encodes");
        let response = http
            .post(url)
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .timeout(timeout)
            .body(form.query().unwrap_or_default().to_owned())
            .send()
            .await
            .map_err(transport(url))?;
        let answer = read_answer(url, response).await?;
        let token: TokenResponse =
            serde_json::from_slice(&answer).map_err(|e| ClientError::Decode {
                url: url.to_string(),
                message: format!("token response: {e}"),
            })?;
        let lifetime = token.expires_in.as_ref().map_or(Some(300), |v| match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        let until = std::time::Instant::now() + Duration::from_secs(lifetime.unwrap_or(300));
        *cached = Some((token.access_token.clone(), until));
        Ok(token.access_token)
    }

    /// Drops the cached token.
    async fn forget(&self) {
        *self.token.lock().await = None;
    }
}

/// `OAuth2ClientTokenResponse`; `expires_in` is a number (RFC 6749) or a string (the DCI schema).
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<Value>,
}
