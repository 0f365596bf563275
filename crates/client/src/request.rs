//! What the client sends: search items and their criteria, and transaction-status queries
//! (dci-spec §3, §5.1, §5.7).

use dci::Timestamp;
use dci::search::SearchRequestItem;
use dci::txn::{TxnLookup, TxnStatusQuery};
use serde_json::{Map, Value, json};

/// The query language tag of a NoSql document or text expression.
pub const NOSQL: &str = "ns:org:QueryType:NoSql";

/// One search of a batch, built with the `by_*` constructors and refined with the chained
/// setters. `reference_id` and `timestamp` are given when the batch is sent.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchItem {
    criteria: Map<String, Value>,
    locale: Option<String>,
}

impl SearchItem {
    fn new(record_type: &str, query_type: &str, query: Value) -> Self {
        let mut criteria = Map::new();
        criteria.insert("version".into(), json!(dci::PROTOCOL_VERSION));
        criteria.insert("reg_record_type".into(), json!(record_type));
        criteria.insert("query_type".into(), json!(query_type));
        criteria.insert("query".into(), query);
        SearchItem {
            criteria,
            locale: Some("eng".into()),
        }
    }

    /// An `idtype-value` search: records of `record_type` whose identifier of type `id_type`
    /// is `value` (e.g. `UIN` = `"847951632"`).
    pub fn by_identifier(record_type: &str, id_type: &str, value: impl Into<Value>) -> Self {
        Self::new(
            record_type,
            "idtype-value",
            json!({"type": id_type, "value": value.into()}),
        )
    }

    /// An `expression` search: `expression` is a NoSql document (an object) or a text
    /// expression (a string), sent as `{"type": "ns:org:QueryType:NoSql", "value": {"expression": ...}}`.
    pub fn by_expression(record_type: &str, expression: Value) -> Self {
        Self::new(
            record_type,
            "expression",
            json!({"type": NOSQL, "value": {"expression": expression}}),
        )
    }

    /// A `predicate` search: `predicates` is an `ExpPredicateWithConditionList` (an array).
    pub fn by_predicates(record_type: &str, predicates: Value) -> Self {
        Self::new(record_type, "predicate", predicates)
    }

    /// Asks for page `number` (from 1) of `size` records.
    pub fn page(self, size: i64, number: i64) -> Self {
        self.with(
            "pagination",
            json!({"page_size": size, "page_number": number}),
        )
    }

    /// Adds a sort key; keys apply in the order they are added.
    pub fn sort(mut self, attribute: &str, descending: bool) -> Self {
        let key = json!({"attribute_name": attribute, "sort_order": if descending { "desc" } else { "asc" }});
        match self.criteria.get_mut("sort") {
            Some(Value::Array(keys)) => keys.push(key),
            _ => {
                self.criteria.insert("sort".into(), Value::Array(vec![key]));
            }
        }
        self
    }

    /// Sets `reg_type` (e.g. `ns:org:RegistryType:Social`).
    pub fn reg_type(self, reg_type: &str) -> Self {
        self.with("reg_type", json!(reg_type))
    }

    /// Sets `reg_event_type`.
    pub fn reg_event_type(self, event_type: &str) -> Self {
        self.with("reg_event_type", json!(event_type))
    }

    /// Sets any other `search_criteria` member (`consent`, `authorize`, `response_entity` ...).
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.criteria.insert(key.into(), value);
        self
    }

    /// Sets the item's locale (ISO 639-3; `eng` unless changed), or removes it with `None`.
    pub fn locale(mut self, locale: Option<&str>) -> Self {
        self.locale = locale.map(str::to_string);
        self
    }

    /// The `search_criteria` as it will be sent.
    pub fn criteria(&self) -> &Map<String, Value> {
        &self.criteria
    }

    /// The wire item, with its reference id and the current time.
    pub fn into_wire(self, reference_id: String) -> SearchRequestItem {
        SearchRequestItem {
            reference_id: Some(reference_id),
            timestamp: Some(Timestamp::now().to_string()),
            search_criteria: Some(Value::Object(self.criteria)),
            locale: self.locale,
        }
    }
}

/// Which earlier search transaction a status query asks about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnQuery {
    /// By the requester's `transaction_id`.
    TransactionId(String),
    /// By the `reference_id`s of the items.
    ReferenceIds(Vec<String>),
    /// By the `correlation_id` the registry returned in its ACK.
    CorrelationId(String),
}

impl TxnQuery {
    /// The `txnstatus_request` of a status query about a `search` transaction.
    pub fn to_wire(&self) -> TxnStatusQuery {
        let (attribute_type, attribute_value) = match self {
            TxnQuery::TransactionId(id) => ("transaction_id", json!(id)),
            TxnQuery::ReferenceIds(ids) => ("reference_id_list", json!(ids)),
            TxnQuery::CorrelationId(id) => ("correlation_id", json!(id)),
        };
        TxnStatusQuery {
            reference_id: Some("1".into()),
            txn_type: Some("search".into()),
            attribute_type: attribute_type.into(),
            attribute_value,
            locale: Some("eng".into()),
        }
    }
}

impl From<TxnQuery> for TxnLookup {
    fn from(query: TxnQuery) -> Self {
        match query {
            TxnQuery::TransactionId(id) => TxnLookup::TransactionId(id),
            TxnQuery::ReferenceIds(ids) => TxnLookup::ReferenceIds(ids),
            TxnQuery::CorrelationId(id) => TxnLookup::CorrelationId(id),
        }
    }
}
