//! Transaction status (dci-spec §5.7): the state of an earlier transaction, asked by its
//! `transaction_id`, its items' `reference_id`s or the responder's `correlation_id`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codes::ReasonCode;
use crate::envelope::Rejection;
use crate::lenient;

/// `TxnStatusRequest`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TxnStatusRequest {
    /// Id of this status request's own transaction.
    pub transaction_id: String,
    /// What is asked.
    pub txnstatus_request: TxnStatusQuery,
}

/// The query of a [`TxnStatusRequest`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TxnStatusQuery {
    /// The requester's id for this query.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// `search`, `subscribe`, `unsubscribe` (also accepted with `on-`, and the misspelt `subscibe`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub txn_type: Option<String>,
    /// `transaction_id`, `reference_id_list`, `correlation_id` or `subscription_code_list`.
    pub attribute_type: String,
    /// The id (or list of reference ids) to look for.
    pub attribute_value: Value,
    /// Language of the answer.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

/// What a txn-status request looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnLookup {
    /// The requester's transaction id.
    TransactionId(String),
    /// The reference ids of items of the transaction.
    ReferenceIds(Vec<String>),
    /// The responder's correlation id (from the ACK).
    CorrelationId(String),
    /// Subscription codes the registry issued (core variant only).
    SubscriptionCodes(Vec<String>),
}

impl TxnStatusQuery {
    /// The lookup, with `attribute_type` as the discriminator (dci-spec §12.2 Q1).
    pub fn lookup(&self) -> Result<TxnLookup, Rejection> {
        let bad = |m: String| Rejection::new(ReasonCode::RequestBad, m);
        let text = || match &self.attribute_value {
            Value::String(s) if !s.is_empty() => Ok(s.clone()),
            other => Err(bad(format!(
                "attribute_value must be a non-empty string for {}, not {other}",
                self.attribute_type
            ))),
        };
        let list = |what: &str| match &self.attribute_value {
            Value::Array(ids) if !ids.is_empty() => ids
                .iter()
                .map(|id| {
                    id.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| bad(format!("the list of {what} holds strings")))
                })
                .collect::<Result<Vec<_>, _>>(),
            _ => Err(bad(format!(
                "attribute_value must be a non-empty list of {what}"
            ))),
        };
        match self.attribute_type.as_str() {
            "transaction_id" => Ok(TxnLookup::TransactionId(text()?)),
            "correlation_id" => Ok(TxnLookup::CorrelationId(text()?)),
            "reference_id_list" => list("reference ids").map(TxnLookup::ReferenceIds),
            "subscription_code_list" => {
                list("subscription codes").map(TxnLookup::SubscriptionCodes)
            }
            other => Err(bad(format!(
                "attribute_type '{other}' is not transaction_id, reference_id_list, correlation_id or subscription_code_list"
            ))),
        }
    }
}

/// `TxnStatusResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnStatusResponse {
    /// Echo of the status request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id of the transaction found.
    pub correlation_id: String,
    /// The answer.
    pub txnstatus_response: TxnStatusResult,
}

/// The state of the transaction found.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnStatusResult {
    /// The kind of transaction (`search`, ...).
    pub txn_type: String,
    /// The response that was (or will be) sent for it, e.g. a `SearchResponse` whose items are
    /// `pdng` while the transaction is being processed.
    pub txn_status: Value,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn query(value: Value) -> TxnStatusQuery {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn lookups_follow_attribute_type() {
        let q = query(
            json!({"reference_id": "1", "txn_type": "search", "attribute_type": "transaction_id", "attribute_value": "t-1"}),
        );
        assert_eq!(q.lookup().unwrap(), TxnLookup::TransactionId("t-1".into()));
        let q =
            query(json!({"attribute_type": "reference_id_list", "attribute_value": ["a", "b"]}));
        assert_eq!(
            q.lookup().unwrap(),
            TxnLookup::ReferenceIds(vec!["a".into(), "b".into()])
        );
        let q = query(json!({"attribute_type": "correlation_id", "attribute_value": "c-9"}));
        assert_eq!(q.lookup().unwrap(), TxnLookup::CorrelationId("c-9".into()));
        let q =
            query(json!({"attribute_type": "subscription_code_list", "attribute_value": ["x"]}));
        assert_eq!(
            q.lookup().unwrap(),
            TxnLookup::SubscriptionCodes(vec!["x".into()])
        );
        for bad in [
            json!({"attribute_type": "subscription_codes", "attribute_value": ["x"]}),
            json!({"attribute_type": "subscription_code_list", "attribute_value": [1]}),
            json!({"attribute_type": "transaction_id", "attribute_value": ""}),
            json!({"attribute_type": "reference_id_list", "attribute_value": []}),
        ] {
            assert_eq!(
                query(bad).lookup().unwrap_err().code,
                ReasonCode::RequestBad
            );
        }
    }
}
