//! The client's one error type, and reading DCI error codes out of the bodies peers answer with.

use std::time::Duration;

use dci::{AckResponse, AckStatus, ReasonCode};
use serde_json::Value;

/// Everything that can go wrong talking DCI to a peer or waiting for its callback.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request never got an HTTP answer (connection refused, reset, timed out).
    #[error("POST {url} failed: {source}")]
    Transport {
        /// Where the request went.
        url: String,
        /// What the HTTP client reported.
        #[source]
        source: reqwest::Error,
    },
    /// The peer answered with a non-success HTTP status.
    #[error("POST {url} answered HTTP {status}{}", detail(.code.as_deref(), .message.as_deref()))]
    Http {
        /// Where the request went.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The DCI code found in the body: the `error.code` of an `ERR` ACK, the first code of an
        /// `HttpErrorResponse`, or the `status_reason_code` of a header-level rejection.
        code: Option<String>,
        /// The message that came with the code (or the start of a non-JSON body).
        message: Option<String>,
    },
    /// The peer answered an async request with `NACK` or `ERR` inside a success status.
    #[error("POST {url} was answered {}{}", ack_word(*.ack_status), detail(.code.as_deref(), .message.as_deref()))]
    NotAccepted {
        /// Where the request went.
        url: String,
        /// `NACK` or `ERR`.
        ack_status: AckStatus,
        /// The `error.code` of the ACK, if any.
        code: Option<String>,
        /// The `error.message` of the ACK, if any.
        message: Option<String>,
    },
    /// The answer was not the DCI document expected.
    #[error("cannot decode the answer from {url}: {message}")]
    Decode {
        /// Where the answer came from (a URL, or the receiver endpoint of a callback).
        url: String,
        /// What did not parse.
        message: String,
    },
    /// The request could not be signed (the key store, or an envelope without a header).
    #[error("cannot sign the request: {0}")]
    Sign(String),
    /// The registry answered the transaction with a header-level rejection and no payload.
    #[error("transaction {transaction_id} was rejected{}", detail(.code.as_deref(), .message.as_deref()))]
    Rejected {
        /// The rejected transaction.
        transaction_id: String,
        /// The header's `status_reason_code`.
        code: Option<String>,
        /// The header's `status_reason_message`.
        message: Option<String>,
    },
    /// No callback (and no final txn status) arrived in time.
    #[error("no answer for {key} within {waited:?}{}", last_poll_error.as_deref().map(|e| format!(" (last status poll: {e})")).unwrap_or_default())]
    Timeout {
        /// The transaction or correlation id waited for.
        key: String,
        /// How long was waited.
        waited: Duration,
        /// Why the last `sync/txn/status` poll failed, when polling was part of the wait.
        last_poll_error: Option<String>,
    },
    /// A callback URL was needed but the receiver does not know its own address.
    #[error(
        "the receiver has no base URL; serve it with Receiver::serve or set one with Receiver::with_base_url"
    )]
    NoCallbackUrl,
    /// The request could not be serialised.
    #[error("cannot encode the request: {0}")]
    Encode(#[from] serde_json::Error),
}

fn detail(code: Option<&str>, message: Option<&str>) -> String {
    match (code, message) {
        (Some(code), Some(message)) => format!(": {code}: {message}"),
        (Some(code), None) => format!(": {code}"),
        (None, Some(message)) => format!(": {message}"),
        (None, None) => String::new(),
    }
}

fn ack_word(status: AckStatus) -> &'static str {
    match status {
        AckStatus::Ack => "ACK",
        AckStatus::Nack => "NACK",
        AckStatus::Err => "ERR",
    }
}

impl ClientError {
    /// The DCI code the peer gave, when it is one the standard defines.
    pub fn reason_code(&self) -> Option<ReasonCode> {
        match self {
            ClientError::Http { code, .. }
            | ClientError::NotAccepted { code, .. }
            | ClientError::Rejected { code, .. } => code.as_deref().and_then(ReasonCode::parse),
            _ => None,
        }
    }

    /// The HTTP status of the answer, for [`ClientError::Http`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether sending the same bytes again may succeed: transport failures, rate limiting and
    /// the gateway/unavailable statuses (429, 502, 503, 504).
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Http { status, .. } => matches!(status, 429 | 502 | 503 | 504),
            _ => false,
        }
    }
}

/// An acknowledgement as read from a peer, tolerant of the samples' nesting (dci-spec §12.1 E5).
pub(crate) struct ReadAck {
    pub status: AckStatus,
    pub correlation_id: String,
    pub code: Option<String>,
    pub message: Option<String>,
}

/// Reads an ACK body: the published `{"message": {...}}` shape, or the same one level deeper.
pub(crate) fn read_ack(body: &Value) -> Option<ReadAck> {
    if let Ok(ack) = serde_json::from_value::<AckResponse>(body.clone()) {
        let (code, message) = match ack.message.error {
            Some(e) => (Some(e.code.as_str().to_string()), Some(e.message)),
            None => (None, None),
        };
        return Some(ReadAck {
            status: ack.message.ack_status,
            correlation_id: ack.message.correlation_id,
            code,
            message,
        });
    }
    let ack = [body.pointer("/message/message"), body.get("message")]
        .into_iter()
        .flatten()
        .find(|a| a.get("ack_status").is_some())?;
    let status = serde_json::from_value(ack.get("ack_status")?.clone()).ok()?;
    Some(ReadAck {
        status,
        correlation_id: text(ack.get("correlation_id")).unwrap_or_default(),
        code: text(ack.pointer("/error/code")),
        message: text(ack.pointer("/error/message")),
    })
}

/// The DCI code and message in an error body: an `ERR` ACK, an `HttpErrorResponse`, or a
/// response envelope with a header-level rejection. A body that is not JSON gives its first
/// 200 characters as the message.
pub(crate) fn error_detail(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        let text: String = String::from_utf8_lossy(body).chars().take(200).collect();
        let text = text.trim().to_string();
        return (None, (!text.is_empty()).then_some(text));
    };
    if let Some(ack) = read_ack(&value)
        && (ack.code.is_some() || ack.message.is_some())
    {
        return (ack.code, ack.message);
    }
    // `errors` is an array in practice; the schema forgot `type: array` (§12.1 E10).
    let first_error = match value.get("errors") {
        Some(Value::Array(errors)) => errors.first(),
        Some(other @ Value::Object(_)) => Some(other),
        _ => None,
    };
    if let Some(error) = first_error {
        return (text(error.get("code")), text(error.get("message")));
    }
    if let Some(header) = value.get("header") {
        return (
            text(header.get("status_reason_code")),
            text(header.get("status_reason_message")),
        );
    }
    (None, None)
}

fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).map(str::to_string)
}
