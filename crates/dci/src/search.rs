//! Search: `SearchRequest`, `search_criteria` and its three query types, sort, pagination,
//! consent and authorize, and `SearchResponse` (dci-spec §3, §5.1, §5.2).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::codes::ReasonCode;
use crate::envelope::{Rejection, RequestStatus};
use crate::lenient;
use crate::time::Timestamp;

/// `SearchRequest`: a batch of searches under one transaction.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchRequest {
    /// The requester's business transaction id (≤ 99 characters).
    pub transaction_id: String,
    /// The searches; each is answered by its own response item.
    pub search_request: Vec<SearchRequestItem>,
}

/// One search of a batch, as received.
///
/// `search_criteria` stays raw JSON until [`SearchRequestItem::criteria`] parses it, so that a
/// bad item is rejected on its own instead of failing the whole batch.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchRequestItem {
    /// The requester's id for this item.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reference_id: Option<String>,
    /// When the item was made (RFC 3339 with timezone).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<String>,
    /// What to search for.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub search_criteria: Option<Value>,
    /// Language of the answer, ISO 639-3 (`eng`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub locale: Option<String>,
}

/// `search_criteria`, the union of the fields every registry API defines (§3.5).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SearchCriteria {
    /// Criteria version, default `1.0.0`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub version: Option<String>,
    /// Registry type (`ns:org:RegistryType:Social`, ...).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_type: Option<String>,
    /// Event type the search relates to.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_event_type: Option<String>,
    /// Record type to return (newer revision of the standard).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_record_type: Option<String>,
    /// Record sub-type (the G2P Connect ancestor's name for the same idea).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub reg_sub_type: Option<String>,
    /// Entity to return (social registry: `Group` or `Member`).
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub response_entity: Option<String>,
    /// `idtype-value`, `expression` or `predicate`.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub query_type: Option<String>,
    /// The query, whose shape depends on `query_type`.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub query: Option<Value>,
    /// Sort order of the results.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub sort: Option<Value>,
    /// Which page to return.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub pagination: Option<Value>,
    /// The person's consent to this search.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub consent: Option<Value>,
    /// The authorisation under which the search is made.
    #[serde(
        default,
        deserialize_with = "lenient::value",
        skip_serializing_if = "Option::is_none"
    )]
    pub authorize: Option<Value>,
}

/// A query, told apart by `query_type` first and by its shape second (§3.4, §12.2 Q1/Q2).
#[derive(Debug, Clone, PartialEq)]
pub enum Query {
    /// `idtype-value`: an identifier type and value, e.g. `UIN` = `847951632`.
    IdTypeValue {
        /// The identifier type.
        id_type: String,
        /// The identifier value (any JSON scalar).
        value: Value,
    },
    /// `expression` (`ExpTemplate`): a query language tag and the expression itself, a NoSql
    /// document (object) or text (string).
    Expression {
        /// The `type` tag, e.g. `ns:org:QueryType:NoSql`.
        language: String,
        /// The `value.expression` (or `value` when it has no `expression` member).
        expression: Value,
    },
    /// `predicate`: an `ExpPredicateWithConditionList` (a JSON array).
    Predicate(Value),
}

