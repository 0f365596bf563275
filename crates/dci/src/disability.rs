//! The disability registry's own sync endpoints (dci-spec §4.4 #8-#10, §5.9):
//! `/registry/sync/disabled` (`DisabledRequest` → `DisabledResponse`, a yes/no per criteria),
//! `/registry/sync/get-disability-details` and `/registry/sync/get-disability-support` (the
//! same request → a `SearchResponse` whose records are `DisabilityInfo` or
//! `DisabilitySupport`).
//!
//! The request carries `disabled_criteria`, read as [`crate::criteria`] describes.

use serde::{Deserialize, Serialize};

use crate::criteria::{Criteria, ItemStatus, YesNo};
use crate::lenient;

/// `DisabledRequest`, also `GetDisabilitySupportRequest` (the two are the same schema).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DisabledRequest {
    /// The requester's business transaction id (≤ 99 characters).
    pub transaction_id: String,
    /// The criteria: one object as the standard has it, or a list of them.
    #[serde(deserialize_with = "lenient::list")]
    pub disabled_criteria: Vec<Criteria>,
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
    /// The criteria, its status and timestamp.
    #[serde(flatten)]
    pub answer: ItemStatus,
    /// `yes` when a matching person holds a valid certificate; `no` on a rejected criteria.
    pub disabled_status: YesNo,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Query;
    use serde_json::json;

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
}
