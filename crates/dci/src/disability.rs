//! The disability registry's own sync endpoints (dci-spec §4.4 #8-#10, §5.9):
//! `/registry/sync/disabled` (`DisabledRequest` → `DisabledResponse`, a yes/no per criteria),
//! `/registry/sync/get-disability-details` and `/registry/sync/get-disability-support` (the
//! same request → a `SearchResponse` whose records are `DisabilityInfo` or
//! `DisabilitySupport`).
//!
//! The request carries `disabled_criteria` in the "criteria" dialect: `query_type` and a
//! `query` that is a map `{"<attribute>": {"eq": value}}` (operators with or without `$`). A
//! query in one of the search forms (an `ExpTemplate`, an `idtype-value` pair, a predicate
//! list) is read as a search reads it. spx also accepts a list of criteria (answered one item
//! each) and a `reference_id` on each criteria, which its answer echoes; without one the
//! answer carries the `transaction_id`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::codes::ReasonCode;
use crate::envelope::{Rejection, RequestStatus};
use crate::lenient;
use crate::search::SearchCriteria;
use crate::time::Timestamp;

/// `DisabledRequest`, also `GetDisabilitySupportRequest` (the two are the same schema).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisabledRequest {
    /// The requester's business transaction id (≤ 99 characters).
    pub transaction_id: String,
    /// The criteria: one object as the standard has it, or a list of them.
    #[serde(deserialize_with = "lenient::list")]
    pub disabled_criteria: Vec<DisabledCriteria>,
}

/// `DisabledCriteria`: which persons the request is about.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisabledCriteria {
    /// The requester's id for this criteria, echoed in its answer (spx).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// `expression` (the default), `idtype-value` or `predicate`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub query_type: Option<String>,
    /// A criteria map, or a query in one of the search forms.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub query: Option<Value>,
    /// Which page of persons to return (details and support).
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub pagination: Option<Value>,
    /// Language of the answer, ISO 639-3.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

impl DisabledCriteria {
    /// The criteria as search criteria: a criteria map becomes a NoSql `expression` (its
    /// operators are that dialect's), any other query keeps its form.
    pub fn search_criteria(&self) -> Result<SearchCriteria, Rejection> {
        let query = self.query.clone().ok_or_else(|| {
            Rejection::new(
                ReasonCode::SearchCriteriaInvalid,
                "disabled_criteria.query is required",
            )
        })?;
        let query_type = self
            .query_type
            .clone()
            .unwrap_or_else(|| "expression".to_string());
        let is_criteria_map = query_type.eq_ignore_ascii_case("expression")
            && query
                .as_object()
                .is_some_and(|map| !map.contains_key("value") && !map.contains_key("type"));
        let query = if is_criteria_map {
            json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": query}})
        } else {
            query
        };
        serde_json::from_value(json!({
            "query_type": query_type,
            "query": query,
            "pagination": self.pagination,
        }))
        .map_err(|e| Rejection::new(ReasonCode::SearchCriteriaInvalid, e.to_string()))
    }
}

/// Whether a person is registered as disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DisabledStatus {
    /// Registered with a valid certificate.
    Yes,
    /// Not registered, or not certified (pending, rejected, expired).
    No,
}

/// `DisabledResponse`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisabledResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// One answer per criteria.
    pub disabled_response: Vec<DisabledResponseItem>,
}

/// The answer to one criteria of a `DisabledRequest`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DisabledResponseItem {
    /// The criteria's `reference_id`, or the request's `transaction_id`.
    pub reference_id: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// `succ`, or `rjct` with a reason.
    pub status: RequestStatus,
    /// Why the criteria was rejected (spx adds the code to the standard's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Details of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// The answer; `no` on a rejected criteria.
    pub disabled_status: DisabledStatus,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Query;

    /// The DR sample of `/registry/sync/disabled` (dci-spec §10.4 processflow2).
    #[test]
    fn a_criteria_map_is_a_nosql_expression() {
        let request: DisabledRequest = serde_json::from_value(json!({
            "transaction_id": "t-1",
            "disabled_criteria": {"query_type": "expression",
                "query": {"personal_details.member_identifier": {"eq": "ABC451123"}}}
        }))
        .unwrap();
        assert_eq!(request.disabled_criteria.len(), 1);
        let criteria = request.disabled_criteria[0].search_criteria().unwrap();
        assert_eq!(
            criteria.query().unwrap(),
            Query::Expression {
                language: "ns:org:QueryType:NoSql".into(),
                expression: json!({"personal_details.member_identifier": {"eq": "ABC451123"}})
            }
        );
    }

    #[test]
    fn search_forms_keep_their_shape() {
        let criteria: DisabledCriteria = serde_json::from_value(
            json!({"query_type": "idtype-value", "query": {"type": "UIN", "value": "1"}}),
        )
        .unwrap();
        assert_eq!(
            criteria.search_criteria().unwrap().query().unwrap(),
            Query::IdTypeValue {
                id_type: "UIN".into(),
                value: json!("1")
            }
        );
        let missing: DisabledCriteria = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            missing.search_criteria().unwrap_err().code,
            ReasonCode::SearchCriteriaInvalid
        );
    }
}