impl SearchCriteria {
    /// The typed query. Samples label predicate lists as `expression`; a list is read as a
    /// predicate list whatever its label says.
    pub fn query(&self) -> Result<Query, Rejection> {
        let invalid = |message: String| Rejection::new(ReasonCode::SearchCriteriaInvalid, message);
        let query_type = self
            .query_type
            .as_deref()
            .ok_or_else(|| invalid("search_criteria.query_type is required".into()))?;
        let query = self
            .query
            .as_ref()
            .ok_or_else(|| invalid("search_criteria.query is required".into()))?;
        match (query_type.to_ascii_lowercase().as_str(), query) {
            ("predicate" | "expression", Value::Array(_)) => Ok(Query::Predicate(query.clone())),
            ("predicate", Value::Object(_)) => Ok(Query::Predicate(query.clone())),
            ("expression", Value::Object(template)) => {
                let language = template
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let expression = match template.get("value") {
                    Some(Value::Object(value)) => value
                        .get("expression")
                        .cloned()
                        .unwrap_or_else(|| Value::Object(value.clone())),
                    Some(Value::String(text)) => Value::String(text.clone()),
                    _ => {
                        return Err(invalid(
                            "an expression query needs {\"type\": ..., \"value\": {\"expression\": ...}}"
                                .into(),
                        ));
                    }
                };
                Ok(Query::Expression {
                    language,
                    expression,
                })
            }
            ("idtype-value", Value::Object(pair)) => {
                let id_type = pair.get("type").and_then(Value::as_str).unwrap_or_default();
                let value = pair.get("value").cloned().unwrap_or(Value::Null);
                if id_type.is_empty() || value.is_null() || value.is_object() || value.is_array() {
                    return Err(invalid(
                        "an idtype-value query needs {\"type\": <identifier type>, \"value\": <identifier>}"
                            .into(),
                    ));
                }
                Ok(Query::IdTypeValue {
                    id_type: id_type.to_string(),
                    value,
                })
            }
            ("graphql", _) => Err(invalid(
                "query_type 'graphql' is not supported; use expression or predicate".into(),
            )),
            ("idtype-value" | "expression" | "predicate", _) => Err(invalid(format!(
                "query for query_type '{query_type}' has the wrong shape"
            ))),
            _ => Err(invalid(format!(
                "unknown query_type '{query_type}' (expected idtype-value, expression or predicate)"
            ))),
        }
    }

    /// The sort list, with each order checked (`asc` or `desc`, any case).
    pub fn sort(&self) -> Result<Vec<SearchSort>, Rejection> {
        let Some(sort) = &self.sort else {
            return Ok(Vec::new());
        };
        let items: Vec<Value> = match sort {
            Value::Array(items) => items.clone(),
            Value::Object(_) => vec![sort.clone()],
            _ => {
                return Err(Rejection::new(
                    ReasonCode::SortInvalid,
                    "sort must be a list of {attribute_name, sort_order}",
                ));
            }
        };
        items
            .iter()
            .map(|item| {
                let name = item
                    .get("attribute_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                if name.is_empty() {
                    return Err(Rejection::new(
                        ReasonCode::SortInvalid,
                        "sort.attribute_name is required",
                    ));
                }
                let descending = match item.get("sort_order").and_then(Value::as_str) {
                    None => false,
                    Some(order) if order.eq_ignore_ascii_case("asc") => false,
                    Some(order) if order.eq_ignore_ascii_case("desc") => true,
                    Some(order) => {
                        return Err(Rejection::new(
                            ReasonCode::SortInvalid,
                            format!("sort_order '{order}' is not asc or desc"),
                        ));
                    }
                };
                Ok(SearchSort {
                    attribute_name: name.to_string(),
                    descending,
                })
            })
            .collect()
    }

    /// The requested page, if any, with its numbers checked.
    pub fn pagination(&self) -> Result<Option<PaginationRequest>, Rejection> {
        let Some(pagination) = &self.pagination else {
            return Ok(None);
        };
        let invalid = |m: &str| Rejection::new(ReasonCode::PaginationInvalid, m);
        let number = |key: &str| -> Result<Option<i64>, Rejection> {
            match pagination.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| invalid(&format!("{key} must be a whole number"))),
                Some(Value::String(s)) => s
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| invalid(&format!("{key} must be a whole number"))),
                Some(_) => Err(invalid(&format!("{key} must be a whole number"))),
            }
        };
        let page_size =
            number("page_size")?.ok_or_else(|| invalid("pagination.page_size is required"))?;
        let page_number = number("page_number")?.unwrap_or(1);
        if page_size < 1 {
            return Err(invalid("page_size must be at least 1"));
        }
        if page_number < 1 {
            return Err(invalid("page_number starts at 1"));
        }
        Ok(Some(PaginationRequest {
            page_size,
            page_number,
        }))
    }

    /// The consent object, if one was sent.
    pub fn consent(&self) -> Option<Consent> {
        self.consent
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The authorize object, if one was sent.
    pub fn authorize(&self) -> Option<Consent> {
        self.authorize
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }
}

