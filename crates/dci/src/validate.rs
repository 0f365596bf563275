//! Checks of a request's header and identifiers, each failing with its own DCI code
//! (dci-spec §2.3, §2.7, §2.11, §9.2).

use time::Duration;

use crate::codes::ReasonCode;
use crate::envelope::{Action, MsgHeader, Rejection};
use crate::time::Timestamp;

/// Longest transaction, correlation, message and subscription id the standard allows.
pub const MAX_ID_LEN: usize = 99;

/// What a service accepts, from its configuration.
#[derive(Debug, Clone)]
pub struct HeaderPolicy {
    /// This service's participant id; a request naming another `receiver_id` is refused.
    pub service_id: String,
    /// Most items in one message.
    pub max_batch_size: usize,
    /// How far in the future `message_ts` may be (clock skew).
    pub max_future_skew: Duration,
    /// How old `message_ts` may be; zero accepts any age.
    pub max_age: Duration,
}

/// Checks a request header against the endpoint's `expected` action, the number of `items`
/// the message carries, and `policy`.
pub fn request_header(
    header: &MsgHeader,
    expected: Action,
    items: usize,
    policy: &HeaderPolicy,
    now: Timestamp,
) -> Result<(), Rejection> {
    let reject = |code, message: String| Rejection::new(code, message);
    if let Some(v) = &header.version {
        version(v)?;
    }
    id("header.message_id", &header.message_id)?;
    if header.sender_id.trim().is_empty() {
        return Err(reject(
            ReasonCode::SenderIdInvalid,
            "header.sender_id is required".into(),
        ));
    }
    if header.sender_id.len() > MAX_ID_LEN {
        return Err(reject(
            ReasonCode::SenderIdInvalid,
            format!("header.sender_id is longer than {MAX_ID_LEN} characters"),
        ));
    }
    if let Some(receiver) = &header.receiver_id
        && !receiver.is_empty()
        && receiver != &policy.service_id
    {
        return Err(reject(
            ReasonCode::ReceiverIdInvalid,
            format!(
                "receiver_id '{receiver}' is not this service ('{}')",
                policy.service_id
            ),
        ));
    }
    let sent = Timestamp::parse(&header.message_ts).map_err(|e| {
        reject(
            ReasonCode::MessageTsInvalid,
            format!("header.message_ts: {e}"),
        )
    })?;
    if sent.0 - now.0 > policy.max_future_skew {
        return Err(reject(
            ReasonCode::MessageTsInvalid,
            format!("header.message_ts {} is in the future", header.message_ts),
        ));
    }
    if !policy.max_age.is_zero() && now.0 - sent.0 > policy.max_age {
        return Err(reject(
            ReasonCode::MessageTsInvalid,
            format!(
                "header.message_ts {} is older than {} s",
                header.message_ts,
                policy.max_age.whole_seconds()
            ),
        ));
    }
    if header.action != expected.as_str() {
        return Err(reject(
            ReasonCode::ActionInvalid,
            format!(
                "header.action '{}' does not match this endpoint, which takes '{}'",
                header.action,
                expected.as_str()
            ),
        ));
    }
    match header.total_count {
        None => {
            return Err(reject(
                ReasonCode::TotalCountInvalid,
                "header.total_count is required".into(),
            ));
        }
        Some(count) if count != items as i64 => {
            return Err(reject(
                ReasonCode::TotalCountInvalid,
                format!("header.total_count is {count} but the message has {items} item(s)"),
            ));
        }
        Some(_) => {}
    }
    if items > policy.max_batch_size {
        return Err(reject(
            ReasonCode::TotalCountLimitExceeded,
            format!(
                "{items} items in one message; this service accepts at most {}",
                policy.max_batch_size
            ),
        ));
    }
    Ok(())
}

/// Checks a protocol version: `MAJOR.MINOR.PATCH` (`rjct.version.invalid`) of major version 1
/// (`err.version.not_supported`).
pub fn version(version: &str) -> Result<(), Rejection> {
    let parts: Vec<&str> = version.split('.').collect();
    let numeric = parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if !numeric {
        return Err(Rejection::new(
            ReasonCode::VersionInvalid,
            format!("version '{version}' is not MAJOR.MINOR.PATCH"),
        ));
    }
    if parts[0] != "1" {
        return Err(Rejection::new(
            ReasonCode::VersionNotSupported,
            format!("version {version} is not supported; spx speaks 1.x"),
        ));
    }
    Ok(())
}

/// Whether a `Content-Type` value names JSON (`application/json`, or `application/*+json`),
/// whatever its parameters.
pub fn is_json_media_type(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Checks an id the standard bounds to 99 characters (`transaction_id`, `message_id`, ...).
pub fn id(field: &str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        return Err(Rejection::new(
            ReasonCode::RequestBad,
            format!("{field} is required"),
        ));
    }
    if value.chars().count() > MAX_ID_LEN {
        return Err(Rejection::new(
            ReasonCode::RequestBad,
            format!("{field} is longer than {MAX_ID_LEN} characters"),
        ));
    }
    Ok(())
}

