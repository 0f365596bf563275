//! Subscriptions: `SubscribeRequest`/`SubscribeResponse` with `SubscriptionInfo`,
//! `NotifyEventRequest`, and `UnSubscribeRequest`/`UnSubscribeResponse` (dci-spec §5.3–5.6, §7).
//!
//! A subscription's `filter` is a query of the same shapes as a search's `query` (§3), told
//! apart by `filter_type` as a search's by `query_type`; [`SubscribeCriteria::filter`] reads it
//! with the search code. The misspelt keys of the published unsubscribe schemas (`timesstamp`,
//! `timesatmp`, `sunscription_codes`) are accepted on input; the correct ones are emitted.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::ReasonCode;
use crate::envelope::{Rejection, RequestStatus};
use crate::lenient;
use crate::search::{Query, SearchCriteria};
use crate::time::Timestamp;

/// `SubscribeRequest`: a batch of subscriptions under one transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubscribeRequest {
    /// The requester's business transaction id.
    pub transaction_id: String,
    /// The subscriptions asked for; each is answered by its own response item.
    pub subscribe_request: Vec<SubscribeRequestItem>,
}

/// One subscription of a batch, as received; its criteria stay raw until parsed, so that a bad
/// item is rejected on its own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubscribeRequestItem {
    /// The requester's id for this item.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// When the item was made.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// What to be notified about.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscribe_criteria: Option<Value>,
    /// Language of the notifications.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

/// `subscribe_criteria`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct SubscribeCriteria {
    /// Criteria version, default `1.0.0`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    /// Registry type.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_type: Option<String>,
    /// The event to be notified about (`REGISTER`, `NewHouseHoldMember`, `LiveBirth` ...).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_event_type: Option<String>,
    /// When to notify (§7.3); absent means at once.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub frequency: Option<Value>,
    /// The filter's query type, as a search's `query_type`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub filter_type: Option<String>,
    /// Which records' events to be notified about, as a search's `query`.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub filter: Option<Value>,
    /// The record type pushed in notifications (the unused social variant calls it
    /// `response_entity`).
    #[serde(
        default,
        alias = "response_entity",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub notify_record_type: Option<String>,
    /// The authorisation under which the subscription is made.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorize: Option<Value>,
}

/// When notifications are sent (`EventFrequency`, §7.3), as spx reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frequency {
    /// As soon as the event happens (also: no `frequency` at all).
    Immediate,
    /// Held until the next full hour (UTC).
    Hourly,
    /// Held until the next midnight (UTC).
    Daily,
    /// Held until the next Monday, midnight (UTC).
    Weekly,
}

impl Frequency {
    /// The keyword stored and echoed.
    pub fn as_str(self) -> &'static str {
        match self {
            Frequency::Immediate => "immediate",
            Frequency::Hourly => "hourly",
            Frequency::Daily => "daily",
            Frequency::Weekly => "weekly",
        }
    }

    /// Reads a keyword, as stored by [`Frequency::as_str`] or sent by a peer (any case).
    pub fn from_keyword(keyword: &str) -> Option<Frequency> {
        match keyword.trim().to_ascii_lowercase().as_str() {
            "immediate" | "realtime" | "real-time" => Some(Frequency::Immediate),
            "hourly" => Some(Frequency::Hourly),
            "daily" => Some(Frequency::Daily),
            "weekly" => Some(Frequency::Weekly),
            _ => None,
        }
    }

    /// The earliest time (Unix ms) a notification of an event at `now_ms` may be sent.
    pub fn due_ms(self, now_ms: i64) -> i64 {
        const HOUR: i64 = 3_600_000;
        const DAY: i64 = 24 * HOUR;
        let next = |period: i64, offset: i64| {
            (now_ms - offset).div_euclid(period) * period + period + offset
        };
        match self {
            Frequency::Immediate => now_ms,
            Frequency::Hourly => next(HOUR, 0),
            Frequency::Daily => next(DAY, 0),
            // The Unix epoch was a Thursday: Mondays are 4 days after it, modulo 7.
            Frequency::Weekly => next(7 * DAY, 4 * DAY),
        }
    }
}