impl SearchRequestItem {
    /// The item's criteria, parsed; a criteria that is not an object is rejected.
    pub fn criteria(&self) -> Result<SearchCriteria, Rejection> {
        let criteria = self.search_criteria.as_ref().ok_or_else(|| {
            Rejection::new(
                ReasonCode::SearchCriteriaInvalid,
                "search_criteria is required",
            )
        })?;
        serde_json::from_value(criteria.clone()).map_err(|e| {
            Rejection::new(
                ReasonCode::SearchCriteriaInvalid,
                format!("search_criteria: {e}"),
            )
        })
    }
}

/// One sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchSort {
    /// The attribute to sort on.
    pub attribute_name: String,
    /// `desc` when true.
    pub descending: bool,
}

/// `PaginationRequest`: pages count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaginationRequest {
    /// Records per page.
    pub page_size: i64,
    /// Which page, from 1.
    pub page_number: i64,
}

/// `Pagination` of a response item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pagination {
    /// Records per page.
    pub page_size: i64,
    /// This page's number, from 1.
    pub page_number: i64,
    /// How many records match in all.
    pub total_count: i64,
}

/// `Consent` and `Authorize` (the same shape; §3.9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Consent {
    /// JSON-LD context.
    #[serde(rename = "@context", default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// `Consent` or `Authorize`.
    #[serde(rename = "@type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// When it was given.
    #[serde(
        default,
        deserialize_with = "lenient::string",
        skip_serializing_if = "Option::is_none"
    )]
    pub ts: Option<String>,
    /// For what purpose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
}

/// The purpose of a consent or authorisation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Purpose {
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A code from the set documented at `ref_uri`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Where the purpose codes are documented (G2P Connect spells it `refUri`).
    #[serde(default, alias = "refUri", skip_serializing_if = "Option::is_none")]
    pub ref_uri: Option<String>,
}

/// `SearchResponse`: one item per request item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponse {
    /// Echo of the request's transaction id.
    pub transaction_id: String,
    /// The responder's correlation id.
    pub correlation_id: String,
    /// One answer per request item.
    pub search_response: Vec<SearchResponseItem>,
}

/// The answer to one search.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchResponseItem {
    /// Echo of the item's reference id.
    pub reference_id: String,
    /// When the answer was made.
    pub timestamp: Timestamp,
    /// `succ`, or `rjct` with a reason.
    pub status: RequestStatus,
    /// Why the item was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_code: Option<ReasonCode>,
    /// Details of the rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason_message: Option<String>,
    /// The records found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<SearchData>,
    /// Which page this is, and how many records match in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
    /// Language of the answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
}

impl SearchResponseItem {
    /// A rejected item.
    pub fn rejected(reference_id: String, rejection: Rejection, locale: Option<String>) -> Self {
        SearchResponseItem {
            reference_id,
            timestamp: Timestamp::now(),
            status: RequestStatus::Rjct,
            status_reason_code: Some(rejection.code),
            status_reason_message: Some(rejection.message),
            data: None,
            pagination: None,
            locale,
        }
    }
}

/// The `data` of a successful search item.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchData {
    /// Data version.
    pub version: String,
    /// Registry type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_type: Option<String>,
    /// Event type, echoed from the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_event_type: Option<String>,
    /// Record type of `reg_records`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_record_type: Option<String>,
    /// The records, always emitted as an array; a single record object (core, DR and FR send
    /// one) is read as a list of one (§12.3 P6).
    #[serde(deserialize_with = "records_list")]
    pub reg_records: Vec<Box<RawValue>>,
}