/// Checks an item's `reference_id`: present (`rjct.reference_id.invalid`) and not used by an
/// earlier item of the batch, whose ids `seen` holds (`rjct.reference_id.duplicate`).
pub fn reference_id(
    reference_id: Option<&str>,
    seen: &mut std::collections::HashSet<String>,
) -> Result<(), Rejection> {
    let reference_id = reference_id.unwrap_or_default();
    if reference_id.trim().is_empty() {
        return Err(Rejection::new(
            ReasonCode::ReferenceIdInvalid,
            "reference_id is required",
        ));
    }
    if !seen.insert(reference_id.to_string()) {
        return Err(Rejection::new(
            ReasonCode::ReferenceIdDuplicate,
            format!("reference_id '{reference_id}' is used twice in the batch"),
        ));
    }
    Ok(())
}

/// Whether `locale` is an ISO 639-3 code as the standard's pattern `^[a-z]{3}$` requires.
pub fn locale_is_valid(locale: &str) -> bool {
    locale.len() == 3 && locale.bytes().all(|b| b.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> HeaderPolicy {
        HeaderPolicy {
            service_id: "social.example.org".into(),
            max_batch_size: 10,
            max_future_skew: Duration::minutes(5),
            max_age: Duration::hours(24),
        }
    }

    fn header() -> MsgHeader {
        serde_json::from_value(serde_json::json!({
            "version": "1.0.0", "message_id": "m-1", "message_ts": "2026-11-24T10:00:00Z",
            "action": "search", "sender_id": "spmis.example.org", "receiver_id": "social.example.org",
            "total_count": 2
        }))
        .unwrap()
    }

    fn now() -> Timestamp {
        Timestamp::parse("2026-11-24T10:01:00Z").unwrap()
    }

    fn code(h: &MsgHeader, items: usize) -> Option<ReasonCode> {
        request_header(h, Action::Search, items, &policy(), now())
            .err()
            .map(|r| r.code)
    }

    #[test]
    fn a_good_header_passes() {
        assert_eq!(code(&header(), 2), None);
    }

    #[test]
    fn each_fault_gets_its_code() {
        type Case = (Box<dyn Fn(&mut MsgHeader)>, usize, ReasonCode);
        let cases: Vec<Case> = vec![
            (
                Box::new(|h| h.version = Some("one".into())),
                2,
                ReasonCode::VersionInvalid,
            ),
            (
                Box::new(|h| h.version = Some("2.0.0".into())),
                2,
                ReasonCode::VersionNotSupported,
            ),
            (
                Box::new(|h| h.message_id = String::new()),
                2,
                ReasonCode::RequestBad,
            ),
            (
                Box::new(|h| h.message_id = "x".repeat(100)),
                2,
                ReasonCode::RequestBad,
            ),
            (
                Box::new(|h| h.sender_id = String::new()),
                2,
                ReasonCode::SenderIdInvalid,
            ),
            (
                Box::new(|h| h.receiver_id = Some("crvs.example.org".into())),
                2,
                ReasonCode::ReceiverIdInvalid,
            ),
            (
                Box::new(|h| h.message_ts = "2026-11-24T10:00:00".into()),
                2,
                ReasonCode::MessageTsInvalid,
            ),
            (
                Box::new(|h| h.message_ts = "2026-11-24T11:00:00Z".into()),
                2,
                ReasonCode::MessageTsInvalid,
            ),
            (
                Box::new(|h| h.message_ts = "2026-11-20T10:00:00Z".into()),
                2,
                ReasonCode::MessageTsInvalid,
            ),
            (
                Box::new(|h| h.action = "on-search".into()),
                2,
                ReasonCode::ActionInvalid,
            ),
            (
                Box::new(|h| h.total_count = Some(3)),
                2,
                ReasonCode::TotalCountInvalid,
            ),
            (
                Box::new(|h| h.total_count = None),
                2,
                ReasonCode::TotalCountInvalid,
            ),
            (
                Box::new(|h| h.total_count = Some(11)),
                11,
                ReasonCode::TotalCountLimitExceeded,
            ),
        ];
        for (i, (fault, items, expected)) in cases.into_iter().enumerate() {
            let mut h = header();
            fault(&mut h);
            assert_eq!(code(&h, items), Some(expected), "case {i}");
        }
    }

    #[test]
    fn ids_of_99_pass_and_100_fail() {
        assert!(id("transaction_id", &"a".repeat(99)).is_ok());
        assert!(id("transaction_id", &"a".repeat(100)).is_err());
    }

    #[test]
    fn json_media_types() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/ld+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonp"));
    }

    #[test]
    fn locale_follows_the_pattern() {
        assert!(locale_is_valid("eng"));
        for bad in ["en", "EN/GB", "Eng", "", "engl"] {
            assert!(!locale_is_valid(bad), "{bad}");
        }
    }
}
