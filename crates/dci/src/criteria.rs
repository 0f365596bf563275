//! The "criteria" requests of the registries' own sync endpoints (dci-spec §5.8, §5.9): the
//! DR's `DisabledRequest` and the IBR's `EnrolledRequest` ask, per criteria, whether the
//! registry holds a matching record in a given state (a yes/no answer); the DR's details and
//! support endpoints return the matching records.
//!
//! A criteria carries `query_type` and a `query` in the "criteria" dialect: a map
//! `{"<attribute>": {"eq": value}}` (operators with or without `$`). A query in one of the
//! search forms (an `ExpTemplate`, an `idtype-value` pair, a predicate list) is read as a search
//! reads it, and an `ExpPredicate` object `{attribute_name, operator, attribute_value}` (the IBR
//! sample's) as a predicate. spx also accepts a list of criteria (answered one item each) and a
//! `reference_id` on each criteria, which its answer echoes; without one the answer carries the
//! `transaction_id`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::codes::ReasonCode;
use crate::envelope::{Rejection, RequestStatus};
use crate::lenient;
use crate::search::SearchCriteria;
use crate::time::Timestamp;

/// Which records a criteria request is about (`DisabledCriteria`, `EnrolledCriteria`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Criteria {
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
    /// Which page of records to return (where records are returned).
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

impl Criteria {
    /// The criteria as search criteria: a criteria map becomes a NoSql `expression` (its
    /// operators are that dialect's), an `ExpPredicate` object (or a list of them, as the IBR
    /// sample sends) a `predicate` query of those conditions AND-ed, any other query keeps its
    /// form.
    pub fn search_criteria(&self) -> Result<SearchCriteria, Rejection> {
        let query = self.query.clone().ok_or_else(|| {
            Rejection::new(
                ReasonCode::SearchCriteriaInvalid,
                "the criteria's query is required",
            )
        })?;
        let query_type = self
            .query_type
            .clone()
            .unwrap_or_else(|| "expression".to_string());
        let is_predicate = |v: &Value| {
            v.as_object()
                .is_some_and(|m| m.contains_key("attribute_name"))
        };
        let (query_type, query) = if is_predicate(&query) {
            ("predicate".to_string(), json!([{ "expression1": query }]))
        } else if query
            .as_array()
            .is_some_and(|list| !list.is_empty() && list.iter().all(is_predicate))
        {
            let list = query.as_array().into_iter().flatten();
            let elements: Vec<Value> = list.map(|p| json!({ "expression1": p })).collect();
            ("predicate".to_string(), Value::Array(elements))
        } else if query_type.eq_ignore_ascii_case("expression")
            && query
                .as_object()
                .is_some_and(|map| !map.contains_key("value") && !map.contains_key("type"))
        {
            let expression =
                json!({"type": "ns:org:QueryType:NoSql", "value": {"expression": query}});
            (query_type, expression)
        } else {
            (query_type, query)
        };
        serde_json::from_value(json!({
            "query_type": query_type,
            "query": query,
            "pagination": self.pagination,
        }))
        .map_err(|e| Rejection::new(ReasonCode::SearchCriteriaInvalid, e.to_string()))
    }
}

/// The answer of a yes/no criteria endpoint (`disabled_status`, `enrolled_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    /// A matching record is in the state asked about.
    Yes,
    /// None is (or the criteria was rejected).
    No,
}

impl From<bool> for YesNo {
    fn from(yes: bool) -> Self {
        if yes { YesNo::Yes } else { YesNo::No }
    }
}

/// What the answer to one item of a request carries: its reference, status and reason (the
/// yes/no criteria answers add their answer to it; IBR enrolment updates have only this).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ItemStatus {
    /// The item's `reference_id`, or the request's `transaction_id`.
    pub reference_id: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// `succ`, or `rjct` with a reason.
    pub status: RequestStatus,
    /// Why the item was rejected (spx adds the code to the standard's message).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Details of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Query;

    #[test]
    fn search_forms_keep_their_shape() {
        let criteria: Criteria = serde_json::from_value(
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
        let missing: Criteria = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            missing.search_criteria().unwrap_err().code,
            ReasonCode::SearchCriteriaInvalid
        );
    }

    /// The IBR sample of `/registry/sync/enrolled` sends one `ExpPredicate` object.
    #[test]
    fn an_exp_predicate_object_is_a_predicate_query() {
        let criteria: Criteria = serde_json::from_value(json!({"query_type": "expression",
            "query": {"attribute_name": "person_identifier", "operator": "eq", "attribute_value": "ABC451123"}}))
        .unwrap();
        let search = criteria.search_criteria().unwrap();
        assert!(
            matches!(search.query().unwrap(), Query::Predicate(ref list) if list.as_array().is_some_and(|l| l.len() == 1)),
            "{:?}",
            search.query()
        );
    }
}
