//! The three-part DCI envelope (`signature`, `header`, `message`), its two headers, the ACK and
//! the transport error body (dci-spec §2).

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::codes::ReasonCode;
use crate::lenient;
use crate::time::Timestamp;

/// The DCI protocol version spx speaks and emits.
pub const PROTOCOL_VERSION: &str = "1.0.0";

/// An envelope as received: the parts are kept as raw JSON so that each can be validated with
/// its own error code, and so that a signature can later be checked over the exact bytes.
#[derive(Debug, Deserialize)]
pub struct RawEnvelope<'a> {
    /// The `MsgSignature` string, if any.
    #[serde(default)]
    pub signature: Option<String>,
    /// The header, not yet parsed.
    #[serde(borrow, default)]
    pub header: Option<&'a RawValue>,
    /// The message, not yet parsed (absent, or `null`, is `None`).
    #[serde(borrow, default)]
    pub message: Option<&'a RawValue>,
}

impl<'a> RawEnvelope<'a> {
    /// Reads `body` as an envelope; anything else is `err.request.bad`.
    pub fn parse(body: &'a [u8]) -> Result<Self, Rejection> {
        serde_json::from_slice(body).map_err(|e| {
            Rejection::new(
                ReasonCode::RequestBad,
                format!("the body is not a DCI envelope: {e}"),
            )
        })
    }

    /// The header, parsed as `H`; a missing or malformed header is `err.request.bad`.
    pub fn header<H: serde::de::DeserializeOwned>(&self) -> Result<H, Rejection> {
        let bad = |message: String| Rejection::new(ReasonCode::RequestBad, message);
        let header = self
            .header
            .ok_or_else(|| bad("the envelope has no header".into()))?;
        serde_json::from_str(header.get()).map_err(|e| bad(format!("header: {e}")))
    }
}

/// An envelope to send: a header and a message, optionally signed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Envelope<H, M> {
    /// The `MsgSignature` over header and message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// `MsgHeader` on requests, `MsgCallbackHeader` on callbacks and sync responses.
    pub header: H,
    /// The operation payload; optional on callbacks (a header-level rejection carries none).
    /// (No `default` here: serde would then require `M: Default`; a missing `Option` field is
    /// `None` anyway.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<M>,
}

/// The action verbs of dci-spec §2.5, one per endpoint direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// `search` (registry search, sync search, DR and IBR sync queries, disburse search).
    Search,
    /// `on-search`.
    OnSearch,
    /// `subscribe`.
    Subscribe,
    /// `on-subscribe`.
    OnSubscribe,
    /// `notify` (registry events, and IBR enrollment updates).
    Notify,
    /// `on-notify`: the answer to IBR enrollment updates (the standard names none; dci-spec
    /// §4.3 recommends this one).
    OnNotify,
    /// `unsubscribe`.
    Unsubscribe,
    /// `on-unsubscribe`.
    OnUnsubscribe,
    /// `txn-status`.
    TxnStatus,
    /// `txn-on-status`.
    TxnOnStatus,
    /// `disburse`.
    Disburse,
    /// `on-disburse`.
    OnDisburse,
    /// `link` (mapper).
    Link,
    /// `on-link`.
    OnLink,
    /// `update` (mapper).
    Update,
    /// `on-update`.
    OnUpdate,
    /// `unlink` (mapper).
    Unlink,
    /// `on-unlink`.
    OnUnlink,
    /// `resolve` (mapper).
    Resolve,
    /// `on-resolve`.
    OnResolve,
}