/// A subscription's criteria, checked: what spx stores.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSpec {
    /// The event type.
    pub reg_event_type: String,
    /// The record type pushed.
    pub notify_record_type: String,
    /// The filter.
    pub filter: Query,
    /// When to notify.
    pub frequency: Frequency,
}

impl SubscribeCriteria {
    /// The filter as a [`Query`]: `filter_type` plays `query_type`. Errors carry
    /// `rjct.notify_details.invalid`.
    pub fn filter(&self) -> Result<Query, Rejection> {
        let as_search = SearchCriteria {
            version: None,
            reg_type: None,
            reg_event_type: None,
            reg_record_type: None,
            reg_sub_type: None,
            response_entity: None,
            query_type: self.filter_type.clone(),
            query: self.filter.clone(),
            sort: None,
            pagination: None,
            consent: None,
            authorize: None,
        };
        as_search.query().map_err(|rejection| {
            Rejection::new(
                ReasonCode::NotifyDetailsInvalid,
                rejection
                    .message
                    .replace(
                        "search_criteria.query_type",
                        "subscribe_criteria.filter_type",
                    )
                    .replace("search_criteria.query", "subscribe_criteria.filter"),
            )
        })
    }

    /// The frequency: absent, a keyword string, or an `EventFrequency` object whose
    /// `frequency` is a keyword. Quartz cron expressions are refused with
    /// `rjct.notify_details.invalid` (spx does not schedule by cron).
    pub fn frequency(&self) -> Result<Frequency, Rejection> {
        let invalid = |m: String| Rejection::new(ReasonCode::NotifyDetailsInvalid, m);
        let keyword = match &self.frequency {
            None | Some(Value::Null) => return Ok(Frequency::Immediate),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Object(map)) => match map.get("frequency") {
                None | Some(Value::Null) => return Ok(Frequency::Immediate),
                Some(Value::String(s)) => s.clone(),
                Some(other) => {
                    return Err(invalid(format!(
                        "frequency.frequency must be a string, not {other}"
                    )));
                }
            },
            Some(other) => {
                return Err(invalid(format!("frequency must be an object, not {other}")));
            }
        };
        Frequency::from_keyword(&keyword).ok_or_else(|| {
            invalid(format!(
                "frequency '{keyword}' is not one of immediate, hourly, daily, weekly (cron schedules are not supported)"
            ))
        })
    }

    /// Everything spx needs of the criteria, checked: event type and record type present
    /// (`rjct.notify_types.invalid`), filter and frequency readable
    /// (`rjct.notify_details.invalid`).
    pub fn spec(&self) -> Result<SubscriptionSpec, Rejection> {
        let types = |m: &str| Rejection::new(ReasonCode::NotifyTypesInvalid, m);
        let reg_event_type = self
            .reg_event_type
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| types("subscribe_criteria.reg_event_type is required"))?;
        let notify_record_type = self
            .notify_record_type
            .clone()
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| types("subscribe_criteria.notify_record_type is required"))?;
        Ok(SubscriptionSpec {
            reg_event_type,
            notify_record_type,
            filter: self.filter()?,
            frequency: self.frequency()?,
        })
    }
}

impl SubscribeRequestItem {
    /// The item's criteria, parsed; criteria that are missing or not an object are refused
    /// with `rjct.notify_details.invalid`.
    pub fn criteria(&self) -> Result<SubscribeCriteria, Rejection> {
        let invalid = |m: String| Rejection::new(ReasonCode::NotifyDetailsInvalid, m);
        match &self.subscribe_criteria {
            Some(value @ Value::Object(_)) => serde_json::from_value(value.clone())
                .map_err(|e| invalid(format!("subscribe_criteria: {e}"))),
            Some(other) => Err(invalid(format!(
                "subscribe_criteria must be an object, not {other}"
            ))),
            None => Err(invalid("subscribe_criteria is required".into())),
        }
    }
}