fn records_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Box<RawValue>>, D::Error> {
    let raw = Box::<RawValue>::deserialize(d)?;
    let text = raw.get().trim();
    if text == "null" {
        Ok(Vec::new())
    } else if text.starts_with('[') {
        serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)
    } else {
        Ok(vec![raw])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn criteria(value: Value) -> SearchCriteria {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn query_types_dispatch_on_type_then_shape() {
        let id = criteria(
            json!({"query_type": "idtype-value", "query": {"type": "UIN", "value": 847951632}}),
        );
        assert_eq!(
            id.query().unwrap(),
            Query::IdTypeValue {
                id_type: "UIN".into(),
                value: json!(847951632)
            }
        );
        let nosql = criteria(
            json!({"query_type": "expression", "query": {"type": "ns:org:QueryType:NoSql",
            "value": {"expression": {"collection": "Group", "query": {"poverty_score": {"$lt": 5}}}}}}),
        );
        assert!(
            matches!(nosql.query().unwrap(), Query::Expression { language, .. } if language == "ns:org:QueryType:NoSql")
        );
        // Samples label predicate lists "expression" (§3.4).
        let list = criteria(
            json!({"query_type": "expression", "query": [{"seq_num": "", "expression1":
            {"attribute_name": "UIN", "operator": "eq", "attribute_value": "847951632"}, "condition": "", "expression2": ""}]}),
        );
        assert!(matches!(list.query().unwrap(), Query::Predicate(_)));
    }

    #[test]
    fn bad_queries_are_search_criteria_invalid() {
        for bad in [
            json!({"query_type": "sql", "query": {}}),
            json!({"query_type": "graphql", "query": {"type": "x", "value": {"expression": "query {}"}}}),
            json!({"query": {"type": "UIN", "value": "1"}}),
            json!({"query_type": "idtype-value"}),
            json!({"query_type": "idtype-value", "query": {"type": "UIN"}}),
            json!({"query_type": "idtype-value", "query": [1]}),
        ] {
            let rejection = criteria(bad.clone()).query().unwrap_err();
            assert_eq!(rejection.code, ReasonCode::SearchCriteriaInvalid, "{bad}");
        }
    }

    #[test]
    fn sort_and_pagination_are_checked() {
        let c = criteria(
            json!({"sort": [{"attribute_name": "poverty_score", "sort_order": "DESC"}],
            "pagination": {"page_size": "10"}}),
        );
        assert_eq!(
            c.sort().unwrap(),
            vec![SearchSort {
                attribute_name: "poverty_score".into(),
                descending: true
            }]
        );
        assert_eq!(
            c.pagination().unwrap(),
            Some(PaginationRequest {
                page_size: 10,
                page_number: 1
            })
        );
        let bad_order = criteria(json!({"sort": [{"attribute_name": "x", "sort_order": "up"}]}));
        assert_eq!(bad_order.sort().unwrap_err().code, ReasonCode::SortInvalid);
        for bad in [
            json!({"page_size": 0}),
            json!({"page_size": 5, "page_number": 0}),
            json!({"page_number": 2}),
            json!({"page_size": "x"}),
        ] {
            let c = criteria(json!({"pagination": bad}));
            assert_eq!(
                c.pagination().unwrap_err().code,
                ReasonCode::PaginationInvalid
            );
        }
    }

    #[test]
    fn consent_accepts_the_g2p_spelling() {
        let c = criteria(
            json!({"consent": {"@type": "Consent", "ts": "2024-01-01T10:00:00Z",
            "purpose": {"text": "eligibility", "code": "ELIG", "refUri": "https://example.org/purposes"}}}),
        );
        let consent = c.consent().unwrap();
        assert_eq!(
            consent.purpose.unwrap().ref_uri.as_deref(),
            Some("https://example.org/purposes")
        );
        assert_eq!(criteria(json!({"consent": ""})).consent(), None);
    }
}