impl Action {
    /// Every action.
    pub const ALL: &'static [Action] = &[
        Action::Search,
        Action::OnSearch,
        Action::Subscribe,
        Action::OnSubscribe,
        Action::Notify,
        Action::OnNotify,
        Action::Unsubscribe,
        Action::OnUnsubscribe,
        Action::TxnStatus,
        Action::TxnOnStatus,
        Action::Disburse,
        Action::OnDisburse,
        Action::Link,
        Action::OnLink,
        Action::Update,
        Action::OnUpdate,
        Action::Unlink,
        Action::OnUnlink,
        Action::Resolve,
        Action::OnResolve,
    ];

    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Search => "search",
            Action::OnSearch => "on-search",
            Action::Subscribe => "subscribe",
            Action::OnSubscribe => "on-subscribe",
            Action::Notify => "notify",
            Action::OnNotify => "on-notify",
            Action::Unsubscribe => "unsubscribe",
            Action::OnUnsubscribe => "on-unsubscribe",
            Action::TxnStatus => "txn-status",
            Action::TxnOnStatus => "txn-on-status",
            Action::Disburse => "disburse",
            Action::OnDisburse => "on-disburse",
            Action::Link => "link",
            Action::OnLink => "on-link",
            Action::Update => "update",
            Action::OnUpdate => "on-update",
            Action::Unlink => "unlink",
            Action::OnUnlink => "on-unlink",
            Action::Resolve => "resolve",
            Action::OnResolve => "on-resolve",
        }
    }

    /// The action of the answer to a request with this action (`search` → `on-search`); an
    /// answer or a notification answers itself.
    pub const fn answer(self) -> Action {
        match self {
            Action::Search => Action::OnSearch,
            Action::Subscribe => Action::OnSubscribe,
            Action::Unsubscribe => Action::OnUnsubscribe,
            Action::TxnStatus => Action::TxnOnStatus,
            Action::Disburse => Action::OnDisburse,
            Action::Link => Action::OnLink,
            Action::Update => Action::OnUpdate,
            Action::Unlink => Action::OnUnlink,
            Action::Resolve => Action::OnResolve,
            other => other,
        }
    }

    /// The action for a wire spelling, if DCI defines it.
    pub fn parse(wire: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == wire)
    }
}

impl Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// `RequestStatus`: the state of a message or of one item in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    /// Received.
    Rcvd,
    /// Pending.
    Pdng,
    /// Success.
    Succ,
    /// Rejected.
    Rjct,
}

impl RequestStatus {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            RequestStatus::Rcvd => "rcvd",
            RequestStatus::Pdng => "pdng",
            RequestStatus::Succ => "succ",
            RequestStatus::Rjct => "rjct",
        }
    }
}

/// `MsgHeader_V1.0.0`, the header of a request, as received.
///
/// Fields that carry their own rejection code (`version`, `message_ts`, `action`) are kept as
/// text here and checked by [`crate::validate::request_header`], so that a bad value gets its
/// specific code rather than a generic parse error.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MsgHeader {
    /// Protocol version, default `1.0.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Transport-level unique id of this message.
    #[serde(default)]
    pub message_id: String,
    /// When the message was sent: RFC 3339 with a timezone.
    #[serde(default)]
    pub message_ts: String,
    /// The verb of the endpoint.
    #[serde(default)]
    pub action: String,
    /// The sender's participant id.
    #[serde(default)]
    pub sender_id: String,
    /// Where async replies go; the participant's configured URL when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_uri: Option<String>,
    /// The receiver's id as the sender knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<String>,
    /// Number of items in the message (samples send it as a string; both are accepted).
    #[serde(
        deserialize_with = "lenient::integer",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_count: Option<i64>,
    /// Whether `message` is a JWE object.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub is_msg_encrypted: bool,
    /// Free-form information for intermediaries (`""` is read as absent).
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
}

/// `MsgCallbackHeader_V1.0.0`, the header of callbacks and sync responses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MsgCallbackHeader {
    /// Protocol version (optional on the wire, default `1.0.0`).
    #[serde(default = "default_version")]
    pub version: String,
    /// A new id for this message.
    pub message_id: String,
    /// When this message was made.
    pub message_ts: Timestamp,
    /// `on-search`, `txn-on-status`, ...
    pub action: String,
    /// Overall status of the answered message.
    pub status: RequestStatus,
    /// Why the whole message was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Human-readable reason (≤ 999 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// Number of items in the original message (a numeric string is accepted).
    #[serde(
        default,
        deserialize_with = "lenient::integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_count: Option<i64>,
    /// Number of items completed, successfully or with a functional error.
    #[serde(
        default,
        deserialize_with = "lenient::integer",
        skip_serializing_if = "Option::is_none"
    )]
    pub completed_count: Option<i64>,
    /// The responder's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_id: Option<String>,
    /// The original requester's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<String>,
    /// Whether `message` is a JWE object.
    #[serde(default, deserialize_with = "lenient::boolean")]
    pub is_msg_encrypted: bool,
    /// Free-form information for intermediaries (`""` is read as absent).
    #[serde(
        default,
        deserialize_with = "lenient::object",
        skip_serializing_if = "Option::is_none"
    )]
    pub meta: Option<serde_json::Map<String, serde_json::Value>>,
}