/// `SubscribeResponse`: one item per request item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscribeResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// One answer per request item.
    pub subscribe_response: Vec<SubscribeResponseItem>,
}

/// The answer to one subscription request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubscribeResponseItem {
    /// Echo of the item's reference id.
    pub reference_id: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// `succ`, `pdng` (txn status while processing), or `rjct` with a reason.
    pub status: RequestStatus,
    /// Why the item was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Details of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// The subscription made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subscriptions: Vec<SubscriptionInfo>,
    /// Language of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

impl SubscribeResponseItem {
    /// A rejected item.
    pub fn rejected(reference_id: String, rejection: Rejection, locale: Option<String>) -> Self {
        SubscribeResponseItem {
            reference_id,
            timestamp: Timestamp::now(),
            status: RequestStatus::Rjct,
            status_reason_code: Some(rejection.code),
            status_reason_message: Some(rejection.message),
            subscriptions: Vec::new(),
            locale,
        }
    }
}

/// `SubscriptionStatus`.
pub const SUBSCRIBED: &str = "subscribe";
/// `SubscriptionStatus` of a cancelled subscription.
pub const UNSUBSCRIBED: &str = "unsubscribe";

/// `SubscriptionInfo`: a subscription as the registry holds it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SubscriptionInfo {
    /// Data version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The subscription code issued by the registry.
    pub code: String,
    /// `subscribe` or `unsubscribe`.
    pub status: String,
    /// When the subscription was made.
    pub timestamp: Timestamp,
    /// Registry type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_type: Option<String>,
    /// Echo of the criteria's event type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_event_type: Option<String>,
    /// Echo of the criteria's frequency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frequency: Option<Value>,
    /// Echo of the criteria's filter type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_type: Option<String>,
    /// Echo of the criteria's filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Echo of the criteria's record type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_record_type: Option<String>,
    /// Language of the notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// `NotifyEventRequest`: events pushed to a subscriber's `/registry/notify`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyEventRequest {
    /// The subscribe request's transaction id (dci-spec §7.2 recommendation).
    pub transaction_id: String,
    /// The events.
    pub notify_event: Vec<NotifyEvent>,
}

/// One event of a notification.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyEvent {
    /// The subscribe item's reference id.
    pub reference_id: String,
    /// When the event happened.
    pub timestamp: Timestamp,
    /// The record concerned.
    pub data: NotifyData,
    /// Language.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

/// The `data` of a notify event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NotifyData {
    /// Data version.
    pub version: String,
    /// Registry type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_type: Option<String>,
    /// The event type (newer revision of the standard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_event_type: Option<String>,
    /// Record type of `reg_records`.
    pub reg_record_type: String,
    /// The record, as published.
    pub reg_records: Value,
}

/// `UnSubscribeRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnSubscribeRequest {
    /// The requester's business transaction id.
    pub transaction_id: String,
    /// When the request was made (published schema: `timesstamp`).
    #[serde(
        default,
        alias = "timesstamp",
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// The subscriptions to cancel (published `required`: `sunscription_codes`).
    #[serde(
        default,
        alias = "sunscription_codes",
        deserialize_with = "lenient::list"
    )]
    pub subscription_codes: Vec<String>,
}

/// `UnSubscribeResponse`: one status for the request and one per code.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UnSubscribeResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// When the answer was made (published schema: `timesatmp`).
    #[serde(alias = "timesatmp")]
    pub timestamp: Timestamp,
    /// `succ` when every code was cancelled, else `rjct` with the first reason.
    pub status: RequestStatus,
    /// Why (some of) the request was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Details of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// The state of each code asked about.
    #[serde(default)]
    pub subscription_status: Vec<CodeStatus>,
}

