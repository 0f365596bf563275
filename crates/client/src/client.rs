//! [`Client`]: typed requests to one registry, sync and async, with retries that keep the
//! `message_id`, and the fallback from waiting for a callback to polling the transaction status.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use dci::txn::{TxnStatusRequest, TxnStatusResponse};
use dci::{
    AckStatus, Action, Envelope, MsgCallbackHeader, MsgHeader, RequestStatus, SearchRequest,
    SearchResponse, Timestamp,
};
use reqwest::header::CONTENT_TYPE;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ClientError, error_detail, read_ack};
use crate::receiver::{Callback, Receiver};
use crate::request::{SearchItem, TxnQuery};

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

/// The answer to [`Client::search_and_wait`].
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    /// The ACK of the async search.
    pub accepted: Accepted,
    /// The search response, from the callback or from the status poll.
    pub response: SearchResponse,
    /// Where the response came from.
    pub source: AnswerSource,
}

/// Where a [`SearchOutcome`] came from.
#[derive(Debug, Clone)]
pub enum AnswerSource {
    /// The `on-search` callback arrived.
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
            base_url,
            sender_id: sender_id.to_string(),
            receiver_id: receiver_id.map(str::to_string),
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
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
            search_request: items
                .into_iter()
                .enumerate()
                .map(|(i, item)| item.into_wire((i + 1).to_string()))
                .collect(),
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
        let envelope = self.envelope(Action::Search, count, Some(callback_url), message);
        self.send_async("/registry/search", &envelope, transaction_id)
            .await
    }

    fn txn_status_request(by: &TxnQuery) -> TxnStatusRequest {
        TxnStatusRequest {
            transaction_id: new_id(),
            txnstatus_request: by.to_wire(),
        }
    }

    /// `POST /registry/sync/txn/status`: the current state of an earlier search transaction.
    pub async fn sync_txn_status(
        &self,
        by: TxnQuery,
    ) -> Result<Envelope<MsgCallbackHeader, TxnStatusResponse>, ClientError> {
        let envelope = self.envelope(Action::TxnStatus, 1, None, Self::txn_status_request(&by));
        self.send("/registry/sync/txn/status", &envelope).await
    }

    /// `POST /registry/txn/status`: the registry ACKs and posts `txn-on-status` to
    /// `callback_url`. [`Accepted::transaction_id`] is the status request's own transaction.
    pub async fn txn_status(
        &self,
        by: TxnQuery,
        callback_url: &str,
    ) -> Result<Accepted, ClientError> {
        let message = Self::txn_status_request(&by);
        let transaction_id = message.transaction_id.clone();
        let envelope = self.envelope(Action::TxnStatus, 1, Some(callback_url), message);
        self.send_async("/registry/txn/status", &envelope, &transaction_id)
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
        let bytes = Bytes::from(serde_json::to_vec(body)?);
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
        let bytes = Bytes::from(serde_json::to_vec(body)?);
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

    async fn post_once(&self, url: &str, body: Bytes) -> Result<Bytes, ClientError> {
        let transport = |source| ClientError::Transport {
            url: url.to_string(),
            source,
        };
        let response = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .timeout(self.timeout)
            .body(body)
            .send()
            .await
            .map_err(transport)?;
        let status = response.status();
        let answer = response.bytes().await.map_err(transport)?;
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

    async fn send_async<M: Serialize>(
        &self,
        path: &str,
        envelope: &Envelope<MsgHeader, M>,
        transaction_id: &str,
    ) -> Result<Accepted, ClientError> {
        let url = self.url(path);
        let answer: Value = self.send_with_retry(path, envelope).await?;
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
            transaction_id: transaction_id.to_string(),
            message_id: envelope.header.message_id.clone(),
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
        let callback_url = receiver
            .callback_url("/registry/on-search")
            .ok_or(ClientError::NoCallbackUrl)?;
        let accepted = self.search(items, &callback_url).await?;
        let transaction_id = accepted.transaction_id.clone();
        let last_poll_error: Arc<Mutex<Option<String>>> = Arc::default();

        let wait = receiver.wait_for(&transaction_id, timeout);
        let poll = self.poll_until_final(&transaction_id, poll_every, last_poll_error.clone());
        tokio::pin!(wait, poll);
        let mut polling = true;
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
    async fn poll_until_final(
        &self,
        transaction_id: &str,
        every: Duration,
        last_error: Arc<Mutex<Option<String>>>,
    ) -> Option<Envelope<MsgCallbackHeader, TxnStatusResponse>> {
        loop {
            tokio::time::sleep(every).await;
            match self
                .sync_txn_status(TxnQuery::TransactionId(transaction_id.to_string()))
                .await
            {
                Ok(envelope) if is_final(&envelope) => return Some(envelope),
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

fn decode<T: DeserializeOwned>(url: &str, body: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        url: url.to_string(),
        message: e.to_string(),
    })
}

/// Whether a status answer settles the transaction: a header-level rejection, or a search
/// response whose every item is `succ` or `rjct`.
fn is_final(envelope: &Envelope<MsgCallbackHeader, TxnStatusResponse>) -> bool {
    let header = &envelope.header;
    if header.status == RequestStatus::Rjct && header.status_reason_code.is_some() {
        return true;
    }
    if !matches!(header.status, RequestStatus::Succ | RequestStatus::Rjct) {
        return false;
    }
    envelope
        .message
        .as_ref()
        .and_then(search_response_of)
        .is_some_and(|r| {
            !r.search_response.is_empty()
                && r.search_response
                    .iter()
                    .all(|i| matches!(i.status, RequestStatus::Succ | RequestStatus::Rjct))
        })
}

/// The original transaction's `SearchResponse`, when that is what a status answer carries.
pub(crate) fn search_response_of(status: &TxnStatusResponse) -> Option<SearchResponse> {
    serde_json::from_value(status.txnstatus_response.txn_status.clone()).ok()
}

fn from_callback(accepted: Accepted, callback: Callback) -> Result<SearchOutcome, ClientError> {
    if callback.message.is_null() {
        return Err(ClientError::Rejected {
            transaction_id: accepted.transaction_id,
            code: callback.header.status_reason_code().map(str::to_string),
            message: callback.header.status_reason_message().map(str::to_string),
        });
    }
    let response =
        serde_json::from_value(callback.message.clone()).map_err(|e| ClientError::Decode {
            url: "/registry/on-search".into(),
            message: e.to_string(),
        })?;
    Ok(SearchOutcome {
        accepted,
        response,
        source: AnswerSource::Callback(Box::new(callback)),
    })
}

fn from_status(
    accepted: Accepted,
    envelope: Envelope<MsgCallbackHeader, TxnStatusResponse>,
) -> Result<SearchOutcome, ClientError> {
    let Some(response) = envelope.message.as_ref().and_then(search_response_of) else {
        return Err(ClientError::Rejected {
            transaction_id: accepted.transaction_id,
            code: envelope
                .header
                .status_reason_code
                .map(|c| c.as_str().to_string()),
            message: envelope.header.status_reason_message.clone(),
        });
    };
    Ok(SearchOutcome {
        accepted,
        response,
        source: AnswerSource::TxnStatus(Box::new(envelope)),
    })
}