fn default_version() -> String {
    PROTOCOL_VERSION.to_string()
}

/// A reason for rejecting something, with the DCI code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// The DCI code.
    pub code: ReasonCode,
    /// What exactly was wrong (at most 999 characters on the wire).
    pub message: String,
}

impl Rejection {
    /// A rejection with `code` and `message`.
    pub fn new(code: ReasonCode, message: impl Into<String>) -> Self {
        let mut message = message.into();
        truncate_chars(&mut message, 999);
        Rejection { code, message }
    }
}

fn truncate_chars(text: &mut String, max: usize) {
    if let Some((cut, _)) = text.char_indices().nth(max) {
        text.truncate(cut);
    }
}

/// `Ack`: the three answers of an immediate acknowledgement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AckStatus {
    /// Valid; a callback will follow.
    #[serde(rename = "ACK")]
    Ack,
    /// Valid; nothing further will be sent.
    #[serde(rename = "NACK")]
    Nack,
    /// Invalid or unprocessable; see `error`.
    #[serde(rename = "ERR")]
    Err,
}

/// The `Error` object of an ACK.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// An `err.*` code.
    pub code: ReasonCode,
    /// What went wrong (≤ 999 characters).
    pub message: String,
}

/// The body of an acknowledgement (`Response`): `{"message": {...}}`, with no header.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AckResponse {
    /// The acknowledgement itself.
    pub message: Ack,
}

/// The acknowledgement inside an [`AckResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ack {
    /// ACK, NACK or ERR.
    pub ack_status: AckStatus,
    /// When the acknowledgement was made.
    pub timestamp: Timestamp,
    /// The receiver's id for everything it does for this transaction.
    pub correlation_id: String,
    /// Why the message was not accepted (with `ERR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
}

impl AckResponse {
    /// An `ERR` acknowledgement for a communication-level rejection.
    pub fn error(rejection: &Rejection, correlation_id: String) -> Self {
        AckResponse {
            message: Ack {
                ack_status: AckStatus::Err,
                timestamp: Timestamp::now(),
                correlation_id,
                error: Some(ErrorObject {
                    code: rejection.code,
                    message: rejection.message.clone(),
                }),
            },
        }
    }
}

/// `HttpErrorResponse`: the body of transport-level failures (401, 403, 500 ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpErrorResponse {
    /// One or more errors.
    pub errors: Vec<HttpError>,
}

/// One entry of an [`HttpErrorResponse`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpError {
    /// The error code (an `err.*` code).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_and_unknown_is_none() {
        for &action in Action::ALL {
            assert_eq!(Action::parse(action.as_str()), Some(action));
        }
        assert_eq!(Action::parse("verify"), None);
    }

    #[test]
    fn rejection_messages_are_capped_at_999_characters() {
        let rejection = Rejection::new(ReasonCode::RequestBad, "é".repeat(2000));
        assert_eq!(rejection.message.chars().count(), 999);
    }

    #[test]
    fn request_header_accepts_sample_style_values() {
        let header: MsgHeader = serde_json::from_str(
            r#"{"message_id":"1","message_ts":"2024-01-01T00:00:00Z","action":"search",
                "sender_id":"a","total_count":"3","meta":"","is_msg_encrypted":"false"}"#,
        )
        .unwrap();
        assert_eq!(header.total_count, Some(3));
        assert_eq!(header.meta, None);
        assert!(!header.is_msg_encrypted);
    }

    #[test]
    fn err_ack_has_the_published_shape() {
        let ack = AckResponse::error(
            &Rejection::new(ReasonCode::RequestBad, "bad json"),
            "c-1".into(),
        );
        let json = serde_json::to_value(&ack).unwrap();
        assert_eq!(json["message"]["ack_status"], "ERR");
        assert_eq!(json["message"]["error"]["code"], "err.request.bad");
        assert_eq!(json["message"]["correlation_id"], "c-1");
        assert!(json.get("header").is_none());
    }
}