/// The state of one subscription code after an unsubscribe.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CodeStatus {
    /// The code.
    pub code: String,
    /// `subscribe` (still active: the code was refused) or `unsubscribe`.
    pub status: String,
    /// Why this code was refused (spx extension: the published schema has one reason for the
    /// whole request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn criteria(value: Value) -> SubscribeCriteria {
        let item: SubscribeRequestItem = serde_json::from_value(json!({
            "reference_id": "r1", "timestamp": "2026-11-24T10:00:00Z", "subscribe_criteria": value
        }))
        .unwrap();
        item.criteria().unwrap()
    }

    #[test]
    fn a_spec_sample_subscription_reads() {
        let c = criteria(json!({
            "version": "1.0.0",
            "reg_type": "ns:org:RegistryType:Social",
            "reg_event_type": "REGISTER",
            "frequency": {"start_time": "2026-11-24T00:00:00Z", "frequency": "daily"},
            "filter_type": "idtype-value",
            "filter": {"type": "UIN", "value": "847951632"},
            "notify_record_type": "Member"
        }));
        let spec = c.spec().unwrap();
        assert_eq!(spec.reg_event_type, "REGISTER");
        assert_eq!(spec.notify_record_type, "Member");
        assert_eq!(spec.frequency, Frequency::Daily);
        assert!(matches!(spec.filter, Query::IdTypeValue { ref id_type, .. } if id_type == "UIN"));
    }

    #[test]
    fn missing_types_and_bad_details_have_their_codes() {
        let no_event = criteria(
            json!({"notify_record_type": "Member", "filter_type": "idtype-value", "filter": {"type": "UIN", "value": "1"}}),
        );
        assert_eq!(
            no_event.spec().unwrap_err().code,
            ReasonCode::NotifyTypesInvalid
        );
        let no_filter =
            criteria(json!({"reg_event_type": "REGISTER", "notify_record_type": "Member"}));
        let rejection = no_filter.spec().unwrap_err();
        assert_eq!(rejection.code, ReasonCode::NotifyDetailsInvalid);
        assert!(
            rejection.message.contains("subscribe_criteria.filter"),
            "{}",
            rejection.message
        );
        let cron = criteria(
            json!({"reg_event_type": "REGISTER", "notify_record_type": "Member",
            "filter_type": "idtype-value", "filter": {"type": "UIN", "value": "1"},
            "frequency": {"frequency": "0 0 0 5,15 * ? *"}}),
        );
        assert_eq!(
            cron.spec().unwrap_err().code,
            ReasonCode::NotifyDetailsInvalid
        );
        let not_object: SubscribeRequestItem =
            serde_json::from_value(json!({"reference_id": "r", "subscribe_criteria": [1]}))
                .unwrap();
        assert_eq!(
            not_object.criteria().unwrap_err().code,
            ReasonCode::NotifyDetailsInvalid
        );
    }

    #[test]
    fn frequencies_hold_until_the_next_boundary() {
        // 2026-11-24 (a Tuesday) 10:30:00 UTC.
        let now = 1_795_516_200_000;
        assert_eq!(Frequency::Immediate.due_ms(now), now);
        assert_eq!(Frequency::Hourly.due_ms(now), now + 30 * 60_000);
        assert_eq!(
            Frequency::Daily.due_ms(now),
            now + 13 * 3_600_000 + 30 * 60_000
        );
        // The next Monday is 2026-11-30, 6 days later at midnight.
        assert_eq!(
            Frequency::Weekly.due_ms(now),
            now + 5 * 86_400_000 + 13 * 3_600_000 + 30 * 60_000
        );
        // On a boundary, the next one.
        let midnight = now - 10 * 3_600_000 - 30 * 60_000;
        assert_eq!(Frequency::Daily.due_ms(midnight), midnight + 86_400_000);
    }

    #[test]
    fn unsubscribe_accepts_the_published_misspellings() {
        let request: UnSubscribeRequest = serde_json::from_value(json!({
            "transaction_id": "t", "timesstamp": "2026-11-24T10:00:00Z", "sunscription_codes": ["a", "b"]
        }))
        .unwrap();
        assert_eq!(request.subscription_codes, vec!["a", "b"]);
        assert_eq!(request.timestamp.as_deref(), Some("2026-11-24T10:00:00Z"));
        let out = serde_json::to_value(&request).unwrap();
        assert!(out.get("subscription_codes").is_some() && out.get("timestamp").is_some());
    }
}
